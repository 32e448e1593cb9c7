"""JSON Lines input: either one run per line, or one point per line (long format).

The layout is chosen by the first non-empty line: an object with both ``steps``
and ``values`` means one run per line::

    {"run": "a", "steps": [0, 100, 200], "values": [2.3, 1.1, 0.9], "hp": {"lr": 0.1}}

where other keys than run/steps/values/hp become ``Curve.meta``. Anything else is
read as the long format of :mod:`curvecast.io.tabular` (keys run, step, value).
Values may be numbers, JSON's non-standard NaN/Infinity, or the strings "nan",
"inf", "-inf"; null or "" is a missing value and an error. Rows in errors are
line numbers (blank lines count).
"""

from __future__ import annotations

import gzip
import json
import os
from typing import Any

import numpy as np
import pandas as pd

from ..curve import CurveSet, check_goal
from ..errors import InputError
from .tabular import (
    _build_long,
    _json_cells,
    _long_from_records,
    _run_name,
    check_on_duplicate,
    utf8_error,
)

_RUN_KEYS = ("run", "steps", "values", "hp")


def _read_lines(path: str | os.PathLike, file: str) -> list[tuple[int, Any]]:
    """(line number, parsed JSON) for every non-blank line."""
    opener = gzip.open if str(path).lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8-sig") as f:
            text = f.read()
    except UnicodeDecodeError as exc:
        raise utf8_error(path, file, exc, header=False) from None
    except (OSError, EOFError) as exc:
        raise InputError(f"could not read the file ({exc})", file=file) from None
    numbered = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    objs = [_parse_line(line, n, file) for n, line in numbered]
    out = []
    for (n, _), obj in zip(numbered, objs):
        if not isinstance(obj, dict):
            raise InputError(
                f"the line is a JSON {type(obj).__name__}, not an object; "
                'write one object per line, e.g. {"run": ..., "step": ..., "value": ...}',
                file=file,
                row=n,
            )
        out.append((n, obj))
    if not out:
        raise InputError(
            "the file is empty; write one JSON object per line", file=file
        )
    return out


def _parse_line(line: str, n: int, file: str) -> Any:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"not valid JSON ({exc.msg} at character {exc.colno}); "
            "fix the line or remove it (each line must be one JSON object)",
            file=file,
            row=n,
        ) from None
    except RecursionError:
        raise InputError("JSON nested too deeply; fix the line", file=file, row=n) from None
    except ValueError as exc:  # an integer of more than 4300 digits (CVE-2020-10735 limit)
        raise InputError(f"a number the JSON reader refuses ({str(exc).split(':')[0]}); "
                         "fix the line", file=file, row=n) from None
    return obj


def read_jsonl(path: str | os.PathLike, *, goal: str = "min", bound: float | None = None,
               on_duplicate: str = "error") -> CurveSet:
    """Read a JSON Lines file in either layout (see the module docstring); two values at
    one step of a run are an error or merged (``on_duplicate``: error, last, first, mean).

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "runs.jsonl")
    >>> _ = open(p, "w").write('{"run": "a", "steps": [0, 1, 2], "values": [3, 2, 1]}\\n')
    >>> read_jsonl(p)["a"].values.tolist()
    [3.0, 2.0, 1.0]
    """
    file = str(path)
    goal = check_goal(goal)
    on_duplicate = check_on_duplicate(on_duplicate)
    lines = _read_lines(path, file)
    first = lines[0][1]
    if "steps" in first and "values" in first:
        return _runs_per_line(file, goal, lines, bound, on_duplicate)
    return _long_from_records(file, goal, [o for _, o in lines], [n for n, _ in lines], bound,
                              on_duplicate)


def _runs_per_line(file: str, goal: str, lines: list[tuple[int, Any]],
                   bound: float | None = None, on_duplicate: str = "error") -> CurveSet:
    seen: dict[str, int] = {}
    names: list[str] = []
    per_run: list[tuple[dict, dict]] = []
    steps: list[Any] = []
    values: list[Any] = []
    rows: list[int] = []
    pos: list[int] = []
    lengths: list[int] = []
    for n, obj in lines:
        raw = obj.get("run")
        if raw is None or not str(raw).strip():
            raise InputError(
                "the line has no run name; give each line a \"run\"", file=file, row=n, column="run"
            )
        name = _run_name(raw)
        if name in seen:
            raise InputError(
                f"the run appears on lines {seen[name]} and {n}; give each run one line "
                "(merge the two or rename one)",
                file=file, row=n, run=name,
            )  # fmt: skip
        seen[name] = n
        for key in ("steps", "values"):
            if key not in obj:
                raise InputError(
                    f"the line has no {key!r}; in a one-run-per-line file (as the first "
                    "line is) every line needs run, steps and values",
                    file=file, row=n, column=key, run=name,
                )  # fmt: skip
            if not isinstance(obj[key], list):
                raise InputError(
                    f"{key!r} must be a list of numbers, not a JSON {type(obj[key]).__name__}",
                    file=file, row=n, column=key, run=name,
                )  # fmt: skip
        xs, ys = obj["steps"], obj["values"]
        if len(xs) != len(ys):
            raise InputError(
                f"{len(xs)} steps but {len(ys)} values; give one value per step",
                file=file, row=n, run=name,
            )  # fmt: skip
        if not xs:
            raise InputError(
                "the run has no points; drop the line or add points", file=file, row=n, run=name
            )
        hp = obj.get("hp", {})
        if hp is None:
            hp = {}
        if not isinstance(hp, dict):
            raise InputError(
                f"'hp' must be an object of name: value, not a JSON {type(hp).__name__}",
                file=file, row=n, column="hp", run=name,
            )  # fmt: skip
        meta = {k: v for k, v in obj.items() if k not in _RUN_KEYS}
        names.append(name)
        per_run.append((hp, meta))
        steps.extend(xs)
        values.extend(ys)
        rows.extend([n] * len(xs))
        pos.extend(range(len(xs)))
        lengths.append(len(xs))

    # flatten so the vectorised long-format checks (and their messages) apply
    run = pd.Series(np.repeat(np.asarray(names, dtype=object), lengths))
    step, sm = _json_cells(steps)
    value, vm = _json_cells(values)
    return _build_long(
        file, goal, run, step, value, np.asarray(rows),
        missing={"run": np.zeros(len(run), dtype=bool), "step": sm, "value": vm},
        pos=np.asarray(pos), columns=("run", "steps", "values"), per_run=per_run, bound=bound,
        on_duplicate=on_duplicate,
    )  # fmt: skip

