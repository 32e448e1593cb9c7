"""Schedule-aware forecasts: runs whose learning-rate schedule is known.

A run's learning-rate schedule says where its curve will bend: a one-cycle or cosine
run falls fastest while its learning rate anneals, and a curve fitted against steps
alone cannot know that the cool-down is coming. :func:`schedule_of` reads the schedule
of a run, over the whole planned run, from any of (first found wins):

* ``meta["lr"]``: the per-step learning rate, ``{"steps": [...], "lr": [...]}`` (what
  :func:`curvecast.io.read_csv` makes of an ``lr`` column); beyond its last step the
  hyperparameters below continue it, or else the last learning rate holds;
* ``hp["schedule"] == "cosine"`` with ``hp["total_steps"]`` (and optionally
  ``hp["warmup"]`` steps of linear warm-up, ``hp["final_lr"]`` as a fraction of the
  peak): cosine decay to the final step;
* ``hp["epochs"]`` and ``hp["lr_peak_epoch"]`` (OPDA ImageNet's one-cycle): linear
  warm-up to the peak epoch, linear decay to 0 at the epoch budget (steps are epochs,
  step s reported after s epochs).

:class:`ScheduleForecaster` fits, per curve, the learning-rate annealing law of Tissue
et al. 2024 ("Scaling Law with Learning Rate Annealing"), ``L(s) = L0 + A * S1^-alpha
- C * S2``, in the form its momentum term takes for a per-step record: ``S1`` the
cumulative learning-rate area (in units of the planned run), and the annealing bonus
``-C * S2`` equal, up to a constant that ``L0`` absorbs, to ``+C * m(s)`` with ``m`` an
exponential moving average of the normalised learning rate (time constant ``TAU`` of
the run: Tissue et al.'s momentum 0.999 per step over runs of 10^4-10^5 steps). The
loss sits above its "river" ``L0 + A S1^-alpha`` by an amount that shrinks with the
learning rate, so a run whose schedule anneals is forecast to fall.

Before any annealing is seen, ``C`` is not identified by the curve; its prior (weak,
``C * peak = PRIOR_KAPPA`` of the loss above ``L0`` now) was chosen before any scheduled
data set was scored, not fitted to one. The law's Student-t forecast is mixed, with
weight ``WEIGHT``, into the per-curve forecast of ``base`` (the ensemble); runs without
a known schedule get the base forecast unchanged.

>>> import numpy as np
>>> from curvecast.curve import Curve
>>> s = np.arange(1, 101.0)
>>> sched = cosine_lr(s, 100)
>>> loss = 2 + 1 / np.sqrt(np.cumsum(sched) / 100) + 0.5 * sched
>>> hp = {"schedule": "cosine", "total_steps": 100}
>>> f = ScheduleForecaster(weight=1.0).forecast([Curve("c", s[:40], loss[:40], hp=hp)], [100])
>>> bool(f.median[0, 0] < loss[39] - 0.3)   # the cool-down is coming: not flat
True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import least_squares

from ..curve import Curve
from ..forecast import Forecast
from ..numerics import quiet
from ..transform import Frame
from .base import Forecaster, steps_array

TAU = 0.02
"""Time constant of the learning rate's moving average (the momentum of S2), as a
fraction of the planned run."""
PRIOR_KAPPA = 0.3
"""Prior mean of the annealing bonus at the peak learning rate, as a fraction of the
loss above L0 at the last step seen; its prior sd is the same."""
WEIGHT = 0.5
"""Weight of the law's forecast in the mixture with the base forecast."""
GRID = 2048
"""Points of the grid that the schedule is integrated on."""
DF = 4.0
MIN_FIT_POINTS = 5
"""Curves with fewer points get the base forecast alone."""


