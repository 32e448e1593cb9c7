"""curvecast.runs: the rows of ``curvecast forecast``, the ETA on each run's own grid."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest

from curvecast import runs
from curvecast.curve import Curve, CurveSet
from curvecast.forecast import Forecast
from curvecast.forecasters import StudyForecaster
from curvecast.io import read_curves
from curvecast.runs import eta_grid, forecast_runs, iter_forecast_runs, run_forecaster

RTOL = 1e-12
AT = 50.0


def _sample() -> list[Curve]:
    src = resources.files("curvecast") / "data" / "nasbench_nlp_sample.csv"
    with resources.as_file(src) as p:
        return list(read_curves(p))


def _cut(n: int, seed: int = 0) -> CurveSet:
    """n running runs of a sweep: the bundled real runs, moved to end near 1.0 and
    stretched, cut at random epochs; many cross 1.05 ahead, at different epochs."""
    rng = np.random.default_rng(seed)
    base = [c for c in _sample() if c.status == "ok"]
    out = []
    for i in range(n):
        c = base[i % len(base)]
        k = int(rng.integers(4, len(c) + 1))
        y = 1.0 + (c.values - c.values[-1]) * rng.uniform(0.3, 3.0) + rng.normal(0, 0.003)
        out.append(Curve(f"r{i}", c.steps[:k], y[:k]))
    return CurveSet(out)


@pytest.fixture(scope="module")
def sweep() -> CurveSet:
    return _cut(600)


@pytest.fixture(scope="module")
def plain(sweep):
    return forecast_runs(sweep, AT, method="bma")


@pytest.fixture(scope="module")
def target() -> float:
    return 1.05


@pytest.fixture(scope="module")
def rows(sweep, target):
    return forecast_runs(sweep, AT, target=target, prob=0.6, method="bma")


def _etas(rows) -> np.ndarray:
    return np.array([np.nan if r.eta is None else r.eta for r in rows])


def test_eta_is_the_same_alone_and_in_a_big_shuffled_file(sweep, rows, target):
    forecast = [r for r in rows if r.eta is not None and r.eta > sweep[r.run].last_step]
    assert len(forecast) > 30  # many runs cross the target ahead, at different steps
    assert len({r.eta for r in forecast}) > 10
    order = np.random.default_rng(3).permutation(len(sweep))
    shuffled = forecast_runs(CurveSet([sweep[i] for i in order]), AT, target=target, prob=0.6,
                             method="bma")
    by_run = {r.run: r for r in shuffled}
    for name in ("eta", "median", "lower", "upper"):
        a = np.array([getattr(r, name) for r in rows], dtype=float)
        b = np.array([getattr(by_run[r.run], name) for r in rows], dtype=float)
        np.testing.assert_allclose(b, a, rtol=RTOL, atol=0, err_msg=name)
    for r in forecast[:4] + [r for r in rows if r.eta is None][:2]:
        (alone,) = forecast_runs(CurveSet([sweep[r.run]]), AT, target=target, prob=0.6,
                                 method="bma")
        assert alone.eta == pytest.approx(r.eta, rel=RTOL, abs=0) if r.eta else alone.eta is None
        assert alone.median == pytest.approx(r.median, rel=RTOL, abs=0)


def test_refined_eta_agrees_with_a_dense_grid(sweep, rows, target):
    """Brute force: the forecast at every whole step after the run's last; the refined ETA
    found on 17 steps is the first of them that reaches the target."""
    f = run_forecaster(sweep, AT, "bma")
    ahead = [c for c, r in zip(sweep, rows, strict=True) if r.status == "ok"
             and c.last_step < AT and runs.observed_eta(c.steps, c.values, target, "min") is None]
    assert len(ahead) > 50
    n = int(AT) - 1
    dense = np.stack([np.concatenate([np.arange(c.last_step + 1, AT + 1),
                                      np.full(n, AT)])[:n] for c in ahead])
    p = f.forecast_each(ahead, dense).prob_better_than(target) >= 0.6
    brute = np.where(p.any(axis=1), dense[np.arange(len(ahead)), p.argmax(axis=1)], np.nan)
    got = _etas([r for r in rows if r.run in {c.run for c in ahead}])
    assert (np.isnan(got) == np.isnan(brute)).all()
    crossed = np.isfinite(brute)
    assert crossed.sum() > 30
    # within the coarse grid's resolution: the spacing of the run's grid around the ETA
    spacing = np.array([np.diff(eta_grid(c, AT)).max() for c in ahead])[crossed]
    assert (np.abs(got[crossed] - brute[crossed]) <= spacing).all()
    assert np.mean(got[crossed] == brute[crossed]) > 0.9  # and mostly the very step


def test_refined_eta_on_steps_that_are_not_whole():
    """0.5-epoch steps: the ETA is a step between grid steps, the one a dense grid finds."""
    x = np.arange(1, 21) * 0.5
    c = Curve("half", x, 0.2 + 2.0 * x ** -0.8)
    (row,) = forecast_runs(CurveSet([c]), 100.0, target=0.32, method="pow3")
    f = run_forecaster(CurveSet([c]), 100.0, "pow3")
    dense = np.linspace(c.last_step, 100.0, 20001)[1:]
    p = f.forecast([c], dense).prob_better_than(0.32)[0] >= 0.5
    brute = dense[p.argmax()]
    grid = eta_grid(c, 100.0)
    k = np.searchsorted(grid, brute)
    assert p.any() and not float(row.eta).is_integer() and 0 < k < grid.size
    # the grid's steps there are ~5 apart: refined to within 2% of that
    assert abs(row.eta - brute) <= 0.02 * (grid[k] - grid[k - 1])


def test_target_does_not_change_the_forecast_at_the_horizon(plain, rows):
    for name in ("median", "lower", "upper"):
        a = np.array([getattr(r, name) for r in plain], dtype=float)
        b = np.array([getattr(r, name) for r in rows], dtype=float)
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=0, err_msg=name)
    assert [r.status for r in plain] == [r.status for r in rows]


def test_eta_grid_starts_after_the_last_step_and_ends_at_the_horizon():
    whole = eta_grid(Curve("w", [1, 2, 7], [3, 2, 1]), 100.0)
    assert whole[0] == 8.0 and whole[-1] == 100.0 and (np.diff(whole) > 0).all()
    ratios = whole[1:] / whole[:-1]
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-12)  # even in log(step)
    part = eta_grid(Curve("p", [0.5, 1.0, 1.5], [3, 2, 1]), 4.0)
    assert 1.5 < part[0] < 1.5 + 1e-6 and part[-1] == 4.0
    done = eta_grid(Curve("d", [1, 2, 3], [3, 2, 1]), 3.5)  # less than a whole step left
    assert (done == 3.5).all()


def test_rows_in_chunks_equal_rows_at_once(monkeypatch, sweep, target):
    once = forecast_runs(sweep[:120], AT, target=target, method="last")
    monkeypatch.setattr(runs, "ETA_CHUNK", 7)
    monkeypatch.setattr(runs, "CHUNK", 11)
    chunked = forecast_runs(sweep[:120], AT, target=target, method="last")
    plain = list(iter_forecast_runs(sweep[:120], AT, method="last"))
    for a, b in zip(once, chunked, strict=True):
        assert (a.run, a.status, a.eta is None) == (b.run, b.status, b.eta is None)
        for name in ("median", "lower", "upper", "eta"):
            if getattr(a, name) is not None:
                assert getattr(b, name) == pytest.approx(getattr(a, name), rel=RTOL, abs=0)
    assert len(plain) == 120 and [r.run for r in plain] == [c.run for c in sweep[:120]]


def test_bad_arguments_raise_before_any_row():
    from curvecast.errors import InputError, UsageError

    cs = CurveSet([Curve("a", [1, 2, 3], [0.5, 0.4, 0.3])])
    with pytest.raises(UsageError, match="--prob"):
        iter_forecast_runs(cs, target=0.1, prob=1.0)
    with pytest.raises(UsageError, match="--level"):
        iter_forecast_runs(cs, level=0.0)
    with pytest.raises(InputError, match="bound"):
        iter_forecast_runs(cs, bound=0.35)
    with pytest.raises(UsageError, match="no runs"):
        iter_forecast_runs(CurveSet([]))


def test_forecast_each_through_a_forecaster_that_reworks_forecast(sweep):
    """The study forecaster is asked once per distinct row of steps; the answer for a run
    is the one forecast() gives at that run's steps."""
    done = [Curve(f"done{i}", np.arange(1, 51), 4.5 + 2.0 * np.arange(1, 51) ** -0.5 + 0.01 * i)
            for i in range(12)]
    study = StudyForecaster(done)
    some = list(sweep[:6])
    grids = np.stack([eta_grid(c, AT) for c in some])
    each = study.forecast_each(some, grids)
    for i in (0, 3):
        one = study.forecast([some[i]], grids[i])
        np.testing.assert_allclose(each.quantiles([0.1, 0.5, 0.9])[i], one.quantiles(
            [0.1, 0.5, 0.9])[0], rtol=1e-12)


def test_forecast_eta_refine_finds_the_crossing_between_steps():
    # the median falls linearly from 1 to 0 between steps 0 and 10: 0.3 is crossed at 7
    f = Forecast(x=[0.0, 10.0, 20.0], loc=[[[1.0], [0.0], [0.0]]],
                 scale=[[[1e-3], [1e-3], [1e-3]]], df=[[1e6]], weights=[[1.0]])
    assert f.eta(0.3)[0] == 10.0
    assert f.eta(0.3, refine=True)[0] == pytest.approx(7.0, abs=1e-6)
    assert f.eta(0.3, after=8.0, refine=True)[0] == pytest.approx(8.0, abs=1e-6)  # reached
    assert np.isnan(f.eta(-1.0, refine=True)[0])
