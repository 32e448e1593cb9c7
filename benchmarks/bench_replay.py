"""Issue 17's replay benchmark: ForecastPruner against Optuna's pruners and the oracle.

For every shared sweep (the TaskSet tasks, NAS-Bench-NLP, the CIFAR-10 CNN curves, OPDA
ImageNet AlexNet and ConvNeXt, PPO on Pong), each repeat draws 100 recorded runs in a
random order and replays them as an Optuna study per pruner (see
curvecast.evaluate.replay), the oracle included (it completes only the runs that become
new bests). ForecastPruner's per-curve network is the one trained without the data set
replayed (as in bench_backtest.py); OPDA and PPO were never in its training data, so
they get the shipped one. Then issue 17's bars are checked:

1. ForecastPruner's mean normalised regret <= 0.02 and its worst repeat <= 0.10;
2. its compute <= the oracle's + 0.05, and <= 0.6x the compute of every Optuna pruner
   whose mean regret <= 0.02;
3. its median should_prune latency <= 5 ms and p90 <= 25 ms (beside MedianPruner's).

    PYTHONPATH=benchmarks .venv/bin/python benchmarks/bench_replay.py   # everything
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

from bench_backtest import datasets as backtest_datasets
from bench_backtest import ensemble

from curvecast.datasets import load_opda, load_ppo_pong
from curvecast.evaluate.replay import replay
from curvecast.forecasters import LearnedForecaster

PRUNERS = "forecast,oracle,nop,median,percentile25,sha,hyperband,patient"
OPTUNA = ("median", "percentile25", "patient", "hyperband", "sha")
"""Optuna's pruners ForecastPruner must use 0.6x the compute of, where their regret <= 0.02."""
REGRET, WORST, SLACK, RATIO = 0.02, 0.10, 0.05, 0.6
MEDIAN_MS, P90_MS = 5.0, 25.0


def datasets(only: set[str]) -> dict:
    """Name -> (loader, bound): the backtest's sweeps (no LCDB) and OPDA's and PPO's."""
    out = {k: v for k, v in backtest_datasets(None, 0).items() if k != "lcdb"}
    out["opda/alexnet"] = (lambda: load_opda("alexnet"), 1.0)  # accuracy: a known bound
    out["opda/convnext"] = (lambda: load_opda("convnext"), 1.0)
    out["ppo_pong"] = (load_ppo_pong, None)
    return {k: v for k, v in out.items() if any(k.startswith(o) for o in only)}


def per_curve(name: str, bound, models: str | None) -> LearnedForecaster:
    """The network trained without ``name``, where there is one; else the shipped one
    (which never saw OPDA or PPO)."""
    short = name.split("/")[-1]
    if models is not None and not Path(f"{models}_minus_{short}.npz").is_file():
        models = None
    return ensemble(name, bound, models)


def check(rows: list[dict]) -> list[str]:
    """PASS/FAIL of issue 17's bars 1-3 for ForecastPruner on one sweep."""
    at = {r["pruner"]: r for r in rows}
    f = at.get("forecast")
    if f is None:
        return []
    mean, worst = f["regret"]["mean"], f["regret"]["worst"]
    cf = f["compute_fraction"]["mean"]
    oracle = at.get("oracle", {}).get("compute_fraction", {}).get("mean")
    rivals = [p for p in OPTUNA if p in at and at[p]["regret"]["mean"] <= REGRET]
    beaten = [p for p in rivals if cf <= RATIO * at[p]["compute_fraction"]["mean"]]
    lat, p90 = f["latency_ms"], f["latency_p90_ms"]
    ok = [mean <= REGRET and worst <= WORST, oracle is not None and cf <= oracle + SLACK,
          len(beaten) == len(rivals), lat <= MEDIAN_MS and p90 <= P90_MS]
    word = ["PASS" if o else "FAIL" for o in ok]
    med = at.get("median", {}).get("latency_ms")
    return [(f"  1 regret mean {mean:.3f} worst {worst:.3f} {word[0]}; "
            f"2 compute {cf:.3f} vs oracle {oracle if oracle is None else round(oracle, 3)} "
            f"+ {SLACK} {word[1]}, <= {RATIO}x {beaten} of rivals {rivals} {word[2]}; "
            f"3 latency median {lat:.2f} ms p90 {p90:.1f} ms (MedianPruner "
            f"{med if med is None else round(med, 2)} ms) {word[3]}")]


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
            mark = {"forecast": ("*", 90, "C3"), "oracle": ("D", 40, "k")}.get(
                r["pruner"], ("o", 30, "C0"))
            ax.scatter(x, y, marker=mark[0], s=mark[1], color=mark[2], zorder=3)
            ax.annotate(r["pruner"], (x, y), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
        ax.axhline(REGRET, color="grey", lw=0.6, ls="--")
        oracle = [r for r in out[name] if r["pruner"] == "oracle"]
        if oracle:  # bar 2: the oracle's compute + 0.05 of nop's
            ax.axvline(oracle[0]["compute_fraction"]["mean"] + SLACK, color="grey", lw=0.6,
                       ls="--")
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
            "| latency ms (median) | p90 |")
    lines = [head, "|---|---|--:|--:|--:|--:|--:|--:|"]
    for name, rows in out.items():
        for r in rows:
            lines.append(f"| {name} | {r['pruner']} | {r['compute_fraction']['mean']:.3f} "
                         f"| {r['compute_fraction']['worst']:.3f} | {r['regret']['mean']:.3f} "
                         f"| {r['regret']['worst']:.3f} | {_ms(r['latency_ms'])} "
                         f"| {_ms(r['latency_p90_ms'])} |")
    return "\n".join(lines)


