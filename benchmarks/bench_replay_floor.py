"""The least compute any pruner can use on issue 5's replays, at zero regret.

An oracle that knows every run's final value completes a trial only when it will be a
new best (a "record": with 100 trials in random order, about H_100 = 5.2 of them), and
stops every other trial after its first ``m`` points. Zero regret needs every record
completed: the best completed trial is what regret measures. ``m = 1`` is the floor of
any pruner; ``m = 2`` is the floor of one that needs a point whose values rank the
runs' outcomes, where the first point is the untrained model (TaskSet's step 0:
Spearman 0.01-0.13 with the final value, printed below).

    .venv/bin/python benchmarks/bench_replay_floor.py
"""

from __future__ import annotations

import numpy as np
from bench_backtest import datasets
from scipy import stats


def floor(runs: list, m: int, trials: int = 100, repeats: int = 200) -> tuple[float, float]:
    """Mean compute fraction of the oracle and the mean number of records completed."""
    sign = 1.0 if runs[0].goal == "min" else -1.0
    compute, records = [], []
    for r in range(repeats):  # the draws of curvecast.evaluate.replay with seed 0
        order = np.random.default_rng([0, r]).permutation(len(runs))[:trials]
        drawn = [runs[i] for i in order]
        best, used, n = np.inf, 0, 0
        for run in drawn:
            final = sign * run.values[-1]
            if np.isfinite(final) and final < best:
                best, used, n = final, used + len(run), n + 1
            else:
                used += min(m, len(run))
        compute.append(used / sum(len(run) for run in drawn))
        records.append(n)
    return float(np.mean(compute)), float(np.mean(records))


def first_rank(runs: list) -> float:
    """Spearman correlation of the first reported value with the final one."""
    first = np.array([r.values[0] for r in runs])
    final = np.array([r.values[-1] for r in runs])
    ok = np.isfinite(first) & np.isfinite(final)
    return float(stats.spearmanr(first[ok], final[ok])[0])


def main() -> None:
    print("| data set | records completed | floor, stop at point 1 | floor, stop at point 2 "
          "| Spearman(first, final) |")
    print("|---|--:|--:|--:|--:|")
    for name, (load, _) in datasets({"taskset", "nas", "cifar"}, 0).items():
        runs = [r for r in load() if len(r) >= 2]
        (f1, n), (f2, _) = floor(runs, 1), floor(runs, 2)
        print(f"| {name} | {n:.2f} | {f1:.3f} | {f2:.3f} | {first_rank(runs):.2f} |",
              flush=True)


if __name__ == "__main__":
    main()
