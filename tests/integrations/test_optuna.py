"""ForecastPruner in real Optuna studies, the stop rules, and the replay benchmark."""

from __future__ import annotations

import json
import math

import numpy as np
import optuna
import pytest

from curvecast import Curve, forecast
from curvecast.cli import main
from curvecast.decisions import confirm, decide
from curvecast.demo import sample_curves
from curvecast.evaluate.replay import replay
from curvecast.integrations.optuna import ATTR, ForecastPruner
from curvecast.io.optuna import read_decision

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _objective(curves, stop_log=None):
    """Trial i reports curve i point by point, as a training loop would."""

    def objective(trial):
        c = curves[trial.number % len(curves)]
        for step, v in zip(c.steps, c.values, strict=True):
            trial.report(float(v), int(step))
            if trial.should_prune():
                raise optuna.TrialPruned()
        return float(c.values[-1])

    return objective


def _power(a, b=0.5, n=30, floor=0.3):
    x = np.arange(1, n + 1)
    return Curve(f"p{a}", x, floor + a * x**-b)


def test_docstring_example_runs_and_prunes():
    """The class docstring's example (Sphinx testcode, not collected as a doctest)."""
    ns = {}
    doc = ForecastPruner.__doc__
    code = doc.split(".. testcode::")[1].split("Args:")[0]
    exec(compile("\n".join(line[12:] for line in code.splitlines()), "example", "exec"), ns)  # noqa: S102
    states = [t.state for t in ns["study"].trials]
    assert optuna.trial.TrialState.PRUNED in states
    assert states[0] == optuna.trial.TrialState.COMPLETE


def test_prunes_a_hopeless_trial_and_keeps_the_best():
    good = [_power(a, floor=0.3) for a in (1.0, 1.2, 0.9)]
    bad = [_power(a, floor=2.0) for a in (1.0, 1.1, 0.8, 1.3)]
    best = _power(0.7, floor=0.1)
    curves = good + bad + [best]
    study = optuna.create_study(pruner=ForecastPruner())
    study.optimize(_objective(curves), n_trials=len(curves))
    states = [t.state.name for t in study.trials]
    assert states[3:7] == ["PRUNED"] * 4, states  # far worse than the finished ones
    assert states[7] == "COMPLETE"  # the best run is never pruned
    assert study.best_value == pytest.approx(float(best.values[-1]))
    for t in study.trials[3:7]:
        rec = t.user_attrs[ATTR]
        assert rec["stop"] and rec["reason"] == "cannot_win"
        assert rec["prob_better"] < 0.05
        assert rec["step"] == t.last_step
        assert rec["final_step"] == 30  # learned from the completed trials
        assert rec["lower"] <= rec["median"] <= rec["upper"]


def test_diverged_trial_is_pruned_at_once():
    c = _power(1.0)
    values = c.values.copy()
    values[4] = np.nan
    curves = [c, Curve("nan", c.steps, values)]
    study = optuna.create_study(pruner=ForecastPruner())
    study.optimize(_objective(curves), n_trials=2)
    t = study.trials[1]
    assert t.state == optuna.trial.TrialState.PRUNED
    assert t.last_step == 5  # the step of the NaN: not one report later
    assert t.user_attrs[ATTR]["reason"] == "diverged"


def test_before_any_completion_running_trials_set_the_bar():
    """Running trials' recorded forecasts stand in for the best final (distributed start)."""
    study = optuna.create_study(pruner=ForecastPruner(max_step=30))
    good, bad = _power(1.0, floor=0.2), _power(1.0, floor=3.0)
    t_good, t_bad = study.ask(), study.ask()
    for t, c in ((t_good, good), (t_bad, bad)):
        for step, v in zip(c.steps[:8], c.values[:8], strict=True):
            t.report(float(v), int(step))
    assert not t_good.should_prune()  # nothing to compare with yet
    assert t_bad.should_prune()
    rec = study.trials[1].user_attrs[ATTR]
    assert rec["reason"] == "cannot_win" and rec["final_step"] == 30


