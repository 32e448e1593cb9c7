"""Tables of training runs for scaling laws: one row per run, columns chosen by name.

A row holds a run's inputs (parameters N, tokens D, unique tokens U, or one variable x)
and its final loss. Text where a number belongs, or a non-positive input, is an error
naming the row and column; a NaN or inf loss is a diverged run, dropped and counted.
Rows count data rows from 1 (a CSV header is not a row).

>>> import tempfile, os
>>> p = os.path.join(tempfile.mkdtemp(), "runs.csv")
>>> _ = open(p, "w").write("N,D,loss\\n1e8,2e9,3.1\\n2e8,4e9,2.9\\n4e8,8e9,nan\\n")
>>> [(t.group, t.y.tolist(), t.dropped) for t in read_points(p, {"n": "N", "d": "D"})]
[(None, [3.1, 2.9], 1)]
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InputError, UsageError
from ..io import check_input, detect_format
from ..io.tabular import NONFINITE_WORDS, read_csv_text, utf8_error


@dataclass(frozen=True)
class Points:
    """The runs of one group: inputs by name, losses, and their rows in the file."""

    group: str | None
    X: dict[str, np.ndarray]
    y: np.ndarray
    rows: np.ndarray
    dropped: int = 0

    @property
    def where(self) -> str:
        """The start of a message about these runs: "group 'web': ", or '' ungrouped."""
        return "" if self.group is None else f"group {self.group!r}: "

    def subset(self, mask: np.ndarray) -> Points:
        return Points(self.group, {k: v[mask] for k, v in self.X.items()}, self.y[mask],
                      self.rows[mask], self.dropped)


def _read_frame(path: str | os.PathLike, fmt: str | None) -> pd.DataFrame:
    file = str(path)
    check_input(path)  # a FIFO or a device would hang the reader
    if os.path.isdir(path):
        raise InputError("this is a directory; give a CSV, Parquet or JSON Lines file",
                         file=file)
    fmt = fmt or detect_format(path)
    if fmt == "csv":
        df = read_csv_text(path, empty="the file is empty; it needs a header and one row per run")
    elif fmt in ("parquet", "jsonl"):
        try:
            df = (pd.read_parquet(path) if fmt == "parquet"
                  else pd.read_json(path, lines=True, dtype=False))
        except UnicodeDecodeError as exc:
            raise utf8_error(path, file, exc, header=False) from None
        except (OSError, ValueError, RecursionError) as exc:
            raise InputError(f"could not read the file ({exc})", file=file) from None
        df.columns = [str(c).strip().lstrip("\ufeff") for c in df.columns]
    else:
        raise InputError(f"a scaling table must be CSV, Parquet or JSON Lines, not {fmt}",
                         file=file)
    if len(df) == 0:
        raise InputError("the file has no data rows; it needs one row per run", file=file)
    return df


def _numbers(df: pd.DataFrame, column: str, file: str) -> np.ndarray:
    """A column as floats; text that is not a number is an error naming its row."""
    raw = df[column]
    if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
        return raw.to_numpy(dtype=float, na_value=np.nan)
    text = raw.astype(str).str.strip()
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
    blank = raw.isna().to_numpy() | (text == "").to_numpy()
    bad = np.isnan(values) & ~blank & ~text.str.lower().isin(NONFINITE_WORDS).to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"{text.iloc[i]!r} is not a number", file=file, row=i + 1,
                         column=column)
    if blank.any():
        i = int(np.argmax(blank))
        raise InputError("empty cell; write nan for a diverged run, or drop the row",
                         file=file, row=i + 1, column=column)
    return values


def _positive(values: np.ndarray, column: str, file: str, what: str) -> None:
    bad = ~(np.isfinite(values) & (values > 0))
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"{what} must be a positive finite number, got {values[i]:g}",
                         file=file, row=i + 1, column=column)


def _finite_compute(n: np.ndarray, d: np.ndarray, k: float, file: str, n_col: str,
                    d_col: str | None) -> None:
    """Every run's compute k N D must be a float64 number: the laws of N and D are
    fitted, reported and split by it (and ``scaling fit`` and ``scaling report`` must
    accept the same tables)."""
    with np.errstate(over="ignore"):
        bad = ~np.isfinite(k * n * d)
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"N {n[i]:g} times D {d[i]:g} ({d_col!r}): the compute {k:g} N D "
                         "is beyond float64 (1.8e308); give N and D in larger units "
                         "(millions, billions)", file=file, row=i + 1, column=n_col)


def column_names(path: str | os.PathLike, fmt: str | None = None) -> list[str]:
    """The columns of the table in ``path`` (what ``--law auto`` reads to pick its laws).

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "runs.csv")
    >>> _ = open(p, "w").write("N,D,loss\\n1e8,2e9,3.1\\n")
    >>> column_names(p)
    ['N', 'D', 'loss']
    """
    return [str(c) for c in _read_frame(path, fmt).columns]


def read_points(
    path: str | os.PathLike,
    columns: Mapping[str, str],
    loss: str = "loss",
    *,
    group: str | None = None,
    compute: str | None = None,
    k: float = 6.0,
    fmt: str | None = None,
    best: bool = False,
) -> list[Points]:
    """Read the runs in ``path``: ``columns`` maps each law input (``n``, ``d``, ``u``,
    ``x``) to its column; ``loss`` names the loss column.

    ``compute`` names a training-compute column from which D = C / (k N) is derived
    when ``columns`` has no ``d`` (Epoch's Chinchilla points come so). ``group`` splits
    the runs by that column's values, one law per group. ``best`` keeps, of the runs at
    the same inputs, the lowest loss (a hyperparameter sweep: the law describes the best
    setting). Returns one ``Points`` per group, in order of first appearance.
    """
    file = str(path)
    df = _read_frame(path, fmt)
    need = dict(columns)
    wanted = list(need.values()) + [loss] + [c for c in (group, compute) if c]
    missing = [c for c in wanted if c not in df.columns]
    if missing:
        raise InputError(f"no column {', '.join(map(repr, missing))}; the columns are "
                         f"{', '.join(map(repr, df.columns))} (name them with --n, --d, "
                         "--u, --x, --c, --loss, --group)", file=file)
    X = {}
    for name, col in need.items():
        X[name] = _numbers(df, col, file)
        _positive(X[name], col, file, "an input of a scaling law")
    if compute:
        c = _numbers(df, compute, file)
        _positive(c, compute, file, "training compute")
        if "n" not in X:
            raise UsageError("deriving D from compute needs the parameter column (--n)")
        with np.errstate(over="ignore", under="ignore"):
            X["d"] = c / (k * X["n"])
        _positive(X["d"], compute, file, f"tokens D = C / ({k:g} N)")
    if "n" in X and "d" in X:
        _finite_compute(X["n"], X["d"], k, file, need.get("n", "N"), need.get("d", compute))
    y = _numbers(df, loss, file)
    finite = np.isfinite(y)
    if (y[finite] <= 0).any():
        i = int(np.argmax(finite & (y <= 0)))
        raise InputError(f"a loss must be positive (scaling laws are fitted in log space), "
                         f"got {y[i]:g}; write nan for a run that did not finish",
                         file=file, row=i + 1, column=loss)
    rows = np.arange(1, len(df) + 1)
    labels = (df[group].astype(str).str.strip().to_numpy() if group
              else np.full(len(df), None, dtype=object))
    out = []
    for g in dict.fromkeys(labels):
        m = labels == g
        pts = Points(g, {k_: v[m] for k_, v in X.items()}, y[m], rows[m])
        out.append(_drop_diverged(_best(pts) if best else pts))
    return out


def _drop_diverged(p: Points) -> Points:
    ok = np.isfinite(p.y)
    kept = p.subset(ok)
    return Points(kept.group, kept.X, kept.y, kept.rows, int((~ok).sum()))


def _best(p: Points) -> Points:
    """Of runs with identical inputs, the one with the lowest finite loss."""
    keys = np.column_stack([p.X[k] for k in sorted(p.X)])
    y = np.where(np.isfinite(p.y), p.y, np.inf)
    order = np.lexsort((y, *keys.T[::-1]))
    _, first = np.unique(keys[order], axis=0, return_index=True)
    keep = np.zeros(len(y), bool)
    keep[order[first]] = True
    return p.subset(keep)
