"""Tests of the one-call API: curvecast.forecast, forecast_batch and make_forecaster."""

from __future__ import annotations

from itertools import product

import numpy as np
import pytest

import curvecast as cc
from curvecast import (
    Curve,
    CurveSet,
    EnsembleForecaster,
    Forecast,
    LastValue,
    LearnedForecaster,
    MeanLastK,
    UsageError,
    forecast,
    forecast_batch,
    make_forecaster,
)

X = np.arange(1, 31.0)


def power_law(x, floor=0.3, amp=2.0, power=0.8):
    return floor + amp * np.asarray(x, float) ** -power


def noisy(y, rel=0.01, seed=0):
    return y * (1 + rel * np.random.default_rng(seed).standard_normal(len(y)))


QS = [0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95]


# --------------------------------------------------------------------------- forecast


def test_forecast_single_curve_shapes():
    y = noisy(power_law(X[:12]))
    f = forecast(X[:12], y, at=[20, 50, 100])
    assert isinstance(f, Forecast) and len(f) == 1 and f.runs == ["run"]
    assert f.median.shape == (3,)
    assert f.interval(0.8, axis=0).shape == (2, 3)
    assert f.quantiles(QS).shape == (3, len(QS))
    assert f.x.tolist() == [20, 50, 100]
    # a falling loss keeps falling, towards its floor 0.3
    assert y[-1] > f.median[0] > f.median[1] > f.median[2] > 0.25
    assert forecast(X[:12], y, at=50).median.shape == (1,)


def test_forecast_is_close_to_the_truth_on_a_clean_power_law():
    y = power_law(X)
    f = forecast(X[:10], y[:10], at=30)
    assert f.median[0] == pytest.approx(y[-1], abs=0.01)
    lo, hi = f.interval(0.8, axis=0)[:, 0]
    assert lo <= y[-1] <= hi


def test_forecast_rejects_bad_goal_and_steps():
    with pytest.raises(UsageError):
        forecast(X[:5], power_law(X[:5]), at=10, goal="up")
    with pytest.raises(UsageError):
        forecast(X[:5], power_law(X[:5]), at=-1)
    with pytest.raises(UsageError):
        forecast(X[:5], power_law(X[:5]), at=[])
    with pytest.raises(cc.InputError):
        forecast([1, 2, 2], [1.0, 0.9, 0.8], at=10)  # a repeated step


def test_diverged_and_short_curves_answer_nan():
    f = forecast([1, 2, 3, 4], [1.0, 0.8, np.nan, 0.6], at=10)
    assert np.isnan(f.median).all() and np.isnan(f.interval(0.8, axis=0)).all()
    f = forecast([1, 2], [1.0, 0.8], at=10)
    assert np.isnan(f.median).all()


# --------------------------------------------------------------------------- forecast_batch


def _pairs():
    return [
        (X[:10], noisy(power_law(X[:10]), seed=1)),
        (X[:15], noisy(power_law(X[:15], floor=0.5, amp=1.0), seed=2)),
        (X[:8], noisy(power_law(X[:8], floor=0.1, amp=3.0, power=0.5), seed=3)),
    ]


@pytest.mark.parametrize("shape", ["curve-list", "curve-tuple", "curveset", "mapping", "pairs",
                                   "generator"])  # fmt: skip
def test_forecast_batch_accepts_every_input_shape(shape):
    pairs = _pairs()
    names = ["a", "b", "c"]
    curves = [Curve(n, s, v) for n, (s, v) in zip(names, pairs)]
    given = {
        "curve-list": curves,
        "curve-tuple": tuple(curves),
        "curveset": CurveSet(curves),
        "mapping": dict(zip(names, pairs)),
        "pairs": pairs,
        "generator": (p for p in pairs),
    }[shape]
    f = forecast_batch(given, at=[20, 50])
    expect_runs = ["0", "1", "2"] if shape in ("pairs", "generator") else names
    assert f.runs == expect_runs
    assert f.median.shape == (3, 2)
    # the same answers as one curve at a time
    for i, (s, v) in enumerate(pairs):
        np.testing.assert_allclose(f.median[i], forecast(s, v, at=[20, 50]).median, rtol=1e-12)
    # and a run can be looked up by name or position
    assert f[1].median.shape == (2,)
    np.testing.assert_allclose(f[expect_runs[2]].median, f.median[2], rtol=1e-12)


