"""The backtest's robust scores: typical runs, the best quarter, wins over the last value."""

from __future__ import annotations

import numpy as np
import pytest

from curvecast.curve import Curve
from curvecast.evaluate import backtest


def _sweep(n=40, exploding=1, seed=0):
    rng = np.random.default_rng(seed)
    x = np.arange(1, 31.0)
    runs = []
    for i in range(n):
        floor, amp, p = rng.uniform(0.2, 1.0), rng.uniform(1, 3), rng.uniform(0.3, 1.2)
        y = floor + amp * x**-p * (1 + 0.002 * rng.standard_normal(x.size))
        if i < exploding:  # blows up after the cutoffs scored here
            y = np.where(x > 20, y * 10.0 ** (x - 20), y)
        runs.append(Curve(f"r{i}", x, y))
    return runs


def test_typical_scores_leave_out_the_exploding_runs():
    bt = backtest(_sweep(), cutoffs=[0.4], methods=["bma", "last"])
    by = {r.method: r for r in bt.results}
    for r in by.values():
        assert r.nmae > 10 * r.nmae_typical  # the explosion sets the plain score
        assert np.isfinite(r.crps_typical) and r.crps_typical < r.crps
    assert by["last"].win_rate_vs_last == 0.0  # ties lose
    assert by["bma"].win_rate_vs_last > 0.6  # power laws forecast power laws
    assert by["bma"].nmae_typical < by["last"].nmae_typical
    assert -1 <= by["bma"].spearman_top <= 1
    d = bt.to_dict()["results"][0]
    assert {"nmae_typical", "crps_typical", "spearman_top", "win_rate_vs_last"} <= d.keys()


@pytest.mark.parametrize("goal", ["min", "max"])
def test_spearman_top_ranks_the_best_quarter_of_either_goal(goal):
    s = 1.0 if goal == "min" else -1.0
    runs = [Curve(c.run, c.steps, s * c.values, goal=goal) for c in _sweep(exploding=0)]
    row = backtest(runs, cutoffs=[0.5], methods=["bma"]).results[0]
    assert row.spearman_top > 0.5
