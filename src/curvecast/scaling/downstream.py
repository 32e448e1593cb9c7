"""Downstream accuracy of a larger model, forecast from small ones, with intervals.

Two routes, chosen per metric by held-out error:

* **two-stage** (loss given): parameters N and tokens D -> loss by a scaling law fitted
  to the small models (``fit_law``), then loss -> accuracy by a link with a floor and a
  ceiling fitted on the small models' observed (loss, accuracy) pairs:

  - ``exponential``: acc = f + exp(a - gamma L), capped at 1 — Gadre et al. 2024
    ("Language models scale reliably with over-training and on downstream tasks",
    arXiv:2403.08540, eq. 4: top-1 error = eps - k exp(-gamma L), eps the error of
    chance);
  - ``sigmoid``: acc = f + (u - f) / (1 + exp(k (L - L0))) — the second step of the
    model ladder of Bhagia et al. 2024 ("Establishing task scaling laws via
    compute-efficient model ladders", arXiv:2412.04403, eq. 2, with its offset b the
    floor);

* **direct** (no loss, or as a rival): accuracy against log compute C = k N D,
  ``sigmoid`` as above in s = log C, or the naive ``linear`` fit of accuracy on log C.
  With groups (model families) each family gets an offset in log compute, shrunk to 0
  (families differ in how much capability a FLOP buys: Ruan et al. 2024,
  arXiv:2405.10938).

The floor f is the metric's chance accuracy, unless the small models score below it
(a biased guesser: WSC's 'always no'), then their 5th percentile. Intervals carry both
stages' uncertainty: each draw takes one bootstrap replicate of the scaling law (over
runs) with one of its residuals, one bootstrap replicate of the link (over models, not
rows: a model's checkpoints are not independent) with one of its residuals, and an
extrapolation term measured, as ``fit_law``'s drift, by hiding the largest small models
and predicting them (a law's bootstrap measures noise, not a curve bending beyond the
data). The same inner hold-outs choose the method (``method="auto"``).

>>> import numpy as np, pandas as pd
>>> n = np.repeat(np.geomspace(1e7, 3e9, 7), 4); d = np.tile([2e9, 8e9, 3e10, 1e11], 7)
>>> loss = 1.7 + 400 * n**-0.34 + 1500 * d**-0.3
>>> acc = 0.25 + 0.6 / (1 + np.exp(4 * (loss - 2.6)))
>>> t = pd.DataFrame({"n": n, "d": d, "loss": loss, "acc": acc})
>>> r = holdout_forecast(t, n="n", d="d", metrics=["acc"], loss="loss", chance=0.25,
...                      holdout_top=1, n_boot=20)
>>> r.mean_abs_error < 0.02, r.points[0].lower <= r.points[0].pred <= r.points[0].upper
(True, True)
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from ..errors import InputError, UsageError
from ..numerics import quiet
from .difficulty import Aggregate, cluster_columns, clusters, combine
from .fit import ScalingFit, ScalingWarning, fit_law

log = logging.getLogger(__name__)

LEVEL = 0.9
N_BOOT = 100
K_FLOPS = 6.0
SHRINK = 0.05
"""Penalty on a family's log-compute offset, in accuracy per unit of offset: an offset of
1 (a factor e in compute efficiency) costs as much as a 5-point residual."""
FLOOR_Q = 0.05
INNER_CUTS = 2
"""Inner hold-outs: the largest 1 and 2 sizes of the small models (per group, where
``INNER_KEEP`` smaller sizes remain to fit): rolling origins inside the fitted models."""
INNER_KEEP = 1
"""An inner cut hides a family's largest sizes where at least this many smaller ones
remain: 1, as the task itself forecasts a family from as few as one smaller member (with
2, every family of fewer than 3-4 fitted sizes went unchecked: Ruan et al.'s families)."""
LATE = 0.5
"""An inner hold-out scores a hidden model's checkpoints with at least half its tokens:
more than its final row alone, which is one noisy point per metric."""
N_DRAWS = 4000
TOKEN_WEIGHT = 1.0
"""Rows weigh (D / their model's most D) ** this in the link fits (``_token_weights``):
1, the share of the run a checkpoint has seen, fixed before any Pythia run was scored."""
LADDER = 3
PRIOR = 0.8
"""A sigmoid route's inner error counts 0.8x in the choice of route (``choose``)."""
LSQ_LOSS = "linear"
"""Plain least squares for the links: a robust loss (soft-L1) let a step at the 1.4B
model's level win on Pythia's SciQ, the many early checkpoints counted as outliers."""
TWO_STAGE = ("two-stage-sigmoid", "two-stage-exponential")
DIRECT = ("direct-sigmoid", "direct-linear")
MIXED = "direct-mixed"
"""A candidate of the direct routes where there are families (``--group``): ``MixedFit``."""
METHODS = (*TWO_STAGE, *DIRECT, MIXED)


# --------------------------------------------------------------------------- links


@dataclass(frozen=True)
class Link:
    """A map from a score s (minus the loss, or log compute) to accuracy, with a floor.

    ``f(theta, s, floor)``: theta (k, p) and s (k, m) or (m,) -> accuracy (k, m);
    ``starts(s, y, floor)`` the starting points; ``bounds(floor, y)`` their box.

    >>> LINKS["sigmoid"].f(np.array([[0.9, 0.0, 0.0]]), np.array([-50.0, 0.0, 50.0]),
    ...                    0.25).round(3).tolist()
    [[0.25, 0.575, 0.9]]
    """

    name: str
    formula: str
    citation: str
    f: Callable = field(repr=False)
    starts: Callable = field(repr=False)
    bounds: Callable = field(repr=False)


def _sigmoid(theta, s, floor):
    u, logk, s0 = (theta[:, j, None] for j in range(3))
    return floor + (u - floor) / (1.0 + np.exp(-np.exp(logk) * (s - s0)))


def _sigmoid_starts(s, y, floor):
    top = min(1.0, max(float(np.max(y)) + 0.05, floor + 0.05))
    sd = max(float(np.std(s)), 1e-6)
    return [(u, np.log(k / sd), s0) for u in (top, 1.0) for k in (0.5, 2.0, 6.0)
            for s0 in np.quantile(s, (0.3, 0.7, 1.0))]


def _sigmoid_bounds(floor, s):
    span = float(np.ptp(s)) + 1.0
    lo = [floor + 1e-4, np.log(1e-3 / span), float(np.min(s)) - 10 * span]
    return lo, [1.0, np.log(1e3 / span), float(np.max(s)) + 10 * span]


def _exponential(theta, s, floor):
    a, logg = theta[:, 0, None], theta[:, 1, None]
    return np.minimum(floor + np.exp(a + np.exp(logg) * s), 1.0)  # s = -L


def _exponential_starts(s, y, floor):
    gap = np.maximum(np.asarray(y) - floor, 1e-3)
    out = []
    for g in (0.3, 1.0, 3.0):
        out.append((float(np.log(np.median(gap)) - g * np.median(s)), np.log(g)))
    return out


def _exponential_bounds(floor, s):
    return [-50.0, np.log(1e-4)], [float(np.log(max(1.0 - floor, 1e-4))), np.log(50.0)]


def _linear(theta, s, floor):
    return np.clip(theta[:, 0, None] + theta[:, 1, None] * s, 0.0, 1.0)


LINKS: dict[str, Link] = {
    "sigmoid": Link("sigmoid", "acc = f + (u - f) / (1 + exp(-k (s - s0)))",
                    "Bhagia et al. 2024, arXiv:2412.04403 (model ladders, step 2)",
                    _sigmoid, _sigmoid_starts, _sigmoid_bounds),
    "exponential": Link("exponential", "acc = min(f + exp(a - gamma L), 1)",
                        "Gadre et al. 2024, arXiv:2403.08540 (eq. 4)",
                        _exponential, _exponential_starts, _exponential_bounds),
    "linear": Link("linear", "acc = a + b log C", "naive baseline", _linear,
                   lambda s, y, f: [(float(np.mean(y)), 0.0)],
                   lambda f, s: ([-np.inf, -np.inf], [np.inf, np.inf])),
}


def _link_of(method: str) -> Link:
    return LINKS[method.rsplit("-", 1)[1]]


# --------------------------------------------------------------------------- fitting a link


def _design(groups: np.ndarray, levels: Sequence) -> np.ndarray:
    """One-hot (m, g) of each row's group among ``levels`` (unknown groups: all zero)."""
    return (np.asarray(groups, object)[:, None] == np.asarray(levels, object)[None, :]
            ).astype(float)


def _fit_link(link: Link, s, y, floor, G, w, theta0=None) -> np.ndarray:
    """Least squares of ``link`` with per-group offsets in s
    (columns of G), shrunk by ``SHRINK``; ``w`` multiplicity weights (a bootstrap)."""
    g = G.shape[1]
    sw = np.sqrt(w)

    def resid(theta):
        z = s + G @ theta[len(theta) - g:] if g else s
        r = (link.f(theta[None, :len(theta) - g], z, floor)[0] - y) * sw
        return np.concatenate([r, SHRINK * theta[len(theta) - g:]])

    lo, hi = link.bounds(floor, s)
    lo, hi = np.r_[lo, -np.full(g, 20.0)], np.r_[hi, np.full(g, 20.0)]
    if link.name == "linear":
        A = np.column_stack([np.ones_like(s), s, G]) * sw[:, None]
        reg = np.hstack([np.zeros((g, 2)), SHRINK * np.eye(g)])
        return np.linalg.lstsq(np.vstack([A, reg]), np.r_[y * sw, np.zeros(g)], rcond=None)[0]
    starts = ([theta0] if theta0 is not None
              else [np.r_[t, np.zeros(g)] for t in link.starts(s, y, floor)])
    best = None
    for x0 in starts:
        x0 = np.clip(np.asarray(x0, float), lo + 1e-9, hi - 1e-9)
        r = least_squares(resid, x0, bounds=(lo, hi), loss=LSQ_LOSS, f_scale=0.05,
                          max_nfev=400 if theta0 is None else 100)
        if best is None or r.cost < best.cost:
            best = r
    return best.x


# --------------------------------------------------------------------------- one metric


@dataclass
class MetricFit:
    """One metric's fitted route: a link (and, two-stage, the scaling laws of the loss).

    ``theta_`` the full-data link parameters (with one offset per group of ``levels_``
    for direct routes), ``boot_`` its replicates over models, ``resid_`` its residuals,
    ``drift_`` the sd of accuracy error per unit of log compute beyond the data.
    """

    method: str
    metric: str
    floor: float
    theta_: np.ndarray
    boot_: np.ndarray
    resid_: np.ndarray
    levels_: tuple
    mu_: float
    sd_: float
    nmu_: float = 0.0
    nsd_: float = 0.0
    losses: dict | None = None
    drift_: float = 0.0
    logc_max_: dict = field(default_factory=dict)
    k: float = K_FLOPS
    shift_: dict = field(default_factory=dict)

    def _scores(self, n, d, groups, loss_draws=None):
        """s for the rows: (m,) from the fit, or (B, m) from loss draws."""
        if self.method.startswith("two-stage"):
            L = loss_draws if loss_draws is not None else _loss_pred(self.losses, n, d, groups)
            return -L
        return (_log_compute(n, d, groups, self.k, self.shift_) - self.mu_) / self.sd_

    def _beyond(self, n, d, groups) -> np.ndarray:
        top = np.array([self.logc_max_.get(g, max(self.logc_max_.values())) for g in groups])
        return np.maximum(np.log(self.k * n * d) - top, 0.0)

    def predict(self, n, d, groups, loss=None) -> np.ndarray:
        """Accuracy at the rows (``loss``: use these losses instead of stage one's)."""
        s = -np.asarray(loss, float) if loss is not None else self._scores(n, d, groups)
        return _apply(self, self.theta_[None, :], s, groups, n)[0]

    def draws(self, n, d, groups, rng, size: int = N_DRAWS, loss_draws=None) -> np.ndarray:
        """(size, m) predictive draws of accuracy for one new model at each row."""
        m = len(n)
        if self.method.startswith("two-stage"):
            L = loss_draws if loss_draws is not None else _loss_draws(
                self.losses, n, d, groups, rng, size)
            s = -L
        else:
            s = np.broadcast_to(self._scores(n, d, groups), (size, m))
        boot = self.boot_ if len(self.boot_) else self.theta_[None, :]
        theta = boot[rng.integers(0, len(boot), size)]
        acc = _apply(self, theta, s, groups, n)
        r = self.resid_[rng.integers(0, len(self.resid_), (size, m))]
        z = rng.standard_normal((size, 1))
        return np.clip(acc + r + self.drift_ * z * self._beyond(n, d, groups), 0.0, 1.0)


def _covariates(levels, groups, n, nmu: float, nsd: float) -> np.ndarray:
    """Columns added to the score s, each with its own coefficient: one per family (its
    offset in log compute) and, for direct routes (``nsd`` > 0), standardised log N (a
    tilt: at equal compute, parameters and tokens need not buy the same accuracy)."""
    cols = [_design(groups, levels)] if levels else []
    if nsd > 0:
        cols.append(((np.log(np.asarray(n, float)) - nmu) / nsd)[:, None])
    return np.hstack(cols) if cols else np.zeros((len(n), 0))


def _apply(fit: MetricFit, theta: np.ndarray, s: np.ndarray, groups, n) -> np.ndarray:
    G = _covariates(fit.levels_, groups, n, fit.nmu_, fit.nsd_)
    g = G.shape[1]
    link = _link_of(fit.method)
    if g:
        s = s + (theta[:, len(theta[0]) - g:] @ G.T)
        theta = theta[:, :len(theta[0]) - g]
    return link.f(theta, s, fit.floor)


def _loss_pred(losses: dict, n, d, groups) -> np.ndarray:
    out = np.empty(len(n))
    for g in set(groups):
        m = np.asarray(groups) == g
        out[m] = losses[g].predict({"n": n[m], "d": d[m]}).pred
    return out


def _loss_draws(losses: dict, n, d, groups, rng, size) -> np.ndarray:
    """(size, m) losses for one new run: a bootstrap replicate of the law plus one of its
    log-residuals, widened beyond the data by the law's drift (as ``ScalingFit.predict``)."""
    out = np.empty((size, len(n)))
    for g in set(groups):
        m = np.asarray(groups) == g
        fit: ScalingFit = losses[g]
        X = {"n": n[m], "d": d[m]}
        boot = fit.boot_ if len(fit.boot_) else fit.theta_[None, :]
        curves = fit.law.log_loss(boot, X)
        r = fit.residuals_ - np.median(fit.residuals_)
        c = np.sqrt(fit.n_points / max(fit.n_points - fit.law.n_params, 1))
        beyond = np.maximum(np.log(n[m] * d[m]) - getattr(fit, "log_size_max_", np.inf), 0.0)
        drift = getattr(fit, "drift_", 0.0) * rng.standard_normal((size, 1)) * beyond
        out[:, m] = np.exp(curves[rng.integers(0, len(curves), size)]
                           + c * r[rng.integers(0, len(r), (size, 1))] + drift)
    return out


def _fit_losses(n, d, loss, groups, law: str, n_boot: int, seed: int, drift: bool) -> dict:
    out = {}
    for g in dict.fromkeys(groups):
        m = np.asarray(groups) == g
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ScalingWarning)
            try:
                out[g] = fit_law(law, {"n": n[m], "d": d[m]}, loss[m], n_boot=n_boot,
                                 seed=seed, drift=drift)
            except InputError as exc:
                where = "" if g is None else f"group {g!r}: "
                raise InputError(f"{where}the loss law: {exc.message}") from None
        for w in out[g].warnings_:
            log.info("loss law%s: %s", "" if g is None else f" of group {g!r}", w)
    return out


