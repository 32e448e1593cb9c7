"""Study-aware forecasts: learn from the finished runs of the same sweep.

The per-curve forecaster reads one curve; finished runs of the same study say how this
task's curves bend, how early values rank final ones, and how hyperparameters map to
outcomes (Baker et al. 2017 regress finals on such features; Domhan et al. 2015 use
none of it). Here every finished run is cut where the run being forecast stands now
(its last step seen) and forecast by the per-curve forecaster, so the study shows where
the truth fell in that forecast, and for which runs. A Gaussian process learns that
error (on the normal scale of the forecast's own quantiles) from the run's state at the
cut and its numeric hyperparameters; its cross-validated errors on the finished runs
set the spread (a conformal predictive distribution: the forecast's quantiles are those
of the errors it made on this study's own runs, Vovk et al. 2017), mapped back through
the per-curve quantile function.

With fewer than MIN_CONTEXT finished runs the per-curve forecast is returned as is.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special
from threadpoolctl import threadpool_limits

from ..curve import Curve
from ..forecast import Forecast
from ..numerics import quiet
from .base import Forecaster, steps_array
from .gp import GP
from .learned import LearnedForecaster

MIN_CONTEXT = 5
"""Fewest finished runs (reaching the step forecast) before the study is used."""
QUANTILES = 24
"""Components of the study's predictive mixture: quantiles of the cross-validated errors."""
FOLDS = 5
"""Folds of the cross-validation whose errors calibrate the forecast..."""
REFIT_CV = 100
"""...up to this many finished runs; beyond, leave-one-out (see _cross_validate)."""
SHRINK = np.linspace(0.0, 1.0, 11)
"""Fractions of the GP's correction tried (see _shrinkage)."""
TAIL_DF = 3.0
"""Degrees of freedom of those components: a run unlike the finished ones may land far
outside them, and the log score must not punish that as impossible."""
GRID_P = 1e-4
GRID_Z = np.linspace(special.ndtri(GRID_P), -special.ndtri(GRID_P), 25)
GRID_LEVELS = special.ndtr(GRID_Z)
"""Where the per-curve quantile function is evaluated (evenly on the normal scale, to
its 0.01% and 99.99% quantiles); the study's components are interpolated in it."""
Z_MAX = 6.0
"""Largest error, on the normal scale of the per-curve forecast, the study learns from."""
SPREAD_INDEX = [8, 12, 16]
SPREAD_LEVELS = GRID_LEVELS[SPREAD_INDEX]
"""Quantiles (about 11%, 50%, 89%) that give the GP the per-curve centre and spread."""
CACHE = 128
"""Fitted study models kept (one per step seen and steps asked)."""
REF_POINTS = 3
OUTSIDE = 0.25
"""A run whose state (level, last, best, recent change, expected change) lies beyond the
finished runs' range at the same step by more than this fraction of that range is
unlike all of them: the study says nothing about it, and it keeps its per-curve forecast."""


