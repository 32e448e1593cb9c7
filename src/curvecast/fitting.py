"""Batched robust nonlinear least squares: many curves, one family, one call.

Curves arrive padded to a common length with a mask, so a thousand curves cost about
as much Python overhead as one. The solver is Levenberg-Marquardt with Marquardt's
diagonal scaling and per-problem damping, projected onto the family's bounds, started
from several data-driven points per curve (all solved together, best kept). Outliers
(a spiking evaluation, the untrained first point) are handled by iteratively
reweighted least squares with Cauchy weights on a robust residual scale.

The result carries what a Laplace approximation needs: the estimate, the robust
residual variance and the Gauss-Newton covariance of the parameters.

>>> from curvecast.families import FAMILIES
>>> t = np.arange(1.0, 21.0)[None, :]
>>> z = 0.2 + 1.0 * t ** -0.7
>>> fit = fit_family(FAMILIES["pow3"], t, z, np.ones_like(t, bool))
>>> np.round(fit.theta, 3).tolist()
[[0.2, 1.0, 0.7]]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .families import Family, Summary
from .rowstats import nanmedian

CAUCHY_C = 2.385
"""Scale of the Cauchy weights, in robust standard deviations (95% efficiency)."""
CAUCHY_CONSISTENCY = 0.7948
"""E[w r^2] / E[w] for r ~ N(0, 1) under those weights: divides the weighted mean square
so that the noise estimate is unbiased for Gaussian noise."""
ROBUST_ROUNDS = 1
SIGMA_FLOOR = 1e-5
"""Smallest residual standard deviation, in units of the curve's typical value."""
START_ITERS = 3
"""Iterations run from every starting point before all but the best are dropped."""


@dataclass(frozen=True)
class FamilyFit:
    """Fit of one family to a batch of B curves.

    theta (B, P): estimates; sigma2 (B,): robust residual variance; cov (B, P, P):
    parameter covariance; weights (B, T): final robust weights (0 where masked);
    n (B,): points used; ok (B,): fit is finite and usable; cost (B,): weighted SSE.
    """

    family: Family
    theta: np.ndarray
    sigma2: np.ndarray
    cov: np.ndarray
    weights: np.ndarray
    n: np.ndarray
    ok: np.ndarray
    cost: np.ndarray


