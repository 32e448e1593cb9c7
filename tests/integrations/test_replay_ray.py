"""Ray Tune's schedulers replayed on recorded runs (the bundled NAS-Bench-NLP sample):
ForecastScheduler against ASHA and the median stopping rule."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import need_module

need_module("ray", "ray")

from curvecast.curve import Curve
from curvecast.demo import sample_curves
from curvecast.errors import UsageError
from curvecast.evaluate.replay_ray import replay_ray, replay_schedule


def test_asha_and_the_median_rule_save_compute_and_report_it():
    res = {r.pruner: r for r in replay_ray(list(sample_curves()), ["ray_asha", "ray_median"],
                                           trials=24, repeats=2)}
    for r in res.values():
        assert r.compute.shape == (2,) and ((0 < r.compute) & (r.compute < 1)).all()
        assert ((0 <= r.regret) & (r.regret <= 1)).all() and np.isfinite(r.best).all()
        assert r.to_dict()["latency_ms"] > 0


@pytest.mark.slow  # ~1,000 forecasts: 40-80 s on two loaded cores
def test_forecast_scheduler_row():
    (r,) = replay_ray(list(sample_curves()), ["ray_forecast"], trials=24, repeats=2)
    assert (r.compute < 0.5).all() and (r.regret <= 0.05).all()


def test_a_trial_stopped_at_its_last_point_ran_to_its_end():
    from ray.tune.schedulers import ASHAScheduler

    runs = [Curve(str(i), [1, 2, 3, 4], [4.0, 3.0, 2.0, 1.0 + i]) for i in range(3)]
    asha = ASHAScheduler(time_attr="training_iteration", metric="value", mode="min", max_t=4)
    compute, regret, best, _ = replay_schedule(runs, asha)  # ASHA stops each at max_t
    assert best == 1.0 and regret == 0.0 and compute <= 1.0


def test_bad_arguments():
    with pytest.raises(UsageError, match="unknown schedulers"):
        replay_ray(list(sample_curves()), ["hyperband"])
