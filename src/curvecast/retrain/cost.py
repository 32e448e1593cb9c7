"""``default``: retrain when the deployed model's expected excess error outweighs the cost.

The error of a deployed forecaster is dominated by the weather it meets, not by its age:
a stormy week doubles every model's error. So the policy never reads age off the
deployed model's raw errors. It keeps the models it replaced as shadows (they are
trained already; scoring them costs a forecast, not a retraining) and compares them
with the deployed one on the same truth: an older model's extra error, relative to the
error level, against the difference in age, is the excess error that staleness costs,
with the weather cancelled. Each model's life (a *cycle*) gives one mean per shadow:
forecasts of one cycle are strongly correlated, cycles much less so, which makes the
cycle the unit of evidence and the spread between cycles its uncertainty.

The excess is forecast as growing linearly with age, :math:`\\delta(a) = s a`, through a
fresh model's zero; ``s`` is the forgetting-weighted least-squares slope over cycles.
(Measured on NOAA WTH temperature: a curve with a free intercept, curvecast's ``lin2``,
read the noise as +1% excess at age 1, where retraining every 4th decision instead of
every one costs nothing; the slope through zero does not have that failure.) The policy
plans with the slope's upper bound, :math:`s + Z \\cdot \\mathrm{se}(s)`: when the
evidence cannot tell whether the model ages, it retrains sooner, not later.

When to retrain is then a renewal problem (the economic order quantity of inventory
theory): a model kept for T decisions costs one retraining, c, plus its excess error
:math:`\\sum_{a \\le T} \\delta(a)`, so the long-run cost per decision is
:math:`(c + \\sum_{a \\le T} \\delta(a)) / T`, least at :math:`T^* \\approx \\sqrt{2c/s}`;
the policy retrains when the deployed model reaches T*, which moves as the drift does.

``cost`` is the price of one retraining on the plain window, in units of one forecast's
mean absolute error (so the rule reads the same on any scale): 0.01 means a retraining is
worth a 1% better forecast at 1 decision, or 0.1% at 10. A retraining on w rows costs
``cost * w / window``.

On which window: the candidates are the plain window and 1.5 and 2 times it (a longer
window sees more weather and ages no faster; on wind and humidity it is worth 0.2-0.8%,
on temperature nothing). Every :data:`EXPLORE`-th retraining also trains the other
candidates still in doubt (the settled ones four times less often), kept as shadows
until the next one: their paired errors against the
deployed model, on the same truth from models trained at the same moment, are one
more cycle of evidence. The policy moves to the window whose long-run cost per decision,
its mean paired excess plus :math:`\\sqrt{2 c_w s}`, is lowest, the other windows'
mean taken at its upper bound (:data:`Z_WINDOW`): a window must be better beyond the noise and
worth its extra rows. ``default+window`` instead takes the ``window`` policy's variance
window and explores nothing.

>>> p = CostPolicy(); p.name, p.cost
('default', 0.02)
"""

from __future__ import annotations

import math

import numpy as np

from .policies import Context, Policy, Retrain, variance_window

DEFAULT_COST = 0.02
"""Cost of one retraining on the plain window, in forecasts' mean absolute errors."""
WINDOWS = (1.0, 1.5, 2.0)
"""The candidate windows, as multiples of the plain one."""
START = 2.0
"""The window the policy starts from, as a multiple of the plain one..."""
RECENCY_DAYS = 20.0
"""... its rows weighted by recency, halving every this many days (a soft window: the
newest weeks dominate, older weather still counts). 2 x 30 d at 20 d is the setting with
the lowest error averaged over the other weather series, leave-one-series-out, for four
of the five targets (for Jena temperature the other four pick 30 d: see BENCHMARKS.md,
"Retraining")."""
EXPLORE = 0
"""Every this-many-th retraining also trains one other candidate window (the one in
doubt explored longest ago; a settled one four times less often); 0: never. Off: paired
cycles resolve a window's 0.5% advantage only after years (BENCHMARKS.md), and the
shadows' trainings cost compute that retraining sooner uses better."""
Z_SLOPE = 1.0
"""The staleness slope planned with is its estimate plus this many standard errors."""
Z_WINDOW = 3.0
"""Another window's paired excess is taken at its estimate plus this many standard
errors; a window is settled once its excess is this many standard errors from 0."""
MIN_CYCLES = 4
"""Cycles of evidence before the staleness slope is used..."""
MIN_WINDOW_CYCLES = 12
"""... and before a window's paired excess is (one comparison of many, made at every
plan: a looser rule switched on noise, to windows 0.8% worse)."""
HALF_LIFE_DAYS = 60.0
"""Evidence of staleness halves in weight over this many days (drift moves with the
seasons)."""
WINDOW_HALF_LIFE_DAYS = 365.0
"""Evidence on windows halves in weight over this many days: a window's advantage is a
few tenths of a percent, which takes a year of paired cycles to resolve."""
FIRST_AGE = 8
"""Decisions to keep a model while there is too little evidence to plan with."""
KEEP = 3
"""Replaced models kept as shadows (each gives the excess at one difference in age)."""