def _floor(chance: float, y: np.ndarray) -> float:
    return float(min(chance, np.quantile(y, FLOOR_Q)))


def _log_compute(n, d, groups, k: float, shift: Mapping | None) -> np.ndarray:
    """log C, plus each family's shared shift in log compute where one was fitted."""
    out = np.log(k * np.asarray(n, float) * np.asarray(d, float))
    if shift:
        out = out + np.array([shift.get(g, 0.0) for g in groups])
    return out


def fit_metric(method: str, n, d, y, groups, *, chance: float = 0.0, loss=None,
               losses: dict | None = None, n_boot: int = N_BOOT, seed: int = 0,
               k: float = K_FLOPS, shift: Mapping | None = None) -> MetricFit:
    """Fit one metric's route ``method`` (one of :data:`METHODS`) to the small models'
    rows: parameters ``n``, tokens ``d``, accuracies ``y`` and ``groups`` (a label per
    row, None for one family); two-stage needs each row's observed ``loss`` and the
    fitted scaling laws of the loss by group (``losses``). The link's bootstrap resamples
    models (a group's rows at one N), not rows. Without the extrapolation term (``forecast_split`` measures it).

    >>> n = np.geomspace(1e8, 1e10, 8); d = 20 * n
    >>> y = 0.25 + 0.5 / (1 + np.exp(-1.5 * (np.log(6 * n * d) - 45)))
    >>> f = fit_metric("direct-sigmoid", n, d, y, [None] * 8, chance=0.25, n_boot=10)
    >>> round(float(f.predict(np.array([3e10]), np.array([6e11]), [None])[0]), 2)
    0.75
    """
    if method == MIXED:
        return fit_mixed(n, d, y, groups, k=k)
    n, d, y = (np.asarray(a, float) for a in (n, d, y))
    groups = list(groups)
    link = _link_of(method)
    two = method in TWO_STAGE
    if two and (loss is None or losses is None):
        raise UsageError(f"method {method!r} needs a loss column")
    floor = _floor(chance, y) if link.name != "linear" else 0.0
    levels = () if two else tuple(g for g in dict.fromkeys(groups) if g is not None)
    raw = np.log(k * n * d)
    logc = _log_compute(n, d, groups, k, None if two else shift)
    mu, sd = float(np.mean(logc)), max(float(np.std(logc)), 1e-6)
    s = -np.asarray(loss, float) if two else (logc - mu) / sd
    if link.name == "linear":
        s = logc
        mu, sd = 0.0, 1.0
    logn = np.log(n)
    nmu, nsd = (0.0, 0.0) if two or np.ptp(logn) == 0 else (float(np.mean(logn)),
                                                             float(np.std(logn)))
    G = _covariates(levels, groups, n, nmu, nsd)
    w = _token_weights(n, d, groups)
    theta = _fit_link(link, s, y, floor, G, w)
    fit = MetricFit(method, "", floor, theta, np.empty((0, len(theta))), np.zeros(1), levels,
                    mu, sd, nmu, nsd, losses, 0.0, _max_logc(raw, groups), k,
                    {} if two else dict(shift or {}))
    resid = y - fit.predict(n, d, groups, loss=loss if two else None)
    fit.resid_ = resid[w >= LATE ** TOKEN_WEIGHT] if TOKEN_WEIGHT > 0 else resid
    rng = np.random.default_rng(seed)
    cluster = pd.factorize(pd.Series([f"{g}|{v:.6g}" for g, v in zip(groups, n, strict=True)]))[0]
    n_cl = cluster.max() + 1
    boot = []
    for _ in range(n_boot if n_cl > 2 else 0):
        counts = np.bincount(rng.integers(0, n_cl, n_cl), minlength=n_cl)[cluster]
        boot.append(_fit_link(link, s, y, floor, G, w * counts + 1e-9,
                              theta0=theta if link.name != "linear" else None))
    fit.boot_ = np.array(boot) if boot else np.empty((0, len(theta)))
    return fit


