"""How much of TaskSet's final-value MAE could any study-aware forecaster touch?

For every TaskSet task and cutoffs 0.1 and 0.2, the per-curve ensemble (the network
trained without that task) forecasts every complete run's final value. Printed: the
ensemble's nMAE and median absolute error; the share of its absolute error carried by
the 10 worst-forecast runs (of about 1,000); and the oracle ratio: the nMAE that a
forecaster would get if it knew exactly the final of every run inside the 1-99% range of
finals and matched the ensemble elsewhere, divided by the ensemble's. Issue 4 asks for a
ratio <= 0.75; where the oracle ratio is above that, no forecaster that is right on 98%
of the runs can reach it.

    .venv/bin/python benchmarks/bench_taskset_oracle.py
"""

from __future__ import annotations

import numpy as np
from bench_backtest import ensemble

from curvecast.datasets import TASKSET_TASKS, load_taskset
from curvecast.evaluate.backtest import cut_point


def main() -> None:
    print("| task | cutoff | runs | nMAE | medAE | top-10 share | oracle ratio |")
    print("|---|--:|--:|--:|--:|--:|--:|")
    for task in TASKSET_TASKS:
        name = f"taskset/{task.removeprefix('FixedTextRNNClassification_imdb_')}"
        runs = [c for c in load_taskset(task) if c.status == "ok"]
        base = ensemble(name, None, "benchmarks/models/combiner")
        finals = np.array([c.values[-1] for c in runs])
        iqr = np.subtract(*np.quantile(finals, [0.75, 0.25]))
        lo, hi = np.quantile(finals, [0.01, 0.99])
        inside = (finals >= lo) & (finals <= hi)
        for cut in (0.1, 0.2):
            heads = [c.head(cut_point(c, cut)) for c in runs]
            by_end: dict[float, list[int]] = {}
            for i, c in enumerate(runs):
                by_end.setdefault(float(c.steps[-1]), []).append(i)
            median = np.empty(len(runs))
            for end, idx in by_end.items():
                median[idx] = base.forecast([heads[i] for i in idx], [end]).median[:, 0]
            err = np.abs(median - finals)
            top = np.sort(err)[::-1][:10].sum() / err.sum()
            oracle = np.where(inside, 0.0, err).mean() / err.mean()
            print(f"| {name.split('/')[-1]} | {cut:g} | {len(runs)} | {err.mean() / iqr:.4g} "
                  f"| {np.median(err):.2g} | {top:.2f} | {oracle:.3f} |", flush=True)


if __name__ == "__main__":
    main()
