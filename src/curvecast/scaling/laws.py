"""Scaling-law forms: loss as a function of model size, data size or both.

Each law is evaluated in log space, ``log L(x; theta)``, on a batch of parameter
vectors at once (shape ``(k, p)`` -> ``(k, n)``), because the fit compares log-losses
(Hoffmann et al. 2022, approach 3) and scores thousands of starting points in one call.
``theta`` lives in the fitting space: coefficients as their logarithms (they span many
orders of magnitude), exponents as they are. ``Law.natural`` maps back.

Sums of positive terms are written as log-sum-exp so that no term under- or overflows
(Besiroglu et al. 2024 fit Chinchilla this way).

>>> law = LAWS["chinchilla"]
>>> law.params, law.inputs
(('E', 'A', 'B', 'alpha', 'beta'), ('n', 'd'))
>>> theta = law.to_theta({"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28})
>>> round(float(law.predict(theta, {"n": 70e9, "d": 1.4e12})[0]), 3)
1.937
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from ..errors import UsageError

Inputs = Mapping[str, np.ndarray]

EXPONENT = (0.0, 3.0)
"""Bounds of every exponent. Zero is a degenerate law (a constant term); an exponent
there is reported (see ``fit``)."""
LOG_COEF = (-20.0, 80.0)
"""Bounds of log-coefficients: wide enough for A x^-alpha with x up to ~1e13, alpha 3."""

# Hoffmann et al. (2022), approach 3 grid, as Besiroglu et al. (2024) use it.
_HOFFMANN_EXP = (0.0, 0.5, 1.0, 1.5, 2.0)
_HOFFMANN_E = (-1.0, -0.5, 0.0, 0.5, 1.0)
_HOFFMANN_COEF = (0.0, 5.0, 10.0, 15.0, 20.0, 25.0)

# Hoffmann et al. (2022) approach-3 estimates; Muennighoff et al. (2023) size the
# "unique parameters" U_N of a data budget with them.
_CHINCHILLA_PUBLISHED = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}


@dataclass(frozen=True)
class Law:
    """A scaling law: its formula, parameters, bounds, starting grid and citation.

    ``log_loss(theta, X)`` gives ``log L`` for a batch of ``theta`` (k, p) at the
    points ``X`` (a mapping input name -> array of n): shape (k, n). ``logged[j]``
    says parameter j is fitted as its logarithm. ``decreasing`` names the inputs along
    which L never increases (with non-negative coefficients and exponents).
    """

    name: str
    formula: str
    citation: str
    inputs: tuple[str, ...]
    params: tuple[str, ...]
    logged: tuple[bool, ...]
    bounds: tuple[tuple[float, float], ...]
    log_loss: Callable[[np.ndarray, Inputs], np.ndarray] = field(repr=False)
    grid: Callable[[Inputs, np.ndarray], np.ndarray] = field(repr=False)
    decreasing: tuple[str, ...] = ()

    @property
    def n_params(self) -> int:
        return len(self.params)

    def natural(self, theta) -> np.ndarray:
        """Parameters in their natural units (coefficients exponentiated), same shape.

        >>> LAWS["power"].natural([np.log(2.0), np.log(3.0), 0.5]).round(6).tolist()
        [2.0, 3.0, 0.5]
        """
        theta = np.asarray(theta, float)
        return np.where(self.logged, np.exp(np.where(self.logged, theta, 0.0)), theta)

    def to_theta(self, values: Mapping[str, float]) -> np.ndarray:
        """The fitting-space vector of parameters given by name in natural units."""
        nat = np.array([float(values[p]) for p in self.params])
        return np.where(self.logged, np.log(np.where(self.logged, nat, 1.0)), nat)

    def predict(self, theta, X: Inputs) -> np.ndarray:
        """L at the points X for one theta (p,) -> (n,), or a batch (k, p) -> (k, n)."""
        theta = np.asarray(theta, float)
        out = np.exp(self.log_loss(np.atleast_2d(theta), _inputs(X)))
        return out[0] if theta.ndim == 1 else out


def _inputs(X: Inputs) -> dict[str, np.ndarray]:
    return {k: np.atleast_1d(np.asarray(v, float)) for k, v in X.items()}


def _lse(*terms: np.ndarray) -> np.ndarray:
    """log(sum(exp(t))) over a few broadcastable terms, without overflow."""
    m = terms[0]
    for t in terms[1:]:
        m = np.maximum(m, t)
    m = np.where(np.isfinite(m), m, 0.0)
    total = np.exp(terms[0] - m)
    for t in terms[1:]:
        total += np.exp(t - m)
    return m + np.log(total)


def _product(*axes) -> np.ndarray:
    """Every combination of the values on each axis: (prod of lengths, number of axes)."""
    mesh = np.meshgrid(*(np.asarray(a, float) for a in axes), indexing="ij")
    return np.stack(mesh, axis=-1).reshape(-1, len(axes))


def _e_grid(y: np.ndarray) -> tuple[float, ...]:
    """Starts for log E: Hoffmann's, plus fractions of the smallest loss seen (so that
    losses far from ~e, error rates of 0.01 say, get a sensible start)."""
    low = float(np.log(np.min(y)))
    return tuple(sorted(set(_HOFFMANN_E) | {low + np.log(f) for f in (0.05, 0.5, 0.9)}))


# --------------------------------------------------------------------------- one variable


def _power(theta, X):
    e, a, alpha = (theta[:, j, None] for j in range(3))
    lx = np.log(X["x"])[None, :]
    return np.logaddexp(e, a - alpha * lx)


def _power_grid(X, y):
    lx = np.log(X["x"])
    alphas = (0.1, 0.25, 0.5, 1.0, 2.0)
    starts = []
    for e, alpha in itertools.product(_e_grid(y), alphas):
        # A such that A x^-alpha spans the observed excess loss at the smallest x
        excess = max(float(np.max(y)) - np.exp(e), 1e-3 * float(np.max(y)))
        for shift in (-2.0, 0.0, 2.0):
            starts.append((e, np.log(excess) + alpha * lx.min() + shift, alpha))
    return np.array(starts)


def _plain_power(theta, X):
    a, alpha = theta[:, 0, None], theta[:, 1, None]
    return a - alpha * np.log(X["x"])[None, :]


def _plain_power_grid(X, y):
    lx = np.log(X["x"])
    alphas = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0)
    return np.array([(np.log(np.median(y)) + a * np.median(lx), a) for a in alphas])


def _bnsl(theta, X):
    e, b, c0, c1, ld, lf = (theta[:, j, None] for j in range(6))
    lx = np.log(X["x"])[None, :]
    f = np.exp(lf)
    z = (lx - ld) / f
    soft = np.logaddexp(0.0, z)  # log(1 + (x/d)^(1/f))
    return np.logaddexp(e, b - c0 * lx - c1 * f * soft)


def _bnsl_grid(X, y):
    lx = np.log(X["x"])
    breaks = np.quantile(lx, (0.25, 0.5, 0.75))
    starts = []
    for e, c0, c1, ld, lf in itertools.product(
        _e_grid(y)[::2], (0.0, 0.3, 1.0), (0.1, 0.5, 1.5), breaks, (np.log(0.3), 0.0)
    ):
        excess = max(float(np.max(y)) - np.exp(e), 1e-3 * float(np.max(y)))
        starts.append((e, np.log(excess) + c0 * lx.min(), c0, c1, ld, lf))
    return np.array(starts)


# --------------------------------------------------------------------------- two variables


def _chinchilla(theta, X):
    e, a, b, alpha, beta = (theta[:, j, None] for j in range(5))
    ln, ld = np.log(X["n"])[None, :], np.log(X["d"])[None, :]
    return _lse(e, a - alpha * ln, b - beta * ld)


def _chinchilla_grid(X, y):
    return _product(_e_grid(y), _HOFFMANN_COEF, _HOFFMANN_COEF, _HOFFMANN_EXP, _HOFFMANN_EXP)


def _overtraining(theta, X):
    """Gadre et al. 2024, eq. (4): L = E + (a M^eta + b M^-eta) C^-eta, C = 6 N D, M = D / N.
    It is Chinchilla's law with alpha = beta = 2 eta, written in compute and the token
    multiplier (a = A 6^eta, b = B 6^eta)."""
    e, a, b, eta = (theta[:, j, None] for j in range(4))
    ln, ld = np.log(X["n"])[None, :], np.log(X["d"])[None, :]
    lc, lm = np.log(6.0) + ln + ld, ld - ln
    return _lse(e, a + eta * (lm - lc), b - eta * (lm + lc))


def _overtraining_grid(X, y):
    return _product(_e_grid(y), _HOFFMANN_COEF, _HOFFMANN_COEF, (0.05, 0.1, 0.15, 0.25, 0.5))


def optimal_n_for_tokens(d, params: Mapping[str, float] = _CHINCHILLA_PUBLISHED):
    """Compute-optimal parameters for a data budget of ``d`` tokens under a Chinchilla
    law (C = 6ND): from N* = G (C/6)^a, D* = (C/6)^b / G with G = (alpha A / beta B)^(1 /
    (alpha + beta)), a = beta / (alpha + beta), b = alpha / (alpha + beta) (Hoffmann et al.
    2022, eq. 4), N*(D) = G (G D)^(beta / alpha). Default parameters: Hoffmann's own.

    >>> round(float(optimal_n_for_tokens(1.4e12)) / 1e9, 1)  # Chinchilla's 1.4T tokens
    17.3
    """
    A, B, alpha, beta = (params[k] for k in ("A", "B", "alpha", "beta"))
    G = split_constant(A, B, alpha, beta)
    return G * (G * np.asarray(d, float)) ** (beta / alpha)


def split_constant(A, B, alpha, beta):
    """G = (alpha A / (beta B))^(1 / (alpha + beta)) of Hoffmann et al.'s eq. 4, which
    sets the compute-optimal N* = G (C / k)^(beta / (alpha + beta)); arrays broadcast."""
    return (alpha * A / (beta * B)) ** (1.0 / (alpha + beta))


def _effective(unique, total, log_rstar):
    """Muennighoff et al.'s effective count of a repeated resource: U + U R* (1 - exp(-R /
    R*)) with R = total / U - 1 repetitions beyond the first (eq. 5); in log units."""
    rstar = np.exp(log_rstar)
    reps = np.maximum(total / unique - 1.0, 0.0)[None, :]
    return np.log(unique)[None, :] + np.log1p(rstar * -np.expm1(-reps / rstar))


def _data_constrained(theta, X):
    e, a, b, alpha, beta, lrd, lrn = (theta[:, j, None] for j in range(7))
    n, d, u = X["n"], X["d"], X["u"]
    unique_d = np.minimum(u, d)
    unique_n = np.minimum(n, optimal_n_for_tokens(unique_d))
    ln_eff = _effective(unique_n, n, lrn)
    ld_eff = _effective(unique_d, d, lrd)
    return _lse(e, a - alpha * ln_eff, b - beta * ld_eff)


def _data_constrained_grid(X, y):
    base = _product(_e_grid(y)[::2], _HOFFMANN_COEF[::2] + (25.0,), _HOFFMANN_COEF[::2] + (25.0,),
                    _HOFFMANN_EXP[1:4], _HOFFMANN_EXP[1:4])  # fmt: skip
    extra = _product(np.log([5.0, 15.0, 50.0]), np.log([1.0, 5.0, 20.0]))
    return np.hstack([np.repeat(base, len(extra), 0), np.tile(extra, (len(base), 1))])


_EXP = EXPONENT
_COEF = LOG_COEF

LAWS: dict[str, Law] = {
    law.name: law
    for law in (
        Law(
            name="power",
            formula="L = E + A x^-alpha",
            citation="Power law with an irreducible term, e.g. Hestness et al. 2017 "
                     "(arXiv:1712.00409); Alabdulmohsin et al. 2022's M2 (arXiv:2209.06640)",
            inputs=("x",), params=("E", "A", "alpha"), logged=(True, True, False),
            bounds=(_COEF, _COEF, _EXP), log_loss=_power, grid=_power_grid,
            decreasing=("x",),
        ),
        Law(
            name="plain_power",
            formula="L = A x^-alpha",
            citation="Pure power law, a straight line in log-log axes (Kaplan et al. 2020, "
                     "arXiv:2001.08361; Alabdulmohsin et al. 2022's M1)",
            inputs=("x",), params=("A", "alpha"), logged=(True, False),
            bounds=(_COEF, _EXP), log_loss=_plain_power, grid=_plain_power_grid,
            decreasing=("x",),
        ),
        Law(
            name="bnsl",
            formula="L = E + B x^-c0 (1 + (x/d1)^(1/f1))^(-c1 f1)",
            citation="Smoothly broken power law with one break: Caballero et al. 2023, "
                     "'Broken Neural Scaling Laws', ICLR (arXiv:2210.14891), eq. 1",
            inputs=("x",), params=("E", "B", "c0", "c1", "d1", "f1"),
            logged=(True, True, False, False, True, True),
            bounds=(_COEF, _COEF, _EXP, (-10.0, 10.0), (-50.0, 50.0), (np.log(0.01), np.log(10.0))),
            log_loss=_bnsl, grid=_bnsl_grid,
        ),
        Law(
            name="chinchilla",
            formula="L = E + A / N^alpha + B / D^beta",
            citation="Hoffmann et al. 2022, 'Training Compute-Optimal Large Language Models' "
                     "(arXiv:2203.15556), approach 3; fitted as Besiroglu et al. 2024, "
                     "'Chinchilla Scaling: A replication attempt' (arXiv:2404.10102)",
            inputs=("n", "d"), params=("E", "A", "B", "alpha", "beta"),
            logged=(True, True, True, False, False),
            bounds=(_COEF, _COEF, _COEF, _EXP, _EXP), log_loss=_chinchilla,
            grid=_chinchilla_grid, decreasing=("n", "d"),
        ),
        Law(
            name="overtraining",
            formula="L = E + (a M^eta + b M^-eta) C^-eta, C = 6ND, token multiplier M = D/N",
            citation="Gadre et al. 2024, 'Language models scale reliably with over-training "
                     "and on downstream tasks' (arXiv:2403.08540), eq. 4 (Chinchilla's law "
                     "with alpha = beta = 2 eta)",
            inputs=("n", "d"), params=("E", "a", "b", "eta"), logged=(True, True, True, False),
            bounds=(_COEF, _COEF, _COEF, _EXP), log_loss=_overtraining,
            grid=_overtraining_grid, decreasing=("n", "d"),
        ),
        Law(
            name="data_constrained",
            formula="L = E + A / N'^alpha + B / D'^beta, D' = U_D + U_D R_D* (1 - exp(-R_D / "
                    "R_D*)), N' likewise with U_N = min(N, N*(U_D)) and R_N*",
            citation="Muennighoff et al. 2023, 'Scaling Data-Constrained Language Models', "
                     "NeurIPS (arXiv:2305.16264), eq. 5",
            inputs=("n", "d", "u"), params=("E", "A", "B", "alpha", "beta", "R_D", "R_N"),
            logged=(True, True, True, False, False, True, True),
            bounds=(_COEF, _COEF, _COEF, _EXP, _EXP, (np.log(0.1), np.log(1e4)),
                    (np.log(0.1), np.log(1e4))),
            log_loss=_data_constrained, grid=_data_constrained_grid, decreasing=("n", "d"),
        ),
    )
}  # fmt: skip
"""Every law by name."""


def get_law(name: str) -> Law:
    """The law called ``name`` (see ``LAWS``); a UsageError lists the names otherwise."""
    if name not in LAWS:
        raise UsageError(f"unknown law {name!r}; use one of {', '.join(LAWS)}")
    return LAWS[name]
