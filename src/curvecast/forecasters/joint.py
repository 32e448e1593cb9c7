"""The joint forecaster of a study: the per-curve forecast, then what the sweep teaches.

With no other runs it is the per-curve forecaster (the learned combiner). Given the
study's finished runs (:meth:`JointForecaster.fit`), every run forecast at step s is
compared with the finished runs cut at the same step: each was forecast from there by the
per-curve forecaster, and where it really went is known. A regression from the run's
state at the cut (level, last, best, recent change, the change and spread the per-curve
forecast expects, numeric hyperparameters) to the per-curve forecast's error, learned on
the finished runs, corrects the forecast (Baker et al. 2017 regress finals on such
features; here on the error of a per-curve forecast, so that with little to learn the
answer stays the per-curve one). The regression is kernel ridge (an RBF plus a linear
kernel and a constant); its lengthscale and ridge, including "no correction at all",
are chosen by the
closed-form leave-one-out error on the finished runs. The predictive distribution is
conformal: the leave-one-out errors of the finished runs, scaled by each run's own
per-curve spread, are its quantiles (Vovk et al. 2017; Papadopoulos et al. 2008's
normalised nonconformity scores), so intervals cover as often on this study's runs as
they did on its finished ones, whatever the per-curve forecaster's calibration here.

Partial runs teach too. A run of the study seen to step e is a training example for every
cut s < e: its state at s, and where it went, at the steps asked up to e. For a step
asked beyond e, where it will go is not known, but its own per-curve forecast from e
(the ``lead``) knows more than one from s: when the run went as far again beyond s as
it had come, or to the step asked (``LEAD``), the lead's median stands in for the truth
and its spread widens the conformal errors. Only for a run too short for the per-curve
forecaster (answered by ``short``): where the per-curve forecast exists, the lead is the
same forecaster's answer from further on, and learning the difference made TaskSet's
forecasts worse (``benchmarks/bench_ifbo_protocol.py``). So in a study whose runs are
all still running (ifBO's protocol: 1,000 points of partial curves) the runs of one or
two points are forecast by the runs ahead.

All of it is fitted on the study in hand: nothing is learned across sources, so the
held-out numbers of a source need no held-out training (only the per-curve network
does: ``benchmarks/models/``).
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from ..curve import Curve
from ..forecast import Forecast
from ..numerics import quiet
from .base import Forecaster, steps_array
from .baselines import LastValue
from .learned import LearnedForecaster
from .study import _hp, _numeric

MIN_CONTEXT = 8
"""Fewest runs reaching a step (and cut where a run stands) to learn from."""
LEAD = 1.0
"""A run seen to step e stands in for the truth at a step x beyond it, by its own
per-curve forecast, for runs cut at s when e - s >= LEAD * min(x - s, s - s0), s0 one
before the study's first step: it got as far again as the cut, or to the step asked."""
MAX_CONTEXT = 200
"""Most finished runs one model learns from (a fixed sample by run name beyond): each
must be forecast from the step seen, the fit's main cost."""
QUANTILES = 24
"""Components of the predictive mixture: quantiles of the leave-one-out errors."""
TAIL_DF = 4.0
"""Degrees of freedom of those components: a run may land beyond every finished one."""
LENGTHSCALES = (0.5, 1.0, 2.0)
"""RBF lengthscales tried, in units of sqrt(features) of standardised inputs."""
RIDGES = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
"""Ridge penalties tried (relative to the kernel's unit diagonal); 'none' is also tried."""
LINEAR = 0.3
"""Weight of the linear kernel beside the RBF one."""
OFFSET = 1.0
"""Variance of a constant beside them: a bias the per-curve forecast has on every run
of this study (it did not know the task) is learned as such."""
REF_POINTS = 3
"""Points averaged for a run's level now."""
OUTSIDE = 0.25
"""A run whose state lies beyond the finished runs' range by more than this fraction of
it is unlike all of them: it keeps its per-curve forecast."""
MARGIN = 1.0
"""How far beyond the finished runs' outcomes (study space: about one 10-90% range near
the centre, a factor e far out) the study's answer may go."""
CACHE = 128
"""Fitted study models kept (one per step seen and steps asked)."""
SPREAD = np.array([0.1, 0.5, 0.9])
"""Quantiles of the per-curve forecast that give its centre and spread."""
Z90 = 2.5631
"""Width of a normal's 10-90% range in standard deviations."""