def _token_weights(n, d, groups) -> np.ndarray:
    """Each row's weight: its model's share of training, (D / the model's most D) to the
    power ``TOKEN_WEIGHT``. A forecast is of a model's final checkpoint; a checkpoint
    ladder's many early rows (Pythia's steps 1-3000, 12 of 26 per model, near chance)
    otherwise outvote the late ones and let a step fit them best (Pythia's SciQ).
    Only a model with at least ``LADDER`` rows is a checkpoint ladder; fewer rows at one
    (group, N) are distinct released models (OLMo 7B at 2.05T and 2.5T tokens): weight 1.

    >>> _token_weights(np.array([1.0, 1, 1, 2]), np.array([1.0, 2, 4, 3]), [None] * 4).tolist()
    [0.25, 0.5, 1.0, 1.0]
    """
    top: dict = {}
    rows: dict = {}
    keys = list(zip(groups, n, strict=True))
    for key, v in zip(keys, d, strict=True):
        top[key] = max(top.get(key, 0.0), float(v))
        rows[key] = rows.get(key, 0) + 1
    share = np.asarray(d, float) / np.array([top[k] for k in keys])
    ladder = np.array([rows[k] >= LADDER for k in keys], bool)
    return np.where(ladder, share, 1.0) ** TOKEN_WEIGHT


