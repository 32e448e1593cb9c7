"""Optuna as a record source (curvecast.io.optuna): the decision record round-trips
(by hypothesis, and through a real SQLite storage), trials become curves, a trial stopped
with a returned forecast reads as pruned, finished trials are read once, and storages
are opened without writing to them (SQLite, journal files, PostgreSQL)."""

from __future__ import annotations

import hashlib
import json
import math
import warnings

import optuna
import pytest
from hypothesis import given
from hypothesis import strategies as st

from curvecast.decisions import Decision
from curvecast.errors import CurvecastWarning, InputError
from curvecast.io.optuna import (
    ATTR,
    FinishedTrials,
    load_study,
    ran_to_end,
    read_decision,
    run_name,
    state,
    stopped,
    study_goal,
    trial_curve,
    write_decision,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)

numbers = st.none() | st.floats(allow_nan=False, width=64)  # inf included
steps = st.none() | st.integers(0, 2**53)
decisions = st.builds(
    Decision, stop=st.booleans(),
    reason=st.sampled_from(["cannot_win", "converged", "dominated", "warning", "continue",
                            "no_forecast", "diverged", "pruned"]) | st.text(max_size=20),
    prob_better=numbers, median=numbers, lower=numbers, upper=numbers,
    expected_gain=numbers, best_case=numbers, step=steps, final_step=steps,
    incumbent=numbers)


@given(decisions)
def test_the_record_round_trips_through_json(d):
    """What an Optuna storage does with a user attribute: json.dumps, json.loads."""
    stored = json.loads(json.dumps(d.to_dict()))
    assert Decision.from_dict(stored) == d
    assert set(stored) == {k for k, v in vars(d).items() if v is not None}


def test_a_nan_probability_round_trips_too():
    d = Decision.from_dict(json.loads(json.dumps(Decision(True, "cannot_win",
                                                          prob_better=math.nan).to_dict())))
    assert math.isnan(d.prob_better) and d.stop


@pytest.mark.parametrize("record, field", [
    ({"reason": "continue"}, "'stop'"),
    ({"stop": 1, "reason": "continue"}, "'stop'"),
    ({"stop": False}, "'reason'"),
    ({"stop": False, "reason": "continue", "median": "5"}, "'median'"),
    ({"stop": False, "reason": "continue", "median": True}, "'median'"),
    ({"stop": False, "reason": "continue", "step": 2.5}, "'step'"),
    ({"stop": False, "reason": "continue", "final_step": math.inf}, "'final_step'"),
    (["stop", True], "mapping"),
])
def test_a_malformed_record_is_refused_naming_the_field(record, field):
    with pytest.raises(ValueError, match=field):
        Decision.from_dict(record)


