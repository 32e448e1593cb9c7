"""``curvecast scaling``: fit a scaling law to a table of runs, predict, the optimal split.

The command group is registered on the main ``curvecast`` group in ``cli.py``.
"""

from __future__ import annotations

import json
import math
import warnings
from contextlib import contextmanager
from pathlib import Path

import click

from .choices import LAWS
from .cli_output import cell, make_console, new_table
from .errors import InputError

# the scaling package (scipy, pandas) loads inside the commands: --help stays instant

AUTO = "auto"  # scaling.select.AUTO, without importing scipy for --help


def _scaling_options(f):
    """Options every ``curvecast scaling`` command shares (applied bottom-up)."""
    opts = [
        click.option("--law", type=click.Choice((AUTO, *LAWS)), default=AUTO,
                     show_default=True, help="auto: per group, the law the study's own "
                     "refits without its 1-2 largest sizes predict best (chinchilla, "
                     "overtraining, data_constrained where there is a --u column; each "
                     "also under --prior, the shipped one by default; power or bnsl for "
                     "one variable --x); chinchilla: E + A/N^alpha + B/D^beta; "
                     "overtraining: Gadre et al. in compute and tokens per parameter; "
                     "data_constrained: Muennighoff et al. with unique tokens U; power: "
                     "E + A x^-alpha; plain_power: A x^-alpha; bnsl: broken power law."),
        click.option("--n", "n_col", default="N", show_default=True,
                     help="Column of parameters N."),
        click.option("--d", "d_col", default=None,
                     help="Column of training tokens D [default: D, or derived from --c]."),
        click.option("--u", "u_col", default="U", show_default=True,
                     help="Column of unique tokens (data_constrained)."),
        click.option("--x", "x_col", default="x", show_default=True,
                     help="Column of the one variable of power, plain_power and bnsl."),
        click.option("--c", "c_col", default=None,
                     help="Column of training compute C; D = C / (k N) when --d is not given."),
        click.option("--loss", "loss_col", default="loss", show_default=True,
                     help="Column of the final loss (nan: a diverged run, dropped)."),
        click.option("--group", "group_col", default=None,
                     help="Fit one law per value of this column."),
        click.option("--best", is_flag=True,
                     help="Of runs with the same inputs (a learning-rate sweep), keep the "
                          "lowest loss."),
        click.option("--k", type=click.FloatRange(min=0, min_open=True), default=6.0,
                     show_default=True, help="FLOPs per parameter per token: C = k N D."),
        click.option("--level", type=click.FloatRange(0, 1, min_open=True, max_open=True),
                     default=0.9, show_default=True, help="Probability of the intervals."),
        click.option("--boot", type=click.IntRange(0), default=200, show_default=True,
                     help="Bootstrap replicates over runs."),
        click.option("--seed", type=int, default=0, show_default=True,
                     help="Seed of the bootstrap."),
        click.option("--prior", "prior_spec", default=None, metavar="shipped|FILE|none",
                     help="Fit the posterior under a population prior over the law's "
                          "parameters learned across studies: 'shipped' (curvecast's, "
                          "from the public studies in BENCHMARKS.md) or a JSON file; "
                          "intervals then come from the posterior (--boot draws). With "
                          "--law auto the prior's fits are candidates beside the plain "
                          "ones [default there: shipped; none: plain fits only]."),
        click.option("--format", "fmt", type=click.Choice(("csv", "jsonl", "parquet")),
                     default=None, help="Input format [default: from the extension]."),
        click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _inputs(file, o) -> tuple[str, ...]:
    """The law inputs to read: --law's, or for auto N and D (and U where the table has
    the --u column) unless the table has no N and D but an --x column."""
    from .scaling import get_law

    if o["law"] != AUTO:
        return get_law(o["law"]).inputs
    from .scaling.table import column_names

    cols = set(column_names(file, o["fmt"]))
    has_d = (o["d_col"] or "D") in cols or (o["d_col"] is None and o["c_col"] is not None)
    if o["x_col"] in cols and not (o["n_col"] in cols and has_d):
        return ("x",)
    # else N and D: a table with neither gets the missing-column error naming N and D
    return ("n", "d", "u") if o["u_col"] in cols else ("n", "d")


def _scaling_points(file, o, inputs=None):
    """(inputs, [points of each group]) as the options say; with --c and no --d, D is
    derived from compute."""
    from .scaling import read_points

    inputs = inputs or _inputs(file, o)
    cols = {"n": o["n_col"], "d": o["d_col"] or "D", "u": o["u_col"], "x": o["x_col"]}
    compute = None
    if "d" in inputs and o["d_col"] is None and o["c_col"] is not None:
        compute = o["c_col"]
        del cols["d"]
    columns = {k: v for k, v in cols.items() if k in inputs}
    return inputs, read_points(file, columns, o["loss_col"], group=o["group_col"],
                               compute=compute, k=o["k"], fmt=o["fmt"], best=o["best"])


def _candidates(o, inputs, laws=None):
    """--law auto's candidates (``scaling.select.auto_candidates``)."""
    from .scaling.select import auto_candidates

    spec = o.get("prior_spec")
    prior = None if spec == "none" else (spec or "shipped")
    return auto_candidates(inputs, prior, laws)


def _scaling_fits(file, o, inputs=None):
    """(law name, [(points, fit)], {group: the choice}) for every group: the --law, or
    with auto the one each group's rolling origins pick; warnings go to stderr, once
    each, and so do the choices."""
    from .scaling import ScalingWarning, fit_law, get_law
    from .scaling.select import fit_auto

    inputs, groups = _scaling_points(file, o, inputs)
    auto = o["law"] == AUTO
    law = None if auto else get_law(o["law"])
    prior = None if auto else _prior(o, law)
    cands = _candidates(o, inputs) if auto else None
    fits, picks = [], {}
    for pts in groups:
        with warnings.catch_warnings(), _naming(file, pts.where):
            warnings.simplefilter("ignore", ScalingWarning)
            if auto:
                fit, picks[pts.group] = fit_auto(cands, pts.X, pts.y, n_boot=o["boot"],
                                                 seed=o["seed"])
            else:
                fit = fit_law(law, pts.X, pts.y, n_boot=o["boot"], seed=o["seed"],
                              prior=prior)
        for w in fit.warnings_:
            click.echo(f"warning: {pts.where}{fit.law.name}: {w}", err=True)
        _note_dropped(pts)
        fits.append((pts, fit))
    return o["law"], fits, picks


def _pick_lines(picks) -> list[str]:
    """One line per group: the law auto chose and its held-out error."""
    out = []
    for group, c in picks.items():
        errs = ", ".join(f"{k} {_pct(v)}" for k, v in c["rolling_errors"].items())
        n = c.get("held_out_runs")
        out.append(f"{'' if group is None else f'group {group}: '}law {c['law']}, chosen by "
                   f"rolling-origin refits without the 1-2 largest sizes (held-out mean "
                   f"relative error {_pct(c.get('held_out_error', float('nan')))}"
                   f"{'' if n is None else f' on {n} runs'}; every candidate: {errs})")
    return out


def _pct(v: float) -> str:
    return f"{v:.2%}" if math.isfinite(v) else "n/a"


def _picks_json(picks) -> dict:
    return {("null" if g is None else str(g)): _pick_json(c) for g, c in picks.items()}


def _pick_json(c):
    """A choice for JSON: an error that could not be measured (NaN) is null."""
    if c is None:
        return None
    fin = lambda v: v if isinstance(v, (int, str)) or math.isfinite(v) else None
    return {**c, "held_out_error": fin(c["held_out_error"]),
            "rolling_errors": {k: fin(v) for k, v in c["rolling_errors"].items()}}


def _prior(o, law):
    """The prior --prior names for ``law`` (None without it, or 'none')."""
    if o.get("prior_spec") in (None, "none"):
        return None
    from .scaling.prior import load_prior

    return load_prior(o["prior_spec"], law.name)


@contextmanager
def _naming(file, where: str = ""):
    """Re-raise an InputError from fitting (which knows no file) naming the file and the
    group ``where``."""
    try:
        yield
    except InputError as exc:
        if exc.file is not None:
            raise
        raise InputError(f"{where}{exc.message}", file=str(file)) from None


def _note_dropped(pts) -> None:
    if pts.dropped:
        click.echo(f"note: {pts.where}{pts.dropped} run(s) with a NaN or inf loss dropped "
                   "(diverged)", err=True)


def _est_cells(e) -> list[str]:
    return [cell(e.estimate), cell(e.se), cell(e.lower), cell(e.upper)]


@click.group()
def scaling() -> None:
    """Scaling laws: fit small runs, predict big ones, the compute-optimal split."""


@scaling.command("fit")
@click.argument("file", type=click.Path(path_type=Path))
@_scaling_options
def scaling_fit(file, **o) -> None:
    """Fit a scaling law to the runs in FILE: parameters with bootstrap intervals."""
    name, fits, picks = _scaling_fits(file, o)
    if o["as_json"]:
        one = fits[0][1].law if name != AUTO else None
        out = {"law": name, "formula": one.formula if one else _AUTO_FORMULA,
               "citation": one.citation if one else _AUTO_CITATION,
               "level": o["level"], "boot": o["boot"], "seed": o["seed"],
               "prior": o["prior_spec"], "fits": [
                   {"group": pts.group, "law": fit.law.name, "formula": fit.law.formula,
                    "posterior": _posterior(fit, name, o, picks.get(pts.group)),
                    "chosen": _pick_json(picks.get(pts.group)),
                    "n_points": fit.n_points, "dropped": pts.dropped,
                    "params": {k: e.to_dict() for k, e in fit.parameters(o["level"]).items()},
                    "residual_scale": fit.residual_scale, "warnings": fit.warnings_}
                   for pts, fit in fits]}
        click.echo(json.dumps(out, indent=2))
        return
    console = make_console()
    if name != AUTO:
        console.print(f"{fits[0][1].law.formula}  ({fits[0][1].law.citation})")
    for pts, fit in fits:
        pick = picks.get(pts.group)
        if pick is not None:
            console.print(*_pick_lines({pts.group: pick}),
                          f"  {fit.law.formula}  ({fit.law.citation})", sep="\n")
        post = _posterior(fit, name, o, pick)
        title = (f"{'' if pts.group is None else f'group {pts.group}: '}{fit.n_points} runs, "
                 f"{o['level']:.0%} {'posterior' if post else 'bootstrap'} "
                 f"intervals ({o['boot']} draws); "
                 f"log-residual scale {fit.residual_scale:.3g}")
        table = new_table(("parameter", "estimate", "se", "lower", "upper"), left=("parameter",),
                          title=title)
        for name, e in fit.parameters(o["level"]).items():
            table.add_row(name, *_est_cells(e))
        console.print(table)


_AUTO_FORMULA = "per group, the law its own rolling-origin refits pick (fits[].law)"
_AUTO_CITATION = ("one-standard-error rule (Breiman et al. 1984, sec. 3.4.3) over refits "
                  "without the 1-2 largest sizes")


def _posterior(fit, name, o, pick) -> bool:
    """Whether ``fit`` is a posterior under a prior (its intervals then too)."""
    if pick is not None:
        return pick["law"].endswith("+prior")
    return o["prior_spec"] not in (None, "none")


def _parse_at(text: str, inputs, o, optional=()) -> dict[str, float]:
    """'N=7e9,D=1.4e12' -> {'n': 7e9, 'd': 1.4e12}: keys are inputs or their columns;
    an ``optional`` input left out is filled in by the caller."""
    names = {i: i for i in inputs}
    names.update({str(o[f"{i}_col"]).lower(): i for i in inputs if o.get(f"{i}_col")})
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        name = names.get(key.strip().lower())
        if not sep or name is None:
            raise click.BadParameter(f"{part!r}: write NAME=VALUE with NAME one of "
                                     f"{', '.join(inputs)}", param_hint="--at")
        try:
            out[name] = float(value)
        except ValueError:
            raise click.BadParameter(f"{value!r} is not a number", param_hint="--at") from None
    missing = [i for i in inputs if i not in out and i not in optional]
    if missing:
        raise click.BadParameter(f"{text!r} lacks {', '.join(missing)}", param_hint="--at")
    if any(not (v > 0 and math.isfinite(v)) for v in out.values()):
        raise click.BadParameter(f"{text!r}: values must be positive", param_hint="--at")
    return out


@scaling.command("predict")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--at", "at", multiple=True, required=True,
              help="A point to predict, e.g. N=7e9,D=1.4e12 (repeat for more).")
