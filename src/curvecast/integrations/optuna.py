"""ForecastPruner: an Optuna pruner that judges a trial by where it is heading.

Optuna's own pruners compare where a trial is now with where others were at the same
step. ForecastPruner forecasts the trial's final value from its curve so far, with what
the study's completed trials show (their curves and parameters, see
:class:`~curvecast.JointForecaster`), and prunes when the trial is unlikely to beat the
best final so far. It reads the study through :mod:`curvecast.io.optuna`, applies the
rules of :mod:`curvecast.decisions`, and records each decision on the trial.

:func:`forecast_final` gives a trial's forecast final value, for an objective that
returns it instead of raising ``TrialPruned`` (so that the sampler learns from pruned
trials too).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import optuna
from optuna.pruners import BasePruner
from optuna.trial import TrialState

from ..curve import MIN_POINTS, Curve
from ..decisions import (
    LEVEL,
    Decision,
    confirm,
    context_size,
    decide,
    diverged,
    dominated,
    final_step,
    forecast_due,
    incumbent,
)
from ..errors import InputError
from ..forecast import Forecast
from ..forecasters import Forecaster
from ..io.optuna import (
    ATTR,
    FinishedTrials,
    read_decision,
    study_goal,
    trial_curve,
    write_decision,
)
from ._heads import STUDY_MODELS, cached
from ._heads import study_model as fit_study_model

if TYPE_CHECKING:
    from optuna.study import Study
    from optuna.trial import FrozenTrial

__all__ = ["ATTR", "Estimate", "ForecastPruner", "forecast_final"]


class ForecastPruner(BasePruner):
    """Pruner that stops a trial when its forecast final value is unlikely to win.

    At every report the trial's curve so far is forecast to the final step, using what
    the study's completed trials show (their curves and parameters). The trial is judged
    hopeless when the probability that its final value beats the best completed trial's
    value is below ``risk``. Before any trial has completed (with ``max_step`` given, so
    that the final step is known), the other running trials' forecasts stand in for it:
    a trial is hopeless when it will almost surely end worse than another would at the
    pessimistic end of its 80% interval, so pruning works from the start of a
    distributed study. With too few points to forecast (its first two reports), a trial
    is hopeless when it is dominated: the five trials closest to it that were at least
    as good at the same step all ended (or, pruned, were forecast to end even in their
    best case) clearly worse than the best final, at a step whose values rank the
    trials' outcomes (see :mod:`curvecast.decisions` for every rule).

    A trial is pruned when two judgements in a row find it hopeless, or one with a
    probability below ``risk / 4``: it is judged many times, and one overconfident
    forecast (of a curve on a plateau just before it drops) must not end it. A trial
    that reports NaN or inf is pruned at once, as diverged.

    Each stop and each warning is recorded in the trial's user attribute ``"curvecast"``
    (a :class:`~curvecast.decisions.Decision`: ``step``, ``final_step``, ``median``,
    ``lower`` and ``upper`` of the 80% interval, ``prob_better``, ``expected_gain``,
    ``best_case``, ``incumbent``, ``stop``, ``reason``), for samplers, users, the report
    and the dashboard; so is every forecast made before any trial has completed (the
    running trials' records then set the bar). A judgement to continue is not written
    once a trial has completed: a storage write costs more than the rest of a call but
    for the forecast, and no later judgement reads it. Asked again at a step already
    judged (a repeated report, which Optuna ignores), the answer is the one recorded, or
    the same judgement made again.

    The storage is the truth, as for Optuna's own pruners: every judgement is a function
    of what the storage holds, so a restarted worker, or another process on the same
    storage, decides as this one would. What the pruner keeps (the finished trials read
    so far, the fitted study model) only saves reading and fitting again.

    Forecasts are refreshed when a trial's reported points have grown by ``growth``
    (10% by default: at points 3, 4, ..., 10, 11, 13, 15, ...: a function of the points
    alone, see :func:`~curvecast.decisions.forecast_due`); between refreshes a report
    only costs a check for divergence. The study model learns from the first completed
    trials (in the order they completed), as many as the largest of 1, 2, 3, ... (each
    grown by ``context_growth``, at most ``max_context``) that have completed: one model
    of the study, refit 17 times as the first 94 trials complete and never after,
    its fits per step kept, so that a call with 500 completed trials costs what one with
    100 does. A refit forecasts only the completed trials' heads it has not forecast
    before (a finished trial's head at a step never changes: the per-curve forecasts are
    kept by content, see :class:`~curvecast.integrations._heads.HeadCache`).

    Example:

        .. testcode::

            import math

            import optuna

            from curvecast.integrations.optuna import ForecastPruner


            def objective(trial):
                lr = trial.suggest_float("lr", 1e-3, 1.0, log=True)
                loss = 1.0
                for epoch in range(30):
                    loss = 0.3 + 0.7 * math.exp(-lr * (epoch + 1)) + (lr - 0.1) ** 2
                    trial.report(loss, epoch)
                    if trial.should_prune():
                        raise optuna.TrialPruned()
                return loss


            study = optuna.create_study(pruner=ForecastPruner())
            study.optimize(objective, n_trials=10)

    Args:
        risk:
            Prune when the probability that the trial's final value beats the best final
            so far is below this. Default 0.05 (on issue 17's replays 0.1 met bar 1 as
            often with less compute, but it prunes a trial on the best one's path:
            BENCHMARKS.md).
        min_gain:
            If given, also prune a trial whose forecast expects less improvement than this
            from its current level (mean of its last 3 values) to its final value: it has
            converged. Default None (off).
        max_step:
            The step at which trials end. Default None: the largest last step among
            completed trials (before any has completed, among running ones).
        n_warmup_steps:
            Pruning is disabled while the step is below this. Default 0.
        growth:
            Refresh a trial's forecast when its number of reported points has grown by
            this factor (at least one point). Default 1.1.
        context_growth:
            Grow the completed trials the study model learns from by this factor (at
            least one trial). Default 1.25.
        max_context:
            The most completed trials the study model learns from. Default 100.
        forecaster:
            The per-curve forecaster that the study's completed trials correct (one, or
            a name of :func:`curvecast.make_forecaster`). Default:
            :class:`~curvecast.LearnedForecaster`.
        study_model:
            How the completed trials correct it: ``"joint"`` (default,
            :class:`~curvecast.JointForecaster`) or ``"study"``
            (:class:`~curvecast.StudyForecaster`, the model of issue 5).
    """

    def __init__(
        self,
        risk: float = 0.05,
        *,
        min_gain: float | None = None,
        max_step: int | None = None,
        n_warmup_steps: int = 0,
        growth: float = 1.1,
        context_growth: float = 1.25,
        max_context: int = 100,
        forecaster: Forecaster | str | None = None,
        study_model: str = "joint",
    ) -> None:
        if not 0.0 < risk < 1.0:
            raise ValueError(f"risk must lie strictly between 0 and 1, but got {risk=}.")
        if min_gain is not None and not min_gain >= 0:
            raise ValueError(f"min_gain must be non-negative, but got {min_gain=}.")
        if max_step is not None and max_step < 1:
            raise ValueError(f"max_step must be at least 1, but got {max_step=}.")
        if n_warmup_steps < 0:
            raise ValueError(f"n_warmup_steps cannot be negative, but got {n_warmup_steps=}.")
        if growth < 1.0 or context_growth < 1.0:
            raise ValueError(f"growth factors must be at least 1, but got {growth=}, "
                             f"{context_growth=}.")
        if max_context < 1:
            raise ValueError(f"max_context must be at least 1, but got {max_context=}.")
        self._risk = risk
        self._max_context = max_context
        self._min_gain = min_gain
        self._max_step = max_step
        self._n_warmup_steps = n_warmup_steps
        self._growth = growth
        self._context_growth = context_growth
        if study_model not in STUDY_MODELS:
            raise ValueError(f"study_model must be one of {', '.join(STUDY_MODELS)}, but got "
                             f"{study_model=}.")
        self._kind = study_model
        self._base = cached(forecaster)
        self._lock = threading.Lock()  # threads of one process (n_jobs > 1) share the caches
        self._fit_lock = threading.Lock()
        self._study_key: tuple | None = None
        self._reset("min")

    def _reset(self, goal: str) -> None:
        self._goal = goal
        self._finished = FinishedTrials(goal)  # finished trials read so far
        self._context: tuple = ()  # numbers of the trials the study model learns from
        self._early_seen: dict[tuple, Decision] = {}  # early judgements, see _dominated
        self._model = fit_study_model(self._kind, self._base, ())

    def _follow(self, study: Study) -> None:
        """Start afresh when the pruner is used for another study."""
        key = (id(study._storage), study._study_id)
        with self._lock:
            if key == self._study_key:
                return
            try:
                goal = study_goal(study)
            except InputError:
                raise NotImplementedError(
                    "ForecastPruner supports single-objective studies only.") from None
            self._reset(goal)
            self._study_key = key

    def prune(self, study: Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None:
            return False
        last = read_decision(trial)
        if last is not None and last.step == step:
            return last.stop  # judged at this step already
        values = trial.intermediate_values
        if not math.isfinite(values[step]):
            return self._record(study, trial, replace(diverged(), step=step))
        if step < self._n_warmup_steps:
            return False
        self._follow(study)
        if len(values) < MIN_POINTS:
            return self._early(study, trial)
        now, before = forecast_due(len(values), self._growth, MIN_POINTS)
        if not now:
            return False
        curve = trial_curve(trial, self._goal)
        if curve.status != "ok":  # an earlier NaN the objective went past
            return self._record(study, trial, replace(diverged(), step=step))
        fc, final, bar, alone = self._forecast(study, trial, curve)
        if before:  # the previous judgement was a forecast: a warning there is recorded
            warned = (last is not None and last.reason == "warning"
                      and last.step == int(curve.steps[before - 1]))
        else:  # an early one: judged again from what the storage holds now
            warned = self._hopeless_early(trial, curve.steps[-2])
        decision = decide(fc, curve.values, bar, self._risk, self._min_gain)
        decision = replace(confirm(decision, warned, self._risk), step=step,
                           final_step=final, incumbent=bar)
        if decision.stop or decision.reason == "warning" or alone:
            return self._record(study, trial, decision)
        return False  # a judgement to continue, with a completed trial to beat: not written

    def _early(self, study: Study, trial: FrozenTrial) -> bool:
        """Too few points to forecast: stop the trial if it is dominated at this step.

        Only a stop is recorded. A judgement here costs microseconds and a storage write
        milliseconds, so the one before (at the previous report) is judged again, from
        what the storage holds now, rather than read back: a function of the storage
        all the same."""
        self._read_finished(study)
        steps = sorted(trial.intermediate_values)
        decision = self._dominated(trial, steps[-1])
        if decision.reason == "no_forecast":
            return False
        warned = self._hopeless_early(trial, steps[-2] if len(steps) > 1 else None)
        decision = replace(confirm(decision, warned, self._risk), step=steps[-1])
        return self._record(study, trial, decision) if decision.stop else False

    def _read_finished(self, study: Study) -> None:
        finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,
                                                             TrialState.PRUNED))
        with self._lock:
            self._finished.update(finished)

    def _dominated(self, trial: FrozenTrial, step: int) -> Decision:
        """The dominated rule at ``step`` on the finished trials read (before confirm);
        kept until another trial finishes, as the next report asks it again."""
        value = trial.intermediate_values[step]
        with self._lock:
            key = (trial.number, step, value, self._finished.count)
            if key in self._early_seen:
                return self._early_seen[key]
            others = self._finished.at_step(step)
            bar = incumbent(_known(self._finished.best), self._goal)
        d = replace(dominated(value, others, bar, self._goal), incumbent=bar)
        with self._lock:
            self._early_seen[key] = d
            while len(self._early_seen) > EARLY_CACHE:
                self._early_seen.pop(next(iter(self._early_seen)))
        return d

    def _hopeless_early(self, trial: FrozenTrial, step: float | None) -> bool:
        """Whether the early judgement at ``step`` (None: there was none) found the trial
        hopeless, judged on the finished trials read."""
        if step is None or step < self._n_warmup_steps:
            return False
        return self._dominated(trial, int(step)).stop

    def _forecast(self, study: Study, trial: FrozenTrial, curve: Curve
                  ) -> tuple[Forecast, int, float | None, bool]:
        """The trial's forecast at the final step, the final step, the incumbent, and
        whether no trial has completed yet (the running trials' records set the bar)."""
        self._read_finished(study)
        with self._lock:
            best, end = self._finished.best, self._finished.last_end
            model = self._study_model()
        running = []
        if best is None or (end is None and self._max_step is None):
            running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        ends = [] if end is None else [end]
        final = final_step(trial.last_step, ends, [t.last_step for t in running
                                                   if t.last_step is not None], self._max_step)
        final = int(final)
        others = [d for t in running if t.number != trial.number
                  and (d := read_decision(t)) is not None]
        bar = incumbent(_known(best), self._goal, others=others,
                        final_step=final if self._max_step is not None else None)
        with self._fit_lock:  # threads of one process share the study model's fits
            fc = model.forecast([curve], [final])
        return fc, final, bar, best is None

    def _study_model(self) -> Forecaster:
        """The study model, learning from the first completed trials (call with the lock)."""
        done = self._finished.ran_to_end
        learned = done[:context_size(len(done), self._context_growth, self._max_context)]
        key = tuple(f.number for f in learned)
        if key != self._context:
            self._context = key
            self._model = fit_study_model(self._kind, self._base,
                                      [f.curve for f in learned if f.curve is not None])
        return self._model

    def _record(self, study: Study, trial: FrozenTrial, decision: Decision) -> bool:
        write_decision(study, trial, decision)
        return decision.stop

    def estimate(self, study: Study, trial: FrozenTrial) -> Estimate | None:
        """The trial's forecast final value (see :func:`forecast_final`)."""
        step = trial.last_step
        if step is None:
            return None
        last = read_decision(trial)
        if (last is not None and last.step == step and last.median is not None
                and last.lower is not None and last.upper is not None
                and last.final_step is not None):
            return Estimate(last.median, last.lower, last.upper, step, last.final_step, True)
        if len(trial.intermediate_values) < MIN_POINTS:
            return None
        self._follow(study)
        curve = trial_curve(trial, self._goal)
        if curve.status != "ok":
            return None
        fc, final, _, _ = self._forecast(study, trial, curve)
        if not bool(np.asarray(fc.valid).ravel()[0]):
            return None
        lower, upper = (float(np.ravel(b)[0]) for b in fc.interval(LEVEL, axis=0))
        return Estimate(float(np.ravel(fc.median)[0]), lower, upper, step, final, False)


EARLY_CACHE = 256
"""Early judgements kept (two per running trial are asked again)."""


def _known(best: float | None) -> list[float]:
    return [] if best is None else [best]


@dataclass(frozen=True)
class Estimate:
    """A trial's forecast final value: the ``median`` and the 80% interval (``lower``,
    ``upper``) at ``final_step``, from its values up to ``step``. ``recorded``: the
    forecast ForecastPruner's decision at that step rested on (else one made for the
    asking)."""

    median: float
    lower: float
    upper: float
    step: int
    final_step: int
    recorded: bool


_shared: ForecastPruner | None = None
_shared_lock = threading.Lock()


def forecast_final(trial: optuna.Trial | FrozenTrial, study: Study | None = None, *,
                   pruner: ForecastPruner | None = None, record: bool = True
                   ) -> Estimate | None:
    """A stopped trial's forecast final value, from what the storage holds: the forecast
    that ForecastPruner's decision at the trial's last step rested on, where there is
    one, else one made now the same way (by ``pruner``, else the study's own if it is a
    ForecastPruner, else one with default settings). None when the trial cannot be
    forecast: it diverged, or has fewer than 3 points.

    An objective can return its ``median`` instead of raising ``TrialPruned``, as
    Optuna's tutorial on WilcoxonPruner suggests for TPE: the sampler then learns from
    the pruned trials too, from where they were heading rather than where they stopped.
    The trial is then COMPLETE with that value, and its record (written here when
    another pruner stopped it: reason 'pruned', with the forecast) says it was stopped
    at that step: curvecast's pruner, report and dashboard treat it as pruned (its
    value is never taken for a final), but Optuna's ``study.best_trial`` does not know.

    Example:

        .. testcode::

            import optuna

            from curvecast.integrations.optuna import ForecastPruner, forecast_final


            def objective(trial):
                lr = trial.suggest_float("lr", 1e-3, 1.0, log=True)
                for epoch in range(30):
                    loss = 0.3 + 0.7 / (1 + lr * (epoch + 1)) + (lr - 0.1) ** 2
                    trial.report(loss, epoch)
                    if trial.should_prune():
                        estimate = forecast_final(trial)
                        if estimate is None:  # nothing to forecast from
                            raise optuna.TrialPruned()
                        return estimate.median
                return loss


            study = optuna.create_study(pruner=ForecastPruner(),
                                        sampler=optuna.samplers.TPESampler(seed=0))
            study.optimize(objective, n_trials=12)

    Args:
        trial:
            The trial (an ``optuna.Trial`` inside the objective, or a ``FrozenTrial``
            with its ``study``).
        study:
            The study of a ``FrozenTrial``; not needed with an ``optuna.Trial``.
        pruner:
            The ForecastPruner that forecasts, where the study's is not one.
        record:
            Record that the trial stopped at its last step with this forecast, where no
            decision to stop it there is recorded (default True: call this when the
            trial stops).
    """
    global _shared
    if isinstance(trial, optuna.Trial):
        study = trial.study
        trial = study._storage.get_trial(trial._trial_id)  # the record as stored
    elif study is None:
        raise TypeError("forecast_final needs the study of a FrozenTrial")
    if pruner is None and isinstance(study.pruner, ForecastPruner):
        pruner = study.pruner
    if pruner is None:
        with _shared_lock:
            _shared = _shared or ForecastPruner()
            pruner = _shared
    estimate = pruner.estimate(study, trial)
    last = read_decision(trial)
    if estimate is not None and record and not (
            last is not None and last.stop and last.step == trial.last_step):
        best = estimate.lower if study_goal(study) == "min" else estimate.upper
        write_decision(study, trial, Decision(
            True, "pruned", median=estimate.median, lower=estimate.lower,
            upper=estimate.upper, best_case=best, step=estimate.step,
            final_step=estimate.final_step))
    return estimate
