"""A reference forecaster: Domhan et al.'s MCMC over a weighted combination of families.

This re-implements, from the paper's description, the learning-curve model of

    Domhan, Springenberg & Hutter (2015), "Speeding up automatic hyperparameter
    optimization of deep neural networks by extrapolation of learning curves", IJCAI.

Model (in the lower-is-better fitting space ``z(t)`` of :mod:`curvecast.transform`)::

    z_i ~ Normal(f_comb(t_i | xi), sigma^2),   f_comb(t | xi) = sum_k w_k f_k(t | theta_k)

with ``xi = (w_1..w_K, theta_1..theta_K, sigma)`` and the K = 11 families of the
paper (:data:`DOMHAN_FAMILIES`: vap3, pow3, loglinear (their loglog_linear), hill3,
logpower3, pow4, mmf4, exp4, janoschek, wbl4, ilog2; see :mod:`curvecast.families`,
where each is written, mirrored if needed, for a falling metric). Families that pin
their asymptote or origin at z = 0 (``needs_floor``) only enter the combination for
curves whose floor is real (a loss, error or perplexity measured from 0).

Prior, following the paper's choices:

* each ``theta_k`` is uniform within its family's bounds;
* the weights are non-negative and sum to 1, uniform on that simplex (a flat
  Dirichlet): they are sampled as ``w_k = g_k / sum(g)`` with ``g_k = exp(u_k)``
  i.i.d. Exponential(1), so the sampler moves freely in ``u``;
* ``sigma`` is log-uniform (Jeffreys) on a wide range;
* the learning curve is monotone: Domhan et al. require the combined (rising,
  accuracy) curve to end above where it starts; here the combined mean must be
  non-increasing at every point of a grid spanning the first observed time to the
  last requested one (observed times, 40 log-spaced times and the requested ones),
  which implies their condition;
* predictions are finite: every family must be finite on that grid, and (an analogue
  of the paper's accuracy in [0, 1]) where the floor is real the combined mean must
  stay >= 0. So that the posterior is proper although most parameters have infinite
  bounds (a family whose weight tends to 0 is otherwise free to run off), each family
  must also stay within a wide band of the data on the grid: 20 observed ranges beyond
  the smallest and largest observed value.

Likelihood: Gaussian, as in the paper. A binned point (``counts`` > 1, see
:mod:`curvecast.transform`) is the mean of ``g`` raw observations; the raw points'
sum of squares is ``g (mean - f)^2`` plus the within-bin spread, so the likelihood is
``-n log sigma - (sum_i g_i r_i^2 + wss) / (2 sigma^2)`` with ``n`` raw points.

Sampling: emcee's ensemble sampler, as Domhan et al. used, with all walkers of one
half-ensemble evaluated in one vectorised call. Its default stretch move mixes badly in
this model's up to 11 + 36 + 1 = 48 dimensions (on a 15-point power law the walkers'
median log-posterior was still 25 below the plateau after 1500 steps), so the default
proposal is differential evolution (ter Braak 2006; emcee's ``DEMove``), with one step
in ten a full difference (gamma = 1) to jump between modes; ``move="stretch"`` gives
the paper's sampler. Walkers start in a ball around a point that satisfies the prior:
each family's own least-squares fit (:func:`curvecast.fitting.fit_family`; the
family's data-driven starting points and, for families with an offset and an amplitude,
a nearly flat curve are also tried), spread by a tenth of the fit's standard errors;
the families whose start is monotone (and >= 0 where needed) share the weight about
equally, the others start with a tiny weight; a walker outside the prior is redrawn
closer to the centre. After burn-in, ``samples`` states are drawn from the chain (all
walkers, remaining steps); each is one mixture component of the forecast: location
``f_comb(t*)``, scale ``sigma`` (the predictive of a new observation, as in the paper),
Gaussian (df = 1e6), equal weights.

Defaults: 100 walkers (as Domhan et al.; raised to 2 * dimensions + 2 if fewer),
1500 steps of which the first 1000 are burn-in, 200 retained samples: about 2-3 s a
curve, linear in the steps. On NAS-Bench-NLP curves (epoch 50 from epochs 1-10) the
80% intervals at these settings are about 15% narrower (median) than after 10,000
steps, and the medians differ by about a tenth of that width: raise ``steps``
and ``burn`` where the posterior must be sampled more exactly. The model itself is
confident: with a Gaussian likelihood and a smooth combined curve its intervals are
narrow, so on real curves they cover less often than they claim. A curve whose sampler
cannot be started (no start satisfies the prior) or fails gets no forecast (NaN),
never an exception. A curve that rises over the observed part gets a nearly flat
forecast, since the prior only allows falling curves.

Forecasts are reproducible: each curve's random stream is derived from ``seed`` and the
curve's own data, so a curve gets the same forecast whatever else is in the batch.

>>> from curvecast.curve import Curve
>>> x = np.arange(1, 31.0); y = 0.3 + 2.0 * x ** -0.8
>>> f = MCMCForecaster(steps=400, burn=300).forecast([Curve("r", x[:10], y[:10])], at=30)
>>> bool(abs(f.median[0, 0] - y[-1]) < 0.1)
True
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

from ..errors import UsageError
from ..families import FAMILIES, Family
from ..fitting import fit_family, summarise
from ..transform import Frame
from .base import Components, Forecaster

DOMHAN_FAMILIES = ("vap3", "pow3", "loglinear", "hill3", "logpower3", "pow4", "mmf4",
                   "exp4", "janoschek", "wbl4", "ilog2")
"""The 11 families of Domhan et al. (2015), by their names in :data:`FAMILIES`."""

GRID_POINTS = 40
"""Log-spaced times on which the prior's monotonicity and finiteness are checked."""
BAND = 20.0
"""Each family must stay within this many observed ranges of the data (see above)."""
U_BOUNDS = (-30.0, 6.0)
"""Bounds of the log-gamma weight variables u_k (the prior mass beyond is negligible)."""
U_START_BAD = -12.0
"""Starting u of a family whose own fit breaks the prior: weight ~ 6e-6 of the others."""
MONO_TOL = 1e-9
"""Rises smaller than this (relative to the data's range) count as flat."""
DF = 1e6
"""Degrees of freedom of every component: Gaussian."""
BALL = 0.1
"""Walkers start this many least-squares standard errors around each family's fit."""
U_SPREAD = 0.3
"""Starting spread of the weight variables u_k."""


