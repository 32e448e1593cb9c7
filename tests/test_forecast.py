"""Properties of Forecast, on random mixtures and on real ensemble forecasts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import curvecast
from curvecast.errors import UsageError
from curvecast.forecast import Forecast

finite = st.floats(-1e3, 1e3, allow_nan=False)


@st.composite
def mixtures(draw, goal=None):
    B = draw(st.integers(1, 3))
    X = draw(st.integers(1, 3))
    K = draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    loc = rng.normal(0, draw(st.floats(0.01, 100)), (B, X, K))
    scale = np.exp(rng.normal(-1, 1.5, (B, X, K)))
    df = rng.choice([2.0, 3.0, 7.0, 1e6], (B, K))
    w = rng.random((B, K)) + 0.01
    # some mixtures are censored at a bound, as forecasts of a loss or an accuracy are
    lower = draw(st.sampled_from([None, -np.inf, float(np.median(loc))]))
    upper = draw(st.sampled_from([None, float(np.max(loc) + 1.0)]))
    goal = goal or draw(st.sampled_from(["min", "max"]))
    return Forecast(np.arange(X) * 10.0, loc, scale, df, w, goal, lower=lower, upper=upper)


@st.composite
def curves(draw):
    n = draw(st.integers(4, 25))
    x = np.cumsum(draw(st.lists(st.floats(0.5, 20), min_size=n, max_size=n)))
    a = draw(st.floats(0.1, 10))
    b = draw(st.floats(0.05, 2))
    c = draw(st.floats(-5, 5))
    noise = draw(st.floats(0, 0.05))
    rng = np.random.default_rng(draw(st.integers(0, 1000)))
    y = c + a * x ** -b + noise * a * rng.standard_normal(n)
    return x, y


@settings(max_examples=60, deadline=None)
@given(mixtures(), st.lists(st.floats(0.01, 0.99), min_size=2, max_size=6))
def test_quantiles_monotone_in_q(f, qs):
    qs = np.sort(qs)
    q = f.quantiles(qs)
    assert (np.diff(q, axis=-1) >= -1e-9 * (1 + np.abs(q[..., 1:]))).all()


@settings(max_examples=60, deadline=None)
@given(mixtures())
def test_intervals_nest(f):
    levels = [0.5, 0.8, 0.9, 0.95]
    ivs = [f.interval(lv, axis=0) for lv in levels]
    for inner, outer in zip(ivs, ivs[1:]):
        tol = 1e-9 * (1 + np.abs(outer))
        assert (outer[0] <= inner[0] + tol[0]).all() and (inner[1] <= outer[1] + tol[1]).all()


@settings(max_examples=60, deadline=None)
@given(mixtures(), finite)
def test_cdf_and_prob_better_than_agree(f, v):
    cdf = f.cdf(v)
    p = f.prob_better_than(v)
    expect = cdf if f.goal == "min" else 1 - cdf
    np.testing.assert_allclose(p, expect, atol=1e-12)
    assert ((cdf >= 0) & (cdf <= 1)).all()


@settings(max_examples=40, deadline=None)
@given(mixtures(), st.floats(0.02, 0.98))
def test_cdf_inverts_quantile(f, q):
    v = f.quantiles([q])[..., 0]
    # a quantile clipped to a bound sits on an atom, where the cdf jumps past q
    inside = (v > f.lower[:, None]) & (v < f.upper[:, None])
    np.testing.assert_allclose(f.cdf(v)[inside], q, atol=1e-6)


@settings(max_examples=30, deadline=None)
@given(mixtures(), st.integers(0, 10_000))
def test_samples_reproducible_and_distributed(f, seed):
    a = f.samples(4000, seed=seed)
    b = f.samples(4000, seed=seed)
    np.testing.assert_array_equal(a, b)
    # empirical median of the draws sits near the median (Kolmogorov bound)
    med = f.median
    frac = (a <= med[:, None, :]).mean(axis=1)
    inside = (med > f.lower[:, None]) & (med < f.upper[:, None])
    assert np.abs(frac - 0.5)[inside].max(initial=0) < 0.05


@settings(max_examples=40, deadline=None)
@given(mixtures())
def test_bounded_forecasts_respect_bounds(f):
    q = f.quantiles([0.001, 0.5, 0.999])
    lo, hi = f.lower[:, None, None], f.upper[:, None, None]
    assert ((q >= lo) & (q <= hi)).all()
    assert (f.samples(200, seed=1) >= f.lower[:, None, None]).all()
    bounded = np.isfinite(f.lower)
    below = np.where(bounded, f.lower - 1.0, 0.0)
    assert (f.cdf(below)[bounded] == 0).all()


def test_censored_mixture():
    # N(1, 1) censored at 0: the atom at 0 holds Phi(-1); quantiles above it are N(1, 1)'s
    f = Forecast([1.0], [[[1.0]]], [[[1.0]]], [[1e7]], [[1.0]], lower=[0.0])[0]
    assert abs(f.median[0] - 1.0) < 1e-6
    assert abs(f.cdf(0.0)[0] - 0.158655) < 1e-5 and f.cdf(-1e-9)[0] == 0.0
    assert f.quantiles([0.1])[0, 0] == 0.0
    assert abs(f.mean[0] - (0.841345 + 0.241971)) < 5e-3  # E[max(Y, 0)]


def test_pdf_integrates_to_one():
    f = Forecast([1.0], [[[0.0, 3.0]]], [[[1.0, 0.5]]], [[3.0, 8.0]], [[0.3, 0.7]])[0]
    v = np.linspace(-300, 300, 12_001)
    dens = np.array([f.pdf(x)[0] for x in v])
    assert abs(np.trapezoid(dens, v) - 1) < 2e-3
    np.testing.assert_allclose(np.log(dens[6_000]), f.logpdf(0.0)[0])


@settings(max_examples=25, deadline=None)
@given(curves())
def test_min_max_goals_mirror(xy):
    x, y = xy
    # a 'max' score within [0, 1] is read as a rate bounded by 1, which its mirror (a
    # 'min' score within [-1, 0]) is not: there the two goals differ by design
    assume(not ((y <= 0).all() and (y >= -1).all()))
    at = [x[-1] * 2, x[-1] * 5]
    fmin = curvecast.forecast(x, y, at=at, goal="min")
    fmax = curvecast.forecast(x, -y, at=at, goal="max")
    qs = [0.1, 0.5, 0.9]
    np.testing.assert_allclose(fmin.quantiles(qs), -fmax.quantiles(qs)[:, ::-1], rtol=1e-6, atol=1e-9)
    v = float(np.median(y))
    np.testing.assert_allclose(fmin.prob_better_than(v), fmax.prob_better_than(-v), atol=1e-9)


@settings(max_examples=15, deadline=None)
@given(curves())
def test_forecasts_are_reproducible(xy):
    x, y = xy
    f1 = curvecast.forecast(x, y, at=x[-1] * 3)
    f2 = curvecast.forecast(x, y, at=x[-1] * 3)
    np.testing.assert_array_equal(f1.quantiles([0.1, 0.5, 0.9]), f2.quantiles([0.1, 0.5, 0.9]))
    np.testing.assert_array_equal(f1.samples(50, seed=3), f2.samples(50, seed=3))


@settings(max_examples=15, deadline=None)
@given(curves())
def test_real_forecast_properties(xy):
    x, y = xy
    f = curvecast.forecast(x, y, at=np.linspace(x[-1], 4 * x[-1], 5))
    q = f.quantiles([0.05, 0.25, 0.5, 0.75, 0.95])
    assert np.isfinite(q).all()
    assert (np.diff(q, axis=-1) >= -1e-9).all()


def test_eta_first_step_reached():
    # a certain curve: value equals the step's negative, reached at x >= 3
    x = np.array([1.0, 2.0, 3.0, 4.0])
    f = Forecast(x, -x[None, :, None], np.full((1, 4, 1), 1e-6), [[1e6]], [[1.0]], "min")
    assert f[0].eta(-2.5) == 3.0
    assert np.isnan(f[0].eta(-10))
    assert f[0].eta(-0.5, after=2.0) == 3.0


def test_invalid_rows_answer_nan():
    f = curvecast.forecast_batch({"ok": ([1, 2, 3, 4], [1, .8, .7, .65]), "short": ([1], [1.0])}, at=10)
    assert np.isfinite(f.median[0]).all() and np.isnan(f.median[1]).all()
    assert np.isnan(f["short"].eta(0.1))


def test_bad_arguments():
    f = curvecast.forecast([1, 2, 3, 4], [1, .8, .7, .65], at=10)
    with pytest.raises(UsageError):
        f.interval(1.5, axis=0)
    with pytest.raises(UsageError):
        f.quantiles([0.0, 0.5])
    with pytest.raises(UsageError):
        f.eta(0.5, prob=1.0)


def test_chunked_batches_forecast_as_one(monkeypatch):
    import curvecast.forecasters.base as base

    curves = {str(i): (np.arange(1, 11.0), 1 / np.arange(1, 11.0) + 0.01 * i) for i in range(8)}
    curves["short"] = ([1.0], [1.0])
    whole = curvecast.forecast_batch(curves, at=[20, 40])
    monkeypatch.setattr(base, "CHUNK", 3)
    chunked = curvecast.forecast_batch(curves, at=[20, 40])
    np.testing.assert_array_equal(whole.quantiles([0.1, 0.5, 0.9]), chunked.quantiles([0.1, 0.5, 0.9]))


def test_interval_axis_convention_matches_quantiles():
    f = Forecast(x=[1.0, 2.0, 3.0], loc=np.zeros((2, 3, 1)), scale=np.ones((2, 3, 1)),
                 df=np.full((2, 1), 5.0), weights=np.ones((2, 1)))
    last = f.interval(0.8, axis=-1)
    assert last.shape == (2, 3, 2)
    np.testing.assert_allclose(last, f.quantiles([0.1, 0.9]))
    np.testing.assert_allclose(f.interval(0.8, axis=0), np.moveaxis(last, -1, 0))
    assert f[1].interval(0.8, axis=-1).shape == (3, 2)
    with pytest.warns(FutureWarning, match="axis=-1"):
        old = f.interval(0.8)
    np.testing.assert_allclose(old, f.interval(0.8, axis=0))
    with pytest.raises(UsageError, match="axis"):
        f.interval(0.8, axis=1)
