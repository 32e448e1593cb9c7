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

    uses_context: bool = False
    """Whether :meth:`fit` changes the forecasts (a study-aware forecaster); callers that
    cache forecasts need to refit only such forecasters when the study changes."""

    def __init__(self, bound: float | None = None) -> None:
        self.bound = bound

    def fit(self, context: Sequence[Curve]) -> Forecaster:
        """Learn from other runs of the same study (finished or partial); returns self.

        The one way to give a forecaster a study: ``f.fit(runs).forecast(curves, at)``.
        Learned state ends in ``_`` (scikit-learn's convention); fitting again replaces
        it, and ``fit([])`` forgets the study. A per-curve forecaster only stores the
        runs: its forecasts do not depend on them (``uses_context`` is False).

        >>> from curvecast.curve import Curve
        >>> from curvecast.forecasters import LastValue
        >>> f = LastValue().fit([Curve("done", [1, 2, 3], [3, 2, 1])])
        >>> len(f.context_), f.forecast([Curve("a", [1, 2], [2, 1])], [5]).median.tolist()
        (1, [[1.0]])
        """
        self.context_ = list(context)
        return self

    def components(self, frame: Frame, t: np.ndarray) -> Components:
        """Mixture components at times t (B, X) for the curves in ``frame``."""
        raise NotImplementedError

    @quiet
    def forecast(self, curves: Sequence[Curve], at) -> Forecast:
        """Forecast every curve at the steps ``at`` (shared by all curves)."""
        x = steps_array(at)
        return self._forecast(list(curves), x, x)

    @quiet
    def forecast_each(self, curves: Sequence[Curve], steps) -> Forecast:
        """Forecast each curve at steps of its own: row b of ``steps`` (B, X) for curve b.

        The Forecast's ``x`` numbers the columns (0 .. X-1), since its steps differ
        from curve to curve. Each curve is fitted once, as in :meth:`forecast`, so its
        answer does not depend on the other curves or their steps. A forecaster that
        reworks the answer of :meth:`forecast` (the study's) is asked once per distinct
        row of steps instead.

        >>> from curvecast.curve import Curve
        >>> from curvecast.forecasters import LastValue
        >>> runs = [Curve("a", [1, 2, 3], [3, 2, 1]), Curve("b", [1, 2, 3], [1, 1, 1])]
        >>> f = LastValue().forecast_each(runs, [[4, 5], [10, 20]])
        >>> f.x.tolist(), f.loc.shape, f.median[:, 0].round(3).tolist()
        ([0.0, 1.0], (2, 2, 1), [1.0, 1.0])
        """
        curves = list(curves)
        s = np.asarray(steps, dtype=float)
        if s.ndim != 2 or s.shape[0] != len(curves) or s.shape[1] == 0:
            raise UsageError(f"give one row of steps per curve: {len(curves)} curves but "
                             f"steps of shape {s.shape}")
        if not np.isfinite(s).all() or (s < 0).any():
            raise UsageError("steps to forecast at must be finite and >= 0")
        cols = np.arange(s.shape[1], dtype=float)
        if type(self).forecast is Forecaster.forecast:
            return self._forecast(curves, s, cols)
        return self._forecast_by_row(curves, s, cols)

    def _forecast(self, curves: list[Curve], steps: np.ndarray, x: np.ndarray) -> Forecast:
        """The Forecast at ``x`` of the curves at ``steps``: (X,) shared, or (B, X)."""
        goals = {c.goal for c in curves}
        if len(goals) > 1:
            raise UsageError("curves in one batch must share their goal")
        check_bound(self.bound, curves)  # a value beyond it: an error naming run and step
        out = _Rows(len(curves), x.size)
        for rows, width in self._groups(curves):
            frame = Frame.build([curves[i] for i in rows], self.bound, self.max_points,
                                self.tail, pad_to=width)
            comp = self.components(frame, frame.t_at(steps if steps.ndim == 1 else steps[rows]))
            loc, scale = frame.to_values(comp.loc, comp.scale)
            out.put(rows, loc, scale, comp.df, comp.weight)
            # a real floor bounds the values: from below for 'min', from above for 'max'
            edge = np.where(frame.has_floor, frame.sign * frame.floor, np.nan)
            out.lower[rows] = np.where(frame.sign > 0, np.nan_to_num(edge, nan=-np.inf), -np.inf)
            out.upper[rows] = np.where(frame.sign < 0, np.nan_to_num(edge, nan=np.inf), np.inf)
        goal = goals.pop() if goals else "min"
        return Forecast(x, out.loc, out.scale, out.df, out.weight, goal,
                        [c.run for c in curves], out.lower, out.upper)

    def _forecast_by_row(self, curves: list[Curve], steps: np.ndarray,
                         x: np.ndarray) -> Forecast:
        """forecast_each through :meth:`forecast`: one call per distinct row of steps,
        the answers' components side by side (zero weight where one has fewer)."""
        groups: dict[bytes, list[int]] = {}
        for b, row in enumerate(steps):
            groups.setdefault(row.tobytes(), []).append(b)
        parts = []
        for rows in groups.values():
            at, cols = np.unique(steps[rows[0]], return_inverse=True)
            parts.append((rows, cols, self.forecast([curves[i] for i in rows], at)))
        B, X = steps.shape
        K = max([f.loc.shape[2] for _, _, f in parts], default=1)
        loc, scale, w = np.zeros((B, X, K)), np.ones((B, X, K)), np.zeros((B, X, K))
        df, lower, upper = np.full((B, K), 1e6), np.full(B, -np.inf), np.full(B, np.inf)
        for rows, cols, f in parts:
            k = f.loc.shape[2]
            loc[rows, :, :k], scale[rows, :, :k] = f.loc[:, cols], f.scale[:, cols]
            w[rows, :, :k], df[rows, :k] = f.weights[:, cols], f.df
            lower[rows], upper[rows] = f.lower, f.upper
        return Forecast(x, loc, scale, df, w, parts[0][2].goal if parts else "min",
                        [c.run for c in curves], lower, upper)

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