@_scaling_options
def scaling_predict(file, at, **o) -> None:
    """Predict the loss at new points, with a predictive interval for one run there."""
    inputs = _inputs(file, o)
    # auto reads U where the table has it; a point without U trains on fresh tokens
    optional = ("u",) if o["law"] == AUTO and "u" in inputs else ()
    points = [_parse_at(a, inputs, o, optional) for a in at]  # before the slow fit
    for p in points:
        p.setdefault("u", p["d"]) if optional else None
    X = {i: [p[i] for p in points] for i in inputs}
    name, fits, picks = _scaling_fits(file, o, inputs)
    rows = []
    for pts, fit in fits:
        pr = fit.predict({i: X[i] for i in fit.law.inputs}, o["level"])
        for j, p in enumerate(points):
            rows.append({"group": pts.group, **({"law": fit.law.name} if picks else {}), **p,
                         "pred": float(pr.pred[j]), "lower": float(pr.lower[j]),
                         "upper": float(pr.upper[j])})
    if o["as_json"]:
        click.echo(json.dumps({"law": name, "level": o["level"], "predictions": rows,
                               **({"chosen": _picks_json(picks)} if picks else {})},
                              indent=2))
        return
    cols = ["group", *(["law"] if picks else []), *inputs, "pred", "lower", "upper"]
    table = new_table(cols, left=("group", "law"),
                      title=f"{name}: predicted loss, {o['level']:.0%} predictive interval")
    for r in rows:
        table.add_row("-" if r["group"] is None else r["group"],
                      *(r[c] if c == "law" else cell(r[c]) for c in cols[1:]))
    console = make_console()
    console.print(table)
    for line in _pick_lines(picks):
        console.print(line)


