"""Adapters to other tools: :mod:`curvecast.integrations.optuna` (ForecastPruner)."""
