"""``default``: retrain when the deployed model's expected excess error outweighs the cost.

The error of a deployed forecaster is dominated by the weather it meets, not by its age:
a stormy week doubles every model's error. So the policy never reads age off the
deployed model's raw errors. It keeps the models it replaced as shadows (they are
trained already; scoring them costs a forecast, not a retraining) and compares them
with the deployed one on the same truth: the older model's extra error, relative to
the error level, at each difference in age, is the excess error that staleness costs,
with the weather cancelled. curvecast's forecaster (family ``lin2`` of
:func:`curvecast.forecast`, through a fresh model's zero) extends that curve of excess
against age, :math:`\\delta(a)`, over the ages the deployed model would reach.

When to retrain is then a renewal problem (the economic order quantity of inventory
theory): a model kept for T decisions costs one retraining, c, plus its excess error
:math:`\\sum_{a \\le T} \\delta(a)`, so the long-run cost per decision is
:math:`(c + \\sum_{a \\le T} \\delta(a)) / T`, least at the T* where the expected excess
outweighs the cost; the policy retrains when the deployed model reaches T*, which moves
as the drift does (fast in changing seasons, slow in settled ones).

``cost`` is the price of one retraining on the plain window, in units of one forecast's
mean absolute error (so the rule reads the same on any scale): 0.005 means a retraining is
worth a 0.5% better forecast at 1 decision, or 0.05% at 10. A retraining on w rows costs
``cost * w / window``.

On which window: every :data:`EXPLORE`-th retraining also trains half and twice the
plain window, kept as shadows until the next one; the paired errors, on the same truth
from models trained at the same moment, say which window this series prefers, and the
policy moves to it once it is ahead by :data:`SWITCH` over :data:`MIN_PAIRS` forecasts. ``default+window`` instead takes
the ``window`` policy's variance window and explores nothing.

>>> p = CostPolicy(); p.name, p.cost
('default', 0.005)
"""

from __future__ import annotations

import numpy as np

from .policies import Context, Policy, Retrain, variance_window

DEFAULT_COST = 0.005
"""Cost of one retraining on the plain window, in forecasts' mean absolute errors."""
EXPLORE = 8
"""Every this-many-th retraining also trains the other candidate windows as shadows."""
SWITCH = 0.01
"""A window replaces the preferred one once its paired error is lower by this share..."""
MIN_PAIRS = 50.0
"""... over at least this many (forgetting-weighted) paired forecasts."""
HALF_LIFE_DAYS = 30.0
"""Evidence (paired excess, paired window errors) halves in weight over this many days."""
FIRST_AGE = 8
"""Decisions to keep the first model, before any paired evidence of drift exists."""
KEEP = 3
"""Replaced models kept as shadows (each gives the excess at one difference in age)."""