def test_without_max_step_nothing_is_pruned_before_a_completion():
    """The final step is unknown until a trial completes: no forecast to compare."""
    study = optuna.create_study(pruner=ForecastPruner())
    good, bad = _power(1.0, floor=0.2), _power(1.0, floor=3.0)
    t_good, t_bad = study.ask(), study.ask()
    for t, c in ((t_good, good), (t_bad, bad)):
        for step, v in zip(c.steps[:8], c.values[:8], strict=True):
            t.report(float(v), int(step))
    assert not t_good.should_prune() and not t_bad.should_prune()


def test_one_pruner_two_studies_keeps_them_apart():
    pruner = ForecastPruner()
    curves = [_power(a, floor=f) for a, f in ((1.0, 0.3), (1.2, 0.35), (0.9, 0.4))]
    first = optuna.create_study(pruner=pruner)
    first.optimize(_objective(curves), n_trials=3)
    second = optuna.create_study(pruner=pruner)
    second.optimize(_objective([_power(1.0, floor=5.0)]), n_trials=1)
    # the second study's first trial has nothing to beat: the first study's finals and
    # finished curves are not its
    assert second.trials[0].state == optuna.trial.TrialState.COMPLETE
    assert read_decision(second.trials[0]).incumbent is None
    assert read_decision(first.trials[-1]).incumbent is not None


def test_min_gain_stops_converged_trials():
    flat = Curve("flat", np.arange(1, 31), 0.5 + 1e-4 * np.sin(np.arange(30)))
    study = optuna.create_study(pruner=ForecastPruner(min_gain=0.01, max_step=100))
    study.optimize(_objective([flat]), n_trials=1)
    t = study.trials[0]
    assert t.state == optuna.trial.TrialState.PRUNED
    assert t.user_attrs[ATTR]["reason"] == "converged"


def test_maximize_and_unequal_lengths():
    """Accuracy curves of different lengths: a shorter finished trial does not shorten the
    horizon, a trial on the best one's path is not pruned, a far worse one is."""
    acc = [Curve(f"a{i}", np.arange(1, n + 1), 0.9 - 0.5 * np.arange(1, n + 1) ** -0.7 - d,
                 goal="max") for i, (n, d) in enumerate([(40, 0.0), (20, 0.0), (30, 0.3)])]
    study = optuna.create_study(direction="maximize", pruner=ForecastPruner())
    study.optimize(_objective(acc), n_trials=3)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE", "PRUNED"]
    assert study.trials[2].user_attrs[ATTR]["final_step"] == 40


def test_jitter_does_not_prune_the_winner():
    rng = np.random.default_rng(0)
    x = np.arange(1, 41)
    base = [Curve(f"b{i}", x, 0.5 + 0.5 * x**-0.5 + rng.normal(0, 0.02, 40)) for i in range(6)]
    winner = Curve("w", x, 0.3 + 0.5 * x**-0.5 + rng.normal(0, 0.02, 40))
    study = optuna.create_study(pruner=ForecastPruner())
    study.optimize(_objective(base + [winner]), n_trials=7)
    assert study.trials[-1].state == optuna.trial.TrialState.COMPLETE


def test_forecasts_are_refreshed_as_points_grow():
    calls = []

    class Counting(ForecastPruner):
        def _forecast(self, study, trial, curve):
            calls.append(len(curve))
            return super()._forecast(study, trial, curve)

    study = optuna.create_study(pruner=Counting(growth=1.5))
    study.optimize(_objective([_power(1.0)]), n_trials=1)
    assert calls == [3, 5, 8, 12, 18, 27]  # steps 1..30: points 3, 5, 8, ... (x1.5)


def test_the_study_model_learns_from_at_most_max_context_trials_and_is_then_kept():
    """One model of the study: refit only when the trials it learns from step up (1, 2,
    3, 4, 5, 7, 9, ...), never once ``max_context`` of them have completed."""
    fits = []

    class Counting(ForecastPruner):
        def _study_model(self):
            before = self._context
            model = super()._study_model()
            if self._context != before:
                fits.append(len(self._context))
            return model

    study = optuna.create_study(pruner=Counting(max_context=7, forecaster=_pow3()))
    runs = [_power(0.5, floor=0.3 - 0.01 * i, n=10) for i in range(14)]  # each a new best
    study.optimize(_objective(runs), n_trials=len(runs))
    assert fits and max(fits) <= 7 and fits == sorted(set(fits))
    assert fits[-1] == 7, fits  # reached, and kept for the last trials


