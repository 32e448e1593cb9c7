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


def _scaling_options(f):
    """Options every ``curvecast scaling`` command shares (applied bottom-up)."""
    opts = [
        click.option("--law", type=click.Choice(LAWS), default="chinchilla",
                     show_default=True, help="chinchilla: E + A/N^alpha + B/D^beta; "
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
        click.option("--prior", "prior_spec", default=None, metavar="shipped|FILE",
                     help="Fit the posterior under a population prior over the law's "
                          "parameters learned across studies: 'shipped' (curvecast's, "
                          "from the public studies in BENCHMARKS.md) or a JSON file; "
                          "intervals then come from the posterior (--boot draws)."),
        click.option("--format", "fmt", type=click.Choice(("csv", "jsonl", "parquet")),
                     default=None, help="Input format [default: from the extension]."),
        click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _scaling_points(file, o):
    """(law, [points of each group]) as the options say; with --c and no --d, D is
    derived from compute."""
    from .scaling import get_law, read_points

    law = get_law(o["law"])
    cols = {"n": o["n_col"], "d": o["d_col"] or "D", "u": o["u_col"], "x": o["x_col"]}
    compute = None
    if "d" in law.inputs and o["d_col"] is None and o["c_col"] is not None:
        compute = o["c_col"]
        del cols["d"]
    columns = {k: v for k, v in cols.items() if k in law.inputs}
    return law, read_points(file, columns, o["loss_col"], group=o["group_col"],
                            compute=compute, k=o["k"], fmt=o["fmt"], best=o["best"])


def _scaling_fits(file, o):
    """(law, [(points, fit)]) for every group; warnings go to stderr, once each."""
    from .scaling import ScalingWarning, fit_law

    law, groups = _scaling_points(file, o)
    prior = _prior(o, law)
    fits = []
    for pts in groups:
        with warnings.catch_warnings(), _naming(file, pts.where):
            warnings.simplefilter("ignore", ScalingWarning)
            fit = fit_law(law, pts.X, pts.y, n_boot=o["boot"], seed=o["seed"], prior=prior)
        for w in fit.warnings_:
            click.echo(f"warning: {pts.where}{law.name}: {w}", err=True)
        _note_dropped(pts)
        fits.append((pts, fit))
    return law, fits


def _prior(o, law):
    """The prior --prior names for ``law`` (None without it)."""
    if o.get("prior_spec") is None:
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
    law, fits = _scaling_fits(file, o)
    if o["as_json"]:
        out = {"law": law.name, "formula": law.formula, "citation": law.citation,
               "level": o["level"], "boot": o["boot"], "seed": o["seed"],
               "prior": o["prior_spec"], "fits": [
                   {"group": pts.group, "n_points": fit.n_points, "dropped": pts.dropped,
                    "params": {k: e.to_dict() for k, e in fit.parameters(o["level"]).items()},
                    "residual_scale": fit.residual_scale, "warnings": fit.warnings_}
                   for pts, fit in fits]}
        click.echo(json.dumps(out, indent=2))
        return
    console = make_console()
    console.print(f"{law.formula}  ({law.citation})")
    for pts, fit in fits:
        title = (f"{'' if pts.group is None else f'group {pts.group}: '}{fit.n_points} runs, "
                 f"{o['level']:.0%} {'posterior' if o['prior_spec'] else 'bootstrap'} "
                 f"intervals ({o['boot']} draws); "
                 f"log-residual scale {fit.residual_scale:.3g}")
        table = new_table(("parameter", "estimate", "se", "lower", "upper"), left=("parameter",),
                          title=title)
        for name, e in fit.parameters(o["level"]).items():
            table.add_row(name, *_est_cells(e))
        console.print(table)


def _parse_at(text: str, law, o) -> dict[str, float]:
    """'N=7e9,D=1.4e12' -> {'n': 7e9, 'd': 1.4e12}: keys are inputs or their columns."""
    names = {i: i for i in law.inputs}
    names.update({str(o[f"{i}_col"]).lower(): i for i in law.inputs if o.get(f"{i}_col")})
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        name = names.get(key.strip().lower())
        if not sep or name is None:
            raise click.BadParameter(f"{part!r}: write NAME=VALUE with NAME one of "
                                     f"{', '.join(law.inputs)}", param_hint="--at")
        try:
            out[name] = float(value)
        except ValueError:
            raise click.BadParameter(f"{value!r} is not a number", param_hint="--at") from None
    missing = [i for i in law.inputs if i not in out]
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
    from .scaling import get_law

    law = get_law(o["law"])
    points = [_parse_at(a, law, o) for a in at]  # before the slow fit
    X = {i: [p[i] for p in points] for i in law.inputs}
    law, fits = _scaling_fits(file, o)
    rows = []
    for pts, fit in fits:
        pr = fit.predict(X, o["level"])
        for j, p in enumerate(points):
            rows.append({"group": pts.group, **p, "pred": float(pr.pred[j]),
                         "lower": float(pr.lower[j]), "upper": float(pr.upper[j])})
    if o["as_json"]:
        click.echo(json.dumps({"law": law.name, "level": o["level"], "predictions": rows},
                              indent=2))
        return
    cols = ["group", *law.inputs, "pred", "lower", "upper"]
    table = new_table(cols, left=("group",),
                      title=f"{law.name}: predicted loss, {o['level']:.0%} predictive interval")
    for r in rows:
        table.add_row("-" if r["group"] is None else r["group"], *(cell(r[c]) for c in cols[1:]))
    make_console().print(table)


@scaling.command("optimal")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--compute", "budgets", multiple=True, required=True, type=float,
              help="Training compute in FLOPs, e.g. 1e23 (repeat for more).")
@_scaling_options
def scaling_optimal(file, budgets, **o) -> None:
    """The compute-optimal model size N*, tokens D* and tokens per parameter at a budget."""
    from .scaling import check_law, compute_optimal, get_law

    check_law(get_law(o["law"]))  # before the slow fit, as the budgets
    if any(not (b > 0 and math.isfinite(b)) for b in budgets):
        raise click.BadParameter("budgets must be positive", param_hint="--compute")
    law, fits = _scaling_fits(file, o)
    results = [(pts, a) for pts, fit in fits
               for a in compute_optimal(fit, budgets, k=o["k"], level=o["level"])]
    if o["as_json"]:
        click.echo(json.dumps({"law": law.name, "level": o["level"], "k": o["k"], "results": [
            {"group": pts.group, **a.to_dict()} for pts, a in results]}, indent=2))
        return
    table = new_table(("group", "compute", "quantity", "estimate", "se", "lower", "upper"),
                      left=("group", "quantity"), title=f"compute-optimal split under "
                      f"C = {o['k']:g} N D, {o['level']:.0%} bootstrap intervals")
    for pts, a in results:
        for name, e in (("N*", a.n_opt), ("D*", a.d_opt), ("tokens/param", a.tokens_per_param),
                        ("loss", a.loss), ("E", a.E)):
            table.add_row("-" if pts.group is None else pts.group, f"{a.compute:.3g}", name,
                          *_est_cells(e))
    make_console().print(table)


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

    law, groups = _scaling_points(file, o)
    laws = _choices(choose, law)
    for pts in groups:
        _note_dropped(pts)
    with _naming(file):
        bt = run_backtest(groups, law.name, holdout_top, by=by, level=o["level"],
                          n_boot=o["boot"], seed=o["seed"], k=o["k"], prior=_prior(o, law),
                          fit_fraction=fit_fraction, joint=joint, choose=laws)
    for w in bt.warnings:
        click.echo(f"warning: {w}", err=True)
    for group, c in bt.chosen.items():
        errs = ", ".join(f"{k} {v:.2%}" for k, v in c["rolling_errors"].items())
        click.echo(f"{'' if group is None else f'group {group}: '}law {c['law']} (rolling-"
                   f"origin errors: {errs})", err=True)
    if o["as_json"]:
        dropped = sum(pts.dropped for pts in groups)  # diverged runs, not scored
        click.echo(json.dumps({**bt.to_dict(), "dropped": dropped, "fit_fraction": fit_fraction,
                               "joint": joint, "prior": o["prior_spec"]}, indent=2))
        return
    one = law.inputs == ("x",)
    cols = ["group", *(["x"] if one else ["n", "d"]), "true", "pred", "lower", "upper",
            "rel error"]
    held = (f"{holdout_top} largest {bt.by}" if fit_fraction is None
            else f"runs above {fit_fraction:g} x the largest {bt.by}")
    table = new_table(cols, left=("group",), title=f"{law.name}: {held} "
                      f"held out; mean relative error {bt.mean_rel_error:.2%}, {bt.level:.0%} "
                      f"interval coverage {bt.coverage:.0%}")
    for p, rel in zip(bt.points, bt.rel_errors, strict=True):
        d = p.to_dict()
        table.add_row("-" if p.group is None else p.group,
                      *(cell(d[c]) for c in cols[1:-1]), f"{rel:.2%}")
    make_console().print(table)


def _choices(text, law) -> tuple[str, ...]:
    """The laws of --choose, each of the same inputs as --law's."""
    if not text:
        return ()
    from .scaling import get_law

    names = tuple(t.strip() for t in text.split(",") if t.strip())
    for name in names:
        if name not in LAWS:
            raise click.BadParameter(f"unknown law {name!r}; use of {', '.join(LAWS)}",
                                     param_hint="--choose")
        if not set(get_law(name).inputs) <= set(law.inputs):
            raise click.BadParameter(f"law {name!r} needs inputs the --law {law.name!r} "
                                     "does not read", param_hint="--choose")
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
    law, fits = _scaling_fits(file, o)
    path = write_report(build(law, fits, str(file), k=o["k"], level=o["level"]), out)
    if o["as_json"]:
        click.echo(json.dumps({"report": str(path.resolve())}))
    else:
        click.echo(f"scaling report: {path.resolve()}")


from .cli_downstream import downstream as _downstream  # issue 20

scaling.add_command(_downstream)
