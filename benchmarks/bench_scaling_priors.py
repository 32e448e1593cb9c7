"""Issue 18's bars: scaling laws that extrapolate, leave-one-study-out on ../shared/data/scaling.

Protocol (every study, every group): fit the runs with N <= (the group's largest N) / 4,
predict every larger run; mean relative error |pred - true| / true and coverage of the 90%
predictive interval. Methods, each beside the plain Chinchilla fit of the same points
(Hoffmann et al. 2022 approach 3 as Besiroglu et al. 2024 fit it, curvecast's default):

* plain: ``fit_law('chinchilla')``                       (the baseline)
* prior: Chinchilla, posterior under a prior learned from the OTHER studies
* overtraining, overtraining+prior: Gadre et al. 2024's law, plain and under a prior
* joint+prior: groups of a study share exponents, own coefficients (Porian's configs)
* auto: the law picked by the study's own rolling-origin refits (``scaling.select``)

The prior of each scored study is rebuilt from the other studies' full-data fits; the
shipped ``priors.json`` (all studies) is written by ``--write-prior`` and never scored.

    .venv/bin/python benchmarks/bench_scaling_priors.py                 # ~10 min
    .venv/bin/python benchmarks/bench_scaling_priors.py --write         # and BENCHMARKS.md
    .venv/bin/python benchmarks/bench_scaling_priors.py --write-prior   # the shipped prior
"""

from __future__ import annotations

import argparse
import json
import pickle
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from bench_scaling import pct, write_section
from bench_speed import machine

from curvecast.scaling import ScalingWarning, fit_law
from curvecast.scaling.calibrate import drift_rate, interval, interval_factor, scores
from curvecast.scaling.joint import joint_law
from curvecast.scaling.prior import PRIOR_FILE, Prior
from curvecast.scaling.select import choose_law, label, rolling_residuals

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "scaling"
SECTION = "## Scaling priors (issue 18)"
LEVEL = 0.9
N_BOOT = 40


@dataclass
class Group:
    """One group of a study: inputs, losses, and extra checkpoint points (optional)."""

    name: str
    X: dict[str, np.ndarray]
    y: np.ndarray
    ckpt: tuple[dict[str, np.ndarray], np.ndarray] | None = None


MIN_MULTIPLIER = 1.0
"""Runs with fewer tokens than parameters (D < N: Porian's smallest IsoFLOP budgets reach
D / N = 0.006, a model still in warm-up) lie outside what any of these laws describes;
they are left out of every study, fitted and held-out alike (``--all-points`` keeps them)."""


def _group(name, df, n, d, loss, u=None) -> Group:
    df = df[df[d] >= MIN_MULTIPLIER * df[n]]
    X = {"n": df[n].to_numpy(float), "d": df[d].to_numpy(float)}
    if u is not None:
        X["u"] = df[u].to_numpy(float)
    return Group(name, X, df[loss].to_numpy(float))


def epoch() -> list[Group]:
    df = pd.read_csv(DATA / "epoch_chinchilla" / "svg_extracted_data.csv")
    df = df[df["loss"] < df["loss"].nlargest(5).min()].copy()  # as Epoch do
    df["D"] = df["Training FLOP"] / (6 * df["Model Size"])
    return [_group("chinchilla", df, "Model Size", "D", "loss")]


def misfitting(best: bool = False) -> list[Group]:
    df = pd.read_csv(DATA / "misfitting_li2025" / "scaling_results_last_ckpt_only.csv")
    if best:
        df = df.groupby(["N", "D"], as_index=False)["loss"].min()
    g = _group("open_lm" + (" best LR" if best else ""), df, "N", "D", "loss")
    ck = pd.read_csv(DATA / "misfitting_li2025" / "scaling_results.csv")
    # Choshen et al. 2024: checkpoints past the first ~10% of training carry the curve;
    # a checkpoint's D is the tokens seen so far
    ck = ck[(ck["portion_steps_elapsed"] >= 0.3) & (ck["portion_steps_elapsed"] < 1)]
    if best:
        ck = ck.groupby(["N", "D"], as_index=False)["loss"].min()
    g.ckpt = ({"n": ck["N"].to_numpy(float), "d": ck["D"].to_numpy(float)},
              ck["loss"].to_numpy(float))
    return [g]


