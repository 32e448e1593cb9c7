"""``curvecast scaling downstream``: forecast the downstream accuracy of the largest models
from the smaller ones, with intervals, and score it on the models held out.

Registered on the ``scaling`` group in ``cli_scaling.py``; the math is in
:mod:`curvecast.scaling.downstream` (imported inside the command: --help stays instant).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from .cli_output import cell, make_console, new_table
from .errors import InputError

_METHODS = ("auto", "average", "two-stage-sigmoid", "two-stage-exponential",
            "direct-sigmoid", "direct-linear", "direct-mixed")


@click.command("downstream")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--n", "n_col", required=True, help="Column of parameters N.")
@click.option("--d", "d_col", required=True, help="Column of training tokens D.")
@click.option("--loss", "loss_col", default=None,
              help="Column of a loss: forecast two-stage (N, D -> loss by a Chinchilla law, "
                   "loss -> accuracy by a link); without it, direct (compute -> accuracy).")
@click.option("--metric", "metrics", multiple=True, required=True,
              help="Column of an accuracy in [0, 1] (repeat for more); empty: not evaluated.")
@click.option("--group", "group_col", default=None,
              help="Column of the model family: the K largest of each are held out, each "
                   "family gets its own offset in compute (direct) or loss law (two-stage).")
@click.option("--chance", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Accuracy of a guess: the links' floor.")
@click.option("--holdout-top", type=click.IntRange(1), required=True,
              help="Hold out the models at this many largest distinct N (per group).")
@click.option("--method", type=click.Choice(_METHODS), default="auto", show_default=True,
              help="auto: of the two-stage links (with --loss) or direct sigmoid and linear "
                   "(without; and the mixed model of families with --group), the one with "
                   "the least error on the small models' own largest sizes, per metric; "
                   "average: all of them, weighted inversely to those errors.")
@click.option("--aggregate", default=None,
              help="Forecast the mean of the --metric columns as one benchmark of this name "
                   "(subtasks of a suite), through difficulty clusters (COD-like).")
@click.option("--clusters", type=click.IntRange(1), default=3, show_default=True,
              help="Difficulty clusters of an --aggregate.")
@click.option("--level", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.9, show_default=True, help="Probability of the intervals.")
@click.option("--boot", type=click.IntRange(0), default=100, show_default=True,
              help="Bootstrap replicates of each stage.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap.")
@click.option("--format", "fmt", type=click.Choice(("csv", "jsonl", "parquet")), default=None,
              help="Input format [default: from the extension].")
@click.option("--html", "html", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Also write a report: accuracy against compute with the forecast band.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def downstream(file, n_col, d_col, loss_col, metrics, group_col, chance, holdout_top, method,
               aggregate, clusters, level, boot, seed, fmt, html, as_json) -> None:
    """Hold out the largest models in FILE, forecast their accuracy on each --metric from
    the rest, and score it: one row per (metric, held-out model), at its row with the
    most tokens (its final checkpoint)."""
    from .io.output import check_target
    from .scaling.difficulty import Aggregate
    from .scaling.downstream import holdout_forecast
    from .scaling.table import _read_frame

    if html is not None:
        check_target(html)  # before the fits
    table = _read_frame(file, fmt)
    aggs = None
    if aggregate is not None:
        if aggregate in table.columns:
            raise click.BadParameter(f"{aggregate!r} is a column of the file already; name "
                                     "the aggregate otherwise", param_hint="--aggregate")
        aggs = {aggregate: Aggregate(tuple(metrics), None, clusters, chance)}
        metrics = ()
    try:
        result = holdout_forecast(table, n=n_col, d=d_col, metrics=list(metrics),
                                  aggregates=aggs,
                                  loss=loss_col, group=group_col, chance=chance,
                                  holdout_top=holdout_top, level=level, n_boot=boot, seed=seed,
                                  methods=None if method in ("auto", "average") else [method],
                                  average=method == "average")
    except InputError as exc:
        if exc.file is not None:
            raise
        raise InputError(exc.message, file=str(file), row=exc.row, column=exc.column) from None
    if not result.points:
        raise InputError("no held-out model has a value of any --metric to score",
                         file=str(file))
    if html is not None:
        import pandas as pd

        from .report.build import write_report
        from .report.downstream import downstream_report

        shown = list(metrics)
        if aggregate:  # the parts' mean, as the forecast scores it
            parts = aggs[aggregate].columns
            table[aggregate] = table[list(parts)].apply(pd.to_numeric).mean(axis=1, skipna=False)
            shown = [aggregate]
        write_report(downstream_report(table, result, n=n_col, d=d_col, metrics=shown,
                                       group=group_col, source=str(file)), html)
    _note_methods(result)
    if as_json:
        out = result.to_dict()
        click.echo(json.dumps({k: out[k] for k in ("points", "mean_abs_error", "coverage")},
                              indent=2))
        return
    _table(result, level)
    if html is not None:
        click.echo(f"downstream report: {html.resolve()}")


def _note_methods(result) -> None:
    """The route each metric took and why (stderr: the JSON's schema is fixed)."""
    for metric, method in result.methods.items():
        errs = result.inner_errors.get(metric, {})
        why = (" (inner held-out MAE: " + ", ".join(f"{k} {v:.4f}" for k, v in errs.items())
               + ")") if errs else ""
        click.echo(f"note: {metric}: {method}{why}", err=True)


def _table(result, level: float) -> None:
    cols = ("metric", "group", "n", "d", "true", "pred", "lower", "upper", "method")
    table = new_table(cols, left=("metric", "group", "method"),
                      title=f"held-out accuracy: mean absolute error "
                            f"{result.mean_abs_error:.4f}, {level:.0%} interval coverage "
                            f"{result.coverage:.0%}")
    for p in result.points:
        table.add_row(p.metric, "-" if p.group is None else p.group,
                      *(cell(v) for v in (p.n, p.d, p.true, p.pred, p.lower, p.upper)),
                      result.methods[p.metric])
    make_console().print(table)
