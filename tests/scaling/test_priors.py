"""Issue 18: the over-training law, priors learned across studies and the posterior fit,
joint laws sharing exponents, law choice by rolling origins, and their backtests."""

from __future__ import annotations

import json
import warnings
from functools import cache

import numpy as np
import pytest

from curvecast.errors import InputError, UsageError
from curvecast.scaling import LAWS, ScalingWarning, backtest, fit_law
from curvecast.scaling.joint import group_params, joint_law
from curvecast.scaling.prior import (
    REFERENCE,
    Prior,
    fit_posterior,
    load_prior,
    shipped_priors,
    transform,
)
from curvecast.scaling.select import choose_law, rolling_error
from curvecast.scaling.table import Points

TRUE = {"E": 1.8, "A": 400.0, "B": 2000.0, "alpha": 0.34, "beta": 0.37}


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)
        yield


def sweep(sizes=6, noise=0.0, seed=0, **params):
    p = {**TRUE, **params}
    n = np.geomspace(1e7, 1e9, sizes).repeat(3)
    d = n * np.tile([5.0, 20.0, 80.0], sizes)
    y = p["E"] + p["A"] * n ** -p["alpha"] + p["B"] * d ** -p["beta"]
    return {"n": n, "d": d}, y * np.exp(np.random.default_rng(seed).normal(0, noise, y.size))


def test_overtraining_is_chinchilla_with_tied_exponents():
    X, _ = sweep()
    ch = LAWS["chinchilla"].to_theta({"E": 2.0, "A": 300, "B": 900, "alpha": 0.3, "beta": 0.3})
    ot = LAWS["overtraining"].to_theta({"E": 2.0, "a": 300 * 6**0.15, "b": 900 * 6**0.15,
                                        "eta": 0.15})
    np.testing.assert_allclose(LAWS["overtraining"].predict(ot, X),
                               LAWS["chinchilla"].predict(ch, X), rtol=1e-12)


def test_transform_reads_coefficients_at_the_reference():
    law = LAWS["chinchilla"]
    theta = law.to_theta(TRUE)
    z = transform(law) @ theta
    assert z[1] == pytest.approx(np.log(400 * REFERENCE["n"] ** -0.34))
    assert z[2] == pytest.approx(np.log(2000 * REFERENCE["d"] ** -0.37))
    assert z[3] == pytest.approx(0.34) and z[0] == pytest.approx(np.log(1.8))


@cache
def _fits(es=(1.7, 1.8, 1.9), alphas=(0.3, 0.34, 0.38)):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)
        return tuple(fit_law("chinchilla", *sweep(E=e, alpha=a), n_boot=0, drift=False)
                     for e, a in zip(es, alphas, strict=True))


def test_prior_from_fits_locates_and_floors_the_scale():
    prior = Prior.from_fits(_fits(), ["s1", "s2", "s3"])
    assert prior.natural_location()["alpha"] == pytest.approx(0.34, abs=0.01)
    assert prior.natural_location()["E"] == pytest.approx(1.8, rel=0.02)
    j = prior.names.index("alpha")
    assert prior.scale[j] == pytest.approx(0.04, rel=0.1)  # sd of 0.30, 0.34, 0.38
    same = Prior.from_fits(_fits(alphas=(0.34,) * 3), ["a", "b", "c"])
    assert same.scale[j] >= 0.03  # the floor: three studies can agree by chance
    back = Prior.from_dict(json.loads(json.dumps(prior.to_dict())))
    assert back == prior and back.sources == ("s1", "s2", "s3")
    with pytest.raises(InputError, match="at least 2 studies"):
        Prior.from_fits(_fits()[:1], ["one"])
    with pytest.raises(InputError, match="not a prior"):
        Prior.from_dict({"law": "chinchilla"})


def test_a_tight_prior_pulls_the_fit_and_a_wide_one_does_not():
    X, y = sweep(sizes=4, noise=0.004)
    plain = fit_law("chinchilla", X, y, n_boot=0, drift=False)
    names = ("alpha", "beta")
    tight = Prior("chinchilla", names, (0.25, 0.45), (0.001, 0.001))
    post = fit_posterior("chinchilla", X, y, tight, n_boot=0, drift=False)
    assert post.params_["alpha"] == pytest.approx(0.25, abs=0.005)
    assert post.params_["beta"] == pytest.approx(0.45, abs=0.005)
    wide = Prior("chinchilla", names, (0.25, 0.45), (100.0, 100.0))
    loose = fit_posterior("chinchilla", X, y, wide, n_boot=0, drift=False)
    pred = {"n": 7e9, "d": 1.4e11}
    assert float(loose.predict(pred).pred[0]) == pytest.approx(
        float(plain.predict(pred).pred[0]), rel=0.01)