def test_no_judgement_to_continue_is_written_once_a_trial_has_completed():
    """A storage write per forecast cost more than the rest of a call: once a trial has
    completed, only stops and warnings are written (before, every forecast is: the
    running trials' records set the bar)."""
    writes = []

    class Watching(ForecastPruner):
        def _record(self, study, trial, decision):
            writes.append((trial.number, decision.reason))
            return super()._record(study, trial, decision)

    study = optuna.create_study(pruner=Watching(forecaster=_pow3(), max_step=29))
    runs = [_power(0.5 + 0.1 * (i % 3), floor=0.3 + 0.05 * (i % 4)) for i in range(8)]
    study.optimize(_objective(runs), n_trials=len(runs))
    first = min(t.number for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE)
    assert any(r == "continue" for n, r in writes if n <= first)  # the first trial's
    assert not [(n, r) for n, r in writes if n > first and r == "continue"], writes


def test_a_refit_forecasts_only_the_heads_not_seen_before():
    """A finished trial's head at a step never changes: each study model refit forecasts
    only the completed trials' heads it has not forecast before, and what it remembers
    gives the numbers a fresh forecaster gives."""
    from curvecast.forecasters import JointForecaster
    from curvecast.integrations._heads import HeadCache

    # short=None as the pruner's study model (its first reports are judged by dominance)
    runs = [_power(0.5 + 0.05 * i, floor=0.3 + 0.01 * (i % 5)) for i in range(24)]
    cache = HeadCache(_pow3())
    model = JointForecaster(base=cache, short=None).fit(runs[:12])
    new = [r.head(6) for r in runs[20:]]
    model.forecast(new, [30])
    first = cache.misses
    assert first >= 12  # the 12 finished heads and the 4 asked
    refit = JointForecaster(base=cache, short=None).fit(runs[:16])
    got = refit.forecast(new, [30])
    assert cache.misses - first == 4, (first, cache.misses)  # only the 4 heads it lacked
    fresh = JointForecaster(base=_pow3(), short=None).fit(runs[:16]).forecast(new, [30])
    np.testing.assert_allclose(got.median, fresh.median, rtol=1e-9)
    np.testing.assert_allclose(got.quantiles([0.1, 0.9]), fresh.quantiles([0.1, 0.9]),
                               rtol=1e-9)


@pytest.mark.parametrize("kind", ["joint", "study"])
def test_the_study_model_is_selectable(kind):
    """joint by default; the study model of issue 5 stays selectable. The per-curve
    forecaster can be given by name."""
    pruner = ForecastPruner(study_model=kind, forecaster="pow3")
    assert pruner._model.name == kind
    runs = [_power(1.0, floor=0.3)] * 3 + [_power(1.0, floor=2.0)]
    study = optuna.create_study(pruner=pruner)
    study.optimize(_objective(runs), n_trials=len(runs))
    assert study.best_value == pytest.approx(runs[0].values[-1])


