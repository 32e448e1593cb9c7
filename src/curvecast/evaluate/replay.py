"""Replay recorded runs as Optuna studies: what each pruner costs and what it loses.

Each repeat draws ``trials`` recorded runs in a random order and replays them as one
Optuna study per pruner: trial i reports run i's curve step by step and stops when
pruned. Per pruner and repeat:

* compute: steps reported, as a fraction of all steps of the drawn runs (what the
  no-op pruner uses);
* normalised regret: (best final among completed trials - best final among the drawn
  runs) / (median final of the drawn runs - best final among them), in the goal's
  direction (0: the best run was kept; 1: no better than a typical run);
* latency: every ``should_prune`` call timed;
* best found: the best final among the trials that ran to their end.

With ``pruned_value="forecast"`` a pruned trial's objective returns the trial's forecast
final (:func:`curvecast.integrations.optuna.forecast_final`) instead of raising
``TrialPruned``, as an objective that lets the sampler learn from pruned trials does; such
a trial is COMPLETE in the study but stopped all the same, and never the best found.
Each trial records its run's name as the user attribute ``run``.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import optuna

from ..curve import Curve
from ..errors import UsageError
from ..forecasters import Forecaster
from ..integrations.optuna import ForecastPruner, forecast_final
from ..io.optuna import RUN_ATTR


def _pruners() -> dict[str, Callable[[], optuna.pruners.BasePruner]]:
    p = optuna.pruners
    return {
        "forecast": ForecastPruner,
        "nop": p.NopPruner,
        "median": p.MedianPruner,
        "percentile25": lambda: p.PercentilePruner(25.0),
        "sha": p.SuccessiveHalvingPruner,
        "hyperband": p.HyperbandPruner,
        "patient": lambda: p.PatientPruner(p.MedianPruner(), patience=1),
        "wilcoxon": p.WilcoxonPruner,
    }


ORACLE = "oracle"
RAY_SCHEDULERS = ("ray_forecast", "ray_asha", "ray_median")
"""Ray Tune schedulers replay hands to :func:`~curvecast.evaluate.replay_ray.replay_ray`
(the ``ray`` extra); tests/evaluate/test_replay_ray_rows.py checks they are its SCHEDULERS."""
PRUNERS = (*_pruners(), ORACLE, *RAY_SCHEDULERS)
"""Pruner names replay accepts: ours, Optuna's with their default settings (patient:
PatientPruner around MedianPruner with patience 1, as Optuna's documentation shows), the
oracle (:func:`oracle_study`), the floor of compute at regret 0, and Ray Tune's
schedulers (:data:`RAY_SCHEDULERS`, replayed on the same draws)."""
PRUNED_VALUES = ("none", "forecast")
"""What a pruned trial's objective does: raise TrialPruned, or return its forecast final."""


@dataclass(frozen=True)
class ReplayResult:
    """One pruner over every repeat: arrays have one entry per repeat."""

    pruner: str
    compute: np.ndarray
    regret: np.ndarray
    latency_ms: float  # median over every should_prune call
    latency_p90_ms: float
    seconds: float
    best: np.ndarray | None = None  # best final found per repeat (NaN: none completed)
    pruned_value: str = "none"

    def to_dict(self) -> dict:
        return {
            "pruner": self.pruner,
            "compute_fraction": {"mean": float(self.compute.mean()),
                                 "worst": float(self.compute.max())},
            "regret": {"mean": float(self.regret.mean()), "worst": float(self.regret.max())},
            # null for the oracle, which asks nothing
            "latency_ms": self.latency_ms if math.isfinite(self.latency_ms) else None,
            "latency_p90_ms": self.latency_p90_ms if math.isfinite(self.latency_p90_ms) else None,
            "repeats": int(self.compute.size),
            "seconds": self.seconds,
            "best_found": None if self.best is None else {
                "mean": float(np.nanmean(self.best)) if np.isfinite(self.best).any() else None,
                "per_repeat": [float(b) if np.isfinite(b) else None for b in self.best]},
            "pruned_value": self.pruned_value,
        }


