"""Read learning curves from files; write them back in the long format.

Formats (chosen by ``fmt`` or the path):

* long tables, one row per run and step: ``.csv``, ``.csv.gz``, ``.parquet``, ``.pq``,
  and ``.jsonl``/``.ndjson`` (columns run, step, value; ``hp.<name>`` and other
  columns are per-run hyperparameters and metadata), see :mod:`.tabular`;
* one run per JSON line (``.jsonl`` whose first line has "steps" and "values"),
  see :mod:`.jsonruns`;
* a TensorBoard log directory (or one event file), see :mod:`.tensorboard`;
* an MLflow tracking directory (``mlruns/``), ``mlflow.db`` file or tracking URI, one
  experiment (``experiment``) and metric (``tag``) at a time, see :mod:`.mlflow`;
* W&B runs: a ``wandb/`` folder, a run directory or ``.wandb`` file, or (with
  ``fmt='wandb'``) an exported history CSV/Parquet, the metric as ``tag``, see
  :mod:`.wandb`.

Every problem with the input raises :class:`curvecast.errors.InputError` naming
the file, row, column and/or run and saying what to do.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from ..choices import FORMATS
from ..curve import CurveSet, check_bound, check_goal
from ..errors import CurvecastError, InputError, UsageError
from .jsonruns import read_jsonl
from .mlflow import is_mlflow_store, read_mlflow
from .tabular import ON_DUPLICATE, check_on_duplicate, read_csv, read_parquet, write_long
from .tensorboard import read_tensorboard
from .wandb import is_wandb_dir, read_wandb

__all__ = ["FORMATS", "ON_DUPLICATE", "check_input", "read_curves", "write_long"]

_EXTENSIONS = {
    ".csv": "csv", ".csv.gz": "csv",
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".jsonl.gz": "jsonl", ".ndjson.gz": "jsonl",
    ".parquet": "parquet", ".pq": "parquet",
    ".db": "mlflow", ".wandb": "wandb",
}  # fmt: skip
_URI = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)  # an MLflow tracking URI


def detect_format(path: str | os.PathLike) -> str:
    """The format of ``path`` from its extension; for a directory, 'mlflow' (a tracking
    directory), 'wandb' (W&B runs) or 'tensorboard'; 'mlflow' for a tracking URI.

    >>> detect_format("runs.csv.gz"), detect_format("runs.ndjson"), detect_format("http://h")
    ('csv', 'jsonl', 'mlflow')
    """
    if _URI.match(str(path)):
        return "mlflow"
    p = Path(path)
    if p.is_dir():
        return "mlflow" if is_mlflow_store(p) else "wandb" if is_wandb_dir(p) else "tensorboard"
    name = p.name.lower()
    for ext in sorted(_EXTENSIONS, key=len, reverse=True):
        if name.endswith(ext):
            return _EXTENSIONS[ext]
    if "tfevents" in name:  # a single event file
        return "tensorboard"
    raise InputError(
        f"unknown file type {''.join(p.suffixes) or '(no extension)'!r}; use a "
        f"{', '.join(_EXTENSIONS)} file or a TensorBoard log directory, "
        "or name the format with fmt (--format)",
        file=str(path),
    )


def check_input(path: str | os.PathLike) -> None:
    """Raise :class:`InputError` unless ``path`` is a regular file or a directory (symbolic
    links followed): a FIFO, ``/dev/zero`` or a terminal would make a reader wait forever.

    >>> check_input("/dev/null")
    Traceback (most recent call last):
    ...
    curvecast.errors.InputError: /dev/null: not a regular file (a character device); save the data to a file and give its path
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise InputError("no such file or directory; check the path", file=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read it ({exc.strerror or exc}); check the path",
                         file=str(path)) from None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return
    kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a character device" if stat.S_ISCHR(mode)
            else "a block device" if stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a special file")
    raise InputError(f"not a regular file ({kind}); save the data to a file and give its path",
                     file=str(path))


