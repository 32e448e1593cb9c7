"""Backtests: hide the end of real runs, forecast it, score the forecasts.

For every complete run (status ok: no NaN or inf anywhere, at least 3 points; a
diverged run has no final value to score; both kinds are counted as excluded) and
every cutoff, the forecaster sees the first
``round(cutoff * n)`` points of the run (at most n - 1) and forecasts the run's final
value and every hidden step. A run to which a cutoff shows no point (round(cutoff * n)
< 1: 5 points at cutoff 0.1) is too short for it: left out of that cutoff's row and
counted there (``too_short``). A forecast that fails (too few points, no
model fitted) falls back to the last value seen and is counted in ``failures``, so
every method is scored on the same runs.

>>> from curvecast.curve import Curve, CurveSet
>>> x = np.arange(1, 21.0)
>>> runs = CurveSet([Curve(str(i), x, 0.2 * i + 2 * x ** -0.5) for i in range(5)])
>>> bt = backtest(runs, cutoffs=[0.5], methods=["last", "ensemble"])
>>> [(r.method, r.n_runs, r.mae < 1e-2) for r in bt.results]
[('last', 5, False), ('ensemble', 5, True)]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..api import make_forecaster
from ..curve import Curve, CurveSet
from ..errors import UsageError
from ..forecast import Forecast
from ..forecasters import Forecaster, LastValue, LearnedForecaster
from ..forecasters.provenance import check_in_sample
from ..numerics import quiet
from . import scoring

LEVELS = (0.5, 0.8, 0.9)
TYPICAL = (0.01, 0.99)
"""Quantiles of the file's true finals that bound a typical run (for the _typical scores)."""
ROBUST = ("nmae_typical", "crps_typical", "spearman_top", "win_rate_vs_last")
CUTOFFS = (0.1, 0.2, 0.4, 0.6, 0.8)


@dataclass(frozen=True)
class Score:
    """Scores of one method at one cutoff: a row of the backtest table.

    mae/medae: mean/median absolute error of the final value; nmae: mae divided by the
    IQR of the true finals; log_score: mean log density of the true final (higher is
    better); crps: mean CRPS of the final (lower is better); coverage: fraction of true
    finals inside each central interval; spearman: rank correlation of forecast medians
    and true finals across runs; curve_nmae: mean absolute error over all hidden steps
    divided by the IQR; failures: forecasts that fell back to the last value; context:
    finished runs the methods saw (K), repeats: random splits averaged (see backtest);
    too_short: complete runs left out because the cutoff shows them no point (failures
    and too_short are summed over the splits). A row with no run left is NaN.

    Robust scores, since a handful of exploding runs set the plain MAE (TaskSet):
    nmae_typical, crps_typical: nmae and crps over the runs whose true final lies within
    the 1-99% quantiles of the file's finals (:data:`TYPICAL`); spearman_top: rank
    correlation among the best quarter of runs by true final (what picking a winner
    needs); win_rate_vs_last: fraction of runs whose absolute error is below the last
    seen value's.
    """

    method: str
    cutoff: float
    n_runs: int
    mae: float
    nmae: float
    medae: float
    log_score: float
    crps: float
    coverage: dict[str, float]
    spearman: float
    curve_nmae: float
    failures: int
    seconds: float
    context: int = 0
    repeats: int = 1
    too_short: int = 0
    nmae_typical: float = float("nan")
    crps_typical: float = float("nan")
    spearman_top: float = float("nan")
    win_rate_vs_last: float = float("nan")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Backtest:
    """All scores of a backtest, and which runs were scored."""

    results: list[Score] = field(default_factory=list)
    n_runs: int = 0
    excluded: int = 0
    in_sample: bool | None = None
    """The network of the methods that use one (ensemble, study) was trained on some of
    the scored runs (see :mod:`curvecast.forecasters.provenance`); None: no such method,
    or the model does not say what it learned from."""
    in_sample_datasets: dict[str, int] = field(default_factory=dict)
    """Its training data sets the scored runs come from, with the runs matched."""
    model: str | None = None
    """The network's file; None: the one shipped with curvecast."""

    def to_dict(self) -> dict:
        return {"results": [r.to_dict() for r in self.results], "n_runs": self.n_runs,
                "excluded": self.excluded, "in_sample": self.in_sample,
                "in_sample_datasets": self.in_sample_datasets, "model": self.model}


