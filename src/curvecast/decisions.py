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

import functools
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields, replace

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
    'continue', 'no_forecast', or 'pruned' (stopped by another rule, the forecast given
    to the sampler recorded with it). ``median``, ``lower`` and ``upper`` (of the central
    ``LEVEL`` interval) are the run's forecast at ``final_step``, made from its values
    up to ``step``; ``incumbent`` is the best final it was compared with.

    The record is :meth:`to_dict`, read back by :meth:`from_dict` (through JSON, as an
    Optuna storage keeps it):

    >>> d = Decision(True, "cannot_win", prob_better=0.008, median=5.1, lower=4.9,
    ...              upper=5.3, step=12, final_step=50, incumbent=4.7)
    >>> Decision.from_dict(d.to_dict()) == d
    True
    """

    stop: bool
    reason: str
    prob_better: float | None = None
    median: float | None = None
    lower: float | None = None
    upper: float | None = None
    expected_gain: float | None = None
    best_case: float | None = None  # the better end of the 80% interval
    step: int | None = None  # the last step the decision saw
    final_step: int | None = None  # the step its forecast is of
    incumbent: float | None = None

    def to_dict(self) -> dict:
        """The fields that are set, as JSON-ready numbers, text and true/false."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, record: Mapping) -> Decision:
        """The decision a :meth:`to_dict` record holds; ValueError naming the field that
        is not what a record has (keys it does not know are ignored).

        >>> Decision.from_dict({"stop": False, "reason": "continue", "step": 3.0}).step
        3
        >>> Decision.from_dict({"stop": "yes", "reason": "continue"})
        Traceback (most recent call last):
        ...
        ValueError: decision record: 'stop' must be true or false, not 'yes'
        """
        # A record is data read back from a storage: what is wrong with it is a bad value
        # (ValueError, which readers catch), whatever its type.
        if not isinstance(record, Mapping):
            raise ValueError(f"decision record: not a mapping but {type(record).__name__}")  # noqa: TRY004
        stop, reason = record.get("stop"), record.get("reason")
        if not isinstance(stop, bool):
            raise ValueError(f"decision record: 'stop' must be true or false, not {stop!r}")  # noqa: TRY004
        if not isinstance(reason, str):
            raise ValueError(f"decision record: 'reason' must be text, not {reason!r}")  # noqa: TRY004
        values = {}
        for f in fields(cls)[2:]:
            v = record.get(f.name)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise ValueError(f"decision record: {f.name!r} must be a number, not {v!r}")  # noqa: TRY004
            if f.name in _STEPS:
                if not float(v).is_integer():
                    raise ValueError(f"decision record: {f.name!r} must be a whole step, "
                                     f"not {v!r}")
                v = int(v)
            else:
                v = float(v)
            values[f.name] = v
        return cls(stop, reason, **values)


_STEPS = ("step", "final_step")


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


def best_case(final: float | None, record: Decision | None, goal: str = "min") -> float:
    """A finished run's outcome at best: its final value if it ran to the end, else (it
    was stopped) the better end of the 80% interval recorded when it was stopped; the
    worst value (inf, or -inf for 'max') when neither is known (a diverged run, or one
    another pruner stopped).

    >>> best_case(0.31, None)
    0.31
    >>> best_case(None, Decision(True, "cannot_win", best_case=0.5))
    0.5
    >>> best_case(None, diverged(), goal="max")
    -inf
    """
    if final is not None:
        return float(final)
    if record is not None and record.best_case is not None:
        return record.best_case
    return math.inf if goal == "min" else -math.inf


