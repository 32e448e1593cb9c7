"""Forecast speed: curvecast's batched ensemble against a per-curve scipy curve_fit loop.

Requirement checked (issue 2): on the 1,000 curves of one TaskSet task (valid loss,
observed up to 20% of their points), forecast the final value of every curve at
>= 1,000 curves per second on a 2-core machine, and at >= 20 times the throughput of a
per-curve ``scipy.optimize.curve_fit`` loop over the same families, measured in the
same run.

Run from the repository root::

    .venv/bin/python benchmarks/bench_speed.py
    .venv/bin/python benchmarks/bench_speed.py --json          # machine-readable

What is measured
----------------
* **curvecast**: ``make_forecaster(method).forecast(heads, at=final_step)`` (``--method``:
  ensemble, the default, or bma) plus the median and the 80% interval of every curve
  (what a user gets), end to end from :class:`~curvecast.curve.Curve` objects. One
  warm-up call, then the median wall time of ``--repeats`` calls. Diverged curves are
  passed too and count in the total.
* **baseline**: for each curve, each applicable family (the ensemble's rule: more points
  than parameters, and ``needs_floor`` families only where the curve has a floor), each
  of the family's starting points: ``scipy.optimize.curve_fit`` with the family's
  analytic Jacobian and bounds on the same normalised data (:class:`Frame`), keeping the
  best fit by SSE. That is the fitting work curvecast does, done one problem at a time.
  Starting points are computed in batch *before* the clock starts, and the baseline
  does no prediction, no model averaging and no quantiles: both favour the baseline.
  A full loop is slow, so it is timed on a fixed random subsample of
  ``--baseline-curves`` curves (drawn from all curves, diverged ones included, so the
  mix matches the full set) and its curves/second extrapolated.
* **parity**: on the same subsample, curvecast's ``fit_family(..., robust=False)`` SSE
  (with the ensemble's own iteration budget) against curve_fit's best SSE, per
  (curve, family) fitted by both, so the speed-up is not bought with worse fits.

The exit code is 0 unless the script crashes; PASS/FAIL lines report the two bars (on
stderr with ``--json``, so stdout stays valid JSON).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy
from scipy.optimize import OptimizeWarning, curve_fit

from curvecast.curve import Curve
from curvecast.families import FAMILIES, Family
from curvecast.fitting import applicable, fit_family, summarise
from curvecast.api import make_forecaster
from curvecast.forecasters.ensemble import EnsembleForecaster
from curvecast.transform import Frame

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TASK = "FixedTextRNNClassification_imdb_patch32_GRU128_bs128"
DEFAULT_DATA = REPO.parent / "shared" / "data"
MIN_RATE = 1000.0  # curves per second
MIN_SPEEDUP = 20.0  # times the curve_fit loop's throughput
PARITY_REL = 1.01  # curvecast's SSE may exceed curve_fit's by 1% ...
PARITY_ABS = 1e-12  # ... plus this, and still count as "as good"


# --- data ----------------------------------------------------------------------------


def load_heads(path: Path, observed: float) -> tuple[list[Curve], float]:
    """The observed heads of every run's valid loss, and the final step to forecast.

    ``null`` becomes NaN (the curve is then *diverged*); huge finite values are kept.
    """
    runs = json.loads(path.read_text())
    heads = []
    for i, run in enumerate(runs):
        y = np.array([np.nan if v is None else v for v in run["valid"]["loss"]], float)
        steps = 200.0 * np.arange(y.size)
        n_obs = max(1, round(observed * y.size))
        heads.append(Curve(f"run{i}", steps, y, hp=run.get("hp")).head(n_obs))
    final = 200.0 * (len(runs[0]["valid"]["loss"]) - 1)
    return heads, final


# --- curvecast -----------------------------------------------------------------------


def forecast_all(heads: list[Curve], at: float, method: str) -> tuple[np.ndarray, float]:
    """What a user gets: the median and the 80% interval of every curve at ``at``.

    Returns the medians and the seconds spent in ``forecast`` itself (the rest of the
    wall time is the quantiles).
    """
    t0 = time.perf_counter()
    f = make_forecaster(method).forecast(heads, at=at)
    fit_sec = time.perf_counter() - t0
    median, _ = f.median[:, 0], f.interval(0.8, axis=0)[:, :, 0]
    return median, fit_sec


def time_curvecast(heads: list[Curve], at: float, repeats: int, method: str) -> dict:
    """Median wall time of ``repeats`` end-to-end forecasts, after one warm-up call."""
    median, _ = forecast_all(heads, at, method)  # warm-up: imports, caches, page faults
    times, fit_times = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        _, fit_sec = forecast_all(heads, at, method)
        times.append(time.perf_counter() - t0)
        fit_times.append(fit_sec)
    sec = float(np.median(times))
    return {
        "curves": len(heads),
        "seconds": sec,
        "all_seconds": times,
        "forecast_seconds": float(np.median(fit_times)),
        "rate": len(heads) / sec,
        "forecast": int(np.isfinite(median).sum()),
    }


# --- the curve_fit baseline ------------------------------------------------------------


@dataclass
class Problem:
    """One (curve, family) least-squares problem: its data and starting points."""

    row: int  # row in the Frame of usable curves
    fam: Family
    t: np.ndarray
    z: np.ndarray
    starts: np.ndarray  # (S, P), clipped into the bounds as curvecast does


@dataclass
class LoopStats:
    """What the curve_fit loop produced: best SSE per (row, family) and its failures.

    ``failures`` counts failed calls by reason, ``failed_seconds`` the time they took.
    """

    sse: dict = field(default_factory=dict)
    calls: int = 0
    failures: Counter = field(default_factory=Counter)
    failed_seconds: float = 0.0
    cov_warnings: int = 0


def build_problems(frame: Frame, rows: np.ndarray) -> list[Problem]:
    """Every (curve, family) problem of the subsample ``rows``, starts computed in batch."""
    summary = summarise(frame.t, frame.z, frame.mask)
    problems = []
    for fam in FAMILIES.values():
        lo, hi = np.asarray(fam.lower), np.asarray(fam.upper)
        starts = np.clip(np.nan_to_num(fam.init(summary), nan=0.0), lo, hi)
        ok = applicable(fam, frame.mask, frame.has_floor)
        for r in rows[ok[rows]]:
            m = frame.mask[r]
            problems.append(Problem(int(r), fam, frame.t[r, m], frame.z[r, m], starts[r]))
    return problems


def one_curve(fam: Family):
    """``f(t, *p)`` and ``jac(t, *p) -> (T, P)`` for curve_fit from a batched family."""

    def f(t, *p):
        return fam.f(t[None, :], np.asarray(p)[None, :])[0]

    def jac(t, *p):
        return fam.jac(t[None, :], np.asarray(p)[None, :])[0]

    return f, jac


def fit_one(prob: Problem, stats: LoopStats, max_nfev: int | None) -> None:
    """curve_fit from every start of ``prob``; record the best SSE (inf if all fail).

    ``max_nfev`` None keeps scipy's default evaluation budget.
    """
    f, jac = one_curve(prob.fam)
    # curve_fit uses 'lm' (maxfev) when every bound is infinite, else 'trf' (max_nfev)
    unbounded = np.isinf(prob.fam.lower).all() and np.isinf(prob.fam.upper).all()
    budget = {} if max_nfev is None else {"maxfev" if unbounded else "max_nfev": max_nfev}
    best = np.inf
    for p0 in prob.starts:
        t0 = time.perf_counter()
        sse, failure = fit_start(prob, f, jac, p0, budget, stats)
        stats.calls += 1
        if failure:
            stats.failures[failure] += 1
            stats.failed_seconds += time.perf_counter() - t0
        best = min(best, sse)
    stats.sse[(prob.row, prob.fam.name)] = best


def fit_start(prob: Problem, f, jac, p0, budget: dict, stats: LoopStats):
    """One curve_fit call: (SSE, "") on success, (inf, reason) on failure."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", OptimizeWarning)
        try:
            popt, _ = curve_fit(f, prob.t, prob.z, p0=p0, jac=jac,
                                bounds=(prob.fam.lower, prob.fam.upper), **budget)
        except (RuntimeError, ValueError, OptimizeWarning) as exc:
            return np.inf, type(exc).__name__
    # a fit whose covariance could not be estimated is still a fit: count it, keep it
    stats.cov_warnings += any(issubclass(w.category, OptimizeWarning) for w in caught)
    sse = float(np.sum((f(prob.t, *popt) - prob.z) ** 2))
    return (sse, "") if np.isfinite(sse) else (np.inf, "non-finite SSE")