def porian() -> list[Group]:
    df = pd.read_csv(DATA / "porian_rsld" / "porian_isoflop_points_flat.csv")
    keys = ["source_file", "dataset", "hparams", "warmup", "decay", "param_count",
            "loss_split"]
    return [_group("/".join(map(str, k[1:])), g, "N_params", "D_tokens", "loss")
            for k, g in df.groupby(keys, sort=True)]


def datablations() -> list[Group]:
    df = pd.read_csv(DATA / "datablations_muennighoff" / "datablations_final_val_losses.csv")
    df = df[df["final_val_loss"] > 0]  # 0: unfinished
    return [_group("c4+oscar", df, "params", "tokens", "final_val_loss", u="unique_tokens")]


STUDIES = {"epoch_chinchilla": epoch, "misfitting_li2025": misfitting,
           "porian_rsld": porian, "datablations_muennighoff": datablations}
"""The studies with (N, D, loss); each one's own law for the prior of the others."""


def study_law(study: str, law: str) -> str:
    """The law whose fit a study lends the prior: Muennighoff et al.'s repeated runs the
    data-constrained law (its E, A, B, alpha, beta), others ``law`` itself."""
    return "data_constrained" if study == "datablations_muennighoff" and law == "chinchilla" \
        else law


# --------------------------------------------------------------------------- priors


def quiet_fit(*args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)
        return fit_law(*args, **kw)


def study_fits(law: str) -> dict[str, list]:
    """Each study's full-data fits of ``law`` (one per group), the prior's draws."""
    out = {}
    for study, load in STUDIES.items():
        use = study_law(study, law)
        out[study] = [quiet_fit(use, g.X if "u" in get_inputs(use) else _nd(g.X), g.y,
                                n_boot=0) for g in load()]
    return out


def get_inputs(law: str) -> tuple[str, ...]:
    from curvecast.scaling import get_law

    return get_law(law).inputs


def _nd(X):
    return {"n": X["n"], "d": X["d"]}


def build_prior(fits: dict[str, list], law: str, leave_out: str | None) -> Prior:
    """The prior from every study but ``leave_out``; a study's groups share one weight.
    A data-constrained fit gives its five Chinchilla parameters."""
    from curvecast.scaling import get_law

    spec = get_law(law)
    draws, sources, weights = [], [], []
    for study, fs in fits.items():
        if study == leave_out:
            continue
        for f in fs:
            theta = np.array([f.theta_[f.law.params.index(p)] for p in spec.params])
            draws.append(_Draw(spec, theta, f.drift_))
            weights.append(1.0 / len(fs))
        sources.append(study)
    return Prior.from_fits(draws, sources, weights)


@dataclass
class _Draw:
    """One study's fit as the prior reads it (a data-constrained fit's five Chinchilla
    parameters under the Chinchilla law)."""

    law: object
    theta_: np.ndarray
    drift_: float


# --------------------------------------------------------------------------- scoring


def split(g: Group) -> np.ndarray:
    return g.X["n"] <= g.X["n"].max() / 4


def score(pred, lower, upper, y, dist=None) -> dict:
    """Relative errors and coverage; with ``dist`` (log N beyond the fitted data) the
    log errors and distances that the calibrated intervals need."""
    rel = np.abs(pred - y) / y
    out = {"rel": rel, "inside": (lower <= y) & (y <= upper)}
    if dist is not None:
        out |= {"log_err": np.log(y) - np.log(pred), "dist": dist}
    return out


def beyond(Xh, Xt) -> np.ndarray:
    """Each held-out run's log N (or log x) beyond the largest fitted."""
    key = "n" if "n" in Xh else "x"
    return np.log(Xh[key]) - np.log(np.max(Xt[key]))


LAWS = {"plain": "chinchilla", "prior": "chinchilla", "overtraining": "overtraining",
        "overtraining+prior": "overtraining", "data_constrained": "data_constrained",
        "data_constrained+prior": "data_constrained"}
"""Method -> law; '+prior' fits the posterior under the other studies' prior."""


def _train(g: Group, law: str, train: np.ndarray, with_ckpt: bool):
    inputs = get_inputs(law)
    X = {k: v for k, v in g.X.items() if k in inputs}
    Xt, yt = {k: v[train] for k, v in X.items()}, g.y[train]
    if with_ckpt and g.ckpt is not None:
        cX, cy = g.ckpt
        keep = cX["n"] <= Xt["n"].max()
        Xt = {k: np.concatenate([Xt[k], cX[k][keep]]) for k in Xt}
        yt = np.concatenate([yt, cy[keep]])
    return X, Xt, yt


