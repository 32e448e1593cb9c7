"""Forecast every run of a set and summarise each one: what ``curvecast forecast`` reports.

>>> from curvecast.curve import Curve, CurveSet
>>> cs = CurveSet([Curve("a", [1, 2, 3, 4, 5], [1, .7, .6, .55, .52]), Curve("b", [1, 2], [1, 2])])
>>> rows = forecast_runs(cs, at=50, target=0.5)
>>> [(r.run, r.status) for r in rows]
[('a', 'ok'), ('b', 'too_short')]
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from .api import make_forecaster
from .curve import Curve, CurveSet, check_bound
from .errors import UsageError
from .forecast import Forecast
from .forecasters import Forecaster

ETA_POINTS = 16
"""Intervals of each run's own ETA grid, spaced evenly in log(step) from its last step
to the horizon (learning curves change fastest soon after); the crossing is then refined
between the two steps that bracket it."""
CHUNK = 1024
"""Runs forecast together at most: the Forecast's arrays stay small whatever the file
(1024 runs of 10 points: 10 MB at the peak, 8192: 73 MB; as fast per run)."""
ETA_CHUNK = 1024
"""Runs forecast together at most with a target (on ETA grids of ETA_POINTS + 1 steps;
54 MB at the peak for 10-point runs)."""


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
    if forecaster.uses_context:
        forecaster = forecaster.fit([c for c in curves if c.last_step >= at])
    return forecaster


def eta_grid(curve: Curve, at: float) -> np.ndarray:
    """A run's own ETA grid: ETA_POINTS + 1 steps from the first step after its last one
    (the next whole step where its steps are whole numbers) to the horizon ``at``, evenly
    spaced in log(step).

    It depends on the run alone, so a run's ETA does not change with the other runs. It
    starts after the last step, not at it: there the forecast is the observed curve's
    fit, not yet the forecast of what comes next.

    >>> g = eta_grid(Curve("a", [1, 2, 9], [3, 2, 1]), 10 * 2 ** ETA_POINTS)
    >>> g[[0, 1, -1]].tolist()
    [10.0, 20.0, 655360.0]
    """
    return _grid_step(_grid_start(curve, at), at, np.arange(ETA_POINTS + 1.0))


def _whole(curve: Curve) -> bool:
    return bool((curve.steps == np.floor(curve.steps)).all())


def _grid_start(curve: Curve, at: float) -> float:
    last = curve.last_step
    return min(last + 1.0 if _whole(curve) else last + (at - last) * 1e-9, at)


def _grid_step(start, at: float, col) -> np.ndarray:
    """The step at (fractional) column ``col`` of the ETA grid from ``start`` to ``at``."""
    start, col = np.asarray(start, float), np.asarray(col, float)
    u = col / ETA_POINTS
    with np.errstate(divide="ignore", invalid="ignore"):
        geometric = start * (at / start) ** u
    step = np.where(start > 0, geometric, start + (at - start) * u)
    step = np.where(col >= ETA_POINTS, at, np.minimum(step, at))
    return np.where(np.isnan(col), np.nan, step)  # 1 ** nan is 1: keep the NaN


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

    With ``target``, also the ETA: the first step after the run's last, up to ``at``, at
    which its value is at least as good as ``target`` with probability ``prob`` (the
    step it was observed at if the run got there). It is found on the run's own grid
    (:func:`eta_grid`), refined between the two steps that bracket it
    (:meth:`Forecast.eta` with ``refine``), and is a whole step where the run's steps
    are whole numbers. Each run's row depends on that run alone.
    """
    return list(iter_forecast_runs(curves, at, level=level, target=target, prob=prob,
                                   method=method, bound=bound))