def replay(runs: Sequence[Curve], pruners: Sequence[str] = ("forecast", "nop", "median"),
           trials: int = 100, repeats: int = 10, seed: int = 0,
           progress: Callable[[str], None] | None = None,
           forecaster: Forecaster | None = None,
           pruned_value: str = "none", options: dict | None = None) -> list[ReplayResult]:
    """Replay ``trials`` of ``runs`` per repeat under each pruner (see the module docstring).
    ``forecaster``: the per-curve forecaster of ForecastPruner (default: its own);
    ``pruned_value``: 'none' (pruned trials raise TrialPruned) or 'forecast' (they return
    their forecast final, made by ForecastPruner with ``forecaster``); ``options``: more
    keyword arguments of ForecastPruner (``risk``, ``growth``, ``study_model``, ...).

    >>> from curvecast.demo import sample_curves
    >>> res = replay(list(sample_curves()), ["nop"], trials=5, repeats=1)
    >>> float(res[0].compute[0]), float(res[0].regret[0])
    (1.0, 0.0)
    """
    factories: dict = _pruners()
    options = dict(options or {})
    factories["forecast"] = lambda: ForecastPruner(forecaster=forecaster, **options)
    factories[ORACLE] = None
    if pruned_value not in PRUNED_VALUES:
        raise UsageError(f"pruned_value must be one of {list(PRUNED_VALUES)}, "
                         f"not {pruned_value!r}")
    unknown = [p for p in pruners if p not in factories and p not in RAY_SCHEDULERS]
    if unknown:
        raise UsageError(f"unknown pruners {unknown}; choose from {list(PRUNERS)}")
    ray_rows = _replay_ray(runs, [p for p in pruners if p in RAY_SCHEDULERS], trials=trials,
                           repeats=repeats, seed=seed, progress=progress, forecaster=forecaster)
    runs = [r for r in runs if len(r) >= 2]
    if len(runs) < 2:
        raise UsageError("replay needs at least 2 runs with 2 or more points")
    if len({r.goal for r in runs}) > 1:
        raise UsageError("runs mix goals 'min' and 'max'; replay one goal at a time")
    trials = min(trials, len(runs))
    draws = [np.random.default_rng([seed, r]).permutation(len(runs))[:trials]
             for r in range(repeats)]
    out = []
    for name in pruners:
        if name in ray_rows:
            out.append(ray_rows[name])
            continue
        t0 = time.perf_counter()
        compute, regret, lat, best = [], [], [], []
        for r, order in enumerate(draws):
            drawn = [runs[i] for i in order]
            if name == ORACLE:
                one = oracle_study(drawn)
            else:
                with _quiet():
                    pruner = factories[name]()
                estimator = (None if pruned_value == "none" else pruner
                             if isinstance(pruner, ForecastPruner)
                             else ForecastPruner(forecaster=forecaster, **options))
                one = replay_study(drawn, pruner, estimator=estimator)
            compute.append(one.compute)
            regret.append(one.regret)
            best.append(np.nan if one.best is None else one.best)
            lat.extend(one.latency)
            if progress:
                progress(f"{name}: repeat {r + 1}/{repeats}")
        lat_ms = np.array(lat) * 1e3 if lat else np.array([np.nan])
        out.append(ReplayResult(name, np.array(compute), np.array(regret),
                                float(np.median(lat_ms)), float(np.quantile(lat_ms, 0.9)),
                                time.perf_counter() - t0, np.array(best, float),
                                "none" if name == ORACLE else pruned_value))
    return out


def _replay_ray(runs: Sequence[Curve], names: list[str], **kw) -> dict[str, ReplayResult]:
    """The rows of Ray Tune's schedulers ``names`` (none: {}, without importing ray)."""
    if not names:
        return {}
    try:
        import ray.tune  # noqa: F401
    except ImportError:
        raise UsageError(f"pruners {names} need Ray Tune: pip install 'curvecast[ray]'") from None
    from .replay_ray import replay_ray

    return {r.pruner: r for r in replay_ray(runs, names, **kw)}


@dataclass(frozen=True)
class StudyReplay:
    """One replayed study: compute fraction, normalised regret, the best final found
    (None if no trial completed), every should_prune call's seconds, the study, and the
    number of values reported."""

    compute: float
    regret: float
    best: float | None
    latency: list[float]
    study: optuna.Study | None  # None for the oracle, which needs no study
    steps: int  # values reported
    estimated: int = 0  # pruned trials that returned their forecast final