def time_baseline(problems: list[Problem], n_curves: int,
                  max_nfev: int | None = None) -> tuple[dict, LoopStats]:
    """Time the per-curve curve_fit loop over ``problems`` (from ``n_curves`` curves)."""
    stats = LoopStats()
    t0 = time.perf_counter()
    with np.errstate(all="ignore"):
        for prob in problems:
            fit_one(prob, stats, max_nfev)
    sec = time.perf_counter() - t0
    timing = {"curves": n_curves, "seconds": sec, "rate": n_curves / sec,
              "problems": len(problems), "calls": stats.calls,
              "failures": sum(stats.failures.values()),
              "failure_reasons": dict(stats.failures),
              "failed_seconds": stats.failed_seconds, "cov_warnings": stats.cov_warnings,
              "max_nfev": max_nfev}
    return timing, stats


# --- fit-quality parity ----------------------------------------------------------------


def curvecast_sse(frame: Frame, rows: np.ndarray, iters: int) -> dict:
    """curvecast's SSE (fit_family, robust=False) per (row, family) of the subsample.

    ``iters`` is the ensemble's own iteration budget, so the fits are the ones it makes.
    """
    out = {}
    for fam in FAMILIES.values():
        sub = rows[applicable(fam, frame.mask, frame.has_floor)[rows]]
        if sub.size == 0:
            continue
        with np.errstate(all="ignore"):
            fit = fit_family(fam, frame.t[sub], frame.z[sub], frame.mask[sub],
                             iters=iters, robust=False)
        cost = np.where(np.isfinite(fit.cost), fit.cost, np.inf)
        out.update({(int(r), fam.name): float(c) for r, c in zip(sub, cost)})
    return out