class MCMCForecaster(Forecaster):
    """Domhan et al.'s (2015) MCMC learning-curve model; see the module docstring.

    Parameters
    ----------
    walkers: emcee walkers (raised to 2 * dimensions + 2 if fewer).
    steps: steps of each walker, burn-in included.
    burn: steps discarded as burn-in.
    samples: posterior samples kept per curve (the mixture components).
    families: names of the families to combine (default :data:`DOMHAN_FAMILIES`).
    seed: non-negative integer seed of the random streams (forecasts are reproducible
        given it).
    move: 'de' (differential evolution, default) or 'stretch' (emcee's default, as in
        the paper); see the module docstring.
    bound: the metric's best attainable value, if known (see :class:`Forecaster`).
    """

    name = "mcmc"

    def __init__(
        self,
        walkers: int = 100,
        steps: int = 1500,
        burn: int = 1000,
        samples: int = 200,
        families: Sequence[str] | None = None,
        seed: int = 0,
        move: str = "de",
        bound: float | None = None,
    ) -> None:
        super().__init__(bound)
        if move not in MOVES:
            raise UsageError(f"unknown move {move!r}; choose from {list(MOVES)}")
        self.move = move
        if steps <= burn or burn < 0 or samples < 1 or walkers < 2:
            raise UsageError("need walkers >= 2, samples >= 1 and steps > burn >= 0")
        self.walkers, self.steps, self.burn, self.samples = walkers, steps, burn, samples
        self.families = tuple(families) if families is not None else DOMHAN_FAMILIES
        unknown = [f for f in self.families if f not in FAMILIES]
        if unknown:
            raise UsageError(f"unknown families {unknown}; choose from {list(FAMILIES)}")
        self.seed = seed

    def components(self, frame: Frame, t: np.ndarray) -> Components:
        emcee = _import_emcee()
        B, X = t.shape
        K = self.samples
        loc = np.zeros((B, X, K))
        scale = np.ones((B, X, K))
        weight = np.zeros((B, K))
        fams = [FAMILIES[f] for f in self.families]
        for b in range(B):
            try:
                with np.errstate(all="ignore"):
                    out = self._curve(emcee, frame, b, t[b], fams)
            except (ArithmeticError, ValueError, RuntimeError, np.linalg.LinAlgError):
                out = None  # the sampler failed on this curve: no forecast, no crash
            if out is not None:
                loc[b], scale[b], weight[b] = out
        return Components(loc, scale, np.full((B, K), DF), weight)

    def _curve(self, emcee, frame: Frame, b: int, t_req: np.ndarray, fams: list[Family]):
        m = frame.mask[b]
        model = _Model.build(
            frame.t[b, m], frame.z[b, m], frame.counts[b, m], float(frame.wss[b]),
            bool(frame.has_floor[b]), t_req, fams,
        )
        if model is None:
            return None
        key = zlib.crc32(np.ascontiguousarray(np.stack([frame.t[b, m], frame.z[b, m]])).tobytes())
        rng = np.random.default_rng([self.seed, key])
        W = max(self.walkers, 2 * model.dim + 2)
        p0 = model.start_ball(W, rng)
        if p0 is None:
            return None
        state = emcee.State(p0, random_state=np.random.RandomState(
            int(rng.integers(2**32 - 1))).get_state())
        sampler = emcee.EnsembleSampler(W, model.dim, model.log_prob, vectorize=True,
                                        moves=_moves(emcee, self.move))
        sampler.run_mcmc(state, self.steps, progress=False)
        chain = sampler.get_chain(discard=self.burn, flat=True)
        lp = sampler.get_log_prob(discard=self.burn, flat=True)
        chain = chain[np.isfinite(lp)]
        if chain.shape[0] == 0:
            return None
        pick = rng.choice(chain.shape[0], self.samples, replace=chain.shape[0] < self.samples)
        mu, sigma = model.predict(chain[pick], t_req)
        ok = np.isfinite(mu).all(axis=0) & np.isfinite(sigma) & (sigma > 0)
        if not ok.any():
            return None
        mu = np.where(ok, mu, 0.0)
        return mu, np.broadcast_to(np.where(ok, sigma, 1.0), mu.shape), ok.astype(float)


