"""ForecastPruner: an Optuna pruner that judges a trial by where it is heading.

Optuna's own pruners compare where a trial is now with where others were at the same
step. ForecastPruner forecasts the trial's final value from its curve so far, with what
the study's completed trials show (their curves and parameters, see
:class:`~curvecast.StudyForecaster`), and prunes when the trial is unlikely to beat the
best final so far (see :mod:`curvecast.decisions`).
"""

from __future__ import annotations

import math
import threading
from itertools import islice
from typing import TYPE_CHECKING

import numpy as np
from optuna.pruners import BasePruner
from optuna.study import StudyDirection
from optuna.trial import TrialState

from ..curve import MIN_POINTS, Curve
from ..decisions import Decision, confirm, decide, diverged, dominated
from ..forecasters import Forecaster, LearnedForecaster, StudyForecaster

if TYPE_CHECKING:
    from optuna.study import Study
    from optuna.trial import FrozenTrial

ATTR = "curvecast"
"""User attribute under which each forecast and decision is recorded on the trial."""


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
    trials' outcomes (see :func:`curvecast.decisions.dominated`).

    A trial is pruned when two judgements in a row find it hopeless, or one with a
    probability below ``risk / 4``: it is judged many times, and one overconfident
    forecast (of a curve on a plateau just before it drops) must not end it. A trial
    that reports NaN or inf is pruned at once, as diverged.

    Every forecast is recorded in the trial's user attributes under ``"curvecast"``
    (``step``, ``final_step``, ``median``, ``lower`` and ``upper`` of the 80% interval,
    ``best_case``, ``prob_better``, ``expected_gain``, ``stop``, ``reason``), for
    samplers, users and the dashboard.

    Forecasts are refreshed when a trial's reported points have grown by ``growth``
    (10% by default: at points 3, 4, ..., 10, 11, 13, 15, ...); between refreshes a report
    only costs a check for divergence. The study's completed trials are re-read when
    their number has grown by ``context_growth``.

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
            so far is below this. Default 0.05.
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
            Re-read the completed trials when their number has grown by this factor.
            Default 1.25.
        forecaster:
            The per-curve forecaster that the study's completed trials correct. Default:
            :class:`~curvecast.LearnedForecaster`.
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
        forecaster: Forecaster | None = None,
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
        self._risk = risk
        self._min_gain = min_gain
        self._max_step = max_step
        self._n_warmup_steps = n_warmup_steps
        self._growth = growth
        self._context_growth = context_growth
        self._base = forecaster if forecaster is not None else LearnedForecaster()
        self._lock = threading.Lock()
        self._fit_lock = threading.Lock()
        self._study_key: tuple | None = None
        self._reset()

    def _reset(self) -> None:
        self._judged: dict[int, int] = {}  # trial number -> points at its last forecast
        self._warned: dict[int, bool] = {}  # trial number -> its last judgement warned
        self._curves: dict[int, Curve | None] = {}  # completed trials (None: unusable)
        # finished trials, read once: number -> (values by step, final or best case)
        self._finished: dict[int, tuple[dict, float]] = {}
        self._best: float | None = None  # the best completed value
        self._by_step: dict[int, tuple[int, list]] = {}  # step -> (trials used, others)
        self._n_read = 0  # completed trials when the context was last renewed
        self._study: StudyForecaster = StudyForecaster(base=self._base)

    def _follow(self, study: Study) -> None:
        """Forget what was learned when the pruner is used for another study."""
        key = (id(study._storage), study._study_id)
        if key != self._study_key:
            self._reset()
            self._goal = _goal(study)  # a storage query: asked once per study
            self._study_key = key

    def prune(self, study: Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None:
            return False
        values = trial.intermediate_values
        last = values[step]
        if not math.isfinite(last):
            return self._record(study, trial, step, None, diverged())
        if step < self._n_warmup_steps:
            return False
        with self._lock:
            self._follow(study)
        if len(values) < MIN_POINTS:
            return self._early(study, trial, step, last)
        with self._lock:
            seen = self._judged.get(trial.number, 0)
            n = len(values)
            if seen and n < max(seen + 1, seen * self._growth):
                return False
            self._judged[trial.number] = n
        curve = _curve(trial, self._goal)
        if curve.status != "ok":
            return self._record(study, trial, step, None, diverged())
        completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        self._absorb(completed)
        final = self._final_step(study, completed, step)
        forecaster = self._forecaster()
        with self._fit_lock:  # threads of one process (n_jobs > 1) share the fit caches
            fc = forecaster.forecast([curve], [final])
        decision = decide(fc, curve.values, self._incumbent(study, trial, final),
                          self._risk, self._min_gain)
        return self._record(study, trial, step, final, self._confirm(trial, decision))

    def _confirm(self, trial: FrozenTrial, decision: Decision) -> Decision:
        with self._lock:
            out = confirm(decision, self._warned.get(trial.number, False), self._risk)
            self._warned[trial.number] = out.reason == "warning"
        return out

    def _early(self, study: Study, trial: FrozenTrial, step: int, value: float) -> bool:
        """Too few points to forecast: stop the trial if it is dominated at this step."""
        self._absorb(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,
                                                               TrialState.PRUNED)))
        decision = dominated(value, self._others(step), self._incumbent(study, trial),
                             self._goal)
        if decision.reason == "no_forecast":
            return False
        decision = self._confirm(trial, decision)
        return self._record(study, trial, step, None, decision) if decision.stop else False

    def _absorb(self, trials: list[FrozenTrial]) -> None:
        """Keep what the rules need of finished trials not seen before (they never change,
        and reading 500 of them anew at every report would cost more than the rest)."""
        with self._lock:
            for t in trials:
                if t.number in self._finished:
                    continue
                outcome = _best_case(t, self._goal)
                self._finished[t.number] = (t.intermediate_values, outcome)
                if t.state != TrialState.COMPLETE:
                    continue
                ok = len(t.intermediate_values) >= MIN_POINTS
                c = _curve(t, self._goal) if ok else None
                self._curves[t.number] = c if c is not None and c.status == "ok" else None
                if math.isfinite(outcome):
                    better = self._best is None or (
                        outcome < self._best if self._goal == "min" else outcome > self._best)
                    self._best = outcome if better else self._best

    def _others(self, step: int) -> list[tuple[float, float]]:
        """(value at ``step``, final or best case) of the finished trials read so far."""
        with self._lock:
            used, others = self._by_step.get(step, (0, []))
            for values, outcome in islice(self._finished.values(), used, None):  # new ones
                if step in values:
                    others.append((values[step], outcome))
            self._by_step[step] = (len(self._finished), others)
            return list(others)

    def _final_step(self, study: Study, completed: list[FrozenTrial], step: int) -> int:
        if self._max_step is not None:
            return max(self._max_step, step)
        ends = [t.last_step for t in completed if t.last_step is not None]
        if not ends:
            running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            ends = [t.last_step for t in running if t.last_step is not None]
        return max([step, *ends])

    def _forecaster(self) -> StudyForecaster:
        """The study forecaster, its context renewed when enough new trials completed."""
        with self._lock:
            done = len(self._curves)
            if done >= max(self._n_read + 1, self._n_read * self._context_growth):
                self._n_read = done
                context = [c for c in self._curves.values() if c is not None]
                self._study = self._study.with_context(context)
            return self._study

    def _incumbent(self, study: Study, trial: FrozenTrial,
                   final: int | None = None) -> float | None:
        """The best completed value. Before any, with ``max_step`` given, the best of the
        other running trials' recorded worst cases (80%) at the same final step: a trial
        is then pruned only when it will almost surely end worse than another trial
        would even at its worst. Without ``max_step`` the final step of a study with no
        completed trial is unknown, and nothing is pruned for it."""
        if self._best is not None:
            return self._best
        if self._max_step is None or final is None:
            return None
        worst = "upper" if self._goal == "min" else "lower"
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        records = [t.user_attrs.get(ATTR, {}) for t in running if t.number != trial.number]
        bars = [r[worst] for r in records
                if worst in r and not r.get("stop") and r.get("final_step") == final]
        if not bars:
            return None
        return min(bars) if self._goal == "min" else max(bars)

    def _record(self, study: Study, trial: FrozenTrial, step: int, final: int | None,
                decision: Decision) -> bool:
        attrs = {"step": step, **decision.to_dict()}
        if final is not None:
            attrs["final_step"] = final
        study._storage.set_trial_user_attr(trial._trial_id, ATTR, attrs)
        return decision.stop


def _goal(study: Study) -> str:
    if len(study.directions) > 1:
        raise NotImplementedError("ForecastPruner supports single-objective studies only.")
    return "min" if study.direction == StudyDirection.MINIMIZE else "max"


def _best_case(trial: FrozenTrial, goal: str) -> float:
    """A finished trial's final; a pruned one's forecast best case (worst if none)."""
    if trial.state == TrialState.COMPLETE and trial.value is not None:
        return trial.value
    best = trial.user_attrs.get(ATTR, {}).get("best_case")
    if best is not None:
        return best
    return math.inf if goal == "min" else -math.inf


def _curve(trial: FrozenTrial, goal: str) -> Curve:
    """The trial's reported values as a curve, with its numeric parameters."""
    steps = np.array(sorted(trial.intermediate_values), dtype=float)
    values = np.array([trial.intermediate_values[int(s)] for s in steps], dtype=float)
    return Curve(f"trial {trial.number}", steps, values, goal, hp=dict(trial.params))


__all__ = ["ATTR", "ForecastPruner"]
