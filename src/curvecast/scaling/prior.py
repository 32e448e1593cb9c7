"""Population priors over a scaling law's parameters, learned across studies (empirical
Bayes), and the posterior fit of a new study under one.

Each study's own fit gives one draw of the parameters; the prior is a Student-t per
coordinate (location, scale from the draws; heavy tails so that a study that differs
can still say so). The coordinates are the fitting space re-centred at a reference size:
a coefficient is replaced by its term's value there (log A - alpha ln N0 for A N^-alpha),
which decorrelates it from its exponent, so that independent coordinates are a fair
summary. A parameter the prior does not name is left free.

The posterior fit maximises log-likelihood + log-prior: a Huber likelihood of the
log-residuals in units of their noise sigma (the plain fit's robust residual scale),
tempered by distinct sizes over points (runs of one model size share most of their error,
so they count as about one observation; Choshen et al. 2024 find the same). Intervals come
from the Laplace approximation (Gauss-Newton Hessian at the optimum), whose draws play
the bootstrap's part in ``ScalingFit.predict``.

>>> import numpy as np
>>> from curvecast.scaling import fit_law
>>> law = "chinchilla"; rng = np.random.default_rng(0)
>>> n = np.geomspace(1e7, 1e9, 6).repeat(3); d = n * np.tile([5.0, 20.0, 80.0], 6)
>>> fits = [fit_law(law, {"n": n, "d": d}, e + 400 * n**-0.34 + 2000 * d**-0.37,
...                 n_boot=0, drift=False) for e in (1.7, 1.8, 1.9)]
>>> prior = Prior.from_fits(fits, ["a", "b", "c"])
>>> round(prior.natural_location()["alpha"], 2)
0.34
>>> post = fit_law(law, {"n": n[:9], "d": d[:9]}, 1.8 + 400 * n[:9]**-0.34
...                + 2000 * d[:9]**-0.37, prior=prior, n_boot=0)
>>> round(post.params_["alpha"], 2)
0.34
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits

from ..errors import InputError, UsageError
from ..numerics import quiet
from .fit import (
    DELTA,
    N_STARTS,
    ScalingFit,
    ScalingWarning,
    _best_starts,
    _check_inputs,
    _diagnose,
    _huber,
    _log_loss_jac,
    _minimise,
    _size,
    sizes,
)
from .joint import base_name, group_params
from .laws import Law, get_law

DOF = 4.0
"""Degrees of freedom of the Student-t prior on each coordinate."""
MIN_SCALE = {"log": 0.1, "exp": 0.03}
"""Floors of the prior's scale: a handful of studies can agree by chance."""
HUBER_K = 1.5
"""Huber threshold in units of the noise sigma."""
MIN_SIGMA = 2e-3
N_DRAWS = 400
REFERENCE = {"n": 1e8, "d": 2e9, "c": 1.2e18, "m": 20.0}
"""Where coefficients are read: N0 = 1e8 parameters, D0 = 2e9 tokens (C0 = 6 N0 D0, M0 =
D0 / N0 = 20, Chinchilla's optimal multiplier)."""


def _reference_terms(law: Law) -> dict[str, list[tuple[str, float]]]:
    """For each coefficient, the exponents and log reference sizes of its term: log coef
    - sum(exponent * ln ref) is the term's log value at the reference. A joint law's
    per-group copies (``joint``) get their base's terms, with its own or shared exponents."""
    ln = {k: float(np.log(v)) for k, v in REFERENCE.items()}
    name = base_name(law)
    if name in ("chinchilla", "data_constrained"):
        base = {"A": [("alpha", ln["n"])], "B": [("beta", ln["d"])]}
    elif name == "overtraining":
        base = {"a": [("eta", ln["c"] - ln["m"])], "b": [("eta", ln["c"] + ln["m"])]}
    else:
        return {}
    out = {}
    for coef, terms in base.items():
        for p in group_params(law, coef):
            suffix = p[len(coef):]
            out[p] = [(e if e in law.params else e + suffix, lref) for e, lref in terms]
    return out


def transform(law: Law) -> np.ndarray:
    """The matrix T with z = T theta, the prior's coordinates (see the module docstring).

    >>> T = transform(get_law("chinchilla")); T.shape, round(float(T[1, 3]), 2)
    ((5, 5), -18.42)
    """
    T = np.eye(law.n_params)
    for coef, terms in _reference_terms(law).items():
        for exp, lref in terms:
            T[law.params.index(coef), law.params.index(exp)] -= lref
    return T


