"""The reference MCMC forecaster (Domhan et al. 2015): coverage, reproducibility, shape."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import need_module

need_module("emcee")

import curvecast
from curvecast.curve import Curve
from curvecast.errors import UsageError
from curvecast.forecasters import METHODS, MCMCForecaster
from curvecast.forecasters import mcmc as mcmc_module

X = np.arange(1, 46.0)
TRUTH = 0.3 + 2.0 * X**-0.7
AHEAD = [16.0, 20.0, 30.0, 45.0, 90.0]
QUICK = dict(walkers=100, steps=300, burn=200, samples=100)
"""A short chain for tests that check plumbing, not the posterior."""


def noisy_head(n=15, sd=0.01, seed=1):
    y = TRUTH + np.random.default_rng(seed).normal(0, sd, X.size)
    return X[:n], y[:n]


@pytest.fixture(scope="module")
def power_law_forecast():
    x, y = noisy_head()
    return MCMCForecaster(seed=3).forecast([Curve("r", x, y)], AHEAD)[0]


def test_power_law_at_three_times_the_horizon(power_law_forecast):
    f = power_law_forecast
    k = AHEAD.index(45.0)
    lo, hi = f.interval(0.9, axis=0)[:, k]
    assert lo <= TRUTH[44] <= hi
    assert abs(f.median[k] - TRUTH[44]) < 0.04  # 9% of the true value
    assert hi - lo < 0.3  # informative, not the whole range


def test_predictive_falls_over_the_steps_for_a_falling_curve(power_law_forecast):
    mean = power_law_forecast.mean
    assert np.isfinite(mean).all()
    assert (np.diff(mean) <= 1e-9).all()
    # every posterior sample is itself non-increasing (the monotonicity prior)
    assert (np.diff(power_law_forecast.loc[0], axis=0) <= 1e-9).all()


def test_same_seed_same_forecast_and_batch_does_not_matter():
    x, y = noisy_head()
    c = Curve("r", x, y)
    other = Curve("o", x, 1.5 * y)
    a = MCMCForecaster(seed=7, **QUICK).forecast([c], AHEAD)
    b = MCMCForecaster(seed=7, **QUICK).forecast([other, c], AHEAD)
    np.testing.assert_array_equal(a.loc[0], b.loc[1])
    qs = [0.1, 0.5, 0.9]
    np.testing.assert_array_equal(a.quantiles(qs)[0], b.quantiles(qs)[1])
    d = MCMCForecaster(seed=8, **QUICK).forecast([c], AHEAD)
    assert not np.array_equal(a.loc, d.loc)


def test_diverged_and_short_curves_answer_nan_without_crashing():
    x, y = noisy_head()
    bad = y.copy()
    bad[4] = np.nan
    curves = [Curve("ok", x, y), Curve("diverged", x, bad), Curve("short", x[:2], y[:2])]
    f = MCMCForecaster(**QUICK).forecast(curves, 45)
    assert f.valid.tolist() == [True, False, False]
    assert np.isfinite(f.median[0]).all() and np.isnan(f.median[1:]).all()


def test_a_failing_sampler_gives_nan_not_an_exception(monkeypatch):
    def boom(*args, **kwargs):
        raise FloatingPointError("sampler blew up")

    monkeypatch.setattr(mcmc_module._Model, "build", boom)
    x, y = noisy_head()
    f = MCMCForecaster(**QUICK).forecast([Curve("r", x, y)], 45)
    assert not f.valid.any() and np.isnan(f.median).all()


def test_rising_curve_does_not_crash():
    # the model only knows falling curves: a rising one gets a flat-ish forecast or NaN
    x = np.arange(1, 11.0)
    f = MCMCForecaster(**QUICK).forecast([Curve("r", x, 1.0 + 0.05 * x)], 30)
    assert f.median.shape == (1, 1)


def test_through_the_api_with_accuracy_and_bound():
    x, y = noisy_head()
    acc = 1.0 - 0.4 * y  # rises towards 1 - 0.12
    f = curvecast.forecast(x, acc, at=[30, 45], goal="max", method="mcmc", bound=1.0)
    assert np.isfinite(f.median).all()
    assert (f.interval(0.98, axis=0)[1] <= 1.0).all()
    assert (np.diff(f.median) >= -1e-9).all()
    assert abs(f.median[1] - (1 - 0.4 * TRUTH[44])) < 0.03
    assert METHODS["mcmc"] is MCMCForecaster


def test_long_binned_curve_uses_counts():
    x = np.arange(1, 2001.0)
    y = 0.2 + 1.5 * x**-0.5 + np.random.default_rng(0).normal(0, 0.01, x.size)
    f = MCMCForecaster(**QUICK).forecast([Curve("r", x[:1000], y[:1000])], 2000)
    assert f.valid.all()
    assert abs(f.median[0, 0] - (0.2 + 1.5 * 2000**-0.5)) < 0.05


def test_bad_settings_are_usage_errors():
    with pytest.raises(UsageError):
        MCMCForecaster(steps=100, burn=100)
    with pytest.raises(UsageError):
        MCMCForecaster(families=["nope"])
    with pytest.raises(UsageError):
        MCMCForecaster(move="gibbs")


def test_module_doctest():
    import doctest

    assert doctest.testmod(mcmc_module).failed == 0
