"""Scaling laws: formulas, fitting, recovery of known parameters, monotonicity, warnings.

Property tests draw a law's parameters, generate noisy points from it and check that the
fit gets them back; and that predictions fall wherever the law says they do.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curvecast.errors import InputError, UsageError
from curvecast.scaling import (
    LAWS,
    ScalingWarning,
    backtest,
    compute_optimal,
    fit_law,
    get_law,
    optimal_split,
)
from curvecast.scaling.table import Points

SETTINGS = settings(max_examples=8, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def chinchilla_runs(rng, noise, E=1.8, A=400.0, B=2000.0, alpha=0.34, beta=0.37):
    """A sweep like a real study, 7 sizes x 5 tokens-per-parameter ratios: N, D and losses
    from a Chinchilla law with log-normal noise."""
    n = np.geomspace(1e7, 3e9, 7).repeat(5)
    d = n * np.tile([2.0, 6.0, 20.0, 60.0, 200.0], 7)
    return n, d, (E + A * n**-alpha + B * d**-beta) * np.exp(rng.normal(0, noise, n.size))


# --------------------------------------------------------------------------- formulas


def test_chinchilla_formula_matches_the_sum_of_terms():
    law = LAWS["chinchilla"]
    n, d = np.array([1e8, 7e10]), np.array([2e9, 1.4e12])
    theta = law.to_theta({"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28})
    expected = 1.69 + 406.4 / n**0.34 + 410.7 / d**0.28
    np.testing.assert_allclose(law.predict(theta, {"n": n, "d": d}), expected, rtol=1e-12)


def test_data_constrained_is_chinchilla_when_every_token_is_fresh():
    dc, ch = LAWS["data_constrained"], LAWS["chinchilla"]
    p = {"E": 1.87, "A": 520.7, "B": 1487.9, "alpha": 0.353, "beta": 0.353}
    # and no parameter is in excess: N below Hoffmann's compute-optimal size for D
    n, d = np.array([1e8, 1e9]), np.array([1e10, 2e11])
    fresh = dc.predict(dc.to_theta({**p, "R_D": 15.4, "R_N": 5.3}), {"n": n, "d": d, "u": d})
    np.testing.assert_allclose(fresh, ch.predict(ch.to_theta(p), {"n": n, "d": d}), rtol=1e-10)
    # 4 epochs of 1e9 tokens are worth a bit less than 4e9 fresh ones; 40 epochs are worth
    # less than 4e10 fresh tokens would be, but more than 4 epochs
    rep = dc.predict(dc.to_theta({**p, "R_D": 15.4, "R_N": 5.3}),
                     {"n": [1e8] * 4, "d": [4e9, 4e9, 4e10, 4e10], "u": [4e9, 1e9, 1e9, 4e10]})
    assert rep[0] < rep[1] < rep[0] + 0.05 and rep[3] < rep[2] < rep[1]


def test_bnsl_without_a_break_is_a_power_law():
    bn, pw = LAWS["bnsl"], LAWS["power"]
    x = np.geomspace(10, 1e5, 9)
    theta = bn.to_theta({"E": 0.2, "B": 3.0, "c0": 0.4, "c1": 0.0, "d1": 100.0, "f1": 1.0})
    np.testing.assert_allclose(bn.predict(theta, {"x": x}),
                               pw.predict(pw.to_theta({"E": 0.2, "A": 3.0, "alpha": 0.4}),
                                          {"x": x}), rtol=1e-12)


def test_every_law_has_a_citation_and_consistent_shapes():
    for law in LAWS.values():
        assert law.citation and law.formula
        assert len(law.params) == len(law.logged) == len(law.bounds)
        X = {i: np.geomspace(1e6, 1e9, 4) for i in law.inputs}
        starts = law.grid(X, np.array([3.0, 2.5, 2.2, 2.0]))
        assert starts.shape[1] == law.n_params
        assert law.log_loss(starts[:3], X).shape == (3, 4)


def test_unknown_law_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown law 'kaplan'.*chinchilla"):
        get_law("kaplan")


# --------------------------------------------------------------------------- recovery


@pytest.mark.slow
@SETTINGS
@given(E=st.floats(1.5, 2.5), A=st.floats(200, 1000), B=st.floats(300, 3000),
       alpha=st.floats(0.25, 0.45), beta=st.floats(0.25, 0.45), seed=st.integers(0, 99))
def test_chinchilla_fit_recovers_its_parameters(E, A, B, alpha, beta, seed):
    n, d, y = chinchilla_runs(np.random.default_rng(seed), 0.002, E, A, B, alpha, beta)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)
        fit = fit_law("chinchilla", {"n": n, "d": d}, y, n_boot=0)
    got = fit.params_
    assert abs(got["E"] - E) < 0.1
    assert abs(got["alpha"] - alpha) < 0.06 and abs(got["beta"] - beta) < 0.06
    # predictions inside the sampled range are recovered to the noise level
    law = LAWS["chinchilla"]
    truth = law.predict(law.to_theta({"E": E, "A": A, "B": B, "alpha": alpha, "beta": beta}),
                        {"n": n, "d": d})
    assert np.max(np.abs(fit.law.predict(fit.theta_, {"n": n, "d": d}) / truth - 1)) < 0.01


@SETTINGS
@given(E=st.floats(0.05, 2.0), A=st.floats(0.5, 50), alpha=st.floats(0.2, 0.8),
       seed=st.integers(0, 99))
def test_power_fit_recovers_its_parameters(E, A, alpha, seed):
    rng = np.random.default_rng(seed)
    x = np.geomspace(1e2, 1e6, 25)
    y = (E + A * x**-alpha) * np.exp(rng.normal(0, 0.002, x.size))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)
        got = fit_law("power", {"x": x}, y, n_boot=0).params_
    assert abs(got["E"] / E - 1) < 0.05
    assert abs(got["alpha"] - alpha) < 0.05
    assert abs(np.log(got["A"] / A)) < 0.3


def test_bootstrap_se_shrinks_with_more_points_and_is_reproducible():
    rng = np.random.default_rng(0)
    x = np.geomspace(1e2, 1e6, 200)
    y = (0.5 + 3 * x**-0.4) * np.exp(rng.normal(0, 0.01, x.size))
    a = fit_law("power", {"x": x}, y, n_boot=30, seed=1).parameters()["alpha"]
    b = fit_law("power", {"x": x}, y, n_boot=30, seed=1).parameters()["alpha"]
    small = fit_law("power", {"x": x[::8]}, y[::8], n_boot=30, seed=1).parameters()["alpha"]
    assert a == b
    assert a.lower < a.estimate < a.upper and abs(a.estimate - 0.4) < 3 * a.se
    assert small.se > a.se


# --------------------------------------------------------------------------- monotonicity


@settings(max_examples=40, deadline=None, derandomize=True)
@given(law_name=st.sampled_from([n for n, law in LAWS.items() if law.decreasing]),
       data=st.data())
def test_predictions_are_monotone_where_the_law_is(law_name, data):
    law = LAWS[law_name]
    theta = np.array([data.draw(st.floats(lo if np.isfinite(lo) else -5,
                                          min(hi, 30.0) if lo < 0 else hi))
                      for lo, hi in law.bounds])
    base = {i: data.draw(st.floats(1e6, 1e11)) for i in law.inputs}
    for inp in law.decreasing:
        X = {i: np.full(20, v) for i, v in base.items()}
        X[inp] = np.geomspace(base[inp], base[inp] * 1e4, 20)
        pred = law.predict(theta, X)
        assert np.all(np.diff(pred) <= 1e-12 * pred[:-1]), (inp, theta)


def test_fitted_predictions_are_monotone_and_intervals_bracket_them():
    n, d, y = chinchilla_runs(np.random.default_rng(3), 0.01)
    fit = fit_law("chinchilla", {"n": n, "d": d}, y, n_boot=20)
    big = np.geomspace(1e9, 1e12, 10)
    p = fit.predict({"n": big, "d": 20 * big})
    assert np.all(np.diff(p.pred) < 0)
    assert np.all(p.lower < p.pred) and np.all(p.pred < p.upper)
    wider = fit.predict({"n": big, "d": 20 * big}, level=0.98)
    assert np.all(wider.lower <= p.lower) and np.all(wider.upper >= p.upper)


# --------------------------------------------------------------------------- warnings, errors


def test_an_exponent_on_its_bound_warns():
    x = np.geomspace(1, 1e4, 12)
    y = 1.0 + 0.1 * np.log(x)  # rising: no decreasing power law fits
    with pytest.warns(ScalingWarning) as caught:
        fit = fit_law("power", {"x": x}, y, n_boot=0)
    assert any("alpha = 0 sits on its lower bound" in w for w in fit.warnings_)
    assert len(caught) == len(fit.warnings_)


def test_e_too_small_to_identify_warns():
    x = np.geomspace(10, 1e4, 12)
    with pytest.warns(ScalingWarning, match="E = .* is negligible"):
        fit_law("power", {"x": x}, 3 * x**-0.3, n_boot=0)


def test_too_few_points_and_bad_values_are_input_errors():
    with pytest.raises(InputError, match="5 parameters and needs at least 6 points"):
        fit_law("chinchilla", {"n": [1e8, 2e8, 4e8], "d": [1e9, 2e9, 4e9]}, [3, 2.9, 2.8])
    with pytest.raises(InputError, match="positive"):
        fit_law("power", {"x": np.arange(1, 8)}, [3, 2, 1, 0, 1, 2, 3])
    with pytest.raises(UsageError, match="needs inputs n, d; missing d"):
        fit_law("chinchilla", {"n": [1e8]}, [3.0])
    x = np.geomspace(10, 1e4, 12)
    fit = fit_law("power", {"x": x}, 0.5 + 3 * x**-0.4, n_boot=0)
    with pytest.raises(UsageError, match="input x must be positive and finite, got -1 at index 1"):
        fit.predict({"x": [1e5, -1.0, 1e6]})


def test_non_finite_losses_are_dropped_not_fatal():
    x = np.geomspace(10, 1e4, 12)
    y = 0.5 + 3 * x**-0.4
    y[[2, 7]] = [np.nan, np.inf]
    fit = fit_law("power", {"x": x}, y, n_boot=0)
    assert fit.n_points == 10 and abs(fit.params_["alpha"] - 0.4) < 1e-3


# --------------------------------------------------------------------------- optimal, backtest


def test_compute_optimal_matches_the_closed_form():
    nat = np.array([[1.69, 406.4, 410.7, 0.34, 0.28]])
    c = np.array([1e21, 1e23, 1e25])
    n, d, loss = optimal_split(nat, c)
    np.testing.assert_allclose(6 * n * d, c[None, :], rtol=1e-12)
    slope = np.polyfit(np.log(c), np.log(n[0]), 1)[0]
    assert slope == pytest.approx(0.28 / 0.62, rel=1e-9)
    # the optimum is a minimum along the iso-compute line
    for f in (0.8, 1.25):
        m = n * f
        assert np.all(1.69 + 406.4 * m**-0.34 + 410.7 * (c / (6 * m))**-0.28 > loss)


def test_compute_optimal_intervals_and_k():
    n, d, y = chinchilla_runs(np.random.default_rng(0), 0.005)
    fit = fit_law("chinchilla", {"n": n, "d": d}, y, n_boot=20)
    a6, a8 = compute_optimal(fit, [1e22], k=6)[0], compute_optimal(fit, [1e22], k=8)[0]
    assert a6.n_opt.lower < a6.n_opt.estimate < a6.n_opt.upper
    assert a6.tokens_per_param.estimate == pytest.approx(a6.d_opt.estimate / a6.n_opt.estimate)
    assert a8.n_opt.estimate < a6.n_opt.estimate  # each FLOP buys less
    assert a6.E.estimate == pytest.approx(fit.params_["E"])
    x = np.geomspace(1e2, 1e6, 10)
    power = fit_law("power", {"x": x}, 1 + 3 * x**-0.3, n_boot=0)
    with pytest.raises(UsageError, match="needs a law of N and D"):
        compute_optimal(power, 1e22)


def test_backtest_holds_out_the_largest_models():
    n, d, y = chinchilla_runs(np.random.default_rng(1), 0.005)
    pts = Points("g", {"n": n, "d": d}, y, np.arange(1, n.size + 1))
    bt = backtest([pts], "chinchilla", holdout_top=2, n_boot=20)
    assert {p.n for p in bt.points} == set(np.unique(n)[-2:])
    assert len(bt.points) == 10 and bt.points[0].group == "g"
    assert bt.mean_rel_error < 0.02 and bt.coverage >= 0.8
    assert set(bt.to_dict()) >= {"points", "mean_rel_error", "coverage"}
    with pytest.raises(InputError, match="only 7 distinct values of n"):
        backtest([pts], "chinchilla", holdout_top=7, n_boot=0)


def test_intervals_widen_beyond_the_data_as_far_as_the_law_drifts():
    x = np.geomspace(1e3, 1e6, 24)
    noise = np.exp(np.random.default_rng(0).normal(0, 0.002, x.size))
    clean = (0.5 + 30 * x**-0.3) * noise
    bent = 0.5 + 30 * x**-0.3 + 0.3 * np.exp(-x / 2e5)  # a bend the power law misses
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)
        fits = {k: fit_law("power", {"x": x}, y, n_boot=20) for k, y in
                (("clean", clean), ("bent", bent))}
        plain = fit_law("power", {"x": x}, bent, n_boot=20, drift=False)
    assert fits["bent"].drift_ > 2 * fits["clean"].drift_ > 0
    assert plain.drift_ == 0.0

    def widths(fit):
        p = fit.predict({"x": [1e6, 1e8]})
        return np.log(p.upper / p.lower)

    edge, far = widths(fits["bent"])
    assert edge == pytest.approx(widths(plain)[0])  # no wider at the data's edge
    assert far > 2 * widths(plain)[1]
