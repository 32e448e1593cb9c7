"""Statistics of the rows of small 2-D arrays, without numpy's per-call overhead.

numpy's nanmedian takes a masked-array path for small inputs, 20 times slower than the
sort below; the fitting core calls it on every family for every forecast.
"""

from __future__ import annotations

import numpy as np


def nanmedian(a: np.ndarray, keepdims: bool = False) -> np.ndarray:
    """Median of each row of ``a`` (B, T), ignoring NaN; NaN for a row of NaN only.

    >>> nanmedian(np.array([[1.0, np.nan, 3.0, 2.0], [np.nan, np.nan, 5.0, 7.0]]))
    array([2., 6.])
    >>> nanmedian(np.zeros((2, 0)))  # no column (the differences of one point): NaN
    array([nan, nan])
    """
    a = np.asarray(a, float)
    if a.shape[1] == 0:
        out = np.full(a.shape[0], np.nan)
        return out[:, None] if keepdims else out
    s = np.sort(a, axis=1)  # NaN sorts last
    n = (~np.isnan(a)).sum(axis=1)
    rows = np.arange(a.shape[0])
    lo = s[rows, np.maximum((n - 1) // 2, 0)]
    hi = s[rows, np.maximum(n // 2 - (n == 0), 0)]
    with np.errstate(invalid="ignore"):
        out = np.where(n > 0, (lo + hi) / 2, np.nan)
    return out[:, None] if keepdims else out