def cosine_lr(steps, total: float, warmup: float = 0.0, final: float = 0.0) -> np.ndarray:
    """Normalised (peak 1) cosine schedule with linear warm-up.

    >>> cosine_lr([0, 50, 100], 100).round(3).tolist()
    [1.0, 0.5, 0.0]
    """
    s = np.asarray(steps, float)
    frac = np.clip((s - warmup) / max(total - warmup, 1e-12), 0.0, 1.0)
    cos = final + (1 - final) * 0.5 * (1 + np.cos(np.pi * frac))
    warm = np.clip(s / warmup, 0.0, 1.0) if warmup > 0 else np.ones_like(s)
    return np.where(s < warmup, warm, cos)


def one_cycle_lr(steps, epochs: float, peak: float) -> np.ndarray:
    """Normalised one-cycle schedule of OPDA/FFCV: linear from ~0 up to ``peak``, down to
    0 at ``epochs``.

    >>> one_cycle_lr([0, 5, 10, 20], 20, 10).round(2).tolist()
    [0.0, 0.5, 1.0, 0.0]
    """
    return np.interp(np.asarray(steps, float), [0.0, peak, epochs], [1e-4, 1.0, 0.0])


class Schedule:
    """A run's learning rate over its planned run, integrated once on a grid.

    ``end``: the planned final step; ``lr(s)``: the normalised rate at steps s;
    ``area(s)``: S1 in units of the planned run; ``ema(s)``: the rate's moving average.

    >>> sch = Schedule(lambda s: cosine_lr(s, 10), 10)
    >>> round(float(sch.area(np.array([10.0]))[0]), 2), round(float(sch.lr(np.array([5.0]))[0]), 2)
    (0.5, 0.5)
    """

    def __init__(self, lr, end: float) -> None:
        self.end = float(end)
        self._lr = lr
        g = np.linspace(0.0, self.end, GRID)
        r = np.clip(np.asarray(lr(g), float), 0.0, None)
        peak = r.max() if r.max() > 0 else 1.0
        r = r / peak
        self._peak = peak
        dg = np.diff(g)
        self._g = g
        self._area = np.concatenate([[0.0], np.cumsum(0.5 * (r[1:] + r[:-1]) * dg)]) / self.end
        # exponential moving average of the rate, the momentum of the annealing area
        a = np.exp(-dg / (TAU * self.end))
        m = np.empty_like(r)
        m[0] = r[0]
        for i in range(1, r.size):
            m[i] = a[i - 1] * m[i - 1] + (1 - a[i - 1]) * r[i]
        self._ema = m

    def lr(self, s: np.ndarray) -> np.ndarray:
        return np.clip(np.asarray(self._lr(s), float), 0.0, None) / self._peak

    def area(self, s: np.ndarray) -> np.ndarray:
        return np.interp(s, self._g, self._area, right=self._area[-1])

    def ema(self, s: np.ndarray) -> np.ndarray:
        return np.interp(s, self._g, self._ema, right=self._ema[-1])


def schedule_of(curve: Curve) -> Schedule | None:
    """The run's schedule (see the module docstring), or None when it is not known.

    >>> schedule_of(Curve("a", [1, 2, 3], [3, 2, 1], hp={"epochs": 20, "lr_peak_epoch": 5})).end
    20.0
    """
    hp = curve.hp
    rule, end = None, None
    try:
        if str(hp.get("schedule", "")).lower() == "cosine" and "total_steps" in hp:
            end = float(hp["total_steps"])
            w, fin = float(hp.get("warmup", 0.0)), float(hp.get("final_lr", 0.0))
            rule = lambda s: cosine_lr(s, end, w, fin)
        elif "epochs" in hp and "lr_peak_epoch" in hp:
            end, peak = float(hp["epochs"]), float(hp["lr_peak_epoch"])
            rule = lambda s: one_cycle_lr(s, end, peak)
    except (TypeError, ValueError):
        rule = None
    logged = curve.meta.get("lr")
    if isinstance(logged, dict) and len(logged.get("steps", ())) >= 2:
        xs, ys = np.asarray(logged["steps"], float), np.asarray(logged["lr"], float)
        ok = np.isfinite(xs) & np.isfinite(ys)
        xs, ys = xs[ok], ys[ok]
        if xs.size >= 2:
            after = rule
            last = xs[-1]

            def rule(s, xs=xs, ys=ys, after=after, last=last):
                s = np.asarray(s, float)
                known = np.interp(s, xs, ys)
                if after is None:
                    return known
                return np.where(s <= last, known, after(s))

            end = max(end or 0.0, float(xs[-1]))
    if rule is None or not end or end <= 0:
        return None
    return Schedule(rule, end)