@scaling.command("optimal")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--compute", "budgets", multiple=True, required=True, type=float,
              help="Training compute in FLOPs, e.g. 1e23 (repeat for more).")
@_scaling_options
def scaling_optimal(file, budgets, **o) -> None:
    """The compute-optimal model size N*, tokens D* and tokens per parameter at a budget."""
    from .scaling import check_law, compute_optimal, get_law

    if o["law"] != AUTO:
        check_law(get_law(o["law"]))  # before the slow fit, as the budgets
    inputs = _inputs(file, o)
    if inputs == ("x",):
        check_law(get_law("power"))  # the error: a split needs a law of N and D
    if any(not (b > 0 and math.isfinite(b)) for b in budgets):
        raise click.BadParameter("budgets must be positive", param_hint="--compute")
    name, fits, picks = _scaling_fits(file, o, inputs)
    results = [(pts, fit, a) for pts, fit in fits
               for a in compute_optimal(fit, budgets, k=o["k"], level=o["level"])]
    if o["as_json"]:
        click.echo(json.dumps({"law": name, "level": o["level"], "k": o["k"], "results": [
            {"group": pts.group, **({"law": fit.law.name} if picks else {}), **a.to_dict()}
            for pts, fit, a in results],
            **({"chosen": _picks_json(picks)} if picks else {})}, indent=2))
        return
    table = new_table(("group", "compute", "quantity", "estimate", "se", "lower", "upper"),
                      left=("group", "quantity"), title=f"compute-optimal split under "
                      f"C = {o['k']:g} N D, {o['level']:.0%} bootstrap intervals")
    for pts, _, a in results:
        for name, e in (("N*", a.n_opt), ("D*", a.d_opt), ("tokens/param", a.tokens_per_param),
                        ("loss", a.loss), ("E", a.E)):
            table.add_row("-" if pts.group is None else pts.group, f"{a.compute:.3g}", name,
                          *_est_cells(e))
    console = make_console()
    console.print(table)
    for line in _pick_lines(picks):
        console.print(line)