def test_forecast_batch_goal_override():
    acc = {"r1": (X[:12], 0.9 - 0.5 * X[:12] ** -0.7), "r2": (X[:12], 0.8 - 0.4 * X[:12] ** -0.5)}
    f = forecast_batch(acc, at=100, goal="max")
    assert f.goal == "max"
    for i, (_, v) in enumerate(acc.values()):
        assert f.median[i, 0] > v[-1]  # an accuracy rises
    assert f.median[0, 0] == pytest.approx(0.9 - 0.5 * 100**-0.7, abs=0.02)
    # the goal overrides the curves' own
    curves = [Curve(r, s, v, goal="min") for r, (s, v) in acc.items()]
    g = forecast_batch(curves, at=100, goal="max")
    assert g.goal == "max"
    np.testing.assert_allclose(g.median, f.median, rtol=1e-12)
    # left alone, the curves' own goal is kept
    assert forecast_batch(curves, at=100).goal == "min"
    # ETA respects the goal: an accuracy reaches 0.85 once it rises above it
    eta = forecast_batch(acc, at=np.arange(12, 2001.0), goal="max").eta(0.85, after=12)
    assert np.isfinite(eta[0]) and np.isnan(eta[1])  # r2 levels off at 0.8


def test_forecast_batch_rejects_mixed_goals_and_bad_input():
    mixed = [Curve("a", X[:5], power_law(X[:5])), Curve("b", X[:5], power_law(X[:5]), "max")]
    with pytest.raises(UsageError):
        forecast_batch(mixed, at=10)
    with pytest.raises(UsageError):
        forecast_batch(42, at=10)
    with pytest.raises(UsageError):
        forecast_batch({"a": (X[:5], power_law(X[:5]))}, at=10, goal="up")


# --------------------------------------------------------------------------- make_forecaster


@pytest.mark.parametrize("bad", ["", "Ensemble", "spline", "last_value", None, 3])
def test_make_forecaster_bad_names(bad):
    with pytest.raises(UsageError, match="unknown method"):
        make_forecaster(bad)
    with pytest.raises(UsageError):
        forecast(X[:5], power_law(X[:5]), at=10, method=bad)


def test_make_forecaster_names_and_instances():
    assert isinstance(make_forecaster("ensemble"), LearnedForecaster)
    assert isinstance(make_forecaster("bma"), EnsembleForecaster)
    assert isinstance(make_forecaster("last"), LastValue)
    assert isinstance(make_forecaster("mean_last"), MeanLastK)
    assert make_forecaster("ensemble", bound=0.0).bound == 0.0
    own = EnsembleForecaster(families=None, eta=1.0)
    assert make_forecaster(own) is own


# --------------------------------------------------------------------------- baselines


def test_baseline_medians():
    y = noisy(power_law(X[:12]), rel=0.005, seed=4)
    last = forecast(X[:12], y, at=[12], method="last")
    assert last.median[0] == pytest.approx(y[-1], rel=1e-6)
    mean3 = forecast(X[:12], y, at=[12], method="mean_last")
    assert mean3.median[0] == pytest.approx(np.mean(y[-3:]), rel=1e-6)
    assert mean3.median[0] != pytest.approx(y[-1], rel=1e-6)  # the two really differ
    # MeanLastK's k
    f = forecast(X[:12], y, at=[12], method=MeanLastK(k=5))
    assert f.median[0] == pytest.approx(np.mean(y[-5:]), rel=1e-6)
    # a curve far from its floor: ahead of the data the baselines stay put, wider
    far = forecast(X[:12], y + 100, at=[12, 50, 200], method="last")
    np.testing.assert_allclose(far.median, y[-1] + 100, rtol=1e-9)
    width = np.diff(far.interval(0.8, axis=0), axis=0)[0]
    assert (np.diff(width) > 0).all()