def iter_forecast_runs(
    curves: CurveSet,
    at: float | None = None,
    *,
    level: float = 0.8,
    target: float | None = None,
    prob: float = 0.5,
    method: str | Forecaster = "ensemble",
    bound: float | None = None,
) -> Iterator[RunForecast]:
    """:func:`forecast_runs` one row at a time, CHUNK runs forecast at once: memory does
    not grow with the number of runs beyond the curves themselves. Bad arguments raise
    here, before any row is made.

    >>> from curvecast.curve import Curve, CurveSet
    >>> rows = iter_forecast_runs(CurveSet([Curve("a", [1, 2, 3], [3, 2, 1])]), method="last")
    >>> next(rows).median
    1.0
    """
    if len(curves) == 0:
        raise UsageError("there are no runs to forecast")
    at = curves.max_step if at is None else float(at)
    if not 0 < level < 1:
        raise UsageError(f"--level must lie strictly between 0 and 1, got {level}")
    if target is not None and not 0 < prob < 1:
        raise UsageError(f"--prob must lie strictly between 0 and 1, got {prob}")
    check_bound(bound, curves, source=getattr(curves, "source", None))
    forecaster = run_forecaster(curves, at, method, bound)
    qs = [0.5, (1 - level) / 2, (1 + level) / 2]
    curves = list(curves)

    def rows() -> Iterator[RunForecast]:
        size = CHUNK if target is None else ETA_CHUNK
        for start in range(0, len(curves), size):
            yield from _chunk_rows(forecaster, curves[start:start + size], at, qs, target,
                                   prob)

    return rows()


def _chunk_rows(forecaster: Forecaster, chunk: Sequence[Curve], at: float, qs: list[float],
                target: float | None, prob: float) -> list[RunForecast]:
    n = len(chunk)
    seen = [None] * n if target is None else [
        observed_eta(c.steps, c.values, target, c.goal) for c in chunk]
    on_grid = np.array([target is not None and seen[i] is None and c.status == "ok"
                        and c.last_step < at for i, c in enumerate(chunk)], dtype=bool)
    if on_grid.any():
        q, valid, eta = _on_grids(chunk, on_grid, forecaster, at, qs, target, prob)
    else:
        fc = forecaster.forecast(chunk, [at])
        q, valid, eta = fc.quantiles(qs)[:, 0], fc.valid, np.full(n, np.nan)
    out = []
    for i, c in enumerate(chunk):
        status = c.status
        if status == "ok" and not valid[i]:
            status = "failed"
        ok = status == "ok"
        run_eta = seen[i] if seen[i] is not None else (finite_or_none(eta[i]) if ok else None)
        med, lo, hi = (finite_or_none(v) if ok else None for v in q[i])
        out.append(RunForecast(run=c.run, status=status, n_points=len(c), last=c.last, at=at,
                               median=med, lower=lo, upper=hi, eta=run_eta))
    return out


def _on_grids(curves: Sequence[Curve], on_grid: np.ndarray, forecaster: Forecaster, at: float,
              qs: list[float], target: float,
              prob: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quantiles at ``at``, validity and ETA of runs forecast on their own ETA grids
    (``on_grid``), the others at ``at`` alone; one call, so every run is fitted once
    and in as few batches as without a target."""
    grids = np.stack([eta_grid(c, at) if g else np.full(ETA_POINTS + 1, at)
                      for c, g in zip(curves, on_grid, strict=True)])
    fc = forecaster.forecast_each(curves, grids)
    end = Forecast(fc.x[-1:], fc.loc[:, -1:], fc.scale[:, -1:], fc.df, fc.weights[:, -1:],
                   fc.goal, fc.runs, fc.lower, fc.upper)
    col = fc.eta(target, prob, refine=True)  # a (fractional) column of the grid
    eta = _grid_step(grids[:, 0], at, col)
    whole = np.array([_whole(c) for c in curves])
    eta = np.where(whole, np.minimum(np.ceil(eta), at), eta)
    return end.quantiles(qs)[:, 0], fc.valid, np.where(on_grid, eta, np.nan)
