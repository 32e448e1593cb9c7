"""Calibrated intervals (scaling.calibrate) and the repetition rule of scaling.select."""

import numpy as np

from curvecast.scaling.calibrate import drift_rate, interval, interval_factor, scores
from curvecast.scaling.select import choose_law, repeats, rolling_residuals


def test_factor_reaches_its_level_on_the_sources():
    rng = np.random.default_rng(0)
    s = [np.abs(rng.normal(size=200)), np.abs(rng.normal(size=50))]
    k = interval_factor(s, 0.9)
    covered = np.mean(np.concatenate(s) <= k)
    assert 0.85 < covered < 0.95
    assert 1.4 < k < 1.9  # the half-normal's 90% quantile is 1.64


def test_each_study_weighs_the_same():
    small, big = np.full(5, 10.0), np.full(500, 1.0)
    assert interval_factor([small, big], 0.4) == 1.0
    assert interval_factor([small, big], 0.6) == 10.0  # not drowned by the big study


def test_interval_widens_with_distance_and_covers_at_its_scores():
    lo, hi = interval(np.array([2.0, 2.0]), np.array([0.5, 2.0]), 0.01, 2.0)
    assert hi[1] - lo[1] > hi[0] - lo[0]
    e, d = np.array([0.02, -0.05]), np.array([1.0, 2.0])
    rate = drift_rate(e, d)
    k = scores(e, d, rate).max()
    lo, hi = interval(np.ones(2), d, rate, k * 1.001)
    assert np.all((lo <= np.exp(e)) & (np.exp(e) <= hi))


def test_rolling_residuals_are_log_errors_beyond_the_refit():
    n = np.geomspace(1e7, 1e9, 6).repeat(3)
    d = n * np.tile([5.0, 20.0, 80.0], 6)
    y = 1.8 + 400 * n**-0.4 + 2000 * d**-0.3
    e, dist = rolling_residuals("chinchilla", {"n": n, "d": d}, y)
    assert e.shape == dist.shape == (9,)  # the largest size, then the two largest
    assert np.all(dist > 0) and np.abs(e).max() < 0.01


def test_repeated_data_picks_a_law_that_reads_unique_tokens():
    n = np.geomspace(1e7, 1e9, 6).repeat(3)
    d = n * np.tile([5.0, 20.0, 80.0], 6)
    u = np.minimum(d, 2e10)
    y = 1.8 + 400 * n**-0.4 + 2000 * d**-0.3  # repetition does not hurt here
    X = {"n": n, "d": d, "u": u}
    assert repeats(X) and not repeats({"n": n, "d": d, "u": d})
    best, scores_ = choose_law([("chinchilla", None), ("data_constrained", None)], X, y)
    assert best == "data_constrained" and set(scores_) == {"data_constrained"}
    best, _ = choose_law([("chinchilla", None), ("data_constrained", None)],
                         {"n": n, "d": d, "u": d}, y)
    assert best == "chinchilla"  # no repetition: the fewer parameters


def test_near_equal_sizes_are_one_rolling_origin():
    n = np.geomspace(1e7, 1e9, 6).repeat(3) * np.tile([1.0, 1 + 1e-6, 1 + 2e-6], 6)
    d = n * np.tile([5.0, 20.0, 80.0], 6)
    y = 1.8 + 400 * n**-0.4 + 2000 * d**-0.3
    e, dist = rolling_residuals("chinchilla", {"n": n, "d": d}, y)
    assert e.size == 9 and dist.min() > 0.5  # whole sizes left out, not single runs
