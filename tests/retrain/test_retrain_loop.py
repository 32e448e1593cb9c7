"""The live loop: nothing after a decision reaches it, the ladder rows, the JSON, ridge."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from curvecast.retrain import clean_series, make_policy, run_retrain, simulate
from curvecast.retrain.features import build_features
from curvecast.retrain.models import RidgeModel
from curvecast.retrain.run import ladder_error_at

POLICIES = ["fixed", "fixed@4", "never", "adwin", "page_hinkley", "window", "default",
            "default+window"]  # every live policy; the oracle sees the future by design


def _series(days: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Hourly: a daily cycle whose amplitude drifts, a regime shift half way, noise."""
    rng = np.random.default_rng(seed)
    n = 24 * days
    t = np.arange(n)
    amp = 5 + 3 * np.sin(2 * np.pi * t / (24 * 23))
    y = amp * np.sin(2 * np.pi * t / 24) + np.cumsum(rng.normal(0, 0.2, n))
    y[n // 2:] += 2 * np.sin(2 * np.pi * t[n // 2:] / 12)
    return np.arange(n).astype("datetime64[h]"), y


def _run(y, times, policies=POLICIES, model="ridge"):
    f = build_features(y, {}, times, 3600, horizon=6)
    return simulate(f, model, [make_policy(p) for p in policies], every=6, horizon=6,
                    window=24 * 7, times=times, step_seconds=3600)


@pytest.mark.parametrize("model", ["ridge", pytest.param("gbm", marks=pytest.mark.slow)])
def test_no_future_value_changes_a_decision(model):
    times, y = _series()
    before = _run(y, times, model=model)
    rows = before[0].rows
    cut_j = len(rows) // 2
    cut = int(rows[cut_j])
    poisoned = y.copy()
    poisoned[cut + 1:] = 1e6 * np.sign(np.sin(np.arange(len(y) - cut - 1)))  # garbage
    after = _run(poisoned, times, model=model)
    seen = rows + 6 <= cut  # forecasts whose truth is all before the poison
    for a, b in zip(before, after, strict=True):
        assert a.policy == b.policy
        assert (a.retrained[: cut_j + 1] == b.retrained[: cut_j + 1]).all(), a.policy
        assert (a.window[: cut_j + 1] == b.window[: cut_j + 1]).all(), a.policy
        np.testing.assert_allclose(a.work[: cut_j + 1], b.work[: cut_j + 1])
        np.testing.assert_allclose(a.abs_errors[seen], b.abs_errors[seen], rtol=1e-9,
                                   atol=1e-9, err_msg=a.policy)
    # and the poison does reach the later forecasts: the test can fail
    assert not np.allclose(before[0].abs_errors[~seen & (rows > cut)],
                           after[0].abs_errors[~seen & (rows > cut)], equal_nan=True)


def test_no_truth_before_its_time_in_the_view():
    """A policy that records what it sees: every error it is shown has arrived."""
    times, y = _series(30)
    seen = []

    class Spy(make_policy("fixed").__class__):
        def decide(self, view):
            if len(view.errors):
                seen.append((view.now, view.issued.max()))
            return super().decide(view)

    f = build_features(y, {}, times, 3600, horizon=6)
    tr = simulate(f, "ridge", [Spy(1)], every=3, horizon=6, window=24 * 7, times=times)
    rows = tr[0].rows
    assert seen
    for now, last in seen:
        assert rows[last] + 6 <= now  # its last lead was observed by now


def test_fixed_ladder_compute():
    times, y = _series(90)
    trs = {t.policy: t for t in _run(y, times, ["fixed", "fixed@2", "fixed@4"])}
    fixed = trs["fixed"]
    assert fixed.retrained.all()
    assert trs["fixed@2"].retrained.sum() == -(-len(fixed.rows) // 2)
    assert trs["fixed@4"].compute == pytest.approx(fixed.compute / 4, rel=0.05)


def test_never_is_much_worse_than_fixed_on_a_drifting_series():
    times, y = _series(90)
    trs = {t.policy: t for t in _run(y, times, ["fixed", "never"])}
    assert trs["never"].retrained.sum() == 1
    assert trs["never"].mae > 1.05 * trs["fixed"].mae


def test_json_rows_keys_and_ladder():
    times, y = _series(50)
    df = pd.DataFrame({"time": times, "y": y})
    s = clean_series(df, time="time", columns=["y"])
    out = run_retrain(s, targets=["y"], every="6h", horizon="6h", window="7d",
                      models=["ridge"], policies=["default", "adwin"])
    json.dumps(out, allow_nan=False)  # plain JSON, no NaN
    keys = {"policy", "model", "target", "mae", "rmse", "retrains", "compute",
            "compute_fraction", "error_ratio", "seconds"}
    rows = out["results"]
    assert all(keys <= set(r) for r in rows)
    names = [r["policy"] for r in rows]
    assert names == ["fixed", "default", "adwin", "fixed@2", "fixed@4", "fixed@8", "fixed@16",
                     "fixed@32"]
    fixed = rows[0]
    assert fixed["compute_fraction"] == 1.0 and fixed["error_ratio"] == 1.0
    fracs = [r["compute_fraction"] for r in rows[3:]]
    assert fracs == sorted(fracs, reverse=True) and fracs[-1] < 0.05
    assert {t["policy"] for t in out["traces"]} == set(names)
    assert out["data"]["rows"] == len(y)


def test_ladder_interpolates_in_log_compute():
    rows = [{"policy": "fixed", "compute_fraction": 1.0, "error_ratio": 1.0},
            {"policy": "fixed@4", "compute_fraction": 0.25, "error_ratio": 1.1},
            {"policy": "default", "compute_fraction": 0.1, "error_ratio": 0.9}]
    assert ladder_error_at(rows, 0.5) == pytest.approx(1.05)
    assert ladder_error_at(rows, 1.0) == pytest.approx(1.0)


def test_ridge_agrees_with_scikit_learn():
    from sklearn.linear_model import Ridge
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 5)) * [1, 10, 100, 1e-3, 5] + [0, 5, 1000, 0, 3]
    D = rng.normal(size=(400, 3)) + X[:, :1]
    m = RidgeModel(alpha=1.0)
    assert m.fit(X, D) == 400
    sc = StandardScaler().fit(X)
    ref = Ridge(alpha=1.0).fit(sc.transform(X), D)
    np.testing.assert_allclose(m.predict(X), ref.predict(sc.transform(X)), atol=1e-8)


def test_weighted_ridge_agrees_with_scikit_learn():
    """Recency weights (default's soft window): scikit-learn's weighted Ridge on features
    standardised with the weighted mean and spread, weights scaled to mean 1."""
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(4)
    X = rng.normal(size=(300, 4)) * [1, 10, 100, 2] + [0, 5, 1000, 3]
    D = rng.normal(size=(300, 2)) + X[:, :1]
    w = 0.5 ** (np.arange(300)[::-1] / 60.0)
    m = RidgeModel(alpha=1.0)
    assert m.fit(X, D, w) == 300  # weights change no work
    wt = w * 300 / w.sum()
    mu = wt @ X / 300
    sd = np.sqrt(wt @ (X - mu) ** 2 / 300)
    ref = Ridge(alpha=1.0).fit((X - mu) / sd, D, sample_weight=wt)
    np.testing.assert_allclose(m.predict(X), ref.predict((X - mu) / sd), atol=1e-8)
    plain = RidgeModel(alpha=1.0)
    plain.fit(X, D)
    assert np.abs(plain.predict(X) - m.predict(X)).max() > 1e-3  # the weights did act
