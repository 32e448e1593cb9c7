"""Fit a scaling law: Huber loss on log-residuals, a grid of starts, then L-BFGS-B.

The recipe is Hoffmann et al. (2022)'s approach 3 as Besiroglu et al. (2024) repaired it:
minimise sum_i Huber_delta(log y_i - log L(x_i; theta)) with delta = 1e-3, from the best
points of a grid of starts (scored in one vectorised call), keeping the best optimum.

Uncertainty comes from a bootstrap over runs (rows resampled with replacement, each
replicate refitted from the full-data optimum). A prediction for a new run adds the fit's
own log-residuals to each replicate's curve: the spread of the replicates alone is the
uncertainty of the *mean* loss and is far too narrow for the loss one run will reach.

>>> import numpy as np
>>> n = np.geomspace(1e7, 1e9, 6).repeat(3); d = n * np.tile([5.0, 20.0, 80.0], 6)
>>> y = 1.8 + 400 * n**-0.34 + 2000 * d**-0.37
>>> fit = fit_law("chinchilla", {"n": n, "d": d}, y, n_boot=20)
>>> round(fit.params_["E"], 2), round(fit.params_["alpha"], 2)
(1.8, 0.34)
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits

from ..errors import InputError, UsageError
from ..numerics import quiet
from .laws import Law, get_law

log = logging.getLogger(__name__)

DELTA = 1e-3
"""Huber threshold on log-loss residuals (Hoffmann et al. 2022; Besiroglu et al. 2024)."""
N_STARTS = 8
"""L-BFGS-B runs from this many of the best grid points (and one per exponent shape)."""
MAX_STARTS = 40
POLISH = 3
"""Optima of the first pass polished to full precision."""
N_BOOT = 200
LEVEL = 0.9
GRID_CELLS = 2_000_000
"""Grid points x data points scored per vectorised call (bounds the memory used)."""
MAX_COND = 1e8
"""Condition number of the scaled Jacobian above which a fit is reported ill-conditioned."""
DRIFT_CUTS = 3
"""Rolling origins that measure extrapolation drift: refits without the 1, 2, 3 largest
sizes (see ``_drift``)."""


class ScalingWarning(UserWarning):
    """A fit that may not mean what it says: an exponent on its bound, an ill-conditioned
    or poorly identified law. The same texts are kept in ``ScalingFit.warnings_``."""


# --------------------------------------------------------------------------- objective


def _huber(r: np.ndarray, delta: float) -> np.ndarray:
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


def _log_loss_jac(law: Law, theta: np.ndarray, X) -> tuple[np.ndarray, np.ndarray]:
    """log L at ``theta`` (n,) and its central-difference Jacobian (p, n), in one batched
    call of the law."""
    p = law.n_params
    h = 1e-6 * np.maximum(1.0, np.abs(theta))
    g = law.log_loss(np.vstack([theta, theta + np.diag(h), theta - np.diag(h)]), X)
    return g[0], (g[1:p + 1] - g[p + 1:]) / (2 * h[:, None])


def _objective(law: Law, X, logy, w, delta):
    """f(theta) and its gradient, scaled by 1 / (delta * sum w): residuals beyond delta
    count as their absolute size, so tolerances mean the same for any delta."""
    scale = 1.0 / (delta * w.sum())

    def f(theta):
        g, jac = _log_loss_jac(law, theta, X)
        r = logy - g
        psi = np.clip(r, -delta, delta) * w
        return float(scale * (w * _huber(r, delta)).sum()), -scale * (jac @ psi)

    return f


def _grid_scores(law: Law, starts: np.ndarray, X, logy, w, delta) -> np.ndarray:
    chunk = max(1, GRID_CELLS // max(len(logy), 1))
    out = np.empty(len(starts))
    for i in range(0, len(starts), chunk):
        g = law.log_loss(starts[i:i + chunk], X)
        out[i:i + chunk] = (w * _huber(logy - g, delta)).sum(axis=1)
    return np.where(np.isfinite(out), out, np.inf)


def _minimise(law: Law, starts: np.ndarray, X, logy, w, delta) -> tuple[np.ndarray, float]:
    """Best L-BFGS-B optimum over the starts: each run with a moderate tolerance, then
    the best few polished; one start alone (a bootstrap replicate) is run once. (At ftol
    1e-6 the data-constrained law settled in a worse basin on Muennighoff's runs.)"""
    f = _objective(law, X, logy, w, delta)
    bounds = np.array(law.bounds)

    def run(x0, ftol, maxiter):
        return minimize(f, np.clip(x0, *bounds.T), jac=True, method="L-BFGS-B",
                        bounds=law.bounds, options={"maxiter": maxiter, "ftol": ftol,
                                                    "gtol": 1e-10})

    if len(starts) == 1:
        best = run(starts[0], 1e-12, 500)
        return np.asarray(best.x, float), float(best.fun)
    results = [run(x0, 1e-8, 300) for x0 in starts]
    ok = sorted((r for r in results if np.isfinite(r.fun)), key=lambda r: r.fun)
    if not ok:
        return np.asarray(starts[0], float), float("inf")
    best = min((run(r.x, 1e-14, 2000) for r in ok[:POLISH]), key=lambda r: r.fun)
    return np.asarray(best.x, float), float(best.fun)


def _best_starts(law: Law, X, logy, w, delta, k: int) -> np.ndarray:
    """The k best grid points, plus the best one for each combination of exponents: a
    start whose term has vanished (B D^-beta ~ 0) has no gradient to leave by, so every
    shape of the law gets a start of its own."""
    starts = law.grid(X, np.exp(logy))
    scores = _grid_scores(law, starts, X, logy, w, delta)
    order = np.argsort(scores, kind="stable")
    shape = starts[order][:, ~np.array(law.logged)]
    lows = np.array(law.bounds)[~np.array(law.logged), 0]
    _, first = np.unique(shape, axis=0, return_index=True)
    first = first[np.all(shape[first] > lows, axis=1)]  # a zero exponent is no shape
    picked = np.union1d(np.arange(min(k, len(order))), first)[:MAX_STARTS]
    return starts[order[picked]]


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class Estimate:
    """A quantity with its bootstrap standard error and central interval."""

    estimate: float
    se: float
    lower: float
    upper: float

    def to_dict(self) -> dict:
        return {"estimate": self.estimate, "se": self.se, "lower": self.lower,
                "upper": self.upper}


def estimate(value: float, boot: np.ndarray, level: float) -> Estimate:
    """``value`` with the SE and percentile interval of its bootstrap draws ``boot``.

    >>> e = estimate(1.0, np.linspace(0.5, 1.5, 101), 0.9)
    >>> round(e.lower, 2), round(e.upper, 2)
    (0.55, 1.45)
    """
    boot = np.asarray(boot, float)
    boot = boot[np.isfinite(boot)]
    if boot.size < 2:
        return Estimate(float(value), float("nan"), float("nan"), float("nan"))
    q = (1 - level) / 2
    lo, hi = np.quantile(boot, [q, 1 - q])
    return Estimate(float(value), float(np.std(boot, ddof=1)), float(lo), float(hi))


@dataclass(frozen=True)
class Prediction:
    """Predicted loss at new points: the fit's value and a predictive interval.

    >>> x = np.geomspace(10, 1e4, 15)
    >>> p = fit_law("power", {"x": x}, 0.5 + 3 * x**-0.4, n_boot=5).predict({"x": 1e6})
    >>> round(float(p.pred[0]), 4)
    0.5119
    """

    X: dict[str, np.ndarray]
    pred: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    level: float


@dataclass
class ScalingFit:
    """A fitted scaling law (see ``fit_law``): learned state ends with ``_``.

    ``theta_`` (fitting space) and ``params_`` (natural units, by name) are the full-data
    fit; ``boot_`` holds one theta per bootstrap replicate; ``residuals_`` the fit's
    log-residuals; ``warnings_`` what ``ScalingWarning`` said.

    >>> x = np.geomspace(10, 1e4, 15)
    >>> fit = fit_law("power", {"x": x}, 0.5 + 3 * x**-0.4, n_boot=5)
    >>> sorted(fit.parameters(0.9)), fit.n_points
    (['A', 'E', 'alpha'], 15)
    """

    law: Law
    delta: float
    theta_: np.ndarray
    objective_: float
    boot_: np.ndarray
    residuals_: np.ndarray
    n_points: int
    seed: int
    warnings_: list[str] = field(default_factory=list)
    drift_: float = 0.0  # log-error sd per unit of log size beyond the data (``_drift``)
    log_size_max_: float = np.inf  # the largest log size fitted

    @property
    def params_(self) -> dict[str, float]:
        return dict(zip(self.law.params, self.law.natural(self.theta_).tolist(), strict=True))

    def parameters(self, level: float = LEVEL) -> dict[str, Estimate]:
        """Each parameter in natural units with its bootstrap SE and interval."""
        nat, boot = self.law.natural(self.theta_), self.law.natural(self.boot_)
        return {p: estimate(nat[j], boot[:, j], level) for j, p in enumerate(self.law.params)}

    @property
    def residual_scale(self) -> float:
        """Robust scale (1.4826 x median absolute deviation) of the log-residuals."""
        r = self.residuals_
        return float(1.4826 * np.median(np.abs(r - np.median(r))))

    def predict(self, X: Mapping[str, object], level: float = LEVEL) -> Prediction:
        """The fitted loss at ``X`` and a predictive interval for one new run there.

        The interval's draws are ``log L(X; theta_b) + c r_j + drift z h`` over bootstrap
        replicates b and residuals r_j of the fit, with c = sqrt(n / (n - p)) undoing the
        shrinkage of residuals towards a fitted curve (Davison & Hinkley 1997, sec.
        6.3.3), z standard normal, and h how far X lies beyond the largest size fitted,
        in log size: replicates and residuals measure noise, not a law that bends away
        beyond the data, which the fit's own rolling origins measure (``drift_``).
        """
        X = _check_inputs(self.law, X)
        pred = self.law.predict(self.theta_, X)
        draws = self._log_draws(X)
        q = (1 - level) / 2
        # a draw far off (a coefficient on its bound) must not overflow the bound
        lo, hi = np.exp(np.minimum(np.quantile(draws, [q, 1 - q], axis=0), 700.0))
        return Prediction(X, pred, lo, hi, level)

    def _log_draws(self, X, size: int = 4000) -> np.ndarray:
        rng = np.random.default_rng(self.seed)
        boot = self.boot_ if len(self.boot_) else self.theta_[None, :]
        curves = self.law.log_loss(boot, X)  # (B, m)
        n, p = self.n_points, self.law.n_params
        c = np.sqrt(n / max(n - p, 1))
        r = self.residuals_ - np.median(self.residuals_)  # centred on the fitted curve
        b = rng.integers(0, len(curves), size)
        j = rng.integers(0, len(r), size)
        beyond = np.maximum(np.log(_size(X)) - self.log_size_max_, 0.0)
        z = rng.standard_normal(size)[:, None]
        return curves[b] + c * r[j][:, None] + self.drift_ * z * beyond[None, :]


def _check_inputs(law: Law, X: Mapping[str, object]) -> dict[str, np.ndarray]:
    missing = [k for k in law.inputs if k not in X]
    if missing:
        raise UsageError(f"law {law.name!r} needs inputs {', '.join(law.inputs)}; "
                         f"missing {', '.join(missing)}")
    arrays = np.broadcast_arrays(*(np.atleast_1d(np.asarray(X[k], float)) for k in law.inputs))
    out = dict(zip(law.inputs, arrays, strict=True))
    for k, v in out.items():
        bad = ~(np.isfinite(v) & (v > 0))
        if bad.any():  # the first one: an array of thousands would bury the message
            i = int(np.argmax(bad))
            raise UsageError(f"input {k} must be positive and finite, got {v[i]:g} at "
                             f"index {i}")
    return out


# --------------------------------------------------------------------------- diagnostics


NEGLIGIBLE_E = 1e-3
"""An irreducible loss E below this fraction of the smallest loss seen is reported."""


def _diagnose(law: Law, theta, X, y, boot) -> list[str]:
    out = []
    if "E" in law.params:
        E = float(law.natural(theta)[law.params.index("E")])
        if E < NEGLIGIBLE_E * float(np.min(y)):
            out.append(f"E = {E:.3g} is negligible beside the smallest loss "
                       f"({np.min(y):.4g}): these points do not pin down an irreducible "
                       "loss, and predictions far beyond them keep falling as a pure "
                       "power law would")
    lows, highs = np.array(law.bounds).T
    span = highs - lows
    for j, name in enumerate(law.params):
        side = ("lower" if theta[j] <= lows[j] + 1e-6 * span[j]
                else "upper" if theta[j] >= highs[j] - 1e-6 * span[j] else None)
        if side and not (name == "E" and side == "lower" and out):  # said above
            value = law.natural(theta)[j]
            out.append(f"{name} = {value:.4g} sits on its {side} bound: the points do not "
                       f"pin it down (too narrow a range, or a law that does not fit)")
    jac = _log_loss_jac(law, theta, X)[1].T  # (n, p)
    norms = np.linalg.norm(jac, axis=0)
    if np.any(norms == 0) or not np.isfinite(jac).all():
        idle = [n for n, v in zip(law.params, norms, strict=True) if not v > 0]
        out.append(f"the fit is ill-conditioned: {', '.join(idle) or 'a parameter'} has no "
                   "effect on the loss at the optimum")
    else:
        cond = np.linalg.cond(jac / norms)
        if cond > MAX_COND:
            out.append(f"the fit is ill-conditioned (condition number {cond:.2g}): "
                       "parameters trade off against each other; trust predictions near "
                       "the data more than the parameters")
    if len(boot) >= 10:
        nat = law.natural(boot)
        q = np.quantile(nat, [0.05, 0.95], axis=0)
        est = law.natural(theta)
        for j, name in enumerate(law.params):
            if not law.logged[j]:
                continue
            if q[1, j] > 100 * max(q[0, j], 1e-300) and est[j] > 0:
                out.append(f"{name} is poorly identified: its 90% bootstrap interval "
                           f"spans {q[0, j]:.3g} to {q[1, j]:.3g}")
    return out


# --------------------------------------------------------------------------- fit


@quiet
def fit_law(
    law: str | Law,
    X: Mapping[str, object],
    y,
    *,
    delta: float = DELTA,
    n_boot: int = N_BOOT,
    seed: int = 0,
    n_starts: int = N_STARTS,
    weights=None,
    drift: bool = True,
    prior=None,
) -> ScalingFit:
    """Fit ``law`` to losses ``y`` at points ``X`` (input name -> array).

    Parameters
    ----------
    law:
        A ``Law`` or its name in ``LAWS`` ('chinchilla', 'data_constrained', 'power',
        'plain_power', 'bnsl').
    X:
        The law's inputs: ``n`` and ``d`` (and ``u``, unique tokens, for
        'data_constrained'), or ``x`` for the one-variable laws; positive numbers.
    y:
        Losses (positive). Non-finite ones (diverged runs) are dropped and logged.
    delta:
        Huber threshold on log-residuals (default 1e-3).
    n_boot:
        Bootstrap replicates over runs (rows), 0 for none. Default 200.
    seed:
        Seed of the bootstrap and of predictive draws.
    n_starts:
        L-BFGS-B runs from the best grid points (default 8).
    weights:
        Optional non-negative weight per point.
    drift:
        Measure how prediction error grows beyond the data (``_drift``), which widens
        intervals of extrapolations; costs up to 3 more fits. Default True.
    prior:
        A ``prior.Prior`` learned across studies: fit the posterior under it instead
        (``prior.fit_posterior``; ``n_boot`` is then the number of Laplace draws and
        ``delta``, ``n_starts`` do not apply).

    >>> x = np.geomspace(10, 1e4, 15)
    >>> f = fit_law("power", {"x": x}, 0.5 + 3 * x**-0.4, n_boot=0)
    >>> {k: round(v, 3) for k, v in f.params_.items()}
    {'E': 0.5, 'A': 3.0, 'alpha': 0.4}
    """
    law = get_law(law) if isinstance(law, str) else law
    if prior is not None:
        from .prior import fit_posterior  # imports this module

        return fit_posterior(law, X, y, prior, n_boot=n_boot, seed=seed, weights=weights,
                             drift=drift)
    X = _check_inputs(law, X)
    y = np.broadcast_to(np.asarray(y, float), next(iter(X.values())).shape)
    w = np.ones_like(y) if weights is None else np.asarray(weights, float)
    ok = np.isfinite(y)
    if (~ok).any():
        log.info("dropped %d non-finite losses (diverged runs)", int((~ok).sum()))
    if (y[ok] <= 0).any():
        raise InputError("losses must be positive to fit a scaling law in log space")
    X = {k: v[ok] for k, v in X.items()}
    y, w = y[ok], w[ok]
    if len(y) <= law.n_params:
        raise InputError(f"law {law.name!r} has {law.n_params} parameters and needs at least "
                         f"{law.n_params + 1} points with a finite loss; got {len(y)}")
    if not 0 < delta:
        raise UsageError(f"delta must be positive, got {delta}")
    logy = np.log(y)
    starts = _best_starts(law, X, logy, w, delta, n_starts)
    # L-BFGS-B's tiny linear algebra runs several times slower on threaded BLAS
    with threadpool_limits(limits=1, user_api="blas"):
        theta, obj = _minimise(law, starts, X, logy, w, delta)
        boot = _bootstrap(law, theta, X, logy, w, delta, n_boot, seed)
        residuals = logy - law.log_loss(theta[None, :], X)[0]
        rate = _drift(law, X, logy, w, delta, n_starts, residuals) if drift else 0.0
    fit = ScalingFit(law, delta, theta, obj, boot, residuals, len(y), seed,
                     drift_=rate, log_size_max_=float(np.log(_size(X)).max()))
    fit.warnings_.extend(_diagnose(law, theta, X, y, boot))
    for msg in fit.warnings_:
        warnings.warn(f"{law.name}: {msg}", ScalingWarning, stacklevel=2)
    return fit


def _bootstrap(law: Law, theta, X, logy, w, delta, n_boot, seed) -> np.ndarray:
    """Refit on rows resampled with replacement (as multiplicity weights), each from the
    full-data optimum: the replicates' spread is the parameters' sampling spread."""
    rng = np.random.default_rng(seed)
    n = len(logy)
    out = np.empty((n_boot, law.n_params))
    for b in range(n_boot):
        counts = np.bincount(rng.integers(0, n, n), minlength=n).astype(float)
        out[b], _ = _minimise(law, theta[None, :], X, logy, w * counts, delta)
    return out


def _size(X: Mapping[str, np.ndarray]) -> np.ndarray:
    """How big a run is, for distances beyond the data: x, or N D (compute over k)."""
    return np.asarray(X["x"], float) if "x" in X else np.asarray(X["n"] * X["d"], float)


SAME_SIZE = 0.01
"""Sizes within 1% of the next smaller are one size: values read off a plot (Epoch's
Chinchilla refit) give one model size as several values a millionth apart, and a
rolling origin between them would lie no distance beyond its data."""


def sizes(key: np.ndarray) -> np.ndarray:
    """The distinct sizes of ``key``, each the smallest value of its cluster (see
    ``SAME_SIZE``).

    >>> sizes(np.array([1.0, 1.000001, 2.0, 4.0, 4.01])).tolist()
    [1.0, 2.0, 4.0]
    """
    u = np.unique(np.asarray(key, float))
    if u.size == 0:
        return u
    start = np.r_[True, np.diff(np.log(u)) > np.log1p(SAME_SIZE)]
    return u[start]


def _drift(law: Law, X, logy, w, delta, n_starts, residuals) -> float:
    """The sd of log-error per unit of log size beyond the data: refit without the
    largest 1, 2, 3 sizes (rolling origins), predict them, and divide the error left
    beyond the residuals' noise by the distances. 0 with too few points to tell.

    A law fitted on small runs is most wrong where it is used, far beyond them; how
    wrong it was one size further out, inside the data, is the honest measure of that
    (the bootstrap and the residuals only measure noise around a law that holds).
    """
    size = _size(X)
    s = np.log(size)
    errors, dists = [], []
    for cut in np.log(sizes(size))[::-1][:DRIFT_CUTS]:
        train = s < cut
        if train.sum() < law.n_params + 3 or sizes(size[train]).size < 3:
            break
        Xt = {k: v[train] for k, v in X.items()}
        starts = _best_starts(law, Xt, logy[train], w[train], delta, n_starts)
        theta, _ = _minimise(law, starts, Xt, logy[train], w[train], delta)
        held = {k: v[~train] for k, v in X.items()}
        errors.append(logy[~train] - law.log_loss(theta[None, :], held)[0])
        dists.append(s[~train] - s[train].max())
    if not errors:
        return 0.0
    e, d = np.concatenate(errors), np.concatenate(dists)
    noise = 1.4826 * np.median(np.abs(residuals - np.median(residuals)))
    excess = max(float(np.mean(e**2)) - noise**2, 0.0)
    return float(np.sqrt(excess / max(float(np.mean(d**2)), 1e-12)))