def parity(cc: dict, cf: dict) -> dict:
    """Compare curvecast's and curve_fit's SSEs, overall and per family."""
    keys = sorted(cc.keys() & cf.keys())
    both = [k for k in keys if np.isfinite(cc[k]) and np.isfinite(cf[k])]
    out = _parity_numbers(both, cc, cf)
    out["only_curve_fit"] = int(sum(np.isfinite(cf[k]) and not np.isfinite(cc[k]) for k in keys))
    out["only_curvecast"] = int(sum(np.isfinite(cc[k]) and not np.isfinite(cf[k]) for k in keys))
    out["per_family"] = {
        name: _parity_numbers([k for k in both if k[1] == name], cc, cf) for name in FAMILIES
    }
    return out


def _parity_numbers(keys: list, cc: dict, cf: dict) -> dict:
    if not keys:
        return {"fits": 0, "as_good": float("nan"), "median_ratio": float("nan"),
                "worst_ratio": float("nan")}
    a = np.array([cc[k] for k in keys])
    b = np.array([cf[k] for k in keys])
    good = a <= b * PARITY_REL + PARITY_ABS
    ratio = (a + PARITY_ABS) / (b + PARITY_ABS)
    return {"fits": len(keys), "as_good": float(good.mean()),
            "median_ratio": float(np.median(ratio)), "worst_ratio": float(ratio.max())}


# --- report ----------------------------------------------------------------------------


