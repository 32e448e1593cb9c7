"""Floors and ceilings of issue 16's bars 1-3: what any forecaster could reach, per source.

Same runs and splits as ``bench_joint.py`` (its loaders, subsample of 200 runs per TaskSet
task and 150 elsewhere, seed 0; K = 50 splits of ``backtest``), so the numbers line up
with ``benchmarks/results/joint.json``. Per source, cutoff and K:

- counting: the last value's Spearman; bar 1 asks last + 0.03 (K = 0) or + 0.10 (K = 50),
  impossible where that exceeds 1;
- noise: each run's evaluation noise at its end (sigma: the smaller of the
  second-difference estimate and the residual of a local quadratic, both over the last
  20% of the run, at least 6 points; the smaller, so that the ceiling is optimistic). An
  oracle that knows each run's noise-free final and is scored against it plus that noise
  (200 Gaussian draws; the finals stand in for the noise-free ones, which only spreads
  them more) gets the noise ceiling of Spearman and the noise floor of medAE: no forecast
  independent of the final's noise does better in expectation (for the medAE per run, by
  Anderson's lemma: |a + e| is stochastically larger than |e| for e symmetric unimodal);
- a forecaster that saw all but the final point (a local line through the 20% before it,
  extrapolated one point): a ceiling in practice, noise of the final included;
- hindsight among the bar-2 baselines (last, mean_last, every family) forecast from the
  cutoff: the best single one per source (bar 2's reference), the best per run (pick)
  and the nearest point of their per-run range (hull: any convex combination), bounds on
  what selecting or combining them can give;
- K = 50: a random forest / gradient boosting (absolute error) from the value at the
  cutoff (or the whole seen prefix) and the hyperparameters to the change of the final
  from it, fitted on the split's 50 finished runs or on every other run of the full data
  set (TaskSet: 650-850), scored on the split's test runs, the learner with the best
  Spearman picked in hindsight: what context could buy, optimistically.

    .venv/bin/python benchmarks/bench_joint_floor.py            # all sources, writes the JSON
    .venv/bin/python benchmarks/bench_joint_floor.py --only lcdb,opda
    .venv/bin/python benchmarks/bench_joint_floor.py --table    # tables from the JSONs alone

Bar 3 (never worse than the last value) needs no floor: the last value meets it.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
from bench_joint import BASELINES, CUTOFFS, RESULTS, sources, subsample

from curvecast.api import make_forecaster
from curvecast.evaluate.backtest import _groups, _splits, cut_point, long_enough
from curvecast.evaluate.scoring import spearman

OUT = Path("benchmarks/results/joint_floor.json")
DRAWS = 200
TAIL = 0.2
"""Fraction of the run, at its end, whose points estimate its noise."""
MIN_TAIL = 6


def tail_noise(v: np.ndarray) -> float:
    """Noise sd of the end of one run: the smaller of two estimates over its last 20%.

    Second differences cancel a linear trend (var = 6 sigma^2 for white noise); a
    quadratic's residual (3 dof) allows curvature. Both miss noise that wanders slowly.

    >>> rng = np.random.default_rng(0)
    >>> v = 1 + np.arange(500.0) ** -0.5 + 0.01 * rng.standard_normal(500)
    >>> 0.008 < tail_noise(v) < 0.012
    True
    """
    m = min(len(v), max(MIN_TAIL, round(TAIL * len(v))))
    w = np.asarray(v[-m:], float)
    if m < 4:
        return float("nan")
    diff = np.sqrt(np.mean(np.diff(w, 2) ** 2) / 6)
    x = np.arange(m, dtype=float)
    res = w - np.polyval(np.polyfit(x, w, 2), x)
    fit = np.sqrt(np.sum(res ** 2) / (m - 3))
    return float(min(diff, fit))


def before_final(v: np.ndarray) -> float:
    """The final as a forecaster that saw all but it would put it: a line through the
    points of the last 20% before the final, one point on.

    >>> before_final(np.array([5.0, 4.0, 3.0, 2.0, 1.0, 0.0, 99.0]))
    -1.0
    """
    m = min(len(v) - 1, max(MIN_TAIL, round(TAIL * len(v))))
    w = np.asarray(v[-1 - m:-1], float)
    if m < 2:
        return float(w[-1])
    x = np.arange(m, dtype=float)
    return float(np.polyval(np.polyfit(x, w, 1), m))


def noise_ceiling(finals: np.ndarray, sigma: np.ndarray, seed: int = 0) -> dict:
    """Spearman and medAE of the oracle that knows the noise-free finals (mean and sd
    over draws of the noise)."""
    rng = np.random.default_rng(seed)
    s = np.nan_to_num(sigma)
    rho, med = [], []
    for _ in range(DRAWS):
        e = s * rng.standard_normal(finals.size)
        rho.append(spearman(finals, finals + e))
        med.append(np.median(np.abs(e)))
    return {"rho": float(np.nanmean(rho)), "rho_sd": float(np.nanstd(rho)),
            "medae": float(np.mean(med))}


def final_forecasts(method: str, full: list, heads: list, bound) -> np.ndarray:
    """Each run's forecast median of its final (the last value where a forecast fails),
    grouped as ``backtest`` groups them."""
    f = make_forecaster(method, bound, None)
    out = np.full(len(full), np.nan)
    for idx, grid in _groups(full):
        fc = f.forecast([heads[i] for i in idx], grid)
        med = fc.median
        for j, i in enumerate(idx):
            pos = np.searchsorted(fc.x, full[i].steps[-1])
            ok = fc.valid[j] if np.ndim(fc.valid) else fc.valid
            out[i] = med[j, pos] if ok else heads[i].values[-1]
    return out


def cell(full: list, cutoff: float, bound, k: int) -> dict:
    """Floors and ceilings on one split's scored runs at one cutoff."""
    full = [c for c in full if long_enough(c, cutoff)]
    y = np.array([c.values[-1] for c in full])
    heads = [c.head(cut_point(c, cutoff)) for c in full]
    last = np.array([h.values[-1] for h in heads])
    sigma = np.array([tail_noise(c.values) for c in full])
    pen = np.array([before_final(c.values) for c in full])
    out = {"n": len(full), "rho_last": spearman(last, y),
           "medae_last": float(np.median(np.abs(last - y))),
           **{f"noise_{a}": b for a, b in noise_ceiling(y, sigma).items()},
           "sigma_median": float(np.nanmedian(sigma)),
           "rho_before_final": spearman(pen, y),
           "medae_before_final": float(np.median(np.abs(pen - y))),
           "rho_prev_point": spearman(np.array([c.values[-2] for c in full]), y)}
    if k == 0:
        preds = {m: final_forecasts(m, full, heads, bound) for m in BASELINES}
        err = {m: np.abs(p - y) for m, p in preds.items()}
        med = {m: float(np.nanmedian(e)) for m, e in err.items()}
        best = min(med, key=med.get)
        P = np.vstack(list(preds.values()))
        E = np.vstack(list(err.values()))
        pick = P[np.nanargmin(np.where(np.isfinite(E), E, np.inf), axis=0), np.arange(len(y))]
        lo, hi = np.nanmin(P, axis=0), np.nanmax(P, axis=0)
        hull = np.clip(y, lo, hi)
        rhos = {m: spearman(p, y) for m, p in preds.items()}
        top = max((m for m in rhos if np.isfinite(rhos[m])), key=rhos.get)
        out |= {"best": best, "medae_best": med[best], "medae": med, "spearman": rhos,
                "best_rho": top, "rho_best": rhos[top],
                "medae_pick": float(np.median(np.abs(pick - y))), "rho_pick": spearman(pick, y),
                "medae_hull": float(np.median(np.abs(hull - y))), "rho_hull": spearman(hull, y)}
    return out


