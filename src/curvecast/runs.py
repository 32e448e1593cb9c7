"""Forecast every run of a set and summarise each one: what ``curvecast forecast`` reports.

>>> from curvecast.curve import Curve, CurveSet
>>> cs = CurveSet([Curve("a", [1, 2, 3, 4, 5], [1, .7, .6, .55, .52]), Curve("b", [1, 2], [1, 2])])
>>> rows = forecast_runs(cs, at=50, target=0.5)
>>> [(r.run, r.status) for r in rows]
[('a', 'ok'), ('b', 'too_short')]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .api import make_forecaster
from .curve import CurveSet
from .errors import UsageError
from .forecasters import Forecaster

ETA_GRID = 200
"""Forecast points between the earliest last step and the horizon, for ETAs."""


@dataclass(frozen=True)
class RunForecast:
    """One run's forecast at step ``at``: the row of ``curvecast forecast``.

    status: 'ok', 'diverged' (a NaN/inf value), 'too_short' (too few points) or
    'failed' (no model could be fitted). ``eta`` is the first step at which the target
    is reached with the requested probability, None if not within the horizon.
    """

    run: str
    status: str
    n_points: int
    last: float | None
    at: float
    median: float | None
    lower: float | None
    upper: float | None
    eta: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def finite_or_none(v) -> float | None:
    """A float for JSON and tables: None where it is NaN or infinite."""
    v = float(v)
    return v if np.isfinite(v) else None


def _eta_grid(curves: CurveSet, at: float) -> np.ndarray:
    start = min(c.last_step for c in curves)
    seen = np.unique(np.concatenate([c.steps for c in curves]))
    grid = np.concatenate([np.linspace(start, at, ETA_GRID), seen[(seen > start) & (seen < at)]])
    return np.unique(np.append(grid, at))


def observed_eta(steps, values, target: float, goal: str) -> float | None:
    """The first step whose value is at least as good as ``target``; None if none is.

    >>> observed_eta(np.array([1, 2, 3]), np.array([0.9, 0.6, 0.4]), 0.5, "min")
    3.0
    """
    reached = values <= target if goal == "min" else values >= target
    hit = np.flatnonzero(reached & np.isfinite(values))
    return float(steps[hit[0]]) if hit.size else None


def run_forecaster(curves: CurveSet, at: float, method: str | Forecaster = "ensemble",
                   bound: float | None = None) -> Forecaster:
    """The forecaster ``method`` for the runs of ``curves`` forecast at step ``at``: 'study'
    learns from the runs that got to ``at`` (they have finished)."""
    forecaster = make_forecaster(method, bound)
    if hasattr(forecaster, "with_context"):
        forecaster = forecaster.with_context([c for c in curves if c.last_step >= at])
    return forecaster


def forecast_runs(
    curves: CurveSet,
    at: float | None = None,
    *,
    level: float = 0.8,
    target: float | None = None,
    prob: float = 0.5,
    method: str | Forecaster = "ensemble",
    bound: float | None = None,
) -> list[RunForecast]:
    """Forecast each run at ``at`` (default: the largest step in the set).

    With ``target``, also the ETA: the first step, up to ``at``, at which the run's value
    is at least as good as ``target`` with probability ``prob`` (a step already observed
    if the run got there).
    """
    if len(curves) == 0:
        raise UsageError("there are no runs to forecast")
    at = curves.max_step if at is None else float(at)
    if not 0 < level < 1:
        raise UsageError(f"--level must lie strictly between 0 and 1, got {level}")
    x = _eta_grid(curves, at) if target is not None else np.array([at])
    fc = run_forecaster(curves, at, method, bound).forecast(list(curves), x)
    j = int(np.searchsorted(fc.x, at))
    med, lo, hi = np.moveaxis(fc.quantiles([0.5, (1 - level) / 2, (1 + level) / 2])[:, j], -1, 0)
    last_steps = [c.last_step for c in curves]
    etas = fc.eta(target, prob, after=last_steps) if target is not None else None
    rows = []
    for i, c in enumerate(curves):
        status = c.status
        if status == "ok" and not fc.valid[i]:
            status = "failed"
        eta = None
        if target is not None:
            eta = observed_eta(c.steps, c.values, target, c.goal)
            if eta is None and status == "ok":
                eta = finite_or_none(etas[i])
        ok = status == "ok"
        rows.append(RunForecast(
            run=c.run, status=status, n_points=len(c), last=c.last, at=at,
            median=finite_or_none(med[i]) if ok else None,
            lower=finite_or_none(lo[i]) if ok else None,
            upper=finite_or_none(hi[i]) if ok else None,
            eta=eta,
        ))
    return rows
