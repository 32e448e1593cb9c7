"""Issue 16 bar 5: the surrogate-quality protocol of ifBO's Table 1, on the shared TaskSet tasks.

Rakotoarison et al. (ICML 2024, "In-Context Freeze-Thaw Bayesian Optimization"; their
repository's ``src/section5.1``) score a surrogate on tasks drawn from a tabular
benchmark, re-implemented here from their description and scripts:

* **Normalisation** (TaskSet): validation loss clipped to [0, m] and divided by m, m the
  median loss at step 0 over the task's configurations; step 0 is then dropped, so the
  curve is epochs 1..50. A NaN or inf loss (a diverged run) is read as the clip, 1.
* **A task**: 2,000 points over the task's 1,000 configurations. The curve length
  ``n_levels = min(round(10^U(0, 3)), 50)`` and a concentration ``alpha = 10^U(-4, -1)``
  are drawn (again until 1,000 x n_levels > 2,000); each configuration gets a weight
  Gamma(alpha, alpha) and n_levels slots, and 2,000 slots are drawn without replacement
  in proportion to the weights. The first 1,000 are the context: a configuration with
  k slots among them is observed at epochs 1..k. The queries are every configuration in
  the context at the last epoch (50), the evaluation of their Section 5.1.
* **Scores per task**: the mean log predictive density of the queries' true values (in
  their y = 1 - loss: the same density), the mean squared error of the predictive mean,
  and the seconds to fit and answer. Table 1 reports the median of each over tasks.

Every method here gets the context as curves (with their 8 hyperparameters) and answers
at epoch 50: ``joint`` is fitted on the context (the forecast runs are the context, so
its runs cut at a step learn from the others that went further), ``ensemble`` and
``last`` are per curve. The network of ``joint`` and ``ensemble`` is
``benchmarks/models/combiner_minus_<task>.npz``, trained without the task scored (the
other TaskSet tasks seen: leave-task-out; ``--network`` gives one file for all, e.g. a
network trained without TaskSet). A query a method gives no forecast for (fewer
points than it needs) is answered by ``last`` and counted in ``fallback``.

    .venv/bin/python benchmarks/bench_ifbo_protocol.py --tasks 10 --methods joint,ensemble,last
    .venv/bin/python benchmarks/bench_ifbo_protocol.py --table    # from the JSON alone
    .venv/bin/python benchmarks/bench_ifbo_protocol.py --network NET.npz --json OUT.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from curvecast.api import make_forecaster
from curvecast.curve import Curve
from curvecast.datasets import TASKSET_TASKS, load_taskset
from curvecast.forecasters import JointForecaster, LastValue, LearnedForecaster

RESULTS = Path("benchmarks/results/ifbo_protocol.json")
MODELS = "benchmarks/models/combiner_minus_{}.npz"
EPOCHS = 50
SEQ_LEN = 2000
CONTEXT = 1000
EPS = 1e-9
BARS = {"ll": 3.0, "mse": 0.004, "seconds": 0.7}
"""Issue 16's bar 5 (FT-PFN in Table 1 at 1,000 context points: 3.016, 0.004, 0.72 s)."""


def normalised(task: str) -> tuple[np.ndarray, list[dict]]:
    """(losses (configs, 50) in [0, 1], hyperparameters) of one TaskSet task, as ifBO's
    TaskSet benchmark gives them (see the module docstring)."""
    cs = load_taskset(task)
    V = np.array([c.values for c in cs], dtype=float)
    m = float(np.median(V[:, 0][np.isfinite(V[:, 0])]))
    Y = np.where(np.isfinite(V), np.clip(V, 0.0, m) / m, 1.0)
    return Y[:, 1:], [c.hp for c in cs]


def sample_task(rng: np.random.RandomState, n_configs: int, epochs: int = EPOCHS):
    """(n_levels, alpha, {config: epochs observed}) of one task drawn as ifBO's do."""
    n = min(n_configs, 1000)
    while True:
        n_levels = min(int(np.round(10 ** rng.uniform(0, 3))), epochs)
        alpha = 10 ** rng.uniform(-4, -1)
        w = rng.gamma(alpha, alpha, n) + EPS
        if n * n_levels > SEQ_LEN:
            break
    slots = np.repeat(np.arange(n), n_levels)
    p = np.repeat(w / w.sum(), n_levels) / n_levels
    order = rng.choice(slots, p=p / p.sum(), size=SEQ_LEN, replace=False)
    ids, counts = np.unique(order[:CONTEXT], return_counts=True)
    return n_levels, float(alpha), dict(zip(ids.tolist(), counts.tolist(), strict=True))


def context_curves(Y: np.ndarray, hps: list[dict], seen: dict[int, int]) -> list[Curve]:
    """The context as curves: configuration i observed at epochs 1..seen[i]."""
    return [Curve(f"{i:04d}", np.arange(1.0, k + 1), Y[i, :k], "min", hps[i])
            for i, k in seen.items()]


