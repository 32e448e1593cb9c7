"""Map curves of any scale and orientation to the space the families are written in.

Steps become a time ``t`` that is 1 at the first point: ``t = x / x0`` when the first
step ``x0`` is positive (epochs 1, 2, ...; training-set sizes), ``t = x / x1 + 1`` when
the run starts at step 0 (``x1`` its first positive step), so power laws never meet
``t = 0``. Values become a lower-is-better magnitude above a floor:
``z = (s * y - floor) / scale`` with ``s = +1`` for 'min' and ``-1`` for 'max'.
The floor is the metric's best attainable value when known (``bound``; by default 0
for a 'min' metric that is never negative, as losses, errors and perplexities are),
otherwise a pseudo-floor one observed range below the best value, and ``scale`` is the
median of ``s * y - floor``, so ``z`` is O(1) whatever the units.

Both maps depend only on the observed points, so a truncated curve and its full run
are mapped alike as long as they share their first points.

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


@dataclass(frozen=True)
class Frame:
    """Padded batch of curves in fitting space, with the maps back to steps and values.

    t, z, mask: (B, T); x_unit, x_shift: t = x / x_unit + x_shift; sign, floor, scale:
    z = (sign * y - floor) / scale; has_floor: the floor is a real bound (families that
    pin their asymptote to 0 only apply there).
    """

    t: np.ndarray
    z: np.ndarray
    mask: np.ndarray
    x_unit: np.ndarray
    x_shift: np.ndarray
    sign: np.ndarray
    floor: np.ndarray
    scale: np.ndarray
    has_floor: np.ndarray

    @classmethod
    def build(cls, curves: Sequence[Curve], bound: float | None = None) -> Frame:
        """Pad the finite points of each curve; every curve needs at least one."""
        B = len(curves)
        T = max(int(c.finite.sum()) for c in curves)
        x = np.ones((B, T))
        y = np.zeros((B, T))
        mask = np.zeros((B, T), bool)
        for i, c in enumerate(curves):
            f = c.finite
            n = int(f.sum())
            x[i, :n], y[i, :n], mask[i, :n] = c.steps[f], c.values[f], True
            if n < T:  # padding repeats the last step so t stays positive and ordered
                x[i, n:] = x[i, n - 1]
        sign = np.array([1.0 if c.goal == "min" else -1.0 for c in curves])
        return cls._from_arrays(x, y, mask, sign, bound)

    @classmethod
    def _from_arrays(cls, x, y, mask, sign, bound) -> Frame:
        x0 = x[:, 0]
        second = np.where(mask[:, 1:], x[:, 1:], np.inf).min(axis=1) if x.shape[1] > 1 else x0
        starts_at_zero = x0 <= 0
        unit = np.where(starts_at_zero, np.where(np.isfinite(second) & (second > 0), second, 1.0), x0)
        shift = np.where(starts_at_zero, 1.0, 0.0)
        t = x / unit[:, None] + shift[:, None]

        s = sign[:, None] * y
        sm = np.where(mask, s, np.nan)
        lo, hi = np.nanmin(sm, axis=1), np.nanmax(sm, axis=1)
        if bound is not None:
            floor = sign * bound
            has_floor = np.ones_like(lo, bool)
        else:
            has_floor = lo >= 0
            floor = np.zeros_like(lo)
        rng = hi - lo
        pseudo = lo - np.where(rng > 0, rng, np.maximum(np.abs(lo), 1.0))
        has_floor = has_floor & (lo >= floor)
        floor = np.where(has_floor, floor, pseudo)
        scale = np.nanmedian(sm - floor[:, None], axis=1)
        scale = np.where(scale > 0, scale, 1.0)
        z = np.where(mask, (s - floor[:, None]) / scale[:, None], 0.0)
        return cls(t, z, mask, unit, shift, sign, floor, scale, has_floor)

    def t_at(self, x: np.ndarray) -> np.ndarray:
        """Time of the steps x (X,) for every curve: (B, X)."""
        return np.asarray(x, float)[None, :] / self.x_unit[:, None] + self.x_shift[:, None]

    def to_values(self, loc: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map location/scale in z (B, X, K) back to the metric's own units."""
        b = (slice(None),) + (None,) * (loc.ndim - 1)
        y_loc = self.sign[b] * (self.floor[b] + self.scale[b] * loc)
        return y_loc, self.scale[b] * scale