def read_curves(
    path: str | os.PathLike,
    *,
    goal: str = "min",
    tag: str | None = None,
    fmt: str | None = None,
    bound: float | None = None,
    experiment: str | None = None,
    on_duplicate: str | None = None,
) -> CurveSet:
    """Read every run in ``path`` as a validated :class:`~curvecast.curve.CurveSet`.

    ``goal`` is 'min' (loss) or 'max' (accuracy); ``tag`` picks the scalar of a
    TensorBoard log, or the metric of MLflow or W&B runs; ``experiment`` the MLflow
    experiment (name or id); ``fmt`` (one of ``FORMATS``) overrides the guess from the
    extension. ``bound``, the metric's best attainable value if
    given: a value beyond it (below for 'min', above for 'max') is an error naming its
    row (its run and step in a TensorBoard log). ``on_duplicate``, what two values at one
    step of a run become: 'error' (the default for files: the error names the run, the
    rows and this option), 'last' (the default for TensorBoard logs, MLflow and W&B runs,
    where a run restarted from a checkpoint logs a step again), 'first' or 'mean'.

    >>> cs = read_curves("runs.csv")  # doctest: +SKIP
    >>> cs = read_curves("logs/", tag="val/loss")  # doctest: +SKIP
    >>> cs["lr0.1"].status  # doctest: +SKIP
    'ok'
    """
    goal = check_goal(goal)
    bound = check_bound(bound)
    file = str(path)
    if fmt is not None and fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    p = Path(path)
    uri = fmt in (None, "mlflow") and bool(_URI.match(file))
    if not uri:
        check_input(p)
    fmt = fmt or detect_format(file if uri else p)
    if tag is not None and fmt not in ("tensorboard", "mlflow", "wandb"):
        raise UsageError(f"tag (--tag, --metric) applies to TensorBoard logs and MLflow or "
                         f"W&B runs, not to a {fmt} file")
    if experiment is not None and fmt != "mlflow":
        raise UsageError(f"experiment (--experiment) applies to MLflow stores, not to a {fmt} "
                         "file")
    if fmt not in ("tensorboard", "mlflow", "wandb") and p.is_dir():
        raise InputError(f"this is a directory, not a {fmt} file; give a file path", file=file)
    if on_duplicate is not None:
        check_on_duplicate(on_duplicate)
        if fmt in ("mlflow", "wandb") and on_duplicate != "last":
            raise UsageError(f"on_duplicate (--on-duplicate) {on_duplicate!r} does not apply "
                             f"to {fmt} runs: their store keeps one value a step, the last")
    dup = on_duplicate or "error"
    try:
        if fmt == "csv":
            return read_csv(p, goal=goal, bound=bound, on_duplicate=dup)
        if fmt == "parquet":
            return read_parquet(p, goal=goal, bound=bound, on_duplicate=dup)
        if fmt == "jsonl":
            return read_jsonl(p, goal=goal, bound=bound, on_duplicate=dup)
        if fmt in ("mlflow", "wandb"):
            curves = (read_mlflow(file if uri else p, experiment=experiment, metric=tag,
                                  goal=goal) if fmt == "mlflow"
                      else read_wandb(p, metric=tag, goal=goal))
            check_bound(bound, curves, source=file)
            return curves
        if p.is_dir():  # an event file that is a FIFO would hang the event reader
            for event_file in p.rglob("*tfevents*"):
                check_input(event_file)
        curves = read_tensorboard(p, goal=goal, tag=tag, on_duplicate=on_duplicate or "last")
        check_bound(bound, curves, source=file)  # no rows here: the run and step
        return curves
    except CurvecastError:
        raise
    except Exception as exc:  # last resort: the contract is that only InputError escapes
        raise InputError(
            f"could not read the file as {fmt} ({type(exc).__name__}: {exc}); "
            "check that it is a valid file of that format",
            file=file,
        ) from exc
