"""One-call forecasts: ``forecast`` for one curve, ``forecast_batch`` for many.

>>> f = forecast([1, 2, 3, 4, 5, 6], [1.0, 0.7, 0.58, 0.52, 0.49, 0.47], at=[20, 50])
>>> f.median.shape, bool(f.median[1] < 0.47)
((2,), True)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .choices import DEFAULT_METHOD
from .curve import Curve, CurveSet, check_goal
from .errors import UsageError
from .families import FAMILIES
from .forecast import Forecast
from .forecasters import (
    METHODS,
    FamilyForecaster,
    Forecaster,
    JointForecaster,
    LearnedForecaster,
    StudyForecaster,
)


def method_names() -> list[str]:
    """Every name ``make_forecaster`` knows: 'default', the methods, each family alone."""
    return ["default", *sorted(METHODS), *FAMILIES]


def make_forecaster(method: str | Forecaster = "default", bound: float | None = None,
                    model: str | Path | None = None) -> Forecaster:
    """A forecaster from its name ('ensemble', 'last', 'mean_last', a family such as
    'pow3' fitted alone) or as given. ``model``: a combiner network file for the methods
    that use one (ensemble, study, joint; e.g. a held-out network of ``benchmarks/models/``).

    >>> make_forecaster("study").name, make_forecaster("pow3").name, make_forecaster().name
    ('study', 'pow3', 'joint')
    """
    if isinstance(method, Forecaster):
        return method
    if method == "default":  # whatever the project's default is (choices.DEFAULT_METHOD)
        method = DEFAULT_METHOD
    if method in ("ensemble", "study", "joint") and model is not None:
        net = LearnedForecaster(model, bound=bound)
        if method == "ensemble":
            return net
        return (StudyForecaster if method == "study" else JointForecaster)(base=net, bound=bound)
    if method in METHODS:
        return METHODS[method](bound=bound)
    if method in FAMILIES:
        return FamilyForecaster(method, bound=bound)
    raise UsageError(f"unknown method {method!r}; choose from {', '.join(method_names())}")


def forecast(
    steps: Sequence[float],
    values: Sequence[float],
    *,
    at: float | Sequence[float],
    goal: str = "min",
    method: str | Forecaster = "default",
    bound: float | None = None,
) -> Forecast:
    """Forecast one learning curve at the step(s) ``at``.

    Parameters
    ----------
    steps, values: the curve observed so far (any order; NaN/inf mark divergence).
    at: step or steps to forecast at.
    goal: 'min' (loss, error) or 'max' (accuracy).
    method: 'default' (the project's default: now 'joint'), 'ensemble', 'bma', 'last',
        'mean_last',
        a family name, or a Forecaster instance.
    bound: the metric's best attainable value if known (0 for a loss, 1 for accuracy).

    Returns a single-curve :class:`Forecast`: its answers have the steps as first axis.
    A diverged or too-short curve gives NaN answers; check ``Curve(...).status``.

    >>> f = forecast([0, 100, 200, 300], [2.3, 1.2, 0.9, 0.8], at=1000)
    >>> lo, hi = f.interval(0.8, axis=-1)[0]  # steps first, then [lower, upper]
    >>> bool(lo < f.median[0] < hi)
    True
    """
    curve = Curve("run", steps, values, check_goal(goal))
    return make_forecaster(method, bound).forecast([curve], at)[0]


def _as_curves(curves: Any, goal: str | None) -> list[Curve]:
    if isinstance(curves, CurveSet | list | tuple) and all(isinstance(c, Curve) for c in curves):
        out = list(curves)
    elif isinstance(curves, Mapping):
        out = [Curve(run, *sv, goal=goal or "min") for run, sv in curves.items()]
    elif isinstance(curves, Iterable):
        out = [Curve(str(i), *sv, goal=goal or "min") for i, sv in enumerate(curves)]
    else:
        raise UsageError("give curves as Curve objects, {run: (steps, values)} or [(steps, values)]")
    if goal is not None:
        goal = check_goal(goal)
        out = [c if c.goal == goal else Curve(c.run, c.steps, c.values, goal, c.hp, c.meta) for c in out]
    return out


def forecast_batch(
    curves: CurveSet | Sequence[Curve] | Mapping[str, tuple] | Iterable[tuple],
    *,
    at: float | Sequence[float],
    goal: str | None = None,
    method: str | Forecaster = "default",
    bound: float | None = None,
) -> Forecast:
    """Forecast many curves at once at the shared step(s) ``at``.

    ``curves`` may be Curve objects (a CurveSet), a mapping ``{run: (steps, values)}``
    or a sequence of ``(steps, values)`` pairs. ``goal`` overrides the curves' own.
    Answers have shape (B, X); index the result by position or run name for one curve.

    >>> f = forecast_batch({"a": ([1, 2, 3, 4], [1, .6, .5, .45]), "b": ([1, 2, 3], [1, 1, 1])}, at=10)
    >>> f.median.shape, f.runs
    ((2, 1), ['a', 'b'])
    """
    return make_forecaster(method, bound).forecast(_as_curves(curves, goal), at)