def oracle_study(runs: Sequence[Curve]) -> StudyReplay:
    """What a pruner that knew every final value would spend on ``runs`` in this order:
    it completes only the runs that become the new best when they finish (a regret of 0
    needs each of them whole, since only completed trials count) and stops every other
    run at its first report. No real pruner can do better at regret 0.

    >>> from curvecast.curve import Curve
    >>> runs = [Curve(str(i), [1, 2, 3, 4], [2.0, f, f, f]) for i, f in enumerate([3, 1, 2])]
    >>> r = oracle_study(runs)  # runs 0 and 1 are records (4 steps each), run 2 stops at once
    >>> r.steps, round(r.compute, 3), r.regret, r.best
    (9, 0.75, 0.0, 1.0)
    """
    runs = list(runs)
    record = new_bests(runs)
    reported = sum(len(r) if new else 1 for r, new in zip(runs, record, strict=True))
    done = [float(r.values[-1]) for r, new in zip(runs, record, strict=True) if new]
    total = sum(len(r) for r in runs)
    return StudyReplay(reported / total, _regret(runs, done), done[-1] if done else None, [],
                       None, reported)


def new_bests(runs: Sequence[Curve]) -> list[bool]:
    """Whether each run, in this order, finishes better than every run before it.

    >>> from curvecast.curve import Curve
    >>> new_bests([Curve(str(f), [1, 2, 3], [5.0, 4.0, f]) for f in (3, 1, 2, float("nan"), 0)])
    [True, True, False, False, True]
    """
    sign = 1.0 if runs[0].goal == "min" else -1.0
    best, out = np.inf, []
    for r in runs:
        final = sign * float(r.values[-1])
        out.append(bool(np.isfinite(final) and final < best))
        if out[-1]:
            best = final
    return out


def replay_study(runs: Sequence[Curve], pruner: optuna.pruners.BasePruner,
                 storage: str | None = None, study_name: str | None = None,
                 estimator: ForecastPruner | None = None) -> StudyReplay:
    """Replay ``runs`` in order as one new Optuna study under ``pruner`` (in memory, or in
    ``storage``, e.g. ``sqlite:///sweep.db``). With ``estimator``, a pruned trial returns
    its forecast final (by that ForecastPruner: see
    :func:`~curvecast.integrations.optuna.forecast_final`) instead of raising TrialPruned,
    where it has one."""
    runs = list(runs)
    goal = runs[0].goal
    with _quiet():
        study = optuna.create_study(storage=storage, study_name=study_name,
                                    direction="minimize" if goal == "min" else "maximize",
                                    pruner=pruner, sampler=optuna.samplers.RandomSampler(seed=0))
    latency: list[float] = []
    reported = 0
    choices, ints = hp_choices(runs), hp_ints(runs)
    estimated: set[int] = set()
    if any(len(c) > 1 for c in choices.values()):  # each trial takes its run's category
        for r in runs:
            study.enqueue_trial({k: str(r.hp[k]) for k in choices if k in r.hp})

    def objective(trial: optuna.Trial) -> float:
        nonlocal reported
        run = runs[trial.number]
        trial.set_user_attr(RUN_ATTR, run.run)
        suggest_hp(trial, run.hp, choices, ints)
        for step, value in zip(int_steps(run), run.values, strict=True):
            trial.report(float(value), step)
            reported += 1
            t = time.perf_counter()
            stop = trial.should_prune()
            latency.append(time.perf_counter() - t)
            if stop:
                if estimator is not None:
                    guess = forecast_final(trial, pruner=estimator)
                    if guess is not None and math.isfinite(guess.median):
                        estimated.add(trial.number)
                        return guess.median
                raise optuna.TrialPruned()
        return float(run.values[-1])

    with _quiet():
        study.optimize(objective, n_trials=len(runs))
    total = sum(len(r) for r in runs)
    done = [t.value for t in study.trials  # ran to their end: not the estimates
            if t.state == optuna.trial.TrialState.COMPLETE and t.number not in estimated
            and math.isfinite(t.value)]
    best = (min(done) if goal == "min" else max(done)) if done else None
    return StudyReplay(reported / total, _regret(runs, done), best, latency, study, reported,
                       len(estimated))


