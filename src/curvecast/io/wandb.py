"""Weights & Biases runs: a local run directory read without the network, or a history
exported as CSV or Parquet.

* A run directory (``wandb/run-...-ID/`` or ``offline-run-...``), a folder of them (the
  ``wandb/`` folder a script writes, or any folder above), or one ``run-ID.wandb`` file:
  each run's transaction log (the ``.wandb`` file the library writes as the run goes,
  online or offline) is read with the library's own record schema (``wandb``'s protocol
  buffers, ``pip install 'curvecast[wandb]'``): every history row, the run's name and
  its config (the hyperparameters). The log is LevelDB's log format (blocks of 32 KiB,
  each chunk with its CRC-32); a run still writing is read up to its last whole record.
* An exported history, one row per logged step: the columns of ``run.history()``
  (``_step`` and the metrics; a ``name`` or ``run`` column tells runs apart, else the
  file is one run named after it), or the CSV that W&B's chart menu exports (``Step``
  and ``<run> - <metric>`` columns, ``__MIN``/``__MAX`` columns ignored).

The step is W&B's ``_step``. A run whose metric was logged twice at one step keeps the
value logged last; rows without the metric are skipped (in an export, a NaN too: its
empty cells and NaN read alike; the run directory keeps NaN and inf).
"""

from __future__ import annotations

import json
import os
import re
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..curve import CurveSet, check_goal
from ..errors import InputError
from .tabular import _make_curve

BLOCK = 32 * 1024
"""LevelDB log block size: a chunk never straddles two blocks."""
HEADER = struct.Struct("<IHB")  # CRC-32, length, chunk type
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
MAGIC = b":W&B"
RUN_FILE = re.compile(r"^run-.+\.wandb$")
STEP_COLUMNS = ("_step", "Step")


