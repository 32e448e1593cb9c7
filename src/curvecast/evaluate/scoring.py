"""Scores of forecasts against what really happened.

Proper scoring rules come from ``scoringrules`` (Zanetti & Allen, maintained); the
rest are plain summaries. Every function takes arrays of one value per run, and runs
under :func:`curvecast.numerics.quiet`: values near 1e308 overflow to inf in an error or
a score, which keeps it, and no RuntimeWarning reaches the terminal.

>>> import numpy as np
>>> coverage(np.array([0.0, 1.0]), np.array([2.0, 3.0]), np.array([1.0, 5.0]))
0.5
"""

from __future__ import annotations

import numpy as np
import scoringrules
from scipy import stats

from ..numerics import quiet

LOG_SCORE_FLOOR = -100.0
"""Log densities below this count as this: one truth outside a forecast's support (a
censored bound) or far in its tail must not turn a whole mean into -inf."""

CRPS_LEVELS = (np.arange(100) + 0.5) / 100
"""Quantile levels whose quantiles stand in for the forecast in the CRPS."""


@quiet
def mae(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean absolute error."""
    return float(np.mean(np.abs(pred - truth)))


@quiet
def medae(pred: np.ndarray, truth: np.ndarray) -> float:
    """Median absolute error: what a typical run sees when a few explode."""
    return float(np.median(np.abs(pred - truth)))


@quiet
def iqr(truth: np.ndarray) -> float:
    """Interquartile range, the scale that normalised errors divide by."""
    q75, q25 = np.percentile(truth, [75, 25])
    return float(q75 - q25)


@quiet
def coverage(lower: np.ndarray, upper: np.ndarray, truth: np.ndarray) -> float:
    """Fraction of truths inside [lower, upper]."""
    return float(np.mean((lower <= truth) & (truth <= upper)))


@quiet
def log_score(logpdf: np.ndarray) -> float:
    """Mean log predictive density (higher is better), each floored at LOG_SCORE_FLOOR."""
    return float(np.mean(np.maximum(np.nan_to_num(logpdf, nan=LOG_SCORE_FLOOR), LOG_SCORE_FLOOR)))


@quiet
def crps(quantiles: np.ndarray, truth: np.ndarray) -> float:
    """Mean continuous ranked probability score (lower is better).

    CRPS(F, y) = E|X - y| - E|X - X'| / 2 for X, X' ~ F (Gneiting & Raftery 2007),
    computed by ``scoringrules.crps_ensemble`` on the forecast's quantiles at
    :data:`CRPS_LEVELS` (shape (n, 100)), an evenly weighted stand-in for F.
    """
    return float(np.mean(scoringrules.crps_ensemble(truth, quantiles, m_axis=-1)))


@quiet
def spearman(pred: np.ndarray, truth: np.ndarray) -> float:
    """Spearman rank correlation of forecasts and truths across runs (NaN if constant)."""
    if pred.size < 3 or np.ptp(pred) == 0 or np.ptp(truth) == 0:
        return float("nan")
    return float(stats.spearmanr(pred, truth)[0])


@quiet
def win_rate(pred: np.ndarray, baseline: np.ndarray, truth: np.ndarray) -> float:
    """Fraction of runs whose absolute error is below the baseline's (ties lose).

    >>> win_rate(np.array([1.0, 2.0, 3.0]), np.array([1.5, 2.0, 2.0]), np.array([1.0, 2.0, 2.5]))
    0.3333333333333333
    """
    return float(np.mean(np.abs(pred - truth) < np.abs(baseline - truth)))
