"""The stop rules as pure functions: decide, confirm, dominated, and what they rest
on: the incumbent, the final step, a finished run's best case, when to forecast again
and how many finished runs to learn from."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from curvecast.decisions import (
    FIRM,
    Decision,
    best_case,
    confirm,
    context_size,
    decide,
    diverged,
    dominated,
    due,
    final_step,
    incumbent,
)
from curvecast.forecast import Forecast


def normal(median: float, sd: float, goal: str = "min") -> Forecast:
    """One curve's forecast at one step: a normal of this median and spread."""
    return Forecast([100.0], [[[median]]], [[[sd]]], [[1e6]], [[1.0]], goal=goal)[0]


def test_diverged_values_stop_whatever_the_forecast():
    d = decide(normal(0.1, 0.01), [1.0, float("nan")], incumbent=0.5)
    assert d == diverged() and d.stop and d.reason == "diverged"


def test_no_forecast_never_stops():
    empty = Forecast([100.0], [[[0.0]]], [[[1.0]]], [[1e6]], [[0.0]])[0]
    assert decide(empty, [1.0], incumbent=0.5) == Decision(False, "no_forecast")


@pytest.mark.parametrize("goal", ["min", "max"])
def test_cannot_win_is_the_probability_of_beating_the_incumbent_below_risk(goal):
    s = 1.0 if goal == "min" else -1.0
    hopeless = decide(normal(s * 1.0, 0.1, goal), [s * 1.2], incumbent=s * 0.5, risk=0.05)
    assert hopeless.stop and hopeless.reason == "cannot_win"
    assert hopeless.prob_better == pytest.approx(0.0, abs=1e-6)
    close = decide(normal(s * 0.55, 0.1, goal), [s * 0.7], incumbent=s * 0.5, risk=0.05)
    assert not close.stop and close.prob_better == pytest.approx(0.3085, abs=1e-3)
    assert close.best_case == pytest.approx(close.lower if goal == "min" else close.upper)
    assert (close.lower < close.median < close.upper)


def test_no_incumbent_means_no_probability_and_no_stop():
    d = decide(normal(1.0, 0.1), [1.2], incumbent=None)
    assert not d.stop and d.prob_better is None and "prob_better" not in d.to_dict()


def test_converged_when_the_expected_gain_is_below_min_gain():
    flat = decide(normal(0.999, 0.01), [1.0, 1.0, 1.0], incumbent=None, min_gain=0.01)
    assert flat.stop and flat.reason == "converged"
    assert flat.expected_gain == pytest.approx(0.001, abs=1e-6)
    falling = decide(normal(0.8, 0.01), [1.0, 1.0, 1.0], incumbent=None,
                     min_gain=0.01)
    assert not falling.stop


def test_confirm_needs_two_judgements_unless_the_first_is_firm():
    risk = 0.05
    soft = Decision(True, "cannot_win", prob_better=0.5 * risk)
    assert confirm(soft, warned=False, risk=risk).reason == "warning"
    assert not confirm(soft, warned=False, risk=risk).stop
    assert confirm(soft, warned=True, risk=risk) == soft
    firm = Decision(True, "cannot_win", prob_better=0.5 * FIRM * risk)
    assert confirm(firm, warned=False, risk=risk) == firm
    for final in (diverged(), Decision(True, "converged")):
        assert confirm(final, warned=False, risk=risk) == final
    go = Decision(False, "continue")
    assert confirm(go, warned=True, risk=risk) == go


def _others(rng, n=30, corr=True):
    at_step = rng.uniform(1, 3, n)
    best = at_step + (0.1 * rng.standard_normal(n) if corr else rng.uniform(-5, 5, n))
    return list(zip(at_step, best, strict=True))


def test_dominated_when_the_better_runs_nearby_all_lost():
    rng = np.random.default_rng(0)
    others = _others(rng)
    incumbent = min(b for _, b in others)
    assert dominated(2.9, others, incumbent).stop
    assert not dominated(1.0, others, incumbent).stop  # better than almost all of them


def test_dominated_abstains_when_the_step_does_not_rank_outcomes_or_few_runs_are_seen():
    rng = np.random.default_rng(1)
    noise = _others(rng, corr=False)
    assert dominated(2.9, noise, incumbent=-10).reason == "no_forecast"
    assert dominated(2.9, _others(rng, n=5), incumbent=0.0).reason == "no_forecast"
    assert dominated(2.9, _others(rng), incumbent=None).reason == "no_forecast"


def test_dominated_mirrors_for_max():
    rng = np.random.default_rng(0)
    others = _others(rng)
    mirrored = [(-v, -b) for v, b in others]
    incumbent = min(b for _, b in others)
    assert dominated(-2.9, mirrored, -incumbent, goal="max").stop
    assert not dominated(-1.0, mirrored, -incumbent, goal="max").stop


@pytest.mark.parametrize("goal", ["min", "max"])
def test_best_case_is_the_final_else_the_recorded_best_case_else_the_worst(goal):
    s = 1.0 if goal == "min" else -1.0
    stopped = Decision(True, "cannot_win", best_case=s * 2.0)
    assert best_case(s * 1.0, stopped, goal) == s * 1.0  # it ran to its end
    assert best_case(None, stopped, goal) == s * 2.0
    assert best_case(None, Decision(True, "dominated"), goal) == s * math.inf
    assert best_case(None, None, goal) == s * math.inf


@pytest.mark.parametrize("goal", ["min", "max"])
def test_incumbent_is_the_best_final_else_the_running_trials_worst_cases(goal):
    s = 1.0 if goal == "min" else -1.0
    assert incumbent([s * 3.0, s * 1.0, math.nan, s * math.inf], goal) == s * 1.0
    worst = "upper" if goal == "min" else "lower"
    running = [Decision(False, "continue", final_step=50, **{worst: s * 4.0}),
               Decision(False, "warning", final_step=50, **{worst: s * 3.0}),
               Decision(True, "cannot_win", final_step=50, **{worst: s * 0.5}),  # stopped
               Decision(False, "continue", final_step=60, **{worst: s * 0.1}),  # other end
               Decision(False, "dominated")]  # no forecast
    assert incumbent([], goal, others=running, final_step=50) == s * 3.0
    assert incumbent([], goal, others=running) is None  # the final step is not fixed
    assert incumbent([s * 9.0], goal, others=running, final_step=50) == s * 9.0
    assert incumbent([], goal, others=running[2:3], final_step=50) is None


def test_final_step():
    assert final_step(5, [30, 50, 40], [70]) == 50  # the running do not count once one ends
    assert final_step(5, [], [12, 8]) == 12
    assert final_step(5, [], []) == 5
    assert final_step(60, [30], max_step=50) == 60 and final_step(5, [30], max_step=50) == 50


@given(st.integers(0, 10_000), st.floats(1.0, 3.0))
def test_context_size_is_a_schedule_point_at_most_n(n, growth):
    k = context_size(n, growth)
    assert 0 <= k <= n and (k > 0) == (n > 0)
    assert context_size(k, growth) == k  # a point of the schedule
    nxt = max(k + 1, math.ceil(k * growth))
    assert nxt > n  # the next point is beyond n
    assert context_size(n + 1, growth) >= k  # never shrinks


@given(st.integers(1, 500), st.integers(0, 500), st.floats(1.0, 3.0))
def test_due_when_points_grew_by_the_factor(points, judged, growth):
    assert due(points, judged, growth) == (judged == 0 or (
        points >= judged + 1 and points >= judged * growth))
