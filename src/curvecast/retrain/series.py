"""Reading a time series for the live loop: durations, cleaning, a regular grid.

A deployed forecaster sees its series one row at a time; the simulator needs it on a
regular grid so that "the next 6 hours" is a fixed number of rows. :func:`read_series`
reads a CSV or Parquet file, and :func:`clean_series` turns the columns it needs into
float arrays on the series' own step (the most common gap between timestamps):

* sentinel values (``-9999`` by default, as weather stations write them) become missing;
* a repeated timestamp keeps its first row (the later ones are counted);
* a timestamp off the grid is moved to the nearest grid point;
* a gap becomes missing rows, so that a lag of one hour is always six 10-minute rows.

Everything repaired is counted in :attr:`Series.report`, which the command line prints.

>>> import pandas as pd
>>> df = pd.DataFrame({"t": ["2020-01-01 00:00", "2020-01-01 01:00", "2020-01-01 01:00",
...                          "2020-01-01 03:00"], "y": [1.0, -9999, 5.0, 3.0]})
>>> s = clean_series(df, time="t", columns=["y"])
>>> s.step_seconds, s.values["y"].tolist(), s.report["sentinels"], s.report["missing_rows"]
(3600, [1.0, nan, nan, 3.0], {'y': 1}, 1)
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError, UsageError

SENTINELS = (-9999.0,)
"""Values read as missing by default (weather stations' "no observation")."""

_UNITS = {
    "s": 1, "sec": 1, "second": 1, "seconds": 1, "S": 1,
    "min": 60, "minute": 60, "minutes": 60, "T": 60,
    "h": 3600, "hour": 3600, "hours": 3600, "H": 3600,
    "d": 86400, "day": 86400, "days": 86400, "D": 86400,
    "w": 604800, "week": 604800, "weeks": 604800, "W": 604800,
}  # fmt: skip
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)?\s*([A-Za-z]+)\s*$")


def parse_duration(text: str, what: str = "duration") -> int:
    """Seconds in a pandas-style duration: ``10min``, ``1h``, ``6h``, ``1d``, ``2w``, ``90s``.

    A bare unit means one of it (``h`` is an hour). Anything else, zero, or a fraction of
    a second is a :class:`~curvecast.errors.UsageError` naming ``what``.

    >>> parse_duration("10min"), parse_duration("1h"), parse_duration("1.5d"), parse_duration("h")
    (600, 3600, 129600, 3600)
    >>> parse_duration("6 parsecs", "--every")
    Traceback (most recent call last):
    ...
    curvecast.errors.UsageError: --every: '6 parsecs' is not a duration; write a number and a unit, e.g. 10min, 1h, 6h, 1d
    """
    m = _DURATION.match(str(text))
    unit = m and (_UNITS.get(m.group(2)) or _UNITS.get(m.group(2).lower()))
    if not unit:
        raise UsageError(f"{what}: {text!r} is not a duration; write a number and a unit, "
                         "e.g. 10min, 1h, 6h, 1d")
    seconds = float(m.group(1) or 1) * unit
    if not math.isfinite(seconds) or seconds <= 0 or seconds != round(seconds):
        raise UsageError(f"{what}: {text!r} must be a positive whole number of seconds")
    return round(seconds)


def format_duration(seconds: float) -> str:
    """The shortest pandas-style spelling of a whole number of seconds.

    >>> format_duration(600), format_duration(21600), format_duration(86400 * 30), format_duration(90)
    ('10min', '6h', '30d', '90s')
    """
    for name, unit in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % unit == 0:
            return f"{int(seconds // unit)}{name}"
    return f"{int(seconds)}s"


@dataclass
class Series:
    """Columns of a time series on a regular grid.

    ``times``: datetime64 grid from the first timestamp to the last, ``step_seconds``
    apart; ``values``: one float array per column (NaN where missing); ``report``: what
    cleaning did (rows read, duplicates dropped, rows moved onto the grid, sentinels and
    missing values per column, missing grid rows and the longest gap).
    """

    times: np.ndarray
    step_seconds: int
    values: dict[str, np.ndarray]
    report: dict = field(default_factory=dict)
    source: str = ""

    def __len__(self) -> int:
        return len(self.times)

    def steps(self, seconds: int, what: str = "duration") -> int:
        """A duration as a whole number of grid steps (an error if it is not one).

        >>> s = Series(np.arange(3).astype("datetime64[h]"), 3600, {})
        >>> s.steps(6 * 3600)
        6
        """
        if seconds % self.step_seconds:
            raise UsageError(f"{what}: {format_duration(seconds)} is not a whole number of the "
                             f"series' steps ({format_duration(self.step_seconds)}); choose a "
                             "multiple of it")
        return seconds // self.step_seconds


