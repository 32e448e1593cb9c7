"""A small Gaussian-process regression for the study-aware forecaster.

Squared-exponential kernel with one length scale per input (ARD), plus a linear term
(Bayesian linear regression with one shared variance: trends the squared exponential
would forget away from the data), a constant term (a shared offset of all targets) and
Gaussian noise; hyperparameters by maximum marginal
likelihood with weak log-normal priors, which keep them sane when only a few runs have
finished (Rasmussen & Williams 2006, ch. 2 and 5). Several target columns share one
kernel, so one Cholesky factor answers every requested step; leave-one-out predictions
come in closed form (R&W eq. 5.12), which is what the conformal calibration needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg, optimize

PRIOR_SD = 2.0
"""Prior sd of every log hyperparameter around its default (length scale 1 on
standardised inputs, signal and offset the targets' variance, noise a tenth of it)."""
MAX_FIT = 200
"""Hyperparameters are fitted on at most this many points (a random subset)."""


def _kernel(A: np.ndarray, B: np.ndarray, ell: np.ndarray) -> np.ndarray:
    d = (A[:, None, :] - B[None, :, :]) / ell
    return np.exp(-0.5 * np.einsum("ijk,ijk->ij", d, d))


@dataclass
class GP:
    """A fitted GP: inputs (n, D), targets (n, C), hyperparameters, Cholesky factor."""

    X: np.ndarray
    ell: np.ndarray
    lin: float
    signal: float
    offset: float
    noise: float
    chol: np.ndarray
    alpha: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray, Y: np.ndarray, fit_column: int = -1, seed: int = 0) -> GP:
        """Fit hyperparameters on column ``fit_column`` of Y, then condition on all columns."""
        var = max(float(np.var(Y[:, fit_column])), 1e-12)
        D = X.shape[1]
        prior = np.concatenate([np.zeros(D), np.log([0.1 * var / D, var, var, 0.1 * var])])
        idx = np.arange(len(X))
        if idx.size > MAX_FIT:
            idx = np.sort(np.random.default_rng(seed).choice(idx.size, MAX_FIT, replace=False))
        Xf, yf = X[idx], Y[idx, fit_column]
        res = optimize.minimize(_nll, prior, args=(Xf, yf, prior), jac=True,
                                method="L-BFGS-B", bounds=[(p - 8, p + 8) for p in prior])
        theta = res.x if np.all(np.isfinite(res.x)) else prior
        return cls.condition(X, Y, theta)

    @classmethod
    def condition(cls, X: np.ndarray, Y: np.ndarray, theta: np.ndarray) -> GP:
        D = X.shape[1]
        ell, (lin, signal, offset, noise) = np.exp(theta[:D]), np.exp(theta[D:])
        K = signal * _kernel(X, X, ell) + lin * X @ X.T + offset + noise * np.eye(len(X))
        chol = linalg.cholesky(K + 1e-10 * signal * np.eye(len(X)), lower=True)
        alpha = linalg.cho_solve((chol, True), Y)
        return cls(X, ell, lin, signal, offset, noise, chol, alpha)

    def predict(self, Xq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean (q, C) and predictive sd of a new observation (q,)."""
        k = self.signal * _kernel(Xq, self.X, self.ell) + self.lin * Xq @ self.X.T + self.offset
        v = linalg.solve_triangular(self.chol, k.T, lower=True)
        prior = self.signal + self.lin * (Xq * Xq).sum(axis=1) + self.offset + self.noise
        var = prior - np.einsum("ij,ij->j", v, v)
        return k @ self.alpha, np.sqrt(np.maximum(var, 1e-12 * self.signal))

    def loo(self, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Leave-one-out predictive means (n, C) and sds (n,) of the training points."""
        Kinv = linalg.cho_solve((self.chol, True), np.eye(len(self.X)))
        d = np.diag(Kinv)
        return Y - self.alpha / d[:, None], np.sqrt(1.0 / d)


def _nll(theta, X, y, prior):
    """Negative log marginal likelihood plus prior, and its gradient."""
    n, D = X.shape
    ell, (lin, signal, offset, noise) = np.exp(theta[:D]), np.exp(theta[D:])
    E, L = _kernel(X, X, ell), X @ X.T
    K = signal * E + lin * L + offset + (noise + 1e-10 * signal) * np.eye(n)
    try:
        chol = linalg.cholesky(K, lower=True)
    except linalg.LinAlgError:
        return 1e25, np.zeros_like(theta)
    alpha = linalg.cho_solve((chol, True), y)
    nll = 0.5 * y @ alpha + np.log(np.diag(chol)).sum() + 0.5 * n * np.log(2 * np.pi)
    W = np.outer(alpha, alpha) - linalg.cho_solve((chol, True), np.eye(n))
    grad = np.empty_like(theta)
    for k in range(D):  # dK/dlog(ell_k) = signal * E * (x_ik - x_jk)^2 / ell_k^2
        sq = (X[:, None, k] - X[None, :, k]) ** 2 / ell[k] ** 2
        grad[k] = -0.5 * np.sum(W * signal * E * sq)
    grad[D] = -0.5 * lin * np.sum(W * L)
    grad[D + 1] = -0.5 * np.sum(W * signal * E)
    grad[D + 2] = -0.5 * np.sum(W) * offset
    grad[D + 3] = -0.5 * np.trace(W) * noise
    r = theta - prior
    return nll + 0.5 * r @ r / PRIOR_SD**2, grad + r / PRIOR_SD**2