class StudyForecaster(Forecaster):
    """The per-curve forecast corrected and calibrated on the study's finished runs.

    Parameters
    ----------
    context: finished runs of the same study (whole curves; runs that diverged are ignored).
    base: the per-curve forecaster (default: the learned ensemble).
    bound: the metric's best attainable value, if known.
    """

    name = "study"
    uses_context = True

    def __init__(self, context: Sequence[Curve] = (), base: Forecaster | None = None,
                 bound: float | None = None) -> None:
        super().__init__(bound)
        self.base = base if base is not None else LearnedForecaster(bound=bound)
        self.fit(context)

    def fit(self, context: Sequence[Curve]) -> StudyForecaster:
        """Learn from the study's finished runs (runs that diverged are ignored); the
        models fitted on an earlier study are dropped. Returns self.

        >>> from curvecast.curve import Curve
        >>> from curvecast.forecasters import LastValue
        >>> done = [Curve(str(i), [1, 2, 3, 4], [1, .8 - i / 90, .7 - i / 50, .6 - i / 40])
        ...         for i in range(8)]
        >>> f = StudyForecaster(base=LastValue()).fit(done)
        >>> fc = f.forecast([done[4].head(2)], [4])
        >>> len(f.context_), bool(abs(fc.median[0, 0] - done[4].last) < 0.05)
        (8, True)
        """
        self.context_ = [c for c in context if c.status == "ok"]
        self._models: OrderedDict = OrderedDict()
        return self

    def with_context(self, context: Sequence[Curve]) -> StudyForecaster:
        """Deprecated (use :meth:`fit`): a new forecaster learning from ``context``."""
        warnings.warn("StudyForecaster.with_context is deprecated; use fit(context)",
                      DeprecationWarning, stacklevel=2)
        return StudyForecaster(context, self.base, self.bound)

    @quiet
    def forecast(self, curves: Sequence[Curve], at) -> Forecast:
        x = steps_array(at)
        curves = list(curves)
        fc = self.base.forecast(curves, x)
        if len(self.context_) < MIN_CONTEXT or not curves:
            return fc
        goal = curves[0].goal
        context = [c for c in self.context_ if c.goal == goal]
        ok = [i for i, c in enumerate(curves) if fc.valid[i]]
        by_step: dict[float, list[int]] = {}
        for i in ok:
            by_step.setdefault(float(curves[i].steps[-1]), []).append(i)
        parts = []
        q = None
        for s, idx in by_step.items():
            model = self._model(context, s, x)
            if model is None:
                continue
            q = fc.quantiles(GRID_LEVELS) if q is None else q
            like, components = model.apply([curves[i] for i in idx], q[idx])
            idx = [i for i, ok in zip(idx, like, strict=True) if ok]
            if idx:
                parts.append((idx, components))
        return _merge(fc, parts) if parts else fc

    def _model(self, context: list[Curve], s: float, x: np.ndarray) -> _StudyModel | None:
        key = (context[0].goal if context else "", s, x.tobytes())
        if key not in self._models:
            self._models[key] = _StudyModel.fit(context, s, x, self.base)
            if len(self._models) > CACHE:
                self._models.popitem(last=False)
        self._models.move_to_end(key)
        return self._models[key]