class JointForecaster(Forecaster):
    """One forecaster for a study: per-curve with no context, learning from the study's
    finished runs once fitted (see the module docstring).

    Parameters
    ----------
    context: runs of the same study, finished or partial (as :meth:`fit`).
    base: the per-curve forecaster (default: the learned combiner).
    bound: the metric's best attainable value, if known.
    short: a forecaster for runs too short for ``base`` (default ``"last"``: the last
        value, which needs one point), corrected by the study like the others; None: such
        runs get no forecast, as from ``base``.
    short_alone: whether ``short`` also answers where no study model corrects it (with
        too few finished runs, or a run unlike all of them); default False: a run of one
        or two points is forecast only from what the study teaches (ifBO's protocol,
        BENCHMARKS.md), never from its last value alone.

    >>> from curvecast.curve import Curve
    >>> from curvecast.forecasters import LastValue
    >>> x = np.arange(1, 21.0)
    >>> runs = [Curve(str(i), x, 1 + i / 10 - (i % 4) / 10 * (x > 10), hp={"lr": 10.0 ** -(i % 4)})
    ...         for i in range(30)]  # the late drop is set by the learning rate
    >>> f = JointForecaster(base=LastValue()).fit(runs[:20])
    >>> fc = f.forecast([r.head(8) for r in runs[20:]], [20])
    >>> err = np.abs(fc.median[:, 0] - [r.values[-1] for r in runs[20:]])
    >>> bool(err.mean() < 0.08), round(float(np.mean([(i % 4) / 10 for i in range(20, 30)])), 2)
    (True, 0.13)
    """

    name = "joint"
    uses_context = True

    def __init__(self, context: Sequence[Curve] = (), base: Forecaster | None = None,
                 bound: float | None = None, short: Forecaster | str | None = "last",
                 short_alone: bool = False) -> None:
        super().__init__(bound)
        self.base = base if base is not None else LearnedForecaster(bound=bound)
        self.short = LastValue(bound=bound) if short == "last" else short
        self.short_alone = short_alone
        if self.short is not None:
            self.min_points = min(self.base.min_points, self.short.min_points)
        self.fit(context)

    def fit(self, context: Sequence[Curve]) -> JointForecaster:
        """Learn from the study's runs, finished or partial (those that diverged, or too
        short for any forecast, are ignored); models fitted on an earlier study are
        dropped. Returns self."""
        self.context_ = [c for c in context
                         if c.diverged_at is None and len(c) >= self.min_points]
        self._models: OrderedDict = OrderedDict()
        self._leads_: dict = {}
        self.budget_ = _budget_key(self.context_)
        return self

    @quiet
    def forecast(self, curves: Sequence[Curve], at) -> Forecast:
        x = steps_array(at)
        curves = list(curves)
        fc, few = _per_curve(self.base, curves, x, self.short, rows=True)
        if len(self.context_) < MIN_CONTEXT or not curves:
            return self._alone(fc, few)
        context = [c for c in self.context_ if c.goal == curves[0].goal]
        by_step: dict[float, list[int]] = {}
        for i in np.flatnonzero(fc.valid):
            by_step.setdefault(float(curves[i].steps[-1]), []).append(int(i))
        parts, q = [], _Lazy(lambda: fc.quantiles(SPREAD))
        for s, idx in by_step.items():
            model = self._model(context, s, x, (curves, q, few))
            if model is None:
                continue
            like, comp = model.apply([curves[i] for i in idx], q()[idx])
            idx = [i for i, ok in zip(idx, like, strict=True) if ok]
            if idx:
                parts.append((idx, comp))
        if self.budget_ is not None:
            parts += self._finals(context, curves, x, by_step, q)
        fc = _merge(fc, parts) if parts else fc
        return self._alone(fc, few - {i for idx, _ in parts for i in idx})

    def _alone(self, fc: Forecast, rows: set[int]) -> Forecast:
        """fc without the rows that only ``short`` answered, unless ``short_alone``."""
        if self.short_alone or not rows:
            return fc
        w = np.array(fc.weights, copy=True)
        w[sorted(rows)] = 0.0
        return Forecast(fc.x, fc.loc, fc.scale, fc.df, w, fc.goal, fc.runs, fc.lower, fc.upper)

    def _model(self, context: list[Curve], s: float, x: np.ndarray,
               batch=None) -> _JointModel | None:
        # the finished runs' heads are the same for every s between two of their steps
        cut = tuple(int(np.searchsorted(c.steps, s, side="right")) for c in context)
        key = (context[0].goal if context else "", hash(cut), x.tobytes())
        if key not in self._models:
            lead = self._lead(context, x, batch) if self.short is not None else None
            with threadpool_limits(limits=1, user_api="blas"):  # small matrices
                self._models[key] = _JointModel.fit(context, s, x, self.base, self.short,
                                                    lead)
            if len(self._models) > CACHE:
                self._models.popitem(last=False)
        self._models.move_to_end(key)
        return self._models[key]


    def _finals(self, context: list[Curve], curves: list[Curve], x: np.ndarray,
                by_step: dict, q) -> list:
        """Parts of the forecast at the step where each run's budget ends (``budget_``),
        from the finished runs' finals: a run of 20 epochs is not forecast at epoch 20
        from where runs of 100 epochs stood at epoch 20, mid-schedule."""
        parts = []
        for s, idx in by_step.items():
            ends: dict[int, list[int]] = {}
            for i in idx:
                E = _hp(curves[i].hp, self.budget_)
                j = int(np.searchsorted(x, E))
                if E > s and j < x.size and np.isclose(x[j], E, rtol=1e-9, atol=0.0):
                    ends.setdefault(j, []).append(i)
            if not ends:
                continue
            model = self._final_model(context, s)
            if model is None:
                continue
            for j, rows in ends.items():
                like, comp = model.apply([curves[i] for i in rows], q()[rows][:, [j]])
                rows = [i for i, ok in zip(rows, like, strict=True) if ok]
                if rows:
                    parts.append((rows, (np.array([j]), *comp[1:])))
        return parts

    def _final_model(self, context: list[Curve], s: float) -> _JointModel | None:
        cut = tuple(int(np.searchsorted(c.steps, s, side="right")) for c in context)
        key = ("final", context[0].goal if context else "", hash(cut))
        if key not in self._models:
            with threadpool_limits(limits=1, user_api="blas"):
                self._models[key] = _JointModel.fit_final(context, s, self.base, self.short,
                                                          self.budget_)
            if len(self._models) > CACHE:
                self._models.popitem(last=False)
        self._models.move_to_end(key)
        return self._models[key]

    def _lead(self, context: list[Curve], x: np.ndarray, batch=None):
        """The 10/50/90% quantiles (n, X, 3) of each context run's per-curve forecast at
        x from all it has seen (NaN where it has none): what a partial run says of the
        steps beyond it. Computed once per goal and steps asked; a context run that is
        also in ``batch`` (curves, their quantiles, rows answered by ``short``), as when
        a study forecasts its own runs, is read from there: per curve, the same answer."""
        key = (context[0].goal if context else "", x.tobytes())
        if key not in self._leads_:
            q = np.full((len(context), x.size, 3), np.nan)
            known = {}
            if batch is not None:
                known = {_ident(c): i for i, c in enumerate(batch[0]) if i not in batch[2]}
            hit = [(j, known[_ident(c)]) for j, c in enumerate(context) if _ident(c) in known]
            if hit:
                q[[j for j, _ in hit]] = batch[1]()[[i for _, i in hit]]
            rest = sorted(set(range(len(context))) - {j for j, _ in hit})
            if rest:
                fc = _per_curve(self.base, [context[j] for j in rest], x)
                q[np.array(rest)[fc.valid]] = fc.quantiles(SPREAD)[fc.valid]
            self._leads_[key] = q
        return self._leads_[key]


