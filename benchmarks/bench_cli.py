"""The command line's start-up, the cost of ``--target`` and the peak memory of
``curvecast forecast`` (issue 15, bar 3), each against a baseline measured in the same run.

Run from the repository root (about 5 minutes on a 2-core machine)::

    .venv/bin/python benchmarks/bench_cli.py
    .venv/bin/python benchmarks/bench_cli.py --only startup,target --json

What is measured, every command run as a user runs it (the ``curvecast`` entry point of
the interpreter's environment, in a fresh process):

* **startup**: ``curvecast --help`` and every subcommand's ``--help`` (found by walking the
  click groups), the median wall time of ``--repeats`` runs each, beside the median of
  ``python -c pass`` (the interpreter's own start-up, the floor). Bar: at most 0.3 s.
* **target**: ``curvecast forecast FILE --json`` against the same with ``--target T --prob
  0.8`` on real sweeps caught mid-flight: every run of NAS-Bench-NLP (345 runs, target 5.0
  as in the issue) and of one TaskSet task (1,000 runs, target the 25% quantile of their
  finals) cut at a random epoch (seed 0), exported by ``curvecast datasets export``. The
  two commands alternate, median of ``--target-repeats``. Bar: ratio at most 1.5.
* **memory**: the peak resident memory (``os.wait4``'s ``ru_maxrss`` of that one process)
  of ``curvecast forecast FILE --json`` on two synthetic sweeps of realistic loss curves
  (``a + b * step ** -c`` plus noise, values to 5 digits), 100,000 runs x 10 points and
  100 runs x 100,000 points, beside the size of the file. Bar: at most 20x the file.

The exit code is 1 when a bar fails; PASS/FAIL lines go to stderr (stdout stays JSON with
``--json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HELP_BAR_S = 0.3
TARGET_BAR = 1.5
MEMORY_BAR = 20.0
BIN = Path(sys.executable).parent / "curvecast"


def _wall(cmd: list[str], stdout=subprocess.DEVNULL) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, stdout=stdout, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


def _subcommands() -> list[list[str]]:
    """Every command path below ``curvecast`` (groups and their commands)."""
    import click

    from curvecast.cli import cli

    out: list[list[str]] = []

    def walk(group: click.Group, path: list[str]) -> None:
        for name in sorted(group.commands):
            sub = group.commands[name]
            out.append(path + [name])
            if isinstance(sub, click.Group):
                walk(sub, path + [name])

    walk(cli, [])
    return out


def bench_startup(repeats: int) -> dict:
    base = statistics.median(_wall([sys.executable, "-c", "pass"]) for _ in range(repeats))
    rows = []
    for path in [[]] + _subcommands():
        cmd = [str(BIN), *path, "--help"]
        _wall(cmd)  # warm the file cache
        t = statistics.median(_wall(cmd) for _ in range(repeats))
        rows.append({"command": " ".join(["curvecast", *path, "--help"]), "seconds": t,
                     "ratio": t / base})
    worst = max(r["seconds"] for r in rows)
    return {"python_c_pass_s": base, "commands": rows, "worst_s": worst,
            "pass": worst <= HELP_BAR_S}


def _cut_sweep(name: str, folder: Path, seed: int = 0) -> Path:
    """Data set ``name`` exported, then each run cut at a random epoch (3 points or more)."""
    from curvecast.curve import CurveSet
    from curvecast.io import read_curves, write_long

    full = folder / f"{name}.csv"
    subprocess.run([str(BIN), "datasets", "export", name, "-o", str(full)], check=True,
                   stdout=subprocess.DEVNULL)
    rng = np.random.default_rng(seed)
    curves = read_curves(full)
    cut = CurveSet([c.head(int(rng.integers(min(3, len(c)), len(c) + 1))) for c in curves])
    path = folder / f"{name}-cut.csv"
    write_long(cut, path)
    return path


def _finals_quantile(path: Path, q: float) -> float:
    from curvecast.io import read_curves
    return float(np.nanquantile([c.values[-1] for c in read_curves(path)], q))


def bench_target(repeats: int, folder: Path) -> dict:
    sweeps = [("nasbench-nlp", 5.0),
              ("taskset-imdb_patch32_GRU128_bs128", None)]
    out = []
    for name, target in sweeps:
        full_target = target
        path = _cut_sweep(name, folder)
        if full_target is None:
            full_target = _finals_quantile(folder / f"{name}.csv", 0.25)
        plain = [str(BIN), "forecast", str(path), "--json"]
        with_t = plain + ["--target", f"{full_target:.6g}", "--prob", "0.8"]
        _wall(plain)
        a, b = [], []
        for _ in range(repeats):
            a.append(_wall(plain))
            b.append(_wall(with_t))
        rows = json.loads(subprocess.run(with_t, capture_output=True, text=True,
                                         check=True).stdout)["runs"]
        out.append({"sweep": name, "runs": len(rows), "target": float(f"{full_target:.6g}"),
                    "with_eta": sum(r["eta"] is not None for r in rows),
                    "plain_s": statistics.median(a), "target_s": statistics.median(b),
                    "ratio": statistics.median(b) / statistics.median(a),
                    "command": " ".join(with_t[1:]).replace(str(folder), "$DIR")})
    return {"sweeps": out, "pass": all(r["ratio"] <= TARGET_BAR for r in out)}


def write_sweep(path: Path, runs: int, points: int, seed: int = 0) -> None:
    """A long CSV of ``runs`` loss curves of ``points`` steps each (1, 2, ...)."""
    rng = np.random.default_rng(seed)
    step = np.arange(1, points + 1)
    per = max(1, 200_000 // points)
    with open(path, "w") as f:
        f.write("run,step,value\n")
        for s in range(0, runs, per):
            k = min(per, runs - s)
            a, b, c = (rng.uniform(lo, hi, (k, 1)) for lo, hi in ((0.1, 2), (0.5, 3), (0.2, 1)))
            y = a + b * step[None, :] ** -c + rng.normal(0, 0.01, (k, points))
            names = np.repeat([f"r{i}" for i in range(s, s + k)], points)
            f.write("".join(f"{n},{x},{v:.5g}\n"
                            for n, x, v in zip(names, np.tile(step, k), y.ravel())))


def peak_rss(cmd: list[str], stdout) -> tuple[float, float, int]:
    """(peak resident MB, seconds, exit code) of one run of ``cmd``, that process alone."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace").strip()
    proc.stderr.close()
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {err[-500:]}")
    return usage.ru_maxrss / 1024, time.perf_counter() - t, proc.returncode


