"""The ``curvecast`` command.

Exit codes: 0 ran; 1 ran but found nothing to report (no run could be forecast);
2 bad input or usage (the message names the file, row, column or run).
"""

from __future__ import annotations

import errno
import io
import json
import logging
import math
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .choices import FORMATS, GOALS, METHODS
from .cli_datasets import datasets
from .cli_output import cell, make_console, new_table
from .cli_retrain import retrain
from .cli_scaling import scaling
from .errors import CurvecastError

if TYPE_CHECKING:  # rich loads only when a command prints: --help stays instant
    from rich.console import Console
    from rich.table import Table

ON_DUPLICATE = ("error", "last", "first", "mean")
"""What --on-duplicate offers: io.ON_DUPLICATE, named here so that --help imports no pandas
(tests/io/test_duplicates.py checks that they agree)."""
EXIT_INTERRUPTED = 130
"""Exit status after Ctrl-C: 128 + SIGINT, as a shell reports a command it interrupted."""
EXIT_PROBLEMS = 1
EXIT_BAD_INPUT = 2


def _table(rows, target: float | None) -> Table:
    cols = ["run", "status", "points", "last", "at", "median", "lower", "upper"]
    if target is not None:
        cols.append("eta")
    table = new_table(cols, left=("run", "status"))
    for r in rows:
        cells = [r.run, r.status, str(r.n_points), cell(r.last), cell(r.at),
                 cell(r.median), cell(r.lower), cell(r.upper)]
        if target is not None:
            cells.append(cell(r.eta) if r.eta is not None else "not within horizon")
        table.add_row(*cells)
    return table


_bound_option = click.option(
    "--bound", type=float, default=None,
    help="Best attainable value of the metric if known (0 for a loss, 1 for accuracy).")
_method_option = click.option(
    "--method", type=click.Choice(METHODS), default="default", show_default=True,
    help="Forecaster, as for 'curvecast forecast'.")
_tag_option = click.option(
    "--tag", "--metric", "tag", default=None,
    help="The scalar to read: a TensorBoard tag, or an MLflow or W&B metric.")
_duplicate_option = click.option(
    "--on-duplicate", type=click.Choice(ON_DUPLICATE), default=None,
    help="Two values at one step of a run: error, or keep the last, the first or their "
         "mean [default: error; last for TensorBoard logs, MLflow and W&B runs].")
_experiment_option = click.option(
    "--experiment", default=None, help="The MLflow experiment (name or id) to read.")


class _Source(click.ParamType):
    """FILE: a path, or a tracking URI (``http://host:5000``, ``sqlite:///mlflow.db``,
    ``file:///.../mlruns``) kept as text, which a Path would mangle (``http:/host:5000``).

    >>> _Source().convert("http://h:5000", None, None), _Source().convert("a.csv", None, None).name
    ('http://h:5000', 'a.csv')
    """

    name = "file"
    _uri = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)  # as curvecast.io's

    def convert(self, value, param, ctx) -> str | Path:
        if isinstance(value, Path):
            return value
        text = os.fsdecode(value)
        return text if self._uri.match(text) else Path(text)

    def shell_complete(self, ctx, param, incomplete: str) -> list:
        from click.shell_completion import CompletionItem

        return [CompletionItem(incomplete, type="file")]  # the shell completes paths, as for a Path


_source = _Source()


class _Interrupted(Exception):
    """Ctrl-C inside a command, carried past click (which would print a blank line and
    turn it into an Abort) to :func:`main`."""


class _Group(click.Group):
    """The ``curvecast`` group: Ctrl-C in any command, however deep, reaches :func:`main`
    as :class:`_Interrupted`."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise _Interrupted from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="curvecast")
@click.option("-v", "--verbose", is_flag=True, help="Log what curvecast does to stderr.")
def cli(verbose: bool) -> None:
    """Forecast where training runs will end, with honest uncertainty."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr)


@cli.command()
@click.argument("file", type=_source)
@click.option("--at", type=click.FloatRange(min=0), default=None,
              help="Step to forecast at [default: the largest step in FILE].")
@click.option("--level", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.8,
              show_default=True, help="Probability of the central interval.")
@click.option("--target", type=float, default=None, help="Also report the ETA of this value.")
@click.option("--prob", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.5,
              show_default=True, help="Probability at which the target counts as reached.")
@click.option("--goal", type=click.Choice(GOALS), default="min", show_default=True,
              help="min for loss or error, max for accuracy.")
