"""Scale-free features of a partial curve and its family forecasts, for the learned combiner.

Everything is measured in the fitting space of :mod:`curvecast.transform` (lower is
better) relative to where the curve is now: ``u = (z - ref) / spread`` with ``ref`` the
mean of the last three points and ``spread`` the observed 10-90% quantile range (at least
1% of the curve's typical distance to its floor). A curve in any units, orientation or
length then looks alike, and the combiner's target is the same kind of number: how many
observed spreads the value at a future step lies below or above the value now.

Per (curve, step) the features are: the normalised shape of the observed curve (on a
log-time and a late linear-time grid), its noise, how far it sits above a known floor,
the horizon (log-time ratio to the last point, and the points seen), and for every family
its forecast, its spread, its fit's residual scale and its BIC weight (see
:mod:`curvecast.forecasters.ensemble`). Large values are squashed by ``asinh`` so one
exploding run cannot dominate a fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..rowstats import nanmedian
from ..transform import Frame

LOG_GRID = 10
"""Points of the observed curve resampled on a grid even in log-time."""
LIN_GRID = 6
"""Points resampled evenly in time over the second half of the observed time."""
MIN_SPREAD = 1e-2
"""Smallest spread, as a fraction of the curve's typical distance to its floor (z = 1)."""
REF_POINTS = 3
"""The value 'now' is the mean of this many last points (one point is too noisy)."""


@dataclass(frozen=True)
class Anchor:
    """Where each curve is now (ref) and its unit of change (spread), both (B,), in z."""

    ref: np.ndarray
    spread: np.ndarray

    @classmethod
    def of(cls, frame: Frame) -> Anchor:
        z = np.where(frame.mask, frame.z, np.nan)
        n = frame.mask.sum(axis=1)
        cols = np.arange(z.shape[1])[None, :]
        last = (cols >= (n - REF_POINTS)[:, None]) & frame.mask
        ref = np.nanmean(np.where(last, z, np.nan), axis=1)
        q10, q90 = _row_quantiles(z, n, 0.1), _row_quantiles(z, n, 0.9)
        return cls(ref, np.maximum(q90 - q10, MIN_SPREAD))

    def to_u(self, z: np.ndarray) -> np.ndarray:
        b = (slice(None),) + (None,) * (z.ndim - 1)
        return (z - self.ref[b]) / self.spread[b]

    def to_z(self, u: np.ndarray) -> np.ndarray:
        b = (slice(None),) + (None,) * (u.ndim - 1)
        return self.ref[b] + self.spread[b] * u


def _row_quantiles(z: np.ndarray, n: np.ndarray, q: float) -> np.ndarray:
    """Each row's q-quantile of its n finite values (NaN-padded), as numpy's default
    (linear) method; nanquantile would loop over rows in Python."""
    srt = np.sort(z, axis=1)  # NaN sorts last
    pos = (n - 1) * q
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    rows = np.arange(z.shape[0])
    return srt[rows, lo] + (pos - lo) * (srt[rows, hi] - srt[rows, lo])