def _mean(rows: list[dict]) -> dict:
    """Average numbers over splits (first split's non-numbers)."""
    out = {}
    for key, v in rows[0].items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out[key] = float(np.nanmean([r[key] for r in rows]))
        else:
            out[key] = v
    return out


PREFIX = 10
"""Seen values a learner reads with ``prefix`` (the first one repeats where fewer were seen)."""


def _features(curves: list, cutoff: float, prefix: bool, fwd) -> np.ndarray:
    """Value at the cutoff (or the last PREFIX seen values), transformed, the step seen and
    the final step (logs: both known to a forecaster), and the numeric hyperparameters
    (trees: their scale does not matter)."""
    keys = sorted(k for k, v in curves[0].hp.items() if isinstance(v, (int, float)))
    rows = []
    for c in curves:
        k = cut_point(c, cutoff)
        h = c.values[:k]
        seen = np.r_[np.full(max(0, PREFIX - k), h[0]), h[-PREFIX:]] if prefix else h[-1:]
        rows.append([*fwd(seen), np.log1p(c.steps[k - 1]), np.log1p(c.steps[-1]),
                     *(float(c.hp.get(key, np.nan)) for key in keys)])
    return np.array(rows)


def _tf(curves: list):
    """Log where every value is positive (losses, accuracies), identity otherwise (returns)."""
    if min(float(np.min(c.values)) for c in curves) > 0:
        return lambda v: np.log(np.asarray(v, float)), np.exp
    return (lambda v: np.asarray(v, float)), (lambda v: v)


