"""ForecastScheduler: a Ray Tune scheduler that stops a trial by where it is heading.

Ray Tune's ``MedianStoppingRule`` and ASHA compare where a trial is now with where
others were at the same time. ForecastScheduler forecasts the trial's final value from
its curve so far, with what the sweep's completed trials show (their curves and
configurations, see :class:`~curvecast.JointForecaster`), and stops the trial when the
probability that it beats the best completed trial is below ``risk``: the rules of
:mod:`curvecast.decisions`, as :class:`~curvecast.integrations.optuna.ForecastPruner`
applies them to an Optuna study, here for sweeps that run on a Ray cluster.
"""

from __future__ import annotations

import logging
import math
import numbers
from dataclasses import replace
from typing import TYPE_CHECKING

from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from ..curve import MIN_POINTS, Curve
from ..decisions import (
    Decision,
    confirm,
    context_size,
    decide,
    diverged,
    due,
    final_step,
    incumbent,
)
from ..forecasters import Forecaster
from ._heads import STUDY_MODELS, cached
from ._heads import study_model as _fit

if TYPE_CHECKING:
    from ray.tune.experiment import Trial

__all__ = ["ForecastScheduler"]

log = logging.getLogger(__name__)


class ForecastScheduler(FIFOScheduler):
    """Stop a trial when its forecast final value is unlikely to win.

    At each result the trial's curve (``metric`` against ``time_attr``) is forecast to
    the final time, using what the completed trials show, when its points have grown by
    ``growth`` since the last forecast. The trial is judged hopeless when the probability
    that its final value beats the best completed trial's final is below ``risk``;
    before any trial has completed (with ``max_t`` given, so the final time is known),
    the other running trials' forecasts stand in for it (the pessimistic end of their
    80% interval, see :func:`curvecast.decisions.incumbent`). A trial is stopped when two
    judgements in a row find it hopeless, or one with a probability below ``risk / 4``,
    when its forecast expects less than ``min_gain`` of improvement (if given), or at
    once when it reports NaN or inf. Each trial's latest judgement is in
    :attr:`decisions` (a :class:`~curvecast.decisions.Decision`: median and 80% interval
    of its final value, the probability of beating the incumbent, the reason).

    Example:

        .. code-block:: python

            from ray import tune
            from curvecast.integrations.ray import ForecastScheduler

            tuner = tune.Tuner(train, param_space={"lr": tune.loguniform(1e-4, 1e-1)},
                               tune_config=tune.TuneConfig(
                                   metric="val_loss", mode="min", num_samples=20,
                                   scheduler=ForecastScheduler(max_t=50)))
            results = tuner.fit()

    Args:
        time_attr: the result's measure of progress. Default ``"training_iteration"``.
        metric: the result's value to judge (or from ``tune.TuneConfig``).
        mode: ``"min"`` or ``"max"`` (or from ``tune.TuneConfig``).
        risk: stop when the probability of beating the best final is below this.
            Default 0.05.
        min_gain: if given, also stop a trial whose forecast expects less improvement
            than this from its level now (mean of its last 3 values). Default None.
        max_t: the time at which trials end. Default None: the largest last time among
            completed trials (before any has completed, among running ones).
        grace_period: never stop a trial before this time. Default 0.
        growth: forecast a trial again when its points have grown by this factor (at
            least one point). Default 1.1.
        context_growth: grow the completed trials the study model learns from by this
            factor (at least one). Default 1.25.
        forecaster: the per-curve forecaster the completed trials correct (one, or a
            name of :func:`curvecast.make_forecaster`). Default:
            :class:`~curvecast.LearnedForecaster`.
        study_model: how they correct it: ``"joint"`` (default) or ``"study"``.
    """

    def __init__(self, time_attr: str = "training_iteration", metric: str | None = None,
                 mode: str | None = None, *, risk: float = 0.05,
                 min_gain: float | None = None, max_t: int | None = None,
                 grace_period: float = 0, growth: float = 1.1, context_growth: float = 1.25,
                 forecaster: Forecaster | str | None = None,
                 study_model: str = "joint") -> None:
        super().__init__()
        if mode is not None and mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', but got {mode=}.")
        if not 0.0 < risk < 1.0:
            raise ValueError(f"risk must lie strictly between 0 and 1, but got {risk=}.")
        if min_gain is not None and not min_gain >= 0:
            raise ValueError(f"min_gain must be non-negative, but got {min_gain=}.")
        if max_t is not None and max_t < 1:
            raise ValueError(f"max_t must be at least 1, but got {max_t=}.")
        if growth < 1.0 or context_growth < 1.0:
            raise ValueError(f"growth factors must be at least 1, but got {growth=}, "
                             f"{context_growth=}.")
        self._time_attr, self._metric, self._mode = time_attr, metric, mode
        self._risk, self._min_gain, self._max_t = risk, min_gain, max_t
        self._grace, self._growth, self._context_growth = grace_period, growth, context_growth
        if study_model not in STUDY_MODELS:
            raise ValueError(f"study_model must be one of {', '.join(STUDY_MODELS)}, but got "
                             f"{study_model=}.")
        self._kind = study_model
        self._base = cached(forecaster)  # per-curve forecasts of the heads kept
        self._points: dict[str, tuple[list[float], list[float]]] = {}
        self._judged: dict[str, int] = {}  # points at a trial's last forecast
        self.decisions: dict[str, Decision] = {}
        """Each trial's latest judgement, by trial id."""
        self._done: list[Curve] = []  # trials that ran to their end, in that order
        self._stopped: set[str] = set()
        self._ended: set[str] = set()  # trials that completed, stopped or not
        self._context: tuple = ()
        self._model = _fit(self._kind, self._base, ())

    def set_search_properties(self, metric: str | None, mode: str | None, **spec) -> bool:
        if (self._metric and metric) or (self._mode and mode):
            return False
        self._metric = metric or self._metric
        self._mode = mode or self._mode
        return True

    def on_trial_add(self, tune_controller, trial: Trial) -> None:
        if not self._metric or self._mode not in ("min", "max"):
            raise ValueError("ForecastScheduler needs a metric and a mode ('min' or 'max'): "
                             "pass them to ForecastScheduler or to tune.TuneConfig")
        super().on_trial_add(tune_controller, trial)

    def on_trial_result(self, tune_controller, trial: Trial, result: dict) -> str:
        if self._time_attr not in result or self._metric not in result:
            return TrialScheduler.CONTINUE
        t, value = float(result[self._time_attr]), float(result[self._metric])
        steps, values = self._points.setdefault(trial.trial_id, ([], []))
        while steps and steps[-1] >= t:  # a trial restored from a checkpoint
            steps.pop()
            values.pop()
        steps.append(t)
        values.append(value)
        if not math.isfinite(value):
            return self._judge(trial, replace(diverged(), step=_step(t)))
        if t < self._grace or len(steps) < MIN_POINTS:
            return TrialScheduler.CONTINUE
        if not due(len(steps), self._judged.get(trial.trial_id, 0), self._growth):
            return TrialScheduler.CONTINUE
        self._judged[trial.trial_id] = len(steps)
        curve = self._curve(trial)
        if curve.status != "ok":  # an earlier NaN the trial went past
            return self._judge(trial, replace(diverged(), step=_step(t)))
        running = [s[-1] for tid, (s, _) in self._points.items()
                   if tid != trial.trial_id and tid not in self._ended | self._stopped and s]
        ends = [c.last_step for c in self._done]
        final = math.ceil(final_step(t, ends, running, self._max_t))
        others = [d for tid, d in self.decisions.items()
                  if tid != trial.trial_id and tid not in self._ended]  # running trials
        bar = incumbent([c.last for c in self._done], self._mode, others=others,
                        final_step=final if self._max_t is not None else None)
        fc = self._study_model().forecast([curve], [float(final)])[0]
        warned = (last := self.decisions.get(trial.trial_id)) is not None and (
            last.reason == "warning")
        decision = decide(fc, curve.values, bar, self._risk, self._min_gain)
        decision = replace(confirm(decision, warned, self._risk), step=_step(t),
                           final_step=final, incumbent=bar)
        return self._judge(trial, decision)

    def _judge(self, trial: Trial, decision: Decision) -> str:
        self.decisions[trial.trial_id] = decision
        if not decision.stop:
            return TrialScheduler.CONTINUE
        self._stopped.add(trial.trial_id)
        log.info("ForecastScheduler: stopping trial %s at %s %s (%s)", trial.trial_id,
                 self._time_attr, decision.step, decision.reason)
        return TrialScheduler.STOP

    def _curve(self, trial: Trial) -> Curve:
        steps, values = self._points[trial.trial_id]
        hp = {k: v for k, v in (trial.config or {}).items()
              if isinstance(v, numbers.Real) and not isinstance(v, bool)}
        return Curve(trial.trial_id, steps, values, self._mode, hp=hp)

    def _study_model(self) -> Forecaster:
        """The study model, learning from the first trials that ran to their end."""
        learned = self._done[:context_size(len(self._done), self._context_growth)]
        key = tuple(c.run for c in learned)
        if key != self._context:
            self._context = key
            self._model = _fit(self._kind, self._base, learned)
        return self._model

    def on_trial_complete(self, tune_controller, trial: Trial, result: dict) -> None:
        if trial.trial_id not in self._stopped and trial.trial_id in self._points:
            curve = self._curve(trial)
            if curve.status == "ok":
                self._done.append(curve)
        self._ended.add(trial.trial_id)
        super().on_trial_complete(tune_controller, trial, result)

    def on_trial_remove(self, tune_controller, trial: Trial) -> None:
        self._stopped.add(trial.trial_id)  # not a final: it did not run to its end
        super().on_trial_remove(tune_controller, trial)

    def debug_string(self) -> str:
        stopped = sum(d.stop for d in self.decisions.values())
        return (f"Using ForecastScheduler: {len(self._done)} trials ran to their end, "
                f"{stopped} stopped by their forecast.")


def _step(t: float) -> int:
    return int(t) if float(t).is_integer() else math.ceil(t)