def _interp_rows(t: np.ndarray, z: np.ndarray, n: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Linear interpolation of each row's first n points at its grid points (B, G)."""
    out = np.empty(grid.shape)
    for b in range(t.shape[0]):
        out[b] = np.interp(grid[b], t[b, : n[b]], z[b, : n[b]])
    return out


def _noise(z: np.ndarray) -> np.ndarray:
    """Robust noise level of each row (NaN-padded): MAD of its steps, per point."""
    step = np.diff(z, axis=1)
    ok = np.isfinite(step).sum(axis=1) > 0
    step = np.where(ok[:, None], step, 0.0)
    mad = nanmedian(np.abs(step - nanmedian(step, keepdims=True)))
    return 1.4826 * mad / np.sqrt(2)


def curve_features(frame: Frame, anchor: Anchor) -> np.ndarray:
    """(B, F) features of the observed curves alone."""
    n = frame.mask.sum(axis=1)
    t_first = frame.t[:, 0]
    t_last = frame.t[np.arange(n.size), n - 1]
    frac = np.linspace(0.0, 1.0, LOG_GRID)[None, :]
    log_grid = np.exp(np.log(t_first)[:, None] + frac * np.log(t_last / t_first)[:, None])
    lin_grid = (t_last / 2)[:, None] + np.linspace(0, 1, LIN_GRID)[None, :] * (t_last / 2)[:, None]
    lin_grid = np.maximum(lin_grid, t_first[:, None])
    shape_log = _interp_rows(np.log(frame.t), frame.z, n, np.log(log_grid))
    shape_lin = _interp_rows(frame.t, frame.z, n, lin_grid)
    z = np.where(frame.mask, frame.z, np.nan)
    noise = _noise(z)
    last = z[np.arange(n.size), n - 1]
    to_floor = np.where(frame.has_floor, anchor.ref / anchor.spread, 0.0)
    return np.column_stack([
        np.arcsinh(anchor.to_u(shape_log)),
        np.arcsinh(anchor.to_u(shape_lin)),
        np.arcsinh(anchor.to_u(np.nanmin(z, axis=1))),
        np.arcsinh(anchor.to_u(np.nanmax(z, axis=1))),
        np.arcsinh(anchor.to_u(last)),
        np.log(np.maximum(noise / anchor.spread, 1e-6)),
        np.arcsinh(to_floor),
        frame.has_floor.astype(float),
        np.log(n),
        np.log(t_last / t_first),
        np.log(np.maximum(anchor.spread, 1e-6)),
    ])


def horizon_features(frame: Frame, t: np.ndarray) -> np.ndarray:
    """(B, X, F) features of each requested time relative to the observed curve."""
    n = frame.mask.sum(axis=1)
    t_first = frame.t[:, 0][:, None]
    t_last = frame.t[np.arange(n.size), n - 1][:, None]
    ahead = np.maximum(t, t_last)
    return np.stack([
        np.log(ahead / t_last),
        np.log1p((ahead - t_last) / np.maximum(t_last - t_first, 1e-12)),
        (t <= t_last).astype(float),
    ], axis=2)


def family_features(fits, anchor: Anchor) -> np.ndarray:
    """(B, X, F) features of every family's forecast (``fits``: FamilyForecasts)."""
    B, X, _ = fits.loc.shape
    usable = (fits.weight > 0)[:, None, :]
    u = np.where(usable, anchor.to_u(fits.loc), 0.0)
    spread = anchor.spread[:, None, None]
    log_sd = np.where(usable, np.log(np.clip(fits.scale / spread, 1e-6, 1e6)), 0.0)
    sigma = np.where(np.isfinite(fits.sigma), fits.sigma, 1.0)
    log_sigma = np.log(np.clip(sigma / anchor.spread[:, None], 1e-6, 1e6))
    w = fits.weight / np.maximum(fits.weight.sum(axis=1, keepdims=True), 1e-300)
    mix = (w[:, None, :] * np.where(usable, fits.loc, 0.0)).sum(axis=2)
    mix_sd = np.sqrt((w[:, None, :] * (fits.scale**2 + (fits.loc - mix[..., None]) ** 2)
                      * usable).sum(axis=2))
    per_curve = np.concatenate([np.where(usable[:, 0], log_sigma, 0.0), w,
                                usable[:, 0].astype(float)], axis=1)
    return np.concatenate([
        np.arcsinh(u),
        log_sd,
        np.arcsinh(anchor.to_u(mix))[..., None],
        np.log(np.clip(mix_sd / spread[..., 0], 1e-6, 1e6))[..., None],
        np.broadcast_to(per_curve[:, None, :], (B, X, per_curve.shape[1])),
    ], axis=2)


CURVE_FEATURES = LOG_GRID + LIN_GRID + 9
HORIZON_FEATURES = 3


def family_columns(n_families: int) -> dict[str, slice]:
    """Where each family's normalised forecast ('u', asinh-squashed), its log spread
    ('log_sd') and whether it is usable ('usable') sit in the feature vector."""
    k, start = n_families, CURVE_FEATURES + HORIZON_FEATURES
    return {"u": slice(start, start + k), "log_sd": slice(start + k, start + 2 * k),
            "usable": slice(start + 4 * k + 2, start + 5 * k + 2)}


def features(frame: Frame, fits, t: np.ndarray, anchor: Anchor) -> np.ndarray:
    """(B, X, F): all features of each curve at each requested time."""
    B, X = t.shape
    cur = curve_features(frame, anchor)
    return np.concatenate([
        np.broadcast_to(cur[:, None, :], (B, X, cur.shape[1])),
        horizon_features(frame, t),
        family_features(fits, anchor),
    ], axis=2)
