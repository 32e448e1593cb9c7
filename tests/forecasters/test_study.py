"""The study-aware forecaster: learns from finished runs, falls back without them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from curvecast.cli import main
from curvecast.curve import Curve, CurveSet
from curvecast.evaluate import backtest
from curvecast.forecasters import LastValue, StudyForecaster
from curvecast.forecasters.gp import GP, _nll
from curvecast.io import write_long

X = np.arange(1, 41.0)


def sweep(n: int, seed: int = 0, goal: str = "min") -> list[Curve]:
    """Runs whose late improvement is set by their learning rate, which the first part
    of a curve does not show: only finished runs can teach it."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        log_lr = rng.uniform(-4, -1)
        early = 1.0 + 0.3 * rng.random() + 0.5 * X**-0.7
        late = 0.4 * (log_lr + 4) / 3 / (1 + np.exp(-(X - 25) / 3))
        y = early - late + 0.005 * rng.standard_normal(X.size)
        out.append(Curve(f"{seed}-{i}", X, y if goal == "min" else -y, goal,
                         {"lr": 10**log_lr, "batch": 32}))
    return out


def heads(curves, k=12):
    return [c.head(k) for c in curves]


def test_without_finished_runs_it_is_the_per_curve_forecast():
    test = sweep(20, seed=1)
    base = LastValue().forecast(heads(test), [40]).median
    for context in ([], sweep(4)):  # fewer than MIN_CONTEXT finished runs: unchanged
        fc = StudyForecaster(context, base=LastValue()).forecast(heads(test), [40])
        np.testing.assert_allclose(fc.median, base)


def test_learns_what_the_hyperparameters_say_and_stays_calibrated():
    context, test = sweep(60), sweep(300, seed=1)
    truth = np.array([c.values[-1] for c in test])
    study = StudyForecaster(context, base=LastValue())
    fc = study.forecast(heads(test), [20, 40])
    base = LastValue().forecast(heads(test), [20, 40])
    err = np.abs(fc.median[:, 1] - truth)
    assert err.mean() < 0.3 * np.abs(base.median[:, 1] - truth).mean()
    lo, hi = fc.interval(0.8, axis=0)[:, :, 1]
    assert 0.7 <= np.mean((truth >= lo) & (truth <= hi)) <= 0.93
    # steps already seen stay with the per-curve forecaster; the middle one is corrected too
    mid = np.array([c.values[19] for c in test])
    assert np.abs(fc.median[:, 0] - mid).mean() < np.abs(base.median[:, 0] - mid).mean()
    # answers are cached per step seen: a second call reuses the fit
    assert len(study._models) == 1
    study.forecast(heads(test[:5]), [20, 40])
    assert len(study._models) == 1


def test_accuracy_runs_and_wild_runs():
    context, test = sweep(40, goal="max"), sweep(50, seed=1, goal="max")
    fc = StudyForecaster(context, base=LastValue()).forecast(heads(test), [40])
    truth = np.array([c.values[-1] for c in test])
    assert np.abs(fc.median[:, 0] - truth).mean() < 0.5 * np.abs(
        LastValue().forecast(heads(test), [40]).median[:, 0] - truth).mean()
    # finished runs that exploded, or diverged, do not break the fit or the answers
    wild = sweep(40)
    wild[0] = Curve("boom", X, np.where(X > 20, 1e15, wild[0].values))
    wild[1] = Curve("nan", X, np.where(X > 30, np.nan, wild[1].values))
    fc = StudyForecaster(wild, base=LastValue()).forecast(heads(sweep(30, seed=2)), [40])
    assert np.isfinite(fc.median).all() and np.isfinite(fc.interval(0.9, axis=0)).all()
    assert fc.interval(0.9, axis=0)[1].max() < 1e3


