"""Stop rules: pure functions of a run's forecast and the incumbent.

A run is stopped when it has diverged, when the probability that its final value beats
the incumbent (the best final so far) is below ``risk``, or, optionally, when the
improvement its forecast still expects is below ``min_gain`` (it has converged).

>>> from curvecast import forecast
>>> f = forecast([1, 2, 3, 4, 5, 6], [1.0, 0.8, 0.7, 0.65, 0.62, 0.6], at=50)
>>> decide(f, [0.6], incumbent=0.1).stop
True
>>> decide(f, [0.6], incumbent=0.9).reason
'continue'
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .forecast import Forecast

LEVEL = 0.8
"""Central interval recorded with every decision."""
RECENT = 3
"""Points whose mean is a run's level now (what min_gain is measured from)."""


@dataclass(frozen=True)
class Decision:
    """A stop-or-continue decision and what it rests on.

    reason: 'diverged', 'cannot_win' (probability of beating the incumbent below risk),
    'converged' (expected gain below min_gain), 'continue', or 'no_forecast'.
    """

    stop: bool
    reason: str
    prob_better: float | None = None
    median: float | None = None
    lower: float | None = None
    upper: float | None = None
    expected_gain: float | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


def diverged() -> Decision:
    return Decision(True, "diverged")


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
    lower, upper = (float(np.ravel(b)[0]) for b in fc.interval(LEVEL))
    sign = 1.0 if fc.goal == "min" else -1.0
    gain = float(sign * (values[-RECENT:].mean() - np.ravel(fc.mean)[0]))
    prob = None if incumbent is None else float(np.ravel(fc.prob_better_than(incumbent))[0])
    common = dict(prob_better=prob, median=median, lower=lower, upper=upper,
                  expected_gain=gain)
    if prob is not None and prob < risk:
        return Decision(True, "cannot_win", **common)
    if min_gain is not None and gain < min_gain:
        return Decision(True, "converged", **common)
    return Decision(False, "continue", **common)
