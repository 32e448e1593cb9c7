"""Replaying policies over a series: the rows of ``curvecast retrain`` and their traces.

>>> import numpy as np, pandas as pd
>>> t = pd.date_range("2020-01-01", periods=24 * 50, freq="h")
>>> df = pd.DataFrame({"time": t, "y": np.sin(np.arange(len(t)) * 2 * np.pi / 24)})
>>> from curvecast.retrain.series import clean_series
>>> s = clean_series(df, time="time", columns=["y"])
>>> out = run_retrain(s, targets=["y"], every="6h", horizon="6h", window="7d",
...                   models=["ridge"], policies=["fixed", "never"])
>>> [r["policy"] for r in out["results"]][:3], out["results"][0]["compute_fraction"]
(['fixed', 'never', 'fixed@2'], 1.0)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from ..errors import InputError, UsageError
from .features import build_features
from .models import MODELS, make_model
from .policies import LADDER, make_policy
from .series import Series, format_duration, parse_duration
from .simulate import Trace, simulate

TRACE_POINTS = 400
"""Points per trace in the JSON (errors averaged over bins; every retraining kept)."""


def _row(tr: Trace, target: str, base: Trace) -> dict:
    ratio = tr.mae / base.mae if base.mae > 0 else float("nan")
    frac = tr.compute / base.compute if base.compute > 0 else float("nan")
    return {"policy": tr.policy, "model": tr.model, "target": target,
            "mae": tr.mae, "rmse": tr.rmse, "retrains": int(tr.retrained.sum()),
            "compute": tr.compute, "compute_fraction": frac, "error_ratio": ratio,
            "error_x_compute": ratio * frac, "seconds": float(tr.seconds.sum())}


def _trace(tr: Trace, target: str, times: np.ndarray) -> dict:
    """A compact trace for the report: binned error, cumulative compute, retrain times."""
    n = len(tr.rows)
    edges = np.unique(np.linspace(0, n, min(n, TRACE_POINTS) + 1).astype(int))
    err, at = [], []
    for a, b in itertools.pairwise(edges):
        e = tr.issue_mae[a:b]
        e = e[np.isfinite(e)]
        err.append(float(e.mean()) if len(e) else None)
        at.append(str(times[tr.rows[b - 1]]))
    cum = np.cumsum(tr.work)
    return {"policy": tr.policy, "model": tr.model, "target": target, "time": at,
            "error": err, "compute": [float(cum[b - 1]) for b in edges[1:]],
            "retrain_times": [str(times[r]) for r in tr.rows[tr.retrained]]}


def _clean(v: float):
    return None if isinstance(v, float) and not math.isfinite(v) else v


def run_retrain(series: Series, *, targets: Sequence[str], every: str, horizon: str,
                window: str = "30d", models: Sequence[str] = ("ridge",),
                policies: Sequence[str] = ("default",), features: Sequence[str] = (),
                cost: float | None = None, ladder: bool = True,
                traces: bool = True) -> dict:
    """Every policy with every model on every target of ``series``: the JSON object of
    ``curvecast retrain --json`` (``results`` rows, ``traces``, the ``data`` report and
    the ``settings``). ``fixed`` and its ladder ``fixed@2`` ... ``fixed@32`` are always
    run; each row's ``compute_fraction`` and ``error_ratio`` are against ``fixed`` with
    the same model and target.
    """
    for m in models:
        make_model(m)  # unknown names (and lstm without torch) fail before any work
    names = list(dict.fromkeys(["fixed", *policies]))
    if ladder:
        names += [f"fixed@{k}" for k in LADDER if f"fixed@{k}" not in names]
    for p in names:
        make_policy(p)
    step = series.step_seconds
    E = series.steps(parse_duration(every, "--every"), "--every")
    H = series.steps(parse_duration(horizon, "--horizon"), "--horizon")
    W = series.steps(parse_duration(window, "--window"), "--window")
    if cost is not None and not (math.isfinite(cost) and cost >= 0):
        raise UsageError(f"--cost must be a number >= 0, not {cost!r}")
    for col in [*targets, *features]:
        if col not in series.values:
            raise InputError(f"no column {col!r}", file=series.source, column=col)
    rows, out_traces = [], []
    for target in targets:
        y = series.values[target]
        if not np.isfinite(y).any():
            raise InputError("the target has no values (all missing or sentinels)",
                             file=series.source, column=target)
        extra = {c: series.values[c] for c in features if c != target}
        feats = build_features(y, extra, series.times, step, H)
        for model in models:
            trs = simulate(feats, model, [make_policy(p) for p in names], every=E,
                           horizon=H, window=W, times=series.times, step_seconds=step,
                           cost=cost)
            base = trs[0]
            for tr in trs:
                rows.append({k: _clean(v) for k, v in _row(tr, target, base).items()})
                if traces:
                    out_traces.append(_trace(tr, target, series.times))
    settings = {"every": format_duration(E * step), "horizon": format_duration(H * step),
                "window": format_duration(W * step), "step": format_duration(step),
                "cost": cost, "models": list(models), "policies": names,
                "targets": list(targets), "features": list(features)}
    out = {"settings": settings, "data": series.report, "results": rows}
    if traces:
        out["traces"] = out_traces
    return out


def ladder_error_at(rows: Sequence[dict], compute_fraction: float) -> float:
    """The ``fixed@k`` ladder's error ratio at ``compute_fraction``, interpolated in log
    compute between its two neighbours (rows of one model and target; fixed is k = 1).

    >>> rows = [{"policy": "fixed", "compute_fraction": 1.0, "error_ratio": 1.0},
    ...         {"policy": "fixed@2", "compute_fraction": 0.5, "error_ratio": 1.02}]
    >>> round(ladder_error_at(rows, 0.7071), 4)
    1.01
    """
    pts = sorted((r["compute_fraction"], r["error_ratio"]) for r in rows
                 if r["policy"] == "fixed" or r["policy"].startswith("fixed@"))
    x = np.log([p[0] for p in pts])
    y = np.array([p[1] for p in pts])
    c = math.log(compute_fraction)
    if c <= x[0]:  # beyond the cheapest rung: extend its last segment
        return float(y[0] + (y[1] - y[0]) * (c - x[0]) / (x[1] - x[0])) if len(x) > 1 else float(y[0])
    return float(np.interp(c, x, y))


__all__ = ["MODELS", "ladder_error_at", "run_retrain"]
