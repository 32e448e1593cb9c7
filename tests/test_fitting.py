"""Batched robust fitting and the maps into fitting space."""

from __future__ import annotations

import numpy as np
import pytest

from curvecast.curve import Curve
from curvecast.families import FAMILIES
from curvecast.fitting import fit_family
from curvecast.transform import Frame


def _ragged(n_curves=50, seed=0):
    """pow3 curves of different lengths, padded, with their true parameters."""
    rng = np.random.default_rng(seed)
    T = 30
    t = np.tile(np.arange(1.0, T + 1), (n_curves, 1))
    theta = np.column_stack([rng.uniform(0, 1, n_curves), rng.uniform(0.5, 3, n_curves),
                             rng.uniform(0.2, 1.5, n_curves)])
    z = FAMILIES["pow3"].f(t, theta)
    n = rng.integers(8, T + 1, n_curves)
    mask = np.arange(T)[None, :] < n[:, None]
    return t, z, mask, theta


def test_batch_recovers_parameters_of_ragged_curves():
    t, z, mask, theta = _ragged()
    fit = fit_family(FAMILIES["pow3"], t, np.where(mask, z, 123.0), mask)
    assert fit.ok.all()
    np.testing.assert_allclose(fit.theta, theta, rtol=1e-3, atol=1e-4)


def test_padding_values_are_ignored():
    t, z, mask, _ = _ragged(10)
    a = fit_family(FAMILIES["exp3"], t, np.where(mask, z, 0.0), mask)
    b = fit_family(FAMILIES["exp3"], t, np.where(mask, z, 1e9), mask)
    np.testing.assert_allclose(a.theta, b.theta)


@pytest.mark.parametrize("iters, tol", [(80, 0.01), (10, 0.15)])
def test_robust_fit_ignores_a_spike(iters, tol):
    """Converged (80 iterations) the spike is ignored; at the fast default it is damped."""
    t = np.arange(1.0, 31.0)[None, :]
    z = 0.3 + 1.5 * t ** -0.6
    spiked = z.copy()
    spiked[0, 12] += 5.0
    mask = np.ones_like(t, bool)
    fam = FAMILIES["pow3"]
    robust = fit_family(fam, t, spiked, mask, iters=iters)
    plain = fit_family(fam, t, spiked, mask, iters=iters, robust=False)
    err = lambda fit: np.abs(fam.f(t, fit.theta) - z).max()
    assert err(robust) < tol < 0.2 < err(plain)
    assert robust.weights[0, 12] < 0.05


def test_covariance_shrinks_with_more_points():
    rng = np.random.default_rng(1)
    t = np.arange(1.0, 61.0)[None, :]
    z = 0.2 + t ** -0.5 + 0.01 * rng.standard_normal(t.shape)
    short = fit_family(FAMILIES["pow3"], t, z, t <= 10)
    long = fit_family(FAMILIES["pow3"], t, z, t <= 60)
    assert np.all(np.diag(long.cov[0]) < np.diag(short.cov[0]))


def test_too_few_points_is_not_ok():
    t = np.arange(1.0, 4.0)[None, :]
    fit = fit_family(FAMILIES["mmf4"], t, 1 / t, np.ones_like(t, bool))
    assert not fit.ok[0]


@pytest.mark.parametrize("goal", ["min", "max"])
def test_frame_maps_round_trip(goal):
    c = Curve("r", [0, 50, 100, 150], [3.0, 2.0, 1.5, 1.25], goal=goal)
    fr = Frame.build([c])
    assert fr.t[0].tolist() == [1.0, 2.0, 3.0, 4.0]
    loc, scale = fr.to_values(fr.z[:, :, None], np.ones((1, 4, 1)))
    np.testing.assert_allclose(loc[0, :, 0], c.values)
    assert fr.has_floor[0] == (goal == "min")
    np.testing.assert_allclose(fr.t_at(np.array([300.0])), [[7.0]])


def test_frame_positive_first_step_and_bound():
    c = Curve("r", [16, 32, 64], [0.5, 0.6, 0.7], goal="max")
    fr = Frame.build([c], bound=1.0)
    assert fr.t[0].tolist() == [1.0, 2.0, 4.0]
    assert fr.has_floor[0]
    assert (fr.z[0] > 0).all()
    # a bound that the data violate is not a floor
    assert not Frame.build([c], bound=0.6).has_floor[0]


def test_long_curves_are_binned_in_log_time():
    rng = np.random.default_rng(3)
    x = np.arange(0, 20_000.0, 2.0)
    y = 0.4 + 3 * (x + 2) ** -0.5 + 0.01 * rng.standard_normal(x.size)
    c = Curve("long", x, y)
    fr = Frame.build([c], max_points=200)
    n = int(fr.mask.sum())
    assert n <= 200 and fr.counts.sum() == x.size
    assert (fr.counts[0, :5] == 1).all()  # early points, where the curve bends, stay single
    # binning keeps the total sum of squares about the mean: between-bin + within-bin
    z = (y - fr.floor[0]) / fr.scale[0]
    between = (fr.counts[0] * (fr.z[0] - z.mean()) ** 2).sum()
    np.testing.assert_allclose(between + fr.wss[0], ((z - z.mean()) ** 2).sum(), rtol=1e-9)


def test_binned_fit_matches_the_full_fit():
    rng = np.random.default_rng(4)
    x = np.arange(1, 3001.0)
    y = 0.3 + 2 * x**-0.6 + 0.02 * rng.standard_normal(x.size)
    fits = []
    for max_points in (200, 10_000):
        fr = Frame.build([Curve("r", x, y)], max_points=max_points)
        fit = fit_family(FAMILIES["pow3"], fr.t, fr.z, fr.mask, counts=fr.counts,
                         wss=fr.wss, iters=60)
        s = fr.scale[0]  # bins change the typical value that z is measured in
        fits.append((fit.theta[0] * [s, s, 1.0], np.sqrt(fit.sigma2[0]) * s))
    (binned, noise_b), (full, noise_f) = fits
    np.testing.assert_allclose(binned, full, rtol=0.02)
    np.testing.assert_allclose(binned, [0.3, 2.0, 0.6], rtol=0.05)
    # the noise of one observation is recovered from bins plus within-bin spread
    np.testing.assert_allclose([noise_b, noise_f], 0.02, rtol=0.05)