def read_series(path: str | os.PathLike, *, time: str, columns: Sequence[str],
                sentinels: Sequence[float] = SENTINELS, fmt: str | None = None) -> Series:
    """Read ``time`` and ``columns`` from a CSV (UTF-8 or Latin-1, optionally gzipped) or
    Parquet file and clean them (:func:`clean_series`). Errors name the file, and the row
    and column where there is one.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "w.csv"
    >>> _ = p.write_text("date,T\\n1/1/2010 0:00,1.5\\n1/1/2010 1:00,2.5\\n")
    >>> read_series(p, time="date", columns=["T"]).values["T"].tolist()
    [1.5, 2.5]
    """
    path = Path(path)
    file = str(path)
    if not path.exists():
        raise InputError("no such file", file=file)
    if not path.is_file():
        raise InputError("not a regular file; give a CSV or Parquet file", file=file)
    kind = fmt or ("parquet" if path.name.lower().endswith((".parquet", ".pq")) else "csv")
    wanted = [time, *dict.fromkeys(columns)]
    if kind == "parquet":
        try:
            import pyarrow.parquet as pq

            names = pq.read_schema(path).names
            _check_columns(file, names, wanted)
            df = pd.read_parquet(path, columns=wanted)
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for a bad file
            raise InputError(f"not a readable Parquet file ({exc})", file=file) from None
    elif kind == "csv":
        df = _read_csv(path, wanted)
    else:
        raise UsageError(f"unknown format {kind!r}; use csv or parquet")
    return clean_series(df, time=time, columns=columns, sentinels=sentinels, file=file)


def _check_columns(file: str, names: Sequence[str], wanted: Sequence[str]) -> None:
    for col in wanted:
        if col not in names:
            near = ", ".join(repr(n) for n in list(names)[:12])
            raise InputError(f"no column {col!r}; the file has {near}", file=file, column=col)


def _read_csv(path: Path, wanted: Sequence[str]) -> pd.DataFrame:
    file = str(path)
    for encoding in ("utf-8", "latin-1"):  # station files often carry a Latin-1 header
        try:
            header = pd.read_csv(path, nrows=0, encoding=encoding, compression="infer")
            break
        except UnicodeDecodeError:
            continue
        except pd.errors.EmptyDataError:
            raise InputError("the file is empty; it needs a header row", file=file) from None
        except (pd.errors.ParserError, OSError, EOFError, ValueError) as exc:
            raise InputError(f"not a readable CSV file ({exc})", file=file) from None
    names = [str(c).strip().lstrip("\ufeff") for c in header.columns]
    _check_columns(file, names, wanted)
    try:
        df = pd.read_csv(path, encoding=encoding, dtype=str, keep_default_na=False,
                         usecols=[i for i, n in enumerate(names) if n in wanted],
                         compression="infer")
    except pd.errors.ParserError as exc:
        m = re.search(r"line (\d+)", str(exc))
        row = int(m.group(1)) - 1 if m else None
        raise InputError(f"not a readable CSV row ({exc}); quote fields that contain commas",
                         file=file, row=row) from None
    except (OSError, EOFError, ValueError) as exc:
        raise InputError(f"could not read the file ({exc})", file=file) from None
    df.columns = [str(c).strip().lstrip("\ufeff") for c in df.columns]
    return df


_MISSING_TEXT = frozenset(("", "na", "nan", "null", "none", "n/a", "-"))


def _numbers(raw: pd.Series, file: str, column: str) -> np.ndarray:
    """Floats from a column; empty cells and NA words are missing, other text an error."""
    if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
        return raw.to_numpy(dtype=float, na_value=np.nan)
    text = raw.astype("string").str.strip()
    out = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = np.isnan(out) & ~text.fillna("").str.lower().isin(_MISSING_TEXT).to_numpy()
    bad &= ~text.fillna("").str.lower().str.lstrip("+-").isin(("nan", "inf", "infinity")).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{text.iloc[i]!r} is not a number; write a number or leave the cell "
                         "empty for a missing value", file=file, row=i + 1, column=column)
    return out


