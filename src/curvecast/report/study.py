"""The report of an Optuna study, read (never written) from its storage.

Each trial with reported intermediate values becomes one curve named ``trial N`` (its
parameters as the run's hyperparameters), the goal is the study's direction, and the
page is the curve report of :mod:`curvecast.report.curves`, with each pruned trial's
stop drawn on its fan and written in the ranked table: the step, and for
:class:`~curvecast.integrations.optuna.ForecastPruner` the reason and the probability
of beating the best recorded under ``"curvecast"``, and the compute it saved.

Compute is counted in steps, a trial's length being its last reported step: the study's
final step is the largest last step among completed trials, a pruned trial saved that
minus the step where it stopped, and a study without pruning would have used the final
step times the number of completed and pruned trials.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from ..curve import Curve, CurveSet
from ..errors import InputError
from .curves import Stop, curve_report
from .page import Page

ATTR = "curvecast"  # the user attribute ForecastPruner records its decisions in
PRUNED = 8  # fans of pruned trials in a study's report, the closest calls
JOURNAL = "journal:"  # journal:PATH, an Optuna JournalStorage file (as on NFS)
PG_DRIVERS = ("postgresql", "postgresql+psycopg2", "postgresql+psycopg")


@dataclass(frozen=True)
class TrialStop:
    """A pruned trial: where it stopped and, if ForecastPruner stopped it, why."""

    run: str
    step: int
    reason: str | None = None
    prob_better: float | None = None
    saved: int | None = None  # steps, None when no trial completed

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


def shown_storage(url: str) -> str:
    """The URL with any password hidden (it is shown in messages and on the page)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # not a database URL: shown as given
        return url


def _read_only(storage: str, shown: str):
    """A SQLite file's storage opened read-only (Optuna would otherwise add its tables to
    any SQLite file, and SQLite create a missing one), a PostgreSQL one in read-only
    transactions; other URLs as given."""
    import sqlite3

    import optuna
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if storage.startswith(JOURNAL):
        return _journal(storage.removeprefix(JOURNAL), shown)
    try:
        url = make_url(storage)
    except ArgumentError:
        return storage  # Optuna says what is wrong with it
    if url.drivername in PG_DRIVERS and "options" not in url.query:
        # Every transaction read-only, enforced by the server.
        return optuna.storages.RDBStorage(storage, engine_kwargs={"connect_args": {
            "options": "-c default_transaction_read_only=on"}})
    path = url.database
    if (not url.drivername.startswith("sqlite") or not path or path == ":memory:"
            or url.query or path.startswith("file:")):
        return storage  # not a plain SQLite file: the caller's own options stand
    if not Path(path).is_file():
        raise InputError(f"storage {shown!r}: no such SQLite file {path!r}")
    uri = f"file:{quote(str(Path(path).resolve()))}?mode=ro"
    return optuna.storages.RDBStorage(
        "sqlite://", engine_kwargs={"creator": lambda: sqlite3.connect(uri, uri=True)})


def _journal(path: str, shown: str):
    """A JournalStorage on an existing journal file (Optuna would create a missing one;
    reading an existing one only reads it)."""
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    if not Path(path).is_file():
        raise InputError(f"storage {shown!r}: no such journal file {path!r}")
    return JournalStorage(JournalFileBackend(path))


def load_study(storage: str, study_name: str):
    """The study, loaded without writing to the storage; InputError naming the storage or
    the study when it cannot be read. A ``sqlite:///`` file must exist, and is opened
    read-only; ``journal:PATH`` reads an existing JournalStorage file."""
    import optuna
    from sqlalchemy.exc import SQLAlchemyError

    shown = shown_storage(storage)
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        try:
            storage = _read_only(storage, shown)
            names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        except InputError:
            raise
        except (SQLAlchemyError, ImportError, OSError, ValueError, RuntimeError) as exc:
            raise InputError(f"cannot read the Optuna storage {shown!r}: "
                             f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from None
        if study_name not in names:
            have = ", ".join(repr(n) for n in names[:10]) or "none"
            raise InputError(f"no study {study_name!r} in storage {shown!r} "
                             f"(studies there: {have})")
        return optuna.load_study(study_name=study_name, storage=storage)
    finally:
        optuna.logging.set_verbosity(level)


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


def study_goal(study) -> str:
    """'min' or 'max', the study's direction; InputError for a multi-objective study."""
    if len(study.directions) > 1:
        raise InputError(f"study {study.study_name!r} has {len(study.directions)} objectives; "
                         "a report needs a single-objective study")
    return "max" if study.direction.name == "MAXIMIZE" else "min"


def trial_curves(trials, goal: str) -> tuple[list[Curve], dict[str, TrialStop], dict]:
    """The curves, stops and totals of :func:`study_curves` for ``trials`` (each with at
    least one intermediate value), running ones included as curves but not in totals."""
    from optuna.trial import TrialState

    done = [t for t in trials if t.state == TrialState.COMPLETE]
    final = max((t.last_step for t in done), default=None)
    curves, stops = [], {}
    for t in trials:
        run = f"trial {t.number}"
        steps = sorted(t.intermediate_values)
        curves.append(Curve(run, steps, [t.intermediate_values[s] for s in steps], goal=goal,
                            hp=dict(t.params), meta={"state": t.state.name}))
        if t.state == TrialState.PRUNED:
            stops[run] = _trial_stop(run, t, final)
    counted = done + [t for t in trials if t.state == TrialState.PRUNED]
    used = sum(stops[f"trial {t.number}"].step if t.state == TrialState.PRUNED
               else int(t.last_step) for t in counted)
    totals = {"final_step": final, "trials": len(counted), "used": used,
              "full": final * len(counted) if final is not None else None,
              "pruned": len(stops), "by_forecast": sum(s.reason is not None for s in stops.values())}
    return curves, stops, totals


def _trial_stop(run: str, t, final: int | None) -> TrialStop:
    """Where a pruned trial stopped: ForecastPruner's record if it left one, else its
    last reported step."""
    rec = t.user_attrs.get(ATTR)
    stopped = isinstance(rec, dict) and rec.get("stop") and "step" in rec
    step = int(rec["step"]) if stopped else int(t.last_step)
    prob = rec.get("prob_better") if stopped else None
    return TrialStop(run, step, str(rec.get("reason")) if stopped else None,
                     float(prob) if isinstance(prob, int | float) else None,
                     max(final - step, 0) if final is not None else None)


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
    close = closest_calls(stops, pruned)
    return curve_report(curves, stops=page_stops, notes=[study_line(study_name, totals)],
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