def run_method(method: str, g: Group, train: np.ndarray, priors: dict[str, Prior],
               with_ckpt: bool = False) -> dict:
    law = LAWS[method]
    X, Xt, yt = _train(g, law, train, with_ckpt)
    prior = priors[law] if method.endswith("prior") else None
    fit = quiet_fit(law, Xt, yt, n_boot=N_BOOT, prior=prior)
    Xh = {k: v[~train] for k, v in X.items()}
    p = fit.predict(Xh, LEVEL)
    return score(p.pred, p.lower, p.upper, g.y[~train], beyond(Xh, Xt))


def run_joint(groups: list[Group], trains, prior) -> list[dict]:
    """Chinchilla across ``groups`` sharing alpha, beta (posterior under ``prior``)."""
    law = joint_law("chinchilla", len(groups))
    cat = lambda parts: np.concatenate(parts)
    Xt = {k: cat([g.X[k][t] for g, t in zip(groups, trains)]) for k in ("n", "d")}
    Xt["g"] = cat([np.full(t.sum(), j + 1.0) for j, t in enumerate(trains)])
    yt = cat([g.y[t] for g, t in zip(groups, trains)])
    fit = quiet_fit(law, Xt, yt, n_boot=N_BOOT, prior=prior)
    out = []
    for j, (g, t) in enumerate(zip(groups, trains)):
        Xh = {"n": g.X["n"][~t], "d": g.X["d"][~t], "g": np.full((~t).sum(), j + 1.0)}
        p = fit.predict(Xh, LEVEL)
        out.append(score(p.pred, p.lower, p.upper, g.y[~t]))
    return out


def joint_sets(study: str, groups: list[Group]) -> list[list[int]]:
    """Groups that share exponents: Porian's configurations on RefinedWeb and on
    OpenWebText2 (the same setup on two data sets); elsewhere each group alone."""
    if study != "porian_rsld":
        return [[j] for j in range(len(groups))]
    by = {}
    for j, g in enumerate(groups):
        by.setdefault(g.name.split("/", 1)[1], []).append(j)
    return list(by.values())


def methods_of(study: str, groups: list[Group]) -> list[str]:
    out = ["plain", "prior", "overtraining", "overtraining+prior"]
    if "u" in groups[0].X:
        out += ["data_constrained", "data_constrained+prior"]
    if any(len(s) > 1 for s in joint_sets(study, groups)):
        out += ["joint", "joint+prior"]
    if groups[0].ckpt is not None:
        out += ["prior+ckpt"]
    return out


KEEP = ("rel", "inside", "log_err", "dist", "rate")

AUTO = ("plain", "prior", "overtraining", "overtraining+prior", "data_constrained",
        "data_constrained+prior")


def evaluate(study: str, groups: list[Group], priors) -> dict:
    """Per method, every held-out run's relative error and whether its interval held it;
    'auto' is, per group, the candidate the group's own rolling origins chose."""
    methods = methods_of(study, groups)
    per = {m: [None] * len(groups) for m in methods}
    trains = [split(g) for g in groups]
    for m in methods:
        if m.startswith("joint"):
            for s in joint_sets(study, groups):
                res = run_joint([groups[j] for j in s], [trains[j] for j in s],
                                priors["chinchilla"] if m.endswith("prior") else None)
                for j, r in zip(s, res):
                    per[m][j] = r
            continue
        for j, g in enumerate(groups):
            per[m][j] = run_method(m.removesuffix("+ckpt"), g, trains[j], priors,
                                   m.endswith("+ckpt"))
    per["auto"], chosen, group_scores = [], [], []
    for j, g in enumerate(groups):
        ms = [m for m in AUTO if m in methods]
        cands = [(LAWS[m], priors[LAWS[m]] if m.endswith("prior") else None) for m in ms]
        _, Xt, yt = _train(g, "data_constrained" if "u" in g.X else "chinchilla", trains[j],
                           False)
        best, scores = choose_law(cands, Xt, yt)
        m = dict(zip([label(*c) for c in cands], ms))[best]
        by_method = dict(zip([label(*c) for c in cands], ms))
        group_scores.append({by_method[k]: v for k, v in scores.items()})
        law, pr = dict(zip([label(*c) for c in cands], cands))[best]
        rate = drift_rate(*rolling_residuals(law, Xt, yt, pr))
        per["auto"].append({**per[m][j], "rate": np.full(len(per[m][j]["rel"]), rate)})
        chosen.append(m)
    out = {m: {k: np.concatenate([r[k] for r in rs]) for k in rs[0] if k in KEEP}
           for m, rs in per.items()}
    out["auto"]["chosen"] = chosen
    out["auto"]["scores"] = group_scores  # each group's candidates' rolling-origin errors
    out["auto"]["per_group"] = {m: [r["log_err"] for r in per[m]] for m in ms}
    return out