@pytest.mark.parametrize("case", ["smooth", "noisy"])
def test_baseline_median_is_the_last_value_ahead_of_the_data(case):
    if case == "smooth":
        x = np.arange(1, 13.0)
        y = 0.2 + 3.0 * x**-0.6
    else:
        x = np.arange(1, 8.0)
        y = np.array([1.0, 3.0, 0.5, 2.5, 0.8, 2.0, 1.0])
    at = [x[-1], 3 * x[-1], 1000]
    np.testing.assert_allclose(forecast(x, y, at=at, method="last").median, y[-1], rtol=1e-3)
    np.testing.assert_allclose(
        forecast(x, y, at=at, method="mean_last").median, np.mean(y[-3:]), rtol=1e-3
    )


# --------------------------------------------------------------------------- bounds


def test_accuracy_with_bound_never_above_1():
    y = np.clip(0.99 - 0.5 * X**-0.9 + 0.01 * np.random.default_rng(1).standard_normal(30), 0, 1)
    at = [30, 100, 1000, 10**6]
    # a score beyond [0, 1] has no implied ceiling: the same shape crosses it...
    shifted = forecast(X, y + 0.5, at=at, goal="max")
    assert (shifted.quantiles([0.99])[:, 0] > 1.5).any()
    # ...while a 'max' metric within [0, 1] is bounded by 1 with or without ``bound``
    for method, bound in product(("ensemble", "last", "mean_last"), (1.0, None)):
        f = forecast(X, y, at=at, goal="max", bound=bound, method=method)
        q = f.quantiles([0.5, 0.9, 0.99, 0.999])
        assert np.isfinite(q).all()
        assert (q <= 1.0).all(), method
        assert (f.interval(0.98, axis=0)[1] <= 1.0).all()
        assert (f.samples(500)[..., :] <= 1.0).all()
        assert (f.cdf(1.0) == 1.0).all()


@pytest.mark.parametrize("bound", [None, 0.0])
def test_loss_lower_quantiles_never_below_0(bound):
    y = np.abs(0.02 + 2 * X**-1.5 + 0.01 * np.random.default_rng(2).standard_normal(30))
    at = [30, 100, 1000, 10**6]
    unbounded = forecast(X, y, at=at, bound=-10.0)  # a floor far below 0 lets tails go negative
    assert (unbounded.quantiles([0.01])[:, 0] < 0).any()
    for method in ("ensemble", "last", "mean_last"):
        f = forecast(X, y, at=at, bound=bound, method=method)
        q = f.quantiles([0.001, 0.01, 0.1, 0.5])
        assert np.isfinite(q).all()
        assert (q >= 0.0).all(), method
        assert (f.interval(0.98, axis=0)[0] >= 0.0).all()
        assert (f.cdf(0.0 - 1e-12) == 0.0).all()


# --------------------------------------------------------------------------- uncertainty


def test_short_curves_get_wider_intervals():
    y = noisy(power_law(X), rel=0.01, seed=5)
    for level in (0.5, 0.8, 0.95):
        short = np.diff(forecast(X[:4], y[:4], at=60).interval(level, axis=0)[:, 0])[0]
        long = np.diff(forecast(X, y, at=60).interval(level, axis=0)[:, 0])[0]
        assert short > 2 * long > 0, level


def test_interval_nesting_and_growth_with_horizon():
    y = noisy(power_law(X[:15]), rel=0.01, seed=6)
    f = forecast(X[:15], y, at=[20, 100, 1000])
    lo5, hi5 = f.interval(0.5, axis=0)
    lo9, hi9 = f.interval(0.9, axis=0)
    assert (lo9 < lo5).all() and (lo5 < f.median).all() and (f.median < hi5).all()
    assert (hi5 < hi9).all()
    assert (np.diff(hi9 - lo9) > 0).all()


# --------------------------------------------------------------------------- ETA