@dataclass(frozen=True)
class Prior:
    """A Student-t prior per coordinate (see ``transform``) of a law's parameters.

    ``names`` are the law's parameters it covers, ``loc`` and ``scale`` their location
    and scale in prior coordinates, ``sources`` the studies it was learned from.

    >>> p = Prior("chinchilla", ("alpha",), (0.34,), (0.05,))
    >>> round(p.neg_log(get_law("chinchilla"), np.array([0, 0, 0, 0.34, 0.3]))[0], 3)
    0.0
    """

    law: str
    names: tuple[str, ...]
    loc: tuple[float, ...]
    scale: tuple[float, ...]
    dof: float = DOF
    sources: tuple[str, ...] = ()
    notes: str = ""
    draws: dict[str, list[float]] = field(default_factory=dict, compare=False)
    drift: float = 0.0
    """The studies' typical drift (``fit._drift``: log-error sd per unit of log size
    beyond the data, from each study's own rolling-origin refits, weighted RMS); a
    posterior fit pools its own drift with it (``pooled_drift``)."""

    @classmethod
    def from_fits(cls, fits: Sequence[ScalingFit], sources: Sequence[str],
                  weights: Sequence[float] | None = None, dof: float = DOF) -> Prior:
        """Learn a prior from studies' fits of one law (weights: e.g. 1 / groups of a
        study, so that a study with many groups counts once)."""
        if len(fits) < 2:
            raise InputError(f"a prior needs the fits of at least 2 studies; got {len(fits)}")
        law = fits[0].law
        if any(f.law.name != law.name for f in fits):
            raise UsageError("every fit of a prior must be of the same law")
        z = np.array([transform(law) @ f.theta_ for f in fits])
        w = np.ones(len(fits)) if weights is None else np.asarray(weights, float)
        w = w / w.sum()
        loc = w @ z
        # weighted sd with the small-sample correction of unequal weights
        var = (w @ (z - loc) ** 2) / max(1.0 - float(w @ w), 1e-12)
        floor = np.where(law.logged, MIN_SCALE["log"], MIN_SCALE["exp"])
        scale = np.maximum(np.sqrt(var), floor)
        draws = {p: z[:, j].round(6).tolist() for j, p in enumerate(law.params)}
        drifts = np.array([getattr(f, "drift_", 0.0) for f in fits])
        return cls(law.name, law.params, tuple(loc.tolist()), tuple(scale.tolist()), dof,
                   tuple(sources), draws=draws, drift=float(np.sqrt(w @ drifts**2)))

    def _index(self, law: Law) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pairs = [(law.params.index(q), i) for i, p in enumerate(self.names)
                 for q in group_params(law, p)]  # a joint law: each group's copy
        idx = np.array([a for a, _ in pairs], int)
        keep = np.array([b for _, b in pairs], int)
        return idx, np.array(self.loc)[keep], np.array(self.scale)[keep]

    def neg_log(self, law: Law, theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """-log prior (up to a constant) at ``theta``, its gradient, and a positive
        curvature of it (for the Laplace approximation), all in fitting space."""
        T = transform(law)
        idx, loc, scale = self._index(law)
        if idx.size == 0:  # a law the prior says nothing of
            return 0.0, np.zeros(law.n_params), np.zeros((law.n_params,) * 2)
        u = (T[idx] @ theta - loc) / scale
        nu = self.dof
        val = 0.5 * (nu + 1) * np.log1p(u * u / nu)
        dz = (nu + 1) * u / (nu + u * u) / scale
        curv = (nu + 1) / (nu * scale**2)  # the t's curvature at its centre: positive
        return float(val.sum()), T[idx].T @ dz, T[idx].T @ (curv[:, None] * T[idx])

    def natural_location(self) -> dict[str, float]:
        """The prior's location in natural units where that has a meaning (exponents;
        E), as a quick summary."""
        law = get_law(self.law)
        out = {}
        for p, v in zip(self.names, self.loc, strict=True):
            j = law.params.index(p)
            if p not in _reference_terms(law):
                out[p] = float(np.exp(v)) if law.logged[j] else float(v)
        return out

    def to_dict(self) -> dict:
        return {"law": self.law, "names": list(self.names), "loc": list(self.loc),
                "scale": list(self.scale), "dof": self.dof, "sources": list(self.sources),
                "notes": self.notes, "reference": REFERENCE, "drift": self.drift,
                "draws": self.draws}

    @classmethod
    def from_dict(cls, d: Mapping) -> Prior:
        try:
            return cls(str(d["law"]), tuple(d["names"]), tuple(map(float, d["loc"])),
                       tuple(map(float, d["scale"])), float(d.get("dof", DOF)),
                       tuple(d.get("sources", ())), str(d.get("notes", "")),
                       dict(d.get("draws", {})), float(d.get("drift", 0.0)))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"not a prior: {exc!r} (needs law, names, loc, scale)") from None