def _max_logc(logc, groups) -> dict:
    out: dict = {}
    for g, v in zip(groups, logc, strict=True):
        out[g] = max(out.get(g, -np.inf), float(v))
    return out


# --------------------------------------------------------------------------- mixed model


@dataclass
class MixedFit:
    """``direct-mixed``: accuracy linear in log compute, each family with its own intercept
    and slope drawn around the pooled line (a linear mixed model; the random effects'
    and residual variances estimated by REML, so the shrinkage of a family towards the
    pool is fitted, not set). Families differ in direction, not only in efficiency: on
    TruthfulQA the older families (Pythia, OPT, GPT-Neo) lose accuracy with size while
    Qwen and Yi gain it, which no shared curve with offsets in compute can follow.

    ``beta_`` (intercept, slope per unit of log C - ``mu_``), ``u_`` the families' BLUPs
    (intercepts, then slopes about each family's mean log C, ``xbar_``), ``cinv_`` the
    inverse of Henderson's mixed-model matrix (prediction error variances), ``tau_``
    (intercept sd, slope sd) and ``sigma_`` the residual sd.
    """

    method: str
    metric: str
    levels_: tuple
    mu_: float
    xbar_: dict
    beta_: np.ndarray
    u_: np.ndarray
    cinv_: np.ndarray
    tau_: tuple
    sigma_: float
    resid_: np.ndarray
    logc_max_: dict
    k: float = K_FLOPS
    drift_: float = 0.0

    @property
    def noise_(self) -> np.ndarray:
        """The residual scale an inner error carries without any drift (``_drift``)."""
        return np.array([self.sigma_])

    def _rows(self, n, d, groups):
        x = np.log(self.k * np.asarray(n, float) * np.asarray(d, float)) - self.mu_
        g = len(self.levels_)
        A = np.zeros((len(x), 2 + 2 * g))
        A[:, 0], A[:, 1] = 1.0, x
        new = np.zeros(len(x), bool)
        index = {v: j for j, v in enumerate(self.levels_)}
        for i, grp in enumerate(groups):
            j = index.get(grp)
            if j is None:
                new[i] = True
                continue
            A[i, 2 + j] = 1.0
            A[i, 2 + g + j] = x[i] - self.xbar_[grp]
        return A, new

    def _beyond(self, n, d, groups) -> np.ndarray:
        top = np.array([self.logc_max_.get(g, max(self.logc_max_.values())) for g in groups])
        return np.maximum(np.log(self.k * n * d) - top, 0.0)

    def predict(self, n, d, groups, loss=None) -> np.ndarray:
        A, _ = self._rows(n, d, groups)
        return np.clip(A @ np.r_[self.beta_, self.u_], 0.0, 1.0)

    def draws(self, n, d, groups, rng, size: int = N_DRAWS, loss_draws=None) -> np.ndarray:
        """(size, m) draws for one new model at each row: the BLUP's prediction error, a
        new family's intercept where the family is unseen, the residual, the drift."""
        A, new = self._rows(n, d, groups)
        mean = A @ np.r_[self.beta_, self.u_]
        var = np.einsum("ij,jk,ik->i", A, self.cinv_, A) + self.sigma_**2
        var = var + new * self.tau_[0] ** 2
        z = rng.standard_normal((size, 1))
        out = (mean + np.sqrt(np.maximum(var, 0.0)) * rng.standard_normal((size, len(mean)))
               + self.drift_ * z * self._beyond(n, d, groups))
        return np.clip(out, 0.0, 1.0)


def _henderson(M, y, w, p, g, theta):
    """Solve the mixed-model equations at log (tau_a, tau_b, sigma) ``theta``: returns
    (-2 REML log-likelihood, solution, C^-1). log|V| + log|X'V^-1 X| = log|R| + log|D| +
    log|C| and r'V^-1 r = e'R^-1 e + u'D^-1 u (Harville 1977, JASA 72:320)."""
    ta, tb, s = np.exp(theta)
    rinv = w / s**2
    dinv = np.r_[np.zeros(p), np.full(g, ta**-2), np.full(g, tb**-2)]
    C = (M.T * rinv) @ M + np.diag(dinv)
    try:
        L = np.linalg.cholesky(C)
    except np.linalg.LinAlgError:
        return np.inf, None, None
    sol = np.linalg.solve(C, (M.T * rinv) @ y)
    e = y - M @ sol
    u = sol[p:]
    m2ll = (len(y) * np.log(s**2) - np.sum(np.log(w)) + g * np.log(ta**2 * tb**2)
            + 2 * np.sum(np.log(np.diag(L))) + np.sum(rinv * e**2) + np.sum(dinv[p:] * u**2))
    return m2ll, sol, C