def incumbent(finals: Iterable[float], goal: str = "min", *,
              others: Iterable[Decision] = (), final_step: int | None = None) -> float | None:
    """The best final a run must beat: the best finite value in ``finals`` (the runs that
    ran to their end). Before any did, and only with the final step fixed in advance
    (``final_step``: without it, the runs' length is unknown until one completes), the
    best of the ``others`` (the latest judgements of the other running runs) recorded
    worst cases, the worse end of their 80% interval, at that same final step, from
    judgements that did not stop them: a run is then stopped only when it will almost
    surely end worse than another would even at its worst. None: nothing to beat.

    >>> incumbent([0.5, 0.3, float("nan")])
    0.3
    >>> running = [Decision(False, "continue", lower=0.2, upper=0.6, final_step=50),
    ...            Decision(False, "continue", lower=0.1, upper=0.4, final_step=50),
    ...            Decision(True, "cannot_win", lower=0.0, upper=0.1, final_step=50)]
    >>> incumbent([], others=running, final_step=50)
    0.4
    >>> incumbent([], others=running) is None
    True
    """
    sign = 1.0 if goal == "min" else -1.0
    done = [sign * v for v in finals if math.isfinite(v)]
    if done:
        return sign * min(done)
    if final_step is None:
        return None
    worst = "upper" if goal == "min" else "lower"
    bars = [sign * getattr(d, worst) for d in others
            if getattr(d, worst) is not None and not d.stop and d.final_step == final_step]
    return sign * min(bars) if bars else None


def final_step(step: int, ends: Iterable[int], running_ends: Iterable[int] = (),
               max_step: int | None = None) -> int:
    """The step runs end at: ``max_step`` if given, else the largest last step of the
    runs that ran to their end (``ends``; before any did, of the running ones), and never
    before the run's current ``step``.

    >>> final_step(5, [30, 40]), final_step(5, [], [12, 8]), final_step(60, [30], max_step=50)
    (40, 12, 60)
    """
    if max_step is not None:
        return max(max_step, step)
    ends = list(ends)
    return max([step, *(ends if ends else running_ends)])


def due(points: int, judged: int, growth: float) -> bool:
    """Whether a run with ``points`` values, last forecast when it had ``judged`` (0:
    never), is due a new forecast: its points grew by the factor ``growth``, by one at
    least. A forecast is the costly part of a judgement; learning curves change little
    from one point to the next late in a run.

    >>> judged, at = 0, []
    >>> for n in range(3, 31):
    ...     if due(n, judged, 1.5):
    ...         judged, at = n, [*at, n]
    >>> at
    [3, 5, 8, 12, 18, 27]
    """
    return judged <= 0 or points >= max(judged + 1, judged * growth)


@functools.lru_cache(maxsize=4096)
def forecast_due(points: int, growth: float, first: int = 3) -> tuple[bool, int]:
    """Whether a run's forecast is due when it has ``points`` values, on the schedule that
    :func:`due` sets from its first forecast at ``first`` points, and the points at the
    schedule's previous forecast (0: none). A function of ``points`` alone: whoever asks,
    and whether or not the forecasts before were recorded, a run is forecast at the same
    points.

    >>> [n for n in range(1, 31) if forecast_due(n, 1.5)[0]], forecast_due(10, 1.5)
    ([3, 5, 8, 12, 18, 27], (False, 8))
    """
    judged = previous = 0
    for n in range(first, points + 1):
        if due(n, judged, growth):
            previous, judged = judged, n
    return (True, previous) if judged == points else (False, judged)


def context_size(n: int, growth: float, most: int | None = None) -> int:
    """How many of ``n`` finished runs (in the order they finished) a study model learns
    from: the largest of 1, 2, ... (each the last grown by ``growth``, by one at least)
    that is at most ``n`` (and at most ``most``, where given); 0 for none. A function of
    ``n`` alone, so every process reading the same study learns from the same runs, and
    a model is refit only when the size steps up: about log(n) / log(growth) times in
    all, and never again once the size reaches ``most``.

    >>> [context_size(n, 1.25) for n in (0, 1, 4, 5, 6, 7, 9, 11, 12)]
    [0, 1, 4, 5, 5, 7, 9, 9, 12]
    >>> context_size(500, 1.25), context_size(500, 1.25, most=100)
    (454, 94)
    """
    k = 0
    while True:
        nxt = max(k + 1, math.ceil(k * growth))
        if nxt > n or (most is not None and nxt > most):
            return k
        k = nxt