def test_a_record_through_a_sqlite_storage_and_another_process_view(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(storage=url, study_name="s")
    trial = study.ask()
    trial.report(1.0, 0)
    d = Decision(True, "cannot_win", 0.008, 5.1, 4.9, 5.3, 0.1, 4.9, step=0, final_step=50,
                 incumbent=4.7)
    frozen = study._storage.get_trial(trial._trial_id)
    write_decision(study, frozen, d)
    assert read_decision(frozen) == d  # the object given is kept current
    other = load_study(url, "s")  # read-only, another storage object
    assert read_decision(other.trials[0]) == d
    assert other.trials[0].user_attrs[ATTR] == d.to_dict()


def test_no_record_and_a_foreign_record():
    study = optuna.create_study()
    study.add_trial(optuna.trial.create_trial(value=1.0))
    assert read_decision(study.trials[0]) is None
    study.add_trial(optuna.trial.create_trial(value=1.0, user_attrs={ATTR: "not ours"}))
    with pytest.warns(CurvecastWarning, match="trial 1: user attribute 'curvecast' ignored"):
        assert read_decision(study.trials[1]) is None


def test_a_trial_becomes_a_curve_with_its_parameters_state_and_run():
    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    trial.suggest_int("layers", 3, 3)
    trial.suggest_float("lr", 0.1, 0.1)
    trial.set_user_attr("run", "arch-7")
    for step, v in ((4, 0.6), (0, 0.1), (2, 0.4)):  # out of order
        trial.report(v, step)
    c = trial_curve(study.trials[0], study_goal(study))
    assert c.run == "trial 0" and c.goal == "max"
    assert c.steps.tolist() == [0, 2, 4] and c.values.tolist() == [0.1, 0.4, 0.6]
    assert c.hp == {"layers": 3, "lr": 0.1} and isinstance(c.hp["layers"], int)
    assert c.meta == {"state": "RUNNING", "number": 0, "run": "arch-7"}
    assert run_name(study.trials[0]) == "arch-7"


def test_multi_objective_is_an_input_error():
    with pytest.raises(InputError, match="2 objectives"):
        study_goal(optuna.create_study(directions=["minimize", "maximize"]))


def _trial(value, values: dict, record: Decision | None = None, st_=None):
    attrs = {} if record is None else {ATTR: record.to_dict()}
    return optuna.trial.create_trial(
        value=value, intermediate_values=values, user_attrs=attrs,
        state=st_ or optuna.trial.TrialState.COMPLETE)


def test_a_trial_that_returned_its_forecast_is_pruned_not_a_final():
    """COMPLETE with the value its objective returned at a stop: read as pruned, its
    value never a final; one that went on past a stop is a final."""
    stop = Decision(True, "cannot_win", 0.01, 3.0, 2.8, 3.2, best_case=2.8, step=2)
    study = optuna.create_study()
    study.add_trials([
        _trial(3.0, {0: 5.0, 1: 4.0, 2: 3.5}, stop),  # returned its forecast
        _trial(1.0, {0: 5.0, 1: 2.0, 2: 1.5, 3: 1.0}, stop),  # went on to the end
        _trial(2.0, {0: 5.0, 1: 3.0, 2: 2.5, 3: 2.0}),
    ])
    trials = study.trials
    assert [stopped(t) for t in trials] == [True, False, False]
    assert [state(t) for t in trials] == ["PRUNED", "COMPLETE", "COMPLETE"]
    assert [t.number for t in ran_to_end(trials)] == [1, 2]
    ft = FinishedTrials("min")
    ft.update(trials)
    assert ft.best == 1.0 and ft.last_end == 3
    assert [f.number for f in ft.ran_to_end] == [1, 2]
    assert ft.at_step(2) == [(3.5, 2.8), (1.5, 1.0), (2.5, 2.0)]  # the stopped: its best case


def test_finished_trials_are_read_once_and_in_the_order_they_finished():
    study = optuna.create_study()
    ft = FinishedTrials("min")
    study.add_trials([_trial(2.0, {0: 3.0, 1: 2.5, 2: 2.0})])
    ft.update(study.trials)
    assert ft.at_step(0) == [(3.0, 2.0)]
    study.add_trials([_trial(1.0, {0: 2.0, 1: 1.5, 2: 1.0}),
                      _trial(None, {0: 9.0}, st_=optuna.trial.TrialState.PRUNED)])
    first = ft.ran_to_end[0]
    ft.update(study.trials)
    ft.update(study.trials)  # again: nothing new
    assert ft.ran_to_end[0] is first and len(ft.ran_to_end) == 2
    assert ft.at_step(0) == [(3.0, 2.0), (2.0, 1.0), (9.0, math.inf)]
    assert ft.best == 1.0


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_sqlite_storage_is_opened_read_only(tmp_path):
    db = tmp_path / "s.db"
    study = optuna.create_study(storage=f"sqlite:///{db}", study_name="s")
    study.add_trial(optuna.trial.create_trial(value=1.0))
    before = _digest(db)
    read = load_study(f"sqlite:///{db}", "s")
    assert read.trials[0].value == 1.0
    with pytest.raises(optuna.exceptions.StorageInternalError) as refused:
        read.add_trial(optuna.trial.create_trial(value=2.0))
    assert "readonly" in str(refused.value.__cause__)  # SQLite's own refusal
    assert _digest(db) == before
    with pytest.raises(InputError, match="no such SQLite file"):
        load_study(f"sqlite:///{tmp_path / 'none.db'}", "s")
    assert not (tmp_path / "none.db").exists()
    with pytest.raises(InputError, match="no study 'x'.*'s'"):
        load_study(f"sqlite:///{db}", "x")


def test_a_journal_file_is_read_and_a_missing_one_refused(tmp_path):
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    path = tmp_path / "j.log"
    study = optuna.create_study(storage=JournalStorage(JournalFileBackend(str(path))),
                                study_name="j")
    study.add_trial(optuna.trial.create_trial(value=1.0))
    before = path.read_bytes()
    assert load_study(f"journal:{path}", "j").trials[0].value == 1.0
    assert path.read_bytes() == before
    with pytest.raises(InputError, match="no such journal file"):
        load_study(f"journal:{tmp_path / 'none.log'}", "j")


def test_a_postgresql_storage_is_read_in_read_only_transactions(pg_url):
    name = f"ro-{id(object())}"
    study = optuna.create_study(storage=pg_url, study_name=name)
    study.add_trial(optuna.trial.create_trial(value=1.0))
    read = load_study(pg_url, name)
    assert read.trials[0].value == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(optuna.exceptions.StorageInternalError) as refused:
            read.add_trial(optuna.trial.create_trial(value=2.0))
    assert "read-only transaction" in str(refused.value.__cause__)  # the server's refusal
    assert len(optuna.load_study(study_name=name, storage=pg_url).trials) == 1