def _law(theta, S1, m):
    L0, A, alpha, C = theta
    return L0 + A * np.maximum(S1, 1e-9) ** -alpha + C * m


def fit_law(t_steps: np.ndarray, z: np.ndarray, w: np.ndarray, sch: Schedule):
    """MAP fit of the annealing law to (steps, z) with weights w; returns (theta, cov,
    sigma2) or None.

    >>> sch = Schedule(lambda s: cosine_lr(s, 50), 50)
    >>> s = np.arange(1, 51.0); z = 1 + 0.2 / np.sqrt(sch.area(s)) + 0.3 * sch.ema(s)
    >>> th, cov, s2 = fit_law(s[:30], z[:30], np.ones(30), sch)
    >>> bool(abs(_law(th, sch.area(s[-1:]), sch.ema(s[-1:]))[0] - z[-1]) < 0.05)
    True
    """
    S1, m = sch.area(t_steps), sch.ema(t_steps)
    sw = np.sqrt(w / w.mean())
    zmin, zlast = float(np.min(z)), float(z[-1])
    span = max(float(np.max(z) - zmin), 1e-3 * max(abs(zlast), 1e-9), 1e-12)
    # noise guess from second differences: the scale the priors are weighed against
    d2 = np.diff(z, 2)
    noise = max(float(np.median(np.abs(d2))) / 0.6745 / np.sqrt(6) if d2.size else 0.0,
                1e-3 * span)
    # prior of C: a fraction of the loss above a floor guessed below the best value
    c_mu = PRIOR_KAPPA * max(zlast - (zmin - span), span)
    c_sd = c_mu
    a_mu, a_sd = np.log(0.5), 1.0

    def resid(th):
        r = sw * (_law(th, S1, m) - z)
        prior = [(np.log(th[2]) - a_mu) / a_sd, (th[3] - c_mu) / c_sd]
        return np.concatenate([r, noise * np.array(prior)])

    x0 = [zmin - 0.5 * span, 0.5 * span * max(S1[-1], 1e-3) ** 0.5, 0.5, c_mu]
    try:
        res = least_squares(resid, x0, bounds=([-np.inf, 0.0, 0.05, 0.0],
                                               [np.inf, np.inf, 3.0, np.inf]),
                            loss="soft_l1", f_scale=3 * noise, max_nfev=300)
    except (ValueError, np.linalg.LinAlgError):
        return None
    n, P = z.size, 4
    r = res.fun[:n]
    sigma2 = max(float(np.sum(r**2) / max(n - P, 1)), noise**2 * 1e-2)
    # Laplace: the data's precision at the fit plus the priors' (alpha's on its log)
    Jd = res.jac[:n]
    prec = Jd.T @ Jd / sigma2
    prec = prec + np.diag([1e-12, 1e-12, 1.0 / (res.x[2] * a_sd) ** 2, 1.0 / c_sd**2])
    try:
        cov = np.linalg.inv(prec)
    except np.linalg.LinAlgError:
        return None
    return res.x, cov, sigma2