def fit_mixed(n, d, y, groups, *, k: float = K_FLOPS, method: str = "direct-mixed"
              ) -> MixedFit:
    """Fit :class:`MixedFit` to the small models' rows (``groups``: a family per row).

    >>> x = np.linspace(44, 52, 12); g = np.repeat(["up", "down", "flat"], 4)
    >>> y = 0.4 + np.select([g == "up", g == "down"], [0.02, -0.02], 0.0) * (x - 48)
    >>> f = fit_mixed(np.exp(x) / 6e11, np.full(12, 1e11), y, list(g))
    >>> round(float(f.predict(np.array([np.exp(54) / 6e11]), np.array([1e11]), ["up"])[0]), 2)
    0.52
    """
    n, d, y = (np.asarray(a, float) for a in (n, d, y))
    groups = list(groups)
    from scipy.optimize import minimize

    raw = np.log(k * n * d)
    mu = float(np.mean(raw))
    levels = tuple(v for v in dict.fromkeys(groups) if v is not None)
    g_arr = np.array(groups, object)
    xbar = {v: float(np.mean(raw[g_arr == v])) - mu for v in levels}
    probe = MixedFit("direct-mixed", "", levels, mu, xbar, np.zeros(2), np.zeros(0),
                     np.zeros((0, 0)), (0.0, 0.0), 0.0, np.zeros(1), {}, k)
    M, _ = probe._rows(n, d, groups)
    w = _token_weights(n, d, groups)
    g = len(levels)
    ols = np.linalg.lstsq(M[:, :2] * np.sqrt(w)[:, None], y * np.sqrt(w), rcond=None)[0]
    s0 = max(float(np.sqrt(np.average((y - M[:, :2] @ ols) ** 2, weights=w))), 1e-3)
    sx = max(float(np.std(raw)), 1e-3)

    def obj(theta):
        return _henderson(M, y, w, 2, g, np.clip(theta, -12.0, 3.0))[0]

    best = None
    for x0 in ([np.log(s0), np.log(s0 / sx), np.log(s0 / 2)],
               [np.log(s0 / 4), np.log(s0 / (4 * sx)), np.log(s0)]):
        r = minimize(obj, x0, method="Nelder-Mead",
                     options={"maxiter": 600, "xatol": 1e-3, "fatol": 1e-6})
        if best is None or r.fun < best.fun:
            best = r
    theta = np.clip(best.x, -12.0, 3.0)
    _, sol, C = _henderson(M, y, w, 2, g, theta)
    ta, tb, s = np.exp(theta)
    fit = MixedFit(method, "", levels, mu, xbar, sol[:2], sol[2:], np.linalg.inv(C),
                   (float(ta), float(tb)), float(s), np.zeros(1), _max_logc(raw, groups), k)
    fit.resid_ = y - fit.predict(n, d, groups)
    return fit


# --------------------------------------------------------------------------- the hold-out


@dataclass(frozen=True)
class DownstreamPoint:
    """One held-out (metric, model): its true accuracy, the forecast and its interval.

    >>> DownstreamPoint("mmlu", None, 7e9, 3e11, 0.27, 0.26, 0.24, 0.29).to_dict()["pred"]
    0.26
    """

    metric: str
    group: str | None
    n: float
    d: float
    true: float
    pred: float
    lower: float
    upper: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class DownstreamResult:
    """What :func:`holdout_forecast` found: the held-out points, the route chosen per
    metric with every candidate's inner held-out error, and the predictive draws.

    ``draws[metric]`` is (draws, test rows) and ``preds[metric]`` the forecast at each
    test row, aligned across metrics (the same
    stage-one loss draws), so averages over metrics keep their correlation; ``clusters``
    the weight of each difficulty cluster of an aggregate.
    """

    points: list[DownstreamPoint]
    level: float
    methods: dict[str, str]
    inner_errors: dict[str, dict[str, float]]
    draws: dict[str, np.ndarray] = field(repr=False, default_factory=dict)
    preds: dict[str, np.ndarray] = field(repr=False, default_factory=dict)
    columns: tuple[str, str] = ("n", "d")
    clusters: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def mean_abs_error(self) -> float:
        """Mean |pred - true| over the held-out points (accuracy units)."""
        return float(np.mean([abs(p.pred - p.true) for p in self.points]))

    @property
    def coverage(self) -> float:
        """Fraction of held-out true accuracies inside their interval."""
        return float(np.mean([p.lower <= p.true <= p.upper for p in self.points]))

    def to_dict(self) -> dict:
        """The CLI's JSON: points, mean_abs_error, coverage (and the routes chosen)."""
        return {"points": [p.to_dict() for p in self.points],
                "mean_abs_error": self.mean_abs_error, "coverage": self.coverage,
                "level": self.level, "methods": self.methods,
                "inner_errors": self.inner_errors}


def _largest(n: np.ndarray, groups: list, top: int, keep: int = 0) -> np.ndarray:
    """Rows of the models at the ``top`` largest distinct N of their group, in the groups
    that keep at least ``keep`` smaller sizes."""
    out = np.zeros(len(n), bool)
    g_arr = np.array(groups, object)
    for g in dict.fromkeys(groups):
        m = g_arr == g
        sizes = np.unique(n[m])
        if sizes.size >= top + keep:
            out |= m & np.isin(n, sizes[::-1][:top])
    return out


def _late(n: np.ndarray, d: np.ndarray, groups: list, rows: np.ndarray) -> np.ndarray:
    """Of the rows ``rows``, those with at least ``LATE`` times the most tokens of their
    model: its late checkpoints (a single-row model: that row)."""
    top: dict = {}
    for i in np.flatnonzero(rows):
        key = (groups[i], n[i])
        top[key] = max(top.get(key, 0.0), d[i])
    return rows & np.array([rows[i] and d[i] >= LATE * top[(groups[i], n[i])]
                            for i in range(len(n))], bool)


def _finals(n: np.ndarray, d: np.ndarray, groups: list, rows: np.ndarray) -> np.ndarray:
    """Of the rows ``rows`` (a mask), the one with the most tokens of each model."""
    keep = np.zeros(len(n), bool)
    seen: dict = {}
    for i in np.flatnonzero(rows):
        key = (groups[i], n[i])
        if key not in seen or d[i] > d[seen[key]]:
            seen[key] = i
    keep[list(seen.values())] = True
    return keep


