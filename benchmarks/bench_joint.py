"""Issue 16's bars 1-4, per source, cutoff and K, for the default and other methods.

Every shared source is backtested with the issue's protocol (cutoffs 0.1, 0.2, 0.4;
K = 0 and K = 50 finished runs in context), every number from a network that never saw
the data set scored: ``benchmarks/models/combiner_minus_<source>.npz`` for the sources
the shipped network was trained on (``_taskset``: no TaskSet task; ``_lcdb_all``: no
LCDB data set), the shipped network for OPDA ImageNet, PPO Pong and the
data-constrained language models (it never saw them). Scores are kept in a JSON file
(``--json``, merged run after run), so a new method is scored without redoing the
families; ``--table`` prints the bars from that file alone.

Bars (issue 16), for each method against the last value in the same run:

1. Spearman(method) - Spearman(last) >= 0.03 at K = 0, >= 0.10 at K = 50 (cutoffs 0.1, 0.2);
2. medAE at K = 0 <= 0.8 x the best of last, mean_last and every family (in hindsight:
   the oracle); at K = 50 <= 0.7 x the method's own K = 0 medAE;
3. nmae_typical and medAE <= the last value's (every cutoff, same K);
4. 80% intervals cover 75-85%, 90% intervals 86-94%.

    .venv/bin/python benchmarks/bench_joint.py --methods ensemble,joint,last,mean_last,families
    .venv/bin/python benchmarks/bench_joint.py --methods joint,last --only opda,ppo
    .venv/bin/python benchmarks/bench_joint.py --table --bars ensemble,joint
    .venv/bin/python benchmarks/bench_joint.py --compare joint,ensemble
    .venv/bin/python benchmarks/bench_joint.py --speed joint

('default' is now 'joint'; the ensemble, the default before it, is scored by its name.)
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from curvecast.datasets import (
    TASKSET_TASKS,
    load_cifar10_cnn,
    load_datablations,
    load_lcdb,
    load_nasbench_nlp,
    load_opda,
    load_ppo_pong,
    load_taskset,
)
from curvecast.evaluate import backtest
from curvecast.families import FAMILIES

CUTOFFS = (0.1, 0.2, 0.4)
CONTEXTS = (0, 50)
RESULTS = Path("benchmarks/results/joint.json")
MODELS = "benchmarks/models/combiner_minus_{}.npz"
DIRECT = "benchmarks/models/direct_minus_{}.npz"
"""The direct network trained without any run of the source (``--methods direct``)."""
DIRECT_SOURCE = {"taskset": "taskset", "nas": "nasbench_nlp", "cifar": "cifar10_cnn",
                 "lcdb": "lcdb", "opda": "opda", "pong": "ppo_pong", "lm": "datablations"}
BASELINES = ("last", "mean_last", *FAMILIES)
"""What bar 2 compares with: the best of these, picked in hindsight per cutoff."""
PER_CURVE = (*BASELINES[1:], "direct")
"""Scored at K = 0 only: they answer the same at K = 50, on 50 fewer runs (the last value
is scored at every K: bar 3 compares with it on the same runs)."""


def sources() -> dict:
    """Name -> (loader, bound, held-out network or None for the shipped one, source)."""
    out = {}
    for task in TASKSET_TASKS:
        short = task.removeprefix("FixedTextRNNClassification_imdb_")
        # strictly leave-source-out: the network never saw any TaskSet task
        out[f"taskset/{short}"] = (lambda task=task: load_taskset(task), None,
                                   MODELS.format("taskset"), "taskset")
    out["nasbench_nlp"] = (load_nasbench_nlp, None, MODELS.format("nasbench_nlp"), "nas")
    out["cifar10_cnn"] = (load_cifar10_cnn, None, MODELS.format("cifar10_cnn"), "cifar")
    out["lcdb"] = (lambda: load_lcdb(max_datasets=50, seed=0), 1.0, MODELS.format("lcdb_all"),
                   "lcdb")
    out["opda/alexnet"] = (lambda: load_opda("alexnet"), 1.0, None, "opda")
    out["opda/convnext"] = (lambda: load_opda("convnext"), 1.0, None, "opda")
    out["ppo_pong"] = (load_ppo_pong, None, None, "pong")
    out["datablations"] = (load_datablations, None, None, "lm")
    return out


def subsample(curves, n: int) -> list:
    """At most n runs, drawn at random (seed 0), in their file order."""
    curves = list(curves)
    if len(curves) <= n:
        return curves
    pick = np.sort(np.random.default_rng(0).choice(len(curves), n, replace=False))
    return [curves[i] for i in pick]


def run(names: list[str], methods: list[str], runs: int, repeats: int, path: Path,
        ks: tuple = CONTEXTS) -> None:
    """Backtest ``methods`` on each source and merge the rows into the JSON ``path``
    (at the numbers of finished runs ``ks``)."""
    store = json.loads(path.read_text()) if path.exists() else {}
    for name in names:
        load, bound, model, src = sources()[name]
        curves = subsample(load(), runs)
        contexts = [k for k in ks if k < len(curves) // 2]
        t0 = time.perf_counter()
        rows = []
        # methods that cannot learn from a study score only K = 0 (at K = 50 they
        # answer the same, on 50 fewer runs)
        for ks_, ms in ((contexts, [m for m in methods if m not in PER_CURVE]),
                        ([0], [m for m in methods if m in PER_CURVE])):
            if ms and ks_:
                ms = [_direct(src, bound) if m == "direct" else m for m in ms]
                bt = backtest(curves, CUTOFFS, ms, bound=bound, context=ks_, repeats=repeats,
                              model=model)
                rows += bt.to_dict()["results"]
        entry = store.setdefault(name, {"runs": len(curves), "rows": []})
        done = {(r["method"], r["cutoff"], r["context"]) for r in rows}
        entry["rows"] = [r for r in entry["rows"]
                         if (r["method"], r["cutoff"], r["context"]) not in done] + rows
        entry["runs"] = len(curves)
        print(f"{name}: {len(curves)} runs, {', '.join(methods)} in "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(store, indent=0))


def _direct(src: str, bound):
    """The direct forecaster with the network that never saw source ``src``."""
    from curvecast.forecasters.direct import DirectForecaster

    return DirectForecaster(DIRECT.format(DIRECT_SOURCE[src]), bound=bound)


def bars(entry: dict, method: str) -> list[dict]:
    """One dict per (cutoff, K): the method's bars 1-4 against the last value."""
    at = {(r["method"], r["cutoff"], r["context"]): r for r in entry["rows"]}
    out = []
    for cut in CUTOFFS:
        for k in CONTEXTS:
            me, last = at.get((method, cut, k)), at.get(("last", cut, k))
            if me is None or last is None:
                continue
            base = [at[(m, cut, 0)] for m in BASELINES if (m, cut, 0) in at]
            oracle = min(base, key=lambda r: r["medae"]) if base else None
            zero = at.get((method, cut, 0))
            d_rho = me["spearman"] - last["spearman"]
            if k == 0:
                ratio2 = me["medae"] / oracle["medae"] if oracle and oracle["medae"] > 0 else np.nan
                ok2 = ratio2 <= 0.8
            else:
                ratio2 = me["medae"] / zero["medae"] if zero and zero["medae"] > 0 else np.nan
                ok2 = ratio2 <= 0.7
            r_typ = _ratio(me["nmae_typical"], last["nmae_typical"])
            r_med = _ratio(me["medae"], last["medae"])
            c80, c90 = me["coverage"]["0.8"], me["coverage"]["0.9"]
            out.append({
                "cutoff": cut, "K": k, "n": me["n_runs"], "d_spearman": d_rho,
                "bar1": (d_rho >= (0.03 if k == 0 else 0.10)) if cut <= 0.2 else None,
                "medae_ratio": ratio2, "oracle": oracle["method"] if oracle else "-",
                "bar2": bool(ok2),
                "typ_vs_last": r_typ, "med_vs_last": r_med,
                "bar3": bool(r_typ <= 1.0 + 1e-9 and (r_med <= 1.0 + 1e-9 or me["medae"] == 0)),
                "cov80": c80, "cov90": c90,
                "bar4": bool(0.75 <= c80 <= 0.85 and 0.86 <= c90 <= 0.94),
            })
    return out


