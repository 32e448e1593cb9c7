"""Tests for the learning-curve families: shapes, Jacobians, starts, and recovery."""

import numpy as np
import pytest
from scipy.optimize import least_squares

from curvecast.families import FAMILIES, Family, Summary

NAMES = [
    "pow3", "pow2", "pow4", "log2", "exp2", "exp3", "exp4", "expp3", "vap3", "mmf4",
    "wbl4", "janoschek", "ilog2", "logpower3", "loglinear", "hill3", "lin2", "last1",
]

# A parameter vector per family whose curve is clearly bent over t = 1..30, so that
# every parameter shows in the data (noise-free fits must recover it).
TYPICAL = {
    "pow3": [0.1, 1.0, 0.8],
    "pow2": [1.0, 0.5],
    "pow4": [0.1, 1.0, 1.0, 2.0],
    "log2": [0.2, 1.0],
    "exp2": [1.0, 0.1],
    "exp3": [0.1, 1.0, 0.15],
    "exp4": [0.2, 0.5, 0.0, 0.5],
    "expp3": [0.2, 0.5, 0.5],
    "vap3": [-1.0, 1.0, -0.3],
    "mmf4": [0.1, 1.0, 0.2, 1.5],
    "wbl4": [0.1, 1.0, 0.1, 0.7],
    "janoschek": [0.1, 1.0, 0.2, 0.8],
    "ilog2": [0.1, 0.5],
    "logpower3": [1.0, np.log(5.0), 1.5],
    "loglinear": [-0.2, 2.0],
    "hill3": [1.0, -1.5, 5.0],
    "lin2": [-0.01, 1.0],
    "last1": [0.5],
}

T_OBS = np.arange(1.0, 31.0)


def summarise(t: np.ndarray, z: np.ndarray) -> Summary:
    """Summary of curves (B, T), with medians of three points at each end."""
    return Summary(
        t0=t[:, 0], t1=t[:, -1],
        z0=np.median(z[:, :3], axis=1), z1=np.median(z[:, -3:], axis=1),
        zmin=z.min(axis=1), zmax=z.max(axis=1),
    )


def sample_params(fam: Family, rng: np.random.Generator, n: int) -> np.ndarray:
    """Random points inside the bounds (positive-bounded ones log-uniform)."""
    cols = []
    for lo, hi in zip(fam.lower, fam.upper):
        if lo > 0:
            cols.append(np.exp(rng.uniform(np.log(max(lo, 1e-2)), np.log(min(hi, 3.0)), n)))
        else:
            cols.append(rng.uniform(max(lo, -2.0), min(hi, 2.0), n))
    return np.stack(cols, axis=1)


@pytest.fixture(params=NAMES)
def fam(request) -> Family:
    return FAMILIES[request.param]


def test_registry():
    assert list(FAMILIES)[: len(NAMES)] == NAMES
    for name, f in FAMILIES.items():
        assert f.name == name and f.citation.strip()
        assert len(f.lower) == len(f.upper) == f.n_params == len(f.params)
        assert all(lo < hi for lo, hi in zip(f.lower, f.upper))
    assert set(TYPICAL) == set(NAMES)


def test_shapes(fam):
    B, T = 3, 7
    t = np.tile(np.linspace(1.0, 40.0, T), (B, 1))
    p = np.tile(TYPICAL[fam.name], (B, 1))
    assert fam.f(t, p).shape == (B, T)
    assert fam.jac(t, p).shape == (B, T, fam.n_params)
    # t shared across the batch broadcasts too
    assert fam.f(t[:1], p).shape == (B, T)
    assert fam.jac(t[:1], p).shape == (B, T, fam.n_params)


def test_jacobian_matches_finite_differences(fam):
    rng = np.random.default_rng(0)
    t = np.array([[1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0, 34.0, 55.0, 100.0, 500.0]])
    p = np.vstack([np.asarray(TYPICAL[fam.name], float), sample_params(fam, rng, 40)])
    checked = 0
    for x in p:
        x = x[None]
        J = fam.jac(t, x)[0]
        fd = np.empty_like(J)
        for j in range(fam.n_params):
            h = 1e-6 * max(1.0, abs(x[0, j]))
            up, dn = x.copy(), x.copy()
            up[0, j] += h
            dn[0, j] -= h
            fd[:, j] = (fam.f(t, up)[0] - fam.f(t, dn)[0]) / (2 * h)
        if not (np.isfinite(J).all() and np.isfinite(fd).all()):
            continue  # outside the domain (e.g. loglinear's argument <= 0)
        scale = max(1.0, np.abs(J).max())
        np.testing.assert_allclose(J, fd, rtol=1e-5, atol=1e-7 * scale, err_msg=str(x))
        checked += 1
    assert checked >= 10


def synthetic_curves() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    t = np.arange(1.0, 51.0)
    z = np.stack([
        0.1 + t**-0.7,                                  # falling power law
        0.2 + 0.8 * np.exp(-0.2 * t),                   # falling exponential
        np.full_like(t, 0.5),                           # flat
        0.1 + t**-0.5 + rng.normal(0, 0.05, t.size),    # noisy
        0.5 - 0.3 * np.exp(-0.1 * t),                   # rising
        np.maximum(0.0, 0.5 - 0.02 * t),                # hits a floor of exactly 0
    ])
    return np.tile(t, (len(z), 1)), z


@pytest.mark.parametrize("single", [False, True], ids=["curves", "one-point"])
def test_init_finite_and_within_bounds(fam, single):
    t, z = synthetic_curves()
    if single:  # degenerate summaries: t0 == t1, z0 == z1
        t, z = t[:, :1], z[:, :1]
    starts = fam.init(summarise(t, z))
    B, S, P = starts.shape
    assert (B, P) == (z.shape[0], fam.n_params) and 2 <= S <= 4
    assert np.isfinite(starts).all()
    assert (starts >= np.array(fam.lower)).all() and (starts <= np.array(fam.upper)).all()


def fit(fam: Family, t: np.ndarray, z: np.ndarray):
    """Best least-squares fit of fam to (t, z) over its starts."""
    tt = t[None]
    best = None
    for x0 in fam.init(summarise(tt, z[None]))[0]:
        try:
            res = least_squares(
                lambda p: fam.f(tt, p[None])[0] - z, x0,
                jac=lambda p: fam.jac(tt, p[None])[0],
                bounds=(fam.lower, fam.upper), method="trf",
                x_scale="jac", xtol=1e-14, ftol=1e-14, gtol=1e-14, max_nfev=2000,
            )
        except ValueError:  # non-finite residuals at the start: an invalid start
            continue
        if np.isfinite(res.cost) and (best is None or res.cost < best.cost):
            best = res
    assert best is not None
    return best.x


def test_recovers_noise_free_parameters(fam):
    truth = np.asarray(TYPICAL[fam.name], float)
    z = fam.f(T_OBS[None], truth[None])[0]
    x = fit(fam, T_OBS, z)
    assert np.abs(fam.f(T_OBS[None], x[None])[0] - z).max() < 1e-6
    np.testing.assert_allclose(x, truth, rtol=1e-3, atol=1e-6)


def test_fits_noisy_curve(fam):
    truth = np.asarray(TYPICAL[fam.name], float)
    z_true = fam.f(T_OBS[None], truth[None])[0]
    z = z_true + np.random.default_rng(2).normal(0, 0.01, T_OBS.size)
    x = fit(fam, T_OBS, z)
    assert np.abs(fam.f(T_OBS[None], x[None])[0] - z_true).max() < 0.03