@dataclass
class _StudyModel:
    """The study's correction of the per-curve forecast for runs seen up to step s.

    Errors are measured as where the truth fell in the per-curve forecast: its
    probability integral transform on the normal scale (z = 0 at the forecast median,
    +-1.28 at its 80% interval). A calibrated per-curve forecast gives z ~ N(0, 1); the
    GP learns how this study departs from that, and for which runs. Working in z keeps
    each run's own spread and skew (a run stuck at chance level keeps its tight interval,
    an exploding one its long tail), and maps back through the per-curve quantiles.
    """

    cols: np.ndarray  # indices of the steps x the study answers at
    features: _Features
    gp: GP
    shrink: float  # how much of the GP's correction to apply, chosen by cross-validation
    errors: np.ndarray  # (QUANTILES, len(cols)) standardised out-of-sample errors
    bandwidth: np.ndarray  # (len(cols),)

    @classmethod
    def fit(cls, context: list[Curve], s: float, x: np.ndarray, base: Forecaster):
        heads, runs = [], []
        for c in context:
            k = int(np.searchsorted(c.steps, s, side="right"))
            if k >= base.min_points and c.steps[-1] > s:
                heads.append(c.head(k))
                runs.append(c)
        if len(runs) < MIN_CONTEXT:
            return None
        ends = np.array([c.steps[-1] for c in runs])
        enough = np.array([(ends >= xi).sum() >= MIN_CONTEXT for xi in x])
        cols = np.flatnonzero((x > s) & enough)
        if cols.size == 0:
            return None
        keep = ends >= x[cols[-1]]
        heads = [h for h, k in zip(heads, keep, strict=True) if k]
        runs = [c for c, k in zip(runs, keep, strict=True) if k]
        xa = x[cols]
        truth = np.array([np.interp(xa, c.steps, c.values) for c in runs])
        fc = base.forecast(heads, xa)
        good = fc.valid
        if good.sum() < MIN_CONTEXT:
            return None
        heads = [h for h, g in zip(heads, good, strict=True) if g]
        grid = fc.quantiles(GRID_LEVELS)[good]
        Z = _to_z(grid, truth[good])
        spread_q = grid[..., SPREAD_INDEX]
        sign = 1.0 if runs[0].goal == "min" else -1.0
        feats = _Features.fit(heads, sign, truth[good][:, -1], spread_q)
        F = feats(heads, spread_q)
        if F.shape[1] == 0:  # every finished run looked the same at s: nothing to learn
            return None
        # small matrices: one BLAS thread is fastest, and several, beside a busy process
        # (a training job), spin for locks: a 200 x 200 Cholesky took 0.3 s, not 0.3 ms
        with threadpool_limits(limits=1, user_api="blas"):
            gp = GP.fit(F, Z)
            mean, sd = _cross_validate(F, Z, gp)
        shrink = _shrinkage(Z, mean)
        E = (Z - shrink * mean) / sd[:, None]
        levels = (np.arange(QUANTILES) + 0.5) / QUANTILES
        errors = np.quantile(E, levels, axis=0)
        # Silverman's robust rule: a few huge errors must not blur every component
        iqr = np.subtract(*np.quantile(E, [0.75, 0.25], axis=0)) / 1.349
        bandwidth = np.maximum(0.9 * np.minimum(np.std(E, axis=0), iqr) * len(E) ** -0.2, 0.05)
        return cls(cols, feats, gp, shrink, errors, bandwidth)

    def apply(self, curves: list[Curve], q: np.ndarray):
        """(like, (cols, loc, scale)): which runs are like the finished ones where they
        were cut (see OUTSIDE), and for those, mixture components (loc, scale:
        (n_like, X, QUANTILES)) at the steps ``cols``, from the per-curve forecast's
        quantiles q (n, X, GRID_LEVELS)."""
        q = q[:, self.cols]
        F = self.features.standard(curves, q[..., SPREAD_INDEX])
        like = self.features.inside(F)
        if not like.any():
            return like, None
        q = q[like]
        mean, sd = self.gp.predict(self.features.clamp(F[like]))
        z = (self.shrink * mean)[:, :, None] + sd[:, None, None] * self.errors.T[None]
        z = np.clip(z, -Z_MAX, Z_MAX)
        # the per-curve quantile function, linear between grid points and beyond, at z
        zg, qg = _extend(q)
        j = np.clip(np.searchsorted(zg, z) - 1, 0, zg.size - 2)
        lo, hi = np.take_along_axis(qg, j, axis=2), np.take_along_axis(qg, j + 1, axis=2)
        slope = (hi - lo) / (zg[j + 1] - zg[j])
        loc = lo + (z - zg[j]) * slope
        scale = np.abs(slope) * sd[:, None, None] * self.bandwidth[None, :, None]
        return like, (self.cols, loc, np.maximum(scale, 1e-9 * np.abs(loc) + 1e-300))