@dataclass
class _Data:
    n: np.ndarray
    d: np.ndarray
    groups: list
    loss: np.ndarray | None
    y: dict[str, np.ndarray]

    def take(self, m: np.ndarray) -> _Data:
        return _Data(self.n[m], self.d[m], [g for g, k in zip(self.groups, m, strict=True) if k],
                     None if self.loss is None else self.loss[m],
                     {k: v[m] for k, v in self.y.items()})


def _stage_one(data: _Data, law: str, n_boot: int, seed: int, drift: bool):
    if data.loss is None:
        return None
    ok = np.isfinite(data.loss)
    sub = data.take(ok)
    return _fit_losses(sub.n, sub.d, sub.loss, sub.groups, law, n_boot, seed, drift)


def _fit_on(method, data: _Data, metric, chance, losses, n_boot, seed, k,
            shift=None) -> MetricFit:
    y = data.y[metric]
    ok = np.isfinite(y) & (np.isfinite(data.loss) if method in TWO_STAGE else True)
    sub = data.take(ok)
    fit = fit_metric(method, sub.n, sub.d, sub.y[metric], sub.groups, chance=chance,
                     loss=sub.loss, losses=losses, n_boot=n_boot, seed=seed, k=k, shift=shift)
    fit.metric = metric
    return fit


def _inner(data: _Data, metrics, methods, chance, law, seed, k, pooled: bool) -> dict:
    """Errors and distances beyond the data of every method on the small models' own
    largest sizes (hidden in turn, 1 then 2 per group): {(metric, method): (e, dist)}."""
    out: dict = {(m, meth): ([], []) for m in metrics for meth in methods}
    for cut in range(1, INNER_CUTS + 1):
        held = _largest(data.n, data.groups, cut, INNER_KEEP)
        train = ~held
        if not held.any() or not _enough(data.n[train], data.groups, train):
            break
        tr = data.take(train)
        losses = _stage_one(tr, law, 0, seed, drift=False)
        shift = shared_shift(tr, metrics, chance, k) if pooled else None
        te = data.take(_late(data.n, data.d, data.groups, held))
        for metric in metrics:
            ok = np.isfinite(te.y[metric])
            if not ok.any():
                continue
            t = te.take(ok)
            for meth in methods:
                try:
                    fit = _fit_on(meth, tr, metric, chance[metric], losses, 0, seed, k,
                                  shift)
                except (ValueError, InputError) as exc:
                    log.info("inner fit of %s / %s failed: %s", metric, meth, exc)
                    continue
                e, dist = out[(metric, meth)]
                e.append(t.y[metric] - fit.predict(t.n, t.d, t.groups))
                dist.append(fit._beyond(t.n, t.d, t.groups))
    return {key: (np.concatenate(e), np.concatenate(dd)) for key, (e, dd) in out.items() if e}


def shared_shift(data: _Data, metrics, chance: Mapping[str, float], k: float) -> dict:
    """Each family's shift in log compute, shared by every metric: one joint least-squares
    fit of a sigmoid per metric (with its tilt in log N) in log C + shift, the shifts
    shrunk to 0 by ``SHRINK``. A family that is more compute-efficient shows it on every
    benchmark (Ruan et al. 2024's low-dimensional capabilities); per metric, the few
    models of a family pin their offset down poorly. Returns {group: shift}.
    """
    levels = [g for g in dict.fromkeys(data.groups) if g is not None]
    if not levels:
        return {}
    logc = np.log(k * data.n * data.d)
    mu, sd = float(np.mean(logc)), max(float(np.std(logc)), 1e-6)
    z, ln = (logc - mu) / sd, np.log(data.n)
    zn = (ln - ln.mean()) / max(float(np.std(ln)), 1e-6)
    G = _design(data.groups, levels)
    link = LINKS["sigmoid"]
    parts, starts, lo, hi = [], [], [], []
    for m in metrics:
        ok = np.isfinite(data.y[m])
        if ok.sum() < 5:
            continue
        y = data.y[m][ok]
        floor = _floor(chance[m], y)
        th = _fit_link(link, z[ok], y, floor, zn[ok, None], np.ones(ok.sum()))
        parts.append((ok, y, floor))
        starts.append(th)
        a, b = link.bounds(floor, z[ok])
        lo += [*a, -20.0]
        hi += [*b, 20.0]
    if not parts:
        return {}
    p = len(starts[0])

    def resid(theta):
        o = theta[len(parts) * p:]
        out = []
        for j, (ok, y, floor) in enumerate(parts):
            th = theta[j * p:(j + 1) * p]
            s = z[ok] + G[ok] @ o + th[-1] * zn[ok]
            out.append(link.f(th[None, :-1], s, floor)[0] - y)
        return np.concatenate([*out, SHRINK * o])

    x0 = np.concatenate([*starts, np.zeros(len(levels))])
    lo, hi = np.r_[lo, np.full(len(levels), -20.0)], np.r_[hi, np.full(len(levels), 20.0)]
    r = least_squares(resid, np.clip(x0, lo + 1e-9, hi - 1e-9), bounds=(lo, hi), loss=LSQ_LOSS,
                      max_nfev=200)
    return {g: float(v) * sd for g, v in zip(levels, r.x[len(parts) * p:], strict=True)}


def route_weights(errors: Mapping[str, float], prior: float = PRIOR) -> dict[str, float]:
    """Weights of an average of the routes, inversely proportional to their inner error
    (a sigmoid's first multiplied by ``prior``, as in :func:`choose`): the inverse-error
    combination of forecasts (Bates and Granger 1969), a hedge where the inner hold-outs
    separate the routes poorly.

    >>> {m: round(w, 2) for m, w in route_weights({"direct-sigmoid": 0.05,
    ...                                            "direct-mixed": 0.02}).items()}
    {'direct-sigmoid': 0.33, 'direct-mixed': 0.67}
    """
    inv = {m: 1.0 / max(e * (prior if m.endswith("sigmoid") else 1.0), 1e-9)
           for m, e in errors.items()}
    total = sum(inv.values())
    return {m: v / total for m, v in inv.items()}


