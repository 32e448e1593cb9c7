"""Study-aware forecasts: learn from the finished runs of the same sweep.

The per-curve forecaster reads one curve; finished runs of the same study say how this
task's curves bend, how early values rank final ones, and how hyperparameters map to
outcomes (Baker et al. 2017 regress finals on such features; Domhan et al. 2015 use
none of it). Here every finished run is cut where the run being forecast stands now
(its last step seen) and forecast by the per-curve forecaster, so the study shows how
wrong that forecast is, and for which runs. A Gaussian process learns the error from
the run's state at the cut (level, best so far, recent change) and its numeric
hyperparameters; its cross-validated errors on the finished runs calibrate the spread
(a conformal predictive distribution: the forecast's quantiles are those of the
errors it made on this study's own runs, Vovk et al. 2017).

Everything is done in a study space where one unit means the same for every run:
``asinh((sign * y - centre) / width)``, centre the median of the finished runs' finals
and width their 10-90% range in normal units (not the IQR: in a sweep where most runs
end at chance level, the IQR is tiny and every good run would sit in the log regime); near the centre it is linear, far out logarithmic, so a run
that exploded to 1e15 cannot swamp the rest.

With fewer than MIN_CONTEXT finished runs the per-curve forecast is returned as is.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from ..curve import Curve
from ..forecast import Forecast
from .base import Forecaster, steps_array
from .gp import GP
from .learned import LearnedForecaster

MIN_CONTEXT = 5
"""Fewest finished runs (reaching the step forecast) before the study is used."""
QUANTILES = 24
"""Components of the study's predictive mixture: quantiles of the leave-one-out errors."""
CLIP_MADS = 5.0
"""Errors of the per-curve forecast are clipped to this many MADs for fitting the GP."""
FOLDS = 5
"""Folds of the cross-validation whose errors calibrate the forecast..."""
REFIT_CV = 100
"""...up to this many finished runs; beyond, leave-one-out (see _cross_validate)."""
SHRINK = np.linspace(0.0, 1.0, 11)
SPAN_PAD = 1.0
"""How far (study-space units: a factor e in the log regime) beyond the values the
finished runs took a component may sit."""
TAIL_DF = 3.0
"""Degrees of freedom of those components: a run unlike the finished ones may land far
outside them, and the log score must not punish that as impossible."""
SPREAD_LEVELS = (0.1, 0.5, 0.9)
"""Quantiles of the per-curve forecast that give its centre and spread in study space:
errors are learned in units of that spread, so runs the per-curve forecast is sure
about (stuck at chance level) keep tight intervals and uncertain ones wide."""
MIN_SPREAD = 0.01
"""Floor of a per-curve spread, as a fraction of the median one."""
CACHE = 128
"""Fitted study models kept (one per step seen and steps asked)."""
REF_POINTS = 3


class StudyForecaster(Forecaster):
    """The per-curve forecast corrected and calibrated on the study's finished runs.

    Parameters
    ----------
    context: finished runs of the same study (whole curves; runs that diverged are ignored).
    base: the per-curve forecaster (default: the learned ensemble).
    bound: the metric's best attainable value, if known.
    """

    name = "study"

    def __init__(self, context: Sequence[Curve] = (), base: Forecaster | None = None,
                 bound: float | None = None) -> None:
        super().__init__(bound)
        self.base = base if base is not None else LearnedForecaster(bound=bound)
        self.context = [c for c in context if c.status == "ok"]
        self._models: OrderedDict = OrderedDict()

    def with_context(self, context: Sequence[Curve]) -> StudyForecaster:
        """The same forecaster learning from other finished runs."""
        return StudyForecaster(context, self.base, self.bound)

    def forecast(self, curves: Sequence[Curve], at) -> Forecast:
        x = steps_array(at)
        curves = list(curves)
        fc = self.base.forecast(curves, x)
        if len(self.context) < MIN_CONTEXT or not curves:
            return fc
        goal = curves[0].goal
        context = [c for c in self.context if c.goal == goal]
        ok = [i for i, c in enumerate(curves) if fc.valid[i]]
        by_step: dict[float, list[int]] = {}
        for i in ok:
            by_step.setdefault(float(curves[i].steps[-1]), []).append(i)
        parts = []
        q = None
        for s, idx in by_step.items():
            model = self._model(context, s, x)
            if model is not None:
                q = fc.quantiles(SPREAD_LEVELS) if q is None else q
                parts.append((idx, model.apply([curves[i] for i in idx], q[idx])))
        return _merge(fc, parts) if parts else fc

    def _model(self, context: list[Curve], s: float, x: np.ndarray) -> _StudyModel | None:
        key = (s, x.tobytes(), id(context[0]) if context else 0, len(context))
        if key not in self._models:
            self._models[key] = _StudyModel.fit(context, s, x, self.base)
            if len(self._models) > CACHE:
                self._models.popitem(last=False)
        self._models.move_to_end(key)
        return self._models[key]


