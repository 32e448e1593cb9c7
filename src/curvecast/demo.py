"""The demo: forecast bundled real runs from their first part, compare with their ends.

The runs are NAS-Bench-NLP's, so the demo forecasts them with the network trained
without NAS-Bench-NLP (shipped beside the default one for this purpose): the shipped
default has seen these very runs, and its errors on them would flatter it.

>>> import tempfile
>>> r = run_demo(tempfile.mkdtemp(), cutoff=0.3)
>>> len(r.rows) > 10 and r.plot.exists() and r.report.exists()
True

Then the same runs are replayed as a hyperparameter sweep, an Optuna study on SQLite,
once with curvecast's ForecastPruner and once with Optuna's MedianPruner (run_sweep).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from .curve import CurveSet
from .forecasters import LearnedForecaster
from .runs import finite_or_none

SAMPLE = "nasbench_nlp_sample.csv"
HELD_OUT_MODEL = "combiner_minus_nasbench_nlp.npz"


@dataclass(frozen=True)
class DemoRow:
    run: str
    n_seen: int
    last: float | None
    median: float | None
    lower: float | None
    upper: float | None
    truth: float | None
    status: str
    final_status: str


@dataclass(frozen=True)
class DemoResult:
    title: str
    rows: list[DemoRow]
    summary: str
    plot: Path
    json: Path
    report: Path


def sample_curves() -> CurveSet:
    """The bundled NAS-Bench-NLP sample (see curvecast/data/README.md)."""
    from .io import read_curves

    with resources.as_file(resources.files("curvecast") / "data" / SAMPLE) as path:
        return read_curves(path)


def run_demo(out: str | Path, cutoff: float = 0.3) -> DemoResult:
    """Show the ensemble the first ``cutoff`` of each bundled run; forecast the final value."""
    from .io.output import output_dir, staged, write_text
    from .plot import plot_fans
    from .report import curve_report, write_report

    out = output_dir(out)  # a clear error now, not after the forecasts
    full = sample_curves()
    seen = [c.head(max(3, int(round(cutoff * len(c))))) for c in full]
    final = full.max_step
    grid = np.unique(np.concatenate([c.steps for c in full]))
    with resources.as_file(resources.files("curvecast") / "models" / HELD_OUT_MODEL) as model:
        forecaster = LearnedForecaster(model=model)
        fc = forecaster.forecast(seen, grid)
    j = int(np.searchsorted(fc.x, final))
    med, (lo, hi) = fc.median[:, j], fc.interval(0.8, axis=0)[:, :, j]
    rows = []
    for i, (c, s) in enumerate(zip(full, seen, strict=True)):
        ok = s.status == "ok" and fc.valid[i]
        rows.append(DemoRow(
            c.run, len(s), s.last,
            *(finite_or_none(v[i]) if ok else None for v in (med, lo, hi)),
            finite_or_none(c.values[-1]),
            s.status if ok or s.status != "ok" else "failed", c.status,
        ))
    scored = [r for r in rows if r.median is not None and r.truth is not None]
    err_f = [abs(r.median - r.truth) for r in scored]
    err_l = [abs(r.last - r.truth) for r in scored]
    cover = np.mean([r.lower <= r.truth <= r.upper for r in scored])
    summary = (
        f"{len(scored)} runs forecast from {cutoff:.0%} of their points. Absolute error of the "
        f"final value, median {np.median(err_f):.4g} (last value seen: {np.median(err_l):.4g}), "
        f"mean {np.mean(err_f):.4g} (last value seen: {np.mean(err_l):.4g}); "
        f"{cover:.0%} of true finals inside the 80% interval."
    )
    plot = out / "forecasts.png"
    with staged(plot) as tmp:  # each output whole or not at all
        plot_fans(full, seen, fc, tmp)
    path = write_text(out / "forecasts.json",
                      json.dumps({"runs": [asdict(r) for r in rows]}, indent=2))
    title = f"Final validation log-perplexity (epoch {final:g}) of NAS-Bench-NLP runs on WikiText-2"
    report = write_report(curve_report(
        CurveSet(seen, source=SAMPLE), at=final, method=forecaster, truth=full,
        title=f"curvecast demo: {title}, forecast from {cutoff:.0%} of each run (grey: how "
              "each run really went)"), out / "report.html")
    return DemoResult(title, rows, summary, plot, path, report)


@dataclass(frozen=True)
class SweepRow:
    pruner: str
    trials: int
    completed: int
    pruned: int
    failed: int  # diverged runs: the objective returned NaN
    steps: int
    compute: float  # steps reported / steps of every run
    best: float | None


def run_sweep(out: str | Path) -> tuple[list[SweepRow], float, Path]:
    """Replay the bundled runs, in a fixed shuffled order, as an Optuna study on SQLite
    under ForecastPruner and under MedianPruner, and what an oracle that knew every final
    would spend on them (the floor: see ``evaluate.replay.oracle_study``): (rows, best
    final of all runs, database).

    >>> import tempfile
    >>> rows, best, db = run_sweep(tempfile.mkdtemp())
    >>> [r.pruner for r in rows], rows[0].compute < 1.0
    (['ForecastPruner', 'MedianPruner', 'oracle'], True)
    >>> all(r.completed + r.pruned + r.failed == r.trials for r in rows)
    True
    """
    import optuna

    from .evaluate.replay import new_bests, oracle_study, replay_study
    from .integrations.optuna import ForecastPruner
    from .io.optuna import state
    from .io.output import output_dir, staged

    db = output_dir(out) / "sweep.db"
    runs = list(sample_curves())
    runs = [runs[i] for i in np.random.default_rng(0).permutation(len(runs))]
    with resources.as_file(resources.files("curvecast") / "models" / HELD_OUT_MODEL) as model:
        pruners = {"ForecastPruner": ForecastPruner(forecaster=LearnedForecaster(model=model)),
                   "MedianPruner": optuna.pruners.MedianPruner()}
        rows = []
        with staged(db) as tmp:  # a fresh database, in place only once both studies ran
            for name, pruner in pruners.items():
                r = replay_study(runs, pruner, storage=f"sqlite:///{tmp}", study_name=name)
                states = [state(t) for t in r.study.trials]  # as the report reads them
                rows.append(SweepRow(name, len(states), states.count("COMPLETE"),
                                     states.count("PRUNED"), states.count("FAIL"), r.steps,
                                     r.compute, r.best))
    o = oracle_study(runs)
    records = sum(new_bests(runs))
    rows.append(SweepRow("oracle", len(runs), records, len(runs) - records, 0, o.steps,
                         o.compute, o.best))
    finals = np.array([c.values[-1] for c in runs])
    return rows, float(np.nanmin(finals)), db