def test_eta_on_a_decreasing_curve():
    y = power_law(X[:15])  # 0.3 + 2 x^-0.8: reaches 0.4 at x = 20 ** 1.25 = 42.3
    grid = np.arange(1, 1001.0)
    f = forecast(X[:15], y, at=grid)
    eta = f.eta(0.4, prob=0.5, after=15)
    assert 38 <= eta <= 48
    assert f.eta(0.4, prob=0.9, after=15) >= eta
    assert f.eta(0.4, prob=0.1, after=15) <= eta
    assert np.isnan(f.eta(0.1))  # below the floor 0.3: never
    # already reached before the first forecast step counts only when not excluded
    assert f.eta(y[5], prob=0.5) <= 7
    assert f.eta(y[5], prob=0.5, after=15) == 16
    with pytest.raises(UsageError):
        f.eta(0.4, prob=1.0)


def test_eta_in_a_batch():
    pairs = {"fast": (X[:15], power_law(X[:15], floor=0.2)),
             "never": (X[:15], power_law(X[:15], floor=0.6))}  # fmt: skip
    f = forecast_batch(pairs, at=np.arange(15, 2001.0))
    eta = f.eta(0.3, after=15)  # 0.2 + 2 x^-0.8 = 0.3 at x = 20 ** 1.25 = 42.3
    assert eta.shape == (2,)
    assert 38 <= eta[0] <= 48 and np.isnan(eta[1])
    # the observed part does not count when excluded: a target passed at step 5 gives 16
    assert f.eta(power_law(5, floor=0.2), after=15)[0] == 16


# --------------------------------------------------------------------------- scale and spacing


def test_irregular_step_spacing():
    xs = np.array([1, 2, 3, 5, 8, 13, 21, 34, 55, 89.0])
    ys = noisy(power_law(xs), rel=0.003, seed=7)
    f = forecast(xs, ys, at=[100, 500, 2000], method="bma")  # a textbook curve
    truth = power_law([100, 500, 2000])
    np.testing.assert_allclose(f.median, truth, rtol=0.03)
    lo, hi = f.interval(0.9, axis=0)
    assert ((lo <= truth) & (truth <= hi)).all()
    # log-spaced steps like 10^k, and steps starting at 0
    xs0 = np.array([0, 10, 30, 100, 300, 1000, 3000.0])
    ys0 = power_law(xs0 + 10, floor=0.1)
    g = forecast(xs0, ys0, at=30000)
    assert np.isfinite(g.median).all() and g.median[0] < ys0[-1]


@pytest.mark.parametrize("factor", [1e6, 1e-6])
@pytest.mark.parametrize("method", ["ensemble", "last", "mean_last"])
def test_value_scale_invariance(factor, method):
    y = noisy(power_law(X[:12]), rel=0.01, seed=8)
    at = [12, 30, 100]
    base = forecast(X[:12], y, at=at, method=method)
    scaled = forecast(X[:12], y * factor, at=at, method=method)
    np.testing.assert_allclose(scaled.quantiles(QS), factor * base.quantiles(QS), rtol=1e-4)
    np.testing.assert_allclose(scaled.interval(0.8, axis=0), factor * base.interval(0.8, axis=0), rtol=1e-4)
    # an accuracy-like metric too, with its bound scaled along
    acc = 0.9 - 0.5 * X[:12] ** -0.7
    a = forecast(X[:12], acc, at=at, goal="max", bound=1.0, method=method)
    b = forecast(X[:12], acc * factor, at=at, goal="max", bound=factor, method=method)
    np.testing.assert_allclose(b.quantiles(QS), factor * a.quantiles(QS), rtol=1e-4)


def test_step_scale_invariance():
    y = noisy(power_law(X[:12]), rel=0.01, seed=9)
    a = forecast(X[:12], y, at=[30, 100])
    b = forecast(X[:12] * 1000, y, at=[30000, 100000])  # steps instead of epochs
    np.testing.assert_allclose(b.quantiles(QS), a.quantiles(QS), rtol=1e-6)
