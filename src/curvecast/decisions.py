"""Stop rules: pure functions of a run's forecast and the incumbent.

A run is stopped when it has diverged, when the probability that its final value beats
the incumbent (the best final so far) is below ``risk``, or, optionally, when the
improvement its forecast still expects is below ``min_gain`` (it has converged).

Before a run has the points a forecast needs, it is stopped when it is dominated: the
runs closest to it that were at least as good at the same step all ended, or were
forecast to end even in their best case, worse than the incumbent (see ``dominated``).

One judgement of hopelessness is a warning; the run is stopped when the next one agrees,
or at once when the probability is below a quarter of ``risk`` (see ``confirm``): a run
is judged at many steps, and one overconfident forecast (of a run on a plateau that is
about to drop) must not end it.

>>> from curvecast import forecast
>>> f = forecast([1, 2, 3, 4, 5, 6], [1.0, 0.8, 0.7, 0.65, 0.62, 0.6], at=50)
>>> decide(f, [0.6], incumbent=0.1).stop
True
>>> decide(f, [0.6], incumbent=0.9).reason
'continue'
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
from scipy import stats

from .forecast import Forecast
from .numerics import quiet

LEVEL = 0.8
"""Central interval recorded with every decision."""
RECENT = 3
"""Points whose mean is a run's level now (what min_gain is measured from)."""


@dataclass(frozen=True)
class Decision:
    """A stop-or-continue decision and what it rests on.

    reason: 'diverged', 'cannot_win' (probability of beating the incumbent below risk),
    'converged' (expected gain below min_gain), 'dominated' (see ``dominated``),
    'warning' (a first judgement of hopelessness, not acted on; see ``confirm``),
    'continue', or 'no_forecast'.
    """

    stop: bool
    reason: str
    prob_better: float | None = None
    median: float | None = None
    lower: float | None = None
    upper: float | None = None
    expected_gain: float | None = None
    best_case: float | None = None  # the better end of the 80% interval

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


def diverged() -> Decision:
    """A run that reported NaN or inf: stopped, whatever its forecast."""
    return Decision(True, "diverged")


@quiet
def decide(fc: Forecast, values, incumbent: float | None, risk: float = 0.05,
           min_gain: float | None = None) -> Decision:
    """Judge one run from its forecast ``fc`` at the final step (one run, one step) and
    the values it reported so far; ``incumbent`` is the best final to beat (None: none)."""
    values = np.asarray(values, float)
    if not np.isfinite(values).all():
        return diverged()
    if not bool(np.asarray(fc.valid).ravel()[0]):
        return Decision(False, "no_forecast")
    median = float(np.ravel(fc.median)[0])
    lower, upper = (float(np.ravel(b)[0]) for b in fc.interval(LEVEL, axis=0))
    sign = 1.0 if fc.goal == "min" else -1.0
    gain = float(sign * (values[-RECENT:].mean() - np.ravel(fc.mean)[0]))
    prob = None if incumbent is None else float(np.ravel(fc.prob_better_than(incumbent))[0])
    common = {"prob_better": prob, "median": median, "lower": lower, "upper": upper,
              "expected_gain": gain, "best_case": lower if fc.goal == "min" else upper}
    if prob is not None and prob < risk:
        return Decision(True, "cannot_win", **common)
    if min_gain is not None and gain < min_gain:
        return Decision(True, "converged", **common)
    return Decision(False, "continue", **common)


FIRM = 0.25
"""A probability of beating the incumbent below FIRM * risk stops a run at once."""


def confirm(decision: Decision, warned: bool, risk: float) -> Decision:
    """Turn a first judgement of hopelessness into a warning (see the module docstring);
    ``warned``: the run's previous judgement was one."""
    if not decision.stop or decision.reason in ("diverged", "converged") or warned:
        return decision
    p = decision.prob_better
    if decision.reason == "cannot_win" and p is not None and p < FIRM * risk:
        return decision
    return replace(decision, stop=False, reason="warning")


NEIGHBOURS = 5
"""Runs, at least as good at the same step, that must all have been hopeless."""
MIN_RANK_CORRELATION = 0.5
"""How well values at the step must rank the runs' outcomes (Spearman) for the step to
count: at an untrained model's first evaluation every run looks alike, and when most
runs are hopeless, any five neighbours would be."""
MIN_OTHERS = 10
CLOSE = 0.1
"""A run whose best case misses the incumbent by less than this fraction of the gap
between the typical outcome and the incumbent was close, not hopeless (in the units of
normalised regret)."""


def dominated(value: float, others: list[tuple[float, float]], incumbent: float | None,
              goal: str = "min", k: int = NEIGHBOURS) -> Decision:
    """Judge a run from its value at one step alone, by the runs seen at that step.

    ``others``: (value at the same step, best case of the final) of other runs: a
    finished run's final, a stopped run's forecast best case (inf, or -inf for 'max',
    for a diverged one). The run is stopped when the k runs closest to it that were at
    least as good at that step all end worse than the incumbent even in their best case:
    learning curves of one study rarely cross that many better ones.

    >>> others = [(1.0, 3.0), (1.1, 3.2), (1.2, 2.9), (1.3, 3.1), (1.4, 3.3), (0.5, 1.0),
    ...           (0.6, 1.2), (0.7, 1.9), (2.0, 4.0), (2.2, 3.9)]
    >>> dominated(1.5, others, incumbent=1.0).stop
    True
    >>> dominated(0.9, others, incumbent=1.0).stop  # the winner was just below it
    False
    """
    if incumbent is None or not np.isfinite(value) or len(others) < MIN_OTHERS:
        return Decision(False, "no_forecast")
    sign = 1.0 if goal == "min" else -1.0
    v, b = np.array(others, float).T
    ok = np.isfinite(v)
    v, b = sign * v[ok], sign * b[ok]
    ranked = np.nan_to_num(b, posinf=1e300, neginf=-1e300)  # diverged: ranked worst
    if stats.spearmanr(v, ranked)[0] < MIN_RANK_CORRELATION:
        return Decision(False, "no_forecast")
    at_least = v <= sign * value
    near = sorted(zip(v[at_least], b[at_least], strict=True))[::-1][:k]  # the closest
    if len(near) < k:
        return Decision(False, "no_forecast")
    best = min(bb for _, bb in near)
    typical = np.median(ranked)
    if best > sign * incumbent + CLOSE * max(typical - sign * incumbent, 0.0):
        return Decision(True, "dominated", best_case=float(sign * best))
    return Decision(False, "continue")
