"""Ray Tune's schedulers replayed on recorded sweeps: ForecastScheduler against ASHA and
the median stopping rule, beside Optuna's ForecastPruner, MedianPruner and successive
halving on the same draws (curvecast.evaluate.replay_ray and .replay, same seed).
ForecastScheduler's and ForecastPruner's per-curve network is the one trained without
the data set replayed (benchmarks/models/combiner_minus_<set>.npz).

    PYTHONPATH=benchmarks .venv/bin/python benchmarks/bench_replay_ray.py \
        --only cifar10_cnn --trials 50 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench_backtest import datasets
from bench_replay import per_curve

from curvecast.evaluate.replay import replay
from curvecast.evaluate.replay_ray import SCHEDULERS, replay_ray

OPTUNA = ("forecast", "median", "sha")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="cifar10_cnn,nasbench_nlp")
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--models", default="benchmarks/models/combiner")
    ap.add_argument("--out", default="benchmarks/results/replay_ray.json")
    args = ap.parse_args()
    rows = []
    for name, (load, bound) in datasets(set(args.only.split(",")), 0).items():
        runs = list(load())
        net = per_curve(name, bound, args.models)
        t0 = time.perf_counter()
        results = (replay_ray(runs, SCHEDULERS, args.trials, args.repeats, forecaster=net)
                   + replay(runs, OPTUNA, args.trials, args.repeats, forecaster=net))
        for r in results:
            d = {"data": name, **r.to_dict()}
            rows.append(d)
            print(f"{name:14s} {d['pruner']:13s} compute {d['compute_fraction']['mean']:.3f}"
                  f"  regret {d['regret']['mean']:.3f} (worst {d['regret']['worst']:.3f})"
                  f"  latency {d['latency_ms']:.2f} ms  {d['seconds']:.0f} s", flush=True)
        print(f"{name}: {time.perf_counter() - t0:.0f} s", flush=True)
    Path(args.out).write_text(json.dumps({"trials": args.trials, "repeats": args.repeats,
                                          "results": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
