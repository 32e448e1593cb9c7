"""Optuna as a record source, like a file: everything curvecast reads from a study.

* a trial becomes a :class:`~curvecast.curve.Curve` named ``trial N`` (its reported
  intermediate values, its parameters as hyperparameters: :func:`trial_curve`);
* the study's goal is its direction (:func:`study_goal`);
* a storage is opened without writing to it (:func:`load_study`: a SQLite file in
  SQLite's read-only mode, PostgreSQL in read-only transactions, ``journal:PATH`` for a
  JournalStorage file);
* ForecastPruner's decisions are one typed record, a
  :class:`~curvecast.decisions.Decision`, under the user attribute ``"curvecast"``
  (:func:`read_decision`, :func:`write_decision`); a trial's run name, where the
  objective gave one, under ``"run"`` (:func:`run_name`);
* what the stop rules need of the finished trials, read once each, since finished
  trials never change (:class:`FinishedTrials`).

A trial that ForecastPruner stopped may still be COMPLETE: an objective can return the
trial's forecast final instead of raising ``TrialPruned``, so that the sampler learns
from it (see :func:`curvecast.integrations.optuna.forecast_final`). Its record says it
was stopped at its last step; :func:`stopped` and :func:`state` read it as pruned, and
its value is never taken for a final (:func:`ran_to_end`).

>>> import optuna
>>> optuna.logging.set_verbosity(optuna.logging.WARNING)
>>> study = optuna.create_study()
>>> trial = study.ask()
>>> units = trial.suggest_int("units", 32, 32)
>>> for step, v in enumerate([1.0, 0.7, 0.6]):
...     trial.report(v, step)
>>> write_decision(study, study.trials[0], Decision(False, "continue", step=2, median=0.5))
>>> frozen = study.trials[0]  # read from the storage
>>> trial_curve(frozen, study_goal(study)).values.tolist(), frozen.params
([1.0, 0.7, 0.6], {'units': 32})
>>> read_decision(frozen).median
0.5
"""

from __future__ import annotations

import bisect
import logging
import math
import sqlite3
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from ..curve import MIN_POINTS, Curve
from ..decisions import Decision, best_case
from ..errors import CurvecastWarning, InputError

logger = logging.getLogger(__name__)

ATTR = "curvecast"
"""The user attribute that holds a trial's latest decision (:meth:`Decision.to_dict`)."""
RUN_ATTR = "run"
"""The user attribute that holds a trial's run name, where the objective set one."""
JOURNAL = "journal:"
"""journal:PATH names an Optuna JournalStorage file (as used on NFS)."""
PG_DRIVERS = ("postgresql", "postgresql+psycopg2", "postgresql+psycopg")

__all__ = ["ATTR", "RUN_ATTR", "Finished", "FinishedTrials", "load_study", "ran_to_end",
           "read_decision", "run_name", "shown_storage", "state", "stopped", "study_goal",
           "trial_curve", "trial_name", "write_decision"]


def study_goal(study: optuna.Study) -> str:
    """'min' or 'max', the study's direction; InputError for a multi-objective study.

    >>> study_goal(optuna.create_study(direction="maximize"))
    'max'
    """
    if len(study.directions) > 1:
        raise InputError(f"study {study.study_name!r} has {len(study.directions)} objectives; "
                         "curvecast reads single-objective studies only")
    return "max" if study.direction == optuna.study.StudyDirection.MAXIMIZE else "min"


def trial_name(trial: FrozenTrial) -> str:
    """The run name of a trial's curve: ``trial N``."""
    return f"trial {trial.number}"


def run_name(trial: FrozenTrial) -> str | None:
    """The run's name, where the objective recorded one (``trial.set_user_attr("run",
    NAME)``, as ``curvecast replay`` and the demo do).

    >>> run_name(optuna.trial.create_trial(value=1.0, user_attrs={"run": "arch-7"}))
    'arch-7'
    """
    run = trial.user_attrs.get(RUN_ATTR)
    return run if isinstance(run, str) else None