def choose(errors: Mapping[str, float], prior: float = PRIOR) -> str:
    """The route of least inner error, a sigmoid route's error first multiplied by
    ``prior``: floored at chance and capped at 1, a sigmoid cannot run away beyond the
    data, while a line or an exponential can, and the inner hold-outs reach only a short
    way beyond (Ruan et al. 2024 and Bhagia et al. 2024 both use sigmoids).

    >>> choose({"direct-sigmoid": 0.033, "direct-linear": 0.028})
    'direct-sigmoid'
    >>> choose({"direct-sigmoid": 0.14, "direct-linear": 0.08})
    'direct-linear'
    """
    return min(errors, key=lambda m: errors[m] * (prior if m.endswith("sigmoid") else 1.0))


def _enough(n_train: np.ndarray, groups, train) -> bool:
    """At least three distinct sizes left to fit in some group."""
    g = np.array(groups, object)[train]
    return any(np.unique(n_train[g == v]).size >= 3 for v in dict.fromkeys(g))


def _drift(e: np.ndarray, dist: np.ndarray, resid: np.ndarray) -> float:
    """sd of accuracy error per unit of log compute beyond the data, beyond the noise the
    residuals already carry (as ``fit_law``'s drift, for accuracies)."""
    far = dist > 0
    if not far.any():
        return 0.0
    excess = max(float(np.mean(e[far] ** 2)) - float(np.mean(resid**2)), 0.0)
    return float(np.sqrt(excess / float(np.mean(dist[far] ** 2))))