def test_posterior_intervals_and_a_joint_prior():
    X, y = sweep(noise=0.003)
    prior = Prior.from_fits(_fits(), ["a", "b", "c"])
    fit = fit_law("chinchilla", X, y, prior=prior, n_boot=50)
    assert fit.boot_.shape == (50, 5)
    p = fit.predict({"n": [2e9, 7e9], "d": [4e10, 1.4e11]})
    assert np.all(p.lower < p.pred) and np.all(p.pred < p.upper)
    assert p.pred[1] == pytest.approx(1.8 + 400 * 7e9**-0.34 + 2000 * 1.4e11**-0.37,
                                      rel=0.01)
    law = joint_law("chinchilla", 2)
    idx, loc, _ = prior._index(law)
    assert [law.params[i] for i in idx] == ["E[0]", "E[1]", "A[0]", "A[1]", "B[0]", "B[1]",
                                            "alpha", "beta"]
    assert loc[0] == loc[1]  # each group's E gets the one prior of E


def test_joint_law_shares_exponents():
    X1, y1 = sweep(sizes=5)
    X2, y2 = sweep(sizes=5, E=2.5, A=600.0, B=900.0)
    X = {"n": np.r_[X1["n"], X2["n"]], "d": np.r_[X1["d"], X2["d"]],
         "g": np.repeat([1.0, 2.0], len(y1))}
    law = joint_law("chinchilla", 2)
    assert law.params == ("alpha", "beta", "E[0]", "A[0]", "B[0]", "E[1]", "A[1]", "B[1]")
    assert group_params(law, "A") == ["A[0]", "A[1]"] and group_params(law, "beta") == ["beta"]
    fit = fit_law(law, X, np.r_[y1, y2], n_boot=0, drift=False)
    assert fit.params_["alpha"] == pytest.approx(0.34, abs=0.01)
    assert fit.params_["E[0]"] == pytest.approx(1.8, rel=0.01)
    assert fit.params_["E[1]"] == pytest.approx(2.5, rel=0.01)
    with pytest.raises(UsageError, match="joined again"):
        joint_law(law, 2)


def test_choose_law_by_rolling_origins():
    X, y = sweep(alpha=0.45, beta=0.25)  # far from over-training's alpha = beta
    best, scores = choose_law([("chinchilla", None), ("overtraining", None)], X, y)
    assert best == "chinchilla" and scores["chinchilla"] < scores["overtraining"]
    assert np.isnan(rolling_error("chinchilla", {k: v[:6] for k, v in X.items()}, y[:6]))


def _points(X, y, group=None):
    return Points(group, dict(X), np.asarray(y), np.arange(1, len(y) + 1))


@pytest.mark.slow
def test_backtest_fit_fraction_joint_and_choose():
    X, y = sweep(sizes=8, noise=0.002)
    pts = _points(X, y, "web")
    bt = backtest([pts], "chinchilla", fit_fraction=0.25, n_boot=10)
    assert {p.n for p in bt.points} == set(X["n"][X["n"] > X["n"].max() / 4])
    assert bt.mean_rel_error < 0.02
    X2, y2 = sweep(sizes=8, noise=0.002, E=2.4, seed=1)
    joint = backtest([pts, _points(X2, y2, "code")], "chinchilla", 2, joint=True, n_boot=10)
    assert len(joint.points) == 2 * 2 * 3 and joint.mean_rel_error < 0.02
    chosen = backtest([pts], "chinchilla", 2, choose=("chinchilla", "overtraining"),
                      prior=Prior.from_fits(_fits(), ["a", "b", "c"]), n_boot=10)
    assert set(chosen.chosen["web"]["rolling_errors"]) == {
        "chinchilla", "overtraining", "chinchilla+prior", "overtraining+prior"}
    assert "chosen" in chosen.to_dict()
    with pytest.raises(InputError, match="nothing left to fit"):
        backtest([pts], "chinchilla", fit_fraction=0.01)
    with pytest.raises(UsageError, match="do not go together"):
        backtest([pts], "chinchilla", joint=True, choose=("chinchilla",))


def test_shipped_priors_and_loading(tmp_path):
    priors = shipped_priors()
    assert set(priors) == {"chinchilla", "overtraining"}
    ch = priors["chinchilla"]
    assert len(ch.sources) == 4 and ch.drift > 0
    assert 0.1 < ch.natural_location()["alpha"] < 0.6
    assert load_prior("shipped", "data_constrained") is not None  # shares E, A, B, ...
    with pytest.raises(UsageError, match="no prior for law 'power'"):
        load_prior("shipped", "power")
    path = tmp_path / "p.json"
    path.write_text(json.dumps(ch.to_dict()))
    assert load_prior(path, "chinchilla") == ch
    path.write_text("{")
    with pytest.raises(InputError, match="could not read the prior"):
        load_prior(path, "chinchilla")
