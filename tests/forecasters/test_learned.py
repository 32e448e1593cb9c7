"""The learned ensemble: features, the shipped network, and training round trips."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from curvecast import Curve, Forecast, LearnedForecaster, UsageError
from curvecast.forecasters.ensemble import EnsembleForecaster
from curvecast.forecasters.features import Anchor, family_columns, features
from curvecast.forecasters.learned import Combiner
from curvecast.transform import Frame

ROOT = Path(__file__).resolve().parents[2]


def _curve(scale=1.0, run="r", n=12):
    x = np.arange(1, n + 1.0)
    return Curve(run, x, scale * (0.4 + 2.0 * x**-0.7 + 0.01 * np.sin(x)))


def test_weights_may_change_with_the_step():
    loc = np.array([[[0.0, 10.0], [0.0, 10.0]]])
    w = np.array([[[1.0, 0.0], [0.0, 1.0]]])
    f = Forecast([1.0, 2.0], loc, np.full_like(loc, 0.1), np.full((1, 2), 1e6), w)
    assert np.allclose(f.median[0], [0.0, 10.0], atol=1e-6)


def test_stepwise_weights_of_the_wrong_shape_are_refused():
    loc = np.zeros((1, 2, 2))
    with pytest.raises(UsageError, match="weights"):
        Forecast([1.0, 2.0], loc, np.ones_like(loc), np.ones((1, 2)), np.ones((1, 3, 2)))


def test_forecast_scales_with_the_units():
    f = LearnedForecaster()
    a = f.forecast([_curve(1.0)], at=[20, 60]).quantiles([0.1, 0.5, 0.9])
    b = f.forecast([_curve(10.0)], at=[20, 60]).quantiles([0.1, 0.5, 0.9])
    assert np.allclose(10 * a, b, rtol=1e-5)


def test_accuracy_mirrors_error():
    x = np.arange(1, 15.0)
    err = 0.1 + 0.5 * x**-0.8
    acc = Curve("a", x, 1 - err, goal="max")
    f_err = LearnedForecaster(bound=0.0).forecast([Curve("e", x, err)], at=40)
    f_acc = LearnedForecaster(bound=1.0).forecast([acc], at=40)
    assert np.allclose(f_acc.median, 1 - f_err.median, atol=1e-9)
    assert f_acc.quantiles([0.9])[0, 0, 0] <= 1.0


def test_diverged_and_short_runs_get_no_forecast():
    runs = [_curve(), Curve("nan", [1, 2, 3, 4], [1.0, 0.9, np.nan, np.nan]),
            Curve("short", [1, 2], [1.0, 0.9])]
    f = LearnedForecaster().forecast(runs, at=[30])
    assert f.valid.tolist() == [True, False, False]
    assert np.isnan(f.median[1:]).all()


def test_batch_matches_one_at_a_time():
    runs = [_curve(1.0, "a", 8), _curve(2.0, "b", 20)]
    both = LearnedForecaster().forecast(runs, at=[25, 50]).median
    one = np.concatenate([LearnedForecaster().forecast([r], at=[25, 50]).median for r in runs])
    assert np.allclose(both, one)


def test_features_are_finite_on_flat_and_exploding_curves():
    x = np.arange(1, 11.0)
    runs = [Curve("flat", x, np.full(10, 0.693)), Curve("boom", x, np.geomspace(0.7, 7e16, 10))]
    frame = Frame.build(runs)
    t = frame.t_at(np.array([20.0, 50.0]))
    X = features(frame, EnsembleForecaster().family_fits(frame, t), t, Anchor.of(frame))
    assert np.isfinite(X).all()
    cols = family_columns(18)
    assert X.shape[2] == cols["usable"].stop


def test_a_broken_model_file_is_a_usage_error(tmp_path):
    bad = tmp_path / "model.npz"
    bad.write_text("not a model")
    with pytest.raises(UsageError, match="model.npz"):
        Combiner.load(bad)


def test_shipped_models_say_what_they_were_trained_on():
    meta = Combiner.load().meta
    assert meta["nets"] >= 1 and "nasbench_nlp" in meta["datasets"]
    assert "cifar10_cnn" not in meta["datasets"]  # no license: never learned from
    assert len(meta["scales"]) == 3
    demo = Combiner.load(ROOT / "src/curvecast/models/combiner_minus_nasbench_nlp.npz").meta
    assert not {"nasbench_nlp", "cifar10_cnn"} & set(demo["datasets"])


def _script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_training_round_trip_matches_torch(tmp_path):
    """The numpy network that forecasts computes what torch trained."""
    torch = pytest.importorskip("torch")
    make, trainer = _script("make_training_set"), _script("train_combiner")
    runs = [_curve(1.0 + 0.1 * i, str(i), 12 + i) for i in range(30)]
    part = make.rows_for(runs, None, 0.5, np.random.default_rng(0), EnsembleForecaster())
    n = len(runs)
    d = {**part, "source": np.array(["s"] * n), "dataset": np.array(["d"] * n)}
    model = trainer.train(d, np.arange(n), epochs=1, seed=0, log=lambda *_: None)
    path = tmp_path / "m.npz"
    trainer.save([model, model], str(path), {"scales": [1.0, 1.0, 1.0]})
    comb = Combiner.load(path)
    X = d["X"].reshape(-1, d["X"].shape[2])
    net = trainer.Net(X.shape[1])
    state = net.state_dict()
    ws = [k for k in sorted(state) if k.endswith("weight")]
    bs = [k for k in sorted(state) if k.endswith("bias")]
    for k, W in zip(ws, model["layers"], strict=True):
        state[k] = torch.tensor(W)
    for k, b in zip(bs, model["biases"], strict=True):
        state[k] = torch.tensor(b)
    net.load_state_dict(state)
    xt = torch.tensor((X - model["mean"]) / model["std"], dtype=torch.float32)
    logw, mu, log_s = (a.detach().numpy() for a in net(xt))
    np_logw, np_mu, np_sd = comb.predict(X)
    # two copies of one network: each component twice, at half the weight
    K = mu.shape[1]
    assert np.allclose(np_mu[:, :K], mu, atol=1e-4) and np.allclose(np_mu[:, K:], mu, atol=1e-4)
    assert np.allclose(np_sd[:, :K], np.exp(log_s), rtol=1e-3)
    assert np.allclose(np_logw[:, :K], logw - np.log(2), atol=1e-4)


def test_training_rows_hold_the_truth_in_the_network_units():
    """What the network learns to predict is where the run really ended, in its units."""
    make = _script("make_training_set")
    runs = [_curve(1.0 + 0.1 * i, str(i), 20) for i in range(5)]
    part = make.rows_for(runs, None, 0.4, np.random.default_rng(0), EnsembleForecaster())
    assert np.isfinite(part["X"]).all() and part["final"][:, 0].all()
    z = part["ref"][:, None] + part["spread"][:, None] * part["u"]
    y = part["sign"][:, None] * (part["floor"][:, None] + part["zscale"][:, None] * z)
    assert np.allclose(y, part["y"])
    assert np.allclose(part["y"][:, 0], [r.values[-1] for r in runs])
    assert (part["n_seen"] == 8).all()


def test_spread_model_scales_by_horizon_and_the_networks_own_spread(tmp_path):
    """A file's spread_model multiplies spreads by exp(a[bin] + b * log sd): with b < 0 the
    rows the network is surest of are widened the most (held out, it is overconfident
    there); with b = 0 it is one multiplier per horizon bin."""
    from curvecast.forecasters.learned import LSD_RANGE, horizon_bin, mixture_log_sd

    cal = _script("calibrate_combiner")
    rng = np.random.default_rng(0)
    runs = []
    for i in range(8):  # noisier and noisier: the network's own spread grows
        x = np.arange(1, 13.0 + 2 * i)
        y = (1 + 0.1 * i) * (0.4 + 2 * x**-0.7) + 0.05 * i * rng.standard_normal(x.size)
        runs.append(Curve(str(i), x, y))
    frame = Frame.build(runs)
    t = frame.t_at(np.array([[60.0, 200.0]] * len(runs)))
    fits = EnsembleForecaster().family_fits(frame, t)
    X = features(frame, fits, t, Anchor.of(frame))
    logw, mu, raw = Combiner.load().predict(X, calibrated=False)
    a = [0.1, 0.4, 0.7]
    for b in (0.0, -0.4):
        path = tmp_path / f"m{b}.npz"
        cal._write(None, path, {"a": a, "b": b}, "test")
        _, mu2, sd = Combiner.load(path).predict(X)
        lsd = np.clip(mixture_log_sd(logw, mu, raw), *LSD_RANGE)
        want = np.exp(np.asarray(a)[horizon_bin(X)] + b * lsd)
        assert np.allclose(mu2, mu) and np.allclose(sd / raw, want[..., None], rtol=1e-9)
    widen = (sd / raw)[..., 0] / np.exp(np.asarray(a)[horizon_bin(X)])
    assert np.ptp(lsd) > 1.0 and widen.flat[lsd.argmin()] > 1.5 * widen.flat[lsd.argmax()]
