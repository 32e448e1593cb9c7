"""ForecastStoppingCallback: a Hugging Face ``Trainer`` callback that stops a run by
where it is heading.

``transformers.EarlyStoppingCallback`` stops when the evaluation metric has not improved
for ``early_stopping_patience`` evaluations. ``ForecastStoppingCallback`` forecasts the
metric at the run's last step instead and stops when the run will not reach ``target``
(with probability below ``risk``), when it has converged (``min_gain``), or at once on
a NaN or inf (see :mod:`curvecast.integrations._stopping` for the rules).
"""

from __future__ import annotations

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments
from transformers.utils import logging

from ..forecasters import Forecaster
from ._stopping import Judgement, RunWatch, check_args

__all__ = ["ForecastStoppingCallback"]

logger = logging.get_logger(__name__)


class ForecastStoppingCallback(TrainerCallback):
    """Set ``control.should_training_stop`` when the forecast says the run will not pay.

    At each evaluation the monitored metric is added to the run's curve against
    ``state.global_step``, the curve is forecast to the last step (``state.max_steps``),
    and training stops when the probability that the final value reaches ``target`` is
    below ``risk`` (two judgements in a row, or one far below), when the forecast expects
    less than ``min_gain`` of further improvement, or at once on a NaN or inf.

    The forecast joins the evaluation's metrics (what ``trainer.evaluate()`` returns) and
    the trainer's log (``trainer.state.log_history``, saved in ``trainer_state.json``) as
    ``eval_forecast_median``, ``eval_forecast_lower``, ``eval_forecast_upper`` (the 80%
    interval of the final value), ``eval_forecast_prob_target`` and
    ``eval_forecast_eta`` (the step at which the target is reached with probability 1/2;
    NaN: not by the last step); each judgement is also written to transformers' logger
    (at INFO). The latest judgement is :attr:`judgement`.

    Example:

        .. code-block:: python

            from transformers import Trainer, TrainingArguments
            from curvecast.integrations.transformers import ForecastStoppingCallback

            args = TrainingArguments("out", eval_strategy="epoch", num_train_epochs=20)
            trainer = Trainer(model, args, train_dataset=train, eval_dataset=val,
                              callbacks=[ForecastStoppingCallback(target=0.2)])

    Args:
        monitor: the evaluation metric to judge. Default ``"eval_loss"``.
        mode: ``"min"`` (a loss) or ``"max"`` (an accuracy). Default ``"min"``.
        target: the value the run must reach (or a reference run's final to beat).
            None: stop on convergence and divergence only.
        risk: stop when the probability of reaching ``target`` is below this.
            Default 0.05.
        min_gain: if given, stop when the forecast expects less improvement than this
            from the level now (mean of the last 3 values) to the last step.
        max_steps: the step the forecast is of. Default None: ``state.max_steps``.
        growth: forecast again when the points have grown by this factor. Default 1.0.
        method: the forecaster (see :func:`curvecast.make_forecaster`).
    """

    def __init__(self, monitor: str = "eval_loss", mode: str = "min", *,
                 target: float | None = None, risk: float = 0.05,
                 min_gain: float | None = None, max_steps: int | None = None,
                 growth: float = 1.0, method: str | Forecaster = "default") -> None:
        check_args(mode, target, risk, min_gain, max_steps)
        self.monitor = monitor
        self.stopped_step: int | None = None
        self._watch = RunWatch(mode=mode, target=target, risk=risk, min_gain=min_gain,
                               max_steps=max_steps, growth=growth, method=method)

    @property
    def judgement(self) -> Judgement | None:
        """The latest judgement (None before the first evaluation)."""
        return self._watch.last

    def on_evaluate(self, args: TrainingArguments, state: TrainerState,
                    control: TrainerControl, metrics: dict | None = None, **kwargs) -> None:
        metrics = {} if metrics is None else metrics
        if self.monitor not in metrics:
            logger.warning(f"ForecastStoppingCallback: no metric {self.monitor!r} in the "
                           f"evaluation's metrics ({', '.join(sorted(metrics))}); not judged")
            return
        step = state.global_step
        judgement = self._watch.update(step, float(metrics[self.monitor]), state.max_steps)
        forecast = judgement.metrics(prefix="eval_forecast_")
        metrics.update(forecast)
        if forecast:
            state.log_history.append({**forecast, "step": step})
        logger.info(judgement.describe(self.monitor))
        if judgement.stop:
            self.stopped_step = step
            control.should_training_stop = True
