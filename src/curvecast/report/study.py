"""The report of an Optuna study, read (never written) from its storage.

Each trial with reported intermediate values becomes one curve named ``trial N`` (its
parameters as the run's hyperparameters), the goal is the study's direction, and the
page is the curve report of :mod:`curvecast.report.curves`, with each pruned trial's
stop drawn on its fan and written in the ranked table: the step, and for
:class:`~curvecast.integrations.optuna.ForecastPruner` the reason and the probability
of beating the best recorded under ``"curvecast"``, and the compute it saved. What was
decided is what is shown: such a trial is ranked, written and drawn with the forecast its
stop rested on (the recorded median and 80% interval of its final, with the best final
it was compared with), not a new one; a pruned trial without a record (another pruner's)
is re-forecast, and labelled so. The study is read through :mod:`curvecast.io.optuna`.

Compute is counted in steps, a trial's length being its last reported step: the study's
final step is the largest last step among completed trials, a pruned trial saved that
minus the step where it stopped, and a study without pruning would have used the final
step times the number of completed and pruned trials.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from ..curve import Curve, CurveSet
from ..decisions import LEVEL, Decision
from ..errors import InputError
from ..io.optuna import (
    load_study,
    ran_to_end,
    read_decision,
    shown_storage,
    stopped,
    study_goal,
    trial_curve,
)
from .curves import Recorded, Stop, curve_report
from .page import Page

PRUNED = 8  # fans of pruned trials in a study's report, the closest calls

__all__ = ["TrialStop", "closest_calls", "load_study", "shown_storage", "study_curves",
           "study_goal", "study_line", "study_report", "trial_curves"]


@dataclass(frozen=True)
class TrialStop:
    """A pruned trial: where it stopped and, if ForecastPruner stopped it, why and the
    forecast that decision rested on (``forecast``: its record, when it has one)."""

    run: str
    step: int
    reason: str | None = None
    prob_better: float | None = None
    saved: int | None = None  # steps, None when no trial completed
    forecast: Decision | None = None

    def text(self) -> str:
        """
        >>> TrialStop("trial 3", 12, "cannot_win", 0.004, 38).text()
        'pruned at step 12: cannot_win, P(better) 0.004, saved 38 steps'
        >>> TrialStop("trial 4", 7).text()
        'pruned at step 7'
        """
        out = f"pruned at step {self.step}"
        if self.reason is not None:
            out += f": {self.reason}"
            if self.prob_better is not None and math.isfinite(self.prob_better):
                out += f", P(better) {self.prob_better:.3g}"
        if self.saved is not None:
            out += f", saved {self.saved} steps"
        return out

    def recorded(self) -> Recorded | None:
        """The forecast the stop rested on, to draw; None if none was recorded.

        >>> d = Decision(True, "cannot_win", 0.008, 5.1, 4.9, 5.3, step=12, final_step=50)
        >>> TrialStop("trial 3", 12, forecast=d).recorded().median
        5.1
        """
        d = self.forecast
        if d is None or None in (d.median, d.lower, d.upper, d.step, d.final_step):
            return None
        return Recorded(d.step, d.final_step, d.median, d.lower, d.upper, LEVEL, d.incumbent)


def study_curves(study) -> tuple[CurveSet, dict[str, TrialStop], dict]:
    """(curves, stops of the pruned trials by run name, study totals) of a loaded study.

    Totals: ``final_step`` (None without a completed trial), ``trials`` (completed and
    pruned), ``used`` and ``full`` (steps; ``full`` None without a final step)."""
    goal = study_goal(study)
    trials = [t for t in study.get_trials(deepcopy=False) if t.intermediate_values]
    if not trials:
        raise InputError(f"study {study.study_name!r} has no trial with reported "
                         "intermediate values (trial.report) to draw")
    curves, stops, totals = trial_curves(trials, goal)
    return CurveSet(curves, source=f"study {study.study_name}"), stops, totals


def trial_curves(trials, goal: str) -> tuple[list[Curve], dict[str, TrialStop], dict]:
    """The curves, stops and totals of :func:`study_curves` for ``trials`` (each with at
    least one intermediate value), running ones included as curves but not in totals. A
    trial stopped early counts as pruned even where its objective returned a value
    (see :func:`curvecast.io.optuna.stopped`)."""
    done = ran_to_end(trials)
    final = max((t.last_step for t in done), default=None)
    curves, stops = [], {}
    for t in trials:
        c = trial_curve(t, goal)
        curves.append(c)
        if stopped(t):
            stops[c.run] = _trial_stop(c.run, t, final)
    counted = done + [t for t in trials if stopped(t)]
    used = sum(stops[f"trial {t.number}"].step if stopped(t) else int(t.last_step)
               for t in counted)
    totals = {"final_step": final, "trials": len(counted), "used": used,
              "full": final * len(counted) if final is not None else None,
              "pruned": len(stops), "by_forecast": sum(s.reason is not None for s in stops.values())}
    return curves, stops, totals


def _trial_stop(run: str, t, final: int | None) -> TrialStop:
    """Where a pruned trial stopped: ForecastPruner's record if it left one, else its
    last reported step."""
    rec = read_decision(t)
    if rec is None or not rec.stop or rec.step is None:
        return TrialStop(run, int(t.last_step), saved=_saved(final, int(t.last_step)))
    return TrialStop(run, rec.step, rec.reason, rec.prob_better, _saved(final, rec.step), rec)


def _saved(final: int | None, step: int) -> int | None:
    return max(final - step, 0) if final is not None else None


def study_line(study_name: str, totals: dict) -> str:
    """The study-level compute line.

    >>> study_line("s", {"final_step": 50, "trials": 4, "used": 120, "full": 200,
    ...                  "pruned": 2, "by_forecast": 2})
    "Study 's': 2 of 4 trials pruned (2 by ForecastPruner); 120 steps used of the 200 a study without pruning would have used (4 trials x 50 steps): 40% saved."
    """
    head = (f"Study {study_name!r}: {totals['pruned']} of {totals['trials']} trials pruned "
            f"({totals['by_forecast']} by ForecastPruner); ")
    if totals["full"] is None:
        return head + (f"{totals['used']} steps used; no trial completed, so the length of a "
                       "study without pruning is unknown.")
    full = totals["full"]
    saved = 1 - totals["used"] / full if full else 0.0
    return head + (f"{totals['used']} steps used of the {full} a study without pruning would "
                   f"have used ({totals['trials']} trials x {totals['final_step']} steps): "
                   f"{saved:.0%} saved.")


def study_report(storage: str | os.PathLike, study_name: str, pruned: int = PRUNED,
                 **options) -> Page:
    """The curve report of the study's trials, with the pruned trials' stops and the
    compute saved, and fans of the ``pruned`` trials :func:`closest_calls` picks;
    ``options`` go to :func:`curve_report`."""
    study = load_study(str(storage), study_name)
    curves, stops, totals = study_curves(study)
    page_stops = {run: Stop(s.step, s.text()) for run, s in stops.items()}
    recorded = {run: r for run, s in stops.items() if (r := s.recorded()) is not None}
    close = closest_calls(stops, pruned)
    notes = [study_line(study_name, totals)]
    if recorded:
        notes.append(f"{len(recorded)} pruned trials show the forecast their stop rested on, "
                     "as ForecastPruner recorded it (median and 80% interval of the final, "
                     "from the values up to the stop).")
    if len(stops) > len(recorded):
        notes.append(f"{len(stops) - len(recorded)} pruned trials have no recorded forecast "
                     "(another pruner stopped them, or too early to forecast): they are "
                     "re-forecast now, labelled so.")
    return curve_report(curves, stops=page_stops, notes=notes, recorded=recorded,
                        title=f"curvecast report: study {study_name} "
                              f"({shown_storage(str(storage))})",
                        extra=(f"the {len(close)} pruned closest to winning", close), **options)


def closest_calls(stops: dict[str, TrialStop], k: int) -> list[str]:
    """The ``k`` pruned trials most likely to have been stopped wrongly: the highest
    probability of beating the best when ForecastPruner stopped them, then (other
    pruners record none) the latest stopped.

    >>> closest_calls({"trial 1": TrialStop("trial 1", 5, "cannot_win", 0.01),
    ...                "trial 2": TrialStop("trial 2", 3),
    ...                "trial 3": TrialStop("trial 3", 4, "cannot_win", 0.04)}, 2)
    ['trial 3', 'trial 1']
    """
    def key(s: TrialStop):
        return (s.prob_better is None, -(s.prob_better or 0.0), -int(s.run.split()[-1]))

    return [s.run for s in sorted(stops.values(), key=key)[:k]]