PRIOR_FILE = "priors.json"
"""The priors shipped with curvecast, one per law, learned from ../shared/data/scaling by
``benchmarks/bench_scaling_priors.py --write-prior``."""


def shipped_priors() -> dict[str, Prior]:
    """The shipped priors by law name (see ``PRIOR_FILE``).

    >>> sorted(shipped_priors())
    ['chinchilla', 'overtraining']
    """
    text = resources.files(__package__).joinpath(PRIOR_FILE).read_text()
    return {k: Prior.from_dict(v) for k, v in json.loads(text)["priors"].items()}


def load_prior(spec: str | Path, law: str) -> Prior:
    """The prior for ``law``: 'shipped' (the package's), or a JSON file written like
    ``priors.json`` (``{"priors": {law: prior}}``) or holding one prior."""
    if str(spec) == "shipped":
        priors = shipped_priors()
    else:
        try:
            data = json.loads(Path(spec).read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"could not read the prior ({exc})", file=str(spec)) from None
        priors = ({k: Prior.from_dict(v) for k, v in data["priors"].items()}
                  if isinstance(data, dict) and "priors" in data else
                  {str(data.get("law")): Prior.from_dict(data)})
    base = "chinchilla" if law == "data_constrained" else law  # shares E, A, B, alpha, beta
    if base not in priors:
        raise UsageError(f"no prior for law {law!r}; there are priors for "
                         f"{', '.join(sorted(priors))}")
    return priors[base]


# --------------------------------------------------------------------------- posterior


def _objective(law: Law, X, logy, w, sigma, prior: Prior):
    def f(theta):
        g, jac = _log_loss_jac(law, theta, X)
        u = (logy - g) / sigma
        psi = np.clip(u, -HUBER_K, HUBER_K) * w
        lp, dlp, _ = prior.neg_log(law, theta)
        return float((w * _huber(u, HUBER_K)).sum() + lp), -(jac @ psi) / sigma + dlp

    return f


def _map(law: Law, starts, X, logy, w, sigma, prior) -> np.ndarray:
    f = _objective(law, X, logy, w, sigma, prior)
    best = None
    for x0 in starts:
        r = minimize(f, np.clip(x0, *np.array(law.bounds).T), jac=True, method="L-BFGS-B",
                     bounds=law.bounds, options={"maxiter": 2000, "ftol": 1e-13,
                                                 "gtol": 1e-9})
        if np.isfinite(r.fun) and (best is None or r.fun < best.fun):
            best = r
    if best is None:
        raise InputError(f"law {law.name!r}: no finite posterior optimum from any start")
    return np.asarray(best.x, float)


def _laplace(law: Law, theta, X, logy, w, sigma, prior, n_draws, seed) -> np.ndarray:
    """Draws from the Gauss-Newton Laplace approximation at the optimum, clipped to the
    bounds."""
    g, jac = _log_loss_jac(law, theta, X)
    core = (np.abs(logy - g) <= HUBER_K * sigma) * w
    H = (jac * core) @ jac.T / sigma**2 + prior.neg_log(law, theta)[2]
    cov = np.linalg.pinv(H + 1e-9 * np.eye(len(theta)) * max(np.trace(H), 1.0))
    rng = np.random.default_rng(seed)
    draws = rng.multivariate_normal(theta, (cov + cov.T) / 2, n_draws, method="eigh")
    return np.clip(draws, *np.array(law.bounds).T)


def _starts(law: Law, X, logy, w, prior: Prior) -> np.ndarray:
    """The plain fit's best grid points and optimum, and the prior's location (its free
    parameters from the best grid point)."""
    grid = _best_starts(law, X, logy, w, DELTA, N_STARTS)
    plain, _ = _minimise(law, grid, X, logy, w, DELTA)
    idx, loc, _ = prior._index(law)
    centre = plain.copy()
    T = transform(law)
    if idx.size:  # solve T[idx] theta = loc for the covered coordinates, rest from plain
        z = T @ plain
        z[idx] = loc
        centre = np.linalg.solve(T, z)
    return np.vstack([plain, centre, grid[:3]]), plain