MOVES = ("de", "stretch")
"""Proposals: differential evolution (default) or Goodman & Weare's stretch move."""


def _moves(emcee, move: str):
    if move == "stretch":
        return emcee.moves.StretchMove()
    # ter Braak (2006): scaled differences of two other walkers; every tenth step a full
    # (gamma = 1) difference, which lets walkers jump between modes
    return [(emcee.moves.DEMove(), 0.9), (emcee.moves.DEMove(gamma0=1.0), 0.1)]


def _import_emcee():
    try:
        import emcee
    except ImportError:  # pragma: no cover - emcee ships with the test extra
        raise UsageError("the 'mcmc' method needs emcee: pip install emcee") from None
    return emcee


class _Model:
    """Log-posterior of the combined model for one curve, vectorised over walkers.

    The parameter vector is ``[theta_1, ..., theta_K, u_1, ..., u_K, log sigma]``.
    """

    def __init__(self, fams, slices, lo, hi, t_obs, z, g, wss, grid, obs_idx, floor, band):
        self.fams, self.slices, self.lo, self.hi = fams, slices, lo, hi
        self.t_obs, self.z, self.g, self.wss, self.n_raw = t_obs, z, g, wss, float(g.sum())
        self.grid, self.obs_idx, self.floor, self.band = grid, obs_idx, floor, band
        self.K = len(fams)
        self.dim = lo.size
        self.center = self.spread = None  # set by build
        self.tol = MONO_TOL * (band[1] - band[0])

    # --- construction ------------------------------------------------------------------
    @classmethod
    def build(cls, t_obs, z, g, wss, floor, t_req, fams):
        zmin, zmax = float(z.min()), float(z.max())
        rng_z = max(zmax - zmin, 1e-2 * max(abs(zmin), abs(zmax)), 1e-12)
        band = (zmin - BAND * rng_z, zmax + BAND * rng_z)
        t0, t1 = float(t_obs.min()), float(t_obs.max())
        horizon = max(t1, float(np.max(t_req)))
        inside = t_req[(t_req >= t0) & (t_req <= horizon)]
        grid = np.unique(np.concatenate([t_obs, np.geomspace(t0, horizon, GRID_POINTS), inside]))
        obs_idx = np.searchsorted(grid, t_obs)
        fams = [f for f in fams if floor or not f.needs_floor]
        summ = summarise(t_obs[None], z[None], np.ones((1, z.size), bool))
        starts, good, kept, spread = [], [], [], []
        for fam in fams:
            st = _family_start(fam, t_obs, z, g, grid, obs_idx, band, floor, summ)
            if st is not None:
                kept.append(fam)
                starts.append(st[0])
                good.append(st[1])
                spread.append(st[2])
        if not any(good):
            return None
        slices, lo, hi, pos = [], [], [], 0
        for fam in kept:
            slices.append(slice(pos, pos + fam.n_params))
            pos += fam.n_params
            lo += list(fam.lower)
            hi += list(fam.upper)
        K = len(kept)
        lo += [U_BOUNDS[0]] * K + [np.log(1e-6 * rng_z)]
        hi += [U_BOUNDS[1]] * K + [np.log(10.0 * (rng_z + max(abs(zmin), abs(zmax))))]
        u = np.where(good, 0.0, U_START_BAD)
        model = cls(kept, slices, np.array(lo), np.array(hi), t_obs, z, g, wss, grid, obs_idx,
                    floor, band)
        theta = np.concatenate(starts + [u, [0.0]])
        # sigma starts at the residual scale of the starting combination
        comb, _ = model._combine(theta[None])
        sse = float((g * (z - comb[0, obs_idx]) ** 2).sum() + wss)
        theta[-1] = np.clip(0.5 * np.log(max(sse / model.n_raw, (1e-4 * rng_z) ** 2)),
                            model.lo[-1] + 1e-3, model.hi[-1] - 1e-3)
        if not np.isfinite(model.log_prob(theta[None])[0]):
            theta[model.dim - 1 - K: model.dim - 1] = np.where(good, 0.0, U_BOUNDS[0])
            if not np.isfinite(model.log_prob(theta[None])[0]):
                return None
        model.center = theta
        model.spread = np.concatenate(spread + [np.full(K, U_SPREAD), [0.1]])
        return model

    def start_ball(self, W: int, rng: np.random.Generator):
        """W walkers in a small ball around the start, all inside the prior's support."""
        c, spread = self.center, self.spread
        p = np.empty((W, self.dim))
        todo = np.arange(W)
        for shrink in 10.0 ** -np.arange(7):
            x = c + shrink * spread * rng.standard_normal((todo.size, self.dim))
            x = np.where(x < self.lo, 2 * self.lo - x, x)  # reflect off the bounds
            x = np.where(x > self.hi, 2 * self.hi - x, x)
            ok = np.isfinite(self.log_prob(x))
            p[todo[ok]] = x[ok]
            todo = todo[~ok]
            if todo.size == 0:
                return p
        return None

    # --- evaluation ----------------------------------------------------------------------
    def _combine(self, x: np.ndarray, t: np.ndarray | None = None):
        """Combined mean on the grid (or at t) for walkers x (W, D), and which are valid."""
        W = x.shape[0]
        at = self.grid if t is None else t
        tt = np.broadcast_to(at, (W, at.size))
        K = self.K
        u = x[:, self.dim - 1 - K: self.dim - 1]
        w = np.exp(u - u.max(axis=1, keepdims=True))
        w /= w.sum(axis=1, keepdims=True)
        F = np.stack([fam.f(tt, x[:, sl]) for fam, sl in zip(self.fams, self.slices)])
        if t is None:  # every family finite and within the band on the grid
            ok = ((F >= self.band[0]) & (F <= self.band[1])).all(axis=(0, 2))
        else:
            ok = np.ones(W, bool)
        comb = np.einsum("wk,kwm->wm", w, F)
        return comb, ok

    def log_prob(self, x: np.ndarray) -> np.ndarray:
        out = np.full(x.shape[0], -np.inf)
        inb = np.isfinite(x).all(axis=1) & ((x >= self.lo) & (x <= self.hi)).all(axis=1)
        rows = np.flatnonzero(inb)
        if rows.size == 0:
            return out
        xs = x[rows]
        with np.errstate(all="ignore"):
            comb, ok = self._combine(xs)
            ok &= np.isfinite(comb).all(axis=1)
            ok &= (np.diff(comb, axis=1) <= self.tol).all(axis=1)
            if self.floor:
                ok &= (comb >= 0).all(axis=1)
            r = self.z - comb[:, self.obs_idx]
            logsig = xs[:, -1]
            ll = -self.n_raw * logsig - 0.5 * ((self.g * r * r).sum(axis=1) + self.wss) * np.exp(
                -2 * logsig)
            u = xs[:, self.dim - 1 - self.K: self.dim - 1]
            prior = (u - np.exp(u)).sum(axis=1)
            lp = ll + prior
        out[rows] = np.where(ok & np.isfinite(lp), lp, -np.inf)
        return out

    def predict(self, x: np.ndarray, t: np.ndarray):
        """Combined mean at t (X,) for samples x (S, D): (X, S); and sigma (S,)."""
        with np.errstate(all="ignore"):
            comb, _ = self._combine(x, np.asarray(t, float))
        return comb.T, np.exp(x[:, -1])


