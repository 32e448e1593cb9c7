"""What every forecaster shares: batching, the fitting-space maps, invalid rows.

A forecaster turns curves into a :class:`~curvecast.forecast.Forecast`. Subclasses
only say how to build mixture components in fitting space (see
:mod:`curvecast.transform`); this base class selects the curves that can be
forecast, maps steps and values there and back, and leaves NaN rows for the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..curve import Curve
from ..errors import UsageError
from ..forecast import Forecast
from ..transform import MAX_POINTS, Frame


@dataclass(frozen=True)
class Components:
    """Mixture components in fitting space: loc, scale (B, X, K); df, weight (B, K)."""

    loc: np.ndarray
    scale: np.ndarray
    df: np.ndarray
    weight: np.ndarray


def steps_array(at) -> np.ndarray:
    """Validate requested steps: finite, >= 0; returned sorted and unique."""
    x = np.atleast_1d(np.asarray(at, dtype=float))
    if x.ndim != 1 or x.size == 0:
        raise UsageError("give at least one step to forecast at")
    if not np.isfinite(x).all() or (x < 0).any():
        raise UsageError(f"steps to forecast at must be finite and >= 0, got {x}")
    return np.unique(x)


class Forecaster:
    """Base class: ``forecast(curves, at)`` for a batch of curves.

    Parameters
    ----------
    bound: the metric's best attainable value (0 for a loss, 1 for accuracy) if known;
        None lets curvecast infer a floor (see :mod:`curvecast.transform`).
    """

    name = "base"
    max_points: int | None = MAX_POINTS
    """Longer curves are fitted through log-time bins (see :mod:`curvecast.transform`)."""
    tail: int | None = None
    """Only each curve's last ``tail`` points matter to this forecaster (None: all)."""

    def __init__(self, bound: float | None = None) -> None:
        self.bound = bound

    def components(self, frame: Frame, t: np.ndarray) -> Components:
        """Mixture components at times t (B, X) for the curves in ``frame``."""
        raise NotImplementedError

    def forecast(self, curves: Sequence[Curve], at) -> Forecast:
        """Forecast every curve at the steps ``at`` (shared by all curves)."""
        x = steps_array(at)
        curves = list(curves)
        goals = {c.goal for c in curves}
        if len(goals) > 1:
            raise UsageError("curves in one batch must share their goal")
        goal = goals.pop() if goals else "min"
        B, X = len(curves), x.size
        usable = [i for i, c in enumerate(curves) if c.status == "ok"]
        K = 1
        parts = None
        lower, upper = np.full(B, -np.inf), np.full(B, np.inf)
        if usable:
            frame = Frame.build([curves[i] for i in usable], self.bound, self.max_points, self.tail)
            comp = self.components(frame, frame.t_at(x))
            loc, scale = frame.to_values(comp.loc, comp.scale)
            parts = (loc, scale, comp.df, comp.weight)
            K = loc.shape[2]
            # a real floor bounds the values: from below for 'min', from above for 'max'
            edge = np.where(frame.has_floor, frame.sign * frame.floor, np.nan)
            lower[usable] = np.where(frame.sign > 0, np.nan_to_num(edge, nan=-np.inf), -np.inf)
            upper[usable] = np.where(frame.sign < 0, np.nan_to_num(edge, nan=np.inf), np.inf)
        loc = np.zeros((B, X, K))
        scale = np.ones((B, X, K))
        df = np.full((B, K), 1e6)
        weight = np.zeros((B, K))
        if parts is not None:
            ok_loc = np.isfinite(parts[0]).all(axis=1) & np.isfinite(parts[1]).all(axis=1)
            ok_loc &= (parts[1] > 0).all(axis=1)
            loc[usable] = np.where(np.isfinite(parts[0]), parts[0], 0.0)
            scale[usable] = np.where(parts[1] > 0, parts[1], 1.0)
            df[usable] = parts[2]
            weight[usable] = np.where(ok_loc, parts[3], 0.0)
        return Forecast(x, loc, scale, df, weight, goal, [c.run for c in curves], lower, upper)