@scaling.command("backtest")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--holdout-top", type=click.IntRange(1), default=1, show_default=True,
              help="Hold out the runs at this many largest distinct values of --by.")
@click.option("--by", type=click.Choice(("n", "compute", "x")), default=None,
              help="What 'largest' means [default: n; x for a one-variable law].")
@click.option("--fit-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=None, help="Instead of --holdout-top: fit the runs of at most this "
              "fraction of the largest --by (0.25: a 4x extrapolation), predict the rest.")
@click.option("--joint", is_flag=True, help="One law across the --group groups, sharing "
              "its exponents (each group its own E and coefficients).")
@click.option("--choose", default=None, metavar="LAW,LAW",
              help="Per group, pick the law among these (each also under --prior) by "
              "rolling-origin refits of the fitted runs; the choice is in the output.")
@_scaling_options
def scaling_backtest(file, holdout_top, by, fit_fraction, joint, choose, **o) -> None:
    """Hold out the largest models, fit the rest, and score the predicted losses."""
    from .scaling import backtest as run_backtest
    from .scaling import get_law

    inputs, groups = _scaling_points(file, o)
    auto = o["law"] == AUTO
    # auto: the first candidate (chinchilla, or power for x) names the split; --joint
    # shares exponents of one law, chinchilla's (or power's) under auto
    base = get_law(("power" if inputs == ("x",) else "chinchilla") if auto else o["law"])
    laws = _choices(choose, inputs)
    prior = _prior(o, base)
    if auto and not joint:
        cands = _candidates(o, inputs, laws or None)
        laws = tuple(dict.fromkeys(law for law, _ in cands))
        prior = next((p for _, p in cands if p is not None), None)
    for pts in groups:
        _note_dropped(pts)
    with _naming(file):
        bt = run_backtest(groups, base.name, holdout_top, by=by, level=o["level"],
                          n_boot=o["boot"], seed=o["seed"], k=o["k"], prior=prior,
                          fit_fraction=fit_fraction, joint=joint, choose=laws,
                          priors={law: p for law, p in cands if p is not None}
                          if auto and not joint else None)
    for w in bt.warnings:
        click.echo(f"warning: {w}", err=True)
    for line in _pick_lines(bt.chosen):  # on stderr, as before --law auto
        click.echo(line, err=True)
    name = AUTO if auto and not joint else base.name
    if o["as_json"]:
        dropped = sum(pts.dropped for pts in groups)  # diverged runs, not scored
        doc = {**bt.to_dict(), "law": name, "dropped": dropped, "fit_fraction": fit_fraction,
               "joint": joint, "prior": o["prior_spec"]}
        if bt.chosen:
            doc["chosen"] = _picks_json(bt.chosen)
        click.echo(json.dumps(doc, indent=2))
        return
    one = inputs == ("x",)
    cols = ["group", *(["x"] if one else ["n", "d"]), "true", "pred", "lower", "upper",
            "rel error"]
    held = (f"{holdout_top} largest {bt.by}" if fit_fraction is None
            else f"runs above {fit_fraction:g} x the largest {bt.by}")
    table = new_table(cols, left=("group",), title=f"{name}: {held} "
                      f"held out; mean relative error {bt.mean_rel_error:.2%}, {bt.level:.0%} "
                      f"interval coverage {bt.coverage:.0%}")
    for p, rel in zip(bt.points, bt.rel_errors, strict=True):
        d = p.to_dict()
        table.add_row("-" if p.group is None else p.group,
                      *(cell(d[c]) for c in cols[1:-1]), f"{rel:.2%}")
    make_console().print(table)