def machine() -> dict:
    """CPU count, platform, versions, and the code the numbers belong to.

    ``source`` hashes the library modules this script loaded, as they are on disk, so
    numbers taken from an uncommitted working tree can still be told apart.
    """
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                                capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        commit = ""
    digest = hashlib.sha256()
    loaded = {m.__file__ for name, m in list(sys.modules.items())
              if name.split(".")[0] == "curvecast" and getattr(m, "__file__", None)}
    for path in sorted(loaded):
        digest.update(Path(path).read_bytes())
    return {"cpu_count": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "numpy": np.__version__,
            "scipy": scipy.__version__, "commit": commit or "unknown",
            "source": digest.hexdigest()[:12]}


def checks(cc: dict, base: dict) -> dict:
    """The speed-up and whether each bar of the requirement is met."""
    speedup = cc["rate"] / base["rate"]
    return {"speedup": speedup,
            "rate_ok": cc["rate"] >= MIN_RATE,
            "speedup_ok": speedup >= MIN_SPEEDUP}


def check_lines(res: dict) -> list[str]:
    """One PASS/FAIL line per bar."""
    c, cc = res["checks"], res["curvecast"]
    return [
        f"{'PASS' if c['rate_ok'] else 'FAIL'}: curvecast {cc['rate']:,.0f} curves/s "
        f"(bar >= {MIN_RATE:,.0f})",
        f"{'PASS' if c['speedup_ok'] else 'FAIL'}: {c['speedup']:.1f}x the curve_fit loop "
        f"(bar >= {MIN_SPEEDUP:.0f}x)",
    ]


def _speed_lines(res: dict) -> list[str]:
    cc, b = res["curvecast"], res["baseline"]
    budget = ("scipy's default" if b["max_nfev"] is None
              else f"{b['max_nfev']} evaluations per start")
    reasons = ", ".join(f"{n} {why}" for why, n in sorted(b["failure_reasons"].items())) or "none"
    return [
        f"Task `{res['task']}`: {cc['curves']} curves, first {res['observed_points']} points "
        f"observed, forecast at step {res['at']:g}; {res['diverged']} diverged in the "
        f"observed part (passed and counted); {cc['forecast']} got a forecast.",
        "",
        "| method | curves | seconds | curves/s | ratio |",
        "|---|---:|---:|---:|---:|",
        f"| curvecast {res['method']}, median + 80% interval (median of {res['repeats']} runs) | "
        f"{cc['curves']} | {cc['seconds']:.3f} | {cc['rate']:,.0f} | "
        f"{res['checks']['speedup']:.1f}x |",
        f"| scipy curve_fit loop, fitting only (random subsample) | {b['curves']} | "
        f"{b['seconds']:.2f} | {b['rate']:,.2f} | 1.0x |",
        "",
        f"curvecast: {cc['forecast_seconds']:.3f} s of the {cc['seconds']:.3f} s in "
        "`forecast` (fitting, prediction, averaging), the rest in the median and interval; "
        f"all runs: {', '.join(f'{x:.3f}' for x in cc['all_seconds'])} s.",
        "",
        f"curve_fit loop: {b['problems']} (curve, family) problems, {b['calls']} calls, "
        f"evaluation budget {budget}; {b['failures']} calls failed ({reasons}), taking "
        f"{b['failed_seconds']:.1f} s of the loop's {b['seconds']:.1f} s; "
        f"{b['cov_warnings']} gave a covariance warning (fit kept). "
        f"Timed on a random subsample of {b['curves']} curves (seed "
        f"{res['seed']}); the full set would take ~{cc['curves'] / b['rate']:.0f} s. It is "
        "the fitting loop only (no prediction, model averaging or quantiles; starts "
        "precomputed), which favours the baseline.",
    ]


