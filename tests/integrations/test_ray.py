"""ForecastScheduler on a local Ray instance with two workers: four trials of a real
model (scikit-learn's SGD classifier, one epoch per result) on the digits."""

from __future__ import annotations

import math

import pytest
from conftest import need_module

need_module("ray", "ray")

import ray
from ray import tune
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import log_loss

from curvecast.integrations.ray import ForecastScheduler

EPOCHS = 30
pytestmark = pytest.mark.slow  # Ray's start and four trials: ~40 s on two cores


SETTINGS = [{"seed": 0, "shuffled": False}, {"seed": 1, "shuffled": False},
            {"seed": 2, "shuffled": True}, {"seed": 3, "shuffled": False}]
"""The third trial learns shuffled labels: its loss stays near 2.4, the others' reach 0.27."""


def train(config: dict) -> None:
    """One epoch of SGD per result; the validation log-loss reported."""
    import numpy as np
    from loops_data import digits

    seed, shuffled = config["setting"]["seed"], config["setting"]["shuffled"]
    xt, yt, xv, yv = digits(shuffled=shuffled)
    model = SGDClassifier(loss="log_loss", learning_rate="constant", eta0=0.01, alpha=1e-4,
                          random_state=seed)
    rng = np.random.default_rng(seed)
    for _ in range(EPOCHS):
        order = rng.permutation(len(yt))
        model.partial_fit(xt[order], yt[order], classes=np.arange(10))
        tune.report({"val_loss": log_loss(yv, model.predict_proba(xv), labels=range(10))})


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    import sys
    from pathlib import Path

    here = str(Path(__file__).parent)  # the workers import loops_data from here
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": here + ":" + ":".join(sys.path)}})
    yield
    ray.shutdown()


def test_four_trials_on_two_workers_the_hopeless_one_stopped(local_ray, tmp_path):
    scheduler = ForecastScheduler(max_t=EPOCHS)
    space = {"setting": tune.grid_search(SETTINGS)}
    tuner = tune.Tuner(
        tune.with_resources(train, {"cpu": 1}), param_space=space,
        tune_config=tune.TuneConfig(metric="val_loss", mode="min", scheduler=scheduler,
                                    max_concurrent_trials=2),
        run_config=tune.RunConfig(storage_path=str(tmp_path), name="sweep", verbose=0))
    results = tuner.fit()
    assert len(results) == 4 and not results.errors, "no trial lost"
    ran = sorted((r.metrics["training_iteration"], r.config["setting"]["shuffled"])
                 for r in results)
    assert next(n for n, shuffled in ran if shuffled) < EPOCHS / 2, ran  # stopped early
    # Which good trials run first depends on the workers' timing: one that finishes first
    # may rightly stop another (cannot_win) near its end. The best never stops.
    best = min(results, key=lambda r: r.metrics["val_loss"])
    assert best.metrics["training_iteration"] == EPOCHS, ran
    assert sum(n < EPOCHS for n, _ in ran) <= 2, ran
    stops = [d for d in scheduler.decisions.values() if d.stop]
    assert len(stops) == sum(n < EPOCHS for n, _ in ran)
    assert all(d.reason in ("cannot_win", "converged") for d in stops)
    hopeless = max(stops, key=lambda d: d.median)
    assert hopeless.reason == "cannot_win" and hopeless.median > 2 * hopeless.incumbent
    assert all(math.isfinite(r.metrics["val_loss"]) for r in results)
