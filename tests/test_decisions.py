"""The stop rules as pure functions: decide, confirm, dominated."""

from __future__ import annotations

import numpy as np
import pytest

from curvecast.decisions import FIRM, Decision, confirm, decide, diverged, dominated
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
