"""How the ensemble's fitting budget (LM iterations) trades speed for forecast quality.

Forecasts the final value of every run of three real data sets from the first 10%,
20% and 40% of its points, with the ensemble at several iteration budgets, and reports
per budget: median absolute error / IQR of the true finals, coverage of the 80%
interval, mean log score, and seconds, each averaged over the 9 (data set, cutoff)
cells. The shipped default is ``iters=10``.

    .venv/bin/python benchmarks/bench_fit_budget.py [--data-dir ../shared/data]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from curvecast.datasets import load_cifar10_cnn, load_nasbench_nlp, load_taskset
from curvecast.forecasters import EnsembleForecaster

BUDGETS = (10, 24, 100)
CUTOFFS = (0.1, 0.2, 0.4)


def score(curves, cutoff: float, forecaster) -> dict[str, float]:
    """Forecast the final value of every complete, finite run from its first part."""
    full = [c for c in curves if c.status == "ok" and len(c) == max(len(c) for c in curves)]
    k = max(3, int(round(cutoff * len(full[0]))))
    truth = np.array([c.values[-1] for c in full])
    t0 = time.perf_counter()
    fc = forecaster.forecast([c.head(k) for c in full], full[0].last_step)
    med = fc.median[:, 0]
    lo, hi = fc.interval(0.8, axis=0)[:, :, 0]
    seconds = time.perf_counter() - t0
    iqr = np.subtract(*np.percentile(truth, [75, 25]))
    return {
        "nmedae": float(np.nanmedian(np.abs(med - truth)) / iqr),
        "cov80": float(np.nanmean((lo <= truth) & (truth <= hi))),
        "log_score": float(np.nanmean(fc.logpdf(truth[:, None])[:, 0])),
        "seconds": seconds,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args()
    data = {
        "TaskSet GRU": load_taskset(path=args.data_dir),
        "NAS-Bench-NLP": load_nasbench_nlp(args.data_dir),
        "CIFAR-10 CNN": load_cifar10_cnn(args.data_dir),
    }
    print("| iters | median abs error / IQR | 80% coverage | log score | seconds (9 cells) |")
    print("|---:|---:|---:|---:|---:|")
    for iters in BUDGETS:
        rows = [score(cs, cut, EnsembleForecaster(iters=iters))
                for cs in data.values() for cut in CUTOFFS]
        mean = {k: np.mean([r[k] for r in rows]) for k in rows[0]}
        print(f"| {iters} | {mean['nmedae']:.4f} | {mean['cov80']:.3f} | "
              f"{mean['log_score']:.3f} | {sum(r['seconds'] for r in rows):.2f} |")


if __name__ == "__main__":
    main()
