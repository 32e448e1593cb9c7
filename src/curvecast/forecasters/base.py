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

from ..curve import MIN_POINTS, Curve, check_bound
from ..errors import UsageError
from ..forecast import Forecast
from ..numerics import quiet
from ..transform import MAX_POINTS, Frame, fitted_points, padded_length


@dataclass(frozen=True)
class Components:
    """Mixture components in fitting space: loc, scale (B, X, K); df (B, K); weight (B, K),
    or (B, X, K) where the weights change with the step."""

    loc: np.ndarray
    scale: np.ndarray
    df: np.ndarray
    weight: np.ndarray


CHUNK = 4096
"""Curves fitted together at most; more are fitted chunk by chunk."""


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
    min_points: int = MIN_POINTS
    """Curves with fewer points get no forecast (NaN)."""

    def __init__(self, bound: float | None = None) -> None:
        self.bound = bound

    def components(self, frame: Frame, t: np.ndarray) -> Components:
        """Mixture components at times t (B, X) for the curves in ``frame``."""
        raise NotImplementedError

    @quiet
    def forecast(self, curves: Sequence[Curve], at) -> Forecast:
        """Forecast every curve at the steps ``at`` (shared by all curves)."""
        x = steps_array(at)
        curves = list(curves)
        goals = {c.goal for c in curves}
        if len(goals) > 1:
            raise UsageError("curves in one batch must share their goal")
        check_bound(self.bound, curves)  # a value beyond it: an error naming run and step
        out = _Rows(len(curves), x.size)
        for rows, width in self._groups(curves):
            frame = Frame.build([curves[i] for i in rows], self.bound, self.max_points,
                                self.tail, pad_to=width)
            comp = self.components(frame, frame.t_at(x))
            loc, scale = frame.to_values(comp.loc, comp.scale)
            out.put(rows, loc, scale, comp.df, comp.weight)
            # a real floor bounds the values: from below for 'min', from above for 'max'
            edge = np.where(frame.has_floor, frame.sign * frame.floor, np.nan)
            out.lower[rows] = np.where(frame.sign > 0, np.nan_to_num(edge, nan=-np.inf), -np.inf)
            out.upper[rows] = np.where(frame.sign < 0, np.nan_to_num(edge, nan=np.inf), np.inf)
        goal = goals.pop() if goals else "min"
        return Forecast(x, out.loc, out.scale, out.df, out.weight, goal,
                        [c.run for c in curves], out.lower, out.upper)


    def _groups(self, curves: Sequence[Curve]):
        """(rows, padded width) of the usable curves: curves padded to the same width
        are fitted together, in chunks that bound the memory of the padded arrays.
        Each curve's width depends on itself alone, so its forecast does not depend
        on the other curves of the batch or their order (see ``padded_length``)."""
        groups: dict[int, list[int]] = {}
        for i, c in enumerate(curves):
            if c.diverged_at is None and len(c) >= self.min_points:
                n = fitted_points(c, self.max_points, self.tail)
                groups.setdefault(padded_length(n, self.max_points), []).append(i)
        for width in sorted(groups):
            rows = groups[width]
            for start in range(0, len(rows), CHUNK):
                yield rows[start : start + CHUNK], width


class _Rows:
    """Mixture components of all B curves, filled chunk by chunk; rows left empty have
    no usable component (weight 0), which Forecast answers with NaN."""

    def __init__(self, B: int, X: int) -> None:
        self.B, self.X = B, X
        self.loc = np.zeros((B, X, 1))
        self.scale = np.ones((B, X, 1))
        self.df = np.full((B, 1), 1e6)
        self.weight = np.zeros((B, X, 1))
        self.lower, self.upper = np.full(B, -np.inf), np.full(B, np.inf)

    def put(self, rows, loc, scale, df, weight) -> None:
        K = loc.shape[2]
        if self.loc.shape[2] != K:  # first chunk: now the number of components is known
            self.loc = np.zeros((self.B, self.X, K))
            self.scale = np.ones((self.B, self.X, K))
            self.df = np.full((self.B, K), 1e6)
            self.weight = np.zeros((self.B, self.X, K))
        finite = np.isfinite(loc).all(axis=1) & np.isfinite(scale).all(axis=1)
        usable = finite & (scale > 0).all(axis=1)
        self.loc[rows] = np.where(np.isfinite(loc), loc, 0.0)
        self.scale[rows] = np.where(scale > 0, scale, 1.0)
        self.df[rows] = df
        if weight.ndim == 2:
            weight = np.broadcast_to(weight[:, None, :], loc.shape)
        self.weight[rows] = np.where(usable[:, None, :], weight, 0.0)
