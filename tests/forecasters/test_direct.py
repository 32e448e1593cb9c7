"""The direct network: shapes, invariances, batch independence, bad input, no torch."""

import subprocess
import sys
from importlib import resources

import numpy as np

from curvecast.api import make_forecaster
from curvecast.curve import Curve
from curvecast.forecasters.direct import DirectForecaster, DirectNet, inputs
from curvecast.transform import Frame


def runs(n=20, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        k = int(rng.integers(5, 60))
        x = np.arange(1, k + 1.0) * 10
        y = 0.5 + rng.uniform(0.5, 2) * (x / 10) ** -rng.uniform(0.2, 1) + 0.01 * rng.standard_normal(k)
        out.append(Curve(f"r{i}", x, y))
    return out


def test_shapes_and_finite():
    f = DirectForecaster().forecast(runs(), [1000, 2000])
    assert f.median.shape == (20, 2)
    assert np.isfinite(f.median).all()
    lo, hi = f.interval(0.8, axis=0)
    assert (lo < f.median).all() and (f.median < hi).all()


def test_decreasing_loss_forecast_below_its_last_value():
    x = np.arange(1, 41.0)
    c = Curve("p", x, 0.3 + 2 * x**-0.5)
    f = DirectForecaster().forecast([c], [400])
    assert f.median[0, 0] < c.values[-1]
    assert f.median[0, 0] > 0.3 - 0.2  # not far below its floor


def test_scale_goal_and_step_invariance():
    c = runs(1)[0]
    base = DirectForecaster().forecast([c], [1000]).median[0, 0]
    scaled = DirectForecaster().forecast([Curve("s", c.steps, 7.0 * c.values)], [1000])
    assert np.isclose(scaled.median[0, 0], 7.0 * base, rtol=1e-6)
    flipped = DirectForecaster().forecast([Curve("m", c.steps, -c.values, "max")], [1000])
    # the goal is an input (accuracies and losses bend differently): close, not equal
    assert np.isclose(flipped.median[0, 0], -base, rtol=0.05)
    stretched = DirectForecaster().forecast([Curve("x", 3 * c.steps, c.values)], [3000])
    assert np.isclose(stretched.median[0, 0], base, rtol=1e-6)


def test_forecast_independent_of_batch_and_order():
    cs = runs(30)
    alone = np.array([DirectForecaster().forecast([c], [500]).median[0, 0] for c in cs])
    order = np.random.default_rng(1).permutation(len(cs))
    batch = DirectForecaster().forecast([cs[i] for i in order], [500]).median[:, 0]
    np.testing.assert_allclose(batch, alone[order], rtol=1e-10)


def test_short_diverged_and_dense_curves():
    dense_x = np.arange(1, 20001.0)
    curves = [Curve("short", [1, 2], [1.0, 0.9]),
              Curve("nan", [1, 2, 3, 4, 5], [1.0, 0.9, np.nan, 0.8, 0.7]),
              Curve("inf", [1, 2, 3, 4, 5], [1.0, 0.9, 0.8, np.inf, 0.7]),
              Curve("dense", dense_x, 2.0 + 10 * dense_x**-0.3),
              Curve("flat", [1, 2, 3, 4, 5, 6], [0.5] * 6),
              Curve("irregular", [0, 1, 7, 8, 50, 51, 300], [3, 2.5, 2, 1.9, 1.5, 1.52, 1.3])]
    f = DirectForecaster().forecast(curves, [40000])
    med = f.median[:, 0]
    assert np.isnan(med[:3]).all()
    assert np.isfinite(med[3:]).all()
    assert abs(med[4] - 0.5) < 0.05


def test_inputs_are_finite_for_odd_frames():
    fr = Frame.build([Curve("a", [0, 1, 2], [1.0, 1.0, 1.0]), Curve("b", [5, 6, 9], [3.0, 1, 2])])
    X = inputs(fr, fr.t_at(np.array([10.0, 100.0])))
    assert X.shape == (2, 2, 50) and np.isfinite(X).all()


def test_registered_and_shipped_model_small_and_torch_free():
    assert make_forecaster("direct").name == "direct"
    path = resources.files("curvecast") / "models" / "direct.npz"
    assert path.stat().st_size < 5e6
    assert DirectNet.load().weights[0].shape[1] == 50
    code = ("import sys; from curvecast.forecasters.direct import DirectForecaster as D; "
            "from curvecast.curve import Curve; "
            "D().forecast([Curve('a', [1, 2, 3, 4], [4, 3, 2.5, 2.2])], [9]); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