def bench_memory(folder: Path, shapes) -> dict:
    out = []
    for runs, points in shapes:
        path = folder / f"sweep-{runs}x{points}.csv"
        write_sweep(path, runs, points)
        size = path.stat().st_size / 2**20
        for extra in (["--json"],):
            with open(folder / "out.json", "w") as sink:
                mb, secs, _ = peak_rss([str(BIN), "forecast", str(path), *extra], sink)
            out.append({"runs": runs, "points": points, "file_mb": size, "peak_rss_mb": mb,
                        "ratio": mb / size, "seconds": secs,
                        "command": f"curvecast forecast FILE {' '.join(extra)}"})
        path.unlink()
    return {"shapes": out, "pass": all(r["ratio"] <= MEMORY_BAR for r in out)}


def _print(res: dict) -> None:
    if "startup" in res:
        s = res["startup"]
        print(f"python -c pass: {s['python_c_pass_s']:.3f} s (median)")
        print(f"{'command':<44} {'seconds':>8} {'x pass':>7}")
        for r in s["commands"]:
            print(f"{r['command']:<44} {r['seconds']:8.3f} {r['ratio']:7.2f}")
    if "target" in res:
        print(f"\n{'sweep':<36} {'runs':>5} {'target':>8} {'etas':>5} {'plain s':>8} "
              f"{'target s':>9} {'ratio':>6}")
        for r in res["target"]["sweeps"]:
            print(f"{r['sweep']:<36} {r['runs']:5d} {r['target']:8.4g} {r['with_eta']:5d} "
                  f"{r['plain_s']:8.2f} {r['target_s']:9.2f} {r['ratio']:6.2f}")
    if "memory" in res:
        print(f"\n{'shape':<20} {'file MB':>8} {'peak RSS MB':>12} {'ratio':>6} {'seconds':>8}")
        for r in res["memory"]["shapes"]:
            print(f"{r['runs']:,} x {r['points']:,}".ljust(20) +
                  f" {r['file_mb']:8.1f} {r['peak_rss_mb']:12.0f} {r['ratio']:6.1f} "
                  f"{r['seconds']:8.1f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default="startup,target,memory",
                    help="comma-separated parts to run: startup, target, memory")
    ap.add_argument("--repeats", type=int, default=7, help="runs of each --help")
    ap.add_argument("--target-repeats", type=int, default=3, help="runs of each forecast")
    ap.add_argument("--json", action="store_true", help="print JSON")
    args = ap.parse_args(argv)
    parts = {p.strip() for p in args.only.split(",") if p.strip()}
    res: dict = {"machine": f"{platform.processor() or platform.machine()}, "
                            f"{os.cpu_count()} cores, Python {platform.python_version()}",
                 "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"],
                                          check=False, capture_output=True,
                                          text=True).stdout.strip()}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if "startup" in parts:
            res["startup"] = bench_startup(args.repeats)
        if "target" in parts:
            res["target"] = bench_target(args.target_repeats, folder)
        if "memory" in parts:
            res["memory"] = bench_memory(folder, [(100_000, 10), (100, 100_000)])
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        _print(res)
    bars = {"startup": (HELP_BAR_S, "s worst --help"), "target": (TARGET_BAR, "x"),
            "memory": (MEMORY_BAR, "x the file")}
    ok = True
    for part in ("startup", "target", "memory"):
        if part in res:
            passed = res[part]["pass"]
            ok &= passed
            print(f"{'PASS' if passed else 'FAIL'} {part} (bar {bars[part][0]} "
                  f"{bars[part][1]})", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
