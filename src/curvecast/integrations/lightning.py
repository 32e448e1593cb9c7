"""ForecastStopping: a Lightning callback that stops a run by where it is heading.

Lightning's ``EarlyStopping`` stops when the monitored value has not improved for
``patience`` checks. ``ForecastStopping`` forecasts the value at the run's last step
instead and stops when the run will not reach ``target`` (with probability below
``risk``), when it has converged (``min_gain``), or at once on a NaN or inf (see
:mod:`curvecast.integrations._stopping` for the rules).
"""

from __future__ import annotations

import math
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities.rank_zero import rank_zero_info

from ..forecasters import Forecaster
from ._stopping import Judgement, RunWatch, check_args

__all__ = ["ForecastStopping"]


class ForecastStopping(Callback):
    """Stop training when the forecast of the monitored metric says it will not pay.

    After each validation (or training epoch, with ``check_on_train_epoch_end``) the
    monitored value is added to the run's curve against ``trainer.global_step``, the
    curve is forecast to the last step, and training stops when the probability that
    the final value reaches ``target`` is below ``risk`` (two judgements in a row, or
    one far below), when the forecast expects less than ``min_gain`` of further
    improvement, or at once when the value is NaN or inf. The forecast is logged to
    every logger of the trainer at each check, as ``forecast/median``, ``forecast/lower``
    and ``forecast/upper`` (80% interval of the final value), ``forecast/prob_target``
    and ``forecast/eta`` (the step at which the target is reached with probability 1/2;
    NaN: not by the last step). The latest judgement is :attr:`judgement`.

    Example:

        .. code-block:: python

            from lightning.pytorch import Trainer
            from curvecast.integrations.lightning import ForecastStopping

            stop = ForecastStopping(monitor="val_loss", target=0.2)
            trainer = Trainer(max_epochs=50, callbacks=[stop])

    Args:
        monitor: the logged metric to judge. Default ``"val_loss"``.
        mode: ``"min"`` (a loss) or ``"max"`` (an accuracy). Default ``"min"``.
        target: the value the run must reach (or a reference run's final to beat).
            None: stop on convergence and divergence only.
        risk: stop when the probability of reaching ``target`` is below this.
            Default 0.05.
        min_gain: if given, stop when the forecast expects less improvement than this
            from the level now (mean of the last 3 values) to the last step.
        max_steps: the step (``trainer.global_step``) the forecast is of. Default None:
            the trainer's budget (``trainer.estimated_stepping_batches``).
        check_on_train_epoch_end: judge at the end of each training epoch rather than
            after each validation. Default False.
        strict: raise when ``monitor`` is not among the logged metrics (else warn once
            and skip). Default True.
        verbose: log each judgement through Lightning's logger. Default False.
        growth: forecast again when the points have grown by this factor. Default 1.0.
        method: the forecaster (see :func:`curvecast.make_forecaster`).
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "min", *,
                 target: float | None = None, risk: float = 0.05,
                 min_gain: float | None = None, max_steps: int | None = None,
                 check_on_train_epoch_end: bool = False, strict: bool = True,
                 verbose: bool = False, growth: float = 1.0,
                 method: str | Forecaster = "default") -> None:
        super().__init__()
        check_args(mode, target, risk, min_gain, max_steps)
        self.monitor, self.mode, self.target = monitor, mode, target
        self.risk, self.min_gain, self.max_steps = risk, min_gain, max_steps
        self.check_on_train_epoch_end, self.strict, self.verbose = (
            check_on_train_epoch_end, strict, verbose)
        self.growth, self.method = growth, method
        self.stopped_step: int | None = None
        self._warned_missing = False
        self._watch = self._new_watch()

    def _new_watch(self) -> RunWatch:
        return RunWatch(mode=self.mode, target=self.target, risk=self.risk,
                        min_gain=self.min_gain, max_steps=self.max_steps, growth=self.growth,
                        method=self.method)

    @property
    def judgement(self) -> Judgement | None:
        """The latest judgement (None before the first check)."""
        return self._watch.last

    @property
    def state_key(self) -> str:
        return self._generate_state_key(monitor=self.monitor, mode=self.mode)

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.max_steps is None and not math.isfinite(float(trainer.estimated_stepping_batches)):
            raise ValueError("ForecastStopping needs the run's last step: give max_steps, or "
                             "set max_epochs or max_steps on the Trainer")

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.check_on_train_epoch_end and not _skip(trainer):
            self._check(trainer)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.check_on_train_epoch_end and not _skip(trainer):
            self._check(trainer)

    def _check(self, trainer: pl.Trainer) -> None:
        metrics = trainer.callback_metrics
        if self.monitor not in metrics:
            self._missing(metrics)
            return
        value = float(metrics[self.monitor].squeeze())
        step = trainer.global_step
        final = self.max_steps or int(trainer.estimated_stepping_batches)
        judgement = self._watch.update(step, value, final)
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.log_metrics(judgement.metrics(), step=step)
        if self.verbose:
            rank_zero_info(judgement.describe(self.monitor))
        stop = trainer.strategy.reduce_boolean_decision(judgement.stop, all=False)
        if stop and not trainer.should_stop:
            self.stopped_step = step
        trainer.should_stop = trainer.should_stop or stop

    def _missing(self, metrics: dict) -> None:
        message = (f"ForecastStopping could not find the metric {self.monitor!r}; "
                   f"logged metrics: {', '.join(sorted(metrics)) or 'none'}")
        if self.strict:
            raise RuntimeError(message)
        if not self._warned_missing:
            self._warned_missing = True
            rank_zero_info(message)

    def state_dict(self) -> dict[str, Any]:
        return {"steps": list(self._watch.steps), "values": list(self._watch.values),
                "stopped_step": self.stopped_step}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """A resumed run goes on from the curve it had (judged afresh at its next check)."""
        self._watch = self._new_watch()
        self._watch.steps = [float(s) for s in state_dict.get("steps", [])]
        self._watch.values = [float(v) for v in state_dict.get("values", [])]
        self.stopped_step = state_dict.get("stopped_step")


def _skip(trainer: pl.Trainer) -> bool:
    from lightning.pytorch.trainer.states import TrainerFn

    return trainer.state.fn != TrainerFn.FITTING or trainer.sanity_checking or bool(
        trainer.fast_dev_run)
