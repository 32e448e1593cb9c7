"""ForecastStopping: a Keras callback that stops a run by where it is heading.

Keras' ``EarlyStopping`` stops when the monitored value has not improved for
``patience`` epochs. ``ForecastStopping`` forecasts the value at the last epoch instead
and stops when the run will not reach ``target`` (with probability below ``risk``),
when it has converged (``min_gain``), or at once on a NaN or inf (see
:mod:`curvecast.integrations._stopping` for the rules).

``curvecast[keras]`` installs Keras 3 with PyTorch, not TensorFlow: unless
``KERAS_BACKEND`` is set, importing this module before Keras makes the backend torch.
"""

from __future__ import annotations

import logging
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras

from ..forecasters import Forecaster
from ._stopping import Judgement, RunWatch, check_args

__all__ = ["ForecastStopping"]

log = logging.getLogger(__name__)


class ForecastStopping(keras.callbacks.Callback):
    """Stop ``model.fit`` when the forecast of the monitored metric says it will not pay.

    At the end of each epoch the monitored value is added to the run's curve against
    the epoch (1, 2, ...), the curve is forecast to the last epoch (``epochs`` of
    ``fit``), and training stops when the probability that the final value reaches
    ``target`` is below ``risk`` (two judgements in a row, or one far below), when the
    forecast expects less than ``min_gain`` of further improvement, or at once on a NaN
    or inf.

    The forecast joins the epoch's logs, so ``History`` (what ``fit`` returns) and the
    callbacks after this one in the list (``CSVLogger``, ``TensorBoard``) record it:
    ``forecast_median``, ``forecast_lower``, ``forecast_upper`` (the 80% interval of the
    final value), ``forecast_prob_target`` and ``forecast_eta`` (the epoch at which the
    target is reached with probability 1/2; NaN: not by the last epoch), NaN before
    the first forecast (the third epoch). The latest judgement is :attr:`judgement`.

    Example:

        .. code-block:: python

            from curvecast.integrations.keras import ForecastStopping

            history = model.fit(x, y, validation_split=0.2, epochs=50,
                                callbacks=[ForecastStopping(target=0.2)])
            history.history["forecast_median"]

    Args:
        monitor: the logged metric to judge. Default ``"val_loss"``.
        mode: ``"min"`` (a loss) or ``"max"`` (an accuracy). Default ``"min"``.
        target: the value the run must reach (or a reference run's final to beat).
            None: stop on convergence and divergence only.
        risk: stop when the probability of reaching ``target`` is below this.
            Default 0.05.
        min_gain: if given, stop when the forecast expects less improvement than this
            from the level now (mean of the last 3 values) to the last epoch.
        max_steps: the epoch the forecast is of. Default None: ``epochs`` of ``fit``.
        verbose: log each judgement (logger ``curvecast.integrations.keras``, INFO).
        growth: forecast again when the points have grown by this factor. Default 1.0.
        method: the forecaster (see :func:`curvecast.make_forecaster`).
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "min", *,
                 target: float | None = None, risk: float = 0.05,
                 min_gain: float | None = None, max_steps: int | None = None,
                 verbose: bool = False, growth: float = 1.0,
                 method: str | Forecaster = "default") -> None:
        super().__init__()
        check_args(mode, target, risk, min_gain, max_steps)
        self.monitor, self.verbose = monitor, verbose
        self.stopped_epoch: int | None = None
        self._settings = {"mode": mode, "target": target, "risk": risk, "min_gain": min_gain,
                          "max_steps": max_steps, "growth": growth, "method": method}
        self._watch = RunWatch(**self._settings)

    @property
    def judgement(self) -> Judgement | None:
        """The latest judgement (None before the first epoch ended)."""
        return self._watch.last

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._watch = RunWatch(**self._settings)  # one run per fit
        self.stopped_epoch = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = {} if logs is None else logs
        if self.monitor not in logs:
            log.warning("ForecastStopping: no metric %r in the epoch's logs (%s); not judged",
                        self.monitor, ", ".join(sorted(logs)))
            return
        judgement = self._watch.update(epoch + 1, float(logs[self.monitor]),
                                       self.params.get("epochs"))
        logs.update(judgement.metrics(prefix="forecast_", fill=True))
        if self.verbose:
            log.info(judgement.describe(self.monitor))
        if judgement.stop:
            self.stopped_epoch = epoch + 1
            self.model.stop_training = True
