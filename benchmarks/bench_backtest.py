"""Issue 3's backtest on the real data sets, with its bars checked.

For every data set (each TaskSet task, NAS-Bench-NLP, the CIFAR-10 CNN curves, and a
sample of LCDB 1.0 data sets with all 20 learners) and every cutoff, forecast the final
value of every complete run with the ensemble, the last value, the mean of the last 3
and every family fitted alone, and score them (see curvecast.evaluate). Then check:

* at each cutoff >= 0.2: the ensemble's MAE at least 20% below the best other method;
* at each cutoff >= 0.2: 80% intervals cover 75-85%, 90% intervals 86-94%;
* with --mcmc-runs N > 0: log score and CRPS of the ensemble vs the MCMC reference on N
  runs per data set, and the speed ratio.

The ensemble's network is, by default, the one trained without the data set scored
(``benchmarks/models/combiner_minus_<data set>.npz``, written by
``scripts/train_combiner.py``): the shipped network has seen these data sets, so scoring
it here would be scoring it on its training data. ``--models shipped`` does that anyway.
``bma``, the tempered-BIC average the network replaced, is scored alongside.

    .venv/bin/python benchmarks/bench_backtest.py                      # everything
    .venv/bin/python benchmarks/bench_backtest.py --only nas,cifar --cutoffs 0.2,0.4
    .venv/bin/python benchmarks/bench_backtest.py --json results.json  # also write all scores
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from curvecast.curve import CurveSet
from curvecast.datasets import (
    TASKSET_TASKS,
    load_cifar10_cnn,
    load_lcdb,
    load_nasbench_nlp,
    load_taskset,
)
from curvecast.evaluate import backtest
from curvecast.evaluate.backtest import cut_point
from curvecast.families import FAMILIES
from curvecast.forecasters import LearnedForecaster

OTHERS = ["last", "mean_last", *FAMILIES]
"""The methods the ensemble must beat (issue 3): baselines and every family alone."""
OURS = ("ensemble", "bma")
"""Our own: the learned ensemble, and the BIC-weighted average it replaced (for reference)."""


def ensemble(name: str, bound, models: str | None) -> LearnedForecaster:
    """The learned ensemble; with ``models``, the one trained without this data set."""
    if models is None:
        return LearnedForecaster(bound=bound)
    short = name.split("/")[-1]
    return LearnedForecaster(model=f"{models}_minus_{short}.npz", bound=bound)


def datasets(only: set[str] | None, lcdb_sets: int) -> dict:
    """Name -> (loader, bound): loaded lazily, one at a time."""
    out = {}
    for task in TASKSET_TASKS:
        out[f"taskset/{task.removeprefix('FixedTextRNNClassification_imdb_')}"] = (
            lambda task=task: load_taskset(task), None)
    out["nasbench_nlp"] = (load_nasbench_nlp, None)
    out["cifar10_cnn"] = (load_cifar10_cnn, None)
    # accuracy never exceeds 1: a known bound, not a guess
    out["lcdb"] = (lambda: load_lcdb(max_datasets=lcdb_sets, seed=0), 1.0)
    if only:
        out = {k: v for k, v in out.items() if any(k.startswith(o) for o in only)}
    return out


def check_bars(rows: list[dict]) -> list[str]:
    """PASS/FAIL lines for the accuracy and calibration bars of one data set."""
    lines = []
    for cut in sorted({r["cutoff"] for r in rows}):
        if cut < 0.2:
            continue
        at = {r["method"]: r for r in rows if r["cutoff"] == cut}
        ens = at["ensemble"]
        best_name, best = min(((m, r["mae"]) for m, r in at.items() if m not in OURS),
                              key=lambda p: p[1])
        ratio = ens["mae"] / best if best > 0 else float("inf")
        cov80, cov90 = ens["coverage"]["0.8"], ens["coverage"]["0.9"]
        ok_mae = ratio <= 0.8
        ok_cov = 0.75 <= cov80 <= 0.85 and 0.86 <= cov90 <= 0.94
        lines.append(
            f"cutoff {cut:g}: MAE {'PASS' if ok_mae else 'FAIL'} (ensemble / best other "
            f"[{best_name}] = {ratio:.3f}, bar <= 0.8); coverage {'PASS' if ok_cov else 'FAIL'} "
            f"(80%: {cov80:.3f}, 90%: {cov90:.3f})"
        )
    return lines


def forecast_seconds(method, curves: list, cutoff: float) -> float:
    """Seconds per curve of ``forecast`` alone (no scoring), every run's head at once,
    at every step of the runs (as the backtest asks)."""
    heads = [c.head(cut_point(c, cutoff)) for c in curves]
    grid = np.unique(np.concatenate([c.steps for c in curves]))
    t0 = time.perf_counter()
    method.forecast(heads, grid)
    return (time.perf_counter() - t0) / len(curves)


def mcmc_check(curves, bound, cutoffs, n_runs: int, ens) -> list[str]:
    """Ensemble vs the MCMC reference on a random subsample of complete runs.

    Quality is compared on the subsample. Speed per curve: the MCMC's time in that
    backtest (scoring is nothing next to sampling) against the ensemble's ``forecast``
    alone on all complete runs (on 20 curves its time would be all fixed overhead).
    """
    full = [c for c in curves if c.status == "ok"]
    rng = np.random.default_rng(0)
    pick = CurveSet([full[i] for i in sorted(rng.choice(len(full), min(n_runs, len(full)),
                                                       replace=False))])
    bt = backtest(pick, [c for c in cutoffs if c >= 0.2], [ens, "mcmc"], bound=bound)
    lines = []
    for cut in sorted({r.cutoff for r in bt.results}):
        e, m = (next(r for r in bt.results if r.cutoff == cut and r.method == k)
                for k in ("ensemble", "mcmc"))
        ok = e.log_score >= m.log_score and e.crps <= m.crps
        speed = (m.seconds / m.n_runs) / max(forecast_seconds(ens, full, cut), 1e-12)
        lines.append(
            f"cutoff {cut:g} vs MCMC on {len(pick)} runs: {'PASS' if ok else 'FAIL'} "
            f"(log score {e.log_score:.3f} vs {m.log_score:.3f}; CRPS {e.crps:.4g} vs "
            f"{m.crps:.4g}); {'PASS' if speed >= 1000 else 'FAIL'} speed {speed:.0f}x per curve"
        )
    return lines


def table(rows: list[dict]) -> str:
    head = ("| method | cutoff | MAE | nMAE | medAE | log score | CRPS | cov 50 | cov 80 | "
            "cov 90 | Spearman | failures | s |\n|---|---:|---:|---:|---:|---:|---:|---:|"
            "---:|---:|---:|---:|---:|")
    body = [
        f"| {r['method']} | {r['cutoff']:g} | {r['mae']:.4g} | {r['nmae']:.3f} | "
        f"{r['medae']:.4g} | {r['log_score']:.3f} | {r['crps']:.4g} | "
        f"{r['coverage']['0.5']:.2f} | {r['coverage']['0.8']:.2f} | {r['coverage']['0.9']:.2f} | "
        f"{r['spearman']:.3f} | {r['failures']} | {r['seconds']:.2f} |"
        for r in rows
    ]
    return "\n".join([head, *body])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="comma-separated data set prefixes")
    ap.add_argument("--cutoffs", default="0.1,0.2,0.4,0.6,0.8")
    ap.add_argument("--lcdb-datasets", type=int, default=50)
    ap.add_argument("--mcmc-runs", type=int, default=0,
                    help="runs per data set for the MCMC comparison (0: skip)")
    ap.add_argument("--tables", action="store_true", help="print every method's scores")
    ap.add_argument("--json", default=None, help="write all scores to this file")
    ap.add_argument("--models", default="benchmarks/models/combiner",
                    help="prefix of the models trained without each data set "
                         "(scripts/train_combiner.py); 'shipped' for the shipped model")
    args = ap.parse_args()
    cutoffs = [float(c) for c in args.cutoffs.split(",")]
    if args.models == "shipped":
        args.models = None
    only = {o for o in args.only.split(",") if o} or None
    everything = {}
    for name, (load, bound) in datasets(only, args.lcdb_datasets).items():
        t0 = time.perf_counter()
        curves = load()
        ens = ensemble(name, bound, args.models)
        bt = backtest(curves, cutoffs, [ens, "bma", *OTHERS], bound=bound)
        rows = bt.to_dict()["results"]
        everything[name] = bt.to_dict()
        print(f"\n### {name}: {bt.n_runs} complete runs, {bt.excluded} excluded "
              f"({time.perf_counter() - t0:.0f} s)\n")
        if args.tables:
            print(table(rows) + "\n")
        else:
            print(table([r for r in rows if r["method"] in ("ensemble", "bma", "last", "mean_last")]))
            print()
        for line in check_bars(rows):
            print(f"- {line}")
        if args.mcmc_runs:
            for line in mcmc_check(curves, bound, cutoffs, args.mcmc_runs, ens):
                print(f"- {line}")
    print("\n### Summary: the ensemble against the best other method, per data set\n")
    print(summary(everything))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(everything, fh, indent=1)


def summary(everything: dict) -> str:
    """One row per (data set, cutoff): MAE ratio to the best other method and coverage."""
    lines = [("| data set | cutoff | ensemble nMAE | best other | its nMAE | ratio | bma ratio | "
              "cov 80 | cov 90 | log score | CRPS |"),
             "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, bt in everything.items():
        rows = bt["results"]
        for cut in sorted({r["cutoff"] for r in rows}):
            at = {r["method"]: r for r in rows if r["cutoff"] == cut}
            e = at["ensemble"]
            best = min((r for m, r in at.items() if m not in OURS), key=lambda r: r["mae"])
            ratio = e["mae"] / best["mae"] if best["mae"] > 0 else float("inf")
            bma = at["bma"]["mae"] / best["mae"] if best["mae"] > 0 else float("inf")
            lines.append(
                f"| {name} | {cut:g} | {e['nmae']:.4g} | {best['method']} | {best['nmae']:.4g} | "
                f"{ratio:.3f} | {bma:.3f} | {e['coverage']['0.8']:.3f} | {e['coverage']['0.9']:.3f} | "
                f"{e['log_score']:.3f} | {e['crps']:.4g} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