class ScheduleForecaster(Forecaster):
    """The base forecast mixed with the annealing law, where a run's schedule is known.

    Parameters
    ----------
    base: the per-curve forecaster mixed in (default: the ensemble).
    weight: the law's weight in the mixture (1: the law alone).
    bound: the metric's best attainable value, if known (see :class:`Forecaster`).

    >>> from curvecast.curve import Curve
    >>> f = ScheduleForecaster().forecast([Curve("a", [1, 2, 3, 4], [4, 3, 2.5, 2.2])], [8])
    >>> f.loc.shape[0]
    1
    """

    name = "schedule"

    def __init__(self, base: Forecaster | None = None, weight: float = WEIGHT,
                 bound: float | None = None) -> None:
        super().__init__(bound)
        if base is None:
            from .learned import LearnedForecaster

            base = LearnedForecaster(bound=bound)
        self.base = base
        self.weight = weight

    def fit(self, context: Sequence[Curve]) -> ScheduleForecaster:
        self.base.fit(context)
        self.context_ = list(context)
        return self

    @property
    def uses_context(self) -> bool:  # type: ignore[override]
        return bool(getattr(self.base, "uses_context", False))

    @quiet
    def forecast(self, curves: Sequence[Curve], at) -> Forecast:
        curves = list(curves)
        x = steps_array(at)
        fc = self.base.forecast(curves, x)
        B, X = len(curves), x.size
        loc, scale, ok = np.zeros((B, X)), np.ones((B, X)), np.zeros(B, bool)
        for b, c in enumerate(curves):
            got = self._law_forecast(c, x)
            if got is not None:
                loc[b], scale[b], ok[b] = got[0], got[1], True
        if not ok.any():
            return fc
        return _mix(fc, loc, scale, ok, self.weight)

    def _law_forecast(self, c: Curve, x: np.ndarray):
        """(loc, scale) in the metric's units at x, or None (no schedule, no fit)."""
        if c.diverged_at is not None or len(c) < MIN_FIT_POINTS:
            return None
        sch = schedule_of(c)
        if sch is None:
            return None
        fr = Frame.build([c], self.bound, None)
        n = int(fr.mask[0].sum())
        steps = c.steps[c.finite][:n]
        got = fit_law(steps, fr.z[0, :n], fr.counts[0, :n], sch)
        if got is None:
            return None
        theta, cov, sigma2 = got
        S1, m = sch.area(x), sch.ema(x)
        mu = _law(theta, S1, m)
        g = _grad(theta, S1, m)
        var = np.einsum("xp,pq,xq->x", g, cov, g) + sigma2
        if not (np.isfinite(mu).all() and np.isfinite(var).all()):
            return None
        y, s = fr.to_values(mu[None, :, None], np.sqrt(var)[None, :, None])
        return y[0, :, 0], s[0, :, 0]


def _grad(theta, S1, m):
    _, A, alpha, _ = theta
    p = np.maximum(S1, 1e-9) ** -alpha
    return np.stack([np.ones_like(S1), p, -A * p * np.log(np.maximum(S1, 1e-9)), m], axis=1)


def _mix(fc: Forecast, loc, scale, ok, w: float) -> Forecast:
    """fc's components (weights times 1 - w where the law answers) and the law's one."""
    W = fc.weights
    if W.ndim == 2:
        W = np.broadcast_to(W[:, None, :], fc.loc.shape)
    tot = W.sum(axis=2, keepdims=True)
    Wn = np.where(tot > 0, W / np.where(tot > 0, tot, 1.0), 0.0)
    has_base = (tot[..., 0] > 0)
    lw = np.where(ok[:, None], np.where(has_base, w, 1.0), 0.0)
    Wn = Wn * np.where(ok[:, None], 1.0 - lw, 1.0)[..., None]
    B = loc.shape[0]
    return Forecast(fc.x, np.concatenate([fc.loc, loc[..., None]], axis=2),
                    np.concatenate([fc.scale, scale[..., None]], axis=2),
                    np.concatenate([fc.df, np.full((B, 1), DF)], axis=1),
                    np.concatenate([Wn, lw[..., None]], axis=2), fc.goal, fc.runs,
                    fc.lower, fc.upper)