@click.option("--method", type=click.Choice(METHODS), default="default", show_default=True,
              help="Forecaster: default (the project's default, now joint), joint (the "
                   "ensemble corrected by kernel ridge on the runs in FILE that reached "
                   "--at), ensemble (families combined by the trained network), study "
                   "(the ensemble corrected on the runs in FILE that reached --at), bma "
                   "(families averaged by BIC weights), last, mean_last, mcmc (slow "
                   "reference), or one family fitted alone (pow3, ...).")
@_bound_option
@_tag_option
@_experiment_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="Input format [default: from the extension; a directory is TensorBoard].")
@_duplicate_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def forecast(file, at, level, target, prob, goal, method, bound, tag, experiment, fmt,
             on_duplicate, as_json) -> None:
    """Forecast every run in FILE at step --at.

    FILE is a long-format CSV, JSON Lines or Parquet file (columns run, step, value;
    hp.<name> columns are hyperparameters), a JSON Lines file with one run per line,
    a directory of TensorBoard event files (pick the scalar with --tag), an MLflow
    tracking directory or mlflow.db (--experiment NAME --metric NAME), or W&B runs (a
    wandb/ folder or run directory; an exported history with --format wandb; --metric).
    """
    from .io import read_curves
    from .runs import iter_forecast_runs

    curves = read_curves(file, goal=goal, tag=tag, fmt=fmt, bound=bound,
                         experiment=experiment, on_duplicate=on_duplicate)
    rows = iter_forecast_runs(curves, at, level=level, target=target, prob=prob,
                              method=method, bound=bound)
    if as_json:
        head = {"goal": goal, "level": level, "method": method, "target": target, "prob": prob}
        any_ok = _echo_json_rows(head, rows)
    else:
        rows = list(rows)
        any_ok = any(r.status == "ok" for r in rows)
        make_console().print(_table(rows, target))
    if not any_ok:
        click.echo("no run could be forecast (see the status column)", err=True)
        sys.exit(EXIT_PROBLEMS)


def _echo_json_rows(head: dict, rows, batch: int = 1000) -> bool:
    """Print ``{**head, "runs": [...rows]}`` as ``json.dumps(indent=2)`` would, a batch of
    rows at a time: the rows of 100,000 runs are never all held (nor their text). True if
    any row's status is 'ok'.

    >>> from curvecast.runs import RunForecast
    >>> r = RunForecast("a", "ok", 3, 1.0, 5.0, 0.9, 0.8, 1.0)
    >>> _echo_json_rows({"goal": "min"}, iter([r]))  # doctest: +ELLIPSIS
    {
      "goal": "min",
      "runs": [
        {
          "run": "a",
    ...
        }
      ]
    }
    True
    """
    text = json.dumps({**head, "runs": []}, indent=2)
    parts, any_ok = [text[: -len("[]\n}")] + "["], False
    for i, r in enumerate(rows):
        any_ok |= r.status == "ok"
        parts.append(("," if i else "") + "\n    "
                     + json.dumps(r.to_dict(), indent=2).replace("\n", "\n    "))
        if len(parts) >= batch:
            click.echo("".join(parts), nl=False)
            parts = []
    click.echo("".join(parts) + "\n  ]\n}")
    return any_ok


def _split(text: str, cast=str) -> list:
    try:
        return [cast(p.strip()) for p in text.split(",") if p.strip()]
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a comma-separated list") from None


def _backtest_table(bt) -> Table:
    with_k = any(r.context for r in bt.results)
    cols = ["method", *(["context"] if with_k else []), "cutoff", "mae", "nmae", "nmae typ",
            "medae", "log score", "crps", "cov50", "cov80", "cov90", "spearman", "sp. top",
            "win vs last", "curve nmae", "failures", "seconds"]
    title = f"{bt.n_runs} complete runs ({bt.excluded} excluded: diverged or too short)"
    if bt.in_sample:
        title += (f"; IN SAMPLE: the network was trained on {sum(bt.in_sample_datasets.values())}"
                  f" of them ({', '.join(bt.in_sample_datasets)})")
    table = new_table(cols, left=("method",), title=title)
    for r in bt.results:
        cov = [f"{r.coverage.get(k, float('nan')):.2f}" for k in ("0.5", "0.8", "0.9")]
        k = [str(r.context)] if with_k else []
        table.add_row(r.method, *k, f"{r.cutoff:g}", cell(r.mae), cell(r.nmae),
                      cell(r.nmae_typical), cell(r.medae), f"{r.log_score:.3f}", cell(r.crps),
                      *cov, f"{r.spearman:.3f}", f"{r.spearman_top:.3f}",
                      f"{r.win_rate_vs_last:.2f}", cell(r.curve_nmae), str(r.failures),
                      f"{r.seconds:.2f}")
    return table


