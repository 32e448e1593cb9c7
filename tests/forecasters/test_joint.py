"""The joint forecaster: per-curve alone, learning from the study once fitted."""

from __future__ import annotations

import dataclasses
from importlib import resources

import numpy as np
import pytest
from test_study import X, heads, sweep

from curvecast.api import make_forecaster
from curvecast.curve import Curve, CurveSet
from curvecast.evaluate import backtest
from curvecast.forecasters import JointForecaster, LastValue
from curvecast.io import read_curves

QS = [0.05, 0.1, 0.5, 0.9, 0.95]


def test_without_a_study_it_is_the_per_curve_forecast():
    test = heads(sweep(20, seed=1))
    base = LastValue().forecast(test, [40]).quantiles(QS)
    for context in ([], sweep(5)):  # fewer than MIN_CONTEXT finished runs: unchanged
        got = JointForecaster(context, base=LastValue()).forecast(test, [40]).quantiles(QS)
        np.testing.assert_allclose(got, base)
    assert make_forecaster("joint").name == "joint" and JointForecaster.uses_context


def test_learns_what_the_hyperparameters_say_and_covers_as_stated():
    context, test = sweep(60), sweep(300, seed=1)
    truth = np.array([c.values[-1] for c in test])
    f = JointForecaster(base=LastValue())
    assert f.fit(context) is f
    fc = f.forecast(heads(test), [20, 40])
    base = LastValue().forecast(heads(test), [20, 40])
    assert np.abs(fc.median[:, 1] - truth).mean() < 0.3 * np.abs(base.median[:, 1] - truth).mean()
    for level, lo_ok, hi_ok in ((0.8, 0.72, 0.9), (0.9, 0.84, 0.97)):
        lo, hi = fc.interval(level, axis=0)[:, :, 1]
        assert lo_ok <= np.mean((truth >= lo) & (truth <= hi)) <= hi_ok
    # the middle step is corrected too; a second call reuses the fitted model
    mid = np.array([c.values[19] for c in test])
    assert np.abs(fc.median[:, 0] - mid).mean() < np.abs(base.median[:, 0] - mid).mean()
    assert len(f._models) == 1
    f.forecast(heads(test[:5]), [20, 40])
    assert len(f._models) == 1
    # fit([]) forgets the study
    np.testing.assert_allclose(f.fit([]).forecast(heads(test), [40]).median,
                               base.median[:, 1:])


def test_a_study_with_nothing_to_teach_leaves_the_forecast_about_as_it_was():
    """Finals that are the last value plus noise no feature predicts: the chosen
    correction is (near) none, and intervals widen to the noise."""
    rng = np.random.default_rng(0)
    runs = []
    for i in range(120):
        y = 1 + rng.random() * np.ones(X.size)
        y[-1] += 0.1 * rng.standard_normal()
        runs.append(Curve(str(i), X, y, hp={"lr": float(rng.random())}))
    context, test = runs[:60], runs[60:]
    truth = np.array([c.values[-1] for c in test])
    fc = JointForecaster(context, base=LastValue()).forecast(heads(test), [40])
    err = np.abs(fc.median[:, 0] - truth).mean()
    assert err < 1.15 * np.abs(np.array([c.values[11] for c in test]) - truth).mean()
    lo, hi = fc.interval(0.8, axis=0)[:, :, 0]
    assert 0.65 <= np.mean((truth >= lo) & (truth <= hi)) <= 0.95


def test_wild_finished_runs_do_not_break_it_and_goals_max_work():
    wild = sweep(40, goal="max")
    wild[0] = Curve("boom", X, np.where(X > 20, -1e15, wild[0].values), "max")
    wild[1] = Curve("nan", X, np.where(X > 30, np.nan, wild[1].values), "max")
    fc = JointForecaster(wild, base=LastValue()).forecast(heads(sweep(30, 2, "max")), [40])
    assert np.isfinite(fc.median).all() and np.isfinite(fc.interval(0.9, axis=0)).all()
    assert np.abs(fc.interval(0.9, axis=0)).max() < 1e3


def _sample() -> list[Curve]:
    src = resources.files("curvecast") / "data" / "nasbench_nlp_sample.csv"
    with resources.as_file(src) as p:
        return list(read_curves(p))