def _family_start(fam: Family, t, z, g, grid, obs_idx, band, floor, summ):
    """(theta, satisfies the prior alone) for one family, or None if nothing is finite."""
    lo, hi = np.asarray(fam.lower, float), np.asarray(fam.upper, float)
    cands = [np.asarray(fam.init(summ))[0]]
    fit = None
    try:
        fit = fit_family(fam, t[None], z[None], np.ones((1, z.size), bool), counts=g[None],
                         robust=False)
        cands.insert(0, fit.theta)
    except (ArithmeticError, ValueError, np.linalg.LinAlgError):
        pass
    if fam.params[:2] == ("c", "a"):  # a nearly flat curve is always monotone
        flat = np.array(cands[-1][0], float)
        flat[0], flat[1] = float(np.median(z)), 1e-6 * (band[1] - band[0])
        cands.append(flat[None])
    theta = np.clip(np.nan_to_num(np.concatenate(cands), nan=0.0, posinf=0.0, neginf=0.0),
                    lo, hi)
    with np.errstate(all="ignore"):
        f = fam.f(np.broadcast_to(grid, (theta.shape[0], grid.size)), theta)
        fin = np.isfinite(f).all(axis=1) & (f >= band[0]).all(axis=1) & (f <= band[1]).all(axis=1)
        mono = (np.diff(f, axis=1) <= 0).all(axis=1) & (not floor or (f >= 0).all(axis=1))
        sse = np.where(fin, (g * (f[:, obs_idx] - z) ** 2).sum(axis=1), np.inf)
    if not fin.any():
        return None
    good = fin & mono
    best = np.argmin(np.where(good, sse, np.inf)) if good.any() else np.argmin(sse)
    th = theta[best]
    sd = 1e-3 * (np.abs(th) + 1e-3)
    if fit is not None and best == 0:  # a fraction of the fit's standard errors
        se = np.sqrt(np.abs(np.diag(fit.cov[0])))
        sd = np.clip(BALL * np.nan_to_num(se, nan=0.0, posinf=np.inf), sd,
                     np.maximum(0.1 * (np.abs(th) + 1e-2), sd))
    return th, bool(good.any()), sd
