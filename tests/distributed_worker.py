"""One worker of a distributed Optuna study, for tests/integrations/test_optuna_distributed.py.

Run as a script, one process per "machine"::

    python tests/distributed_worker.py STORAGE STUDY N_TRIALS LOG [--heartbeat 1 --grace 2]
        [--hang-at STEP --marker PATH] [--delay SECONDS] [--hostile]

STORAGE is a database URL (RDBStorage) or ``journal:PATH`` (JournalStorage on a file).
The worker joins study STUDY (``load_if_exists=True``) with ForecastPruner and runs
N_TRIALS trials. Trial number n replays the bundled NAS-Bench-NLP run n mod 24: every point
is reported with ``trial.report`` and ``trial.should_prune``, and the final value is the last
point. Every report and outcome is appended to LOG as one JSON line (flushed at once), so
the test can compare what was reported with what the storage holds. With ``--hang-at``,
the worker's first trial reports up to STEP without asking ``should_prune`` (so it cannot
be pruned first), writes its number to MARKER and sleeps there, waiting to be killed.
``--delay`` sleeps after each report (a study that runs while a dashboard watches);
``--hostile`` gives trial 0 a run name and every trial a parameter value that are HTML
(``HOSTILE_RUN``, ``HOSTILE_PARAM``), to check that pages show them as text.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import optuna

from curvecast.demo import sample_curves
from curvecast.integrations.optuna import ForecastPruner


def storage(spec: str, heartbeat: int | None = None, grace: int | None = None, log=None):
    """The storage named by ``spec``; heartbeats (RDB only) with a callback that logs."""
    if spec.startswith("journal:"):
        # JournalStorage has no heartbeat in Optuna 5.0 (it is not a BaseHeartbeat).
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        return JournalStorage(JournalFileBackend(spec.removeprefix("journal:")))
    if heartbeat is None:
        return optuna.storages.RDBStorage(spec)

    def stale(study, trial):
        if log is not None:
            _write(log, {"failed_stale": trial.number, "pid": os.getpid()})

    return optuna.storages.RDBStorage(spec, heartbeat_interval=heartbeat, grace_period=grace,
                                      heartbeat_stale_trial_callback=stale)


def _write(log, record: dict) -> None:
    log.write(json.dumps(record) + "\n")
    log.flush()


HOSTILE_RUN = "<script>alert(1)</script>"
HOSTILE_PARAM = "<img src=x onerror=alert(2)>"


def objective_for(log, hang_at: int | None = None, marker: str | None = None,
                  delay: float = 0.0, hostile: bool = False):
    curves = list(sample_curves())

    def objective(trial: optuna.Trial) -> float:
        curve = curves[trial.number % len(curves)]
        trial.set_user_attr("run", HOSTILE_RUN if hostile and trial.number == 0 else curve.run)
        if hostile:
            trial.suggest_categorical("cell", [HOSTILE_PARAM, "lstm"])
        for step, value in zip(curve.steps.tolist(), curve.values.tolist(), strict=True):
            trial.report(value, int(step))
            _write(log, {"trial": trial.number, "step": int(step), "value": value})
            time.sleep(delay)
            if hang_at is not None:  # the trial to be killed: never pruned before it hangs
                if int(step) < hang_at:
                    continue
                with open(marker, "w") as f:
                    f.write(str(trial.number))
                time.sleep(600)  # killed here
            if trial.should_prune():
                _write(log, {"trial": trial.number, "state": "PRUNED"})
                raise optuna.TrialPruned()
        _write(log, {"trial": trial.number, "state": "COMPLETE", "value": value})
        return value

    return objective


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("storage")
    p.add_argument("study")
    p.add_argument("n_trials", type=int)
    p.add_argument("log")
    p.add_argument("--heartbeat", type=int)
    p.add_argument("--grace", type=int)
    p.add_argument("--hang-at", type=int)
    p.add_argument("--marker")
    p.add_argument("--delay", type=float, default=0.0)
    p.add_argument("--hostile", action="store_true")
    a = p.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with open(a.log, "a") as log:
        study = optuna.create_study(
            storage=storage(a.storage, a.heartbeat, a.grace, log), study_name=a.study,
            pruner=ForecastPruner(), load_if_exists=True)
        study.optimize(objective_for(log, a.hang_at, a.marker, a.delay, a.hostile),
                       n_trials=a.n_trials)
        _write(log, {"done": a.n_trials})


if __name__ == "__main__":
    main(sys.argv[1:])
