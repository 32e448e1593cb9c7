"""The dashboard's cost on a large real study: building its state, refreshing it.

A SQLite study is filled with TaskSet runs (the first task's 1000 runs, 51 points each):
a fraction complete, the rest pruned at a random point past their 3rd (as a pruned
sweep looks), and RUNNING trials at their first fifth. For each size the script times,
against reading the trials from the storage (``study.get_trials``, what any dashboard
must do; the baseline in the same run):

- the first state (every pruned and running trial forecast, by ``ensemble``);
- a refresh after one running trial reported one more point (one trial refit);
- a refresh when nothing changed;

and the size of the state's JSON (what each page downloads when it changes; a page
that has the current version gets a short answer).

Then the static report of the same 1000 runs cut at 30% of their steps: the time to
build and render it against ``forecast_runs`` alone (the rows ``curvecast forecast``
prints, the baseline in the same run), and the file's size.

    .venv/bin/python benchmarks/bench_dashboard.py
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna

from curvecast.datasets import TASKSET_TASKS, load_taskset
from curvecast.report.live import LiveStudy
from curvecast.report.page import script_json

SIZES = (200, 1000)
RUNNING = 8
COMPLETE = 0.2


def fill(storage: str, runs, rng) -> optuna.Study:
    """A study of ``runs``: 20% complete, the rest pruned, and RUNNING trials."""
    study = optuna.create_study(storage=storage, study_name="sweep")
    dist = {"lr": optuna.distributions.FloatDistribution(1e-6, 10.0, log=True)}
    trials = []
    for r in runs[RUNNING:]:
        steps = [int(s) for s in r.steps]
        values = [float(v) for v in r.values]
        complete = rng.random() < COMPLETE
        stop = len(steps) if complete else int(rng.integers(3, len(steps)))
        finite = [v for v in values[:stop] if np.isfinite(v)]
        state = optuna.trial.TrialState.COMPLETE if complete else optuna.trial.TrialState.PRUNED
        trials.append(optuna.trial.create_trial(
            params={"lr": float(rng.uniform(1e-4, 1))}, distributions=dist, state=state,
            value=(finite[-1] if finite else None) if complete else None,
            intermediate_values=dict(zip(steps[:stop], values[:stop], strict=True))))
    study.add_trials(trials)
    for r in runs[:RUNNING]:  # running, a fifth of the way in
        t = study.ask()
        for s, v in list(zip(r.steps, r.values, strict=True))[:len(r) // 5]:
            t.report(float(v), int(s))
    return study


def timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def measure(n: int, runs, rng) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'study.db'}"
        study = fill(url, runs[:n], rng)
        read, _ = timed(lambda: study.get_trials(deepcopy=False))
        live = LiveStudy(url, "sweep")
        first, state = timed(live.snapshot)
        size = len(script_json(state))
        same, _ = timed(live.snapshot)
        running = next(t for t in study.get_trials() if t.state.name == "RUNNING")
        step = running.last_step + 1
        study._storage.set_trial_intermediate_value(running._trial_id, step,
                                                    running.intermediate_values[running.last_step])
        one, state2 = timed(live.snapshot)
        assert state2["version"] == state["version"] + 1
        read2, _ = timed(lambda: study.get_trials(deepcopy=False))
        return {"trials": n, "read_ms": 1e3 * min(read, read2), "first_s": first,
                "refresh_one_ms": 1e3 * one, "unchanged_ms": 1e3 * same,
                "json_kb": size / 1024, "fans": len(state["fans"])}


def table(rows: list[dict]) -> str:
    head = ("| trials | read trials (baseline) | first state | refresh, one trial reported | "
            "refresh, no change | state JSON |\n|---:|---:|---:|---:|---:|---:|\n")
    return head + "\n".join(
        f"| {r['trials']} | {r['read_ms']:.0f} ms | {r['first_s']:.1f} s | "
        f"{r['refresh_one_ms']:.0f} ms ({r['refresh_one_ms'] / r['read_ms']:.1f}x read) | "
        f"{r['unchanged_ms']:.0f} ms ({r['unchanged_ms'] / r['read_ms']:.1f}x read) | "
        f"{r['json_kb']:.0f} KB |" for r in rows)


def report_cost(runs) -> str:
    from curvecast.curve import Curve, CurveSet
    from curvecast.report import curve_report
    from curvecast.runs import forecast_runs

    cut = CurveSet([Curve(r.run, r.steps[r.steps <= 0.3 * r.last_step],
                          r.values[r.steps <= 0.3 * r.last_step]) for r in runs])
    at = max(r.last_step for r in runs)
    base, _ = timed(lambda: forecast_runs(cut, at))
    build, html = timed(lambda: curve_report(cut, at=at).render())
    return ("| runs | forecast_runs (baseline) | report, built and rendered | file |\n"
            "|---:|---:|---:|---:|\n"
            f"| {len(cut)} | {base:.1f} s | {build:.1f} s ({build / base:.2f}x) | "
            f"{len(html) / 2**20:.1f} MB |")


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    runs = list(load_taskset(TASKSET_TASKS[0]))
    rng = np.random.default_rng(0)
    rows = [measure(n, runs, rng) for n in SIZES]
    print(table(rows))
    print()
    print(report_cost(runs))


if __name__ == "__main__":
    main()