def _budget_key(context: list[Curve]) -> str | None:
    """The numeric hyperparameter that is the step where a run ends (OPDA's ``epochs``),
    if the study has one: no run goes beyond it (BUDGET_SHARE of them at least: runs
    still running, or stopped early, stop before it), at least MIN_CONTEXT runs end
    exactly there, and it takes several values there."""
    if len(context) < MIN_CONTEXT:
        return None
    keys = set.intersection(*(set(_numeric(c.hp)) for c in context))
    ends = np.array([c.steps[-1] for c in context])
    for k in sorted(keys):
        v = np.array([float(c.hp[k]) for c in context])
        hit = np.isclose(v, ends, rtol=1e-9, atol=0.0)
        within = (hit | (v > ends)).mean() >= BUDGET_SHARE
        if within and hit.sum() >= MIN_CONTEXT and np.unique(v[hit]).size > 1:
            return k
    return None


BUDGET_SHARE = 0.95
"""Share of a study's runs that must stop at or before their budget hyperparameter."""


def _ident(c: Curve) -> tuple:
    return (c.run, c.steps.tobytes(), c.values.tobytes())


class _Lazy:
    """A value computed on first call, then kept."""

    def __init__(self, make) -> None:
        self.make, self.value = make, None

    def __call__(self):
        if self.value is None:
            self.value = self.make()
        return self.value


