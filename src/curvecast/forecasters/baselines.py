"""Baselines: the run ends where it is now.

Both are single Student-t components centred on the last value or on the mean of the
last ``k`` values. Their scale is the run's own step-to-step noise (the spread of the
differences of consecutive points about their median, so a steady decline is not
counted as noise), grown like a random walk with the number of evaluation intervals
still ahead (with one or two points, 10% of the typical value stands in for the
unknown noise). Like every forecast they are censored at the metric's floor, which leaves
their median at the value now.

>>> from curvecast.curve import Curve
>>> c = Curve("r", [1, 2, 3, 4], [1.0, 0.8, 0.7, 0.65])
>>> round(float(LastValue().forecast([c], at=4).median[0, 0]), 3)
0.65
>>> round(float(MeanLastK(3).forecast([c], at=4).median[0, 0]), 3)
0.717
"""

from __future__ import annotations

import warnings

import numpy as np

from ..rowstats import nanmedian
from ..transform import Frame
from .base import Components, Forecaster


def _last_k(frame: Frame, k: int) -> np.ndarray:
    """Mask of each curve's last k observed points."""
    from_end = np.cumsum(frame.mask[:, ::-1], axis=1)[:, ::-1]
    return frame.mask & (from_end <= k)


def _walk_scale(frame: Frame, t: np.ndarray) -> np.ndarray:
    """Random-walk scale at times t from the noise of consecutive differences."""
    z = np.where(frame.mask, frame.z, np.nan)
    tt = np.where(frame.mask, frame.t, np.nan)
    d = np.diff(z, axis=1)
    with warnings.catch_warnings():  # a one-point curve has no differences: NaN, handled below
        warnings.simplefilter("ignore", RuntimeWarning)
        spread = nanmedian(np.abs(d - nanmedian(d, keepdims=True)))
        gap = nanmedian(np.diff(tt, axis=1))
    noise = np.nan_to_num(spread, nan=0.0) / np.sqrt(2) * 1.4826
    t_last = np.nanmax(tt, axis=1)
    ahead = np.maximum(t - t_last[:, None], 0.0) / np.maximum(np.nan_to_num(gap, nan=1.0), 1e-12)[:, None]
    # with one or two points the noise is unknown: guess 10% of the typical value
    unknown = frame.mask.sum(axis=1) < 3
    noise = np.where(unknown, 0.1 * np.abs(nanmedian(z)), noise)
    noise = np.maximum(noise, 1e-6)  # a perfectly flat run still gets a finite scale
    return noise[:, None] * np.sqrt(1.0 + ahead)


class _Baseline(Forecaster):
    """Baselines read each curve's last raw points as they are (no bins), and forecast
    from a single point: they are the fallback when nothing else can forecast."""

    max_points = None
    tail = 64
    min_points = 1


class LastValue(_Baseline):
    """The last observed value, with a random-walk interval."""

    name = "last"

    def components(self, frame: Frame, t: np.ndarray) -> Components:
        last = np.where(_last_k(frame, 1), frame.z, 0.0).sum(axis=1)
        return _single(last, _walk_scale(frame, t), frame)


class MeanLastK(_Baseline):
    """Mean of the last ``k`` observed values (default 3), with a random-walk interval."""

    name = "mean_last"

    def __init__(self, k: int = 3, bound: float | None = None) -> None:
        super().__init__(bound)
        self.k = k

    def components(self, frame: Frame, t: np.ndarray) -> Components:
        m = _last_k(frame, self.k)
        mean = np.where(m, frame.z, 0.0).sum(axis=1) / m.sum(axis=1)
        return _single(mean, _walk_scale(frame, t), frame)


def _single(loc: np.ndarray, scale: np.ndarray, frame: Frame) -> Components:
    B, X = scale.shape
    n = frame.mask.sum(axis=1)
    df = np.maximum(n - 1, 2).astype(float)[:, None]
    return Components(
        loc=np.broadcast_to(loc[:, None, None], (B, X, 1)).copy(),
        scale=scale[:, :, None],
        df=df,
        weight=np.ones((B, 1)),
    )