def is_wandb_dir(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a ``.wandb`` file, a run directory, or a folder of them.

    >>> is_wandb_dir("logs.csv")
    False
    """
    return bool(_run_files(Path(path)))


def _run_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root] if root.name.endswith(".wandb") else []
    if not root.is_dir():
        return []
    found = []
    for d, subdirs, files in os.walk(root):  # not into symbolic links (latest-run)
        subdirs.sort()
        found += [Path(d) / f for f in sorted(files) if RUN_FILE.match(f)]
    return found


def read_wandb(path: str | os.PathLike, *, metric: str | None = None,
               goal: str = "min") -> CurveSet:
    """Read ``metric`` from every W&B run under ``path`` (see the module docstring); the
    metric may be left out when the runs log one (keys starting with ``_`` are W&B's).

    >>> read_wandb("wandb/", metric="val_loss")  # doctest: +SKIP
    CurveSet(4 runs, source='wandb/')
    """
    goal = check_goal(goal)
    p = Path(path)
    if p.is_file() and not p.name.endswith(".wandb"):
        return read_wandb_export(p, metric=metric, goal=goal)
    files = _run_files(p)
    if not files:
        raise InputError("no W&B run here (run-<id>.wandb files in run directories); point at "
                         "a wandb/ folder, a run directory or an exported history file",
                         file=str(path))
    runs = [_read_run(f) for f in files]
    keys = sorted({k for r in runs for k in r["keys"]})
    metric = _metric(metric, keys, str(path))
    names = _unique([r["name"] for r in runs], [r["id"] for r in runs])
    curves = []
    for run, name in zip(runs, names, strict=True):
        points = run["history"].get(metric)
        if not points:
            continue
        steps = sorted(points)
        meta = {"run_id": run["id"], "project": run["project"], "metric": metric}
        curves.append(_make_curve(run["file"], name, np.asarray(steps, float),
                                  [points[s] for s in steps], goal, run["config"], meta))
    return CurveSet(curves, source=str(path))


def _read_run(file: Path) -> dict[str, Any]:
    """One run's name, id, project, config and history ({metric: {step: value}})."""
    try:
        from wandb.proto import wandb_internal_pb2 as pb
    except ImportError:
        raise InputError("reading a W&B run needs wandb: pip install 'curvecast[wandb]'",
                         file=str(file)) from None
    run: dict[str, Any] = {"file": str(file), "name": None, "id": _run_id(file),
                           "project": None, "config": {}, "history": {}, "keys": set()}
    record = pb.Record()
    for i, data in enumerate(_records(file)):
        try:
            record.ParseFromString(data)
        except Exception as exc:  # noqa: BLE001 (protobuf's DecodeError and kin)
            raise InputError(f"record {i + 1} is not a W&B record ({exc}); the file is "
                             "damaged", file=str(file)) from None
        kind = record.WhichOneof("record_type")
        if kind == "run":
            r = record.run
            run["name"] = r.display_name or r.run_id or run["id"]
            run["id"] = r.run_id or run["id"]
            run["project"] = r.project or None
            run["config"].update(_config(r.config.update))
        elif kind == "config":
            run["config"].update(_config(record.config.update))
        elif kind == "history":
            _add_history(run, record.history, file)
    run["name"] = run["name"] or run["id"]
    return run


def _records(file: Path) -> Iterator[bytes]:
    """The records of a W&B transaction log (LevelDB's log format after W&B's header)."""
    data = file.read_bytes()
    if data[:4] != MAGIC:
        raise InputError("not a W&B transaction log (it does not start with ':W&B')",
                         file=str(file))
    pos, parts = 7, []
    while pos + HEADER.size <= len(data):
        left = BLOCK - pos % BLOCK
        if left < HEADER.size:  # a block's tail too short for a header: zero padding
            pos += left
            continue
        crc, n, kind = HEADER.unpack_from(data, pos)
        start = pos + HEADER.size
        chunk = data[start:start + n]
        if kind == 0 and n == 0 and crc == 0:  # pre-allocated zeros: the end so far
            return
        if len(chunk) < n:  # a run still writing: the records so far
            return
        if zlib.crc32(bytes([kind]) + chunk) != crc:
            raise InputError(f"damaged record at byte {pos} (checksum mismatch); read the "
                             "run from W&B's export instead", file=str(file))
        pos = start + n
        if kind == FULL:
            yield chunk
        elif kind == FIRST:
            parts = [chunk]
        elif kind == MIDDLE:
            parts.append(chunk)
        elif kind == LAST:
            yield b"".join([*parts, chunk])
            parts = []


def _item_value(item: Any) -> Any:
    kind = item.WhichOneof("value") if "value" in item.DESCRIPTOR.oneofs_by_name else None
    if kind is not None and kind not in ("json",):
        return getattr(item, kind)
    return json.loads(item.value_json) if item.value_json else None


def _key(item: Any) -> str:
    return item.key or "/".join(item.nested_key)


def _config(items) -> dict[str, Any]:
    """Config entries as hyperparameters (W&B's own, '_wandb', left out)."""
    out = {}
    for item in items:
        key = _key(item)
        if key.startswith("_"):
            continue
        value = json.loads(item.value_json) if item.value_json else None
        if isinstance(value, dict) and set(value) == {"value"}:  # the older layout
            value = value["value"]
        out[key] = value
    return out


def _add_history(run: dict, history: Any, file: Path) -> None:
    row = {_key(i): _item_value(i) for i in history.item}
    step = row.get("_step", history.step.num if history.HasField("step") else None)
    if step is None:
        return
    for key, value in row.items():
        if key.startswith("_"):
            continue
        number = _number(value)
        if number is None:
            continue
        run["keys"].add(key)
        run["history"].setdefault(key, {})[int(step)] = number


def _number(value: Any) -> float | None:
    """A logged value as a number (NaN and infinities as W&B writes them); None for a
    value that is not one (an image, a table, text)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value in ("NaN", "nan", "Infinity", "-Infinity", "inf",
                                            "-inf"):
        return float(value.replace("Infinity", "inf"))
    return None


def _run_id(file: Path) -> str:
    return file.name[len("run-"):-len(".wandb")] if RUN_FILE.match(file.name) else file.stem


def _metric(wanted: str | None, keys: list[str], file: str) -> str:
    if wanted is not None:
        if wanted not in keys:
            raise InputError(f"no run logged metric {wanted!r}; metrics: "
                             f"{', '.join(keys) or 'none'}", file=file)
        return wanted
    if len(keys) == 1:
        return keys[0]
    raise InputError(f"the runs log {len(keys) or 'no'} metrics; choose one with metric "
                     f"(--metric)" + (f": {', '.join(keys)}" if keys else ""), file=file)


def _unique(names: list[str], ids: list[str]) -> list[str]:
    """Run names, with the run id added where a name repeats."""
    return [n if names.count(n) == 1 else f"{n} ({i})" for n, i in zip(names, ids, strict=True)]


def read_wandb_export(path: str | os.PathLike, *, metric: str | None = None,
                      goal: str = "min") -> CurveSet:
    """Read an exported W&B history (CSV or Parquet; see the module docstring)."""
    import pandas as pd

    p = Path(path)
    file = str(path)
    name = p.name.lower()
    try:
        frame = (pd.read_parquet(p) if name.endswith((".parquet", ".pq"))
                 else pd.read_csv(p, low_memory=False))
    except Exception as exc:  # noqa: BLE001 (pandas' and pyarrow's many errors)
        raise InputError(f"could not read the export ({type(exc).__name__}: {exc})",
                         file=file) from None
    step = next((c for c in STEP_COLUMNS if c in frame.columns), None)
    if step is None:
        raise InputError("no step column ('_step' of run.history(), or 'Step' of a chart's "
                         "CSV export); export the run's history with its steps", file=file)
    if step == "Step" and any(" - " in str(c) for c in frame.columns):
        return _chart_export(frame, metric, goal, file)
    run_col = next((c for c in ("name", "run") if c in frame.columns), None)
    keys = sorted(str(c) for c in frame.columns
                  if not str(c).startswith("_") and c not in (step, run_col)
                  and pd.api.types.is_numeric_dtype(frame[c]))
    metric = _metric(metric, keys, file)
    groups = frame.groupby(run_col, sort=False) if run_col else [(p.stem.split(".")[0], frame)]
    curves = []
    for run, rows in groups:
        curves.append(_export_curve(file, str(run), rows[step], rows[metric], goal, metric))
    return CurveSet([c for c in curves if c is not None], source=file)


def _chart_export(frame, metric: str | None, goal: str, file: str) -> CurveSet:
    series = {}
    for col in frame.columns:
        text = str(col)
        if " - " not in text or text.endswith(("__MIN", "__MAX")):
            continue
        run, key = text.rsplit(" - ", 1)
        series.setdefault(key, {})[run] = col
    metric = _metric(metric, sorted(series), file)
    curves = [_export_curve(file, run, frame["Step"], frame[col], goal, metric)
              for run, col in series[metric].items()]
    return CurveSet([c for c in curves if c is not None], source=file)


def _export_curve(file: str, run: str, steps, values, goal: str, metric: str):
    """A run's curve from its export columns (rows without the metric skipped: an empty
    cell and a NaN read alike; a step exported twice keeps its last row); None when it
    has no point."""
    import pandas as pd

    s = pd.to_numeric(steps, errors="coerce")
    v = pd.to_numeric(values, errors="coerce")
    keep = s.notna() & v.notna()
    by_step = dict(zip(s[keep].astype(float), v[keep].astype(float), strict=True))
    if not by_step:
        return None
    order = sorted(by_step)
    return _make_curve(file, run, np.asarray(order, float), [by_step[k] for k in order],
                       goal, {}, {"metric": metric})

