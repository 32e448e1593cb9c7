"""Long-format tables: one row per (run, step) in CSV, Parquet or JSON Lines.

Required columns are ``run``, ``step`` and ``value``. Any other column is per-run
metadata: ``hp.<name>`` goes to ``Curve.hp[name]``, the rest to ``Curve.meta``.
A metadata cell that is empty (or NaN) does not count; if a column varies within
a run, the run keeps its value at the run's largest step (so ``epoch`` or
``wall_time`` columns end up as "where the run got to").

CSV holds only text, so metadata columns are typed per column: all integers ->
int, all numbers -> float, all true/false -> bool, otherwise str.

Row numbers in errors count data rows from 1 (the CSV header is not a row);
for JSON Lines they are line numbers.

>>> import tempfile, os
>>> p = os.path.join(tempfile.mkdtemp(), "runs.csv")
>>> _ = open(p, "w").write("run,step,value,hp.lr\\na,0,1.0,0.1\\na,1,0.5,0.1\\n")
>>> cs = read_csv(p)
>>> cs["a"].values.tolist(), cs["a"].hp
([1.0, 0.5], {'lr': 0.1})
"""

from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..curve import Curve, CurveSet, beyond_bound, beyond_text, check_goal
from ..errors import InputError, UsageError

REQUIRED = ("run", "step", "value")
ON_DUPLICATE = ("error", "last", "first", "mean")
"""What a reader does with two values at one step of a run: refuse the file (naming the
rows), keep the value that comes last or first in the file, or average them (a NaN
among them makes the mean NaN: a diverged point stays diverged)."""
HP_PREFIX = "hp."
# Text that means "not a finite number" rather than "not a number at all".
NONFINITE_WORDS = frozenset(
    s + w for s in ("", "+", "-") for w in ("nan", "inf", "infinity")
)


# --------------------------------------------------------------------------- helpers


def _run_name(raw: Any) -> str:
    """The string form of a run name: integral numbers lose their '.0' (3.0 -> '3')."""
    if isinstance(raw, (float, np.floating)) and float(raw).is_integer():
        return str(int(raw))
    if isinstance(raw, np.generic):
        raw = raw.item()
    return str(raw)


def _text(raw: Any) -> str:
    return str(raw).strip()


def _is_nonfinite_word(raw: Any) -> bool:
    """True for cells that rightly become NaN/inf: a float NaN, or 'nan'/'inf' text."""
    if isinstance(raw, (float, np.floating)):
        return True
    return isinstance(raw, str) and raw.strip().lower() in NONFINITE_WORDS


