"""``curvecast retrain``: replay retraining policies of a deployed forecaster over a series.

Registered on the main ``curvecast`` group in ``cli.py``. numpy, pandas, scikit-learn
and the simulator load inside the command: ``--help`` stays instant.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from .cli_output import cell, make_console, new_table

MODEL_NAMES = ("ridge", "gbm", "mlp", "lstm")
"""retrain.models.MODELS, kept here without importing it (tests/retrain checks they agree)."""


def _names(text: str, what: str) -> list[str]:
    names = [p.strip() for p in text.split(",") if p.strip()]
    if not names:
        raise click.BadParameter(f"give at least one {what}")
    return names


@click.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--time", "time_col", required=True, help="Column of timestamps.")
@click.option("--target", "targets", required=True, multiple=True,
              help="Column to forecast; repeat for several targets.")
@click.option("--features", default="", help="Comma-separated columns used as inputs too.")
@click.option("--every", required=True, help="Time between decisions: 10min, 1h, 6h, 1d, ...")
@click.option("--horizon", required=True, help="How far ahead every forecast reaches (6h, ...).")
@click.option("--window", default="30d", show_default=True,
              help="Training window of the plain schedules.")
@click.option("--model", "models", default="ridge", show_default=True,
              help=f"Comma-separated models: {', '.join(MODEL_NAMES)}.")
@click.option("--policy", "policies", default="default", show_default=True,
              help="Comma-separated policies: fixed, fixed@K, never, adwin, page_hinkley, "
                   "window, default, default+window, oracle (hindsight: a floor, not a "
                   "policy to deploy). fixed and fixed@2 ... fixed@32 are always reported.")
@click.option("--cost", type=float, default=None,
              help="Cost of one retraining for 'default' and 'oracle', in units of one "
                   "forecast's mean absolute error [default: 0.02].")
@click.option("--sentinel", "sentinels", type=float, multiple=True,
              help="A value that means missing [default: -9999]; repeatable.")
@click.option("--json", "as_json", is_flag=True,
              help="Print JSON: results, per-policy traces, the data report.")
@click.option("-o", "--out", type=click.Path(path_type=Path), default=None,
              help="Also write the JSON to this file (for 'curvecast report').")
def retrain(file, time_col, targets, features, every, horizon, window, models, policies,
            cost, sentinels, as_json, out) -> None:
    """Replay retraining policies of a forecaster deployed on the series in FILE.

    FILE (CSV or Parquet) is streamed in time order; at every --every the policy decides
    whether to retrain; the model forecasts every step of the next --horizon; errors are
    scored as truth arrives. Each row: MAE, RMSE, retrains, compute (rows x passes),
    compute_fraction and error_ratio against 'fixed' with the same model and target.
    """
    from .io.output import check_target, write_text
    from .retrain.models import MODELS
    from .retrain.policies import make_policy
    from .retrain.run import run_retrain
    from .retrain.series import SENTINELS, parse_duration, read_series

    model_list = _names(models, "model")
    policy_list = _names(policies, "policy")
    for m in model_list:
        if m not in MODELS:
            raise click.BadParameter(f"unknown model {m!r}; choose from {', '.join(MODELS)}",
                                     param_hint="--model")
    for p in policy_list:
        make_policy(p)
    for text, what in ((every, "--every"), (horizon, "--horizon"), (window, "--window")):
        parse_duration(text, what)
    if out is not None:
        check_target(out)
    feature_list = [c.strip() for c in features.split(",") if c.strip()]
    series = read_series(file, time=time_col, columns=[*targets, *feature_list],
                         sentinels=sentinels or SENTINELS)
    result = run_retrain(series, targets=list(targets), every=every, horizon=horizon,
                         window=window, models=model_list, policies=policy_list,
                         features=feature_list, cost=cost, traces=as_json or out is not None)
    text = json.dumps(result, indent=1)
    if out is not None:
        write_text(out, text + "\n")
    if as_json:
        click.echo(text)
        return
    rep = series.report
    click.echo(f"{file}: {rep['rows']} rows every {rep['step']}; {rep['duplicates']} repeated "
               f"timestamps dropped, {rep['missing_rows']} missing rows (longest gap "
               f"{rep['longest_gap'] or '-'}), sentinels {rep['sentinels']}", err=True)
    table = new_table(("target", "model", "policy", "mae", "rmse", "retrains", "compute",
                       "compute_fraction", "error_ratio", "seconds"),
                      left=("target", "model", "policy"))
    for r in result["results"]:
        table.add_row(r["target"], r["model"], r["policy"], cell(r["mae"]), cell(r["rmse"]),
                      str(r["retrains"]), cell(r["compute"]), f"{r['compute_fraction']:.4f}",
                      f"{r['error_ratio']:.4f}", f"{r['seconds']:.2f}")
    make_console().print(table)