CLI_CHECKED = ("epoch_chinchilla", "misfitting_li2025")
"""Studies on which the CLI's path is run beside the benchmark's own auto (cheap ones)."""


def cli_path(groups: list[Group], priors) -> dict:
    """What ``curvecast scaling backtest --fit-fraction 0.25 --prior FILE`` does under its
    default ``--law auto`` (``scaling.backtest`` with auto's candidates, each law its own
    prior), here with the leave-one-study-out priors: it must give auto's numbers."""
    from curvecast.scaling import backtest
    from curvecast.scaling.table import Points

    pts = [Points(g.name, dict(g.X), g.y, np.arange(len(g.y))) for g in groups]
    laws = ("chinchilla", "overtraining") + (("data_constrained",) if "u" in groups[0].X
                                              else ())
    # fit_fraction 0.25 holds out N > max / 4, the same split as ``split``
    bt = backtest(pts, "chinchilla", fit_fraction=0.25, n_boot=N_BOOT, level=LEVEL,
                  choose=laws, priors={law: priors[law] for law in laws})
    y = np.array([p.true for p in bt.points])
    pred, lo, hi = (np.array([getattr(p, k) for p in bt.points])
                    for k in ("pred", "lower", "upper"))
    return score(pred, lo, hi, y)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(STUDIES))
    ap.add_argument("--extra", default="alabdulmohsin", help="'' to skip the one-variable "
                    "curves of Alabdulmohsin et al.")
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--write-prior", action="store_true")
    ap.add_argument("--rows", default="", help="pickle the raw results to this file")
    ap.add_argument("--from-rows", default="", help="rebuild the report from --rows' file")
    args = ap.parse_args()
    if args.from_rows:  # a file this script wrote: trusted
        finish(pickle.loads(Path(args.from_rows).read_bytes()), args.write)
        return
    run([s for s in args.only.split(",") if s], args.extra, write=args.write,
        write_prior=args.write_prior, rows_file=args.rows)


def run(studies: list[str], extra: str, *, write: bool = False, write_prior: bool = False,
        rows_file: str = "") -> None:
    """Score ``studies`` (and with ``extra`` 'alabdulmohsin' the one-variable curves),
    print, and with ``write`` rewrite the section of BENCHMARKS.md."""
    t0 = time.perf_counter()
    fits = {}
    if studies or write_prior:
        fits = {law: study_fits(law) for law in ("chinchilla", "overtraining")}
        print(f"study fits in {time.perf_counter() - t0:.0f} s", flush=True)
    if write_prior:
        write_prior(fits)
    rows = []
    for study in studies:
        priors = {law: build_prior(fits[law], law, study) for law in fits}
        priors["data_constrained"] = priors["chinchilla"]  # shares E, A, B, alpha, beta
        variants = [(study, STUDIES[study]())]
        if study == "misfitting_li2025":
            variants.append((study + " (best LR)", misfitting(best=True)))
        for name, groups in variants:
            t = time.perf_counter()
            res = evaluate(study, groups, priors)
            if study in CLI_CHECKED:
                res["cli"] = cli_path(groups, priors)
            rows.append((name, res, time.perf_counter() - t))
            print(name, {m: (pct(r["rel"].mean()), f"{r['inside'].mean():.0%}")
                         for m, r in res.items()}, res["auto"]["chosen"][:5], flush=True)
    if "alabdulmohsin" in extra:
        t = time.perf_counter()
        res = alabdulmohsin()
        rows.append(("revisiting_alabdulmohsin (per curve)", res, time.perf_counter() - t))
        print(rows[-1][0], {m: (pct(r["rel"].mean()), f"{r['inside'].mean():.0%}")
                            for m, r in res.items()}, flush=True)
    if rows_file:  # the raw results, so the report can be rebuilt without the fits
        Path(rows_file).write_bytes(pickle.dumps(rows))
    finish(rows, write)