def _extend(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The per-curve quantile functions q (..., G) on GRID_Z, extended to +-Z_MAX along
    their central slope (between z = +-1.9): a forecast far too sure of itself must still
    be told by how much it missed, and a heavy tail's end segment, extrapolated, would
    reach 1e10."""
    mid = GRID_Z.size // 2
    a, b = mid - 6, mid + 6
    slope = (q[..., b] - q[..., a]) / (GRID_Z[b] - GRID_Z[a])
    gap = Z_MAX - GRID_Z[-1]
    qg = np.concatenate([(q[..., 0] - slope * gap)[..., None], q,
                         (q[..., -1] + slope * gap)[..., None]], axis=-1)
    return np.concatenate([[-Z_MAX], GRID_Z, [Z_MAX]]), qg


def _to_z(q: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Where y (n, X) falls, on the normal scale, in the per-curve quantile functions q
    (n, X, G) given on GRID_Z (linear between grid points, extended by _extend)."""
    zg, qg = _extend(q)
    j = np.clip((qg < y[..., None]).sum(axis=2) - 1, 0, zg.size - 2)[..., None]
    lo = np.take_along_axis(qg, j, axis=2)[..., 0]
    hi = np.take_along_axis(qg, j + 1, axis=2)[..., 0]
    step = np.maximum(hi - lo, 1e-12 * np.maximum(np.abs(lo), 1e-300))
    j = j[..., 0]
    return np.clip(zg[j] + (y - lo) / step * (zg[j + 1] - zg[j]), -Z_MAX, Z_MAX)


def _cross_validate(F: np.ndarray, R: np.ndarray, gp: GP) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-sample means (n, C) and sds (n,) of the finished runs.

    With few runs, by cross-validation with the hyperparameters refitted in every fold:
    leave-one-out with hyperparameters fitted on all runs is optimistic there (on TaskSet
    with 50 runs its 80% intervals covered 60-70% of new runs). With many, the
    hyperparameters barely depend on one fold, and the closed-form leave-one-out of the
    fitted GP is as honest and far cheaper."""
    n = len(F)
    if n > REFIT_CV:
        return gp.loo(R)
    folds = np.random.default_rng(0).permutation(n) % min(FOLDS, n)
    mean, sd = np.zeros_like(R), np.zeros(n)
    for f in range(folds.max() + 1):
        test = folds == f
        mean[test], sd[test] = GP.fit(F[~test], R[~test]).predict(F[test])
    return mean, sd


def _shrinkage(R: np.ndarray, loo_mean: np.ndarray) -> float:
    """The fraction of the GP's correction whose leave-one-out absolute error is least:
    0 when the study cannot improve on the per-curve forecast (a correction learned from
    a few runs is noise), 1 when it can."""
    cost = [np.abs(R - a * loo_mean).sum() for a in SHRINK]
    return float(SHRINK[int(np.argmin(cost))])


@dataclass
class _Features:
    """The GP's inputs, standardised on the finished runs: a run's state where it was cut
    (level, last value, best so far, recent change), the change the per-curve forecast
    expects from there and its spread, all in a study space where one unit means the same
    for every run, and the run's numeric hyperparameters (log scale where they span
    decades).

    Study space: ``asinh((sign * y - centre) / width)``, centre the median of the
    finished runs' finals and width their 10-90% range in normal units (not the IQR: in
    a sweep where most runs end at chance level the IQR is tiny); linear near the
    centre, logarithmic far out, so a run that exploded to 1e15 cannot swamp the rest.
    """

    sign: float
    centre: float
    width: float
    hp_keys: list[str]
    hp_log: np.ndarray
    keep: np.ndarray = None
    mean: np.ndarray = None
    std: np.ndarray = None
    lo: np.ndarray = None  # range of the standardised inputs of the finished runs
    hi: np.ndarray = None

    @classmethod
    def fit(cls, heads: list[Curve], sign: float, finals: np.ndarray,
            spread_q: np.ndarray) -> _Features:
        v = sign * finals
        q10, q90 = np.quantile(v, [0.1, 0.9])
        centre = float(np.median(v))
        width = float(max((q90 - q10) / 2.563, 1e-9 * max(abs(centre), 1.0), 1e-300))
        keys = sorted(set.intersection(*(set(_numeric(h.hp)) for h in heads)))
        H = np.array([[float(h.hp[k]) for k in keys] for h in heads]).reshape(len(heads), -1)
        log = (H > 0).all(axis=0) & (H.max(axis=0) > 20 * H.min(axis=0).clip(1e-300))
        out = cls(sign, centre, width, keys, log)
        F = out._raw(heads, spread_q)
        out.keep = F.std(axis=0) > 1e-12
        out.mean, out.std = F.mean(axis=0)[out.keep], F.std(axis=0)[out.keep]
        Z = (F[:, out.keep] - out.mean) / out.std
        out.lo, out.hi = Z.min(axis=0), Z.max(axis=0)
        return out

    def to_T(self, y: np.ndarray) -> np.ndarray:
        return np.arcsinh((self.sign * y - self.centre) / self.width)

    def _raw(self, curves: list[Curve], spread_q: np.ndarray) -> np.ndarray:
        """spread_q: the per-curve forecast's quantiles at SPREAD_LEVELS (n, X, 3)."""
        state = np.array([_state(c, self.to_T) for c in curves])
        Tq = self.to_T(spread_q[:, -1])
        spread = np.log(np.abs(Tq[:, 2] - Tq[:, 0]) + 1e-6)
        H = np.array([[_hp(c.hp, k) for k in self.hp_keys] for c in curves]).reshape(len(curves), -1)
        H = np.where(self.hp_log, np.log(np.where(H > 0, H, np.nan)), H)
        return np.column_stack([state, Tq[:, 1] - state[:, 0], spread, H])

    def standard(self, curves: list[Curve], spread_q: np.ndarray) -> np.ndarray:
        """Inputs standardised on the finished runs (not yet clamped to their range)."""
        return (self._raw(curves, spread_q)[:, self.keep] - self.mean) / self.std

    def inside(self, F: np.ndarray) -> np.ndarray:
        """Runs whose standardised state features F lie within the finished runs' range
        (see OUTSIDE)."""
        state = np.flatnonzero(self.keep) < STATE_COLUMNS
        pad = OUTSIDE * (self.hi - self.lo)
        ok = (F >= self.lo - pad) & (F <= self.hi + pad) | ~state
        return ok.all(axis=1)

    def clamp(self, F: np.ndarray) -> np.ndarray:
        """A run unlike every finished one (exploded to 1e5) gets the correction of the
        nearest, not the linear term's extrapolation."""
        return np.clip(np.nan_to_num(F, nan=0.0, posinf=0.0, neginf=0.0), self.lo, self.hi)

    def __call__(self, curves: list[Curve], spread_q: np.ndarray) -> np.ndarray:
        return self.clamp(self.standard(curves, spread_q))


