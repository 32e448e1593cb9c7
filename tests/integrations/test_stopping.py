"""The callbacks' shared core (RunWatch): what each framework's callback relies on."""

from __future__ import annotations

import math

import pytest

from curvecast.integrations._stopping import RunWatch


def test_a_nan_stops_at_once_and_too_few_points_never_do():
    watch = RunWatch(target=0.1, max_steps=100)
    assert watch.update(1, 5.0).decision.reason == "no_forecast"
    assert not watch.update(2, 4.0).stop
    j = watch.update(3, math.nan)
    assert j.stop and j.decision.reason == "diverged" and j.decision.step == 3


def test_a_first_doubt_is_a_warning_and_the_second_stops():
    # a plateau whose forecast misses the target, but not by far: confirm() asks twice
    watch, reasons = RunWatch(target=0.5, max_steps=40, risk=0.2), []
    for step in range(1, 9):
        reasons.append(watch.update(step, 0.55 + 0.3 / step).decision.reason)
    assert "warning" in reasons and reasons[-1] == "cannot_win"
    assert reasons.index("cannot_win") == reasons.index("warning") + 1


def test_a_good_run_keeps_going_and_its_eta_is_before_the_end():
    watch = RunWatch(target=0.35, max_steps=200)
    for step in range(10, 110, 10):
        j = watch.update(step, 0.3 + 2.0 / step)
    d = j.decision
    assert not j.stop and d.final_step == 200 and d.prob_better > 0.5
    assert 100 <= j.eta < 200 and set(j.metrics()) >= {"forecast/median", "forecast/eta"}


def test_accuracy_goes_the_other_way():
    hopeless, good = RunWatch(mode="max", target=0.9, max_steps=50), RunWatch(
        mode="max", target=0.6, max_steps=50)
    for step in range(1, 11):
        h = hopeless.update(step, 0.5 - 0.2 / step)
        g = good.update(step, 0.7 - 0.3 / step)
    assert h.stop and not g.stop


def test_a_resumed_run_replaces_the_points_from_its_checkpoint():
    watch = RunWatch(max_steps=100)
    for step in range(1, 6):
        watch.update(step, 1.0 / step)
    watch.update(3, 0.9)  # resumed from the checkpoint at step 2
    assert watch.steps == [1.0, 2.0, 3.0] and watch.values[-1] == 0.9


def test_min_gain_stops_a_converged_run_and_the_budget_must_be_known():
    watch = RunWatch(min_gain=0.01, max_steps=100)
    for step in range(1, 8):
        j = watch.update(step, 0.3 + 1e-4 / step)
    assert j.stop and j.decision.reason == "converged"
    with pytest.raises(ValueError, match="max_steps"):
        RunWatch().update(1, 1.0)
    with pytest.raises(ValueError, match="risk"):
        RunWatch(risk=0)