def average(res) -> None:
    """Adds 'auto+avg' where auto scored candidates: per group, the candidates' log
    predictions averaged with weights 1 / (rolling-origin error)^2 instead of picking one
    (model averaging; no interval, so no coverage)."""
    auto = res["auto"]
    if not auto.get("scores"):
        return
    errs = []
    for j, sc in enumerate(auto["scores"]):
        ms = [m for m, v in sc.items() if np.isfinite(v) and v > 0]
        if not ms:  # nothing scored: auto's own pick
            errs.append(auto["per_group"][auto["chosen"][j]][j])
            continue
        w = np.array([sc[m] for m in ms]) ** -2.0
        errs.append(sum(wi / w.sum() * auto["per_group"][m][j] for wi, m in zip(w, ms)))
    rel = np.abs(np.expm1(-np.concatenate(errs)))  # |pred - true| / true from log(true/pred)
    res["auto+avg"] = {"rel": rel, "inside": np.full(rel.size, np.nan)}


def finish(rows, write: bool) -> None:
    """Calibrated intervals, then the table (with ``write``, into BENCHMARKS.md)."""
    for _, res, _ in rows:
        average(res)
    k_all = calibrate(rows)
    print(f"k from every study: {k_all:.2f}")
    for name, res, _ in rows:
        print(name, "calibrated", f"k={res['auto+cal']['k']:.2f}",
              f"{res['auto+cal']['inside'].mean():.0%}", flush=True)
    if write:
        write_section("\n".join(report(rows, k_all)), SECTION)
        save(rows)


def study_of(name: str) -> str:
    return name.split(" ")[0]


def _auto_points(res) -> list[dict]:
    """The auto method's held-out runs as units (a curve each for the one-variable
    study, whose curves count once each; the whole study otherwise)."""
    auto = res["auto"]
    return auto.get("curves", [auto])


def calibrate(rows) -> float:
    """Adds 'auto+cal' to each row: auto's predictions, intervals of the width the
    OTHER studies' held-out runs call for (``scaling.calibrate``; a study's variants,
    like (Mis)fitting's best LR, are one study and lend only their first row)."""
    sources = {}
    for name, res, _ in rows:
        units = _auto_points(res)
        sources.setdefault(study_of(name), np.concatenate(
            [scores(u["log_err"], u["dist"], u["rate"]) for u in units]))
    for name, res, _ in rows:
        k = interval_factor([v for s, v in sources.items() if s != study_of(name)], LEVEL)
        covered = [_inside(u, k) for u in _auto_points(res)]
        # the one-variable study: each curve's coverage counts once, as its error does
        inside = (covered[0] if "curves" not in res["auto"] else
                  np.array([c.mean() for c in covered]))
        res["auto+cal"] = {"rel": res["auto"]["rel"], "inside": inside, "k": k}
    return interval_factor(list(sources.values()), LEVEL)  # all studies: for a new one


def _inside(u: dict, k: float) -> np.ndarray:
    """Whether each held-out run is inside pred * exp(+-k * rate * dist)."""
    lo, hi = interval(np.ones_like(u["dist"]), u["dist"], 1.0, k * np.asarray(u["rate"]))
    ratio = np.exp(u["log_err"])  # true / pred
    return (lo <= ratio) & (ratio <= hi)


def save(rows) -> None:
    """Every held-out run's relative error and coverage per method, for the record."""
    doc = {name: {m: {"mean_rel_error": float(r["rel"].mean()),
                      "coverage": (None if np.isnan(r["inside"].mean())  # no interval
                                   else float(r["inside"].mean())),
                      "rel_errors": r["rel"].tolist(),
                      **({"chosen": r["chosen"]} if "chosen" in r else {})}
                  for m, r in res.items()} for name, res, _ in rows}
    (REPO / "benchmarks" / "results" / "scaling_priors.json").write_text(json.dumps(doc))