STATE_COLUMNS = 5
"""The first columns of _Features._raw: the run's state and the change expected from it."""


def _state(c: Curve, to_T) -> list[float]:
    """Level now (mean of the last points), last value, best so far and the change over
    the second half of the points seen, in study space."""
    T = to_T(c.values)
    best = T.min()
    return [T[-REF_POINTS:].mean(), T[-1], best, T[-1] - T[len(T) // 2]]


def _numeric(hp: dict) -> list[str]:
    return [k for k, v in hp.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v)]


def _hp(hp: dict, key: str) -> float:
    v = hp.get(key)
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else np.nan


def _merge(fc: Forecast, parts) -> Forecast:
    """The base forecast with the study's components where the study answers."""
    B, X, Kb = fc.loc.shape
    M = QUANTILES
    loc = np.concatenate([fc.loc, np.zeros((B, X, M))], axis=2)
    scale = np.concatenate([fc.scale, np.ones((B, X, M))], axis=2)
    w = fc.weights if fc.weights.ndim == 3 else np.broadcast_to(fc.weights[:, None, :], (B, X, Kb))
    weight = np.concatenate([w, np.zeros((B, X, M))], axis=2)
    for idx, (cols, l, s) in parts:
        r, c = np.ix_(idx, cols)
        loc[r, c, Kb:] = l
        scale[r, c, Kb:] = s
        weight[r, c, :Kb] = 0.0
        weight[r, c, Kb:] = 1.0 / M
    df = np.concatenate([fc.df, np.full((B, M), TAIL_DF)], axis=1)
    return Forecast(fc.x, loc, scale, df, weight, fc.goal, fc.runs, fc.lower, fc.upper)
