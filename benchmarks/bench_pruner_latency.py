"""Issue 17's latency bar: ``should_prune`` with 500 completed trials in a SQLite study.

A SQLite study is filled with 500 completed trials (the runs of a TaskSet task, with
their curves and hyperparameters); then 50 more runs are replayed in it, once under
ForecastPruner and once, on a copy of the database, under MedianPruner (the baseline in
the same run, since these machines are shared and noisy). Every ``should_prune`` call is
timed, by kind: a trial's first two reports (judged by dominance), reports where a
forecast is due (ForecastPruner's schedule, see curvecast.decisions.due), and the others.
Bar: ForecastPruner's median at most 5 ms and its p90 at most 25 ms.

    PYTHONPATH=benchmarks .venv/bin/python benchmarks/bench_pruner_latency.py
    PYTHONPATH=benchmarks .venv/bin/python benchmarks/bench_pruner_latency.py --profile 15
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna
from bench_backtest import ensemble

from curvecast.curve import MIN_POINTS
from curvecast.datasets import TASKSET_TASKS, load_taskset
from curvecast.decisions import due
from curvecast.evaluate.replay import int_steps, suggest_hp
from curvecast.integrations.optuna import ForecastPruner

CONTEXT, NEW = 500, 50
MEDIAN_MS, P90_MS = 5.0, 25.0
GROWTH = 1.1
"""ForecastPruner's default growth: its forecasts are due at points 3, 4, ..., 10, 11, 13, ..."""


def fill(storage: str, runs) -> None:
    """A study with ``runs`` as completed trials (curves and hyperparameters)."""
    study = optuna.create_study(storage=storage, study_name="sweep")
    keys = sorted(runs[0].hp)
    lo = {k: min(r.hp[k] for r in runs) for k in keys}
    hi = {k: max(r.hp[k] for r in runs) for k in keys}
    dists = {k: optuna.distributions.FloatDistribution(lo[k], hi[k]) for k in keys}
    trials = [optuna.trial.create_trial(
        params={k: r.hp[k] for k in keys}, distributions=dists, value=float(r.values[-1]),
        intermediate_values=dict(zip(int_steps(r), map(float, r.values), strict=True)))
        for r in runs]
    study.add_trials(trials)


def kind(points: int, schedule: set[int]) -> str:
    """What a report with ``points`` values costs ForecastPruner."""
    if points < MIN_POINTS:
        return "first two"
    return "forecast" if points in schedule else "between"


def schedule(n: int) -> set[int]:
    """The points at which ForecastPruner's forecasts are due, up to ``n``."""
    at, last = set(), 0
    for k in range(MIN_POINTS, n + 1):
        if due(k, last, GROWTH):
            at.add(k)
            last = k
    return at


def timed(storage: str, runs, pruner) -> tuple[np.ndarray, list[str]]:
    """Milliseconds of every should_prune call, and each call's kind."""
    study = optuna.load_study(study_name="sweep", storage=storage, pruner=pruner)
    times, kinds = [], []
    due_at = schedule(max(len(r) for r in runs))
    for r in runs:
        trial = study.ask()
        suggest_hp(trial, r.hp)
        state = optuna.trial.TrialState.COMPLETE
        for k, (step, v) in enumerate(zip(int_steps(r), r.values, strict=True)):
            trial.report(float(v), step)
            t = time.perf_counter()
            stop = trial.should_prune()
            times.append(time.perf_counter() - t)
            kinds.append(kind(k + 1, due_at))
            if stop:
                state = optuna.trial.TrialState.PRUNED
                break
        study.tell(trial, None if state == optuna.trial.TrialState.PRUNED else float(v),
                   state=state)
    return np.array(times) * 1e3, kinds


def line(name: str, t: np.ndarray) -> str:
    return (f"  {name:26s} calls {t.size:5d}  median {np.median(t):7.2f} ms  p90 "
            f"{np.quantile(t, 0.9):7.2f} ms  mean {t.mean():7.2f} ms  max {t.max():8.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="profile ForecastPruner on N new trials (cProfile), nothing else")
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    task = TASKSET_TASKS[2]
    runs = [c for c in load_taskset(task) if c.status == "ok"]
    order = np.random.default_rng(0).permutation(len(runs))
    context = [runs[i] for i in order[:CONTEXT]]
    new = [runs[i] for i in order[CONTEXT:CONTEXT + NEW]]
    tmp = Path(tempfile.mkdtemp())
    base = tmp / "base.db"
    fill(f"sqlite:///{base}", context)
    fp_db, med_db = tmp / "forecast.db", tmp / "median.db"
    shutil.copy(base, fp_db)
    shutil.copy(base, med_db)
    name = f"taskset/{task.removeprefix('FixedTextRNNClassification_imdb_')}"
    forecaster = ensemble(name, None, "benchmarks/models/combiner")
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        t, _ = timed(f"sqlite:///{fp_db}", new[:args.profile], ForecastPruner(forecaster=forecaster))
        prof.disable()
        print(line("ForecastPruner", t))
        pstats.Stats(prof).sort_stats("cumulative").print_stats(40)
        shutil.rmtree(tmp)
        return
    fp, kinds = timed(f"sqlite:///{fp_db}", new, ForecastPruner(forecaster=forecaster))
    med, _ = timed(f"sqlite:///{med_db}", new, optuna.pruners.MedianPruner())
    print(f"{CONTEXT} completed trials in a SQLite study ({name}), {NEW} more replayed:")
    print(line("ForecastPruner", fp))
    for k in ("first two", "forecast", "between"):
        sel = np.array([c == k for c in kinds])
        if sel.any():
            print(line(f"  {k}", fp[sel]))
    print(line("MedianPruner", med))
    ratio = np.median(fp) / np.median(med)
    print(f"  median ratio ForecastPruner / MedianPruner: {ratio:.2f}")
    ok = np.median(fp) <= MEDIAN_MS and np.quantile(fp, 0.9) <= P90_MS
    print(f"  bar: median <= {MEDIAN_MS:g} ms and p90 <= {P90_MS:g} ms: {'PASS' if ok else 'FAIL'}")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