def write_prior(fits) -> None:
    priors = {law: build_prior(fits[law], law, None) for law in fits}
    for law, p in priors.items():
        priors[law] = Prior(p.law, p.names, p.loc, p.scale, p.dof, p.sources, (
            "Learned by benchmarks/bench_scaling_priors.py --write-prior from the full-data "
            "fits of: Epoch's Chinchilla refit (Besiroglu et al. 2024), (Mis)fitting's "
            "open_lm final checkpoints (Li et al. 2025), Porian et al. 2024's 15 IsoFLOP "
            "configurations, Muennighoff et al. 2023's data-constrained runs (their "
            "law's E, A, B, alpha, beta); a study's groups share one weight."), p.draws,
            p.drift)
    doc = {"about": "Population priors over scaling-law parameters (curvecast.scaling.prior)",
           "priors": {law: p.to_dict() for law, p in priors.items()}}
    path = REPO / "src" / "curvecast" / "scaling" / PRIOR_FILE
    path.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {path}")


# --------------------------------------------------------------------------- one variable


def alabdulmohsin_curves() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Alabdulmohsin et al. 2022's 92 curves (domain, x = examples seen, loss)."""
    df = pd.concat([pd.read_csv(DATA / "revisiting_alabdulmohsin" / f"benchmark.{k}.csv")
                    for k in ("lang", "vision")])
    return [(dom, g["Seen Examples"].to_numpy(float), g["Loss"].to_numpy(float))
            for (dom, _, _), g in df.groupby(["Domain", "Task", "Model"], sort=True)]


def alabdulmohsin() -> dict:
    """The same protocol on one-variable curves (fit x <= max x / 4, predict the rest):
    E + A x^-alpha plain, and under a prior on alpha learned from the OTHER domains'
    full-curve fits (one study, so leave-one-domain-out); 'auto' by rolling origins."""
    curves = alabdulmohsin_curves()
    alphas = {}
    for dom, x, y in curves:
        alphas.setdefault(dom, []).append(quiet_fit("power", {"x": x}, y, n_boot=0,
                                                    drift=False).params_["alpha"])
    res = {m: {"rel": [], "inside": []} for m in ("plain", "prior", "auto")}
    chosen, curves_auto = [], []
    for dom, x, y in curves:
        others = [a for d, v in alphas.items() if d != dom for a in v]
        prior = Prior("power", ("alpha",), (float(np.mean(others)),),
                      (max(float(np.std(others, ddof=1)), 0.03),), sources=("others",))
        train = x <= x.max() / 4
        if np.unique(x[train]).size < 4:
            continue
        scored = {}
        for m, pr in (("plain", None), ("prior", prior)):
            fit = quiet_fit("power", {"x": x[train]}, y[train], n_boot=N_BOOT, prior=pr)
            p = fit.predict({"x": x[~train]}, LEVEL)
            scored[m] = score(p.pred, p.lower, p.upper, y[~train],
                              beyond({"x": x[~train]}, {"x": x[train]}))
        best, _ = choose_law([("power", None), ("power", prior)], {"x": x[train]}, y[train])
        pick = prior if best.endswith("+prior") else None
        scored["auto"] = scored["prior" if pick is not None else "plain"]
        rate = drift_rate(*rolling_residuals("power", {"x": x[train]}, y[train], pick))
        curves_auto.append({**scored["auto"], "rate": rate})
        chosen.append("prior" if best.endswith("+prior") else "plain")
        for m, r in scored.items():
            res[m]["rel"].append(r["rel"].mean())  # each curve counts once
            res[m]["inside"].append(r["inside"].mean())
    out = {m: {k: np.array(v) for k, v in r.items()} for m, r in res.items()}
    out["auto"]["chosen"] = chosen
    out["auto"]["curves"] = curves_auto  # per curve: the calibrated intervals need them
    return out


NAMES = {"plain": "plain Chinchilla", "prior": "Chinchilla + prior",
         "overtraining": "over-training", "overtraining+prior": "over-training + prior",
         "data_constrained": "data-constrained", "data_constrained+prior":
         "data-constrained + prior", "joint": "joint (shared exponents)",
         "joint+prior": "joint + prior", "prior+ckpt": "Chinchilla + prior + checkpoints",
         "auto": "**auto** (rolling origins)",
         "auto+cal": "**auto**, calibrated interval",
         "auto+avg": "auto's candidates averaged (weights 1/error^2)",
         "cli": "`curvecast scaling backtest --fit-fraction 0.25` (default --law auto)"}
