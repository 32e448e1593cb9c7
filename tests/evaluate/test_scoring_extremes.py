"""evaluate.scoring near the edges of float64: errors of 1e308 overflow to inf (kept in the
score), and no RuntimeWarning escapes (pytest turns one into an error here too)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from curvecast.evaluate import scoring

TRUTH = np.array([1e308, 1.7e308, -1.7e308, 1.0])
PRED = np.array([-1.7e308, 1e308, 1.7e308, 2.0])
QUANTILES = np.tile(np.r_[np.full(50, -1.7e308), np.full(50, 1.7e308)], (4, 1))


@pytest.mark.parametrize("name, args", [
    ("mae", (PRED, TRUTH)), ("medae", (PRED, TRUTH)), ("iqr", (TRUTH,)),
    ("coverage", (PRED, PRED, TRUTH)), ("crps", (QUANTILES, TRUTH)),
    ("spearman", (PRED, TRUTH)), ("win_rate", (PRED, TRUTH, TRUTH)),
    ("log_score", (np.array([np.inf, -np.inf, np.nan]),)),
])
def test_no_runtime_warning_near_1e308(name, args):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning, from numpy or scoringrules
        value = getattr(scoring, name)(*args)
    assert isinstance(value, float)


def test_overflowed_errors_are_kept():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert scoring.mae(PRED, TRUTH) == np.inf
        assert scoring.win_rate(PRED, TRUTH, TRUTH) == 0.0
        assert scoring.mae(np.array([1.0, 2.0]), np.array([1.5, 2.0])) == pytest.approx(0.25)