def _regret(runs: list[Curve], done: list[float]) -> float:
    sign = 1.0 if runs[0].goal == "min" else -1.0
    finals = sign * np.array([r.values[-1] for r in runs], float)
    finals = np.where(np.isfinite(finals), finals, np.inf)  # a diverged run is the worst
    best, median = finals.min(), np.median(finals)
    if not done:
        return 1.0
    found = min(sign * v for v in done)
    return float((found - best) / (median - best)) if median > best else 0.0


def int_steps(run: Curve) -> list[int]:
    """Optuna's steps are integers: the run's own steps where they are, else 0, 1, ...

    >>> int_steps(Curve("a", [0.5, 1.5], [2.0, 1.0])), int_steps(Curve("b", [10, 20], [2, 1]))
    ([0, 1], [10, 20])
    """
    s = run.steps
    if np.all(s == np.round(s)) and s.max() < 2**62:
        return [int(v) for v in s]
    return list(range(len(s)))


def _is_number(v) -> bool:
    return (not isinstance(v, bool) and isinstance(v, int | float | np.integer | np.floating)
            and math.isfinite(v))


def _is_int(v) -> bool:
    return not isinstance(v, bool) and isinstance(v, int | np.integer)


def hp_ints(runs: Sequence[Curve]) -> set[str]:
    """The hyperparameters that are integers in every run that has them (Optuna needs one
    kind of distribution per name across a study's trials).

    >>> sorted(hp_ints([Curve("a", [1], [1.0], hp={"layers": 2, "lr": 0.1}),
    ...                 Curve("b", [1], [1.0], hp={"layers": 4, "lr": 1})]))
    ['layers']
    """
    names = {k for r in runs for k in r.hp}
    return {k for k in names if all(_is_int(r.hp[k]) for r in runs if k in r.hp)}


def hp_choices(runs: Sequence[Curve]) -> dict[str, list[str]]:
    """Every value, as text, of each hyperparameter that is not a number in some run:
    Optuna needs one list of choices per name across a study's trials.

    >>> hp_choices([Curve("a", [1], [1.0], hp={"lr": 0.1, "data": "c4"}),
    ...             Curve("b", [1], [1.0], hp={"lr": 0.2, "data": "oscar"})])
    {'data': ['c4', 'oscar']}
    """
    text = {k for r in runs for k, v in r.hp.items() if not _is_number(v)}
    return {k: sorted({str(r.hp[k]) for r in runs if k in r.hp}) for k in sorted(text)}


def suggest_hp(trial: optuna.Trial, hp: dict, choices: dict[str, list[str]] | None = None,
               ints: set[str] | None = None) -> None:
    """Record the run's hyperparameters as the trial's parameters (integers as integers,
    other numbers as floats, anything else as a string category). ``choices`` (see
    :func:`hp_choices`) lists the categories of the whole study; with more than one, the
    trial's own must have been enqueued (``study.enqueue_trial``), as :func:`replay_study`
    does. ``ints`` (see :func:`hp_ints`): the names recorded as integers (default: those
    whose value here is one).

    >>> trial = optuna.create_study().ask()
    >>> suggest_hp(trial, {"lr": 0.1, "cell": "lstm", "layers": 3})
    >>> trial.params
    {'lr': 0.1, 'cell': 'lstm', 'layers': 3}
    """
    choices = choices or {}
    for k, v in hp.items():
        if k in choices or not _is_number(v):
            trial.suggest_categorical(k, choices.get(k, [str(v)]))
        elif k in ints if ints is not None else _is_int(v):
            trial.suggest_int(k, int(v), int(v))
        else:
            trial.suggest_float(k, float(v), float(v))


class _quiet:
    """Optuna logs a line per trial (and warns of every diverged run's NaN and of its
    experimental pruners): silence it while replaying."""

    def __enter__(self):
        self.level = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.ERROR)
        self.warnings = warnings.catch_warnings()
        self.warnings.__enter__()
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.simplefilter("ignore", RuntimeWarning)  # PatientPruner's nanmin of NaNs

    def __exit__(self, *exc):
        self.warnings.__exit__(*exc)
        optuna.logging.set_verbosity(self.level)