@pytest.mark.parametrize("kwargs", [{"risk": 0.0}, {"risk": 1.0}, {"min_gain": -1.0},
                                    {"max_step": 0}, {"n_warmup_steps": -1},
                                    {"growth": 0.5}, {"max_context": 0},
                                    {"study_model": "gp"}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        ForecastPruner(**kwargs)


def test_multi_objective_is_refused():
    study = optuna.create_study(directions=["minimize", "minimize"])
    trial = optuna.trial.create_trial(state=optuna.trial.TrialState.RUNNING,
                                      intermediate_values={0: 1.0, 1: 0.5, 2: 0.4})
    with pytest.raises(NotImplementedError):
        ForecastPruner().prune(study, trial)


def test_decide_rules():
    f = forecast([1, 2, 3, 4, 5, 6], [1.0, 0.8, 0.7, 0.65, 0.62, 0.6], at=50)
    vals = [1.0, 0.8, 0.7, 0.65, 0.62, 0.6]
    assert decide(f, vals, None).reason == "continue"
    assert decide(f, vals, 0.0).stop
    assert not decide(f, vals, 10.0).stop
    assert decide(f, [*vals[:-1], math.inf], 10.0).reason == "diverged"
    d = decide(f, vals, 10.0, min_gain=10.0)
    assert d.reason == "converged" and d.stop
    assert set(d.to_dict()) >= {"prob_better", "median", "lower", "upper", "expected_gain"}


def test_confirm_turns_a_first_doubt_into_a_warning():
    f = forecast([1, 2, 3, 4, 5, 6], [1.0, 0.8, 0.7, 0.65, 0.62, 0.6], at=50)
    vals = [1.0, 0.8, 0.7, 0.65, 0.62, 0.6]
    d = decide(f, vals, float(f.quantiles([0.03])[0, 0]))  # P(beat) = 0.03: hopeless, not firm
    assert d.stop and 0.0125 < d.prob_better < 0.05
    first = confirm(d, warned=False, risk=0.05)
    assert not first.stop and first.reason == "warning"
    assert confirm(d, warned=True, risk=0.05).stop
    firm = decide(f, vals, float(f.quantiles([0.001])[0, 0]))
    assert confirm(firm, warned=False, risk=0.05).stop
    nan = decide(f, [*vals[:-1], math.nan], None)
    assert confirm(nan, warned=False, risk=0.05).stop  # divergence is never second-guessed


@pytest.mark.slow
def test_replay_accounts_compute_and_regret():
    runs = list(sample_curves())
    res = {r.pruner: r for r in replay(runs, ["nop", "forecast", "median"], trials=12,
                                       repeats=2)}
    assert (res["nop"].compute == 1.0).all() and (res["nop"].regret == 0.0).all()
    for r in res.values():
        assert r.compute.shape == (2,) and r.regret.shape == (2,)
        assert (0 < r.compute).all() and (r.compute <= 1).all()
        assert (r.regret >= 0).all()
    assert res["forecast"].compute.mean() < 1.0
    d = res["forecast"].to_dict()
    assert set(d) >= {"pruner", "compute_fraction", "regret", "latency_ms"}


def test_replay_cli_json_and_bad_pruner(tmp_path, capsys):
    path = "src/curvecast/data/nasbench_nlp_sample.csv"
    with pytest.raises(SystemExit) as e:
        main(["replay", path, "--trials", "6", "--repeats", "1", "--pruners", "nop,sha",
              "--json"])
    assert e.value.code == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["pruner"] for r in out["results"]] == ["nop", "sha"]
    assert out["results"][0]["compute_fraction"] == {"mean": 1.0, "worst": 1.0}
    with pytest.raises(SystemExit) as e:
        main(["replay", path, "--pruners", "nop,bogus"])
    assert e.value.code == 2
    assert "bogus" in capsys.readouterr().err


@pytest.mark.parametrize("text, message", [
    ("run,step,value\na,0,1.0\na,1,0.5\n", "at least 2 runs"),
    ("run,step,value\na,0,1.0\na,1,0.5\nb,0,1.0\nb,1,oops\n", "row 4"),
])
def test_replay_cli_bad_input_exits_2(tmp_path, capsys, text, message):
    path = tmp_path / "runs.csv"
    path.write_text(text)
    with pytest.raises(SystemExit) as e:
        main(["replay", str(path)])
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_replay_float_steps_become_indices():
    """Token counts are not integers Optuna accepts as steps beyond 2**62; fractional
    steps are replayed as 0, 1, 2, ..."""
    from curvecast.evaluate.replay import int_steps

    assert int_steps(Curve("t", [0.5, 1.5, 2.5], [3.0, 2.0, 1.0])) == [0, 1, 2]
    assert int_steps(Curve("t", [0, 200, 400], [3.0, 2.0, 1.0])) == [0, 200, 400]


def test_threads_share_one_pruner():
    """optimize(n_jobs=2): two threads judge trials with one pruner and its caches."""
    curves = list(sample_curves())
    study = optuna.create_study(pruner=ForecastPruner(max_step=50))
    study.optimize(_objective(curves), n_trials=16, n_jobs=2)
    states = [t.state for t in study.trials]
    assert len(states) == 16 and optuna.trial.TrialState.RUNNING not in states
    for t in study.trials:
        if t.state == optuna.trial.TrialState.PRUNED:
            assert t.user_attrs[ATTR]["stop"] and t.user_attrs[ATTR]["step"] == t.last_step


# The storage is the truth: decisions made from what it holds, whoever asks.

def _pow3():
    """A fast per-curve forecaster: these tests are about who decides, not how well."""
    from curvecast.api import make_forecaster

    return make_forecaster("pow3")


RUNS = [list(sample_curves())[i] for i in np.random.default_rng(0).permutation(24)]


def _worker(url: str, name: str) -> optuna.Study:
    """What a new process does: its own storage object and a new pruner."""
    return optuna.load_study(study_name=name, storage=url,
                             pruner=ForecastPruner(forecaster=_pow3()))


def _play(url: str, name: str, *, workers: int = 1, pairs: bool = False, hand_over: int = 0,
          fresh: bool = False, repeat: bool = False) -> optuna.Study:
    """Trials replay RUNS by ask and tell on a SQLite study: one at a time, or (``pairs``)
    two at once, their reports alternating. There are ``workers`` processes (each its own
    study object and pruner); every ``hand_over`` reports a trial moves to the next one,
    reattached from the storage (``fresh``: to a new process each time). ``repeat``:
    every report is made twice (Optuna keeps the first value) and judged after each."""
    optuna.create_study(storage=url, study_name=name)
    studies = [_worker(url, name) for _ in range(workers)]
    reports = 0
    for start in range(0, len(RUNS), 2 if pairs else 1):
        live = [[studies[0], studies[0].ask(), run, 0]
                for run in RUNS[start:start + (2 if pairs else 1)]]
        while live:
            for item in list(live):
                study, trial, run, k = item
                if k == len(run):
                    study.tell(trial, float(run.values[-1]))
                    live.remove(item)
                    continue
                step, value = int(run.steps[k]), float(run.values[k])
                trial.report(value, step)
                if repeat:
                    with pytest.warns(UserWarning, match="already reported"):
                        trial.report(value + 1.0, step)
                reports += 1
                if hand_over and reports % hand_over == 0:
                    study = (_worker(url, name) if fresh
                             else studies[(reports // hand_over) % workers])
                    trial = optuna.trial.Trial(study, trial._trial_id)
                stop = trial.should_prune()
                if repeat:
                    assert trial.should_prune() == stop
                item[:] = study, trial, run, k + 1
                if stop:
                    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                    live.remove(item)
    return optuna.load_study(study_name=name, storage=url)


def _decided(study: optuna.Study) -> list[tuple]:
    """Every trial's state, last step and latest judgement (reason, step, forecast)."""
    out = []
    for t in study.get_trials():
        d = read_decision(t)
        out.append((t.state.name, t.last_step, *(
            (None,) * 6 if d is None else
            (d.reason, d.step, d.final_step, d.prob_better, d.median, d.incumbent))))
    return out


def _assert_same(a: list[tuple], b: list[tuple]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x[:5] == y[:5], (x, y)
        for u, v in zip(x[5:], y[5:], strict=True):
            assert (u is None and v is None) or u == pytest.approx(v, rel=1e-9, abs=1e-12), (
                x, y)


@pytest.fixture(scope="module")
def sqlite_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("storage")


@pytest.fixture(scope="module")
def throughout(sqlite_dir):
    """One pruner that ran the whole study, one trial at a time."""
    return _decided(_play(f"sqlite:///{sqlite_dir / 'one.db'}", "one"))


def test_the_reference_study_prunes_for_every_reason(throughout):
    reasons = {r[2] for r in throughout if r[0] == "PRUNED"}
    assert {"cannot_win", "dominated"} <= reasons, throughout
    assert any(r[0] == "COMPLETE" for r in throughout)


def test_a_pruner_rebuilt_mid_study_decides_as_one_that_ran_throughout(sqlite_dir, throughout):
    """Every 3 reports a new process takes the trial over from the storage alone."""
    rebuilt = _play(f"sqlite:///{sqlite_dir / 'rebuilt.db'}", "rebuilt", hand_over=3,
                    fresh=True)
    _assert_same(_decided(rebuilt), throughout)


def test_a_repeated_report_is_ignored_as_optuna_does(sqlite_dir, throughout):
    """Reported twice and asked twice at every step: the same study, value for value."""
    twice = _play(f"sqlite:///{sqlite_dir / 'twice.db'}", "twice", repeat=True)
    _assert_same(_decided(twice), throughout)
    for t, run in zip(twice.get_trials(), RUNS, strict=True):
        assert list(t.intermediate_values.values()) == run.values[:len(t.intermediate_values)
                                                                  ].tolist()


def test_two_pruners_on_one_storage_decide_as_one(sqlite_dir):
    """Two trials at a time, reports interleaved, each report judged by the other of two
    processes (each its own storage object and pruner, its caches kept): as on one."""
    one = _play(f"sqlite:///{sqlite_dir / 'pairs1.db'}", "p", pairs=True)
    two = _play(f"sqlite:///{sqlite_dir / 'pairs2.db'}", "p", pairs=True, workers=2,
                hand_over=1)
    assert any(r[0] == "PRUNED" for r in _decided(one))
    _assert_same(_decided(two), _decided(one))


# Estimates for the sampler: a pruned trial's objective returns its forecast final.

def test_forecast_final_docstring_example_runs():
    from curvecast.integrations.optuna import forecast_final

    ns = {}
    code = forecast_final.__doc__.split(".. testcode::")[1].split("Args:")[0]
    exec(compile("\n".join(line[12:] for line in code.splitlines()), "example", "exec"), ns)  # noqa: S102
    trials = ns["study"].trials
    estimated = [t for t in trials if read_decision(t) is not None and read_decision(t).stop
                 and t.state == optuna.trial.TrialState.COMPLETE]
    assert estimated, [t.state for t in trials]
    for t in estimated:  # the value given to the sampler is the forecast the stop rested on
        assert t.value == read_decision(t).median


def test_returning_the_forecast_changes_no_decision_of_forecast_pruner():
    """Trials that return their forecast are stopped trials to ForecastPruner: the same
    trials stop at the same steps, the best found is the same, and each returned value
    is the recorded median."""
    from curvecast.evaluate.replay import replay_study

    runs = RUNS[:16]
    plain = replay_study(runs, ForecastPruner(forecaster=_pow3()))
    pruner = ForecastPruner(forecaster=_pow3())
    told = replay_study(runs, pruner, estimator=pruner)
    assert told.estimated > 0 and (told.compute, told.best) == (plain.compute, plain.best)
    for a, b in zip(plain.study.trials, told.study.trials, strict=True):
        assert a.last_step == b.last_step
        if a.state == optuna.trial.TrialState.PRUNED:
            d = read_decision(b)
            assert d.stop and d.step == b.last_step
            if b.state == optuna.trial.TrialState.COMPLETE:  # returned its forecast
                assert b.value == d.median
            else:  # nothing to forecast from (its first two reports): pruned
                assert d.median is None and b.state == optuna.trial.TrialState.PRUNED


def test_another_pruners_stopped_trials_are_recorded_as_pruned_with_their_forecast():
    from curvecast.evaluate.replay import replay_study
    from curvecast.io.optuna import stopped

    runs = RUNS[:12]
    r = replay_study(runs, optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=4),
                     estimator=ForecastPruner(forecaster=_pow3()))
    done = [t for t in r.study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    returned = [t for t in done if stopped(t)]
    assert len(returned) == r.estimated > 0
    for t in returned:
        d = read_decision(t)
        assert d.reason == "pruned" and d.step == t.last_step and t.value == d.median
        assert d.lower <= d.median <= d.upper and d.final_step == 50
    whole = [t.value for t in done if not stopped(t)]
    assert r.best == min(whole)


def test_replay_cli_pruned_value_forecast(capsys):
    path = "src/curvecast/data/nasbench_nlp_sample.csv"
    with pytest.raises(SystemExit) as e:
        main(["replay", path, "--trials", "8", "--repeats", "1", "--pruners", "nop,median",
              "--pruned-value", "forecast", "--json"])
    assert e.value.code == 0
    out = {r["pruner"]: r for r in json.loads(capsys.readouterr().out)["results"]}
    assert {r["pruned_value"] for r in out.values()} == {"forecast"}
    nop = out["nop"]["best_found"]
    assert nop["per_repeat"] == [nop["mean"]] and out["median"]["best_found"]["mean"] >= nop["mean"]
    with pytest.raises(SystemExit) as e:
        main(["replay", path, "--pruned-value", "maybe"])
    assert e.value.code == 2