def summarise(t: np.ndarray, z: np.ndarray, mask: np.ndarray) -> Summary:
    """Robust start/end values of each padded curve for the families' starting points."""
    n = mask.sum(axis=1)
    k = np.maximum(1, n // 5)[:, None]  # a fifth of the points at each end, at least one
    first = mask & (np.cumsum(mask, axis=1) <= k)
    last = mask & (np.cumsum(mask[:, ::-1], axis=1)[:, ::-1] <= k)
    # nanmin without its 'All-NaN slice' warning: values near 1e308 can map to NaN
    seen = mask & ~np.isnan(z)
    some = seen.any(axis=1)
    return Summary(
        t0=np.where(mask, t, np.inf).min(axis=1),
        t1=np.where(mask, t, -np.inf).max(axis=1),
        z0=nanmedian(np.where(first, z, np.nan)),
        z1=nanmedian(np.where(last, z, np.nan)),
        zmin=np.where(some, np.where(seen, z, np.inf).min(axis=1), np.nan),
        zmax=np.where(some, np.where(seen, z, -np.inf).max(axis=1), np.nan),
    )


def _residuals(fam: Family, t, z, w, theta):
    with np.errstate(all="ignore"):
        r = fam.f(t, theta) - z
    r = np.where(w > 0, r, 0.0)
    return r


def _cost(r, w):
    with np.errstate(over="ignore", invalid="ignore"):  # a wild step overflows: cost inf
        c = (w * r * r).sum(axis=1)
    return np.where(np.isfinite(c), c, np.inf)


def _normal_equations(fam: Family, t, w, theta, r):
    """J'WJ and J'Wr; ``bad`` marks problems whose Jacobian is not finite."""
    sw = np.sqrt(w)[..., None]
    with np.errstate(all="ignore"):
        Js = fam.jac(t, theta) * sw
    bad = ~np.isfinite(Js).all(axis=(1, 2))
    if bad.any():
        Js = np.where(np.isfinite(Js), Js, 0.0)
    Jt = np.swapaxes(Js, 1, 2)
    A = Jt @ Js
    g = (Jt @ (r[..., None] * sw))[..., 0]
    return A, g, bad


def _robust_weights(r, mask):
    """Cauchy weights on the median absolute residual of each problem.

    Redescending, so a gross spike (an exploding evaluation, the untrained first
    point) ends with almost no weight, unlike Huber's, whose pull never vanishes.
    """
    a = np.where(mask, np.abs(r), np.nan)
    with np.errstate(all="ignore"):
        s = 1.4826 * nanmedian(a, keepdims=True)
        rms = np.sqrt(np.nanmean(a * a, axis=1, keepdims=True))
    # a near-perfect fit has MAD ~ 0: fall back to a tiny fraction of the RMS
    s = np.maximum(s, 1e-3 * rms) + 1e-300
    with np.errstate(all="ignore"):
        w = 1.0 / (1.0 + (a / (CAUCHY_C * s)) ** 2)
    return np.where(mask, w, 0.0)


def _lm(fam, t, z, w, theta, lo, hi, iters, tol=1e-4):
    """Projected Levenberg-Marquardt on problems with fixed weights w.

    Problems leave the working set once they converge (relative cost change below
    ``tol`` on an accepted step, or damping grown past all use), so late iterations
    only pay for the few hard curves.
    """
    B, P = theta.shape
    lam = np.full(B, 1e-2)
    r = _residuals(fam, t, z, w, theta)
    cost = _cost(r, w)
    eye = np.eye(P)
    active = np.arange(B)
    for _ in range(iters):
        if active.size == 0:
            break
        ta, za, wa, th, ra, la = t[active], z[active], w[active], theta[active], r[active], lam[active]
        A, g, bad = _normal_equations(fam, ta, wa, th, ra)
        d = np.einsum("bpp->bp", A)
        # Marquardt scaling plus a tiny ridge, so a parameter without effect (a zero
        # column of J) cannot make the system singular
        ridge = 1e-9 * d.max(axis=1, keepdims=True) + 1e-280
        damp = (la[:, None] * d + ridge)[:, :, None] * eye
        try:
            step = np.linalg.solve(A + damp, -g[..., None])[..., 0]
        except np.linalg.LinAlgError:
            step = _safe_solve(A + damp, -g)
        cand = np.clip(th + step, lo, hi)
        cand = np.where(np.isfinite(cand), cand, th)
        r_new = _residuals(fam, ta, za, wa, cand)
        c_new = _cost(r_new, wa)
        c_old = cost[active]
        better = (c_new < c_old) & ~bad
        theta[active] = np.where(better[:, None], cand, th)
        r[active] = np.where(better[:, None], r_new, ra)
        cost[active] = np.where(better, c_new, c_old)
        lam[active] = np.where(better, np.maximum(la / 3.0, 1e-9), la * 4.0)
        with np.errstate(invalid="ignore"):
            small = (c_old - c_new) <= tol * np.maximum(c_old, 1e-300)
        done = bad | (better & small) | (lam[active] > 1e8) | (cost[active] == 0)
        active = active[~done]
    return theta, r, cost


def _safe_solve(A, b):
    """Solve each system alone, giving a zero step where it is singular (rare path)."""
    out = np.zeros_like(b)
    for i in range(A.shape[0]):
        try:
            out[i] = np.linalg.solve(A[i], b[i])
        except np.linalg.LinAlgError:
            pass
    return out


def applicable(fam: Family, mask: np.ndarray, has_floor: np.ndarray) -> np.ndarray:
    """(B,) curves ``fam`` can be fitted to: more points than parameters, and a real
    floor where the family pins its asymptote to 0."""
    return (mask.sum(axis=1) > fam.n_params) & (has_floor | (not fam.needs_floor))


def fit_frame(fam: Family, frame, *, iters: int, robust: bool):
    """(rows, fit) of ``fam`` over the applicable curves of a transform.Frame; fit is
    None when there are none."""
    rows = np.flatnonzero(applicable(fam, frame.mask, frame.has_floor))
    if rows.size == 0:
        return rows, None
    fit = fit_family(fam, frame.t[rows], frame.z[rows], frame.mask[rows],
                     counts=frame.counts[rows], wss=frame.wss[rows], iters=iters, robust=robust)
    return rows, fit


def fit_family(
    fam: Family,
    t: np.ndarray,
    z: np.ndarray,
    mask: np.ndarray,
    *,
    counts: np.ndarray | None = None,
    wss: np.ndarray | None = None,
    iters: int = 10,
    robust: bool = True,
) -> FamilyFit:
    """Fit ``fam`` to every padded curve (t, z, mask: shape (B, T)) at once.

    ``counts`` (B, T) says how many raw points each fitted point averages (default 1)
    and ``wss`` (B,) their within-bin sum of squares (see :mod:`curvecast.transform`).
    All of the family's starting points are refined together; the one with the lowest
    cost is kept. With ``robust``, rounds of Cauchy reweighting follow.
    """
    B, T = t.shape
    P = fam.n_params
    lo = np.asarray(fam.lower, float)
    hi = np.asarray(fam.upper, float)
    w0 = np.where(mask, 1.0 if counts is None else counts, 0.0)
    starts = fam.init(summarise(t, z, mask))  # (B, S, P)
    S = starts.shape[1]
    theta = np.clip(np.nan_to_num(starts.reshape(B * S, P), nan=0.0), lo, hi)
    rep = lambda a: np.repeat(a, S, axis=0)  # noqa: E731
    # a few iterations from every start pick the basin; only the best start goes on
    theta, r, cost = _lm(fam, rep(t), rep(z), rep(w0), theta, lo, hi, min(START_ITERS, iters))
    pick = np.arange(B) * S + np.argmin(cost.reshape(B, S), axis=1)
    theta, r, w = theta[pick], r[pick], w0
    theta, r, cost = _lm(fam, t, z, w, theta, lo, hi, iters - min(START_ITERS, iters))
    if robust:
        for _ in range(ROBUST_ROUNDS):
            # a bin mean of g points is sqrt(g) times less noisy: compare like with like
            w = w0 * _robust_weights(r * np.sqrt(w0), mask)
            theta, r, cost = _lm(fam, t, z, w, theta, lo, hi, iters // 2)
        cost = cost / CAUCHY_CONSISTENCY
    return _finish(fam, t, mask, w0, w, theta, r, cost, wss)


def _finish(fam, t, mask, w0, w, theta, r, cost, wss) -> FamilyFit:
    P = fam.n_params
    n = mask.sum(axis=1)
    n_raw = w0.sum(axis=1)
    sw = np.maximum(w.sum(axis=1), 1e-300)
    # robust variance of one raw observation: the weighted SSE rescaled to all points,
    # plus the spread inside bins, over the residual degrees of freedom
    sse = cost / sw * n_raw + (0.0 if wss is None else wss)
    # a floor for curves that a family fits exactly (flat runs, values logged with
    # few digits): the fit is then as good as the data's precision, not infinitely good
    sigma2 = np.maximum(sse / np.maximum(n_raw - P, 1), SIGMA_FLOOR**2)
    A, _, bad = _normal_equations(fam, t, w, theta, r)
    ridge = 1e-10 * np.maximum(np.einsum("bpp->bp", A).max(axis=1), 1e-300)
    A = A + ridge[:, None, None] * np.eye(P)
    try:
        Ainv = np.linalg.inv(A)
    except np.linalg.LinAlgError:
        Ainv = np.linalg.pinv(A)
    cov = sigma2[:, None, None] * Ainv
    ok = (
        np.isfinite(cost)
        & np.isfinite(theta).all(axis=1)
        & np.isfinite(cov).all(axis=(1, 2))
        & ~bad
        & (n > P)
    )
    return FamilyFit(fam, theta, sigma2, cov, w, n, ok, cost)
