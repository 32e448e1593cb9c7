"""Map curves of any scale and orientation to the space the families are written in.

Steps become a time ``t`` that is 1 at the first point: ``t = x / x0`` when the first
step ``x0`` is positive (epochs 1, 2, ...; training-set sizes), ``t = x / x1 + 1`` when
the run starts at step 0 (``x1`` its first positive step), so power laws never meet
``t = 0``. Values become a lower-is-better magnitude above a floor:
``z = (s * y - floor) / scale`` with ``s = +1`` for 'min' and ``-1`` for 'max'.
The floor is the metric's best attainable value when known (``bound``; by default 0
for a 'min' metric that is never negative, as losses, errors and perplexities are, and
1 for a 'max' metric that stays within [0, 1], as accuracy, AUC and F1 do), otherwise
a pseudo-floor one observed range below the best value, and ``scale`` is the median of
``s * y - floor``, so ``z`` is O(1) whatever the units.

Both maps depend only on the observed points, so a truncated curve and its full run
are mapped alike as long as they share their first points.

A curve longer than ``max_points`` (a loss logged at every step) is fitted through the
means of bins equally spaced in log-time: early points, where the curve bends, stay
single; late ones are averaged. Each bin carries its count (its weight in the fit) and
its within-bin sum of squares (so the noise of single observations is still known),
which keeps a thousand runs of 100,000 steps as cheap as runs of ``max_points``.

>>> from curvecast.curve import Curve
>>> fr = Frame.build([Curve("a", [0, 200, 400, 600], [2.0, 1.0, 0.8, 0.7])])
>>> fr.t[0].tolist(), fr.z[0].round(3).tolist(), bool(fr.has_floor[0])
([1.0, 2.0, 3.0, 4.0], [2.222, 1.111, 0.889, 0.778], True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .curve import Curve
from .rowstats import nanmedian

MAX_POINTS = 200
"""Curves with more finite points than this are fitted through log-time bins."""


@dataclass(frozen=True)
class Frame:
    """Padded batch of curves in fitting space, with the maps back to steps and values.

    t, z, mask: (B, T); counts: (B, T) raw points behind each fitted point (0 where
    padded); wss: (B,) within-bin sum of squares in z units; x_unit, x_shift:
    t = x / x_unit + x_shift; sign, floor, scale: z = (sign * y - floor) / scale;
    has_floor: the floor is a real bound (families that pin their asymptote to 0 only
    apply there).
    """

    t: np.ndarray
    z: np.ndarray
    mask: np.ndarray
    counts: np.ndarray
    wss: np.ndarray
    x_unit: np.ndarray
    x_shift: np.ndarray
    sign: np.ndarray
    floor: np.ndarray
    scale: np.ndarray
    has_floor: np.ndarray

    @classmethod
    def build(
        cls,
        curves: Sequence[Curve],
        bound: float | None = None,
        max_points: int | None = MAX_POINTS,
        tail: int | None = None,
        pad_to: int | None = None,
    ) -> Frame:
        """Pad the finite points of each curve; every curve needs at least one.

        ``max_points=None`` never bins; ``tail`` keeps only each curve's last points;
        ``pad_to`` pads to at least that many columns (see :func:`padded_length`).
        """
        B = len(curves)
        unit, shift = np.ones(B), np.zeros(B)
        parts = []
        for i, c in enumerate(curves):
            x, y = c.steps[c.finite], c.values[c.finite]
            unit[i], shift[i] = _time_map(x)
            if tail is not None:
                x, y = x[-tail:], y[-tail:]
            parts.append(_bin(x / unit[i] + shift[i], y, max_points or x.size))
        T = max([p[0].size for p in parts] + [pad_to or 0])
        t, y, counts = np.ones((B, T)), np.zeros((B, T)), np.zeros((B, T))
        wss_y = np.zeros(B)
        for i, (ti, yi, ci, wi) in enumerate(parts):
            n = ti.size
            t[i, :n], y[i, :n], counts[i, :n], wss_y[i] = ti, yi, ci, wi
            t[i, n:] = ti[-1]  # padding repeats the last time so t stays positive and ordered
        sign = np.array([1.0 if c.goal == "min" else -1.0 for c in curves])
        floor, scale, has_floor = _value_map(sign, y, counts > 0, bound)
        z = np.where(counts > 0, _to_z(y, sign, floor, scale), 0.0)
        return cls(t, z, counts > 0, counts, wss_y / scale**2, unit, shift, sign, floor,
                   scale, has_floor)

    def t_at(self, x: np.ndarray) -> np.ndarray:
        """Time of the steps x for every curve: (B, X); x is (X,), shared by all curves,
        or (B, X), each curve's own."""
        x = np.asarray(x, float)
        return (x if x.ndim == 2 else x[None, :]) / self.x_unit[:, None] + self.x_shift[:, None]

    def to_z(self, y: np.ndarray) -> np.ndarray:
        """Map values (B, X) in the metric's own units to z."""
        return _to_z(np.asarray(y, float), self.sign, self.floor, self.scale)

    def to_values(self, loc: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map location/scale in z (B, X, K) back to the metric's own units."""
        b = (slice(None),) + (None,) * (loc.ndim - 1)
        y_loc = self.sign[b] * (self.floor[b] + self.scale[b] * loc)
        return y_loc, self.scale[b] * scale


def fitted_points(curve: Curve, max_points: int | None = MAX_POINTS,
                  tail: int | None = None) -> int:
    """At most how many points of ``curve`` a Frame holds (before log-time binning
    merges some).

    >>> fitted_points(Curve("a", range(500), [1.0] * 500)), fitted_points(Curve("b", [1, 2], [1, 1]))
    (200, 2)
    """
    n = int(curve.finite.sum())
    n = min(n, tail) if tail is not None else n
    return min(n, max_points) if max_points is not None else n


def padded_length(n: int, max_points: int | None = MAX_POINTS) -> int:
    """The number of columns a curve of ``n`` fitted points is padded to: the next of
    4, 6, 8, 12, 16, 24, ... (capped at ``max_points``).

    A curve is fitted in arrays whose width depends on itself alone, so its forecast
    cannot depend on which other curves share its batch: summation order (numpy's
    pairwise sums, BLAS kernels) changes with the padded width, and with it the last
    bits, which a nonlinear fit can amplify.

    >>> [padded_length(n) for n in (1, 4, 5, 7, 13, 150, 199)]
    [4, 4, 6, 8, 16, 192, 200]
    """
    size = 4
    while size < n:
        size = size * 3 // 2 if size & (size - 1) == 0 else size * 4 // 3
    return min(size, max_points) if max_points is not None and n <= max_points else size


def _to_z(y: np.ndarray, sign, floor, scale) -> np.ndarray:
    return (sign[:, None] * y - floor[:, None]) / scale[:, None]


def _time_map(x: np.ndarray) -> tuple[float, float]:
    """(unit, shift) with t = x / unit + shift equal to 1 at the first step."""
    if x[0] > 0:
        return float(x[0]), 0.0
    return (float(x[1]) if x.size > 1 else 1.0), 1.0


def _bin(t: np.ndarray, y: np.ndarray, max_points: int):
    """(t, y, counts, within-bin SS) of a curve, binned in log-time if it is long."""
    if t.size <= max_points:
        return t, y, np.ones(t.size), 0.0
    edges = np.geomspace(t[0], t[-1], max_points + 1)
    idx = np.minimum(np.searchsorted(edges, t, side="right") - 1, max_points - 1)
    counts = np.bincount(idx, minlength=max_points).astype(float)
    keep = counts > 0
    mean_t = np.bincount(idx, t, max_points)[keep] / counts[keep]
    mean_y = np.bincount(idx, y, max_points)
    mean_y = np.where(keep, mean_y / np.maximum(counts, 1), 0.0)
    wss = float(((y - mean_y[idx]) ** 2).sum())
    return mean_t, mean_y[keep], counts[keep], wss


def _value_map(sign, y, mask, bound):
    """Floor, scale and whether the floor is real, per curve (see the module docstring)."""
    sm = np.where(mask, sign[:, None] * y, np.nan)
    lo, hi = np.nanmin(sm, axis=1), np.nanmax(sm, axis=1)
    if bound is not None:
        floor = sign * bound
        has_floor = np.ones_like(lo, bool)
    else:
        # a 'max' score within [0, 1] is an accuracy-like rate: 1 bounds it, as 0 bounds
        # a loss (without it, its mirror image has no floor and the families bend anyhow)
        # (for 'max', sm = -y: y within [0, 1] is sm within [-1, 0])
        rate = (sign < 0) & (lo >= -1) & (hi <= 0)
        has_floor = rate | (lo >= 0)
        floor = np.where(rate, -1.0, 0.0)
    rng = hi - lo
    pseudo = lo - np.where(rng > 0, rng, np.maximum(np.abs(lo), 1.0))
    has_floor = has_floor & (lo >= floor)
    floor = np.where(has_floor, floor, pseudo)
    scale = nanmedian(sm - floor[:, None])
    return floor, np.where(scale > 0, scale, 1.0), has_floor