def trial_curve(trial: FrozenTrial, goal: str) -> Curve:
    """The trial's reported values as a curve named ``trial N``, its parameters as the
    run's hyperparameters (an IntDistribution's as integers), its state (see
    :func:`state`) and run name (see :func:`run_name`) in ``meta``."""
    values = trial.intermediate_values
    steps = sorted(values)
    meta = {"state": state(trial), "number": trial.number}
    if (run := run_name(trial)) is not None:
        meta["run"] = run
    return Curve(trial_name(trial), np.array(steps, dtype=float),
                 np.array([values[s] for s in steps], dtype=float), goal,
                 hp=dict(trial.params), meta=meta)


def read_decision(trial: FrozenTrial) -> Decision | None:
    """The trial's latest recorded decision; None if it has none (another pruner's
    trial), and None with a :class:`~curvecast.errors.CurvecastWarning` if what it holds
    under ``"curvecast"`` is not a decision record."""
    record = trial.user_attrs.get(ATTR)
    if record is None:
        return None
    try:
        return Decision.from_dict(record)
    except ValueError as exc:
        warnings.warn(f"trial {trial.number}: user attribute {ATTR!r} ignored: {exc}",
                      CurvecastWarning, stacklevel=2)
        return None


def write_decision(study: optuna.Study, trial: FrozenTrial, decision: Decision) -> None:
    """Record ``decision`` as the trial's latest, in the storage (the truth every process
    reads) and in ``trial``, as ``Trial.set_user_attr`` updates its own copy: the trial
    a pruner is handed shares that copy's attributes, so the next call sees the record
    without asking the storage."""
    record = decision.to_dict()
    study._storage.set_trial_user_attr(trial._trial_id, ATTR, record)
    trial.user_attrs[ATTR] = record


def stopped(trial: FrozenTrial) -> bool:
    """Whether the trial was stopped early: PRUNED, or COMPLETE with a value its objective
    returned instead of raising TrialPruned (its record stops it at its last step).

    >>> done = optuna.trial.create_trial(value=0.4, intermediate_values={0: 0.9, 1: 0.6})
    >>> stopped(done)
    False
    >>> done.user_attrs[ATTR] = {"stop": True, "reason": "cannot_win", "step": 1}
    >>> stopped(done), state(done)
    (True, 'PRUNED')
    """
    if trial.state == TrialState.PRUNED:
        return True
    if trial.state != TrialState.COMPLETE or ATTR not in trial.user_attrs:
        return False
    d = read_decision(trial)
    return d is not None and d.stop and d.step is not None and d.step == trial.last_step


def state(trial: FrozenTrial) -> str:
    """The trial's state as shown: Optuna's, except that a trial stopped early (see
    :func:`stopped`) is PRUNED whatever value its objective returned."""
    return "PRUNED" if stopped(trial) else trial.state.name


def ran_to_end(trials: Iterable[FrozenTrial]) -> list[FrozenTrial]:
    """The trials whose value is a final: COMPLETE and not stopped early."""
    return [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None
            and not stopped(t)]


@dataclass(frozen=True)
class Finished:
    """What the stop rules need of a finished (COMPLETE or PRUNED) trial.

    ``outcome``: its final value, or at best (stopped early) the best case recorded
    when it was stopped (:func:`curvecast.decisions.best_case`); ``final``: its value if
    it ran to its end, else None; ``curve``: its curve if it ran to its end with enough
    finite points to learn from, else None; ``order``: when it finished (then its number),
    the order the study's finished runs are learned from.
    """

    number: int
    values: Mapping[int, float]
    outcome: float
    final: float | None
    last_step: int | None
    order: tuple
    curve: Curve | None

    @classmethod
    def of(cls, trial: FrozenTrial, goal: str) -> Finished:
        """What the rules need of ``trial``, a finished one.

        >>> t = optuna.trial.create_trial(value=0.4, intermediate_values={0: 0.9, 1: 0.6})
        >>> Finished.of(t, "min").outcome
        0.4
        """
        whole = trial.state == TrialState.COMPLETE and trial.value is not None \
            and not stopped(trial)
        final = float(trial.value) if whole else None
        curve = None
        if whole and len(trial.intermediate_values) >= MIN_POINTS:
            c = trial_curve(trial, goal)
            curve = c if c.status == "ok" else None
        done = trial.datetime_complete or datetime.max
        return cls(trial.number, trial.intermediate_values,
                   best_case(final, read_decision(trial), goal), final, trial.last_step,
                   (done, trial.number), curve)