def _weighted_mean_se(x: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Weighted mean and its standard error (effective sample size of the weights).

    >>> m, se = _weighted_mean_se(np.array([1.0, 3.0]), np.array([1.0, 1.0])); m, round(se, 3)
    (2.0, 1.0)
    """
    W = w.sum()
    m = float((w * x).sum() / W)
    n_eff = W * W / float((w * w).sum())
    var = float((w * (x - m) ** 2).sum() / W) * n_eff / max(n_eff - 1.0, 1e-9)
    return m, math.sqrt(var / n_eff)


def slope_through_zero(gap: np.ndarray, excess: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Weighted least-squares slope of ``excess`` on ``gap`` through the origin, and its
    (heteroscedasticity-robust) standard error.

    >>> s, se = slope_through_zero(np.array([1.0, 2, 3, 4]), np.array([0.1, 0.2, 0.3, 0.4]),
    ...                            np.ones(4)); round(s, 6), round(se, 6)
    (0.1, 0.0)
    """
    sxx = float((w * gap * gap).sum())
    s = float((w * gap * excess).sum()) / sxx
    r = excess - s * gap
    n = len(gap)
    se = math.sqrt(float((w * w * gap * gap * r * r).sum()) * n / max(n - 1, 1)) / sxx
    return s, se


class CostPolicy(Policy):
    """curvecast's own policy (see the module docstring).

    Parameters
    ----------
    cost: price of one retraining on the plain window, in forecasts' mean absolute
        errors (default :data:`DEFAULT_COST`).
    window: take the ``window`` policy's variance window (``default+window``) instead of
        choosing among the :data:`WINDOWS` multiples of the plain window.
    """

    def __init__(self, cost: float | None = None, window: bool = False) -> None:
        self.cost = DEFAULT_COST if cost is None else float(cost)
        self.variance = window
        self.name = "default+window" if window else "default"

    def reset(self, ctx: Context) -> None:
        super().reset(ctx)
        if ctx.cost is not None:
            self.cost = float(ctx.cost)
        W = ctx.window
        self.windows = (W,) if self.variance else tuple(sorted({max(2, round(W * k)) for k in WINDOWS}))
        self.pref = W if self.variance else min(self.windows, key=lambda w: abs(w - START * W))
        per_day = 86400 / (ctx.every * ctx.step_seconds)
        self.half_life = max(1.0, HALF_LIFE_DAYS * per_day)  # in decisions
        self.window_half_life = max(1.0, WINDOW_HALF_LIFE_DAYS * per_day)
        self.half_life_rows = 0 if self.variance else round(RECENCY_DAYS * 86400 / ctx.step_seconds)
        self.max_age = max(FIRST_AGE, W // 4 // ctx.every)  # a quarter of the window turned over
        self.seen = 0
        self.level = None
        self.cycle = None  # (decision of the deployed model, its window)
        self.acc_excess: dict[int, list[float]] = {}  # gap -> [sum, n], this cycle
        self.acc_window: dict[int, list[float]] = {}  # window -> [sum, n], this cycle
        self.excess: list[tuple[int, int, float]] = []  # (cycle's decision, gap, mean)
        self.paired: list[tuple[int, dict[int, float]]] = []  # (decision, {window: mean})
        self.retrains = 0
        self.explored: dict[int, int] = {}  # window -> the retraining that last explored it
        self.target_age = FIRST_AGE
        self.slope = (float("nan"), float("nan"))

    # -- evidence ---------------------------------------------------------------------
    def _close_cycle(self) -> None:
        """The cycle's means become one unit of evidence each."""
        if self.cycle is None:
            return
        j = self.cycle[0]
        for gap, (s, n) in self.acc_excess.items():
            self.excess.append((j, gap, s / n))
        if len(self.acc_window) > 1:
            self.paired.append((j, {w: s / n for w, (s, n) in self.acc_window.items()}))
        self.acc_excess, self.acc_window = {}, {}

    def _learn(self, view) -> None:
        for i in range(self.seen, len(view.errors)):
            e = float(view.errors[i])
            if not np.isfinite(e):
                continue
            self.level = e if self.level is None else 0.99 * self.level + 0.01 * e
            if not self.level > 0:
                continue
            key = (int(view.trained[i]), int(view.windows[i]))
            if key != self.cycle:
                self._close_cycle()
                self.cycle = key
            j_dep, w_dep = key
            for (j_s, w_s), es in view.shadows[i].items():
                if not np.isfinite(es):
                    continue
                d = (es - e) / self.level
                if j_s == j_dep and w_s != w_dep:  # trained together: the windows compared
                    acc = self.acc_window.setdefault(w_s, [0.0, 0.0])
                    self.acc_window.setdefault(w_dep, [0.0, 0.0])[1] += 1.0  # the reference: 0
                elif w_s == w_dep and j_s < j_dep:  # same window, older: staleness
                    acc = self.acc_excess.setdefault(j_dep - j_s, [0.0, 0.0])
                else:
                    continue
                acc[0] += d
                acc[1] += 1.0
        self.seen = len(view.errors)

    @staticmethod
    def _weights(decisions: np.ndarray, now: int, half_life: float) -> np.ndarray:
        return 0.5 ** ((now - decisions) / half_life)

    def _slope(self, now: int) -> float | None:
        """The staleness slope's upper bound (None: too little evidence)."""
        if len({j for j, _, _ in self.excess}) < MIN_CYCLES:
            return None
        j, g, d = (np.array(v, float) for v in zip(*self.excess, strict=True))
        s, se = slope_through_zero(g, d, self._weights(j, now, self.half_life))
        self.slope = (s, se)
        return max(s + Z_SLOPE * se, 1e-9)

    def _window_excess(self, w: int, now: int) -> tuple[float, float] | None:
        """Mean paired excess of window ``w`` over the preferred one, and its standard error."""
        pts = [(j, v[w] - v[self.pref]) for j, v in self.paired if w in v and self.pref in v]
        if len(pts) < MIN_WINDOW_CYCLES:
            return None
        j, x = (np.array(v, float) for v in zip(*pts, strict=True))
        return _weighted_mean_se(x, self._weights(j, now, self.window_half_life))

    def _renewal(self, window: int, s: float) -> tuple[int, float]:
        """T* for a retraining on ``window`` rows, and the cost per decision at it."""
        c = self.cost * window / self.ctx.window
        T = int(np.clip(round(math.sqrt(2 * c / s)), 1, self.max_age))
        return T, (c + s * T * (T + 1) / 2) / T

    def _plan(self, now: int) -> None:
        """Choose the window and T* from the evidence so far."""
        s = self._slope(now)
        if s is None:
            self.target_age = FIRST_AGE
            return
        best, best_cost = self.pref, self._renewal(self.pref, s)[1]
        for w in self.windows:
            ex = self._window_excess(w, now) if w != self.pref else None
            if ex is None:
                continue
            total = ex[0] + Z_WINDOW * ex[1] + self._renewal(w, s)[1]
            if total < best_cost:
                best, best_cost = w, total
        self.pref = best
        self.target_age = self._renewal(best, s)[0]

    # -- the decision -----------------------------------------------------------------
    def _window(self, view) -> int:
        if self.variance:
            return variance_window(view.values(), self.ctx.step_seconds, self.ctx.window)
        return self.pref

    def _explore(self, w: int, now: int) -> tuple[int, ...]:
        """The candidate to train beside window ``w`` at every :data:`EXPLORE`-th
        retraining (none otherwise): the one in doubt explored longest ago, a settled one
        only when it has waited four times as long."""
        if self.variance or not EXPLORE or (self.retrains - 1) % EXPLORE:
            return ()
        due = []
        for x in self.windows:
            if x == w:
                continue
            ex = self._window_excess(x, now)
            settled = ex is not None and abs(ex[0]) >= Z_WINDOW * ex[1]
            since = self.retrains - self.explored.get(x, -10**9)
            if since >= (4 if settled else 1) * EXPLORE:
                due.append((since, x))
        if not due:
            return ()
        x = max(due)[1]
        self.explored[x] = self.retrains
        return (x,)

    def decide(self, view) -> int | Retrain | None:
        self._learn(view)
        if view.age is None:
            self.retrains = 1
            w = self._window(view)
            return Retrain(w, explore=self._explore(w, view.j), half_life=self.half_life_rows)
        if view.age < self.target_age:
            return None
        self._plan(view.j)
        if view.age < self.target_age:
            return None
        self.retrains += 1
        w = self._window(view)
        return Retrain(w, explore=self._explore(w, view.j), keep_old=KEEP,
                       half_life=self.half_life_rows)
