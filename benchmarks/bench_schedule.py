"""Issue 16, schedules and dense curves: schedule-aware forecasts against the ensemble.

Backtests (cutoffs 0.1, 0.2, 0.4; K = 0: the law is per-curve) ``last``, ``ensemble``,
``schedule`` (the ensemble mixed with the annealing law, :mod:`curvecast.forecasters.
schedule`) and ``schedule_only`` (the law alone) on OPDA ImageNet (AlexNet, ConvNeXt:
accuracy, goal max, bound 1; the same 200-run subsample as ``bench_joint.py``) and on
synthetic cosine runs (the annealing law with noise, random shapes, seed 0). The
shipped network never saw OPDA; the law has no parameter fitted to any data set.

    .venv/bin/python benchmarks/bench_schedule.py            # both
    .venv/bin/python benchmarks/bench_schedule.py --only synthetic
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from curvecast.curve import Curve
from curvecast.datasets import load_opda
from curvecast.evaluate import backtest
from curvecast.forecasters.schedule import Schedule, ScheduleForecaster, cosine_lr

CUTOFFS = (0.1, 0.2, 0.4)
RESULTS = Path("benchmarks/results/schedule.json")


def synthetic_cosine(n: int = 100, seed: int = 0) -> list[Curve]:
    """Cosine runs (200 steps, 0-10% warm-up) whose loss follows the annealing law with
    random L0, A, alpha, C and 1% noise."""
    rng = np.random.default_rng(seed)
    s = np.arange(1, 201.0)
    out = []
    for i in range(n):
        warm = float(rng.choice([0, 10, 20]))
        sch = Schedule(lambda x, w=warm: cosine_lr(x, 200, w), 200)
        L0, A, alpha = rng.uniform(1.5, 3), rng.uniform(0.2, 1), rng.uniform(0.3, 0.8)
        C = rng.uniform(0.1, 0.6)
        y = L0 + A * sch.area(s) ** -alpha + C * sch.ema(s)
        y = y + rng.normal(0, 0.01 * (y.max() - y.min()), s.size)
        hp = {"schedule": "cosine", "total_steps": 200, "warmup": warm}
        out.append(Curve(f"cos{i:03d}", s, y, "min", hp))
    return out


def methods(bound):
    only = ScheduleForecaster(weight=1.0, bound=bound)
    only.name = "schedule_only"
    return ["last", "ensemble", ScheduleForecaster(bound=bound), only]


def subsample(curves, n: int = 200) -> list:
    curves = list(curves)
    pick = np.sort(np.random.default_rng(0).choice(len(curves), n, replace=False))
    return [curves[i] for i in pick] if len(curves) > n else curves


def rows(name: str, curves, bound) -> list[dict]:
    bt = backtest(curves, CUTOFFS, methods(bound), bound=bound, context=[0])
    out = bt.to_dict()["results"]
    for r in out:
        print(f"{name} {r['method']:>14} {r['cutoff']:.1f} n={r['n_runs']} "
              f"medAE={r['medae']:.4f} cov80={r['coverage']['0.8']:.2f} "
              f"cov90={r['coverage']['0.9']:.2f} spearman={r['spearman']:.3f}", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="synthetic,opda/alexnet,opda/convnext")
    ap.add_argument("--json", default=str(RESULTS))
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    path = Path(args.json)
    store = json.loads(path.read_text()) if path.exists() else {}
    for name in args.only.split(","):
        if name == "synthetic":
            store[name] = rows(name, synthetic_cosine(), None)
        else:
            store[name] = rows(name, subsample(load_opda(name.split("/")[1])), 1.0)
        path.write_text(json.dumps(store, indent=1))


if __name__ == "__main__":
    main()
