"""Forecast: a predictive distribution of a curve's value at requested steps.

The distribution at each step is a weighted mixture of location-scale Student-t
components (one per model that survived fitting; a single component for the
baselines). A mixture keeps what matters for learning curves: model uncertainty
(components disagree), parameter uncertainty and observation noise (each component's
scale), and heavy tails for short curves (few degrees of freedom), while cdf, density,
quantiles and samples stay exact and cheap for thousands of curves at once.

A metric with a hard bound (a loss is never below 0; accuracy never above 1) gets a
mixture censored there (``lower``/``upper``): the mass the mixture puts beyond the bound
sits on the bound, so no quantile reaches impossible values and every quantile inside
the bounds is the mixture's own (a forecast centred on the value now keeps its median).

A Forecast holds B curves (B = 1 for :func:`curvecast.forecast`); every question is
answered for all of them in one vectorised call. Indexing a batch gives one curve.
Rows with no usable component (a diverged or too-short run) answer NaN.

Axes: every answer has the curves first (absent for one curve), then the steps, then,
for :meth:`Forecast.quantiles` and :meth:`Forecast.interval` (``axis=-1``), the
probabilities.

>>> f = Forecast(x=[10.0], loc=[[[1.0]]], scale=[[[0.1]]], df=[[1e6]], weights=[[1.0]])
>>> round(float(f.median[0, 0]), 3), [round(float(v), 3) for v in f.interval(0.8, axis=-1)[0, 0]]
(1.0, [0.872, 1.128])
>>> round(float(f[0].prob_better_than(1.0)[0]), 3)
0.5
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import special

from .curve import Goal, check_goal
from .errors import UsageError
from .numerics import quiet

_MAX_ITERS = 80
_MEAN_POINTS = 64
_CDF_TOL = 1e-14
"""Quantiles solve cdf(x) = q to this: near float64's resolution, so a forecast's last
digits do not hinge on when the solver stopped."""
_ETA_BISECTIONS = 48
"""Halvings of the bracket in Forecast.eta(refine=True): to float resolution."""


def _arr(a, ndim: int) -> np.ndarray:
    out = np.asarray(a, dtype=float)
    if out.ndim != ndim:
        raise UsageError(f"expected an array with {ndim} dimensions, got shape {out.shape}")
    return out


class Forecast:
    """Predictive distribution of B curves at the steps ``x``.

    Parameters
    ----------
    x: (X,) steps at which the forecast is given, increasing.
    loc, scale: (B, X, K) location and scale of each mixture component.
    df: (B, K) degrees of freedom of each component (large = Gaussian).
    weights: (B, K) mixture weights, or (B, X, K) where they change with the step; a
        curve whose weights sum to 0 at any step has no forecast.
    goal: 'min' or 'max': which way is better, for prob_better_than and eta.
    runs: optional names of the B curves.
    lower, upper: (B,) bounds of each curve's values (default unbounded); the mixture is
        censored at them.
    single: answer without the batch axis (a Forecast of one curve).
    """

    @quiet
    def __init__(
        self,
        x,
        loc,
        scale,
        df,
        weights,
        goal: Goal = "min",
        runs: list[str] | None = None,
        lower=None,
        upper=None,
        single: bool = False,
    ) -> None:
        self.x = _arr(x, 1)
        self.loc = _arr(loc, 3)
        self.scale = _arr(scale, 3)
        self.df = _arr(df, 2)
        w = np.asarray(weights, dtype=float)
        w = np.where(np.isfinite(w), w, 0.0)
        B, X, K = self.loc.shape
        if w.shape == (B, K):
            w = np.broadcast_to(w[:, None, :], (B, X, K))
        if self.scale.shape != (B, X, K) or self.df.shape != (B, K) or w.shape != (B, X, K):
            raise UsageError(
                "loc, scale (B, X, K), df (B, K) and weights (B, K) or (B, X, K) shapes disagree")
        if X != self.x.size:
            raise UsageError(f"{self.x.size} steps but components for {X}")
        total = w.sum(axis=2, keepdims=True)
        self.weights = np.where(total > 0, w / np.where(total > 0, total, 1.0), 0.0)
        self.valid = (total[..., 0] > 0).all(axis=1)
        self.goal = check_goal(goal)
        self.runs = list(runs) if runs is not None else [str(i) for i in range(B)]
        self.lower = np.broadcast_to(-np.inf if lower is None else np.asarray(lower, float), (B,))
        self.upper = np.broadcast_to(np.inf if upper is None else np.asarray(upper, float), (B,))
        self.single = single and B == 1

    # --- shape handling -----------------------------------------------------------
    def __len__(self) -> int:
        return self.loc.shape[0]

    def __getitem__(self, i: int | str) -> Forecast:
        if isinstance(i, str):
            i = self.runs.index(i)
        sl = slice(i, i + 1) if i != -1 else slice(-1, None)
        return Forecast(
            self.x, self.loc[sl], self.scale[sl], self.df[sl], self.weights[sl],
            self.goal, self.runs[sl], self.lower[sl], self.upper[sl], single=True,
        )

    def __repr__(self) -> str:
        return f"Forecast({len(self)} curves, {self.x.size} steps, goal={self.goal!r})"

    def _out(self, a: np.ndarray) -> np.ndarray:
        a = np.where(self.valid.reshape((-1,) + (1,) * (a.ndim - 1)), a, np.nan)
        return a[0] if self.single else a

    # --- the distribution -----------------------------------------------------------
    def _std(self, v: np.ndarray) -> np.ndarray:
        """Standardised values (B, X, K) of v (B, X) under each component."""
        return (v[:, :, None] - self.loc) / self.scale

    def _broadcast_value(self, v) -> np.ndarray:
        """Caller's value(s) as (B, X).

        One curve: a scalar or one value per step (X,). A batch: a scalar, one value per
        curve (B,), or (B, X).
        """
        v = np.asarray(v, float)
        B, X = self.loc.shape[:2]
        if self.single or v.ndim != 1:
            shape = (X,) if self.single else (B, X)
            if v.ndim > len(shape) or (v.ndim and v.shape != shape[-v.ndim:]):
                raise UsageError(f"value of shape {v.shape} does not fit forecasts of shape {shape}")
            return np.broadcast_to(v, (B, X))
        if v.shape[0] != B:
            raise UsageError(f"{v.shape[0]} values for {B} curves; give one per curve")
        return np.broadcast_to(v[:, None], (B, X))

    def _mix_cdf(self, v: np.ndarray) -> np.ndarray:
        """Mixture cdf at v (B, X), bounds ignored."""
        return (self.weights * special.stdtr(self.df[:, None, :], self._std(v))).sum(axis=2)

    @property
    def bounded(self) -> bool:
        return bool(np.isfinite(self.lower).any() or np.isfinite(self.upper).any())

    @quiet
    def cdf(self, v) -> np.ndarray:
        """P(value <= v) at every step; v is a scalar, (X,) or (B, X)."""
        v = self._broadcast_value(v)
        c = self._mix_cdf(v)
        c = np.where(v < self.lower[:, None], 0.0, np.where(v >= self.upper[:, None], 1.0, c))
        # weights sum to 1 only up to rounding
        return self._out(np.clip(c, 0.0, 1.0))

    @quiet
    def logpdf(self, v) -> np.ndarray:
        """Log predictive density at v (for log scores); -inf outside the bounds.

        At a bound itself this is the density of the continuous part, not of the atom.
        """
        v = self._broadcast_value(v)
        df = self.df[:, None, :]
        logt = _log_t_density(self._std(v), df)
        with np.errstate(divide="ignore"):
            logw = np.log(self.weights)
        out = special.logsumexp(logt + logw - np.log(self.scale), axis=2)
        inside = (v >= self.lower[:, None]) & (v <= self.upper[:, None])
        return self._out(np.where(inside, out, -np.inf))

    def pdf(self, v) -> np.ndarray:
        """Predictive density at v."""
        return np.exp(self.logpdf(v))

    @property
    @quiet
    def mean(self) -> np.ndarray:
        """Mixture mean (B, X) or (X,); of a censored mixture by its quantile function."""
        if not self.bounded:
            return self._out((self.weights * self.loc).sum(axis=2))
        grid = (np.arange(_MEAN_POINTS) + 0.5) / _MEAN_POINTS
        return self.quantiles(grid).mean(axis=-1)

    @property
    def median(self) -> np.ndarray:
        """Mixture median (B, X) or (X,)."""
        return self.quantiles([0.5])[..., 0]

    @quiet
    def quantiles(self, qs) -> np.ndarray:
        """Quantiles at probabilities qs: shape (B, X, Q), or (X, Q) for one curve."""
        qs = np.atleast_1d(np.asarray(qs, float))
        if qs.ndim != 1 or ((qs <= 0) | (qs >= 1)).any():
            raise UsageError(f"quantile probabilities must lie strictly between 0 and 1, got {qs}")
        B, X = self.loc.shape[:2]
        return self._out(self._quantiles(np.broadcast_to(qs, (B, X, qs.size))))

    def _quantiles(self, qs: np.ndarray) -> np.ndarray:
        """Quantiles at probabilities qs of shape (B, X, Q), censored at the bounds.

        The mixture's p-quantile lies between its components' p-quantiles: Newton's
        method on the cdf, kept inside that shrinking bracket (bisecting when a step
        would leave it), converges in a few steps.
        """
        comp = self.loc[..., None] + self.scale[..., None] * special.stdtrit(
            self.df[:, None, :, None], qs[:, :, None, :]
        )  # (B, X, K, Q)
        used = (self.weights > 0)[..., None]
        lo = np.where(used, comp, np.inf).min(axis=2)
        hi = np.where(used, comp, -np.inf).max(axis=2)
        x0 = (self.weights[..., None] * np.where(used, comp, 0.0)).sum(axis=2)
        B, X, K = self.loc.shape
        Q = qs.shape[-1]
        rows = lambda a: np.repeat(a.reshape(B * X, K), Q, axis=0)  # noqa: E731
        out = _solve_quantiles(
            np.ascontiguousarray(qs).ravel(),
            np.where(np.isfinite(lo), lo, 0.0).ravel(),
            np.where(np.isfinite(hi), hi, 0.0).ravel(),
            x0.ravel(),
            rows(self.loc),
            rows(self.scale),
            rows(np.repeat(self.df[:, None, :], X, axis=1)),
            rows(self.weights),
        ).reshape(B, X, Q)
        return np.clip(out, self.lower[:, None, None], self.upper[:, None, None])

    def interval(self, level: float = 0.8, *, axis: int | None = None) -> np.ndarray:
        """Central interval at probability ``level``: lower and upper bounds.

        The axis convention is the one of :meth:`quantiles`: steps first, probabilities
        last. ``axis=-1`` gives (B, X, 2), or (X, 2) for one curve (``[..., 0]`` the
        lower bounds, ``[..., 1]`` the upper). ``axis=0`` gives the layout of curvecast
        0.1, (2, B, X) or (2, X). Without ``axis`` it is still 0.1's layout, with a
        FutureWarning: from 0.3 on the default is ``axis=-1``.

        >>> f = Forecast(x=[1.0, 2.0], loc=[[[0.0], [1.0]]], scale=[[[1.0], [1.0]]],
        ...              df=[[1e6]], weights=[[1.0]])[0]
        >>> f.interval(0.8, axis=-1).shape, f.interval(0.8, axis=0).shape
        ((2, 2), (2, 2))
        >>> lo, hi = np.moveaxis(f.interval(0.8, axis=-1), -1, 0)
        >>> lo.round(2).tolist(), hi.round(2).tolist()
        ([-1.28, -0.28], [1.28, 2.28])
        """
        if not 0 < level < 1:
            raise UsageError(f"level must lie strictly between 0 and 1, got {level}")
        if axis is None:
            warnings.warn("Forecast.interval(level) puts lower/upper on the first axis; from "
                          "curvecast 0.3 it puts them last, as quantiles() does: pass "
                          "axis=-1 for that now (or axis=0 to keep this layout)",
                          FutureWarning, stacklevel=2)
            axis = 0
        if axis not in (0, -1):
            raise UsageError(f"axis must be -1 (bounds last) or 0 (bounds first), got {axis}")
        q = self.quantiles([(1 - level) / 2, (1 + level) / 2])
        return q if axis == -1 else np.moveaxis(q, -1, 0)

    def prob_better_than(self, v) -> np.ndarray:
        """Probability that the value is better than v (below for 'min', above for 'max')."""
        c = self.cdf(v)
        return c if self.goal == "min" else 1.0 - c

    @quiet
    def samples(self, n: int, seed: int | None = 0) -> np.ndarray:
        """``n`` draws per curve and step: (B, n, X), or (n, X) for one curve.

        Drawn by inverting the cdf with one uniform number per sample path, so each path
        keeps its quantile across steps (a run that is unlucky early stays unlucky) and
        every step's draws follow that step's forecast exactly, bounds included.
        """
        if n < 1:
            raise UsageError(f"give n >= 1 samples, not {n}")
        rng = np.random.default_rng(seed)
        B, X = self.loc.shape[:2]
        u = rng.uniform(1e-12, 1 - 1e-12, (B, n))
        draws = self._quantiles(np.broadcast_to(u[:, None, :], (B, X, n)))
        return self._out(np.swapaxes(draws, 1, 2))

    @quiet
    def eta(self, target: float, prob: float = 0.5, after=None, *,
            refine: bool = False) -> np.ndarray:
        """First step at which the target is reached with probability >= prob.

        Only steps after ``after`` (a scalar, or one step per curve) count, e.g. each
        run's last observed step. NaN where the target is not reached within the
        forecast steps. Shape (B,), or a scalar for one curve.

        Without ``refine`` the answer is one of the forecast steps. With it, the step
        is found between the two that bracket it (the last short of the target, or
        ``after``, and the first past it), on the forecast taken linear between them
        (each component's location, scale and weight), to float precision: a coarse
        grid of steps then answers as a dense one would.

        >>> f = Forecast(x=[0.0, 10.0], loc=[[[1.0], [0.0]]], scale=[[[0.01], [0.01]]],
        ...              df=[[1e6]], weights=[[1.0]])[0]
        >>> float(f.eta(0.25)), round(float(f.eta(0.25, refine=True)), 6)
        (10.0, 7.5)
        """
        if not 0 < prob < 1:
            raise UsageError(f"prob must lie strictly between 0 and 1, got {prob}")
        p = self.prob_better_than(target)
        p = p[None] if self.single else p
        hit = p >= prob
        if after is not None:
            after = np.broadcast_to(np.asarray(after, float), (len(self),))
            hit &= self.x[None, :] > after[:, None]
        first = np.argmax(hit, axis=1)
        found = hit.any(axis=1) & self.valid
        out = np.where(found, self.x[first], np.nan)
        rows = np.flatnonzero(found & (first > 0)) if refine else np.array([], int)
        if rows.size:
            out[rows] = self._refine_eta(rows, first[rows], target, prob,
                                         None if after is None else after[rows])
        return out[0] if self.single else out

    def _refine_eta(self, rows: np.ndarray, k: np.ndarray, target: float, prob: float,
                    after: np.ndarray | None) -> np.ndarray:
        """Bisect (x[k-1], x[k]] of each row for the first step reaching the target, on
        the components interpolated linearly between the two steps."""
        a, b = self.x[k - 1], self.x[k]
        lo = a.copy() if after is None else np.maximum(a, after)
        hi = b.copy()
        pick = lambda arr, j: arr[rows, j]
        loc0, loc1 = pick(self.loc, k - 1), pick(self.loc, k)
        sc0, sc1 = pick(self.scale, k - 1), pick(self.scale, k)
        w0, w1 = pick(self.weights, k - 1), pick(self.weights, k)
        runs = [self.runs[i] for i in rows]
        df, lower, upper = self.df[rows], self.lower[rows], self.upper[rows]
        for _ in range(_ETA_BISECTIONS):
            mid = 0.5 * (lo + hi)
            t = ((mid - a) / (b - a))[:, None]
            between = Forecast([0.0], (loc0 + t * (loc1 - loc0))[:, None],
                               (sc0 + t * (sc1 - sc0))[:, None], df,
                               (w0 + t * (w1 - w0))[:, None], self.goal, runs, lower, upper)
            reached = between.prob_better_than(target)[:, 0] >= prob
            hi, lo = np.where(reached, mid, hi), np.where(reached, lo, mid)
        return hi


def _log_t_density(z: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Log density of the standard Student-t with ``df`` degrees of freedom at z."""
    return (
        special.gammaln((df + 1) / 2) - special.gammaln(df / 2)
        - 0.5 * np.log(df * np.pi) - (df + 1) / 2 * np.log1p(z * z / df)
    )


def _solve_quantiles(q, lo, hi, x, loc, scale, df, w) -> np.ndarray:
    """Solve cdf(x) = q for N independent mixtures (rows of loc, scale, df, w: (N, K)).

    Safeguarded Newton: each step shrinks the bracket [lo, hi]; a Newton step that
    would leave it is replaced by bisection. Converged entries drop out, so the rare
    multimodal mixture that needs many bisections costs only itself.
    """
    x = x.copy()
    active = np.arange(q.size)
    for _ in range(_MAX_ITERS):
        if active.size == 0:
            break
        xa = x[active]
        z = (xa[:, None] - loc[active]) / scale[active]
        d, wa = df[active], w[active]
        cdf = (wa * special.stdtr(d, z)).sum(axis=1)
        pdf = (wa * np.exp(_log_t_density(z, d)) / scale[active]).sum(axis=1)
        err = cdf - q[active]
        below = err < 0
        la = np.where(below, xa, lo[active])
        ha = np.where(below, hi[active], xa)
        lo[active], hi[active] = la, ha
        with np.errstate(all="ignore"):
            step = xa - err / pdf
        x[active] = np.where((step > la) & (step < ha), step, 0.5 * (la + ha))
        width = ha - la
        done = (np.abs(err) < _CDF_TOL) | (width <= 1e-13 * (np.abs(xa) + scale[active].min(axis=1)))
        x[active] = np.where(done, xa, x[active])
        active = active[~done]
    return x