ONE_VARIABLE = {"plain": "E + A x^-alpha (the baseline)", "prior": "E + A x^-alpha, prior on "
                "alpha", "auto": "**auto** (rolling origins)",
                "auto+cal": "**auto**, calibrated interval"}


def report(rows, k_all: float) -> list[str]:
    out = [SECTION, "", "```", ".venv/bin/python benchmarks/bench_scaling_priors.py --write",
           "```", "", *NOTES, ""]
    out += ["| study | method | mean rel. error | / plain | coverage of 90% |",
            "|---|---|---:|---:|---:|"]
    verdicts = {1: [], 2: [], 3: []}
    for name, res, seconds in rows:
        plain = res["plain"]["rel"].mean()
        n = len(res["plain"]["rel"])
        names = ONE_VARIABLE if name.startswith("revisiting") else NAMES
        for m, r in res.items():
            err, cov = r["rel"].mean(), r["inside"].mean()
            out.append(f"| {name} ({n} held out) | {names[m]} | {pct(err)} | "
                       f"{err / plain:.2f} | {'-' if np.isnan(cov) else f'{cov:.0%}'} |")
        auto = res["auto"]
        ratio, cov = auto["rel"].mean() / plain, res["auto+cal"]["inside"].mean()
        verdicts[1].append((name, ratio <= 0.6, f"{ratio:.2f}x"))
        verdicts[3].append((name, 0.8 <= cov <= 0.97, (f"{cov:.0%} calibrated, "
                            f"{auto['inside'].mean():.0%} not")))
        if name.startswith("misfitting"):
            verdicts[2].append((name, auto["rel"].mean() <= 0.01, pct(auto["rel"].mean())))
        picks = pd.Series(auto["chosen"]).value_counts()
        out.append(f"| | auto chose | {', '.join(f'{k} x{v}' for k, v in picks.items())} "
                   f"| | ({seconds:.0f} s) |")
    bars = {1: "auto's mean relative error <= 0.6x the plain fit's",
            2: "(Mis)fitting, auto's mean relative error <= 1.0%",
            3: "auto's calibrated 90% intervals cover 80-97% of held-out runs"}
    out += ["", "Bars, judged on the default (auto):", ""]
    for k, text in bars.items():
        parts = "; ".join(f"{n}: {v} ({'pass' if ok else 'FAIL'})" for n, ok, v in verdicts[k])
        out.append(f"* Bar {k} ({text}): {parts}.")
    ks = ", ".join(f"{name} {res['auto+cal']['k']:.2f}" for name, res, _ in rows)
    out += ["", (f"The calibration factor k learned without each study: {ks}; from every "
            f"study (for a new one): {k_all:.2f}.")]
    m = machine()
    out += ["", *CAVEATS, "", (f"Commit `{m['commit']}` (library source hash "
            f"`{m['source']}`), {m['cpu_count']} CPUs, Python {m['python']}, numpy "
            f"{m['numpy']}, scipy {m['scipy']}."), ""]
    return out


NOTES = [
    ("Leave-one-study-out on the four studies of ../shared/data/scaling with (N, D, loss): "
     "per group, the runs with N <= (largest N) / 4 are fitted and every larger run is "
     "predicted (so every group extrapolates at least 4x in N). Runs with D < N are left out "
     "of every study (Porian et al.'s smallest IsoFLOP budgets reach D/N = 0.006). The prior "
     "of a scored study is learned from the other three studies' full-data fits (a study's "
     "groups share one weight; the data-constrained study lends its law's E, A, B, alpha, "
     "beta), and so is the population drift that widens its intervals. 'auto' picks per "
     "group, among Chinchilla and the over-training law (and the data-constrained law where "
     "there are unique-token counts), each plain and under the prior, by refits without "
     "the 1 and 2 largest fitted sizes (only fitted runs): the most constrained candidate "
     "within one standard error of the best (``scaling.select``); this is what every "
     "`curvecast scaling` command does by default (`--law auto`; the CLI's shipped prior "
     "has seen every study, so here the prior is rebuilt without the scored one, and the "
     "CLI row runs the CLI's own path, ``scaling.backtest``, under that prior); where unique-token "
     "counts show repeated data (D > U), only laws that read U are candidates. "
     "Relative error is abs(pred - true) / true; '/ plain' its ratio to the plain "
     "Chinchilla fit of the same points (the same recipe: Huber 1e-3 on log-loss, grid then "
     "L-BFGS-B); coverage the fraction of held-out losses inside the 90% interval (40 "
     "bootstrap replicates for plain fits, 40 Laplace draws for posterior fits). "
     "'calibrated interval' (``scaling.calibrate``): auto's prediction times exp(+-k r "
     "dist), dist the run's log N beyond the largest fitted, r the RMS log error over "
     "the RMS distance (in log N) of the chosen candidate's own rolling-origin refits, and k the 90% "
     "quantile of |log error| / (r dist) over the OTHER studies' held-out runs (each "
     "study weighing 1; (Mis)fitting's best-LR variant lends nothing, being the same "
     "study). Bar 3 is judged on it."),
]