def test_batch_and_row_order_do_not_change_a_run_s_forecast():
    runs = _sample()
    f = JointForecaster().fit(runs[:14])
    rng = np.random.default_rng(0)
    batch = [runs[14 + i % 10].head(int(rng.integers(5, 30))) for i in range(60)]
    at = [30.0, 50.0]
    whole = f.forecast(batch, at).quantiles(QS)
    order = rng.permutation(len(batch))
    np.testing.assert_allclose(f.forecast([batch[i] for i in order], at).quantiles(QS),
                               whole[order], rtol=1e-12, atol=0)
    for i in (0, 17, 59):
        np.testing.assert_allclose(JointForecaster().fit(runs[:14]).forecast([batch[i]], at)
                                   .quantiles(QS)[0], whole[i], rtol=1e-12, atol=0)
    assert np.isfinite(whole).all()


def test_backtest_with_context_beats_the_per_curve_forecast():
    curves = sweep(60)
    bt = backtest(CurveSet(curves), cutoffs=[0.3], methods=[JointForecaster(base=LastValue()),
                                                            LastValue()],
                  context=[0, 20], repeats=2)
    by = {(r.method, r.context): r for r in bt.results}
    assert by["joint", 0].medae == pytest.approx(by["last", 0].medae)
    assert by["joint", 20].medae < 0.5 * by["last", 20].medae


def test_a_run_at_a_fixed_point_keeps_its_last_value_as_median():
    runs = [Curve("stuck", X[:12], np.full(12, -21.0), "max"),
            Curve("moving", X[:12], -21 + 0.5 * np.log(X[:12]), "max")]
    base = make_forecaster("ensemble").forecast(runs, [40])
    fc = JointForecaster().forecast(runs, [40])
    assert fc.median[0, 0] == pytest.approx(-21.0, abs=1e-12)
    np.testing.assert_allclose(fc.quantiles(QS)[1], base.quantiles(QS)[1])
    # the spread stays: the 90% interval is as wide as the per-curve one
    lo, hi = fc.interval(0.9, axis=0)[:, 0, 0]
    blo, bhi = base.interval(0.9, axis=0)[:, 0, 0]
    assert hi - lo == pytest.approx(bhi - blo, rel=0.05)


def test_a_batch_of_runs_unlike_every_finished_one_keeps_the_per_curve_forecast():
    context = sweep(30)
    odd = [Curve(f"odd{i}", X[:12], 50 + i + 0 * X[:12] + 0.1 * np.log(X[:12])) for i in range(3)]
    base = LastValue().forecast(odd, [40]).quantiles(QS)
    got = JointForecaster(context, base=LastValue()).forecast(odd, [40]).quantiles(QS)
    np.testing.assert_allclose(got, base)
    # a run's spread is floored by the finished runs', not by the rest of its batch
    test = heads(sweep(20, seed=3))
    f = JointForecaster(context, base=LastValue())
    whole = f.forecast(test, [40]).quantiles(QS)
    for i in (0, 5):
        np.testing.assert_allclose(f.forecast([test[i]], [40]).quantiles(QS)[0], whole[i],
                                   rtol=1e-12)


class _Last3(LastValue):
    """The last value, but like the network it needs three points."""

    min_points = 3


def test_partial_runs_teach_the_runs_too_short_for_the_per_curve_forecaster():
    # no run of the study has finished: the context is seen to step 30 of 40
    context = [c.head(30) for c in sweep(60)]
    test = sweep(100, seed=1)
    truth = np.array([c.values[-1] for c in test])
    short = [c.head(2) for c in test]
    f = JointForecaster(base=_Last3(), short=LastValue(), short_alone=True).fit(context)
    fc = f.forecast(short, [40])
    last = LastValue().forecast(short, [40])
    assert fc.valid.all()
    err, err_last = (np.abs(g.median[:, 0] - truth).mean() for g in (fc, last))
    assert err < 0.5 * err_last
    lo, hi = fc.interval(0.8, axis=0)[:, :, 0]
    assert 0.6 <= np.mean((truth >= lo) & (truth <= hi)) <= 0.97
    # without ``short`` they get no forecast, as from the per-curve forecaster
    assert not JointForecaster(context, base=_Last3(), short=None).forecast(short, [40]).valid.any()
    # a run the per-curve forecaster answers is not taught by stand-ins
    long = heads(test)
    np.testing.assert_allclose(f.forecast(long, [40]).quantiles(QS),
                               _Last3().forecast(long, [40]).quantiles(QS))


