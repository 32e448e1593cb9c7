"""TensorBoard logs: one run per directory that holds event files.

The run name is the directory's path relative to the given root ('.' becomes the
root's own name), e.g. ``lr0.1/seed2``. One scalar tag is read per call: ``tag``
may be left out only when the logs hold a single scalar tag. Both TF1-style
``simple_value`` scalars and TF2-style scalar tensors (``tf.summary.scalar``) count.
Runs without the chosen tag (e.g. a root directory holding only hparams events)
are skipped.

A repeated step means the run was restarted from a checkpoint and logged that
step again: the value written last is kept. This is the one exception to the
"two values at one step is an error" rule. (TensorBoard itself also drops the
events after a restart's SessionLog.START step; we keep its behaviour.)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..curve import CurveSet, check_goal
from ..errors import InputError
from .tabular import _make_curve

EVENT_MARK = "tfevents"


def _is_event_file(name: str) -> bool:
    # the same test TensorBoard uses (io_wrapper.IsSummaryEventsFile)
    return EVENT_MARK in name


def _find_runs(root: Path) -> list[tuple[str, Path]]:
    """(run name, path) for every directory under ``root`` holding event files, sorted."""
    if root.is_file():
        return [(root.parent.resolve().name, root)]
    out = []
    for d, subdirs, files in os.walk(root):
        subdirs.sort()
        if any(_is_event_file(f) for f in files):
            rel = Path(d).relative_to(root).as_posix()
            out.append((root.resolve().name if rel == "." else rel, Path(d)))
    return out


def _scalar_tags(acc: Any) -> dict[str, str]:
    """Scalar tags of one run -> 'scalars' (simple_value) or 'tensors' (scalar tensors)."""
    tags = acc.Tags()
    out = {t: "tensors" for t in tags.get("tensors", []) if _is_scalar_tensor(acc, t)}
    out.update({t: "scalars" for t in tags.get("scalars", [])})  # simple_value wins a clash
    return out


def _is_scalar_tensor(acc: Any, tag: str) -> bool:
    try:
        return acc.SummaryMetadata(tag).plugin_data.plugin_name == "scalars"
    except KeyError:
        return False


def _points(acc: Any, tag: str, kind: str, file: str, run: str) -> tuple[list[int], list[float]]:
    from tensorboard.util import tensor_util

    by_step: dict[int, float] = {}
    if kind == "scalars":
        for ev in acc.Scalars(tag):
            by_step[ev.step] = float(ev.value)  # later events overwrite: restart keeps last
    else:
        for ev in acc.Tensors(tag):
            arr = tensor_util.make_ndarray(ev.tensor_proto)
            if arr.size != 1 or arr.dtype.kind not in "biuf":
                raise InputError(
                    f"tag {tag!r} holds a {arr.dtype} tensor of shape {arr.shape} at step "
                    f"{ev.step}, not one number; choose a scalar tag",
                    file=file, run=run,
                )  # fmt: skip
            by_step[ev.step] = float(arr.reshape(-1)[0])
    steps = sorted(by_step)
    return steps, [by_step[s] for s in steps]


def read_tensorboard(
    path: str | os.PathLike, *, goal: str = "min", tag: str | None = None
) -> CurveSet:
    """Read one scalar tag from every run under a TensorBoard log directory.

    >>> read_tensorboard("logs/", tag="val/loss")  # doctest: +SKIP
    CurveSet(8 runs, source='logs/')
    """
    from tensorboard.backend.event_processing import event_accumulator as ea

    file = str(path)
    goal = check_goal(goal)
    root = Path(path)
    runs = _find_runs(root)
    if not runs:
        raise InputError(
            "no TensorBoard event files (events.out.tfevents.*) in this directory or below; "
            "point at a log directory, or at a .csv, .jsonl or .parquet file",
            file=file,
        )
    loaded = []
    for name, where in runs:
        # size 0 keeps every event (the default samples scalars down to 10,000)
        acc = ea.EventAccumulator(str(where), size_guidance={ea.SCALARS: 0, ea.TENSORS: 0})
        try:
            acc.Reload()
        except Exception as exc:  # protobuf/IO errors from a damaged file
            raise InputError(
                f"could not read the event files ({type(exc).__name__}: {exc}); "
                "remove or repair the damaged file",
                file=str(where), run=name,
            ) from None  # fmt: skip
        loaded.append((name, where, acc, _scalar_tags(acc)))
    available = sorted({t for *_, tags in loaded for t in tags})
    if not available:
        raise InputError(
            "the event files hold no scalar summaries; log the metric with a scalar summary",
            file=file,
        )
    if tag is None:
        if len(available) > 1:
            raise InputError(
                f"the logs hold {len(available)} scalar tags; choose one with tag "
                f"(--tag): {', '.join(available)}",
                file=file,
            )
        tag = available[0]
    elif tag not in available:
        raise InputError(
            f"no scalar tag {tag!r} in the logs; available tags: {', '.join(available)}",
            file=file,
        )
    curves = []
    for name, where, acc, tags in loaded:
        if tag not in tags:
            continue
        steps, values = _points(acc, tag, tags[tag], str(where), name)
        if not steps:
            continue
        curves.append(
            _make_curve(str(where), name, np.asarray(steps, float), values, goal, {}, {"tag": tag})
        )
    return CurveSet(curves, source=file)