def context_ceiling(name: str, curves: list, k: int = 50, repeats: int = 2) -> list[dict]:
    """An optimistic learner from the value at the cutoff (or the seen prefix) and the
    hyperparameters to the final, trained on the split's k finished runs or on all other
    runs of the full data set, scored on the split's test runs (best learner in hindsight)."""
    from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor

    load = sources()[name][0]
    everything = [c for c in load() if c.status == "ok"]
    fwd, back = _tf(everything)
    out = []
    for cutoff in CUTOFFS[:2]:
        rows = []
        for ctx, test in _splits(curves, k, repeats, 0):
            test = [c for c in test if long_enough(c, cutoff)]
            scored = {c.run for c in test}
            y = np.array([c.values[-1] for c in test])
            last = np.array([c.values[cut_point(c, cutoff) - 1] for c in test])
            r = {"n_test": len(test), "rho_last": spearman(last, y),
                 "medae_last": float(np.median(np.abs(last - y)))}
            for train_name, train in (("k", [c for c in ctx if c.status == "ok"]),
                                      ("all", [c for c in everything if c.run not in scored])):
                best = None
                ytr = np.array([c.values[-1] for c in train])
                ltr = np.array([c.values[cut_point(c, cutoff) - 1] for c in train])
                target = fwd(ytr) - fwd(ltr)  # the change from the cutoff
                # a few exploding runs (log change +20) would set every leaf: winsorise
                target = np.clip(target, *np.quantile(target, [0.05, 0.95]))
                for prefix in (False, True):
                    xtr = _features(train, cutoff, prefix, fwd)
                    xte = _features(test, cutoff, prefix, fwd)
                    learners = [RandomForestRegressor(300, min_samples_leaf=2, max_features=0.5,
                                                      random_state=0, n_jobs=1),
                                HistGradientBoostingRegressor(
                                    loss="absolute_error", random_state=0,
                                    min_samples_leaf=min(20, max(3, len(train) // 10)))]
                    for lr in learners:
                        pred = back(fwd(last) + lr.fit(xtr, target).predict(xte))
                        res = {"rho": spearman(pred, y), "medae": float(np.median(np.abs(pred - y))),
                               "r2": 1 - np.mean((fwd(pred) - fwd(y)) ** 2) / np.var(fwd(y)),
                               "learner": ("RF" if "Forest" in type(lr).__name__ else "GBM")
                               + ("+prefix" if prefix else ""), "n_train": len(train)}
                        if best is None or res["rho"] > best["rho"]:
                            best = res
                r |= {f"{train_name}_{a}": b for a, b in best.items()}
            rows.append(r)
        out.append({"cutoff": cutoff, **_mean(rows)})
    return out


SEED_KEYS = ("seed", "outer_seed", "inner_seed")


def seed_ceiling(name: str) -> dict | None:
    """Sources with repeated seeds (PPO Pong; LCDB's outer/inner seeds): how much of the
    finals' variance lies between configurations (the R² of a perfect predictor from the
    hyperparameters alone), and the Spearman of the mean final of a run's other seeds."""
    runs = [c for c in sources()[name][0]() if c.status == "ok"]
    if not runs or not any(k in runs[0].hp for k in SEED_KEYS):
        return None
    groups: dict[tuple, list[float]] = {}
    for c in runs:
        key = tuple(sorted((k, str(v)) for k, v in c.hp.items() if k not in SEED_KEYS))
        groups.setdefault(key, []).append(float(c.values[-1]))
    multi = [np.array(v) for v in groups.values() if len(v) >= 2]
    y = np.concatenate(multi)
    within = sum(float(np.sum((v - v.mean()) ** 2)) for v in multi) / np.sum((y - y.mean()) ** 2)
    others = np.concatenate([(v.sum() - v) / (len(v) - 1) for v in multi])
    return {"configs": len(multi), "runs": int(y.size), "r2_hp_ceiling": float(1 - within),
            "rho_other_seeds": spearman(others, y),
            "medae_other_seeds": float(np.median(np.abs(others - y)))}


def run(names: list[str], runs_taskset: int, runs_other: int, path: Path) -> None:
    store = json.loads(path.read_text()) if path.exists() else {}
    for name in names:
        load, bound, _, _ = sources()[name]
        curves = subsample(load(), runs_taskset if name.startswith("taskset") else runs_other)
        entry = {"runs": len(curves), "cells": []}
        for k in (0, 50):
            if k >= len(curves) // 2:
                continue
            splits = _splits(curves, k, 2, 0)
            for cutoff in CUTOFFS:
                rows = [cell(test, cutoff, bound, k) for _, test in splits]
                entry["cells"].append({"cutoff": cutoff, "K": k, **_mean(rows)})
        if len(curves) // 2 > 50:
            entry["context"] = context_ceiling(name, curves)
        seeds = seed_ceiling(name)
        if seeds:
            entry["seeds"] = seeds
        store[name] = entry
        print(f"{name}: done", flush=True)
        path.write_text(json.dumps(store, indent=1))


def _joint(name: str, joint: dict) -> dict:
    rows = joint.get(name, {}).get("rows", [])
    return {(r["method"], r["cutoff"], r["context"]): r for r in rows}


def _verdict1(thr: float, c: dict, best_rho: float) -> str:
    if thr > 1:
        return "impossible (counting)"
    if thr > c["noise_rho"] + 2 * c["noise_rho_sd"]:
        return "unreachable (noise)"
    if np.isfinite(best_rho) and best_rho >= thr:
        return "reachable (a baseline does)"
    if thr > c["rho_before_final"]:
        return "open: beyond one that saw all but the final"
    return "open"


def tables(store: dict, joint: dict) -> str:
    """Markdown tables: bar 1, bar 2 at K = 0 and 50, TaskSet's context ceiling."""
    one = [("| source | cut | K | last | bar | noise ceiling | saw all but final | best baseline "
            "| joint | joint to ceiling | verdict |"), "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    two = [("| source | cut | best baseline [name] | noise floor | saw all but final | pick | hull "
            "| joint | verdict (bar 0.80) |"), "|---|---:|---|---:|---:|---:|---:|---:|---|"]
    fifty = ["| source | cut | noise floor / joint K=0 | joint K=50 / K=0 | verdict (bar 0.70) |",
             "|---|---:|---:|---:|---|"]
    ctx = [("| source | cut | last | bar | learner on 50 | learner on all others | joint K=50 "
            "| medAE / joint K=0: on 50, on all (bar 0.70) |"), "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, entry in store.items():
        if joint and name not in joint:  # TaskSet VRNN: floors in the JSON, no joint score
            continue
        at = _joint(name, joint)
        zero = {c["cutoff"]: c for c in entry["cells"] if c["K"] == 0}
        for c in entry["cells"]:
            cut, k = c["cutoff"], c["K"]
            j = at.get(("joint", cut, k))
            jl = at.get(("last", cut, k))
            if cut <= 0.2:
                thr = c["rho_last"] + (0.03 if k == 0 else 0.10)
                brho = zero[cut]["rho_best"]
                jr = f"{j['spearman']:.3f}" if j else "-"
                gap = f"{c['noise_rho'] - j['spearman']:+.3f}" if j else "-"
                one.append(f"| {name} | {cut:g} | {k} | {c['rho_last']:.3f} | {thr:.3f} | "
                           f"{c['noise_rho']:.3f} ± {c['noise_rho_sd']:.3f} | "
                           f"{c['rho_before_final']:.3f} | {brho:.3f} [{zero[cut]['best_rho']}] | "
                           f"{jr} | {gap} | {_verdict1(thr, c, brho if k == 0 else np.nan)} |")
            if jl is not None and abs(jl["spearman"] - c["rho_last"]) > 0.02:
                one.append(f"| {name} | {cut:g} | {k} | (last in joint.json: "
                           f"{jl['spearman']:.3f}: other runs) | | | | | | | |")
            if k == 0:
                b = c["medae_best"]
                def r(v, b=b):
                    return f"{v / b:.2f}" if b > 0 else "-"
                jr = r(j["medae"]) if j else "-"
                thr = 0.8 * b
                if c["noise_medae"] > thr:
                    v = "unreachable (noise)"
                elif c["medae_hull"] > thr:
                    v = "open: beyond any mix of baselines"
                elif c["medae_pick"] > thr:
                    v = "open: beyond any pick of baselines"
                else:
                    v = "open"
                two.append(f"| {name} | {cut:g} | {b:.3g} [{c['best']}] | {r(c['noise_medae'])} | "
                           f"{r(c['medae_before_final'])} | {r(c['medae_pick'])} | "
                           f"{r(c['medae_hull'])} | {jr} | {v} |")
            else:
                j0 = at.get(("joint", cut, 0))
                if j0 and j:
                    f0 = c["noise_medae"] / j0["medae"]
                    v = "unreachable (noise)" if f0 > 0.7 else "open"
                    fifty.append(f"| {name} | {cut:g} | {f0:.2f} | {j['medae'] / j0['medae']:.2f} "
                                 f"| {v} |")
        for c in entry.get("context", []):
            cut = c["cutoff"]
            j = at.get(("joint", cut, 50))
            j0 = at.get(("joint", cut, 0))
            jr = f"{j['spearman']:.3f}" if j else "-"
            rr = (f"{c['k_medae'] / j0['medae']:.2f}, {c['all_medae'] / j0['medae']:.2f}"
                  if j0 else "-")
            ctx.append(f"| {name} | {cut:g} | {c['rho_last']:.3f} | "
                       f"{c['rho_last'] + 0.10:.3f} | {c['k_rho']:.3f} ({c['k_learner']}) | "
                       f"{c['all_rho']:.3f} ({c['all_learner']}, {c['all_n_train']:.0f} runs, "
                       f"R² {c['all_r2']:.2f}) | {jr} | {rr} |")
    return "\n".join(["Bar 1", *one, "", "Bar 2, K = 0 (medAE over the best baseline's)", *two, "",
                      "Bar 2, K = 50", *fifty, "", "K = 50: what context could buy",
                      *ctx])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="comma-separated source name prefixes")
    ap.add_argument("--table", action="store_true", help="only print the tables from --json")
    ap.add_argument("--json", default=str(OUT))
    ap.add_argument("--joint", default=str(RESULTS), help="bench_joint.py's scores")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    path = Path(args.json)
    if not args.table:
        only = [o for o in args.only.split(",") if o]
        names = [n for n in sources() if not only or any(n.startswith(o) for o in only)]
        run(names, 200, 150, path)
    joint = json.loads(Path(args.joint).read_text()) if Path(args.joint).exists() else {}
    print(tables(json.loads(path.read_text()), joint))


if __name__ == "__main__":
    main()