def test_short_runs_answers_do_not_depend_on_the_batch_or_its_order():
    context = [c.head(30) for c in sweep(40)]
    test = sweep(30, seed=2)
    batch = [c.head(1 + i % 4) for i, c in enumerate(test)]
    f = JointForecaster(context, base=_Last3(), short=LastValue())
    whole = f.forecast(batch, [40]).quantiles(QS)
    order = np.random.default_rng(0).permutation(len(batch))
    np.testing.assert_allclose(f.forecast([batch[i] for i in order], [40]).quantiles(QS),
                               whole[order], rtol=1e-12, atol=0)
    for i in (0, 1, 7):
        alone = JointForecaster(context, base=_Last3(), short=LastValue())
        np.testing.assert_allclose(alone.forecast([batch[i]], [40]).quantiles(QS)[0], whole[i],
                                   rtol=1e-12, atol=0)


def test_a_short_run_is_forecast_only_where_the_study_teaches_it():
    test = [c.head(2) for c in sweep(20, seed=3)]
    few = [c.head(30) for c in sweep(5)]  # fewer than MIN_CONTEXT: no study model
    assert not JointForecaster(few, base=_Last3()).forecast(test, [40]).valid.any()
    alone = JointForecaster(few, base=_Last3(), short_alone=True).forecast(test, [40])
    np.testing.assert_allclose(alone.median, LastValue().forecast(test, [40]).median)
    taught = JointForecaster([c.head(30) for c in sweep(60)], base=_Last3()).forecast(test, [40])
    assert taught.valid.all()


def _budgets(n: int, seed: int, shift: float = 0.0) -> list[Curve]:
    """Runs of budgets 20-100 steps whose last fifth rises (a schedule's cool-down): at
    step 20 a run of 20 steps has finished, one of 100 has not begun to rise. ``shift``
    moves the ``epochs`` hyperparameter off the last step (it is then no budget)."""
    rng = np.random.default_rng(seed)
    runs = []
    for i in range(n):
        E = int(rng.integers(20, 101))
        x = np.arange(1, E + 1.0)
        y = rng.random() * (1 - np.exp(-x / 10)) + 0.3 * (x / E) ** 4
        runs.append(Curve(f"{seed}-{i}", x, y + 0.01 * rng.standard_normal(E), "max",
                          hp={"epochs": E + shift, "wd": float(rng.random())}))
    return runs


def test_runs_of_different_budgets_are_forecast_from_the_finished_runs_finals():
    err = {}
    for shift in (0.0, 0.5):
        context, test = _budgets(50, 0, shift), _budgets(60, 1, shift)
        f = JointForecaster(context, base=LastValue())
        assert (f.budget_ == "epochs") == (shift == 0)
        batch = [c.head(round(0.2 * len(c))) for c in test]
        grid = np.unique(np.concatenate([c.steps for c in test]))
        fc = f.forecast(batch, grid)
        end = np.searchsorted(grid, [c.steps[-1] for c in test])
        rows = np.arange(len(test))
        err[shift] = np.abs(fc.median[rows, end] - [c.values[-1] for c in test]).mean()
        whole = fc.quantiles(QS)
        for i in (0, 9):  # a run's answer does not depend on its batch
            one = JointForecaster(context, base=LastValue()).forecast([batch[i]], grid)
            np.testing.assert_allclose(one.quantiles(QS)[0], whole[i], rtol=1e-9, atol=1e-12)
    assert err[0.0] < 0.5 * err[0.5]


class _Jumpy(LastValue):
    """The last value plus an offset that nothing about the run predicts, different at
    every step asked: a per-curve forecaster worse than the last value."""

    name = "jumpy"

    def components(self, frame, t):
        c = super().components(frame, t)
        return dataclasses.replace(c, loc=c.loc + 3 * np.sin(1e4 * c.loc + t[:, :, None]))


def test_where_the_last_value_did_better_on_the_finished_runs_the_study_starts_from_it():
    rng = np.random.default_rng(0)
    runs = []
    for i in range(160):  # a level plus noise
        y = 1 + rng.random() * np.ones(X.size)
        y += 0.1 * rng.standard_normal(X.size)
        runs.append(Curve(str(i), X, y, hp={"lr": float(rng.random())}))
    context, test = runs[:60], runs[60:]
    truth = np.array([c.values[29] for c in test])
    # the features see the offset at step 40 (the farthest asked), not the one at 30
    err = {name: np.abs(g.forecast(heads(test), [30, 40]).median[:, 0] - truth).mean()
           for name, g in (("joint", JointForecaster(context, base=_Jumpy())),
                           ("jumpy", _Jumpy()), ("last", LastValue()))}
    assert err["jumpy"] > 3 * err["last"]
    assert err["joint"] < 1.1 * err["last"]
