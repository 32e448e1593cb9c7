"""The ``curvecast`` command.

Exit codes: 0 ran; 1 ran but found nothing to report (no run could be forecast);
2 bad input or usage (the message names the file, row, column or run).
"""

from __future__ import annotations

import json
import logging
import math
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from .api import method_names
from .curve import GOALS
from .errors import CurvecastError, InputError
from .io import FORMATS

EXIT_PROBLEMS = 1
EXIT_BAD_INPUT = 2


def _console() -> Console:
    """Stdout console; when piped, wide enough that tables do not wrap."""
    console = Console()
    return console if console.is_terminal else Console(width=200)


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.5g}"


def _table(rows, target: float | None) -> Table:
    table = Table(show_edge=False, header_style="bold")
    cols = ["run", "status", "points", "last", "at", "median", "lower", "upper"]
    if target is not None:
        cols.append("eta")
    for c in cols:
        table.add_column(c, justify="left" if c in ("run", "status") else "right")
    for r in rows:
        cells = [r.run, r.status, str(r.n_points), _fmt(r.last), _fmt(r.at),
                 _fmt(r.median), _fmt(r.lower), _fmt(r.upper)]
        if target is not None:
            cells.append(_fmt(r.eta) if r.eta is not None else "not within horizon")
        table.add_row(*cells)
    return table


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="curvecast")
@click.option("-v", "--verbose", is_flag=True, help="Log what curvecast does to stderr.")
def cli(verbose: bool) -> None:
    """Forecast where training runs will end, with honest uncertainty."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr)


@cli.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--at", type=click.FloatRange(min=0), default=None,
              help="Step to forecast at [default: the largest step in FILE].")
@click.option("--level", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.8,
              show_default=True, help="Probability of the central interval.")
@click.option("--target", type=float, default=None, help="Also report the ETA of this value.")
@click.option("--prob", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.5,
              show_default=True, help="Probability at which the target counts as reached.")
@click.option("--goal", type=click.Choice(GOALS), default="min", show_default=True,
              help="min for loss or error, max for accuracy.")
@click.option("--method", type=click.Choice(method_names()), default="ensemble", show_default=True,
              help="Forecaster: ensemble (families combined by the trained network), study "
                   "(the ensemble corrected on the runs in FILE that reached --at), bma "
                   "(families averaged by BIC weights), last, mean_last, mcmc (slow "
                   "reference), or one family fitted alone (pow3, ...).")
@click.option("--bound", type=float, default=None,
              help="Best attainable value of the metric if known (0 for a loss, 1 for accuracy).")
@click.option("--tag", default=None, help="TensorBoard scalar tag to read (for event-file directories).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="Input format [default: from the extension; a directory is TensorBoard].")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def forecast(file, at, level, target, prob, goal, method, bound, tag, fmt, as_json) -> None:
    """Forecast every run in FILE at step --at.

    FILE is a long-format CSV, JSON Lines or Parquet file (columns run, step, value;
    hp.<name> columns are hyperparameters), a JSON Lines file with one run per line,
    or a directory of TensorBoard event files (pick the scalar with --tag).
    """
    from .io import read_curves
    from .runs import forecast_runs

    curves = read_curves(file, goal=goal, tag=tag, fmt=fmt)
    rows = forecast_runs(curves, at, level=level, target=target, prob=prob,
                         method=method, bound=bound)
    if as_json:
        out = {"goal": goal, "level": level, "method": method, "target": target, "prob": prob,
               "runs": [r.to_dict() for r in rows]}
        click.echo(json.dumps(out, indent=2))
    else:
        _console().print(_table(rows, target))
    if not any(r.status == "ok" for r in rows):
        click.echo("no run could be forecast (see the status column)", err=True)
        sys.exit(EXIT_PROBLEMS)


def _split(text: str, cast=str) -> list:
    try:
        return [cast(p.strip()) for p in text.split(",") if p.strip()]
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a comma-separated list") from None


def _backtest_table(bt) -> Table:
    table = Table(show_edge=False, header_style="bold",
                  title=f"{bt.n_runs} complete runs ({bt.excluded} excluded: diverged or too short)")
    with_k = any(r.context for r in bt.results)
    cols = ["method"] + (["context"] if with_k else []) + ["cutoff", "mae", "nmae", "medae", "log score", "crps", "cov50", "cov80",
            "cov90", "spearman", "curve nmae", "failures", "seconds"]
    for c in cols:
        table.add_column(c, justify="left" if c == "method" else "right")
    for r in bt.results:
        cov = [f"{r.coverage.get(k, float('nan')):.2f}" for k in ("0.5", "0.8", "0.9")]
        k = [str(r.context)] if with_k else []
        table.add_row(r.method, *k, f"{r.cutoff:g}", _fmt(r.mae), _fmt(r.nmae), _fmt(r.medae),
                      f"{r.log_score:.3f}", _fmt(r.crps), *cov, f"{r.spearman:.3f}",
                      _fmt(r.curve_nmae), str(r.failures), f"{r.seconds:.2f}")
    return table


@cli.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--cutoffs", default="0.1,0.2,0.4,0.6,0.8", show_default=True,
              help="Fractions of each run's points shown to the forecasters.")
@click.option("--methods", default="ensemble,last,mean_last", show_default=True,
              help="Comma-separated: ensemble, study, bma, last, mean_last, mcmc, a family name (pow3, ...) "
                   "fitted alone, or 'families' for every family alone.")
@click.option("--goal", type=click.Choice(GOALS), default="min", show_default=True)
@click.option("--bound", type=float, default=None,
              help="Best attainable value of the metric if known (0 for a loss, 1 for accuracy).")
@click.option("--tag", default=None, help="TensorBoard scalar tag to read.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None, help="Input format.")
@click.option("--context", default="0", show_default=True,
              help="Comma-separated numbers K of runs seen whole (finished runs of the study, "
                   "which 'study' learns from); the rest are scored.")
@click.option("--repeats", type=click.IntRange(1), default=3, show_default=True,
              help="Random splits per K > 0; scores are averaged over them.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the splits.")
@click.option("--progress", is_flag=True, help="Show a progress bar on stderr.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def backtest(file, cutoffs, methods, goal, bound, tag, fmt, context, repeats, seed, progress,
             as_json) -> None:
    """Hide the end of every complete run in FILE, forecast it, and score the forecasts."""
    from rich.progress import Progress

    from .evaluate import backtest as run_backtest
    from .families import FAMILIES
    from .io import read_curves

    cuts = _split(cutoffs, float)
    contexts = _split(context, int)
    expanded = [n for m in _split(methods) for n in (list(FAMILIES) if m == "families" else [m])]
    names = list(dict.fromkeys(expanded))  # each method once, in the order asked
    curves = read_curves(file, goal=goal, tag=tag, fmt=fmt)
    with Progress(console=Console(stderr=True), disable=not progress, transient=True) as bar:
        task = bar.add_task("backtest", total=len(contexts) * len(cuts) * len(names))
        bt = run_backtest(curves, cuts, names, bound=bound, context=contexts, repeats=repeats,
                          seed=seed,
                          progress=lambda m, c: bar.update(task, advance=1,
                                                           description=f"{m} @ {c:g}"))
    if as_json:
        click.echo(json.dumps(bt.to_dict(), indent=2))
    else:
        _console().print(_backtest_table(bt))


def _replay_table(results) -> Table:
    table = Table(show_edge=False, header_style="bold")
    for c in ("pruner", "compute mean", "compute worst", "regret mean", "regret worst",
              "latency ms", "p90 ms", "seconds"):
        table.add_column(c, justify="left" if c == "pruner" else "right")
    for r in results:
        d = r.to_dict()
        table.add_row(r.pruner, f"{d['compute_fraction']['mean']:.3f}",
                      f"{d['compute_fraction']['worst']:.3f}", f"{d['regret']['mean']:.3f}",
                      f"{d['regret']['worst']:.3f}", f"{r.latency_ms:.2f}",
                      f"{r.latency_p90_ms:.2f}", f"{r.seconds:.1f}")
    return table


@cli.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--trials", type=click.IntRange(2), default=100, show_default=True,
              help="Runs drawn per repeat (one Optuna trial each).")
@click.option("--repeats", type=click.IntRange(1), default=10, show_default=True,
              help="Random draws of runs; each pruner replays the same draws.")
@click.option("--pruners", default="forecast,nop,median,percentile25,sha,hyperband,patient",
              show_default=True,
              help="Comma-separated: forecast (curvecast's ForecastPruner), nop, median, "
                   "percentile25, sha, hyperband, patient, wilcoxon (Optuna's, default settings).")
@click.option("--goal", type=click.Choice(GOALS), default="min", show_default=True)
@click.option("--tag", default=None, help="TensorBoard scalar tag to read.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None, help="Input format.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the draws.")
@click.option("--progress", is_flag=True, help="Show progress on stderr.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def replay(file, trials, repeats, pruners, goal, tag, fmt, seed, progress, as_json) -> None:
    """Replay the runs in FILE as Optuna studies under each pruner: compute and regret."""
    from rich.progress import Progress

    from .evaluate.replay import replay as run_replay
    from .io import read_curves

    names = list(dict.fromkeys(_split(pruners)))
    curves = list(read_curves(file, goal=goal, tag=tag, fmt=fmt))
    with Progress(console=Console(stderr=True), disable=not progress, transient=True) as bar:
        task = bar.add_task("replay", total=len(names) * repeats)
        results = run_replay(curves, names, trials=trials, repeats=repeats, seed=seed,
                             progress=lambda msg: bar.update(task, advance=1, description=msg))
    if as_json:
        click.echo(json.dumps({"results": [r.to_dict() for r in results]}, indent=2))
    else:
        _console().print(_replay_table(results))


@cli.command()
@click.option("--out", type=click.Path(path_type=Path), default=Path("curvecast-demo"),
              show_default=True, help="Directory for the plot and the forecasts.")
@click.option("--cutoff", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.3,
              show_default=True, help="Fraction of each run shown to the forecaster.")
def demo(out: Path, cutoff: float) -> None:
    """Forecast bundled real runs from their first part and compare with how they ended."""
    from .demo import run_demo

    console = _console()
    result = run_demo(out, cutoff=cutoff)
    table = Table(title=result.title, show_edge=False, header_style="bold")
    for c in ("run", "status", "seen", "last seen", "median", "lower 80%", "upper 80%",
              "true final", "inside"):
        table.add_column(c, justify="left" if c in ("run", "status") else "right")
    for r in result.rows:
        inside = "-" if r.lower is None or r.truth is None else (
            "yes" if r.lower <= r.truth <= r.upper else "no")
        truth = "diverged" if r.final_status == "diverged" else _fmt(r.truth)
        table.add_row(r.run, r.status, str(r.n_seen), _fmt(r.last), _fmt(r.median),
                      _fmt(r.lower), _fmt(r.upper), truth, inside)
    console.print(table)
    console.print(result.summary)
    console.print(f"plot: {result.plot.resolve()}")
    console.print(f"forecasts: {result.json.resolve()}")
    _sweep_demo(console, out)


def _sweep_demo(console: Console, out: Path) -> None:
    from .demo import run_sweep

    rows, best, db = run_sweep(out)
    table = Table(title="The same runs as an Optuna sweep (SQLite), one trial per run",
                  show_edge=False, header_style="bold")
    for c in ("pruner", "trials", "completed", "pruned", "epochs trained", "compute",
              "best value found"):
        table.add_column(c, justify="left" if c == "pruner" else "right")
    for r in rows:
        table.add_row(r.pruner, str(r.trials), str(r.completed), str(r.pruned), str(r.steps),
                      f"{r.compute:.0%}", _fmt(r.best))
    console.print(table)
    console.print(f"best final of all runs: {_fmt(best)}; study database: {db.resolve()}")


# --------------------------------------------------------------------------- scaling laws


def _scaling_options(f):
    """Options every ``curvecast scaling`` command shares (applied bottom-up)."""
    from .scaling import LAWS

    opts = [
        click.option("--law", type=click.Choice(list(LAWS)), default="chinchilla",
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
        click.option("--format", "fmt", type=click.Choice(("csv", "jsonl", "parquet")),
                     default=None, help="Input format [default: from the extension]."),
        click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _scaling_points(file, o):
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
    import warnings

    from .scaling import ScalingWarning, fit_law

    law, groups = _scaling_points(file, o)
    fits = []
    for pts in groups:
        where = "" if pts.group is None else f"group {pts.group!r}: "
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ScalingWarning)
            try:
                fit = fit_law(law, pts.X, pts.y, n_boot=o["boot"], seed=o["seed"])
            except InputError as exc:  # say which file and group
                raise InputError(f"{where}{exc.message}", file=str(file)) from None
        for w in fit.warnings_:
            click.echo(f"warning: {where}{law.name}: {w}", err=True)
        if pts.dropped:
            click.echo(f"note: {where}{pts.dropped} run(s) with a NaN or inf loss dropped "
                       "(diverged)", err=True)
        fits.append((pts, fit))
    return law, fits


def _est_cells(e) -> list[str]:
    return [_fmt(e.estimate), _fmt(e.se), _fmt(e.lower), _fmt(e.upper)]


@cli.group()
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
               "level": o["level"], "boot": o["boot"], "seed": o["seed"], "fits": [
                   {"group": pts.group, "n_points": fit.n_points, "dropped": pts.dropped,
                    "params": {k: e.to_dict() for k, e in fit.parameters(o["level"]).items()},
                    "residual_scale": fit.residual_scale, "warnings": fit.warnings_}
                   for pts, fit in fits]}
        click.echo(json.dumps(out, indent=2))
        return
    console = _console()
    console.print(f"{law.formula}  ({law.citation})")
    for pts, fit in fits:
        title = (f"{'' if pts.group is None else f'group {pts.group}: '}{fit.n_points} runs, "
                 f"{o['level']:.0%} bootstrap intervals ({o['boot']} replicates); "
                 f"log-residual scale {fit.residual_scale:.3g}")
        table = Table(title=title, show_edge=False, header_style="bold")
        for c in ("parameter", "estimate", "se", "lower", "upper"):
            table.add_column(c, justify="left" if c == "parameter" else "right")
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
    law, fits = _scaling_fits(file, o)
    rows = []
    for pts, fit in fits:
        X = {i: [p[i] for p in points] for i in law.inputs}
        pr = fit.predict(X, o["level"])
        for j, p in enumerate(points):
            rows.append({"group": pts.group, **p, "pred": float(pr.pred[j]),
                         "lower": float(pr.lower[j]), "upper": float(pr.upper[j])})
    if o["as_json"]:
        click.echo(json.dumps({"law": law.name, "level": o["level"], "predictions": rows},
                              indent=2))
        return
    table = Table(title=f"{law.name}: predicted loss, {o['level']:.0%} predictive interval",
                  show_edge=False, header_style="bold")
    cols = ["group", *law.inputs, "pred", "lower", "upper"]
    for c in cols:
        table.add_column(c, justify="left" if c == "group" else "right")
    for r in rows:
        table.add_row("-" if r["group"] is None else r["group"], *(_fmt(r[c]) for c in cols[1:]))
    _console().print(table)


@scaling.command("optimal")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--compute", "budgets", multiple=True, required=True, type=float,
              help="Training compute in FLOPs, e.g. 1e23 (repeat for more).")
@_scaling_options
def scaling_optimal(file, budgets, **o) -> None:
    """The compute-optimal model size N*, tokens D* and tokens per parameter at a budget."""
    from .scaling import compute_optimal

    if any(not (b > 0 and math.isfinite(b)) for b in budgets):
        raise click.BadParameter("budgets must be positive", param_hint="--compute")
    law, fits = _scaling_fits(file, o)
    results = [(pts, a) for pts, fit in fits
               for a in compute_optimal(fit, budgets, k=o["k"], level=o["level"])]
    if o["as_json"]:
        click.echo(json.dumps({"law": law.name, "level": o["level"], "k": o["k"], "results": [
            {"group": pts.group, **a.to_dict()} for pts, a in results]}, indent=2))
        return
    table = Table(title=f"compute-optimal split under C = {o['k']:g} N D, {o['level']:.0%} "
                        "bootstrap intervals", show_edge=False, header_style="bold")
    for c in ("group", "compute", "quantity", "estimate", "se", "lower", "upper"):
        table.add_column(c, justify="left" if c in ("group", "quantity") else "right")
    for pts, a in results:
        for name, e in (("N*", a.n_opt), ("D*", a.d_opt), ("tokens/param", a.tokens_per_param),
                        ("loss", a.loss), ("E", a.E)):
            table.add_row("-" if pts.group is None else pts.group, f"{a.compute:.3g}", name,
                          *_est_cells(e))
    _console().print(table)


@scaling.command("backtest")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--holdout-top", type=click.IntRange(1), default=1, show_default=True,
              help="Hold out the runs at this many largest distinct values of --by.")
@click.option("--by", type=click.Choice(("n", "compute", "x")), default=None,
              help="What 'largest' means [default: n; x for a one-variable law].")
@_scaling_options
def scaling_backtest(file, holdout_top, by, **o) -> None:
    """Hold out the largest models, fit the rest, and score the predicted losses."""
    from .scaling import backtest as run_backtest

    law, groups = _scaling_points(file, o)
    bt = run_backtest(groups, law.name, holdout_top, by=by, level=o["level"],
                      n_boot=o["boot"], seed=o["seed"], k=o["k"])
    for w in bt.warnings:
        click.echo(f"warning: {w}", err=True)
    if o["as_json"]:
        click.echo(json.dumps(bt.to_dict(), indent=2))
        return
    one = law.inputs == ("x",)
    cols = ["group", *(["x"] if one else ["n", "d"]), "true", "pred", "lower", "upper",
            "rel error"]
    table = Table(title=f"{law.name}: {holdout_top} largest {bt.by} held out; mean relative "
                        f"error {bt.mean_rel_error:.2%}, {bt.level:.0%} interval coverage "
                        f"{bt.coverage:.0%}", show_edge=False, header_style="bold")
    for c in cols:
        table.add_column(c, justify="left" if c == "group" else "right")
    for p, rel in zip(bt.points, bt.rel_errors, strict=True):
        d = p.to_dict()
        table.add_row("-" if p.group is None else p.group,
                      *(_fmt(d[c]) for c in cols[1:-1]), f"{rel:.2%}")
    _console().print(table)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the command, turning curvecast's errors into exit code 2."""
    try:
        cli.main(args=argv, prog_name="curvecast", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except click.ClickException as exc:
        hint = ""
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            hint = f" (see '{exc.ctx.command_path} --help')"
        click.echo(f"error: {exc.format_message()}{hint}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except CurvecastError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except SystemExit:
        raise
    sys.exit(0)
