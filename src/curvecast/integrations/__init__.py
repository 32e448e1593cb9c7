"""Adapters to the tools training runs live in.

- :mod:`curvecast.integrations.optuna`: ``ForecastPruner`` (an Optuna pruner) and
  ``forecast_final`` (an estimate a pruned objective can return);
- :mod:`curvecast.integrations.ray`: ``ForecastScheduler`` (a Ray Tune scheduler);
- :mod:`curvecast.integrations.lightning`, :mod:`~curvecast.integrations.transformers`,
  :mod:`~curvecast.integrations.keras`: ``ForecastStopping`` callbacks, shaped like each
  framework's own early stopping.

Each module imports its framework; install it with the extra of the same name
(``pip install "curvecast[ray]"``).
"""
