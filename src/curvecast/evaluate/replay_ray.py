"""Replay recorded runs through Ray Tune's schedulers: ForecastScheduler against ASHA and
the median stopping rule.

As :mod:`curvecast.evaluate.replay` replays runs as Optuna studies, this replays them
through Ray Tune ``TrialScheduler`` objects: trial i is run i of the draw, one trial at a
time (one worker), and the scheduler's hooks are called as Tune's controller calls them
(``on_trial_add``; ``on_trial_result`` at each recorded point, ``training_iteration``
1, 2, ...; ``on_trial_complete``), without starting Ray: what a scheduler stops depends
only on the results it is shown. Compute and normalised regret are replay's (see
:mod:`curvecast.evaluate.replay`); a trial stopped at its last point ran to its end.

Schedulers (their defaults, counted in iterations):

* ``ray_forecast``: :class:`~curvecast.integrations.ray.ForecastScheduler`;
* ``ray_asha``: ``ASHAScheduler`` (grace period 1, reduction factor 4, ``max_t`` the
  longest run);
* ``ray_median``: ``MedianStoppingRule`` (no grace period, 3 trials to compare with).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from ..curve import Curve
from ..errors import UsageError
from ..forecasters import Forecaster
from .replay import ReplayResult, _regret

METRIC = "value"
TIME = "training_iteration"


def _schedulers(max_t: int, goal: str, forecaster: Forecaster | None) -> dict[str, Callable]:
    from ray.tune.schedulers import ASHAScheduler, MedianStoppingRule

    from ..integrations.ray import ForecastScheduler

    common = {"time_attr": TIME, "metric": METRIC, "mode": goal}
    return {
        "ray_forecast": lambda: ForecastScheduler(**common, forecaster=forecaster),
        "ray_asha": lambda: ASHAScheduler(**common, max_t=max_t, grace_period=1),
        "ray_median": lambda: MedianStoppingRule(**common, grace_period=0),
    }


SCHEDULERS = ("ray_forecast", "ray_asha", "ray_median")
"""Scheduler names :func:`replay_ray` accepts."""


class _Controller:
    """What the schedulers ask Tune's controller: the trials still to run (none, one
    trial at a time), so the median rule never pauses one to wait for others."""

    def get_live_trials(self) -> list:
        return []


def replay_ray(runs: Sequence[Curve], schedulers: Sequence[str] = SCHEDULERS,
               trials: int = 100, repeats: int = 10, seed: int = 0,
               progress: Callable[[str], None] | None = None,
               forecaster: Forecaster | None = None) -> list[ReplayResult]:
    """Replay ``trials`` of ``runs`` per repeat through each scheduler (see the module
    docstring); the draws are :func:`~curvecast.evaluate.replay.replay`'s for the same
    ``seed``, so rows of both compare run for run. ``latency_ms``: ``on_trial_result``;
    ``forecaster``: ForecastScheduler's per-curve forecaster (default: its own).

    >>> from curvecast.demo import sample_curves
    >>> res = replay_ray(list(sample_curves()), ["ray_asha"], trials=8, repeats=1)
    >>> bool(res[0].compute[0] < 1.0)
    True
    """
    runs = [r for r in runs if len(r) >= 2]
    if len(runs) < 2:
        raise UsageError("replay needs at least 2 runs with 2 or more points")
    if len({r.goal for r in runs}) > 1:
        raise UsageError("runs mix goals 'min' and 'max'; replay one goal at a time")
    factories = _schedulers(max(len(r) for r in runs), runs[0].goal, forecaster)
    unknown = [s for s in schedulers if s not in factories]
    if unknown:
        raise UsageError(f"unknown schedulers {unknown}; choose from {list(factories)}")
    trials = min(trials, len(runs))
    draws = [np.random.default_rng([seed, r]).permutation(len(runs))[:trials]
             for r in range(repeats)]
    out = []
    for name in schedulers:
        t0 = time.perf_counter()
        compute, regret, best, latency = [], [], [], []
        for r, order in enumerate(draws):
            drawn = [runs[i] for i in order]
            c, g, b, lat = replay_schedule(drawn, factories[name]())
            compute.append(c)
            regret.append(g)
            best.append(b)
            latency.extend(lat)
            if progress:
                progress(f"{name}: repeat {r + 1}/{repeats}")
        ms = np.array(latency) * 1e3
        out.append(ReplayResult(name, np.array(compute), np.array(regret),
                                float(np.median(ms)), float(np.quantile(ms, 0.9)),
                                time.perf_counter() - t0, np.array(best, float)))
    return out


def replay_schedule(runs: Sequence[Curve], scheduler) -> tuple[float, float, float,
                                                               list[float]]:
    """Replay ``runs`` in order through one scheduler: (compute fraction, normalised
    regret, best final found (NaN: none), seconds of each ``on_trial_result``)."""
    from ray.tune.experiment import Trial
    from ray.tune.schedulers import TrialScheduler

    runs = list(runs)
    controller = _Controller()
    reported, done, latency = 0, [], []
    for i, run in enumerate(runs):
        trial = Trial("replay", config=dict(run.hp), trial_id=f"{i:05d}", stub=True)
        scheduler.on_trial_add(controller, trial)
        result: dict = {}
        for k, value in enumerate(run.values):
            result = {TIME: k + 1, METRIC: float(value)}
            reported += 1
            t = time.perf_counter()
            action = scheduler.on_trial_result(controller, trial, result)
            latency.append(time.perf_counter() - t)
            if action == TrialScheduler.STOP and k + 1 < len(run):
                break
        else:
            done.append(float(run.values[-1]))
        scheduler.on_trial_complete(controller, trial, result)
    total = sum(len(r) for r in runs)
    finite = [v for v in done if np.isfinite(v)]
    sign = 1.0 if runs[0].goal == "min" else -1.0
    best = sign * min(sign * v for v in finite) if finite else float("nan")
    return reported / total, _regret(runs, finite), best, latency