def score(method, curves: list[Curve], truth: np.ndarray) -> dict:
    """Mean log density, MSE of the mean and seconds of one method on one task."""
    t0, c0 = time.perf_counter(), time.process_time()
    if method.uses_context:
        method = method.fit(curves)
    fc = method.forecast(curves, [float(EPOCHS)])
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    miss = ~fc.valid
    ll, mean = fc.logpdf(truth)[:, 0], fc.mean[:, 0]
    if miss.any():
        rows = np.flatnonzero(miss)
        fb = LastValue().forecast([curves[i] for i in rows], [float(EPOCHS)])
        ll[rows], mean[rows] = fb.logpdf(truth[rows])[:, 0], fb.mean[:, 0]
    return {"ll": float(np.mean(ll)), "mse": float(np.mean((mean - truth) ** 2)),
            "seconds": seconds, "cpu": cpu, "fallback": int(miss.sum())}


def run(methods: list[str], n_tasks: int, seed: int, only: list[str] | None,
        results: Path = RESULTS, network: str | None = None) -> dict:
    """Every method on ``n_tasks`` tasks per TaskSet task; one row per (task, draw).
    ``network``: one network file for every task (default: the one without the task)."""
    store = json.loads(results.read_text()) if results.exists() else {"rows": []}
    for t, task in enumerate(TASKSET_TASKS):
        short = task.removeprefix("FixedTextRNNClassification_imdb_")
        if only and not any(o in short for o in only):
            continue
        Y, hps = normalised(task)
        model = network or MODELS.format(short)
        made = {m: _make(m, model) for m in methods}
        rng = np.random.RandomState([seed, t])
        for draw in range(n_tasks):
            n_levels, alpha, seen = sample_task(rng, len(Y))
            curves = context_curves(Y, hps, seen)
            truth = Y[list(seen), EPOCHS - 1]
            row = {"task": short, "draw": draw, "seed": seed, "n_levels": n_levels,
                   "alpha": alpha, "queries": len(curves),
                   "observed": int(sum(k >= EPOCHS for k in seen.values()))}
            for m, f in made.items():
                row[m] = score(f, curves, truth)
            old = [r for r in store["rows"] if (r["task"], r["draw"], r["seed"])
                   == (short, draw, seed)]  # the same draw: other methods' scores kept
            store["rows"] = [r for r in store["rows"] if r not in old]
            store["rows"].append({**(old[0] if old else {}), **row})
            print(short, draw, n_levels, len(curves), {m: {k: round(v, 4) for k, v in
                  row[m].items()} for m in methods}, flush=True)
        results.parent.mkdir(exist_ok=True)
        results.write_text(json.dumps(store, indent=0))
    return store


def _make(method: str, model: str):
    """A method by name; ``joint_short``: joint whose last value answers runs of 1-2
    points even where no study model corrects it (``short_alone=True``; the default
    ``joint`` leaves those to the fallback)."""
    if method == "joint_short":
        return JointForecaster(base=LearnedForecaster(model), short=LastValue(), short_alone=True)
    return make_forecaster(method, model=model)


def _methods(row: dict) -> set[str]:
    return {k for k, v in row.items() if isinstance(v, dict)}


def table(store: dict) -> str:
    """Medians over tasks per method, all tasks and split by whether n_levels < 50."""
    rows = store["rows"]
    methods = sorted(set.intersection(*(_methods(r) for r in rows))) if rows else []
    out = [("| method | tasks | median log-lik | median MSE | median s/task (CPU s) | "
            "log-lik (n_levels < 50 / = 50) | fallback queries | bar 5 |"),
           "|---|---:|---:|---:|---:|---:|---:|---|"]
    for m in methods:
        ll = np.array([r[m]["ll"] for r in rows])
        mse = np.array([r[m]["mse"] for r in rows])
        sec = np.array([r[m]["seconds"] for r in rows])
        cpu = np.array([r[m].get("cpu", np.nan) for r in rows])
        full = np.array([r["n_levels"] >= EPOCHS for r in rows])
        fb = sum(r[m]["fallback"] for r in rows) / max(sum(r["queries"] for r in rows), 1)
        med = (np.median(ll), np.median(mse), np.median(sec))
        ok = med[0] >= BARS["ll"] and med[1] <= BARS["mse"] and med[2] <= BARS["seconds"]
        split = "/".join(f"{np.median(ll[s]):.3f}" if s.any() else "-" for s in (~full, full))
        out.append(f"| {m} | {len(rows)} | {med[0]:.3f} | {med[1]:.4f} | {med[2]:.3f} ({np.median(cpu):.3f}) | "
                   f"{split} | {fb:.1%} | {'pass' if ok else 'FAIL'} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default="joint,ensemble,last")
    ap.add_argument("--tasks", type=int, default=10, help="draws per TaskSet task (ifBO: 100)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--only", default="", help="comma-separated parts of task names")
    ap.add_argument("--table", action="store_true", help="print the table from the JSON")
    ap.add_argument("--json", type=Path, default=RESULTS, help="results file (merged)")
    ap.add_argument("--network", default=None,
                    help="one combiner file for every task (default: the one without it)")
    a = ap.parse_args()
    if not a.table:
        run(a.methods.split(","), a.tasks, a.seed, [o for o in a.only.split(",") if o],
            a.json, a.network)
    print(table(json.loads(a.json.read_text())))


if __name__ == "__main__":
    main()