@cli.command()
@click.argument("file", type=_source)
@click.option("--cutoffs", default="0.1,0.2,0.4,0.6,0.8", show_default=True,
              help="Fractions of each run's points shown to the forecasters.")
@click.option("--methods", default="ensemble,last,mean_last", show_default=True,
              help="Comma-separated: ensemble, study, bma, last, mean_last, mcmc, a family name (pow3, ...) "
                   "fitted alone, or 'families' for every family alone.")
@click.option("--goal", type=click.Choice(GOALS), default="min", show_default=True)
@_bound_option
@_tag_option
@_experiment_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None, help="Input format.")
@click.option("--context", default="0", show_default=True,
              help="Comma-separated numbers K of runs seen whole (finished runs of the study, "
                   "which 'study' learns from); the rest are scored.")
@click.option("--repeats", type=click.IntRange(1), default=3, show_default=True,
              help="Random splits per K > 0; scores are averaged over them.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the splits.")
@click.option("--progress", is_flag=True, help="Show a progress bar on stderr.")
@click.option("--model", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              default=None,
              help="Network file of ensemble and study [default: the shipped one, trained on "
                   "TaskSet, NAS-Bench-NLP and LCDB]; benchmarks/models/combiner_minus_<data "
                   "set>.npz were trained without that data set, to score it out of sample.")
@_duplicate_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def backtest(file, cutoffs, methods, goal, bound, tag, experiment, fmt, context, repeats, seed,
             progress, model, on_duplicate, as_json) -> None:
    """Hide the end of every complete run in FILE, forecast it, and score the forecasts.

    Says so (IN SAMPLE; "in_sample" in the JSON) when the network of ensemble and study
    was trained on runs of FILE: score a network trained without them with --model.
    """
    from rich.console import Console
    from rich.progress import Progress

    from .evaluate import backtest as run_backtest
    from .families import FAMILIES
    from .io import read_curves

    cuts = _split(cutoffs, float)
    contexts = _split(context, int)
    expanded = [n for m in _split(methods) for n in (list(FAMILIES) if m == "families" else [m])]
    names = list(dict.fromkeys(expanded))  # each method once, in the order asked
    curves = read_curves(file, goal=goal, tag=tag, fmt=fmt, bound=bound,
                         experiment=experiment, on_duplicate=on_duplicate)
    with Progress(console=Console(stderr=True), disable=not progress, transient=True) as bar:
        task = bar.add_task("backtest", total=len(contexts) * len(cuts) * len(names))
        bt = run_backtest(curves, cuts, names, bound=bound, context=contexts, repeats=repeats,
                          seed=seed, model=model,
                          progress=lambda m, c: bar.update(task, advance=1,
                                                           description=f"{m} @ {c:g}"))
    if as_json:
        click.echo(json.dumps(bt.to_dict(), indent=2))
    else:
        make_console().print(_backtest_table(bt))
    if bt.in_sample:
        click.echo("note: the network scored was trained on these runs, so its scores are "
                   "in sample; for out-of-sample scores pass --model with a network trained "
                   "without them (benchmarks/models/combiner_minus_<data set>.npz in the "
                   "repository)", err=True)


def _ms(v: float) -> str:
    return "-" if math.isnan(v) else f"{v:.2f}"  # NaN: the oracle asks nothing


def _replay_table(results) -> Table:
    table = new_table(("pruner", "compute mean", "compute worst", "regret mean", "regret worst",
                       "best found", "latency ms", "p90 ms", "seconds"), left=("pruner",))
    for r in results:
        d = r.to_dict()
        found = (d.get("best_found") or {}).get("mean")
        table.add_row(r.pruner, f"{d['compute_fraction']['mean']:.3f}",
                      f"{d['compute_fraction']['worst']:.3f}", f"{d['regret']['mean']:.3f}",
                      f"{d['regret']['worst']:.3f}", "-" if found is None else f"{found:.5g}",
                      _ms(r.latency_ms), _ms(r.latency_p90_ms), f"{r.seconds:.1f}")
    return table