@dataclass
class _StudyModel:
    """The study's correction of the per-curve forecast for runs seen up to step s."""

    cols: np.ndarray  # indices of the steps x the study answers at
    sign: float
    centre: float
    width: float
    reach: tuple[float, float]  # study-space range of every value the finished runs took, padded
    features: _Features
    gp: GP
    shrink: float  # how much of the GP's correction to apply, chosen by leave-one-out
    errors: np.ndarray  # (QUANTILES, len(cols)) standardised leave-one-out errors
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
        sign = 1.0 if runs[0].goal == "min" else -1.0
        v = sign * truth[:, -1]
        centre = float(np.median(v))
        q10, q90 = np.quantile(v, [0.1, 0.9])
        width = float(max((q90 - q10) / 2.563, 1e-9 * max(abs(centre), 1.0), 1e-300))
        q = base.forecast(heads, xa).quantiles(SPREAD_LEVELS)
        good = np.isfinite(q).all(axis=(1, 2))
        if good.sum() < MIN_CONTEXT:
            return None
        heads = [h for h, g in zip(heads, good, strict=True) if g]
        to_T = lambda y: np.arcsinh((sign * y - centre) / width)
        Tm, Ts = _centre_spread(to_T(q[good]))
        R = (to_T(truth[good]) - Tm) / Ts
        feats = _Features.fit(heads, to_T, Tm[:, -1], Ts[:, -1])
        # a few runs that blew up after the cut would decide the GP's fit: clip them
        med = np.median(R, axis=0)
        mad = np.median(np.abs(R - med), axis=0) + 1e-12
        Rc = np.clip(R, med - CLIP_MADS * mad, med + CLIP_MADS * mad)
        F = feats(heads, Tm[:, -1], Ts[:, -1])
        # small matrices: one BLAS thread is fastest, and several, beside a busy process
        # (a training job), spin for locks: a 200 x 200 Cholesky took 0.3 s instead of 0.3 ms
        with threadpool_limits(limits=1, user_api="blas"):
            gp = GP.fit(F, Rc)
            mean, sd = _cross_validate(F, Rc, gp)
        shrink = _shrinkage(R, mean)
        E = (R - shrink * mean) / sd[:, None]
        span = to_T(np.concatenate([c.values[np.isfinite(c.values)] for c in runs]))
        reach = (float(span.min()) - SPAN_PAD, float(span.max()) + SPAN_PAD)
        levels = (np.arange(QUANTILES) + 0.5) / QUANTILES
        errors = np.quantile(E, levels, axis=0)
        # Silverman's robust rule: a few huge errors must not blur every component
        iqr = np.subtract(*np.quantile(E, [0.75, 0.25], axis=0)) / 1.349
        bandwidth = 0.9 * np.minimum(np.std(E, axis=0), iqr) * len(E) ** -0.2
        return cls(cols, sign, centre, width, reach, feats, gp, shrink, errors, bandwidth)

    def apply(self, curves: list[Curve], q: np.ndarray):
        """Mixture components (loc, scale: (n, X, QUANTILES)) at the steps ``cols``, from
        the per-curve forecast's quantiles q (n, X, SPREAD_LEVELS)."""
        T, S = _centre_spread(np.arcsinh((self.sign * q[:, self.cols] - self.centre) / self.width))
        mean, sd = self.gp.predict(self.features(curves, T[:, -1], S[:, -1]))
        err = (self.shrink * mean)[:, :, None] + sd[:, None, None] * self.errors.T[None]
        comp = T[:, :, None] + S[:, :, None] * err
        # sinh turns a wild error quantile into 1e17: stay near values this study has seen
        comp = np.clip(comp, *self.reach)
        width = S[:, :, None] * sd[:, None, None] * self.bandwidth[None, :, None]
        loc = self.sign * (self.centre + self.width * np.sinh(comp))
        scale = self.width * np.cosh(comp) * width
        return self.cols, loc, np.maximum(scale, 1e-12 * np.abs(loc) + 1e-300)


def _centre_spread(Tq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median and spread (10-90% range in normal units) in study space of the per-curve
    forecast, from its quantiles at SPREAD_LEVELS (..., 3); the spread is floored so a
    forecast sure of itself to 1e-12 cannot make every error look enormous."""
    lo, med, hi = Tq[..., 0], Tq[..., 1], Tq[..., 2]
    spread = np.abs(hi - lo) / 2.563
    floor = MIN_SPREAD * np.maximum(np.median(spread), 1e-9)
    return med, np.maximum(spread, floor)


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
    """The GP's inputs: a run's state where it was cut, the change the per-curve
    forecast expects from there and its spread, in study space, and its numeric hyperparameters,
    standardised on the finished runs."""

    to_T: object
    hp_keys: list[str]
    hp_log: np.ndarray
    keep: np.ndarray
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, heads: list[Curve], to_T, forecast_T: np.ndarray,
            spread_T: np.ndarray) -> _Features:
        keys = sorted(set.intersection(*(set(_numeric(h.hp)) for h in heads)))
        H = np.array([[float(h.hp[k]) for k in keys] for h in heads]).reshape(len(heads), -1)
        log = (H > 0).all(axis=0) & (H.max(axis=0) > 20 * H.min(axis=0).clip(1e-300))
        out = cls(to_T, keys, log, np.zeros(0, bool), np.zeros(0), np.ones(0))
        F = out._raw(heads, forecast_T, spread_T)
        out.keep = F.std(axis=0) > 1e-12
        out.mean, out.std = F.mean(axis=0)[out.keep], F.std(axis=0)[out.keep]
        return out

    def _raw(self, curves: list[Curve], forecast_T: np.ndarray, spread_T: np.ndarray) -> np.ndarray:
        state = np.array([_state(c, self.to_T) for c in curves])
        H = np.array([[_hp(c.hp, k) for k in self.hp_keys] for c in curves]).reshape(len(curves), -1)
        H = np.where(self.hp_log, np.log(np.where(H > 0, H, np.nan)), H)
        return np.column_stack([state, forecast_T - state[:, 0], np.log(spread_T), H])

    def __call__(self, curves: list[Curve], forecast_T: np.ndarray,
                 spread_T: np.ndarray) -> np.ndarray:
        F = (self._raw(curves, forecast_T, spread_T)[:, self.keep] - self.mean) / self.std
        return np.nan_to_num(F, nan=0.0, posinf=0.0, neginf=0.0)


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