class FinishedTrials:
    """The finished trials of one study seen so far, each read once: a cache of what the
    storage holds (finished trials never change), so that a call with 500 of them costs
    what one with 5 does. Not thread-safe: callers hold their own lock.

    >>> study = optuna.create_study()
    >>> study.add_trials([optuna.trial.create_trial(value=v, intermediate_values={0: 2 * v})
    ...                   for v in (0.5, 0.3)])
    >>> ft = FinishedTrials("min")
    >>> ft.update(study.trials)
    >>> ft.best, [f.final for f in ft.ran_to_end], ft.at_step(0)
    (0.3, [0.5, 0.3], [(1.0, 0.5), (0.6, 0.3)])
    """

    def __init__(self, goal: str) -> None:
        self.goal = goal
        self._by_number: dict[int, Finished] = {}
        self.ran_to_end: list[Finished] = []  # in the order they finished
        self.best: float | None = None
        self.last_end: int | None = None  # the largest last step of those
        self._by_step: dict[int, tuple[int, list]] = {}  # step -> (trials read, pairs)

    @property
    def count(self) -> int:
        """Finished trials read so far."""
        return len(self._by_number)

    def update(self, trials: Iterable[FrozenTrial]) -> None:
        """Read the finished trials not seen before (others are skipped)."""
        sign = 1.0 if self.goal == "min" else -1.0
        for t in trials:
            if t.number in self._by_number or not t.state.is_finished() \
                    or t.state == TrialState.FAIL:
                continue
            f = Finished.of(t, self.goal)
            self._by_number[t.number] = f
            if f.final is None:
                continue
            bisect.insort(self.ran_to_end, f, key=lambda g: g.order)
            if math.isfinite(f.final) and (self.best is None or sign * f.final < sign * self.best):
                self.best = f.final
            if f.last_step is not None:
                self.last_end = max(f.last_step, self.last_end or f.last_step)

    def at_step(self, step: int) -> list[tuple[float, float]]:
        """(value at ``step``, outcome) of every finished trial seen that reported at it
        (the runs :func:`curvecast.decisions.dominated` compares with)."""
        used, pairs = self._by_step.get(step, (0, []))
        finished = list(self._by_number.values())
        for f in finished[used:]:  # dicts keep insertion order: only the new ones
            if step in f.values:
                pairs.append((f.values[step], f.outcome))
        self._by_step[step] = (len(finished), pairs)
        return list(pairs)


def shown_storage(url: str) -> str:
    """The URL with any password hidden (it is shown in messages and on pages).

    >>> shown_storage("postgresql://me:secret@db/optuna")
    'postgresql://me:***@db/optuna'
    """
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


def load_study(storage: str, study_name: str) -> optuna.Study:
    """The study, loaded without writing to the storage; InputError naming the storage or
    the study when it cannot be read. A ``sqlite:///`` file must exist, and is opened
    read-only; ``journal:PATH`` reads an existing JournalStorage file.

    >>> load_study("sqlite:///no/such.db", "s")
    Traceback (most recent call last):
    ...
    curvecast.errors.InputError: storage 'sqlite:///no/such.db': no such SQLite file 'no/such.db'
    """
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
