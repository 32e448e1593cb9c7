"""Retraining (issue 19): speed of the live loop, and the bars on Jena 2020 and NOAA WTH.

    .venv/bin/python benchmarks/bench_retrain.py            # everything (about an hour)
    .venv/bin/python benchmarks/bench_retrain.py --speed    # the two timings only
    .venv/bin/python benchmarks/bench_retrain.py --sets wth --models ridge
    .venv/bin/python benchmarks/bench_retrain.py --windows  # default's window, LOSO
    .venv/bin/python benchmarks/bench_retrain.py --early 120  # the windows on 120 days only
    .venv/bin/python benchmarks/bench_retrain.py --start 1.0 --models ridge  # default from 30 d

For each data set, target and model: every policy's error ratio and compute fraction
against ``fixed``, the ``fixed@k`` ladder's error at the policy's compute (interpolated
in log compute), error x compute, and the bars; a figure per data set (error ratio
against compute fraction, the ladder drawn as a line) in
benchmarks/results/retrain_SET_MODELS.png; the rows in benchmarks/results/retrain_MODELS.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from curvecast.datasets import load_jena2020, load_noaa_wth
from curvecast.retrain import cost, ladder_error_at, parse_duration, run_retrain, simulate
from curvecast.retrain.cost import WINDOWS
from curvecast.retrain.features import build_features
from curvecast.retrain.policies import Policy

RESULTS = Path(__file__).parent / "results"
POLICIES = ["never", "adwin", "page_hinkley", "window", "oracle", "default", "default+window"]
SETS = {  # (loader, targets, every, horizon): the settings
    "jena": (load_jena2020, ["T (degC)", "wv (m/s)"], "1h", "6h"),
    "wth": (load_noaa_wth, ["DryBulbCelsius", "WindSpeed", "RelativeHumidity"], "6h", "6h"),
}


def speed() -> list[str]:
    s = load_jena2020(["T (degC)"])
    lines = []
    for model, every in (("ridge", "1h"), ("gbm", "6h")):
        t0 = time.perf_counter()
        run_retrain(s, targets=["T (degC)"], every=every, horizon="6h", models=[model],
                    policies=["fixed"], ladder=False, traces=False)
        lines.append(f"| {model} | Jena 2020, {len(s):,} rows, 10-minute | {every} | fixed | "
                     f"{time.perf_counter() - t0:.1f} s |")
    return lines


def bars(rows: list[dict]) -> list[dict]:
    out = []
    keys = {(r["target"], r["model"]) for r in rows}
    for target, model in sorted(keys):
        group = [r for r in rows if r["target"] == target and r["model"] == model]
        by = {r["policy"]: r for r in group}
        d = by["default"]
        detectors = [by[p] for p in ("adwin", "page_hinkley") if p in by]
        best_det = min(detectors, key=lambda r: r["error_x_compute"])
        ladder = ladder_error_at(group, d["compute_fraction"])
        out.append({
            "target": target, "model": model,
            "compute_fraction": d["compute_fraction"], "error_ratio": d["error_ratio"],
            "bar1": d["compute_fraction"] <= 0.2 and d["error_ratio"] <= 1.0,
            "ladder_at_compute": ladder, "bar2": d["error_ratio"] < ladder,
            "default_exc": d["error_x_compute"], "best_detector": best_det["policy"],
            "detector_exc": best_det["error_x_compute"],
            "bar3": d["error_x_compute"] <= best_det["error_x_compute"],
            "oracle_compute": by["oracle"]["compute_fraction"] if "oracle" in by else float("nan"),
            "oracle_error": by["oracle"]["error_ratio"] if "oracle" in by else float("nan"),
        })
    return out


def figure(name: str, rows: list[dict], tag: str) -> Path:
    keys = sorted({(r["target"], r["model"]) for r in rows})
    fig, axes = plt.subplots(2, len(keys), figsize=(4.2 * len(keys), 7.2), squeeze=False)
    for col, (target, model) in enumerate(keys):
        group = [r for r in rows if r["target"] == target and r["model"] == model]
        lad = sorted((r["compute_fraction"], r["error_ratio"]) for r in group
                     if r["policy"] == "fixed" or r["policy"].startswith("fixed@"))
        for zoom, ax in enumerate(axes[:, col]):
            ax.plot([p[0] for p in lad], [p[1] for p in lad], "-o", color="#888", ms=3,
                    label="fixed@k ladder")
            for r in group:
                if r["policy"] in POLICIES and r["compute_fraction"] > 0:
                    marker = ("s" if r["policy"].startswith("default")
                              else "*" if r["policy"] == "oracle" else "^")
                    ax.plot(r["compute_fraction"], r["error_ratio"], marker, ms=7,
                            label=r["policy"])
            ax.set_xscale("log")
            ax.set_xlabel("compute / fixed's")
            ax.set_ylabel("MAE / fixed's")
            low = min(r["error_ratio"] for r in group) - 0.005
            if zoom:  # the ladder's neighbourhood, where bars 1 and 2 are read
                ax.set_xlim(0.02, 1.2)
                ax.set_ylim(low, 1.012)
                ax.axhline(1.0, color="#bbb", lw=0.8)
                ax.set_title("zoomed: where bars 1 and 2 are read", fontsize=8)
            else:
                top = max(1.05, min(1.25, max(r["error_ratio"] for r in group) + 0.02))
                ax.set_ylim(min(0.97, low), top)
                ax.set_title(f"{name}: {target}, {model}", fontsize=9)
            ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    path = RESULTS / f"retrain_{name}_{tag}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


class _FixedWindow(Policy):
    """Retrain at every decision on ``multiple`` times the plain window."""

    def __init__(self, multiple: float) -> None:
        self.multiple, self.name = multiple, f"fixed x{multiple:g}"

    def decide(self, view) -> int:
        return round(self.multiple * self.ctx.window)


def windows(sets: list[str]) -> None:
    """default's starting window, leave-one-series-out: ``fixed`` on each candidate
    multiple of the plain window (every decision, ridge); for each target, the multiple
    with the lowest error ratio averaged over the other targets."""
    ratios = {}
    for name in sets:
        loader, targets, every, horizon = SETS[name]
        s = loader(targets)
        step = s.step_seconds
        E, H = s.steps(parse_duration(every)), s.steps(parse_duration(horizon))
        W = s.steps(parse_duration("30d"))
        for target in targets:
            f = build_features(s.values[target], {}, s.times, step, H)
            trs = simulate(f, "ridge", [_FixedWindow(m) for m in WINDOWS], every=E, horizon=H,
                           window=W, times=s.times, step_seconds=step)
            ratios[f"{name} {target}"] = [t.mae / trs[0].mae for t in trs]
    print("| target | " + " | ".join(f"{m:g} x 30 d" for m in WINDOWS) + " | best of the others |")
    print("|---|" + "---|" * (len(WINDOWS) + 1))
    for key, r in ratios.items():
        others = np.mean([v for k, v in ratios.items() if k != key], axis=0)
        print(f"| {key} | " + " | ".join(f"{x:.4f}" for x in r)
              + f" | {WINDOWS[int(np.argmin(others))]:g} |", flush=True)


def early(sets: list[str], days: int) -> None:
    """A cheap backtest of the candidate windows on the first ``days`` days only: ``fixed``
    on each multiple of the plain window (ridge), scored where the windows differ (after
    twice the plain window); what a live policy could learn from its own early history."""
    for name in sets:
        loader, targets, every, horizon = SETS[name]
        s = loader(targets)
        step = s.step_seconds
        E, H, W = (s.steps(parse_duration(x)) for x in (every, horizon, "30d"))
        n = s.steps(parse_duration(f"{days}d"))
        for target in targets:
            f = build_features(s.values[target][:n], {}, s.times[:n], step, H)
            trs = simulate(f, "ridge", [_FixedWindow(m) for m in WINDOWS], every=E, horizon=H,
                           window=W, times=s.times[:n], step_seconds=step)
            start = int(np.searchsorted(trs[0].rows, 2 * W))
            m = [float(np.nanmean(t.abs_errors[start:])) for t in trs]
            print(f"| {name} {target} | " + " | ".join(f"{x / m[0]:.4f}" for x in m)
                  + f" | {WINDOWS[int(np.argmin(m))]:g} |", flush=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--speed", action="store_true", help="only the two timings")
    ap.add_argument("--sets", default="jena,wth")
    ap.add_argument("--models", default="ridge,gbm")
    ap.add_argument("--no-speed", action="store_true", help="skip the two timings")
    ap.add_argument("--replot", action="store_true",
                    help="only redraw the figures from results/retrain_MODELS.json")
    ap.add_argument("--targets", default=None, help="comma-separated: only these targets")
    ap.add_argument("--windows", action="store_true",
                    help="only default's starting window, leave-one-series-out")
    ap.add_argument("--jena-gbm-every", default="1h",
                    help="decisions of gbm on Jena (1h as the bars say; 6h is 6x cheaper)")
    ap.add_argument("--early", type=int, default=None, metavar="DAYS",
                    help="only the windows backtested on the first DAYS days")
    ap.add_argument("--start", type=float, default=None,
                    help="default's starting window, a multiple of 30 d (default: cost.START)")
    ap.add_argument("--recency", type=float, default=None,
                    help="default's recency half-life in days (default: cost.RECENCY_DAYS)")
    ap.add_argument("--tag", default="", help="suffix of the results' file names")
    a = ap.parse_args(argv)
    if a.recency is not None:
        cost.RECENCY_DAYS = a.recency
    if a.early:
        early(a.sets.split(","), a.early)
        return
    if a.start is not None:
        cost.START = a.start
    if a.windows:
        windows(a.sets.split(","))
        return
    tag = a.models.replace(",", "_") + ("_" + a.targets.replace(",", "_").split(" ")[0] if a.targets else "")
    tag += f"_start{a.start:g}" if a.start is not None else ""
    tag += f"_recency{a.recency:g}" if a.recency is not None else ""
    tag += f"_{a.tag}" if a.tag else ""
    if a.replot:
        saved = json.loads((RESULTS / f"retrain_{tag}.json").read_text())
        for name in a.sets.split(","):
            print(figure(name, [r for r in saved if r["set"] == name], tag))
        return
    if not a.no_speed:
        print("| model | series | decisions | policy | seconds |\n|---|---|---|---|---|")
        for line in speed():
            print(line, flush=True)
    if a.speed:
        return
    all_rows = []
    for name in a.sets.split(","):
        loader, targets, every, horizon = SETS[name]
        if a.targets:
            targets = [t for t in targets if t in a.targets.split(",")]
        s = loader(targets)
        rows = []
        for model in a.models.split(","):
            ev = a.jena_gbm_every if (name == "jena" and model == "gbm") else every
            t0 = time.perf_counter()
            res = run_retrain(s, targets=targets, every=ev, horizon=horizon, models=[model],
                              policies=POLICIES, traces=False)
            print(f"{name} {model} every {ev}: {time.perf_counter() - t0:.0f} s", file=sys.stderr,
                  flush=True)
            for r in res["results"]:
                r["set"], r["every"] = name, ev
            rows += res["results"]
        all_rows += rows
        print(f"\n### {name}\n\n| target | model | policy | MAE | error_ratio | compute_fraction "
              "| ladder at that compute | error x compute | retrains | seconds |\n"
              "|---|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            group = [g for g in rows if g["target"] == r["target"] and g["model"] == r["model"]]
            lad = ladder_error_at(group, r["compute_fraction"]) if r["compute_fraction"] > 0 else float("nan")
            print(f"| {r['target']} | {r['model']} | {r['policy']} | {r['mae']:.4f} | "
                  f"{r['error_ratio']:.4f} | {r['compute_fraction']:.4f} | {lad:.4f} | "
                  f"{r['error_x_compute']:.5f} | {r['retrains']} | {r['seconds']:.1f} |")
        print(f"\n![{name}](results/{figure(name, rows, tag).name})\n")
        print("| target | model | default compute | default error | bar 1 | ladder at its "
              "compute | bar 2 | default err x comp | best detector err x comp | bar 3 | "
              "oracle compute | oracle error |\n"
              "|---|---|---|---|---|---|---|---|---|---|---|---|")
        for b in bars(rows):
            print(f"| {b['target']} | {b['model']} | {b['compute_fraction']:.4f} | "
                  f"{b['error_ratio']:.4f} | {'pass' if b['bar1'] else 'FAIL'} | "
                  f"{b['ladder_at_compute']:.4f} | {'pass' if b['bar2'] else 'FAIL'} | "
                  f"{b['default_exc']:.5f} | {b['detector_exc']:.5f} ({b['best_detector']}) | "
                  f"{'pass' if b['bar3'] else 'FAIL'} | {b['oracle_compute']:.4f} | "
                  f"{b['oracle_error']:.4f} |", flush=True)
        (RESULTS / f"retrain_{tag}.json").write_text(json.dumps(all_rows, indent=1))


if __name__ == "__main__":
    main()