def _quantiles(draws: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    q = (1 - level) / 2
    lo, hi = np.quantile(draws, [q, 1 - q], axis=0)
    return lo, hi


@quiet
def forecast_split(
    table: pd.DataFrame,
    train: np.ndarray,
    test: np.ndarray,
    *,
    n: str,
    d: str,
    metrics: Sequence[str],
    loss: str | None = None,
    group: str | None = None,
    chance: float | Mapping[str, float] = 0.0,
    methods: Sequence[str] | None = None,
    law: str = "chinchilla",
    level: float = LEVEL,
    n_boot: int = N_BOOT,
    seed: int = 0,
    k: float = K_FLOPS,
    aggregates: Mapping[str, Aggregate] | None = None,
    average: bool = False,
) -> DownstreamResult:
    """Fit on the rows ``train`` (a mask) of ``table`` and forecast the rows ``test``.

    ``methods``: the candidates (default: the two-stage links with a ``loss`` column,
    else direct sigmoid and linear), of which each metric takes the one with the least
    inner held-out error (see the module's text); one name forces it. ``chance``: one
    floor for every metric or one per metric (default 0). Returns one point per
    (metric, test row) with a finite true value. See :func:`holdout_forecast`.

    ``aggregates``: name -> :class:`~curvecast.scaling.difficulty.Aggregate`, benchmarks
    forecast as the weighted mean of the forecasts of their difficulty clusters (COD-like,
    clustered on the ``train`` rows only); each gives points named for it.

    ``average``: instead of taking one route per metric, average the candidates'
    forecasts with :func:`route_weights` (the interval: their mixture).
    """
    chance = {m: float(chance[m] if isinstance(chance, Mapping) else chance) for m in metrics}
    weights: dict[str, dict[str, float]] = {}
    metrics = list(metrics)
    for name, agg in (aggregates or {}).items():
        missing = [c for c in agg.columns if c not in table.columns]
        if missing:
            raise InputError(f"no column {missing[0]!r} (a part of aggregate {name!r})")
        _columns(table, n, d, list(agg.columns), None, None)  # parts checked in [0, 1]
        labels = clusters(table, train, agg.columns, k=agg.k, chance=agg.chance, seed=seed)
        table, weights[name] = cluster_columns(table, name, agg, labels)
        metrics += list(weights[name])
        chance.update(dict.fromkeys(weights[name], agg.chance))
    result = _forecast(table, np.asarray(train, bool), np.asarray(test, bool), n, d,
                       metrics, loss, group, chance, methods, law, level, n_boot, seed, k,
                       average)
    for name, w in weights.items():
        result = _aggregated(result, table, test, name, w, group)
    return result


def _aggregated(result: DownstreamResult, table, test, name: str, w: dict[str, float],
                group) -> DownstreamResult:
    """``result`` with the clusters of aggregate ``name`` replaced by its points."""
    te = _columns(table, *_nd(result), [name], None, group).take(np.asarray(test, bool))
    dr = combine(result.draws, w)
    pred = sum(w[c] * np.array(result.preds[c]) for c in w)
    lo, hi = _quantiles(dr, result.level)
    keep = [p for p in result.points if p.metric not in w]
    for i in np.flatnonzero(np.isfinite(te.y[name]) & np.isfinite(pred)):
        keep.append(DownstreamPoint(name, te.groups[i], float(te.n[i]), float(te.d[i]),
                                    float(te.y[name][i]), float(pred[i]),
                                    float(min(lo[i], pred[i])), float(max(hi[i], pred[i]))))
    methods = {m: v for m, v in result.methods.items() if m not in w}
    methods[name] = "clusters: " + ", ".join(f"{c} {result.methods[c]}" for c in w)
    errors = {m: v for m, v in result.inner_errors.items() if m not in w}
    errors.update({c: result.inner_errors[c] for c in w})
    return DownstreamResult(keep, result.level, methods, errors,
                            {**result.draws, name: dr}, {**result.preds, name: pred},
                            result.columns, {**result.clusters, name: w})


def _nd(result: DownstreamResult) -> tuple[str, str]:
    return result.columns


def _forecast(table, train, test, n, d, metrics, loss, group, chance, methods, law, level,
              n_boot, seed, k, average=False) -> DownstreamResult:
    data = _columns(table, n, d, metrics, loss, group)
    methods = tuple(methods or (TWO_STAGE if loss else DIRECT + ((MIXED,) if group else ())))
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise UsageError(f"unknown method {unknown[0]!r}; choose from {', '.join(METHODS)}")
    if loss is None and any(m in TWO_STAGE for m in methods):
        raise UsageError("the two-stage methods need a loss column (--loss)")
    train, test = np.asarray(train, bool), np.asarray(test, bool)
    tr, te = data.take(train), data.take(test)
    if not _enough(tr.n, tr.groups, np.ones(len(tr.n), bool)) and len(np.unique(tr.n)) < 3:
        raise InputError("the models left to fit have fewer than 3 distinct sizes (--n); "
                         "hold out fewer (--holdout-top)")
    for metric in metrics:  # a blank column would fail deep inside a fit, not as input
        if (k_ok := int(np.isfinite(tr.y[metric]).sum())) < 3:
            raise InputError(f"the metric {metric!r} has {k_ok} evaluated rows among the "
                             "models left to fit; it needs at least 3", column=metric)
    pooled = group is not None and len(metrics) > 1 and any(m in DIRECT for m in methods)
    if MIXED in methods and group is None:
        raise UsageError(f"method {MIXED!r} needs families (--group)")
    inner = (_inner(tr, metrics, methods, chance, law, seed, k, pooled) if len(methods) > 1
             else {})
    shift = shared_shift(tr, metrics, chance, k) if pooled else None
    losses = _stage_one(tr, law, n_boot, seed, drift=True)
    rng = np.random.default_rng(seed)
    loss_draws = (None if losses is None
                  else _loss_draws(losses, te.n, te.d, te.groups, rng, N_DRAWS))
    points, chosen, errors, draws, preds = [], {}, {}, {}, {}
    for metric in metrics:
        errors[metric] = {meth: float(np.mean(np.abs(inner[(metric, meth)][0])))
                          for meth in methods if (metric, meth) in inner}
        weights = (route_weights(errors[metric]) if average and len(errors[metric]) > 1
                   else {choose(errors[metric]) if errors[metric] else methods[0]: 1.0})
        pred, dr = 0.0, np.empty((N_DRAWS, len(te.n)))
        pick = (rng.choice(len(weights), N_DRAWS, p=list(weights.values()))
                if len(weights) > 1 else np.zeros(N_DRAWS, int))  # a mixture of the routes
        for j, (meth, wt) in enumerate(weights.items()):
            fit = _fit_on(meth, tr, metric, chance[metric], losses, n_boot, seed, k, shift)
            if (metric, meth) in inner:
                fit.drift_ = _drift(*inner[(metric, meth)], getattr(fit, "noise_", fit.resid_))
            pred = pred + wt * fit.predict(te.n, te.d, te.groups)
            dr[pick == j] = fit.draws(te.n, te.d, te.groups, rng, loss_draws=loss_draws)[pick == j]
        chosen[metric] = (next(iter(weights)) if len(weights) == 1 else "average: " + ", ".join(
            f"{m} {w:.2f}" for m, w in weights.items()))
        ok = np.isfinite(te.y[metric])
        lo, hi = _quantiles(dr, level)
        draws[metric], preds[metric] = dr, pred
        for i in np.flatnonzero(ok):
            points.append(DownstreamPoint(metric, te.groups[i], float(te.n[i]), float(te.d[i]),
                                          float(te.y[metric][i]), float(pred[i]),
                                          float(min(lo[i], pred[i])), float(max(hi[i], pred[i]))))
    return DownstreamResult(points, level, chosen, errors, draws, preds, (n, d))


def holdout_forecast(table: pd.DataFrame, *, n: str, d: str, metrics: Sequence[str],
                     holdout_top: int = 1, group: str | None = None, **kw) -> DownstreamResult:
    """Hold out the models at the ``holdout_top`` largest distinct N of each group (all
    their rows), fit on the rest, and forecast each held-out model's row with the most
    tokens (its final checkpoint): one point per (metric, held-out model). Keywords as
    :func:`forecast_split`. See the module's example.
    """
    if holdout_top < 1:
        raise UsageError(f"holdout_top must be at least 1, got {holdout_top}")
    parts = [c for a in (kw.get("aggregates") or {}).values() for c in a.columns]
    data = _columns(table, n, d, list(metrics) or parts[:1], kw.get("loss"), group)
    held = _largest(data.n, data.groups, holdout_top)
    return forecast_split(table, ~held, _finals(data.n, data.d, data.groups, held), n=n, d=d,
                          metrics=metrics, group=group, **kw)


def _columns(table: pd.DataFrame, n, d, metrics, loss, group) -> _Data:
    """The arrays of the named columns, checked: a missing column, a non-positive N or D,
    a non-positive loss or an accuracy outside [0, 1] is an ``InputError`` naming the row
    (from 1) and the column; NaN accuracies and losses are rows not evaluated."""
    need = [n, d, *metrics, *([loss] if loss else []), *([group] if group else [])]
    missing = [c for c in dict.fromkeys(need) if c not in table.columns]
    if missing:
        raise InputError(f"no column {', '.join(map(repr, missing))}; the columns are "
                         f"{', '.join(map(repr, table.columns))}")
    if not metrics:
        raise UsageError("give at least one metric column")
    arrays = {}
    for col in dict.fromkeys([n, d, *metrics, *([loss] if loss else [])]):
        raw = table[col]
        blank = (raw.isna() | (raw.astype(str).str.strip() == "")).to_numpy()
        v = pd.to_numeric(raw.where(~blank), errors="coerce").to_numpy(float)
        if col in (n, d) and blank.any():
            i = int(np.argmax(blank))
            raise InputError("empty cell: every row needs N and D; fill it in or drop the "
                             "row", row=i + 1, column=col)
        text = ~blank & np.isnan(v) & ~raw.astype(str).str.strip().str.lower().isin(
            ("nan", "inf", "-inf")).to_numpy()
        if text.any():
            i = int(np.argmax(text))
            raise InputError(f"{table[col].iloc[i]!r} is not a number", row=i + 1, column=col)
        arrays[col] = v
    for col, what in ((n, "parameters N"), (d, "tokens D")):
        bad = ~(np.isfinite(arrays[col]) & (arrays[col] > 0))
        if bad.any():
            i = int(np.argmax(bad))
            raise InputError(f"{what} must be a positive number, got {arrays[col][i]:g}",
                             row=i + 1, column=col)
    for col in metrics:
        v = arrays[col]
        bad = ~np.isnan(v) & ~((v >= 0) & (v <= 1))
        if bad.any():
            i = int(np.argmax(bad))
            raise InputError(f"an accuracy must lie in [0, 1], got {v[i]:g} (give fractions, "
                             "not percentages)", row=i + 1, column=col)
    if loss:
        v = arrays[loss]
        bad = ~np.isnan(v) & ~(np.isfinite(v) & (v > 0))
        if bad.any():
            i = int(np.argmax(bad))
            raise InputError(f"a loss must be positive and finite, got {v[i]:g}", row=i + 1,
                             column=loss)
    groups = (table[group].astype(str).str.strip().tolist() if group else [None] * len(table))
    return _Data(arrays[n], arrays[d], groups, arrays[loss] if loss else None,
                 {m: arrays[m] for m in metrics})
