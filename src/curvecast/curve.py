"""Curve and CurveSet: validated learning curves.

A :class:`Curve` is one training run: its metric (``values``) against a
non-negative, strictly increasing x (``steps``: step, epoch, samples or tokens),
the direction that is better (``goal``), and what else is known of the run
(hyperparameters ``hp``, other metadata ``meta``).

Decisions on awkward input, made once here for every reader and the API:

* steps must be finite and >= 0; they are sorted, so the order of rows does not matter;
* two values at the same step are an error (which of them is right cannot be guessed);
* NaN or +-inf values are data, not errors: the run is *diverged*; its status says so,
  and ``diverged_at`` gives the first step with a non-finite value;
* a run with fewer than :data:`MIN_POINTS` finite values is *too_short* to forecast.

>>> c = Curve("a", [2, 1, 3], [0.5, 0.9, 0.4])
>>> c.steps.tolist(), c.values.tolist(), c.status
([1.0, 2.0, 3.0], [0.9, 0.5, 0.4], 'ok')
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from .choices import GOALS
from .errors import InputError, UsageError

Goal = Literal["min", "max"]
MIN_POINTS = 3
"""Fewest finite values a run needs to be forecast."""


def check_goal(goal: str) -> Goal:
    """Return ``goal`` if it is 'min' or 'max', else raise :class:`UsageError`."""
    if goal not in GOALS:
        raise UsageError(f"goal must be 'min' or 'max', not {goal!r}")
    return goal  # type: ignore[return-value]


def _as_float_array(data: Any, what: str, run: str) -> np.ndarray:
    try:
        arr = np.asarray(data, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} must be numbers ({exc})", run=run) from None
    if arr.ndim != 1:
        raise InputError(f"{what} must be a flat list of numbers, got shape {arr.shape}", run=run)
    return arr


@dataclass(frozen=True, eq=False)
class Curve:
    """One validated learning curve; see the module docstring for the rules.

    Parameters
    ----------
    run: name of the run.
    steps: x values (step, epoch, samples, tokens): finite, >= 0, no duplicates.
    values: the metric at each step; NaN/inf mark a diverged run.
    goal: 'min' (loss, error; the default) or 'max' (accuracy).
    hp: hyperparameters of the run.
    meta: other per-run metadata.

    >>> Curve("r", [0, 1], [1.0, float("nan")]).status
    'diverged'
    """

    run: str
    steps: np.ndarray
    values: np.ndarray
    goal: Goal = "min"
    hp: Mapping[str, Any] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __init__(
        self,
        run: Any,
        steps: Sequence[float] | np.ndarray,
        values: Sequence[float] | np.ndarray,
        goal: str = "min",
        hp: Mapping[str, Any] | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        run = str(run)
        x = _as_float_array(steps, "steps", run)
        y = _as_float_array(values, "values", run)
        if x.shape != y.shape:
            raise InputError(
                f"{x.size} steps but {y.size} values; give one value per step", run=run
            )
        if x.size == 0:
            raise InputError("the run has no points", run=run)
        bad = ~np.isfinite(x)
        if bad.any():
            raise InputError(f"step {x[bad][0]} is not a finite number", run=run)
        if (x < 0).any():
            raise InputError(f"step {x[x < 0][0]:g} is negative; steps must be >= 0", run=run)
        order = np.argsort(x, kind="stable")
        x, y = x[order], y[order]
        dup = np.flatnonzero(np.diff(x) == 0)
        if dup.size:
            raise InputError(
                f"two values at step {x[dup[0]]:g}; keep one value per step "
                "(average them or drop the repeat)",
                run=run,
            )
        x.setflags(write=False)
        y.setflags(write=False)
        set_ = object.__setattr__
        set_(self, "run", run)
        set_(self, "steps", x)
        set_(self, "values", y)
        set_(self, "goal", check_goal(goal))
        set_(self, "hp", dict(hp or {}))
        set_(self, "meta", dict(meta or {}))

    def __len__(self) -> int:
        return int(self.steps.size)

    def __repr__(self) -> str:
        return f"Curve(run={self.run!r}, n_points={len(self)}, goal={self.goal!r}, status={self.status!r})"

    @property
    def finite(self) -> np.ndarray:
        """Mask of the points whose value is finite."""
        return np.isfinite(self.values)

    @property
    def diverged_at(self) -> float | None:
        """First step with a non-finite value, or None."""
        bad = np.flatnonzero(~self.finite)
        return float(self.steps[bad[0]]) if bad.size else None

    @property
    def status(self) -> str:
        """'diverged' (a NaN/inf value), 'too_short' (< MIN_POINTS points) or 'ok'."""
        if self.diverged_at is not None:
            return "diverged"
        if len(self) < MIN_POINTS:
            return "too_short"
        return "ok"

    @property
    def last(self) -> float | None:
        """Last finite value, or None when there is none."""
        v = self.values[self.finite]
        return float(v[-1]) if v.size else None

    @property
    def last_step(self) -> float:
        """Largest step of the run."""
        return float(self.steps[-1])

    def best(self) -> float | None:
        """Best finite value seen so far (min or max by goal)."""
        v = self.values[self.finite]
        if not v.size:
            return None
        return float(v.min() if self.goal == "min" else v.max())

    def head(self, n: int) -> Curve:
        """The first ``n`` points as a new curve (what was seen after ``n`` reports)."""
        if n < 1:
            raise UsageError(f"head needs n >= 1, not {n}")
        return self._replace(self.steps[:n], self.values[:n])

    def upto(self, step: float) -> Curve:
        """The points with steps <= ``step`` as a new curve."""
        n = int(np.searchsorted(self.steps, step, side="right"))
        if n == 0:
            raise UsageError(f"run {self.run!r} has no point at or before step {step:g}")
        return self.head(n)

    def _replace(self, steps: np.ndarray, values: np.ndarray) -> Curve:
        return Curve(self.run, steps, values, self.goal, self.hp, self.meta)


class CurveSet(Sequence[Curve]):
    """An ordered collection of curves with unique run names and one goal.

    >>> cs = CurveSet([Curve("a", [1, 2, 3], [3, 2, 1]), Curve("b", [1, 2], [1, 1])])
    >>> len(cs), cs["b"].status, cs.max_step
    (2, 'too_short', 3.0)
    """

    def __init__(self, curves: Iterable[Curve], source: str | None = None) -> None:
        self._curves = list(curves)
        self.source = source
        self._index: dict[str, int] = {}
        for i, c in enumerate(self._curves):
            if c.run in self._index:
                raise InputError("the run name appears twice", file=source, run=c.run)
            self._index[c.run] = i
        goals = {c.goal for c in self._curves}
        if len(goals) > 1:
            raise InputError("runs mix goals 'min' and 'max'; use one goal per file", file=source)

    def __len__(self) -> int:
        return len(self._curves)

    def __iter__(self) -> Iterator[Curve]:
        return iter(self._curves)

    def __getitem__(self, key):  # type: ignore[override]
        if isinstance(key, str):
            return self._curves[self._index[key]]
        if isinstance(key, slice):
            return CurveSet(self._curves[key], self.source)
        return self._curves[key]

    def __repr__(self) -> str:
        return f"CurveSet({len(self)} runs, source={self.source!r})"

    @property
    def runs(self) -> list[str]:
        return [c.run for c in self._curves]

    @property
    def goal(self) -> Goal:
        return self._curves[0].goal if self._curves else "min"

    @property
    def max_step(self) -> float:
        """Largest step seen in any run."""
        if not self._curves:
            raise UsageError("the set has no runs")
        return max(c.last_step for c in self._curves)

    def with_goal(self, goal: str) -> CurveSet:
        """The same runs with ``goal`` set on every curve."""
        goal = check_goal(goal)
        return CurveSet(
            (Curve(c.run, c.steps, c.values, goal, c.hp, c.meta) for c in self._curves),
            self.source,
        )


def beyond_bound(values: np.ndarray, goal: str, bound: float) -> np.ndarray:
    """Mask of the values better than ``bound``, the best attainable value: below it for
    'min', above it for 'max' (NaN is never beyond).

    >>> beyond_bound(np.array([0.5, 1.2, np.nan]), "max", 1.0).tolist()
    [False, True, False]
    """
    with np.errstate(invalid="ignore"):
        return np.asarray(values < bound if goal == "min" else values > bound)


def check_bound(bound: float | None, curves: Iterable[Curve] = (), *,
                source: str | None = None) -> float | None:
    """Check that ``bound`` is a finite number that no value of ``curves`` is better than
    (a bound is the best attainable value: a forecast would start beyond it); returns it.

    >>> check_bound(1.0, [Curve("a", [1, 2, 3], [0.5, 1.5, 0.9], goal="max")])
    Traceback (most recent call last):
    ...
    curvecast.errors.InputError: run 'a': value 1.5 at step 2 is above the bound 1 (the best a 'max' metric can reach); fix the value, or give a bound that the data respect
    """
    if bound is None:
        return None
    try:
        value = float(bound)
    except (TypeError, ValueError):
        raise UsageError(f"the bound must be a number, not {bound!r}") from None
    if not np.isfinite(value):
        raise UsageError(f"the bound must be a finite number, not {value}")
    for c in curves:
        bad = np.flatnonzero(beyond_bound(c.values, c.goal, value))
        if bad.size:
            i = int(bad[0])
            raise InputError(beyond_text(f"value {c.values[i]:g} at step {c.steps[i]:g}",
                                         c.goal, value), file=source, run=c.run)
    return value


def beyond_text(what: str, goal: str, bound: float) -> str:
    """The message for ``what`` (a value, where it is) beyond ``bound``.

    >>> beyond_text("value -0.1", "min", 0.0)
    "value -0.1 is below the bound 0 (the best a 'min' metric can reach); fix the value, or give a bound that the data respect"
    """
    side = "below" if goal == "min" else "above"
    return (f"{what} is {side} the bound {bound:g} (the best a {goal!r} metric can reach); "
            "fix the value, or give a bound that the data respect")