def cut_point(c: Curve, cutoff: float) -> int:
    """Points of run ``c`` a forecaster sees at ``cutoff``: round(cutoff * n), within 1..n-1
    (0 points: the run is too short for the cutoff, see :func:`long_enough`)."""
    return int(min(max(round(cutoff * len(c)), 1), len(c) - 1))


def long_enough(c: Curve, cutoff: float) -> bool:
    """Whether ``cutoff`` shows run ``c`` at least one point.

    >>> long_enough(Curve("a", range(5), [1.0] * 5), 0.1), long_enough(Curve("b", range(10), [1.0] * 10), 0.1)
    (False, True)
    """
    return round(cutoff * len(c)) >= 1


def _groups(curves: Sequence[Curve]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(run indices, step grid) pairs, one forecast call each.

    Runs whose steps come from one schedule (epochs, LCDB's training-set sizes) are
    forecast together on the union of their steps; runs on unrelated grids, whose union
    would be large, go in groups of identical grids.
    """
    union = np.unique(np.concatenate([c.steps for c in curves]))
    if union.size <= max(64, 2 * max(len(c) for c in curves)):
        return [(np.arange(len(curves)), union)]
    by_grid: dict[bytes, list[int]] = {}
    for i, c in enumerate(curves):
        by_grid.setdefault(c.steps.tobytes(), []).append(i)
    return [(np.array(v), curves[v[0]].steps) for v in by_grid.values()]


def _quantile_levels(levels: Sequence[float]) -> np.ndarray:
    ends = [p for lv in levels for p in ((1 - lv) / 2, (1 + lv) / 2)]
    return np.concatenate([[0.5], ends, scoring.CRPS_LEVELS])


def _summaries(fc: Forecast, full: list[Curve], seen: list[int], qs: np.ndarray) -> dict:
    """Per-run arrays for scoring: final quantiles, log density, hidden-step errors."""
    B, X = len(full), fc.x.size
    values = np.full((B, X), np.nan)
    hidden = np.zeros((B, X), bool)
    last = np.zeros(B, int)
    for b, (c, k) in enumerate(zip(full, seen, strict=True)):
        pos = np.searchsorted(fc.x, c.steps)
        values[b, pos] = c.values
        hidden[b, pos[k:]] = True
        last[b] = pos[-1]
    err = np.where(hidden, np.abs(fc.median - np.nan_to_num(values)), 0.0)
    rows = np.arange(B)
    final = Forecast([0.0], fc.loc[rows, last][:, None], fc.scale[rows, last][:, None], fc.df,
                     fc.weights[rows, last], fc.goal, fc.runs, fc.lower, fc.upper)
    truth = values[rows, last]
    return {"q": final.quantiles(qs)[:, 0, :], "logpdf": final.logpdf(truth)[:, 0],
            "curve_err": err.sum(axis=1) / hidden.sum(axis=1)}


def _score_method(method: Forecaster, full, heads, seen, groups, qs):
    """Forecast every group; failed rows fall back to the last value seen."""
    parts = {}
    failed = np.zeros(len(full), bool)
    for idx, grid in groups:
        sub_full = [full[i] for i in idx]
        sub_heads = [heads[i] for i in idx]
        sub_seen = [seen[i] for i in idx]
        fc = method.forecast(sub_heads, grid)
        s = _summaries(fc, sub_full, sub_seen, qs)
        bad = ~fc.valid
        if bad.any():
            fb = _summaries(LastValue(method.bound).forecast(sub_heads, grid), sub_full,
                            sub_seen, qs)
            s = {k: np.where(bad.reshape((-1,) + (1,) * (v.ndim - 1)), fb[k], v) for k, v in s.items()}
        failed[idx] = bad
        for k, v in s.items():
            parts.setdefault(k, np.zeros((len(full),) + v.shape[1:]))[idx] = v
    return parts, failed


@quiet  # runs near 1e308 overflow the errors; the scores keep inf/NaN
def backtest(
    curves: CurveSet | Sequence[Curve],
    cutoffs: Sequence[float] = CUTOFFS,
    methods: Sequence[str | Forecaster] = ("ensemble", "last", "mean_last"),
    *,
    levels: Sequence[float] = LEVELS,
    bound: float | None = None,
    context: int | Sequence[int] = 0,
    repeats: int = 3,
    seed: int = 0,
    progress: Callable[[str, float], None] | None = None,
    model: str | Path | None = None,
) -> Backtest:
    """Score each method at each cutoff on the complete runs of ``curves``.

    ``context``: with K > 0, runs are split at random into K finished runs, seen whole by
    the methods that learn from a study (``study``), and the rest, scored as usual;
    ``repeats`` such splits (seeded by ``seed``) are scored and their scores averaged.
    Several K give one block of rows each. ``progress(method, cutoff)`` is called after
    each (K, method, cutoff) is done. ``model``: the network file of ensemble and study
    (default: the shipped one); the result says whether it was trained on the scored
    runs (``in_sample``).
    """
    if any(not 0 < c < 1 for c in cutoffs):
        raise UsageError(f"cutoffs must lie strictly between 0 and 1, got {list(cutoffs)}")
    contexts = [context] if isinstance(context, int) else list(context)
    curves = list(curves)
    if any(k < 0 or k >= len(curves) for k in contexts):
        raise UsageError(f"context must be between 0 and {len(curves) - 1} runs "
                         f"(there are {len(curves)}), got {contexts}")
    if repeats < 1:
        raise UsageError(f"repeats must be at least 1, got {repeats}")
    forecasters = [make_forecaster(m, bound, model) for m in methods]
    names = [m if isinstance(m, str) else f.name for m, f in zip(methods, forecasters, strict=True)]
    full = [c for c in curves if c.status == "ok"]
    out = Backtest(n_runs=len(full), excluded=len(curves) - len(full),
                   model=None if model is None else str(model))
    if any(_uses_network(f) for f in forecasters):
        found = check_in_sample(full, model)
        out.in_sample, out.in_sample_datasets = found.in_sample, found.datasets
    if not full:
        raise UsageError("no complete run to backtest (every run diverged or is too short)")
    finals = np.array([c.values[-1] for c in full])
    scale = scoring.iqr(finals)
    typical = tuple(np.quantile(finals, TYPICAL))
    qs = _quantile_levels(levels)
    for k in contexts:
        splits = _splits(curves, k, repeats, seed)
        for cutoff in cutoffs:
            for name, method in zip(names, forecasters, strict=True):
                scores = [_score(method, ctx, test, cutoff, levels, qs, scale, typical)
                          for ctx, test in splits]
                out.results.append(_average(scores, name, float(cutoff), k))
                if progress is not None:
                    progress(name, cutoff)
    return out


def _uses_network(f: Forecaster) -> bool:
    return isinstance(f, LearnedForecaster) or isinstance(getattr(f, "base", None),
                                                          LearnedForecaster)


def _splits(curves: list[Curve], k: int, repeats: int, seed: int):
    """(finished runs, complete runs to score) pairs: the whole set once for k = 0."""
    if k == 0:
        return [([], [c for c in curves if c.status == "ok"])]
    out = []
    for r in range(repeats):
        order = np.random.default_rng([seed, k, r]).permutation(len(curves))
        ctx = [curves[i] for i in order[:k]]
        test = [curves[i] for i in order[k:] if curves[i].status == "ok"]
        if not test:
            raise UsageError(f"no complete run left to score beside {k} finished runs")
        out.append((ctx, test))
    return out


def _score(method: Forecaster, ctx, full, cutoff, levels, qs, scale, typical) -> dict:
    """Scores of one method at one cutoff on one split, as a dict of Score's fields."""
    too_short = sum(not long_enough(c, cutoff) for c in full)
    full = [c for c in full if long_enough(c, cutoff)]
    if not full:
        nan = float("nan")
        return {"n_runs": 0, **dict.fromkeys(("mae", "nmae", "medae", "log_score", "crps",
                                              "spearman", "curve_nmae", *ROBUST), nan),
                "coverage": {str(lv): nan for lv in levels}, "failures": 0, "seconds": 0.0,
                "too_short": too_short}
    if method.uses_context:  # fit([]) forgets the previous split's study
        method = method.fit(ctx)
    truth = np.array([c.values[-1] for c in full])
    seen = [cut_point(c, cutoff) for c in full]
    heads = [c.head(k) for c, k in zip(full, seen, strict=True)]
    t0 = time.perf_counter()
    parts, failed = _score_method(method, full, heads, seen, _groups(full), qs)
    seconds = time.perf_counter() - t0
    q = parts["q"]
    med = q[:, 0]
    mae = scoring.mae(med, truth)
    robust = _robust(med, q[:, 1 + 2 * len(levels):], truth, heads, scale, typical)
    return {**robust,
        "n_runs": len(full), "mae": mae, "nmae": mae / scale if scale > 0 else float("nan"),
        "medae": scoring.medae(med, truth), "log_score": scoring.log_score(parts["logpdf"]),
        "crps": scoring.crps(q[:, 1 + 2 * len(levels):], truth),
        "coverage": {str(lv): scoring.coverage(q[:, 1 + 2 * i], q[:, 2 + 2 * i], truth)
                     for i, lv in enumerate(levels)},
        "spearman": scoring.spearman(med, truth),
        "curve_nmae": float(np.mean(parts["curve_err"])) / scale if scale > 0 else float("nan"),
        "failures": int(failed.sum()), "seconds": seconds, "too_short": too_short}


def _robust(med, crps_q, truth, heads, scale: float, typical) -> dict:
    """The robust scores of Score (see its docstring)."""
    inside = (truth >= typical[0]) & (truth <= typical[1])
    nan = float("nan")
    last = np.array([h.last if h.last is not None else np.nan for h in heads])
    top = truth <= np.quantile(truth, 0.25) if heads[0].goal == "min" else (
        truth >= np.quantile(truth, 0.75))
    return {
        "nmae_typical": scoring.mae(med[inside], truth[inside]) / scale
        if inside.any() and scale > 0 else nan,
        "crps_typical": scoring.crps(crps_q[inside], truth[inside]) if inside.any() else nan,
        "spearman_top": scoring.spearman(med[top], truth[top]),
        "win_rate_vs_last": scoring.win_rate(med, last, truth),
    }


def _average(scores: list[dict], method: str, cutoff: float, context: int) -> Score:
    """One row: every score averaged over the splits (failures and seconds summed)."""
    avg = {k: float(np.nanmean([s[k] for s in scores])) if any(np.isfinite(s[k]) for s in scores)
           else float("nan")
           for k in ("mae", "nmae", "medae", "log_score", "crps", "spearman", "curve_nmae",
                     *ROBUST)}
    cov = {lv: float(np.mean([s["coverage"][lv] for s in scores])) for lv in scores[0]["coverage"]}
    return Score(method=method, cutoff=cutoff, n_runs=scores[0]["n_runs"], coverage=cov,
                 failures=sum(s["failures"] for s in scores),
                 seconds=sum(s["seconds"] for s in scores), context=context,
                 repeats=len(scores), too_short=sum(s["too_short"] for s in scores), **avg)