def _per_curve(base: Forecaster, curves: list[Curve], x: np.ndarray,
               short: Forecaster | None = None, rows: bool = False):
    """The per-curve forecast, whose median stays at the last value for a run whose
    last FLAT_POINTS values are identical: it sits at a fixed point (a return of -21 in
    Pong, chance-level accuracy, a metric's floor). A fitted curve there still drifts by
    1e-6, and the last value, exact for most such runs, would beat it on every one.
    Only the median moves: the spread, and so the chance of taking off, stay.
    With ``short``, the runs ``base`` gives no forecast are forecast by it; ``rows``:
    answer (forecast, set of those rows)."""
    fc = base.forecast(curves, x)
    few: list[int] = []
    if short is not None:
        few = [int(i) for i in np.flatnonzero(~fc.valid)
               if len(curves[i]) >= short.min_points]
        if few:
            fc = _fill(fc, few, short.forecast([curves[i] for i in few], x))
    fc = _fixed_points(fc, curves, x)
    return (fc, set(few)) if rows else fc


def _fixed_points(fc: Forecast, curves: list[Curve], x: np.ndarray) -> Forecast:
    """fc with the median of a run at a fixed point moved to its last value."""
    flat = [i for i, c in enumerate(curves) if fc.valid[i] and len(c) >= FLAT_POINTS
            and np.ptp(c.values[-FLAT_POINTS:]) == 0]
    if not flat:
        return fc
    last = np.array([curves[i].values[-1] for i in flat])
    ahead = x[None, :] > np.array([curves[i].steps[-1] for i in flat])[:, None]
    shift = np.where(ahead, last[:, None] - fc.median[flat], 0.0)
    loc = fc.loc.copy()
    loc[flat] += shift[..., None]
    return Forecast(fc.x, loc, fc.scale, fc.df, fc.weights, fc.goal, fc.runs, fc.lower,
                    fc.upper)


FLAT_POINTS = 5
"""Identical last values that mark a run at a fixed point (see _per_curve)."""


def _fill(fc: Forecast, rows: list[int], other: Forecast) -> Forecast:
    """fc with the rows ``rows`` answered by ``other`` (components zero-padded)."""
    K = max(fc.loc.shape[2], other.loc.shape[2])

    def pad(a, fill):
        width = [(0, 0)] * (a.ndim - 1) + [(0, K - a.shape[-1])]
        return np.pad(a, width, constant_values=fill)

    loc, scale, df, w = pad(fc.loc, 0.0), pad(fc.scale, 1.0), pad(fc.df, 1e6), pad(fc.weights, 0.0)
    loc[rows], scale[rows] = pad(other.loc, 0.0), pad(other.scale, 1.0)
    df[rows], w[rows] = pad(other.df, 1e6), pad(other.weights, 0.0)
    lower, upper = fc.lower.copy(), fc.upper.copy()
    lower[rows], upper[rows] = other.lower, other.upper
    return Forecast(fc.x, loc, scale, df, w, fc.goal, fc.runs, lower, upper)


@dataclass
class _Space:
    """Study space: ``asinh((sign * y - centre) / width)``, centre the median of the
    finished runs' last values and width their 10-90% range in normal units; linear
    near the centre, logarithmic far out (a run that exploded to 1e15 cannot swamp the
    rest)."""

    sign: float
    centre: float
    width: float

    @classmethod
    def of(cls, finals: np.ndarray, sign: float) -> _Space:
        v = sign * finals
        q10, q90 = np.quantile(v, [0.1, 0.9])
        centre = float(np.median(v))
        width = float(max((q90 - q10) / Z90, 1e-9 * max(abs(centre), 1.0), 1e-300))
        return cls(sign, centre, width)

    def to_T(self, y):
        return np.arcsinh((self.sign * np.asarray(y, float) - self.centre) / self.width)

    def from_T(self, T):
        return self.sign * (self.centre + self.width * np.sinh(T))

    def slope(self, T):
        """|dy/dT| at T."""
        return self.width * np.cosh(T)


