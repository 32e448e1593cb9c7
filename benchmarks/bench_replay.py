"""Issue 5's replay benchmark: ForecastPruner against Optuna's pruners on real sweeps.

For every TaskSet task, NAS-Bench-NLP and the CIFAR-10 CNN curves, each repeat draws
100 recorded runs in a random order and replays them as an Optuna study per pruner
(see curvecast.evaluate.replay). ForecastPruner's per-curve network is the one trained
without the data set replayed (as in bench_backtest.py). Then the bars are checked:

* ForecastPruner's mean normalised regret <= 0.02 and its worst <= 0.15;
* its compute <= 10% of nop's, and below every Optuna pruner whose mean regret <= 0.02.

    .venv/bin/python benchmarks/bench_replay.py                         # everything
    .venv/bin/python benchmarks/bench_replay.py --only nas --repeats 3
    .venv/bin/python benchmarks/bench_replay.py --plot a.json b.json    # the figure only
    .venv/bin/python benchmarks/bench_replay.py --pruners forecast \
        --update benchmarks/results/replay.json --plot                   # ours again only
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench_backtest import datasets, ensemble

from curvecast.evaluate.replay import replay

PRUNERS = "forecast,nop,median,percentile25,sha,hyperband,patient"
OPTUNA = ("median", "percentile25", "patient", "hyperband", "sha")
"""Optuna's pruners ForecastPruner must use less compute than, where their regret <= 0.02."""


def check(rows: list[dict]) -> list[str]:
    at = {r["pruner"]: r for r in rows}
    f = at.get("forecast")
    if f is None:
        return []
    mean, worst = f["regret"]["mean"], f["regret"]["worst"]
    cf = f["compute_fraction"]["mean"]
    rivals = [p for p in OPTUNA if p in at and at[p]["regret"]["mean"] <= 0.02]
    beaten = [p for p in rivals if cf < at[p]["compute_fraction"]["mean"]]
    ok = [mean <= 0.02 and worst <= 0.15, cf <= 0.10, len(beaten) == len(rivals)]
    line = (f"  regret mean {mean:.3f} worst {worst:.3f} {'PASS' if ok[0] else 'FAIL'}; "
            f"compute {cf:.3f} {'PASS' if ok[1] else 'FAIL'}; below {beaten} of rivals "
            f"{rivals} {'PASS' if ok[2] else 'FAIL'}")
    return [line]


def plot(out: dict, path: Path) -> None:
    """Compute vs mean regret, one panel per data set, one marker per pruner."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(out)
    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        for r in out[name]:
            x, y = r["compute_fraction"]["mean"], r["regret"]["mean"]
            ax.scatter(x, y, s=60 if r["pruner"] == "forecast" else 30,
                       marker="*" if r["pruner"] == "forecast" else "o")
            ax.annotate(r["pruner"], (x, y), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
        ax.axhline(0.02, color="grey", lw=0.6, ls="--")
        ax.axvline(0.10, color="grey", lw=0.6, ls="--")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("compute (fraction of nop)")
        ax.set_ylabel("mean normalised regret")
        ax.set_xlim(0, 1.05)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def table(out: dict) -> str:
    head = ("| data set | pruner | compute mean | compute worst | regret mean | regret worst "
            "| latency ms (median) |")
    lines = [head, "|---|---|--:|--:|--:|--:|--:|"]
    for name, rows in out.items():
        for r in rows:
            lines.append(f"| {name} | {r['pruner']} | {r['compute_fraction']['mean']:.3f} "
                         f"| {r['compute_fraction']['worst']:.3f} | {r['regret']['mean']:.3f} "
                         f"| {r['regret']['worst']:.3f} | {r['latency_ms']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="taskset,nas,cifar", help="data-set name prefixes")
    ap.add_argument("--pruners", default=PRUNERS)
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--models", default="benchmarks/models/combiner",
                    help="prefix of the held-out networks, or 'shipped'")
    ap.add_argument("--json", default=None, help="also write every result here")
    ap.add_argument("--update", default=None,
                    help="merge this run's rows into this JSON file, keeping the rows of "
                         "pruners not run (their replays do not depend on ours)")
    ap.add_argument("--plot", nargs="*", default=None,
                    help="with JSON files: only draw them; else also draw this run")
    ap.add_argument("--figure", default="benchmarks/results/replay.png")
    args = ap.parse_args()
    if args.plot:
        out = {}
        for p in args.plot:
            out.update(json.loads(Path(p).read_text()))
        plot(out, Path(args.figure))
        print(table(out))
        return
    models = None if args.models == "shipped" else args.models
    kept = Path(args.update) if args.update else None
    out = json.loads(kept.read_text()) if kept and kept.exists() else {}
    for name, (load, bound) in datasets(set(args.only.split(",")), 0).items():
        t0 = time.time()
        runs = list(load())
        res = replay(runs, args.pruners.split(","), trials=args.trials, repeats=args.repeats,
                     forecaster=ensemble(name, bound, models))
        run = {r.pruner for r in res}
        kept = [r for r in out.get(name, []) if r["pruner"] not in run]
        out[name] = [r.to_dict() for r in res] + kept
        print(f"{name}: {len(runs)} runs, {time.time() - t0:.0f}s", flush=True)
        for r in out[name]:
            print(f"  {r['pruner']:12s} compute {r['compute_fraction']['mean']:.3f} "
                  f"(worst {r['compute_fraction']['worst']:.3f}) regret {r['regret']['mean']:.3f} "
                  f"(worst {r['regret']['worst']:.3f}) latency {r['latency_ms']:.2f} ms "
                  f"p90 {r['latency_p90_ms']:.1f} ms {r['seconds']:.0f}s", flush=True)
        print("\n".join(check(out[name])), flush=True)
        for path in {args.json, args.update} - {None}:
            Path(path).write_text(json.dumps(out, indent=1))
    if args.plot is not None:
        Path(args.figure).parent.mkdir(parents=True, exist_ok=True)
        plot(out, Path(args.figure))


if __name__ == "__main__":
    main()
