"""``curvecast datasets``: the real learning-curve data sets, listed and exported as the
long files every other command reads.

The command group is registered on the main ``curvecast`` group in ``cli.py``; the
loaders (numpy, pandas) load inside the commands, so ``--help`` stays instant.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from .cli_output import make_console, new_table
from .errors import InputError, UsageError

WRITE_EXTENSIONS = (".csv", ".csv.gz", ".parquet", ".pq", ".jsonl", ".ndjson")
"""What ``export`` writes, by the output's extension (see :func:`curvecast.io.write_long`)."""

_data_option = click.option(
    "--data-dir", "folder", type=click.Path(path_type=Path), default=None,
    help="The folder that holds the data sets [default: $CURVECAST_DATA, else "
         "../shared/data next to the repository].")


def _folder_text(folder: Path | None) -> str | None:
    """The data folder in use, None if there is none."""
    from .datasets.loaders import data_dir

    try:
        return str(data_dir(folder))
    except InputError:
        return None


@click.group()
def datasets() -> None:
    """The real learning-curve data sets: list them, export one as a long file.

    An exported file is read by every other command ('curvecast forecast FILE --goal
    GOAL', backtest, replay, report), with the goal the listing gives.
    """


@datasets.command("list")
@_data_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_(folder: Path | None, as_json: bool) -> None:
    """Every data set: its source, goal, runs, points, license, and whether it is here."""
    from .datasets.catalog import DATASETS

    here = {n: d.available(folder) for n, d in DATASETS.items()}
    where = _folder_text(folder)
    if as_json:
        click.echo(json.dumps({"data_dir": where, "datasets": [
            {**d.to_dict(), "available": here[n]} for n, d in DATASETS.items()]}, indent=2))
        return
    table = new_table(("name", "source", "goal", "runs", "points", "license", "here"),
                      left=("name", "source", "goal", "license", "here"))
    for n, d in DATASETS.items():  # what the values and steps are: in --json
        table.add_row(n, d.source, d.goal, f"{d.runs:,}", f"{d.points:,}", d.license,
                      "yes" if here[n] else "missing")
    console = make_console()
    console.print(table)
    console.print(f"data folder: {where or 'none found'} (--data-dir or CURVECAST_DATA "
                  "to change); export one: curvecast datasets export NAME -o FILE.csv",
                  soft_wrap=True)


def _check_out(out: Path) -> None:
    if not out.name.lower().endswith(WRITE_EXTENSIONS):
        raise UsageError(f"cannot tell the format of {str(out)!r} from its extension; "
                         f"use one of {', '.join(WRITE_EXTENSIONS)}")


def _sample(curves, n: int | None, seed: int):
    """``n`` runs drawn at random (``seed``), in the data set's order; all if fewer."""
    if n is None or n >= len(curves):
        return curves
    import numpy as np

    from .curve import CurveSet

    keep = np.sort(np.random.default_rng(seed).choice(len(curves), n, replace=False))
    return CurveSet([curves[int(i)] for i in keep], source=curves.source)


@datasets.command()
@click.argument("name")
@click.option("-o", "--out", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="The file to write: .csv, .csv.gz, .parquet or .jsonl (long format: "
                   "run, step, value, hp.<name>, ...).")
@click.option("--runs", "n_runs", type=click.IntRange(1), default=None,
              help="Write only this many runs, drawn at random (--seed) [default: all].")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the --runs draw.")
@_data_option
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
def export(name: str, out: Path, n_runs: int | None, seed: int, folder: Path | None,
           as_json: bool) -> None:
    """Write data set NAME (see 'curvecast datasets list') as a long file."""
    from .datasets.catalog import get
    from .io.output import OutputError, check_target

    d = get(name)
    _check_out(out)
    check_target(out)  # an unwritable path fails now, not after loading the data
    if not out.parent.is_dir():  # write_long creates no folders
        raise OutputError(f"cannot write '{out}': the folder '{out.parent}' does not exist; "
                          "create it or choose another")
    if not d.available(folder):
        try:
            expected = ", ".join(d.expected(folder))
        except InputError as exc:  # no data folder at all: say why, and what goes in it
            raise InputError(f"the data of {name!r} ({', '.join(d.files)}) are not here: "
                             f"{exc}") from None
        raise InputError(f"the data of {name!r} are not here: expected {expected}; set "
                         "CURVECAST_DATA or --data-dir to the folder that holds the data "
                         "sets, see ../shared/data/README.md")
    from .io import write_long

    curves = _sample(d.load(folder), n_runs, seed)
    write_long(curves, out)
    points = sum(len(c) for c in curves)
    if as_json:
        click.echo(json.dumps({**d.to_dict(), "runs": len(curves), "points": points,
                               "file": str(out)}, indent=2))
        return
    click.echo(f"wrote {len(curves):,} runs ({points:,} points) of {name} to {out}; "
               f"goal {d.goal}: curvecast forecast {out} --goal {d.goal}")