@dataclass
class _JointModel:
    """The study's correction at the columns ``cols`` of the steps asked, for runs seen
    up to one step: per group of columns (those the same finished runs reach), a kernel
    ridge fit and the normalised leave-one-out errors that calibrate it."""

    space: _Space
    ref: int  # the column whose per-curve forecast gives the features
    hp_keys: list[str]
    hp_log: np.ndarray
    keep: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    F: np.ndarray  # standardised features of the finished runs (n, D)
    groups: list  # (cols, rows of F, lengthscales (C,), dual coefficients (n, C), errors (M, C),
    # bandwidths (C,), limits of the outcomes and spreads in study space)

    @classmethod
    def fit(cls, context: list[Curve], s: float, x: np.ndarray, base: Forecaster,
            short: Forecaster | None = None, lead: np.ndarray | None = None):
        heads, runs, at, few = [], [], [], []
        least = base.min_points if short is None else min(base.min_points, short.min_points)
        for i, c in enumerate(context):
            k = int(np.searchsorted(c.steps, s, side="right"))
            if k >= least and c.steps[-1] > s:
                heads.append(c.head(k))
                runs.append(c)
                at.append(i)
                few.append(k < base.min_points)
        ahead = np.flatnonzero(x > s)
        if len(runs) < MIN_CONTEXT or ahead.size == 0:
            return None
        if len(runs) > MAX_CONTEXT:  # the same runs whatever the order they came in
            keep = sorted(range(len(runs)), key=lambda i: (zlib.crc32(runs[i].run.encode()),
                                                           runs[i].run))[:MAX_CONTEXT]
            heads, runs, at, few = ([a[i] for i in keep] for a in (heads, runs, at, few))
        ends = np.array([c.steps[-1] for c in runs])
        first = min(c.steps[0] for c in runs) - 1.0  # steps from where runs start
        reach = ends[:, None] >= x[None, ahead]  # (n, C): which runs got to which steps
        ql = (np.full((len(runs), ahead.size, 3), np.nan) if lead is None
              else lead[np.ix_(at, ahead)])
        # a run ahead stands in, by its own forecast, where it is well ahead of s
        gap = np.minimum(x[None, ahead] - s, s - first)
        led = (~reach & np.isfinite(ql).all(axis=2) & ((ends[:, None] - s) >= LEAD * gap)
               & np.array(few)[:, None])
        if (reach | led).sum(axis=0).max() < MIN_CONTEXT:
            return None
        fc = _per_curve(base, heads, x, short)
        if fc.valid.sum() < MIN_CONTEXT:
            return None
        good = np.flatnonzero(fc.valid)
        heads = [heads[i] for i in good]
        runs = [runs[i] for i in good]
        reach, led, ql = reach[good], led[good], ql[good]
        reach = reach | led
        q = fc.quantiles(SPREAD)[good]  # (n, X, 3)
        sign = 1.0 if runs[0].goal == "min" else -1.0
        space = _Space.of(np.array([c.values[-1] for c in runs]), sign)
        # the features read the per-curve forecast at the farthest step most runs reach
        enough = ahead[reach.sum(axis=0) >= MIN_CONTEXT]
        ref = int(enough[-1])
        keys = sorted(set.intersection(*(set(_numeric(h.hp)) for h in heads)))
        H = np.array([[float(h.hp[k]) for k in keys] for h in heads]).reshape(len(heads), -1)
        hp_log = (H > 0).all(axis=0) & (H.max(axis=0) > 20 * H.min(axis=0).clip(1e-300))
        raw = _raw(heads, q, ref, space, keys, hp_log)
        keep = raw.std(axis=0) > 1e-12
        if not keep.any():
            return None
        mean, std = raw[:, keep].mean(axis=0), raw[:, keep].std(axis=0)
        F = (raw[:, keep] - mean) / std
        truth = np.array([np.interp(x[ahead], c.steps, c.values) for c in runs])
        truth = np.where(led, ql[..., 1], truth)
        # what a stand-in does not know: its own spread, in units of the run's
        unsure = np.where(led, _spread(space.to_T(ql)), 0.0)
        Tq = space.to_T(q[:, ahead])  # (n, C, 3)
        R = space.to_T(truth) - Tq[..., 1]
        Rl = space.to_T(truth) - _last_T(heads, space)[:, None]
        scale = _scale(Tq)
        groups = []
        by_mask: dict[bytes, list[int]] = {}
        for j in range(ahead.size):
            if reach[:, j].sum() >= MIN_CONTEXT:
                by_mask.setdefault(reach[:, j].tobytes(), []).append(j)
        for js in by_mask.values():
            rows = np.flatnonzero(reach[:, js[0]])
            Tt, d = space.to_T(truth[np.ix_(rows, js)]), scale[np.ix_(rows, js)]
            limits = (Tt.min(axis=0) - MARGIN, Tt.max(axis=0) + MARGIN,
                      d.min(axis=0), d.max(axis=0))
            groups.append((ahead[js], rows, *_ridge(F[rows], R[np.ix_(rows, js)], d,
                                                    unsure[np.ix_(rows, js)],
                                                    Rl[np.ix_(rows, js)]), limits))
        return cls(space, ref, keys, hp_log, keep, mean, std, F.min(axis=0), F.max(axis=0),
                   F, groups)

    @classmethod
    def fit_final(cls, context: list[Curve], s: float, base: Forecaster,
                  short: Forecaster | None, budget: str):
        """The correction of the forecast at the step each run's budget ends, learned on
        the finished runs (those that reached theirs) cut at s: one column, the final."""
        least = base.min_points if short is None else min(base.min_points, short.min_points)
        heads, runs = [], []
        for c in context:
            k = int(np.searchsorted(c.steps, s, side="right"))
            if (k >= least and c.steps[-1] > s
                    and np.isclose(_hp(c.hp, budget), c.steps[-1], rtol=1e-9, atol=0.0)):
                heads.append(c.head(k))
                runs.append(c)
        if len(runs) < MIN_CONTEXT:
            return None
        if len(runs) > MAX_CONTEXT:
            keep = sorted(range(len(runs)), key=lambda i: (zlib.crc32(runs[i].run.encode()),
                                                           runs[i].run))[:MAX_CONTEXT]
            heads, runs = [heads[i] for i in keep], [runs[i] for i in keep]
        ends = np.array([c.steps[-1] for c in runs])
        grid = np.unique(ends)
        fc = _per_curve(base, heads, grid, short)
        good = np.flatnonzero(fc.valid)
        if good.size < MIN_CONTEXT:
            return None
        col = np.searchsorted(grid, ends[good])
        q = fc.quantiles(SPREAD)[good, col][:, None, :]  # (n, 1, 3): at each run's own end
        heads = [heads[i] for i in good]
        truth = np.array([runs[i].values[-1] for i in good])[:, None]
        sign = 1.0 if runs[0].goal == "min" else -1.0
        space = _Space.of(truth[:, 0], sign)
        keys = sorted(set.intersection(*(set(_numeric(h.hp)) for h in heads)))
        H = np.array([[float(h.hp[k]) for k in keys] for h in heads]).reshape(len(heads), -1)
        hp_log = (H > 0).all(axis=0) & (H.max(axis=0) > 20 * H.min(axis=0).clip(1e-300))
        raw = _raw(heads, q, 0, space, keys, hp_log)
        keep = raw.std(axis=0) > 1e-12
        if not keep.any():
            return None
        mean, std = raw[:, keep].mean(axis=0), raw[:, keep].std(axis=0)
        F = (raw[:, keep] - mean) / std
        Tq = space.to_T(q)
        R = space.to_T(truth) - Tq[..., 1]
        Rl = space.to_T(truth) - _last_T(heads, space)[:, None]
        d = _scale(Tq)
        Tt = space.to_T(truth)
        limits = (Tt.min(axis=0) - MARGIN, Tt.max(axis=0) + MARGIN, d.min(axis=0), d.max(axis=0))
        rows = np.arange(len(heads))
        groups = [(np.array([0]), rows, *_ridge(F, R, d, None, Rl), limits)]
        return cls(space, 0, keys, hp_log, keep, mean, std, F.min(axis=0), F.max(axis=0),
                   F, groups)

    def apply(self, curves: list[Curve], q: np.ndarray):
        """(like, (cols, loc, scale)): which runs are like the finished ones at the cut
        (see OUTSIDE), and for those the mixture components (n_like, C, QUANTILES) at the
        columns ``cols`` of the steps asked, from the per-curve quantiles q (n, X, 3)."""
        raw = _raw(curves, q, self.ref, self.space, self.hp_keys, self.hp_log)
        F = (raw[:, self.keep] - self.mean) / self.std
        state = np.flatnonzero(self.keep) < STATE_COLUMNS
        pad = OUTSIDE * (self.hi - self.lo)
        like = (((F >= self.lo - pad) & (F <= self.hi + pad)) | ~state).all(axis=1)
        if not like.any():
            return like, None
        F = np.clip(np.nan_to_num(F[like], nan=0.0, posinf=0.0, neginf=0.0), self.lo, self.hi)
        q = q[like]
        cols_all, loc_all, scale_all = [], [], []
        last = _last_T([c for c, ok in zip(curves, like, strict=True) if ok], self.space)
        for cols, rows, ell, alpha, errors, width, alt, (t_lo, t_hi, d_lo, d_hi) in self.groups:
            Tq = self.space.to_T(q[:, cols])
            corr = np.zeros((len(F), cols.size))
            for e in np.unique(ell):
                m = (ell == e) & (alpha != 0).any(axis=0)
                if m.any():
                    corr[:, m] = _kernel(F, self.F[rows], e) @ alpha[:, m]
            # from the last value where that did better on the finished runs
            start = np.where(alt[None, :], last[:, None], Tq[..., 1])
            # within the finished runs' outcomes (and spreads): the study knows no more
            centre = np.clip(start + corr, t_lo, t_hi)  # (n, C)
            d = np.clip(_spread(Tq), d_lo, d_hi)
            locT = np.clip(centre[..., None] + d[..., None] * errors.T[None],
                           t_lo[:, None] - MARGIN, t_hi[:, None] + MARGIN)  # (n, C, M)
            cols_all.append(cols)
            loc_all.append(self.space.from_T(locT))
            scale_all.append(self.space.slope(locT) * d[..., None] * width[None, :, None])
        cols = np.concatenate(cols_all)
        return like, (cols, np.concatenate(loc_all, axis=1), np.concatenate(scale_all, axis=1))