@cli.command()
@click.argument("file", type=_source)
@click.option("--trials", type=click.IntRange(2), default=100, show_default=True,
              help="Runs drawn per repeat (one Optuna trial each).")
@click.option("--repeats", type=click.IntRange(1), default=10, show_default=True,
              help="Random draws of runs; each pruner replays the same draws.")
@click.option("--pruners", default="forecast,oracle,nop,median,percentile25,sha,hyperband,patient",
              show_default=True,
              help="Comma-separated: forecast (curvecast's ForecastPruner), nop, median, "
                   "percentile25, sha, hyperband, patient, wilcoxon (Optuna's, default "
                   "settings), oracle (knows every final: completes only the new bests, "
                   "stops the rest at their first report; the floor at regret 0); with the "
                   "ray extra, ray_forecast (curvecast's ForecastScheduler), ray_asha and "
                   "ray_median (Ray Tune's ASHA and median stopping rule) on the same draws.")
@click.option("--goal", type=click.Choice(GOALS), default="min", show_default=True)
@_tag_option
@_experiment_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None, help="Input format.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the draws.")
@click.option("--pruned-value", type=click.Choice(["none", "forecast"]), default="none",
              show_default=True,
              help="What a pruned trial's objective does: none raises TrialPruned; forecast "
                   "returns the trial's forecast final (curvecast's forecast_final), as an "
                   "objective that lets the sampler learn from pruned trials does. Best found "
                   "counts only trials that ran to their end.")
@click.option("--progress", is_flag=True, help="Show progress on stderr.")
@_duplicate_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def replay(file, trials, repeats, pruners, goal, tag, experiment, fmt, seed, pruned_value,
           progress, on_duplicate, as_json) -> None:
    """Replay the runs in FILE as Optuna studies under each pruner (or through Ray Tune's
    schedulers: ray_*): compute and regret."""
    from rich.console import Console
    from rich.progress import Progress

    from .evaluate.replay import replay as run_replay
    from .io import read_curves

    names = list(dict.fromkeys(_split(pruners)))
    curves = list(read_curves(file, goal=goal, tag=tag, fmt=fmt, experiment=experiment,
                              on_duplicate=on_duplicate))
    with Progress(console=Console(stderr=True), disable=not progress, transient=True) as bar:
        task = bar.add_task("replay", total=len(names) * repeats)
        results = run_replay(curves, names, trials=trials, repeats=repeats, seed=seed,
                             progress=lambda msg: bar.update(task, advance=1, description=msg),
                             pruned_value=pruned_value)
    if as_json:
        click.echo(json.dumps({"results": [r.to_dict() for r in results]}, indent=2))
    else:
        make_console().print(_replay_table(results))


@cli.command()
@click.argument("file", type=_source, required=False)
@click.option("-o", "--out", type=click.Path(path_type=Path, dir_okay=False),
              default=Path("report.html"), show_default=True, help="The HTML file to write.")
@click.option("--storage", default=None,
              help="Optuna storage URL (e.g. sqlite:///study.db) to report a study from, "
                   "instead of FILE; read only.")
@click.option("--study", "study_name", default=None,
              help="Name of the study in --storage.")
@click.option("--at", type=click.FloatRange(min=0), default=None,
              help="Step to forecast at [default: the largest step in FILE].")
@click.option("--level", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.8,
              show_default=True, help="Probability of the interval in the ranking.")
@click.option("--goal", type=click.Choice(GOALS), default="min", show_default=True,
              help="min for loss or error, max for accuracy.")
@_method_option
@_bound_option
@click.option("--top", type=click.IntRange(0), default=20, show_default=True,
              help="Draw forecast fans of this many best-ranked runs.")
@click.option("--runs", "run_names", multiple=True,
              help="Also draw the fans of these runs (comma-separated; repeatable).")
@click.option("--pruned", type=click.IntRange(0), default=8, show_default=True,
              help="With --storage: also draw the fans of this many pruned trials, those "
                   "most likely to have won (highest P(better) when stopped), then the latest.")