CAVEATS = [
    "What the table does not show:",
    "",
    ("* No over-training study outside ../shared/data is checked (the issue's 412M -> "
     "6.9B study is not in the shared data); the 17x-extrapolation bar cannot be measured "
     "here. Alabdulmohsin et al.'s curves are one study of one variable (examples seen): "
     "fitted x <= max x / 4, each curve's mean error counted once, the prior on alpha alone "
     "learned from the other domains (leave-one-domain-out); the baseline there is E + A "
     "x^-alpha, not Chinchilla. Caballero et al.'s 4-digit addition has 3 sizes at most a "
     "quarter of its largest: not scored."),
    ("* Data-constrained runs: auto chooses among laws that read unique tokens (the "
     "rule is structural, not learned: a law blind to repetition cannot describe runs "
     "that repeat data); before it, the one-standard-error rule chose the over-training "
     "law under the prior (17.03%, 1.21x): a few repeated-data runs that overfit make the "
     "rolling-origin errors heavy-tailed and the threshold wide."),
    ("* Porian et al.: the one-standard-error rule prefers the over-training law (Chinchilla "
     "with tied exponents, one parameter fewer) on most configurations, where its "
     "rolling-origin error is within one standard error of the best; it extrapolates "
     "worse (1.56-1.92x). No candidate here is much better than plain Chinchilla on "
     "Porian's IsoFLOP configurations (joint shared exponents 0.99x): bar 1 is out of "
     "reach of these laws there."),
    ("* Calibration does not fix bar 3. The uncalibrated intervals (auto's own row: "
     "posterior intervals with tempered likelihood and pooled population drift, or the "
     "bootstrap) are too wide on (Mis)fitting and too narrow on Epoch and Alabdulmohsin's "
     "curves. The calibrated width follows each study's own rolling-origin drift, and that "
     "estimate is poor: refits from fewer sizes err more per unit of distance than the "
     "final fit does, by a factor that differs between studies (rolling origins "
     "merge sizes within 1%: Epoch's extracted sizes come as values a millionth apart, "
     "which had put an origin a hair beyond its data and made the rate explode). A width learned from other studies can only fix a "
     "study-specific miscalibration if the study's own scale estimate is good."),
    ("* (Mis)fitting: 'at most a quarter of the largest N' is taken strictly (N <= 2.957e8 "
     "excludes misfitting_200m at 2.959e8, which issue 6's benchmark fitted): 7 sizes up to "
     "1.77e8 fitted. 'best LR' keeps the lowest loss per (N, D)."),
    ("* Model averaging (the 'averaged' rows): each group's candidates' log predictions "
     "weighted by 1 / (rolling-origin error)^2 instead of the one-standard-error pick. "
     "Worse than the pick on Epoch and (Mis)fitting, slightly better on the "
     "data-constrained runs: the rolling-origin errors of these candidates are close "
     "(Epoch: 0.37-0.44%) and do not rank how they extrapolate 4x farther, so weighting by "
     "them mostly mixes in the worse ones. Not adopted."),
    ("* Checkpoints: intermediate checkpoints (30-99% of a run's steps, D = tokens seen) of "
     "the fitted (Mis)fitting runs added to the fit (Choshen et al. 2024) made it worse here; "
     "under a cosine schedule a mid-run loss is above that of a run trained to that D."),
]


if __name__ == "__main__":
    main()