def _ratio(a: float, b: float) -> float:
    if b > 0:
        return a / b
    return 1.0 if a == b else float("inf")


def _mark(ok) -> str:
    return "-" if ok is None else ("pass" if ok else "FAIL")


def table(store: dict, methods: list[str]) -> str:
    """The bars as a markdown table, one row per source, cutoff, K and method."""
    lines = [("| source | runs | method | cutoff | K | dSpearman (1) | medAE ratio (2) [oracle] | "
             "typ/med vs last (3) | cov 80/90 (4) | bars passed |"),
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---|"]
    tally: dict[str, list[int]] = {}
    for name, entry in store.items():
        for method in methods:
            for b in bars(entry, method):
                marks = [b["bar1"], b["bar2"], b["bar3"], b["bar4"]]
                got = [i + 1 for i, m in enumerate(marks) if m]
                miss = [i + 1 for i, m in enumerate(marks) if m is False]
                t = tally.setdefault(method, [0, 0])
                t[0] += len(got)
                t[1] += len(got) + len(miss)
                oracle = f" [{b['oracle']}]" if b["K"] == 0 else " [own K=0]"
                lines.append(
                    f"| {name} | {entry['runs']} | {method} | {b['cutoff']:g} | {b['K']} | "
                    f"{b['d_spearman']:+.3f} {_mark(b['bar1'])} | {b['medae_ratio']:.2f}"
                    f"{oracle} {_mark(b['bar2'])} | {b['typ_vs_last']:.2f}/{b['med_vs_last']:.2f} "
                    f"{_mark(b['bar3'])} | {b['cov80']:.2f}/{b['cov90']:.2f} {_mark(b['bar4'])} | "
                    f"{','.join(map(str, got)) or 'none'} |")
    lines.append("")
    lines += [f"{m}: {t[0]} of {t[1]} bar checks pass" for m, t in tally.items()]
    return "\n".join(lines)


def _child_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes: on a shared machine
    the wall time measures the neighbours as much as the code."""
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def speed(method: str, context: int = 500, queries: int = 1000, seed: int = 0) -> list[str]:
    """Bar 6: curves/s with no context (whole process, the command line), forecasts/s
    with ``context`` finished runs, and the time to forecast one run again after it got
    one more point, against the per-curve default in the same run."""
    import subprocess
    import sys
    import tempfile

    from curvecast.api import make_forecaster
    from curvecast.io import write_long

    task = TASKSET_TASKS[2]
    runs = [c for c in load_taskset(task) if c.status == "ok"]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(runs))
    ctx = [runs[i] for i in order[:context]]
    test = [runs[order[(context + i) % len(runs)]] for i in range(queries)]
    heads = [c.head(int(rng.integers(round(0.1 * len(c)), round(0.9 * len(c))))) for c in test]
    at = [test[0].steps[-1]]
    model = MODELS.format(task.removeprefix("FixedTextRNNClassification_imdb_"))
    lines = []
    with tempfile.TemporaryDirectory() as tmp:  # no context: the whole process
        path = f"{tmp}/heads.csv"
        write_long([c.head(round(0.2 * len(c))) for c in runs[:1000]], path)
        for m in ("ensemble", method):
            t0, c0 = time.perf_counter(), _child_cpu()
            subprocess.run([sys.executable, "-m", "curvecast", "forecast", path, "--method", m,
                            "--at", str(at[0]), "--json"], check=True, capture_output=True)
            dt, cpu = time.perf_counter() - t0, _child_cpu() - c0
            lines.append(f"no context, whole process, {m}: {1000 / dt:.0f} curves/s "
                         f"({dt:.2f} s wall for 1,000; {cpu:.2f} s CPU: "
                         f"{1000 / cpu:.0f} curves per CPU second)")
            print(lines[-1], flush=True)
    out = {}
    for m in ("ensemble", method):
        f = make_forecaster(m, model=model).fit(ctx)
        t0, c0 = time.perf_counter(), time.process_time()
        _ = f.forecast(heads, at).median
        cold, cold_cpu = time.perf_counter() - t0, time.process_time() - c0
        t0 = time.perf_counter()
        _ = f.forecast(heads, at).median
        warm = time.perf_counter() - t0
        # one run gets one more point: forecast it again, alone (the pruner's call);
        # warm: other runs were forecast from that step already (cached model)
        one = []
        for c in test[:40]:
            k = round(0.3 * len(c))
            f.forecast([c.head(k)], at)
            t0 = time.perf_counter()
            _ = f.forecast([c.head(k + 1)], at).median
            one.append(time.perf_counter() - t0)
        out[m] = (cold, warm, float(np.median(one)))
        n = len(heads)
        lines.append(f"{m}, {context} finished runs in context, {n} runs at "
                     f"{len({h.steps[-1] for h in heads})} steps: cold {n / cold:.0f}/s "
                     f"({n / cold_cpu:.0f} per CPU second), "
                     f"warm {n / warm:.0f}/s; one more point, forecast again: median "
                     f"{1e3 * out[m][2]:.1f} ms")
        print(lines[-1], flush=True)
    lines.append(f"ratio {method} / per-curve ensemble, forecasts/s cold: "
                 f"{out['ensemble'][0] / out[method][0]:.2f}x")
    return lines


def compare(store: dict, a: str, b: str, k: int = 50) -> str:
    """Per source at K = ``k`` (``--k``, default 50): a's medAE, nmae_typical and Spearman against b's (ratios,
    differences) and both 80% coverages, cutoff by cutoff."""
    lines = [(f"| source | cutoff | medAE {a}/{b} | nMAE typical {a}/{b} | Spearman {a}-{b} | "
             f"cov 80 {a} / {b} |"), "|---|---:|---:|---:|---:|---:|"]
    for name, entry in store.items():
        at = {(r["method"], r["cutoff"], r["context"]): r for r in entry["rows"]}
        for cut in CUTOFFS:
            ra, rb = at.get((a, cut, k)), at.get((b, cut, k))
            if ra is None or rb is None:
                continue
            lines.append(f"| {name} | {cut:g} | {_ratio(ra['medae'], rb['medae']):.2f} | "
                         f"{_ratio(ra['nmae_typical'], rb['nmae_typical']):.2f} | "
                         f"{ra['spearman'] - rb['spearman']:+.3f} | "
                         f"{ra['coverage']['0.8']:.2f} / {rb['coverage']['0.8']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="comma-separated source name prefixes")
    ap.add_argument("--methods", default="ensemble,joint,last,mean_last,families",
                    help="methods to score ('families': every family alone)")
    ap.add_argument("--runs", type=int, default=200, help="runs per data set at most")
    ap.add_argument("--repeats", type=int, default=2, help="random K = 50 splits")
    ap.add_argument("--contexts", default="0,50",
                    help="numbers of finished runs to score (a subset of 0,50)")
    ap.add_argument("--table", action="store_true", help="only print the bars from --json")
    ap.add_argument("--bars", default="ensemble,joint", help="methods whose bars are printed")
    ap.add_argument("--json", default=str(RESULTS))
    ap.add_argument("--compare", default=None, metavar="A,B",
                    help="only print A against B at K = 50 from --json")
    ap.add_argument("--k", type=int, default=50, help="K of --compare")
    ap.add_argument("--speed", default=None, metavar="METHOD",
                    help="only bar 6 (speed) for METHOD")
    args = ap.parse_args()
    path = Path(args.json)
    if args.compare:
        print(compare(json.loads(path.read_text()), *args.compare.split(","), k=args.k))
        return
    if args.speed:
        print(speed(args.speed)[-1])
        return
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if not args.table:
        methods = []
        for m in args.methods.split(","):
            methods += list(FAMILIES) if m == "families" else [m]
        only = [o for o in args.only.split(",") if o]
        names = [n for n in sources() if not only or any(n.startswith(o) for o in only)]
        ks = tuple(int(k) for k in args.contexts.split(","))
        run(names, methods, args.runs, args.repeats, path, ks)
    print(table(json.loads(path.read_text()), args.bars.split(",")))


if __name__ == "__main__":
    main()
