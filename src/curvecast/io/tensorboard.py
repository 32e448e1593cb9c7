"""TensorBoard logs: one run per directory that holds event files.

The run name is the directory's path relative to the given root ('.' becomes the
root's own name), e.g. ``lr0.1/seed2``. One scalar tag is read per call: ``tag``
may be left out only when the logs hold a single scalar tag. Both TF1-style
``simple_value`` scalars and TF2-style scalar tensors (``tf.summary.scalar``) count.
Runs without the chosen tag (e.g. a root directory holding only hparams events)
are skipped.

A repeated step usually means the run was restarted from a checkpoint and logged that
step again: by default the value written last is kept (``on_duplicate='last'``), the one
exception to the "two values at one step is an error" rule of the other formats;
``on_duplicate`` 'first', 'mean' or 'error' choose otherwise. (TensorBoard itself also
drops the events after a restart's SessionLog.START step; we keep its behaviour.)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..curve import CurveSet, check_goal
from ..errors import InputError
from .tabular import _make_curve, _merge_repeats, check_on_duplicate

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


def _points(acc: Any, tag: str, kind: str, file: str, run: str,
            on_duplicate: str = "last") -> tuple[np.ndarray, np.ndarray]:
    from tensorboard.util import tensor_util

    steps: list[int] = []
    values: list[float] = []
    if kind == "scalars":
        for ev in acc.Scalars(tag):
            steps.append(ev.step)
            values.append(float(ev.value))
    else:
        for ev in acc.Tensors(tag):
            arr = tensor_util.make_ndarray(ev.tensor_proto)
            if arr.size != 1 or arr.dtype.kind not in "biuf":
                raise InputError(
                    f"tag {tag!r} holds a {arr.dtype} tensor of shape {arr.shape} at step "
                    f"{ev.step}, not one number; choose a scalar tag",
                    file=file, run=run,
                )  # fmt: skip
            steps.append(ev.step)
            values.append(float(arr.reshape(-1)[0]))
    return one_per_step(np.asarray(steps, float), np.asarray(values, float), on_duplicate,
                        file=file, run=run, tag=tag)


def one_per_step(steps: np.ndarray, values: np.ndarray, on_duplicate: str, *, file: str,
                 run: str, tag: str) -> tuple[np.ndarray, np.ndarray]:
    """The points of one run's events sorted by step, one per step (``on_duplicate``:
    'last', 'first' or 'mean' of those logged at it, or 'error': an InputError naming the
    run, the step and which events).

    >>> one_per_step(np.array([1., 2., 1.]), np.array([5., 3., 4.]), "last",
    ...              file="f", run="r", tag="loss")
    (array([1., 2.]), array([4., 3.]))
    """
    order = np.argsort(steps, kind="stable")  # ties stay in the order they were logged
    s, v = steps[order], values[order]
    same = s[1:] == s[:-1]
    if not same.any():
        return s, v
    if on_duplicate == "error":
        k = np.flatnonzero(same)
        j = int(k[np.argmin(order[k + 1])])
        raise InputError(
            f"step {s[j]:g} of tag {tag!r} is logged twice (events {order[j] + 1} and "
            f"{order[j + 1] + 1}); choose which value to keep with --on-duplicate "
            "last|first|mean (on_duplicate=; last, the default for TensorBoard logs, is "
            "what a run restarted from a checkpoint wrote)",
            file=file, run=run,
        )  # fmt: skip
    _, s, v = _merge_repeats(np.zeros(len(s), int), s, v, same, on_duplicate)
    return s, v


def read_tensorboard(
    path: str | os.PathLike, *, goal: str = "min", tag: str | None = None,
    on_duplicate: str = "last",
) -> CurveSet:
    """Read one scalar tag from every run under a TensorBoard log directory; a step logged
    twice keeps its last value unless ``on_duplicate`` says otherwise (module docstring).

    >>> read_tensorboard("logs/", tag="val/loss")  # doctest: +SKIP
    CurveSet(8 runs, source='logs/')
    """
    from tensorboard.backend.event_processing import event_accumulator as ea

    file = str(path)
    goal = check_goal(goal)
    on_duplicate = check_on_duplicate(on_duplicate)
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
        steps, values = _points(acc, tag, tags[tag], str(where), name, on_duplicate)
        if not steps.size:
            continue
        curves.append(_make_curve(str(where), name, steps, values, goal, {}, {"tag": tag}))
    return CurveSet(curves, source=file)