def options(text: str) -> dict:
    """``risk=0.02,study_model=study`` as ForecastPruner's keyword arguments."""
    out = {}
    for item in filter(None, text.split(",")):
        key, value = item.split("=", 1)
        try:
            out[key] = float(value) if "." in value or "e" in value else int(value)
        except ValueError:
            out[key] = value
    return out


def choose(grid: dict[str, dict], rivals: dict) -> dict:
    """Leave one sweep out: for each sweep, the setting (a label of ``grid``: label ->
    sweep -> rows with a 'forecast' row) chosen on the other sweeps alone: the one that
    meets bar 1 on most of them, ties broken by the least mean compute on them. Returns
    sweep -> rows (the chosen 'forecast' row, with its 'setting', and the ``rivals``'
    rows of the other pruners)."""
    sweeps = sorted(set.intersection(*(set(g) for g in grid.values())) & set(rivals))

    def row(label, sweep):
        return next(r for r in grid[label][sweep] if r["pruner"] == "forecast")

    def score(label, sweep):
        r = row(label, sweep)
        return (r["regret"]["mean"] <= REGRET and r["regret"]["worst"] <= WORST,
                r["compute_fraction"]["mean"])

    out = {}
    for held in sweeps:
        others = [w for w in sweeps if w != held]
        best = max(grid, key=lambda lab: (sum(score(lab, w)[0] for w in others),
                                          -sum(score(lab, w)[1] for w in others)))
        rest = [r for r in rivals[held] if r["pruner"] != "forecast"]
        out[held] = [{**row(best, held), "setting": best}, *rest]
    return out


def _ms(v) -> str:
    return "-" if v is None else f"{v:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="taskset,nas,cifar,opda,ppo", help="data-set name prefixes")
    ap.add_argument("--pruners", default=PRUNERS)
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--models", default="benchmarks/models/combiner",
                    help="prefix of the held-out networks, or 'shipped'")
    ap.add_argument("--options", default="",
                    help="ForecastPruner's settings, e.g. risk=0.02,growth=1.25,study_model=study")
    ap.add_argument("--json", default=None, help="also write every result here")
    ap.add_argument("--update", default=None,
                    help="merge this run's rows into this JSON file, keeping the rows of "
                         "pruners not run (their replays do not depend on ours)")
    ap.add_argument("--plot", nargs="*", default=None,
                    help="with JSON files: only draw them; else also draw this run")
    ap.add_argument("--figure", default="benchmarks/results/replay.png")
    ap.add_argument("--choose", nargs="*", default=None, metavar="LABEL=FILE",
                    help="with --plot's files as the other pruners' rows: the setting of "
                         "each sweep chosen leave-one-sweep-out among these runs (see choose)")
    args = ap.parse_args()
    if args.plot:
        out = {}
        for p in args.plot:
            for name, rows in json.loads(Path(p).read_text()).items():
                kept = {r["pruner"]: r for r in out.get(name, [])}
                out[name] = list({**kept, **{r["pruner"]: r for r in rows}}.values())
        if args.choose:
            grid = {lab: json.loads(Path(f).read_text()) for lab, f in
                    (c.rsplit("=", 1) for c in args.choose)}
            out = choose(grid, out)
            for name, rows in out.items():
                print(f"{name}: {rows[0]['setting']}")
        plot(out, Path(args.figure))
        print(table(out))
        for name, rows in out.items():
            print(name, *check(rows))
        if args.json:  # the merged results
            Path(args.json).write_text(json.dumps(out, indent=1))
        return
    models = None if args.models == "shipped" else args.models
    kept = Path(args.update) if args.update else None
    out = json.loads(kept.read_text()) if kept and kept.exists() else {}
    for name, (load, bound) in datasets(set(args.only.split(","))).items():
        t0 = time.time()
        runs = list(load())
        res = replay(runs, args.pruners.split(","), trials=args.trials, repeats=args.repeats,
                     forecaster=per_curve(name, bound, models), options=options(args.options))
        run = {r.pruner for r in res}
        kept = [r for r in out.get(name, []) if r["pruner"] not in run]
        out[name] = [r.to_dict() for r in res] + kept
        print(f"{name}: {len(runs)} runs, {time.time() - t0:.0f}s", flush=True)
        for r in out[name]:
            print(f"  {r['pruner']:12s} compute {r['compute_fraction']['mean']:.3f} "
                  f"(worst {r['compute_fraction']['worst']:.3f}) regret {r['regret']['mean']:.3f} "
                  f"(worst {r['regret']['worst']:.3f}) latency {_ms(r['latency_ms'])} ms "
                  f"p90 {_ms(r['latency_p90_ms'])} ms {r['seconds']:.0f}s", flush=True)
        print("\n".join(check(out[name])), flush=True)
        for path in {args.json, args.update} - {None}:
            Path(path).write_text(json.dumps(out, indent=1))
    if args.plot is not None:
        Path(args.figure).parent.mkdir(parents=True, exist_ok=True)
        plot(out, Path(args.figure))


if __name__ == "__main__":
    main()