def _to_float(raw: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Floats from a column of numbers and/or text, and a mask of cells that are not numbers.

    Missing cells are NaN here and not in the mask: callers look for them first.

    >>> _to_float(pd.Series([" inf", "1.5", "-Infinity ", "x"]))
    (array([ inf,  1.5, -inf,  nan]), array([False, False, False,  True]))
    """
    n = len(raw)
    if pd.api.types.is_bool_dtype(raw.dtype):
        return np.full(n, np.nan), np.ones(n, dtype=bool)
    if raw.dtype == np.float64:  # no copy
        return raw.to_numpy(), np.zeros(n, dtype=bool)
    if pd.api.types.is_numeric_dtype(raw.dtype):
        return raw.to_numpy(dtype=float, na_value=np.nan), np.zeros(n, dtype=bool)
    out = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan, copy=True)
    bad = np.zeros(n, dtype=bool)
    nan = np.flatnonzero(np.isnan(out))
    if nan.size:
        cand = raw.to_numpy(dtype=object)[nan]
        bad[nan] = [not (v is None or _is_nonfinite_word(v) or _text(v) == "") for v in cand]
        # pandas reads ' inf' (padded) as NaN: the word's own value, so inf stays inf.
        out[nan] = [float(v.strip()) if isinstance(v, str) and _is_nonfinite_word(v)
                    else out[i] for i, v in zip(nan, cand, strict=True)]
    return out, bad


def _text_missing(raw: pd.Series) -> np.ndarray:
    """Mask of cells that are null or blank text."""
    miss = raw.isna().to_numpy(dtype=bool)
    if raw.dtype == object or pd.api.types.is_string_dtype(raw.dtype):
        try:
            blank = raw.str.strip().eq("")
        except AttributeError:  # an object column with no text in it
            return miss
        miss = miss | blank.fillna(False).to_numpy(dtype=bool)
    return miss


def _distinct(a: Any, b: Any) -> bool:
    """Whether two cells are different numbers, read exactly (not as float64).

    >>> _distinct("9007199254740993", "9007199254740992"), _distinct("1e30", "1E+30")
    (True, False)
    """
    try:
        return Decimal(_text(a)) != Decimal(_text(b))
    except (InvalidOperation, ValueError):
        return _text(a) != _text(b)


def give_back_memory() -> None:
    """Return the memory freed so far to the system (glibc's malloc keeps freed blocks in
    its heap, Arrow's pool its own): a reader calls it between its phases, so that the
    next one reuses pages instead of adding to the peak. A no-op where neither applies.
    """
    import ctypes
    import ctypes.util

    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    global _LIBC
    if _LIBC is None:
        try:
            _LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _LIBC = _LIBC if hasattr(_LIBC, "malloc_trim") else False  # glibc only
        except (OSError, AttributeError):
            _LIBC = False
    if _LIBC:
        _LIBC.malloc_trim(0)


_LIBC = None


class RowNumbers:
    """Rows 1..n of a table, as ``rows[i]`` of an array would give them, without the array
    (8 bytes a row).

    >>> rows = RowNumbers(3)
    >>> len(rows), rows[0], rows[2]
    (3, 1, 3)
    """

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return int(i) + 1


def _first(mask: np.ndarray) -> int | None:
    idx = np.flatnonzero(mask)
    return int(idx[0]) if idx.size else None


def _build_long(
    file: str,
    goal: str,
    run: pd.Series,
    step: pd.Series,
    value: pd.Series,
    rows: np.ndarray | RowNumbers,
    *,
    missing: dict[str, np.ndarray] | None = None,
    extra: pd.DataFrame | None = None,
    text_meta: bool = False,
    pos: np.ndarray | None = None,
    columns: Sequence[str] = REQUIRED,
    per_run: Sequence[tuple[dict, dict]] | None = None,
    bound: float | None = None,
    on_duplicate: str = "error",
) -> CurveSet:
    """Validate long-format columns (vectorised) and group them into a CurveSet.

    ``rows`` gives each point's row (or line) for messages; ``pos`` its index in a
    per-run list (one-run-per-line JSON), shown as ``steps[3]``. ``missing`` overrides
    the null/blank masks where a null and NaN mean different things (Parquet, JSON).
    ``per_run`` gives (hp, meta) per run in order of first appearance instead of ``extra``.
    ``bound``: the best attainable value; a value beyond it is an error naming its row.
    ``on_duplicate``: what two values at one step of a run become (:data:`ON_DUPLICATE`).
    """
    on_duplicate = check_on_duplicate(on_duplicate)
    missing = missing or {}
    run_col, step_col, value_col = columns

    def cell(col: str, i: int) -> str:
        return col if pos is None else f"{col}[{pos[i]}]"

    def fail(msg: str, i: int, col: str | None = None, run_: str | None = None) -> InputError:
        return InputError(msg, file=file, row=int(rows[i]), column=col, run=run_)

    # run names: factorise first so that naming costs one call per distinct run
    run_miss = missing.get("run")
    if run_miss is None:
        run_miss = _text_missing(run)
    i = _first(run_miss)
    if i is not None:
        raise fail("the run name is empty; give every row a run name", i, run_col)
    codes, uniques = pd.factorize(run, use_na_sentinel=False)
    names = [_run_name(u) for u in uniques]
    if len(set(names)) < len(names):  # e.g. 3 and "3" in JSON: the same run
        codes, merged = pd.factorize(np.asarray(names, dtype=object)[codes])
        names = [str(u) for u in merged]

    # steps
    steps, step_text = _to_float(step)
    step_miss = missing.get("step")
    if step_miss is None:
        step_miss = _text_missing(step)
    nonfinite = ~np.isfinite(steps) & ~step_miss & ~step_text
    negative = steps < 0
    i = _first(step_miss | step_text | nonfinite | negative)
    if i is not None:
        what = cell(step_col, i)
        if step_miss[i]:
            msg = f"{what} is empty; give every point a step (a number >= 0)"
        elif step_text[i]:
            msg = f"{what} {_text(step.iloc[i])!r} is not a number; steps must be numbers >= 0"
        elif nonfinite[i]:
            msg = f"{what} {_text(step.iloc[i])!r} is not finite; steps must be finite numbers >= 0"
        else:
            msg = f"{what} {steps[i]:g} is negative; steps must be >= 0"
        raise fail(msg, i, step_col, names[codes[i]])

    # values: NaN/inf are data (a diverged run), an empty cell is not
    values, value_text = _to_float(value)
    value_miss = missing.get("value")
    if value_miss is None:
        value_miss = _text_missing(value)
    i = _first(value_miss | value_text)
    if i is not None:
        what = cell(value_col, i)
        if value_miss[i]:
            msg = f"missing {what}; write nan if the run diverged, or drop the row"
        else:
            msg = (
                f"{what} {_text(value.iloc[i])!r} is not a number; "
                "write a number, or nan if the run diverged"
            )
        raise fail(msg, i, value_col, names[codes[i]])

    if bound is not None:
        i = _first(beyond_bound(values, goal, bound))
        if i is not None:
            raise fail(beyond_text(f"{cell(value_col, i)} {values[i]:g}", goal, bound), i,
                       value_col, names[codes[i]])

    # sort by run (first appearance), then step, then row: ties stay in file order
    n = len(steps)
    if _in_order(codes, steps):  # the usual file: no sorted copies of its columns
        order, c, s, v = np.arange(n), codes, steps, values
    else:
        order = np.lexsort((np.arange(n), steps, codes))
        c, s, v = codes[order], steps[order], values[order]
    same = (c[1:] == c[:-1]) & (s[1:] == s[:-1])
    if same.any():
        k = np.flatnonzero(same)
        k = k[np.argsort(order[k + 1], kind="stable")]  # repeats in file order

        def both(j: int) -> str:
            a, b = int(order[j]), int(order[j + 1])
            if pos is None:
                return f"rows {rows[a]} and {rows[b]}"
            return f"{step_col}[{pos[a]}] and {step_col}[{pos[b]}]"

        for j in k[np.abs(s[k]) >= 2.0**53].tolist():
            a, b = int(order[j]), int(order[j + 1])
            if _distinct(step.iloc[a], step.iloc[b]):
                # distinct in the file, one number in float64: above 2**53 not every
                # integer is a float, and a reader of any float64 format sees one step
                raise fail(
                    f"steps {_text(step.iloc[a])} and {_text(step.iloc[b])} ({both(j)}) are "
                    f"the same number in float64 ({s[j]:g}): steps beyond 2^53 (about "
                    "9.0e15) are too large to be told apart; count them in larger units "
                    "(thousands of tokens, say)",
                    b, step_col, names[c[j]],
                )  # fmt: skip
        if on_duplicate == "error":
            j = int(k[0])
            raise fail(
                f"step {s[j]:g} appears twice ({both(j)}); keep one value per step, or "
                "choose which with --on-duplicate last|first|mean (on_duplicate=)",
                int(order[j + 1]), step_col, names[c[j]],
            )  # fmt: skip

    if per_run is None:
        per_run = _per_run_meta(extra, order, c, len(names), text_meta)
        _attach_lr(per_run, extra, order, c, s)
    # the columns as read are done with: free them before the curves are built (on a
    # file of short runs they are ~90 bytes a row, the curves themselves ~80)
    del codes, steps, values, step_text, value_text, nonfinite, negative
    order = None
    if n > 100_000:
        give_back_memory()
    if same.any():
        c, s, v = _merge_repeats(c, s, v, same, on_duplicate)
        n = len(s)
    cuts = np.flatnonzero(np.diff(c)) + 1
    starts = np.concatenate(([0], cuts))
    ends = np.concatenate((cuts, [n]))
    curves = []
    for a, b in zip(starts.tolist(), ends.tolist()):
        g = int(c[a])
        hp, meta = per_run[g]
        curves.append(_make_curve(file, names[g], s[a:b], v[a:b], goal, hp, meta))
    return CurveSet(curves, source=file)


def check_on_duplicate(on_duplicate: str) -> str:
    """``on_duplicate`` if it is one of :data:`ON_DUPLICATE`, else a UsageError.

    >>> check_on_duplicate("mean")
    'mean'
    """
    if on_duplicate not in ON_DUPLICATE:
        raise UsageError(f"on_duplicate (--on-duplicate) must be one of "
                         f"{', '.join(ON_DUPLICATE)}, not {on_duplicate!r}")
    return on_duplicate


def _in_order(codes: np.ndarray, steps: np.ndarray) -> bool:
    """Whether points are already sorted by run (first appearance) and then step.

    >>> _in_order(np.array([0, 0, 1]), np.array([1., 2., 0.]))
    True
    """
    if len(codes) < 2:
        return True
    same = codes[1:] == codes[:-1]
    return bool(((codes[1:] > codes[:-1]) | (same & (steps[1:] >= steps[:-1]))).all())


def _merge_repeats(c: np.ndarray, s: np.ndarray, v: np.ndarray, same: np.ndarray,
                   how: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One point per (run, step) of points sorted by run, step and file order; ``same[k]``
    marks point k + 1 as a repeat of point k.

    >>> c, s, v = np.zeros(3, int), np.array([1., 1., 2.]), np.array([4., 2., 7.])
    >>> [_merge_repeats(c, s, v, np.array([True, False]), h)[2].tolist()
    ...  for h in ("first", "last", "mean")]
    [[4.0, 7.0], [2.0, 7.0], [3.0, 7.0]]
    """
    start = np.flatnonzero(np.concatenate(([True], ~same)))  # first point of each group
    if how == "first":
        pick = start
    elif how == "last":
        pick = np.concatenate((start[1:] - 1, [len(s) - 1]))
    else:  # each value divided by its group's size first: no overflow near 1e308
        count = np.diff(np.concatenate((start, [len(s)])))
        with np.errstate(invalid="ignore"):  # inf + -inf is NaN: diverged
            return c[start], s[start], np.add.reduceat(v / np.repeat(count, count), start)
    return c[pick], s[pick], v[pick]


def _make_curve(file: str, run: str, steps, values, goal: str, hp: dict, meta: dict) -> Curve:
    """Curve(...) with the file added to any error (Curve cannot know it)."""
    try:
        return Curve(run, steps, values, goal, hp, meta)
    except InputError as exc:
        raise InputError(exc.message, file=file, row=exc.row, column=exc.column, run=run) from None


def _py(v: Any) -> Any:
    """A cell as a plain Python value, or None when it is missing."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (float, np.floating)) and np.isnan(v):
        return None
    if isinstance(v, np.generic):
        return v.item()
    return v


def _typed_text(col: pd.Series) -> list[Any]:
    """Type a text column as a whole: int, float, bool or str (None where missing)."""
    vals = [None if _py(v) is None or not str(v).strip() else str(v).strip() for v in col]
    present = [v for v in vals if v is not None]
    if not present:
        return vals
    try:
        num = pd.to_numeric(pd.Series(present, dtype=object))
    except (ValueError, TypeError):
        if {v.lower() for v in present} <= {"true", "false"}:
            return [None if v is None else v.lower() == "true" for v in vals]
        return vals
    it = iter(num.tolist())
    return [None if v is None else next(it) for v in vals]


def _attach_lr(per_run: list, extra: pd.DataFrame | None, order: np.ndarray,
               c: np.ndarray, s: np.ndarray) -> None:
    """An all-numeric ``lr`` column is the per-step learning rate: each run's meta
    ``lr`` becomes ``{"steps": [...], "lr": [...]}`` (rows with no lr left out), which
    :mod:`curvecast.forecasters.schedule` reads; any other ``lr`` column stays plain
    metadata."""
    if extra is None or "lr" not in extra.columns:
        return
    lr = pd.to_numeric(extra["lr"].iloc[order], errors="coerce").to_numpy(float)
    raw = extra["lr"].iloc[order]
    given = raw.notna().to_numpy() & (raw.astype(str).str.strip() != "").to_numpy()
    if np.isnan(lr[given]).any():  # text in it: not a learning rate
        return
    cuts = np.flatnonzero(np.diff(c)) + 1
    ends = np.concatenate((cuts, [len(c)])).tolist()
    for a, b in zip(np.concatenate(([0], cuts)).tolist(), ends, strict=True):
        ok = np.isfinite(lr[a:b])
        if ok.sum() >= 2:
            meta = dict(per_run[int(c[a])][1])
            meta["lr"] = {"steps": s[a:b][ok].tolist(), "lr": lr[a:b][ok].tolist()}
            per_run[int(c[a])] = (per_run[int(c[a])][0], meta)


def _per_run_meta(
    extra: pd.DataFrame | None, order: np.ndarray, codes: np.ndarray, n_runs: int, text: bool
) -> list[tuple[dict, dict]]:
    if extra is None or extra.shape[1] == 0:
        return [({}, {})] * n_runs  # one pair for all: Curve copies what it is given
    sub = extra.iloc[order].reset_index(drop=True)
    if text:  # blank text is a missing cell; groupby.last skips missing ones
        sub = sub.apply(lambda col: col.where(~_text_missing(col)))
    last = sub.groupby(codes, sort=True).last()
    out: list[tuple[dict, dict]] = [({}, {}) for _ in range(n_runs)]
    for name in last.columns:
        vals = _typed_text(last[name]) if text else [_py(v) for v in last[name]]
        is_hp = name.startswith(HP_PREFIX) and len(name) > len(HP_PREFIX)
        key = name[len(HP_PREFIX) :] if is_hp else name
        for g, val in enumerate(vals):
            if val is not None:
                out[g][0 if is_hp else 1][key] = val
    return out


def _check_columns(file: str, found: Iterable[str]) -> None:
    """Raise InputError naming the missing required columns and those found."""
    found = list(found)
    lack = [c for c in REQUIRED if c not in found]
    if lack:
        raise InputError(
            f"no column {', '.join(repr(c) for c in lack)}; found columns {found}. "
            "A long-format file needs columns 'run', 'step' and 'value' "
            "(one row per run and step)",
            file=file,
        )


def _empty(file: str) -> InputError:
    return InputError(
        "the file has no data rows; it needs a header run,step,value and one row per point",
        file=file,
    )


# --------------------------------------------------------------------------- readers


def utf8_error(path: str | os.PathLike, file: str, exc: UnicodeDecodeError, *,
               header: bool) -> InputError:
    """The InputError for a file that is not UTF-8, naming the first bad line: as a row
    (the header is not one when ``header``), else as the line of the file.

    A decoder's offset is into the chunk it decoded, so the line is found again here,
    line by line (a newline byte never occurs inside a UTF-8 character).
    """
    opener = gzip.open if str(path).lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            for n, line in enumerate(f, start=1):
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError as bad:
                    where = f"byte {bad.start + 1} of line {n}"
                    row = n - 1 if header else n
                    if header and n == 1:
                        return InputError(f"the header is not UTF-8 text ({bad.reason} at "
                                          f"{where}); save the file as UTF-8", file=file)
                    return InputError(f"not UTF-8 text ({bad.reason} at {where}); save the "
                                      "file as UTF-8", file=file, row=row)
    except (OSError, EOFError):
        pass
    return InputError(f"not UTF-8 text ({exc.reason}); save the file as UTF-8", file=file)


def read_csv_text(path: str | os.PathLike, *, empty: str) -> pd.DataFrame:
    """A CSV file (optionally .csv.gz) with every cell as text, header names stripped of
    spaces and a byte-order mark; ``empty`` is the message for a file without a header.

    Text lets a reader tell an empty cell from 'nan' and quote a bad cell as written.
    Every failure is an InputError naming the file.
    """
    file = str(path)
    try:
        df = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            skipinitialspace=True,
            compression="infer",
        )
    except pd.errors.EmptyDataError:
        raise InputError(empty, file=file) from None
    except pd.errors.ParserError as exc:
        m = re.search(r"line (\d+), saw (\d+)", str(exc))
        if m:  # pandas counts file lines (header = 1); blank lines may shift rows
            raise InputError(
                f"the row (line {m.group(1)} of the file) has {m.group(2)} fields, more than "
                "the header; quote fields that contain commas",
                file=file,
                row=int(m.group(1)) - 1,
            ) from None
        raise InputError(f"not a readable CSV file ({exc})", file=file) from None
    except UnicodeDecodeError as exc:
        raise utf8_error(path, file, exc, header=True) from None
    except (OSError, EOFError, ValueError) as exc:  # bad gzip, unreadable file
        raise InputError(f"could not read the file ({exc})", file=file) from None
    df.columns = [str(c).strip().lstrip("\ufeff") for c in df.columns]
    return df


def _read_csv_arrow(path: str | os.PathLike):
    """(run, step, value, rows, extra) of a well-formed CSV, read by Arrow: numbers parsed
    straight to float64 (the same floats as the text reader's) and text kept in Arrow's
    buffers, not one Python string per cell (the text reader holds ~60 bytes a cell: 2 GB
    for a 180 MB file); None for anything it may not read exactly as the text reader
    would (an empty or padded cell, a number it does not parse, ragged rows, odd bytes, a
    header it does not expect), which the text reader then reads or words the error of.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "runs.csv")
    >>> _ = open(p, "w").write("run,step,value\\na,0,1.0\\na,1,nan\\n")
    >>> run, step, value, rows, extra = _read_csv_arrow(p)
    >>> list(run), step.tolist(), len(rows), extra
    (['a', 'a'], [0.0, 1.0], 2, None)
    >>> _ = open(p, "w").write("run,step,value\\n a,0,1.0\\n")  # padded: the text reader's
    >>> _read_csv_arrow(p) is None
    True
    """
    import pyarrow as pa

    if not os.path.isfile(path):
        return None
    pool = pa.system_memory_pool()  # malloc: what Arrow frees goes back (mimalloc keeps it)
    try:
        table = _arrow_table(path, pool)
        if table is None:
            return None
        # run names as codes into one list of names: 4 bytes a row, not a string
        names = pc_encode(table["run"].combine_chunks(memory_pool=pool), pool)
        run = pd.Series(pd.Categorical.from_codes(names.indices.to_numpy(),
                                                  names.dictionary.to_pylist()))
        step, value = (pd.Series(table[n].to_numpy()) for n in ("step", "value"))
        if (np.abs(step.to_numpy()) >= 2.0**53).any():
            return None  # steps the file tells apart and float64 may not: the text's call
        extra = [n for n in table.column_names if n not in REQUIRED]
        extra_df = table.select(extra).to_pandas(memory_pool=pool) if extra else None
        rows = RowNumbers(table.num_rows)
    except (pa.ArrowException, OSError, ValueError, UnicodeError):
        return None
    finally:
        table = names = None
        give_back_memory()  # the parse's buffers: ~4x the file, now free
    return run, step, value, rows, extra_df


def pc_encode(array, pool):
    """``array`` dictionary-encoded (indices into its distinct values, in order of first
    appearance), allocated from ``pool``."""
    import pyarrow.compute as pc

    return pc.dictionary_encode(array, memory_pool=pool)


def _arrow_table(path: str | os.PathLike, pool):
    """The CSV as an Arrow table (step, value float64, every other column text) allocated
    from ``pool``, or None where the text reader might read it otherwise."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    # one thread: on a small machine no slower, and a third of the peak memory
    read = pcsv.ReadOptions(use_threads=False, block_size=1 << 22)
    with pcsv.open_csv(path, read_options=pcsv.ReadOptions(use_threads=False,
                                                           block_size=1 << 16),
                       memory_pool=pool) as head:
        names = head.schema.names
    if (len(set(names)) < len(names) or any(n != n.strip() or not n for n in names)
            or not set(REQUIRED) <= set(names)):
        return None  # the text reader strips, renames or words the error
    types = {n: pa.float64() if n in ("step", "value") else pa.string() for n in names}
    table = pcsv.read_csv(path, read_options=read, convert_options=pcsv.ConvertOptions(
        column_types=types, null_values=[], strings_can_be_null=False,
        quoted_strings_can_be_null=False), memory_pool=pool)
    if table.num_rows == 0 or table.column_names != names:
        return None
    for n in names:
        if n in ("step", "value"):
            continue
        # the text reader skips spaces after a comma: a padded cell reads apart
        col = table[n]
        if (col.type != pa.string() or col.null_count
                or pc.any(pc.starts_with(col, " ", memory_pool=pool)).as_py()
                or (n == "run" and pc.any(pc.equal(col, "", memory_pool=pool)).as_py())):
            return None
    return table


def read_csv(path: str | os.PathLike, *, goal: str = "min", bound: float | None = None,
             on_duplicate: str = "error") -> CurveSet:
    """Read a long-format CSV (optionally .csv.gz) with columns run, step, value; two
    values at one step of a run are an error or merged (``on_duplicate``, one of
    :data:`ON_DUPLICATE`).

    >>> read_csv("runs.csv", goal="max")  # doctest: +SKIP
    CurveSet(12 runs, source='runs.csv')
    """
    file = str(path)
    goal = check_goal(goal)
    on_duplicate = check_on_duplicate(on_duplicate)
    fast = _read_csv_arrow(path)
    if fast is not None:
        run, step, value, rows, extra = fast
        try:
            return _build_long(file, goal, run, step, value, rows, extra=extra, text_meta=True,
                               bound=bound, on_duplicate=on_duplicate,
                               missing=dict.fromkeys(REQUIRED, np.zeros(len(rows), bool)))
        except InputError:
            pass  # the text reader below words the error, quoting the cell as written
    df = read_csv_text(
        path, empty="the file is empty; it needs a header run,step,value and one row per point"
    )
    _check_columns(file, df.columns)
    if len(df) == 0:
        raise _empty(file)
    rows = RowNumbers(len(df))
    extra = df.drop(columns=list(REQUIRED))
    return _build_long(
        file, goal, df["run"], df["step"], df["value"], rows, extra=extra, text_meta=True,
        bound=bound, on_duplicate=on_duplicate,
    )


def read_parquet(path: str | os.PathLike, *, goal: str = "min", bound: float | None = None,
                 on_duplicate: str = "error") -> CurveSet:
    """Read a long-format Parquet file with columns run, step, value (``on_duplicate``:
    as for :func:`read_csv`).

    >>> read_parquet("runs.parquet")  # doctest: +SKIP
    CurveSet(12 runs, source='runs.parquet')
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    file = str(path)
    goal = check_goal(goal)
    on_duplicate = check_on_duplicate(on_duplicate)
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InputError(
            f"not a readable Parquet file ({exc}); rewrite it, or export the data as CSV",
            file=file,
        ) from None
    _check_columns(file, table.column_names)
    if table.num_rows == 0:
        raise _empty(file)

    def column(name: str) -> tuple[pd.Series, np.ndarray]:
        col = table.column(name)
        s = col.to_pandas()
        # null and NaN differ here: null is a missing cell, NaN a diverged value
        miss = col.is_null().to_numpy(zero_copy_only=False)
        if not pd.api.types.is_numeric_dtype(s.dtype):
            miss = miss | _text_missing(s)
        return s, miss

    (run, rm), (step, sm), (value, vm) = (column(c) for c in REQUIRED)
    others = [c for c in table.column_names if c not in REQUIRED]
    extra = None
    if others:
        nullable = {pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint16(),
                    pa.uint32(), pa.uint64(), pa.bool_()}  # fmt: skip
        # keep ints as ints even where some runs lack the column
        extra = table.select(others).to_pandas(
            types_mapper=lambda t: pd.ArrowDtype(t) if t in nullable else None
        )
    rows = np.arange(1, table.num_rows + 1)
    return _build_long(
        file, goal, run, step, value, rows, missing={"run": rm, "step": sm, "value": vm},
        extra=extra, bound=bound, on_duplicate=on_duplicate,
    )  # fmt: skip


def _json_cells(items: Sequence[Any]) -> tuple[pd.Series, np.ndarray]:
    """Cells from JSON as an object Series plus a missing mask (None or blank text).

    true/false and lists are turned to text so that they are reported as not-a-number.
    """
    miss = np.fromiter((v is None for v in items), dtype=bool, count=len(items))
    if set(map(type, items)) <= {int, float, type(None)}:  # the usual case: plain numbers
        return pd.Series(items, dtype=object), miss
    cells = np.empty(len(items), dtype=object)
    for i, v in enumerate(items):
        if isinstance(v, str) and not v.strip():
            miss[i] = True
        elif isinstance(v, (bool, list, dict)):
            v = json.dumps(v)
        cells[i] = v
    return pd.Series(cells, dtype=object), miss


def _long_from_records(
    file: str, goal: str, records: Sequence[dict], lines: Sequence[int],
    bound: float | None = None, on_duplicate: str = "error",
) -> CurveSet:
    """Build a CurveSet from long-format JSON objects (one per line)."""
    keys: dict[str, None] = {}
    for r in records:
        keys.update(dict.fromkeys(r))
    _check_columns(file, keys)
    run, rm = _json_cells([r.get("run") for r in records])
    step, sm = _json_cells([r.get("step") for r in records])
    value, vm = _json_cells([r.get("value") for r in records])
    others = [k for k in keys if k not in REQUIRED]
    extra = None
    if others:
        extra = pd.DataFrame([{k: r.get(k) for k in others} for r in records], dtype=object)
    return _build_long(
        file, goal, run, step, value, np.asarray(lines),
        missing={"run": rm, "step": sm, "value": vm}, extra=extra, bound=bound,
        on_duplicate=on_duplicate,
    )  # fmt: skip


# --------------------------------------------------------------------------- writer

_WRITE_FORMATS = {".csv": "csv", ".csv.gz": "csv.gz", ".jsonl": "jsonl", ".ndjson": "jsonl",
                  ".parquet": "parquet", ".pq": "parquet"}  # fmt: skip


def _write_format(path: Path) -> str:
    name = path.name.lower()
    for ext in sorted(_WRITE_FORMATS, key=len, reverse=True):
        if name.endswith(ext):
            return _WRITE_FORMATS[ext]
    raise UsageError(
        f"cannot tell the format of {str(path)!r} from its extension; "
        f"use one of {', '.join(_WRITE_FORMATS)}"
    )


def _atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Write through a temp file beside ``path``, renamed over it (see
    :func:`curvecast.io.output.staged`: devices and FIFOs are written in place)."""
    from .output import staged

    with staged(path, parents=False) as tmp:
        write(str(tmp))


def _step_column(steps: np.ndarray) -> np.ndarray:
    """Steps as int64 when they are all whole numbers (0, 200, ...), else floats."""
    if steps.size and np.all(steps == np.round(steps)) and np.abs(steps).max() < 2**53:
        return steps.astype(np.int64)
    return steps


def _json_default(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return str(v)


def _nonfinite_text(v: float) -> float | str:
    # strict JSON has no NaN/Infinity; the reader takes these strings as numbers
    return v if np.isfinite(v) else repr(v)


def write_long(curves: CurveSet | Iterable[Curve], path: str | os.PathLike) -> None:
    """Write curves as a long-format table (.csv, .csv.gz, .jsonl, .ndjson, .parquet, .pq).

    Columns: run, step, value, then ``hp.<name>`` for each hyperparameter and one
    column per meta key. NaN/inf values are written as nan/inf (as strings in JSON
    Lines). The file is written to a temp file and renamed, so a failed write leaves
    no partial file. ``read_curves`` reads it back.

    >>> from curvecast.curve import Curve
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "out.csv")
    >>> write_long([Curve("a", [0, 1], [1.0, 0.5], hp={"lr": 0.1})], p)
    >>> open(p).read().splitlines()
    ['run,step,value,hp.lr', 'a,0,1.0,0.1', 'a,1,0.5,0.1']
    """
    cs = curves if isinstance(curves, CurveSet) else CurveSet(list(curves))
    path = Path(path)
    fmt = _write_format(path)
    if len(cs) == 0:
        raise UsageError("there are no runs to write")
    hp_keys = list(dict.fromkeys(k for c in cs for k in c.hp))
    meta_keys = list(dict.fromkeys(k for c in cs for k in c.meta))
    for k in meta_keys:
        if k in REQUIRED or k.startswith(HP_PREFIX):
            raise UsageError(
                f"meta key {k!r} clashes with a column of the long format; rename it"
            )
    extra = [(HP_PREFIX + k, "hp", k) for k in hp_keys] + [(k, "meta", k) for k in meta_keys]
    lengths = [len(c) for c in cs]
    steps = np.concatenate([c.steps for c in cs])
    values = np.concatenate([c.values for c in cs])

    if fmt == "jsonl":

        def write(tmp: str) -> None:
            with open(tmp, "w", encoding="utf-8") as f:
                for c in cs:
                    base = {
                        col: getattr(c, src)[k] for col, src, k in extra if k in getattr(c, src)
                    }
                    st = _step_column(c.steps).tolist()
                    for x, y in zip(st, c.values.tolist()):
                        rec = {"run": c.run, "step": x, "value": _nonfinite_text(y), **base}
                        f.write(json.dumps(rec, default=_json_default) + "\n")

        _atomic_write(path, write)
        return

    cols: dict[str, Any] = {
        "run": np.repeat(np.asarray(cs.runs, dtype=object), lengths),
        "step": _step_column(steps),
    }
    for col, src, k in extra:
        per_run = np.empty(len(cs), dtype=object)  # object: ints stay ints next to None
        per_run[:] = [getattr(c, src).get(k) for c in cs]
        cols[col] = np.repeat(per_run, lengths)

    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        arrays = {"run": pa.array(cols["run"], pa.string()), "step": pa.array(cols["step"]),
                  "value": pa.array(values, pa.float64())}  # fmt: skip
        for col, _, _ in extra:
            try:
                arrays[col] = pa.array(cols[col].tolist())
            except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types: store as text
                arrays[col] = pa.array([None if v is None else str(v) for v in cols[col]])
        table = pa.table(arrays)
        _atomic_write(path, lambda tmp: pq.write_table(table, tmp))
        return

    df = pd.DataFrame(cols)
    df.insert(2, "value", [repr(v) for v in values.tolist()])  # repr: exact and nan/inf

    def write_csv(tmp: str) -> None:
        opener = gzip.open if fmt == "csv.gz" else open
        with opener(tmp, "wt", encoding="utf-8", newline="") as f:
            df.to_csv(f, index=False, na_rep="", lineterminator="\n")

    _atomic_write(path, write_csv)
