"""K = 0 calibration of the per-curve network, every source held out (issue 16, bar 4).

Scores ``ensemble`` and ``joint`` at K = 0 (cutoffs 0.1, 0.2, 0.4; the runs
``bench_joint.py`` draws) with, for each source S, ``benchmarks/models/<prefix><S>.npz``:
the network that never saw S with a spread model fitted without S
(``scripts/calibrate_combiner.py``). Rows go to ``--json`` in bench_joint's format;
``--compare BEFORE.json,...`` prints coverage and medAE against earlier files' rows.

    .venv/bin/python benchmarks/bench_calibration.py --json benchmarks/results/calibration_lsd.json
    .venv/bin/python benchmarks/bench_calibration.py --json benchmarks/results/calibration_lsd.json \\
        --compare benchmarks/results/joint.json,benchmarks/results/joint_taskset_lso.json,\\
benchmarks/results/joint_lcdb_lso.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench_joint import CUTOFFS, sources, subsample

from curvecast.evaluate import backtest

PREFIX = "benchmarks/models/combiner_lsd_minus_"
SOURCE = {"taskset": "taskset", "nas": "nasbench_nlp", "cifar": "cifar10_cnn", "lcdb": "lcdb",
          "opda": "opda", "pong": "ppo_pong", "lm": "datablations"}
"""bench_joint's source keys -> calibrate_combiner's source names."""


def run(names: list[str], methods: list[str], runs: int, path: Path, prefix: str) -> None:
    store = json.loads(path.read_text()) if path.exists() else {}
    for name in names:
        load, bound, _, src = sources()[name]
        curves = subsample(load(), runs)
        t0 = time.perf_counter()
        bt = backtest(curves, CUTOFFS, methods, bound=bound, context=0,
                      model=f"{prefix}{SOURCE[src]}.npz")
        store[name] = {"runs": len(curves), "rows": bt.to_dict()["results"]}
        print(f"{name}: {len(curves)} runs in {time.perf_counter() - t0:.0f} s", flush=True)
        path.write_text(json.dumps(store, indent=0))


def compare(after: dict, befores: list[dict], methods: list[str]) -> str:
    """Markdown: K = 0 coverage 80/90 and medAE, before -> after, per source and cutoff."""
    before = {}
    for b in befores:
        before.update(b)
    lines = ["| source | method | cutoff | cov 80/90 before | after | medAE after/before |",
             "|---|---|---:|---:|---:|---:|"]
    for name, entry in after.items():
        old = {(r["method"], r["cutoff"], r["context"]): r
               for r in before.get(name, {}).get("rows", [])}
        for r in entry["rows"]:
            if r["method"] not in methods or r["context"] != 0:
                continue
            o = old.get((r["method"], r["cutoff"], 0))
            c = r["coverage"]
            was = f"{o['coverage']['0.8']:.2f}/{o['coverage']['0.9']:.2f}" if o else "-"
            ratio = f"{r['medae'] / o['medae']:.3f}" if o and o["medae"] > 0 else "-"
            lines.append(f"| {name} | {r['method']} | {r['cutoff']:g} | {was} | "
                         f"{c['0.8']:.2f}/{c['0.9']:.2f} | {ratio} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="comma-separated source name prefixes")
    ap.add_argument("--methods", default="ensemble,joint")
    ap.add_argument("--runs", type=int, default=200, help="runs per TaskSet task at most")
    ap.add_argument("--runs-other", type=int, default=150, help="runs per other source")
    ap.add_argument("--prefix", default=PREFIX)
    ap.add_argument("--json", required=True)
    ap.add_argument("--compare", default=None, help="comma-separated earlier JSON files")
    args = ap.parse_args()
    path = Path(args.json)
    methods = args.methods.split(",")
    if args.compare:
        befores = [json.loads(Path(p).read_text()) for p in args.compare.split(",")]
        print(compare(json.loads(path.read_text()), befores, methods))
        return
    names = [n for n in sources() if not args.only
             or any(n.startswith(p) for p in args.only.split(","))]
    for group, runs in ((["taskset"], args.runs), (None, args.runs_other)):
        pick = [n for n in names if (n.startswith("taskset")) == (group is not None)]
        if pick:
            run(pick, methods, runs, path, args.prefix)


if __name__ == "__main__":
    main()