STATE_COLUMNS = 5
"""The first columns of _raw: the run's state at the cut and the change expected from it."""


def _raw(curves: list[Curve], q: np.ndarray, ref: int, space: _Space, keys: list[str],
         hp_log: np.ndarray) -> np.ndarray:
    """Features: level, last, best, change over the second half of the points seen, the
    per-curve forecast's expected change at column ``ref`` and its log spread (study
    space), numeric hyperparameters (log where they span decades)."""
    state = []
    for c in curves:
        T = space.to_T(c.values)
        state.append([T[-REF_POINTS:].mean(), T[-1], T.min(), T[-1] - T[len(T) // 2]])
    state = np.array(state).reshape(len(curves), 4)
    Tq = space.to_T(q[:, ref])
    spread = np.log(np.abs(Tq[:, 2] - Tq[:, 0]) + 1e-6)
    H = np.array([[_hp(c.hp, k) for k in keys] for c in curves]).reshape(len(curves), -1)
    H = np.where(hp_log, np.log(np.where(H > 0, H, np.nan)), H)
    return np.column_stack([state, Tq[:, 1] - state[:, 0], spread, H])


def _spread(Tq: np.ndarray) -> np.ndarray:
    """Each run's own spread in study space: its per-curve 10-90% range in normal units."""
    return np.abs(Tq[..., 2] - Tq[..., 0]) / Z90


def _scale(Tq: np.ndarray) -> np.ndarray:
    """The finished runs' spreads floored at half their median: the normalisers of the
    conformal scores. (A run forecast is clipped to the finished runs' range instead, so
    that its answer depends on it alone, not on the rest of its batch.)"""
    d = _spread(Tq)
    floor = 0.5 * np.median(d, axis=0, keepdims=True)
    return np.maximum(d, np.maximum(floor, 1e-6))


def _kernel(A: np.ndarray, B: np.ndarray, ell: float) -> np.ndarray:
    D = max(A.shape[1], 1)
    d2 = ((A[:, None, :] - B[None, :, :]) ** 2).sum(axis=2)
    return np.exp(-d2 / (2 * ell**2 * D)) + LINEAR * (A @ B.T) / D + OFFSET


def _ridge(F: np.ndarray, R: np.ndarray, d: np.ndarray, unsure: np.ndarray | None = None,
           R_last: np.ndarray | None = None):
    """(lengthscales (C,), dual coefficients (n, C), normalised errors (M, C), bandwidths
    (C,), from the last value (C,)): per column, the kernel ridge whose leave-one-out
    absolute error (in units of each run's spread) is least, 'no correction' included,
    on the per-curve forecast's residuals R or, where that does better, on the last
    value's R_last (so that the study never answers worse than the better of the two
    did on its finished runs). ``unsure``: the spread of a target that is a stand-in (0
    for a truth), added to its error for the intervals."""
    n, C = R.shape
    cost = np.full(C, np.inf)
    ells, alpha = np.ones(C), np.zeros((n, C))
    loo_best, alt = R.copy(), np.zeros(C, bool)

    def take(c, better, is_alt, ell, a, loo):
        cost[better] = c[better]
        ells[better], alt[better] = ell, is_alt
        alpha[:, better], loo_best[:, better] = a[:, better], loo[:, better]

    targets = [(R, False)] + ([] if R_last is None else [(R_last, True)])
    for Rk, is_alt in targets:  # no correction: its errors are the residuals themselves
        c = np.abs(Rk / d).mean(axis=0)
        take(c, c < cost, is_alt, 1.0, np.zeros((n, C)), Rk)
    for ell in LENGTHSCALES:
        S, U = np.linalg.eigh(_kernel(F, F, ell))
        S = np.maximum(S, 0.0)
        for lam in RIDGES:
            f = S / (S + lam)
            h = np.einsum("ij,j,ij->i", U, f, U)
            for Rk, is_alt in targets:
                UR = U.T @ Rk
                loo = (Rk - U @ (f[:, None] * UR)) / np.maximum(1 - h, 1e-6)[:, None]
                c = np.abs(loo / d).mean(axis=0)
                better = c < cost
                if better.any():
                    take(c, better, is_alt, ell, U @ (UR / (S + lam)[:, None]), loo)
    loo = loo_best
    if unsure is not None:  # a stand-in's error is at least as wide as its own doubt
        loo = np.where(loo < 0, -1.0, 1.0) * np.hypot(loo, unsure)
    E = loo / d
    levels = (np.arange(QUANTILES) + 0.5) / QUANTILES
    errors = np.quantile(E, levels, axis=0)
    # Silverman's robust rule: a few huge errors must not blur every component
    iqr = np.subtract(*np.quantile(E, [0.75, 0.25], axis=0)) / 1.349
    width = np.maximum(0.9 * np.minimum(np.std(E, axis=0), iqr) * n ** -0.2, 0.05)
    return ells, alpha, errors, width, alt


def _last_T(curves: list[Curve], space: _Space) -> np.ndarray:
    """Each run's level now (its last value) in study space."""
    return space.to_T(np.array([c.values[-1] for c in curves], float))


def _merge(fc: Forecast, parts) -> Forecast:
    """The per-curve forecast with the study's components where the study answers."""
    B, X, Kb = fc.loc.shape
    M = QUANTILES
    loc = np.concatenate([fc.loc, np.zeros((B, X, M))], axis=2)
    scale = np.concatenate([fc.scale, np.ones((B, X, M))], axis=2)
    w = fc.weights if fc.weights.ndim == 3 else np.broadcast_to(fc.weights[:, None, :], (B, X, Kb))
    weight = np.concatenate([w, np.zeros((B, X, M))], axis=2)
    for idx, (cols, lc, sc) in parts:
        r, c = np.ix_(idx, cols)
        ok = np.isfinite(lc).all(axis=2) & np.isfinite(sc).all(axis=2) & (sc > 0).all(axis=2)
        # where a part is not finite, what was there stays (a later part refines an earlier)
        loc[r, c, Kb:] = np.where(ok[..., None], lc, loc[r, c, Kb:])
        scale[r, c, Kb:] = np.where(ok[..., None], sc, scale[r, c, Kb:])
        weight[r, c, :Kb] = np.where(ok[..., None], 0.0, weight[r, c, :Kb])
        weight[r, c, Kb:] = np.where(ok[..., None], 1.0 / M, weight[r, c, Kb:])
    df = np.concatenate([fc.df, np.full((B, M), TAIL_DF)], axis=1)
    return Forecast(fc.x, loc, scale, df, weight, fc.goal, fc.runs, fc.lower, fc.upper)