def _times(raw: pd.Series, file: str, column: str) -> np.ndarray:
    """datetime64[s] from text (any format pandas reads) or numbers (seconds since 1970)."""
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        parsed = pd.to_datetime(raw)
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    elif pd.api.types.is_numeric_dtype(raw.dtype):
        parsed = pd.to_datetime(raw, unit="s", errors="coerce")
    else:
        text = raw.astype("string").str.strip()
        try:
            parsed = pd.to_datetime(text, errors="coerce")
        except (ValueError, TypeError, OverflowError):
            parsed = pd.to_datetime(text, errors="coerce", format="mixed")
        if parsed.isna().any() and not parsed.isna().all():  # one format did not fit all rows
            retry = pd.to_datetime(text, errors="coerce", format="mixed")
            if retry.isna().sum() < parsed.isna().sum():
                parsed = retry
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    bad = parsed.isna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{str(raw.iloc[i])!r} is not a time; write a date and time such as "
                         "2020-01-01 00:10:00", file=file, row=i + 1, column=column)
    return parsed.to_numpy().astype("datetime64[s]")


def clean_series(df: pd.DataFrame, *, time: str, columns: Sequence[str],
                 sentinels: Sequence[float] = SENTINELS, file: str = "<data>") -> Series:
    """The ``columns`` of ``df`` as floats on a regular grid of the ``time`` column (see
    the module docstring for what is repaired and counted).

    >>> df = pd.DataFrame({"t": pd.date_range("2020", periods=4, freq="10min"), "y": range(4)})
    >>> clean_series(df, time="t", columns=["y"]).step_seconds
    600
    """
    for col in [time, *columns]:
        if col not in df.columns:
            raise InputError(f"no column {col!r}", file=file, column=col)
    if len(df) < 2:
        raise InputError("the series needs at least two rows", file=file)
    t = _times(df[time], file, time)
    report: dict = {"rows": len(df), "sentinels": {}, "missing": {}}
    values = {}
    sentinel_set = np.asarray(list(sentinels), float)
    for col in dict.fromkeys(columns):
        v = np.array(_numbers(df[col], file, col), dtype=float)  # a writable copy
        v[~np.isfinite(v)] = np.nan
        hit = np.isin(v, sentinel_set) if len(sentinel_set) else np.zeros(len(v), bool)
        report["sentinels"][col] = int(hit.sum())
        v[hit] = np.nan
        values[col] = v
    order = np.argsort(t, kind="stable")
    if (np.diff(order) < 0).any():
        report["reordered"] = True
    t = t[order]
    values = {k: v[order] for k, v in values.items()}
    secs = t.astype(np.int64)
    gaps = np.diff(secs)
    positive = gaps[gaps > 0]
    if not len(positive):
        raise InputError(f"every row has the same time; column {time!r} must advance", file=file,
                         column=time)
    uniq, counts = np.unique(positive, return_counts=True)
    step = int(uniq[np.argmax(counts)])  # the most common gap: the station's cadence
    pos = np.rint((secs - secs[0]) / step).astype(np.int64)
    report["off_grid"] = int(np.count_nonzero((secs - secs[0]) % step))
    keep = np.ones(len(pos), bool)
    keep[1:] = pos[1:] != pos[:-1]  # sorted, so repeats are adjacent: the first row wins
    report["duplicates"] = int((~keep).sum())
    pos = pos[keep]
    n = int(pos[-1]) + 1
    grid = t[0] + np.arange(n) * np.timedelta64(step, "s")
    out = {}
    for k, v in values.items():
        full = np.full(n, np.nan)
        full[pos] = v[keep]
        out[k] = full
        report["missing"][k] = int(np.isnan(full).sum())
    have = np.zeros(n, bool)
    have[pos] = True
    report["missing_rows"] = int(n - len(pos))
    longest = 0
    if report["missing_rows"]:
        edges = np.diff(np.concatenate([[0], (~have).astype(np.int8), [0]]))
        longest = int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max())
    report["longest_gap"] = format_duration((longest + 1) * step) if longest else None
    report["grid_rows"] = int(n)
    report["step"] = format_duration(step)
    return Series(grid, step, out, report, file)