@_tag_option
@_experiment_option
@_duplicate_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None, help="Input format.")
def report(file, out, storage, study_name, at, level, goal, method, bound, top, run_names,
           pruned, tag, experiment, on_duplicate, fmt) -> None:
    """Write one self-contained HTML report (opens offline) of FILE or of an Optuna study.

    FILE is a curve file (as for 'curvecast forecast': every run ranked by its forecast,
    fans of the best), or the JSON that 'curvecast replay --json' (compute used against
    regret) or 'curvecast backtest --json' (calibration) printed; told apart by content.
    With --storage URL --study NAME instead of FILE: the study's trials as curves
    ('trial N', goal from the study's direction), each pruned trial's stop and the
    compute pruning saved.
    """
    from .io.output import check_target
    from .report import build_report, write_report

    if storage is None and study_name is not None:
        raise click.UsageError("--study needs --storage URL, the Optuna storage it is in")
    if (file is None) == (storage is None):
        raise click.UsageError("give exactly one of FILE or --storage URL (with --study NAME)")
    if storage is not None and study_name is None:
        raise click.UsageError("--storage needs --study NAME, the study to report")
    check_target(out)  # before the slow work: an unwritable -o fails at once
    names = [n for value in run_names for n in _split(value)]
    options = {"at": at, "level": level, "method": method, "bound": bound, "top": top,
               "runs": names}
    if storage is not None:
        from .report.study import study_report

        kind, page = "study", study_report(storage, study_name, pruned=pruned, **options)
    else:
        kind, page = build_report(file, goal=goal, tag=tag, fmt=fmt, experiment=experiment,
                                  on_duplicate=on_duplicate, **options)
    path = write_report(page, out)
    click.echo(f"{kind} report: {path.resolve()}")


@cli.command()
@click.option("--storage", required=True,
              help="Optuna storage URL of the study (e.g. sqlite:///study.db); read only.")
@click.option("--study", "study_name", required=True, help="Name of the study in --storage.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to serve on; 0.0.0.0 serves every interface (anyone who can "
                   "reach this machine can then read the study).")
@click.option("--port", type=click.IntRange(0, 65535), default=8050, show_default=True,
              help="Port to serve on; 0 picks a free one.")
@click.option("--refresh", type=click.FloatRange(min=0.2), default=2.0, show_default=True,
              help="Seconds between reads of the study (the page polls as often).")
@click.option("--target", type=float, default=None,
              help="Show each trial's ETA: the first step at which it reaches this value.")
@click.option("--prob", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.5,
              show_default=True, help="Probability the ETA asks for.")
@click.option("--level", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.8,
              show_default=True, help="Probability of the forecast final's interval.")
@click.option("--max-step", type=click.IntRange(min=1), default=None,
              help="The trials' final step [default: the longest completed trial's].")
@_method_option
@_bound_option
@click.option("--fans", type=click.IntRange(0), default=12, show_default=True,
              help="Draw the forecast fans of at most this many running trials.")
def dashboard(storage, study_name, host, port, refresh, target, prob, level, max_step, method,
              bound, fans) -> None:
    """Serve a live page of an Optuna study while it runs: every trial's curve, forecast
    fans of the running ones, the pruner's decisions, ETAs and the compute saved.

    Read only; the page updates itself every --refresh seconds. Stop with Ctrl-C.
    """
    import signal

    from .report.live import LiveStudy
    from .report.server import DashboardServer

    live = LiveStudy(storage, study_name, target=target, prob=prob, level=level,
                     max_step=max_step, method=method, bound=bound, fans=fans)
    try:
        server = DashboardServer(live, host, port, refresh)
    except OSError as exc:
        raise click.UsageError(f"cannot serve on {host}:{port}: {exc.strerror or exc}; "
                               "pick another with --port (0 picks a free one)") from None
    signal.signal(signal.SIGTERM, _interrupt)  # a service manager's stop: a clean exit
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"warning: serving on {host}: anyone who can reach it can read the study",
                   err=True)
    click.echo(f"curvecast dashboard of study {study_name!r}: {server.url} "
               "(read only; Ctrl-C to stop)")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("dashboard stopped")
    finally:
        server.close()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


@cli.command()
@click.option("--out", type=click.Path(path_type=Path), default=Path("curvecast-demo"),
              show_default=True, help="Directory for the plot and the forecasts.")
@click.option("--cutoff", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.3,
              show_default=True, help="Fraction of each run shown to the forecaster.")