def _choices(text, inputs) -> tuple[str, ...]:
    """The laws of --choose, each reading only inputs the --law reads."""
    if not text:
        return ()
    from .scaling import get_law

    names = tuple(t.strip() for t in text.split(",") if t.strip())
    for name in names:
        if name not in LAWS:
            raise click.BadParameter(f"unknown law {name!r}; use of {', '.join(LAWS)}",
                                     param_hint="--choose")
        if not set(get_law(name).inputs) <= set(inputs):
            raise click.BadParameter(f"law {name!r} needs inputs ({', '.join(inputs)} are "
                                     "read) the --law does not", param_hint="--choose")
    return names


@scaling.command("report")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("-o", "--out", type=click.Path(path_type=Path, dir_okay=False),
              default=Path("scaling.html"), show_default=True, help="The HTML file to write.")
@_scaling_options
def scaling_report(file, out, **o) -> None:
    """Write one self-contained HTML report (opens offline) of the fits to FILE: per
    group the runs, the fitted law with its interval beyond the data, the compute-optimal
    frontier (a law of N and D) and the parameters."""
    from .io.output import check_target
    from .report.build import write_report
    from .report.scaling import scaling_report as build

    check_target(out)  # before the fits: an unwritable -o fails at once
    _, fits, picks = _scaling_fits(file, o)
    # with auto the groups' laws may differ: the page reads the inputs of the widest
    law = max((fit.law for _, fit in fits), key=lambda law: len(law.inputs))
    path = write_report(build(law, fits, str(file), k=o["k"], level=o["level"]), out)
    if o["as_json"]:
        click.echo(json.dumps({"report": str(path.resolve()),
                               **({"chosen": _picks_json(picks)} if picks else {})}))
    else:
        for line in _pick_lines(picks):
            click.echo(line)
        click.echo(f"scaling report: {path.resolve()}")


from .cli_downstream import downstream as _downstream  # issue 20

scaling.add_command(_downstream)