def _sigma(law: Law, theta, X, logy) -> float:
    r = logy - law.log_loss(theta[None, :], X)[0]
    return max(float(1.4826 * np.median(np.abs(r - np.median(r)))), MIN_SIGMA)


def _tempering(X) -> float:
    """Distinct sizes over points: the weight of each point in the likelihood."""
    s = np.log(_size(X))
    key = X.get("n", s)
    return float(np.unique(key).size / len(s))


@quiet
def fit_posterior(law: str | Law, X: Mapping[str, object], y, prior: Prior, *,
                  n_boot: int = N_DRAWS, seed: int = 0, weights=None,
                  drift: bool = True) -> ScalingFit:
    """The posterior fit of ``law`` under ``prior`` (see the module docstring); the
    returned fit's ``boot_`` holds ``n_boot`` Laplace draws (0: none) and ``drift_`` the
    rolling-origin drift of posterior refits. Called by ``fit_law(..., prior=)``."""
    law = get_law(law) if isinstance(law, str) else law
    X = _check_inputs(law, X)
    y = np.broadcast_to(np.asarray(y, float), next(iter(X.values())).shape)
    ok = np.isfinite(y)
    if (y[ok] <= 0).any():
        raise InputError("losses must be positive to fit a scaling law in log space")
    X = {k: v[ok] for k, v in X.items()}
    y = y[ok]
    w0 = np.ones_like(y) if weights is None else np.asarray(weights, float)[ok]
    if len(y) < 3:
        raise InputError(f"law {law.name!r} with a prior needs at least 3 points with a "
                         f"finite loss; got {len(y)}")
    logy = np.log(y)
    with threadpool_limits(limits=1, user_api="blas"):
        theta, sigma = _posterior_theta(law, X, logy, w0, prior)
        w = w0 * _tempering(X)
        boot = (_laplace(law, theta, X, logy, w, sigma, prior, n_boot, seed) if n_boot
                else np.empty((0, law.n_params)))
        residuals = logy - law.log_loss(theta[None, :], X)[0]
        rate = pooled_drift(_posterior_drift(law, X, logy, w0, prior, residuals),
                            prior) if drift else 0.0
    fit = ScalingFit(law, DELTA, theta, float("nan"), boot, residuals, len(y), seed,
                     drift_=rate, log_size_max_=float(np.log(_size(X)).max()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)
        fit.warnings_.extend(m for m in _diagnose(law, theta, X, y, np.empty((0, 1)))
                             if "ill-conditioned" not in m)  # the prior conditions it
    for msg in fit.warnings_:
        warnings.warn(f"{law.name}: {msg}", ScalingWarning, stacklevel=2)
    return fit


def _posterior_theta(law: Law, X, logy, w, prior) -> tuple[np.ndarray, float]:
    starts, plain = _starts(law, X, logy, w, prior)
    sigma = _sigma(law, plain, X, logy)
    theta = _map(law, starts, X, logy, w * _tempering(X), sigma, prior)
    return theta, sigma


def pooled_drift(own: float, prior: Prior) -> float:
    """A study's drift pooled with the population's, as two equal observations (RMS):
    three rolling origins of one study say little about how a law bends beyond them.

    >>> round(pooled_drift(0.0, Prior("chinchilla", (), (), (), drift=0.02)), 4)
    0.0141
    """
    return float(np.sqrt((own**2 + prior.drift**2) / 2)) if prior.drift > 0 else own


def _posterior_drift(law: Law, X, logy, w, prior, residuals, cuts: int = 3) -> float:
    """``fit._drift`` with posterior refits: the log-error beyond the noise per unit of
    log size, from refits without the 1-3 largest sizes."""
    s = np.log(_size(X))
    key = X.get("n", np.exp(s))
    errors, dists = [], []
    for cut in sizes(key)[::-1][:cuts]:
        train = key < cut
        if sizes(key[train]).size < 3 or train.sum() < 4:
            break
        Xt = {k: v[train] for k, v in X.items()}
        theta, _ = _posterior_theta(law, Xt, logy[train], w[train], prior)
        held = {k: v[~train] for k, v in X.items()}
        errors.append(logy[~train] - law.log_loss(theta[None, :], held)[0])
        dists.append(s[~train] - s[train].max())
    if not errors:
        return 0.0
    e, d = np.concatenate(errors), np.concatenate(dists)
    noise = 1.4826 * np.median(np.abs(residuals - np.median(residuals)))
    excess = max(float(np.mean(e**2)) - noise**2, 0.0)
    return float(np.sqrt(excess / max(float(np.mean(np.maximum(d, 0) ** 2)), 1e-12)))
