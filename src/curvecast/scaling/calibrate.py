"""Predictive intervals whose width is learned across studies (split-conformal style).

A study's own rolling-origin refits (``select.rolling_residuals``) give its drift rate:
the log error per unit of log size beyond the refit's data (``drift_rate``). An interval for a run
``dist`` (in log N) beyond the fitted data is pred * exp(+-k * rate * dist), where the
factor k is the LEVEL quantile of |log error| / (rate * dist) over OTHER studies'
held-out runs (each study weighted equally), so no study calibrates its own intervals.

>>> import numpy as np
>>> rate = drift_rate(np.array([0.01, -0.02]), np.array([0.5, 1.0]))
>>> round(rate, 4)
0.02
>>> k = interval_factor([np.array([0.5, 1.0, 1.5]), np.array([0.8, 1.2])], 0.9)
>>> lo, hi = interval(np.array([2.0]), np.array([1.0]), rate, k); bool(lo[0] < 2.0 < hi[0])
True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MIN_RATE = 1e-3
"""Floor of the drift rate: rolling origins that happen to land on the curve."""


def drift_rate(log_errors: np.ndarray, dists: np.ndarray) -> float:
    """Log error per unit of log distance beyond the data: RMS error over RMS distance
    (``MIN_RATE`` at least). A ratio of means, not a mean of ratios: where sizes are
    close together (Epoch's refit has many), a run a hair beyond the data would make
    error / distance explode."""
    e, d = np.asarray(log_errors, float), np.asarray(dists, float)
    if not (d > 0).any():
        return MIN_RATE
    return max(float(np.sqrt(np.mean(e**2) / np.mean(np.maximum(d, 0) ** 2))), MIN_RATE)


def scores(log_errors, dists, rate: float) -> np.ndarray:
    """Conformity scores |log error| / (rate * dist) of held-out runs."""
    d = np.maximum(np.asarray(dists, float), 1e-12)
    return np.abs(np.asarray(log_errors, float)) / (rate * d)


def interval_factor(per_study: Sequence[np.ndarray], level: float) -> float:
    """The ``level`` quantile of the pooled scores, each study's runs weighing 1 in all
    (a study with many runs counts once)."""
    s = np.concatenate([np.asarray(v, float) for v in per_study])
    w = np.concatenate([np.full(len(v), 1.0 / len(v)) for v in per_study])
    order = np.argsort(s)
    cum = np.cumsum(w[order]) / w.sum()
    return float(s[order][min(np.searchsorted(cum, level), len(s) - 1)])


def interval(pred, dists, rate: float, k: float) -> tuple[np.ndarray, np.ndarray]:
    """pred * exp(-+ k * rate * dist): the calibrated interval."""
    h = k * rate * np.maximum(np.asarray(dists, float), 0.0)
    p = np.asarray(pred, float)
    return p * np.exp(-h), p * np.exp(h)