class CostPolicy(Policy):
    """curvecast's own policy (see the module docstring).

    Parameters
    ----------
    cost: price of one retraining on the plain window, in forecasts' mean absolute
        errors (default :data:`DEFAULT_COST`).
    window: take the ``window`` policy's variance window (``default+window``) instead of
        choosing among half, once and twice the plain window.
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
        self.windows = (W,) if self.variance else tuple(sorted({max(2, W // 2), W, 2 * W}))
        self.pref = W
        per_day = 86400 / (ctx.every * ctx.step_seconds)
        self.keep = 0.5 ** (1.0 / max(1.0, HALF_LIFE_DAYS * per_day))  # per arrival
        self.max_age = max(FIRST_AGE, W // 4 // ctx.every)  # a quarter of the window turned over
        self.seen = 0
        self.level = None
        self.excess: dict[int, list[float]] = {}  # age gap -> [weighted sum, weight]
        self.pairs: dict[tuple[int, int], list[float]] = {}  # (a, b) -> [sum (e_a-e_b), n]
        self.retrains = 0
        self.target_age = FIRST_AGE
        self.log_age = None
        self.planned_at = -1
        self.expected = float("nan")  # the excess error the last plan expected

    # -- evidence ---------------------------------------------------------------------
    def _learn(self, view) -> int:
        n = len(view.errors)
        fresh = 0
        for i in range(self.seen, n):
            e = float(view.errors[i])
            if not np.isfinite(e):
                continue
            self.level = e if self.level is None else 0.99 * self.level + 0.01 * e
            if not self.level > 0:
                continue
            for acc in self.excess.values():
                acc[0] *= self.keep
                acc[1] *= self.keep
            for acc in self.pairs.values():
                acc[0] *= self.keep
                acc[1] *= self.keep
            j_dep, w_dep = int(view.trained[i]), int(view.windows[i])
            for (j_s, w_s), es in view.shadows[i].items():
                if not np.isfinite(es):
                    continue
                d = (es - e) / self.level
                if j_s == j_dep and w_s != w_dep:  # trained together: the windows compared
                    for key, sign in (((w_s, w_dep), 1.0), ((w_dep, w_s), -1.0)):
                        acc = self.pairs.setdefault(key, [0.0, 0.0])
                        acc[0] += sign * d
                        acc[1] += 1.0
                elif w_s == w_dep and j_s < j_dep:  # same window, older: staleness
                    acc = self.excess.setdefault(j_dep - j_s, [0.0, 0.0])
                    acc[0] += d
                    acc[1] += 1.0
                    fresh += 1
        self.seen = n
        return fresh

    def _prefer(self) -> None:
        """Move to a window whose paired error is lower than the preferred one's."""
        best, gain = self.pref, SWITCH
        for w in self.windows:
            acc = self.pairs.get((w, self.pref))
            if w != self.pref and acc and acc[1] >= MIN_PAIRS:
                m = -acc[0] / acc[1]  # how much lower w's error was
                if m > gain:
                    best, gain = w, m
        self.pref = best

    def excess_curve(self) -> np.ndarray:
        """Forecast relative excess error at ages 1 .. max_age (curvecast, lin2)."""
        from ..api import forecast

        gaps = sorted(g for g, acc in self.excess.items() if acc[1] > 1e-3)
        if not gaps:
            return np.zeros(self.max_age)
        steps = np.array([0.0, *gaps])
        values = np.array([0.0, *(self.excess[g][0] / self.excess[g][1] for g in gaps)])
        ages = np.arange(1, self.max_age + 1, dtype=float)
        f = forecast(steps, values, at=ages, goal="max", method="lin2")
        delta = np.asarray(f.median, float)
        if not np.isfinite(delta).all():  # a fit that failed: the pooled slope instead
            w = np.array([self.excess[g][1] for g in gaps])
            v = values[1:]
            slope = float((w * v * gaps).sum() / max((w * np.square(gaps)).sum(), 1e-12))
            delta = slope * ages
        return np.maximum(delta, 0.0)

    def _plan(self, window: int) -> None:
        """T*: the age that minimises (cost + expected excess) per decision."""
        delta = self.excess_curve()
        c = self.cost * window / self.ctx.window
        T = np.arange(1, len(delta) + 1)
        per = (c + np.cumsum(delta)) / T
        best = int(T[int(np.argmin(per))])
        # smoothed in log: an irregular schedule costs more excess error than a regular
        # one of the same mean interval (the excess grows with age), so the noise of one
        # cycle's evidence must not jerk the interval about
        self.log_age = np.log(best) if self.log_age is None else 0.8 * self.log_age + 0.2 * np.log(best)
        self.target_age = max(1, round(np.exp(self.log_age)))
        self.expected = float(np.sum(delta[: self.target_age]))

    # -- the decision -----------------------------------------------------------------
    def _window(self, view) -> int:
        if self.variance:
            return variance_window(view.values(), self.ctx.step_seconds, self.ctx.window)
        return self.pref

    def decide(self, view) -> int | Retrain | None:
        fresh = self._learn(view)
        if view.age is None:
            self.retrains = 1
            return Retrain(self._window(view),
                           explore=tuple(w for w in self.windows if w != self.pref))
        if self.excess and fresh and view.trained_at != self.planned_at:
            self._plan(self.pref)  # the first paired evidence of this model's cycle
            self.planned_at = view.trained_at
        if view.age < min(self.target_age, self.max_age):
            return None
        self._prefer()
        self.retrains += 1
        w = self._window(view)
        explore = ()
        if not self.variance and self.retrains % EXPLORE == 0:
            explore = tuple(x for x in self.windows if x != w)
        if self.excess:
            self._plan(w)
        return Retrain(w, explore=explore, keep_old=KEEP)