def demo(out: Path, cutoff: float) -> None:
    """Forecast bundled real runs from their first part and compare with how they ended."""
    from .demo import run_demo

    console = make_console()
    result = run_demo(out, cutoff=cutoff)
    table = new_table(("run", "status", "seen", "last seen", "median", "lower 80%", "upper 80%",
                       "true final", "inside"), left=("run", "status"), title=result.title)
    for r in result.rows:
        inside = "-" if r.lower is None or r.truth is None else (
            "yes" if r.lower <= r.truth <= r.upper else "no")
        truth = "diverged" if r.final_status == "diverged" else cell(r.truth)
        table.add_row(r.run, r.status, str(r.n_seen), cell(r.last), cell(r.median),
                      cell(r.lower), cell(r.upper), truth, inside)
    console.print(table)
    console.print(result.summary)
    console.print(f"plot: {result.plot.resolve()}")
    console.print(f"forecasts: {result.json.resolve()}")
    _sweep_demo(console, out)
    console.print(f"report (open it in a browser): {result.report.resolve()}")


def _sweep_demo(console: Console, out: Path) -> None:
    from .demo import run_sweep

    rows, best, db = run_sweep(out)
    table = new_table(("pruner", "trials", "completed", "pruned", "failed", "epochs trained",
                       "compute", "best value found"), left=("pruner",),
                      title="The same runs as an Optuna sweep (SQLite), one trial per run")
    for r in rows:
        table.add_row(r.pruner, str(r.trials), str(r.completed), str(r.pruned), str(r.failed),
                      str(r.steps), f"{r.compute:.0%}", cell(r.best))
    console.print(table)
    ours, median, oracle = rows
    console.print(
        f"ForecastPruner trained {ours.compute:.0%} of the epochs and found {cell(ours.best)}; "
        f"MedianPruner {median.compute:.0%}, found {cell(median.best)}; the best final of all "
        f"runs is {cell(best)}. An oracle that knew every final would need {oracle.compute:.0%} "
        "(it completes only the runs that set a new best). 'failed': runs that diverged.")
    console.print(f"study database: {db.resolve()}")
    console.print("its trials and the pruner's decisions, live: curvecast dashboard "
                  f"--storage sqlite:///{db.resolve()} --study ForecastPruner", soft_wrap=True)


cli.add_command(scaling)
cli.add_command(retrain)
cli.add_command(datasets)


def _say(text: str) -> None:
    """An error line on stderr (one line: a library's message may hold newlines);
    nothing when stderr itself cannot be written."""
    text = " ".join(part.strip() for part in text.splitlines() if part.strip())
    try:
        click.echo(text, err=True)
    except (OSError, ValueError):
        pass


# What a failed write to standard output raises (no file name: curvecast's own files
# fail as OutputError, naming theirs)
_STREAM_ERRORS = frozenset((errno.EPIPE, errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG,
                            errno.EBADF, errno.ECONNRESET))


def _flush_stdout() -> None:
    if sys.stdout is not None:  # None: started with stdout closed
        sys.stdout.flush()


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush cannot fail too."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        pass


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the command, turning curvecast's errors into exit code 2.

    Standard output that cannot be written (a full disk, a closed file) is one error
    line and exit 2; a reader that stopped reading (``curvecast forecast x.csv | head``,
    a broken pipe) ends the command quietly, with exit 1; Ctrl-C prints 'interrupted'
    and exits 130 (an output file being written is left as it was).
    """
    try:
        try:
            cli.main(args=argv, prog_name="curvecast", standalone_mode=False)
        finally:
            _flush_stdout()  # a full disk shows here, not in the interpreter's exit
    except (_Interrupted, KeyboardInterrupt):
        _say("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except click.exceptions.Abort as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):  # Ctrl-C while click parsed
            _say("interrupted")
            sys.exit(EXIT_INTERRUPTED)
        _say("aborted")
        sys.exit(EXIT_BAD_INPUT)
    except click.ClickException as exc:
        hint = ""
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            hint = f" (see '{exc.ctx.command_path} --help')"
        _say(f"error: {exc.format_message()}{hint}")
        sys.exit(EXIT_BAD_INPUT)
    except CurvecastError as exc:
        _say(f"error: {exc}")
        sys.exit(EXIT_BAD_INPUT)
    except SystemExit:
        raise
    except OSError as exc:
        if exc.filename is not None or exc.errno not in _STREAM_ERRORS:
            raise  # not standard output's: a bug, shown as one
        _silence_stdout()
        if exc.errno == errno.EPIPE:
            sys.exit(EXIT_PROBLEMS)
        reason = (exc.strerror or str(exc)).lower()
        _say(f"error: cannot write to standard output: {reason}; free some space, or "
             "redirect the output to a file that can be written")
        sys.exit(EXIT_BAD_INPUT)
    sys.exit(0)