def _parity_lines(p: dict, iters: int) -> list[str]:
    lines = [
        f"Fit parity on the subsample (curvecast `fit_family(iters={iters}, "
        "robust=False)`, the ensemble's budget, against "
        f"curve_fit, SSE in normalised space, {p['fits']} (curve, family) fits by both): "
        f"curvecast as good (SSE <= {PARITY_REL} x curve_fit's + {PARITY_ABS:g}) in "
        f"{100 * p['as_good']:.1f}%, median SSE ratio {p['median_ratio']:.4f}, worst "
        f"{p['worst_ratio']:.3g}; only curve_fit succeeded: {p['only_curve_fit']}, only "
        f"curvecast: {p['only_curvecast']}.",
        "",
        "| family | fits | as good | median ratio | worst ratio |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, q in p["per_family"].items():
        lines.append(f"| {name} | {q['fits']} | {100 * q['as_good']:.0f}% | "
                     f"{q['median_ratio']:.4f} | {q['worst_ratio']:.3g} |")
    return lines


def markdown(res: dict) -> str:
    """The human-readable report: speed table, parity table, machine, PASS/FAIL."""
    m = res["machine"]
    lines = _speed_lines(res) + [""] + _parity_lines(res["parity"], res["iters"]) + [
        "",
        f"Machine: {m['cpu_count']} CPUs, {m['platform']}, Python {m['python']}, "
        f"numpy {m['numpy']}, scipy {m['scipy']}, commit {m['commit']} (library source "
        f"sha256 {m['source']}).",
        "",
    ]
    if res["source_changed"]:
        lines += ["WARNING: the library's files changed on disk during the run; the numbers "
                  "are for the code loaded at its start (the hash above).", ""]
    return "\n".join(lines + check_lines(res))


# --- main ------------------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default=DEFAULT_TASK, help="TaskSet task (file name stem)")
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA,
                    help="folder holding taskset/<task>.json (default: ../shared/data)")
    ap.add_argument("--observed", type=float, default=0.2,
                    help="fraction of each curve observed (default 0.2)")
    ap.add_argument("--repeats", type=int, default=5, help="timed curvecast runs (default 5)")
    ap.add_argument("--baseline-curves", type=int, default=100,
                    help="curves in the curve_fit subsample (default 100)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the subsample (default 0)")
    ap.add_argument("--baseline-max-nfev", type=int, default=None,
                    help="cap curve_fit's function evaluations per start (default: scipy's "
                         "own, 100*(P+1) for 'lm', 100*P for 'trf'); a sensitivity check")
    ap.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    ap.add_argument("--method", default="ensemble",
                    help="curvecast method timed: ensemble (learned, default) or bma")
    return ap.parse_args(argv)


def run(args: argparse.Namespace) -> dict:
    """Load the task, time both methods, compare their fits; the results as a dict."""
    where = machine()  # before timing: the library may be edited while this runs
    heads, at = load_heads(args.data_dir / "taskset" / f"{args.task}.json", args.observed)
    cc = time_curvecast(heads, at, args.repeats, args.method)

    usable = [i for i, c in enumerate(heads) if c.status == "ok"]
    frame = Frame.build([heads[i] for i in usable])
    pick = np.random.default_rng(args.seed).choice(
        len(heads), size=min(args.baseline_curves, len(heads)), replace=False)
    iters = EnsembleForecaster().iters  # the fits behind both methods
    row_of = {i: r for r, i in enumerate(usable)}
    rows = np.array(sorted(row_of[i] for i in pick if i in row_of), dtype=int)
    base, stats = time_baseline(build_problems(frame, rows), len(pick),
                                 args.baseline_max_nfev)

    res = {
        "task": args.task, "method": args.method, "at": at, "observed_points": len(heads[0]),
        "diverged": sum(c.status == "diverged" for c in heads),
        "repeats": args.repeats, "seed": args.seed,
        "curvecast": cc, "baseline": base,
        "parity": parity(curvecast_sse(frame, rows, iters), stats.sse),
        "iters": iters,
        "machine": where,
        "source_changed": machine()["source"] != where["source"],
    }
    res["checks"] = checks(cc, base)
    return res


def _plain(obj):
    """JSON fallback for numpy scalars."""
    return obj.item() if isinstance(obj, np.generic) else str(obj)


def main(argv=None) -> int:
    args = parse_args(argv)
    res = run(args)
    if args.json:
        print(json.dumps(res, indent=2, default=_plain))
        print("\n".join(check_lines(res)), file=sys.stderr)
    else:
        print(markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
