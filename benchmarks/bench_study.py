"""Issue 4's backtest: study-aware forecasts against the per-curve ensemble.

For every TaskSet task and NAS-Bench-NLP, runs are split at random into K finished runs
(seen whole) and the rest (seen up to the cutoff), 3 times per K; ``study`` learns from
the finished runs, ``ensemble`` (the per-curve forecaster it corrects) ignores them. Both
use the network trained without the data set scored (as bench_backtest.py). Then the
bars are checked at cutoffs 0.1 and 0.2:

* K = 50: normalised MAE at least 25% below the ensemble's, Spearman at least 0.05 above;
* K = 50: 80% and 90% intervals within 5 points of nominal;
* K = 0: no worse than the ensemble (the study forecaster falls back to it).

    .venv/bin/python benchmarks/bench_study.py                     # ~30 minutes
    .venv/bin/python benchmarks/bench_study.py --only nas --contexts 0,50
    .venv/bin/python benchmarks/bench_study.py --speed             # the speed bar alone
    .venv/bin/python benchmarks/bench_study.py --table a.json b.json  # markdown of saved runs

Speed (``--speed``): 500 finished runs of a TaskSet task as context, and 1,000 other
runs each seen up to a random point (10-90% of it), as a pruner sees a sweep; every
final is forecast once from a cold start (every fit counted) and once more warm (the
fits cached per step seen), with the per-curve ensemble timed on the same heads.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from bench_backtest import datasets, ensemble

from curvecast.evaluate import backtest
from curvecast.forecasters import StudyForecaster


def check(rows: list[dict]) -> list[str]:
    """PASS/FAIL lines for one data set."""
    at = {(r["method"], r["context"], r["cutoff"]): r for r in rows}
    lines = []
    for (method, k, cut), s in sorted(at.items()):
        if method != "study" or k not in (0, 50):
            continue
        e = at[("ensemble", k, cut)]
        if k == 0:
            ok = s["nmae"] <= e["nmae"] * 1.001
            lines.append(f"  K=0  cut {cut}: nMAE {s['nmae']:.4g} vs {e['nmae']:.4g} "
                         f"{'PASS' if ok else 'FAIL'}")
            continue
        ratio = s["nmae"] / e["nmae"]
        gain = s["spearman"] - e["spearman"]
        c80, c90 = s["coverage"]["0.8"], s["coverage"]["0.9"]
        ok = [ratio <= 0.75, gain >= 0.05, abs(c80 - 0.8) <= 0.05 and abs(c90 - 0.9) <= 0.05]
        lines.append(
            f"  K=50 cut {cut}: nMAE ratio {ratio:.3f} {'PASS' if ok[0] else 'FAIL'}; "
            f"spearman {s['spearman']:.3f} vs {e['spearman']:.3f} {'PASS' if ok[1] else 'FAIL'}; "
            f"cov80 {c80:.3f} cov90 {c90:.3f} {'PASS' if ok[2] else 'FAIL'}")
    return lines


def table(out: dict) -> str:
    """Markdown table of saved scores: one row per data set, K and cutoff; each cell
    study / ensemble."""
    head = ("| data set | K | cutoff | nMAE | ratio | Spearman | cov 80% | cov 90% "
            "| log score | CRPS |\n|---|--:|--:|---|--:|---|---|---|---|---|")
    lines = [head]
    for name, rows in out.items():
        at = {(r["method"], r["context"], r["cutoff"]): r for r in rows}
        for (method, k, cut), s in sorted(at.items()):
            if method != "study":
                continue
            e = at[("ensemble", k, cut)]
            def pair(key, s=s, e=e):
                return f"{s[key]:.3g} / {e[key]:.3g}"
            cov = [f"{s['coverage'][q]:.3f} / {e['coverage'][q]:.3f}" for q in ("0.8", "0.9")]
            lines.append(
                f"| {name} | {k} | {cut:g} | {pair('nmae')} | {s['nmae'] / e['nmae']:.3f} "
                f"| {pair('spearman')} | {cov[0]} | {cov[1]} "
                f"| {pair('log_score')} | {pair('crps')} |")
    return "\n".join(lines)


def speed(context: int = 500, queries: int = 1000, seed: int = 0) -> None:
    """Forecasts per second with ``context`` finished runs (see the module docstring)."""
    from curvecast.datasets import TASKSET_TASKS, load_taskset

    runs = [c for c in load_taskset(TASKSET_TASKS[2]) if c.status == "ok"]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(runs))
    ctx = [runs[i] for i in order[:context]]
    test = [runs[i] for i in order[context:context + queries]]
    heads = [c.head(int(rng.integers(round(0.1 * len(c)), round(0.9 * len(c)))))
             for c in test]
    at = [test[0].steps[-1]]
    base = ensemble(f"taskset/{TASKSET_TASKS[2].split('_imdb_')[-1]}", None,
                    "benchmarks/models/combiner")
    study = StudyForecaster(ctx, base=base)
    t0 = time.perf_counter()
    _ = base.forecast(heads, at).median  # what a user gets: forecast and its median
    t_base = time.perf_counter() - t0
    times = []
    for _ in range(2):  # cold, then warm
        t0 = time.perf_counter()
        _ = study.forecast(heads, at).median
        times.append(time.perf_counter() - t0)
    n = len(heads)
    steps = len({h.steps[-1] for h in heads})
    print(f"{n} forecasts at {steps} different steps seen, {len(ctx)} finished runs in context:")
    print(f"  study cold {n / times[0]:.0f}/s ({times[0]:.1f}s), warm {n / times[1]:.0f}/s; "
          f"per-curve ensemble {n / t_base:.0f}/s")
    print(f"  bar >= 200 forecasts/s (cold): {'PASS' if n / times[0] >= 200 else 'FAIL'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="taskset,nas", help="data-set name prefixes")
    ap.add_argument("--contexts", default="0,10,50,200")
    ap.add_argument("--cutoffs", default="0.1,0.2")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--models", default="benchmarks/models/combiner",
                    help="prefix of the held-out networks, or 'shipped'")
    ap.add_argument("--json", default=None, help="also write every score here")
    ap.add_argument("--speed", action="store_true", help="only the speed check")
    ap.add_argument("--table", nargs="+", default=None, help="print saved JSON as markdown")
    args = ap.parse_args()
    if args.table:
        out = {}
        for path in args.table:
            with open(path) as f:
                out.update(json.load(f))
        print(table(out))
        return
    if args.speed:
        speed()
        return
    models = None if args.models == "shipped" else args.models
    contexts = [int(k) for k in args.contexts.split(",")]
    cutoffs = [float(c) for c in args.cutoffs.split(",")]
    out = {}
    for name, (load, bound) in datasets(set(args.only.split(",")), 0).items():
        t0 = time.time()
        base = ensemble(name, bound, models)
        methods = [StudyForecaster(base=base, bound=bound), base]
        bt = backtest(load(), cutoffs, methods, bound=bound, context=contexts,
                      repeats=args.repeats)
        rows = [r.to_dict() for r in bt.results]
        out[name] = rows
        print(f"{name}: {bt.n_runs} runs, {time.time() - t0:.0f}s", flush=True)
        for r in rows:
            print(f"  {r['method']:8s} K={r['context']:<3d} cut {r['cutoff']} nMAE {r['nmae']:.4g} "
                  f"medAE {r['medae']:.4g} spearman {r['spearman']:.3f} "
                  f"cov80 {r['coverage']['0.8']:.3f} cov90 {r['coverage']['0.9']:.3f} "
                  f"log {r['log_score']:.3f} crps {r['crps']:.4g} {r['seconds']:.1f}s", flush=True)
        print("\n".join(check(rows)), flush=True)
        if args.json:  # after every data set: a long run that stops keeps what it did
            with open(args.json, "w") as f:
                json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
