"""A run's forecast is the same alone, in a batch of 1,000 runs, and in any row order.

Held to 1e-12 relative: every forecaster computes each run in arrays whose shapes
depend on that run alone (see ``Forecaster.forecast``), in float64, so no BLAS kernel
choice made for the batch's size can change its numbers.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest

from curvecast.api import make_forecaster
from curvecast.curve import Curve
from curvecast.io import read_curves

RTOL = 1e-12
QS = [0.05, 0.1, 0.5, 0.9, 0.95]


def _sample():
    src = resources.files("curvecast") / "data" / "nasbench_nlp_sample.csv"
    with resources.as_file(src) as p:
        return list(read_curves(p))


def _batch(n: int = 1000, seed: int = 0) -> list[Curve]:
    """n runs of many lengths, scales and noise levels, cut from the bundled real runs."""
    rng = np.random.default_rng(seed)
    base = _sample()
    out = []
    for i in range(n):
        c = base[i % len(base)]
        k = int(rng.integers(3, len(c) + 1))
        scale, noise = 10 ** rng.uniform(-2, 2), rng.uniform(0, 0.02)
        y = c.values[:k] * scale * (1 + noise * rng.standard_normal(k))
        out.append(Curve(f"r{i}", c.steps[:k] * (1 + i % 3), y))
    return out


@pytest.fixture(scope="module")
def batch():
    return _batch()


@pytest.mark.parametrize("method", ["default", "ensemble", "bma", "pow3", "last", "mean_last"])
def test_alone_in_a_batch_and_shuffled_agree(batch, method):
    f = make_forecaster(method)
    at = [40.0, 80.0, 200.0]
    whole = f.forecast(batch, at).quantiles(QS)
    order = np.random.default_rng(1).permutation(len(batch))
    shuffled = f.forecast([batch[i] for i in order], at).quantiles(QS)
    np.testing.assert_allclose(shuffled, whole[order], rtol=RTOL, atol=0)
    for i in (0, 7, 311, 999):
        alone = f.forecast([batch[i]], at).quantiles(QS)[0]
        np.testing.assert_allclose(alone, whole[i], rtol=RTOL, atol=0)
    assert np.isfinite(whole).mean() > 0.95


EXTREME = {
    "near the largest float": lambda x: 1e308 * (1 - 0.5 / x),
    "near the smallest normal": lambda x: 1e-308 * (1 + 1 / x),
    "denormal": lambda x: 5e-324 * x,
    "one spike of 1e300": lambda x: np.r_[1e300, np.ones(x.size - 1)],
    "explodes to 1e200": lambda x: np.r_[np.ones(10), np.full(x.size - 10, 1e200)],
    "constant": lambda x: np.ones(x.size),
}


@pytest.mark.parametrize("method", ["ensemble", "bma", "last", "pow3", "study"])
@pytest.mark.parametrize("case", list(EXTREME))
def test_extreme_values_raise_no_numpy_warning(method, case):
    """pytest turns a RuntimeWarning from curvecast's code into an error (pyproject.toml)."""
    x = np.arange(1, 21.0)
    f = make_forecaster(method).forecast([Curve("r", x, EXTREME[case](x))], [40.0, 100.0])
    f.quantiles([0.1, 0.5, 0.9]), f.mean, f.eta(0.5, 0.5), f.logpdf(1.0), f.samples(5), f.cdf(1.0)
