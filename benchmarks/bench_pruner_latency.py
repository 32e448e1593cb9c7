"""Issue 5's latency bar: median ``should_prune`` latency with 500 trials in a SQLite study.

A SQLite study is filled with 500 completed trials (the runs of a TaskSet task, with
their curves and hyperparameters); then 50 more runs are replayed in it, once under
ForecastPruner and once, on a copy of the database, under MedianPruner (the baseline in
the same run, since these machines are shared and noisy). Every ``should_prune`` call is
timed. Bar: ForecastPruner's median at most 10 ms.

    .venv/bin/python benchmarks/bench_pruner_latency.py
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna
from bench_backtest import ensemble

from curvecast.datasets import TASKSET_TASKS, load_taskset
from curvecast.evaluate.replay import int_steps, suggest_hp
from curvecast.integrations.optuna import ForecastPruner

CONTEXT, NEW = 500, 50


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


def timed(storage: str, runs, pruner) -> np.ndarray:
    study = optuna.load_study(study_name="sweep", storage=storage, pruner=pruner)
    times = []
    for r in runs:
        trial = study.ask()
        suggest_hp(trial, r.hp)
        state = optuna.trial.TrialState.COMPLETE
        for step, v in zip(int_steps(r), r.values, strict=True):
            trial.report(float(v), step)
            t = time.perf_counter()
            stop = trial.should_prune()
            times.append(time.perf_counter() - t)
            if stop:
                state = optuna.trial.TrialState.PRUNED
                break
        study.tell(trial, None if state == optuna.trial.TrialState.PRUNED else float(v),
                   state=state)
    return np.array(times) * 1e3


def main() -> None:
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
    res = {"ForecastPruner": timed(f"sqlite:///{fp_db}", new, ForecastPruner(forecaster=forecaster)),
           "MedianPruner": timed(f"sqlite:///{med_db}", new, optuna.pruners.MedianPruner())}
    print(f"{CONTEXT} completed trials in a SQLite study ({name}), {NEW} more replayed:")
    for k, t in res.items():
        print(f"  {k:15s} calls {t.size:5d}  median {np.median(t):7.2f} ms  p90 "
              f"{np.quantile(t, 0.9):7.2f} ms  mean {t.mean():7.2f} ms  max {t.max():8.1f} ms")
    ratio = np.median(res["ForecastPruner"]) / np.median(res["MedianPruner"])
    print(f"  median ratio ForecastPruner / MedianPruner: {ratio:.2f}")
    ok = np.median(res["ForecastPruner"]) <= 10.0
    print(f"  bar: median <= 10 ms: {'PASS' if ok else 'FAIL'}")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