def test_gp_gradient_and_leave_one_out():
    from scipy import optimize

    rng = np.random.default_rng(0)
    Xs = rng.normal(size=(25, 3))
    y = np.sin(Xs[:, 0]) + 0.5 * Xs[:, 1] + 0.05 * rng.standard_normal(25)
    theta = 0.3 * rng.standard_normal(7)
    f = lambda t: _nll(t, Xs, y, np.zeros(7))
    assert optimize.check_grad(lambda t: f(t)[0], lambda t: f(t)[1], theta) < 1e-4
    gp = GP.fit(Xs, y[:, None])
    mean, sd = gp.loo(y[:, None])
    # closed-form leave-one-out equals refitting without the point (same hyperparameters)
    theta = np.log(np.concatenate([gp.ell, [gp.lin, gp.signal, gp.offset, gp.noise]]))
    for i in (0, 7):
        keep = np.arange(25) != i
        m, s = GP.condition(Xs[keep], y[keep, None], theta).predict(Xs[i:i + 1])
        assert m[0, 0] == pytest.approx(mean[i, 0]) and s[0] == pytest.approx(sd[i])


def test_backtest_with_context(tmp_path, capsys):
    curves = sweep(40)
    bt = backtest(CurveSet(curves), cutoffs=[0.3], methods=[StudyForecaster(base=LastValue()),
                                                            LastValue()],
                  context=[0, 20], repeats=2)
    by = {(r.method, r.context): r for r in bt.results}
    assert by["study", 0].mae == by["last", 0].mae and by["study", 0].repeats == 1
    assert by["study", 20].mae < 0.5 * by["last", 20].mae
    assert by["study", 20].n_runs == 20 and by["study", 20].repeats == 2
    path = tmp_path / "runs.csv"
    write_long(CurveSet(curves), path)
    with pytest.raises(SystemExit) as exc:
        main(["backtest", str(path), "--cutoffs", "0.3", "--methods", "study,last",
              "--context", "0,10", "--repeats", "2", "--json"])
    assert exc.value.code == 0
    rows = json.loads(capsys.readouterr().out)["results"]
    assert [(r["method"], r["context"]) for r in rows] == [
        ("study", 0), ("last", 0), ("study", 10), ("last", 10)]
    with pytest.raises(SystemExit) as exc:
        main(["backtest", str(path), "--context", "40"])
    assert exc.value.code == 2 and "context must be between 0 and 39" in capsys.readouterr().err


def test_cli_forecast_learns_from_the_runs_in_the_file_that_finished(tmp_path, capsys):
    finished, running = sweep(30), sweep(20, seed=1)
    path = tmp_path / "runs.csv"
    write_long(CurveSet(finished + heads(running)), path)
    truth = {c.run: c.values[-1] for c in running}
    err = {}
    for method in ("study", "ensemble"):
        with pytest.raises(SystemExit) as exc:
            main(["forecast", str(path), "--method", method, "--json"])
        assert exc.value.code == 0
        rows = json.loads(capsys.readouterr().out)["runs"]
        assert all(r["status"] == "ok" and r["at"] == 40 for r in rows)
        err[method] = np.mean([abs(r["median"] - truth[r["run"]]) for r in rows
                               if r["run"] in truth])
    assert err["study"] < 0.5 * err["ensemble"]


def test_fit_is_the_one_way_to_learn_from_a_study():
    context, test = sweep(40), heads(sweep(30, seed=1))
    study = StudyForecaster(base=LastValue())
    assert study.uses_context and not LastValue().uses_context
    assert study.fit(context) is study and len(study.context_) == 40
    fitted = study.forecast(test, [40]).median
    np.testing.assert_allclose(StudyForecaster(context, base=LastValue())
                               .forecast(test, [40]).median, fitted)
    # fitting again replaces the study (and its cached models); fit([]) forgets it
    base = LastValue().forecast(test, [40]).median
    np.testing.assert_allclose(study.fit([]).forecast(test, [40]).median, base)
    assert not np.allclose(study.fit(context).forecast(test, [40]).median, base)
    last = LastValue()
    assert last.fit(context) is last and last.context_ == context
    with pytest.warns(DeprecationWarning, match="use fit"):
        old = study.with_context(context)
    np.testing.assert_allclose(old.forecast(test, [40]).median, fitted)
