"""ForecastPruner in a study shared by several worker processes, as across machines.

Real processes (tests/distributed_worker.py) optimise one study on a real PostgreSQL
server (``CURVECAST_PG_URL``; .ci/run starts one) or on a JournalStorage file, replaying
the bundled NAS-Bench-NLP runs. Checked: no trial lost or duplicated, every reported value
stored exactly, every pruned trial carries the decision that pruned it, nothing left
RUNNING; and after a worker is SIGKILLed mid-trial, its trial is failed (by heartbeat on
PostgreSQL) and the study goes on.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from curvecast.demo import sample_curves
from curvecast.integrations.optuna import ATTR, ForecastPruner

WORKER = Path(__file__).parents[1] / "distributed_worker.py"
N_WORKERS = 4
N_TRIALS = 3  # per worker: 12 trials, so run 10 (it diverges) is among them
TIMEOUT = 120  # seconds for any worker; each test takes 10-30 s on 2 cores
HEARTBEAT, GRACE = 1, 2


@pytest.fixture(params=["postgresql", "journal"])
def backend(request, tmp_path) -> str:
    """A storage spec for distributed_worker.py: a database URL or journal:PATH."""
    if request.param == "journal":
        return f"journal:{tmp_path / 'journal.log'}"
    url = request.getfixturevalue("pg_url")
    optuna.storages.RDBStorage(url)  # create the schema once, before workers race to
    return url


def _storage(spec: str, heartbeat: bool = False, callback=None):
    if spec.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        return JournalStorage(JournalFileBackend(spec.removeprefix("journal:")))
    if not heartbeat:
        return optuna.storages.RDBStorage(spec)
    return optuna.storages.RDBStorage(spec, heartbeat_interval=HEARTBEAT, grace_period=GRACE,
                                      heartbeat_stale_trial_callback=callback)


def _start(spec: str, study: str, tmp_path: Path, i: int, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    err = open(tmp_path / f"worker{i}.err", "w")
    log = tmp_path / f"worker{i}.jsonl"
    return subprocess.Popen([sys.executable, str(WORKER), spec, study, str(N_TRIALS), str(log),
                             *extra], env=env, stdout=err, stderr=subprocess.STDOUT)


def _wait(procs: list[subprocess.Popen], tmp_path: Path) -> None:
    deadline = time.monotonic() + TIMEOUT
    for p in procs:
        try:
            p.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            pytest.fail(f"worker timed out:\n{_errors(tmp_path)}")
    bad = [p.returncode for p in procs if p.returncode != 0]
    assert not bad, f"worker exit codes {bad}:\n{_errors(tmp_path)}"


def _errors(tmp_path: Path) -> str:
    return "\n".join(f"--- {f.name}\n{f.read_text()[-3000:]}"
                     for f in sorted(tmp_path.glob("worker*.err")))


def _logs(tmp_path: Path) -> list[list[dict]]:
    return [[json.loads(line) for line in f.read_text().splitlines()]
            for f in sorted(tmp_path.glob("worker*.jsonl"))]


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def _check(trials: list, logs: list[list[dict]], n_expected: int) -> dict[int, str]:
    """The stored ``trials`` are exactly what the workers did; returns each trial's logged
    outcome (trials killed before they ended have none)."""
    assert len(trials) == n_expected
    assert sorted(t.number for t in trials) == list(range(n_expected))
    assert not [t.number for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]

    reported: dict[int, dict[int, float]] = {}
    outcome: dict[int, str] = {}
    owner: dict[int, int] = {}
    for w, log in enumerate(logs):
        for r in log:
            if "trial" not in r:
                continue
            assert owner.setdefault(r["trial"], w) == w, f"trial {r['trial']} run twice"
            if "step" in r:
                assert r["step"] not in reported.setdefault(r["trial"], {})
                reported[r["trial"]][r["step"]] = r["value"]
            else:
                outcome[r["trial"]] = r["state"]
    assert sorted(owner) == list(range(n_expected)), "a stored trial no worker ran"

    for t in trials:
        got, want = t.intermediate_values, reported[t.number]
        assert sorted(got) == sorted(want), f"trial {t.number}: steps differ"
        assert all(_same(got[s], want[s]) for s in want), f"trial {t.number}: values differ"
        if t.number in outcome:
            assert t.state.name == outcome[t.number]
        if t.state == TrialState.COMPLETE:
            assert t.value == want[max(want)]
        if t.state == TrialState.PRUNED:
            record = t.user_attrs.get(ATTR)
            assert record is not None, f"pruned trial {t.number} has no {ATTR!r} record"
            assert record["stop"] is True
            assert record["step"] == t.last_step == max(want)
    return outcome


def _study_name(request) -> str:
    return f"{request.node.name}-{uuid.uuid4().hex[:8]}"


def test_workers_share_one_study(backend, tmp_path, request):
    name = _study_name(request)
    procs = [_start(backend, name, tmp_path, i) for i in range(N_WORKERS)]
    _wait(procs, tmp_path)
    logs = _logs(tmp_path)
    assert all(log[-1] == {"done": N_TRIALS} for log in logs)
    study = optuna.load_study(study_name=name, storage=_storage(backend))
    outcome = _check(study.get_trials(deepcopy=False), logs, N_WORKERS * N_TRIALS)
    assert set(outcome.values()) <= {"COMPLETE", "PRUNED"}
    assert outcome[10] == "PRUNED"  # run 10 climbs, then diverges to NaN


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")  # heartbeats
def test_killed_worker(backend, tmp_path, request):
    name = _study_name(request)
    hb = () if backend.startswith("journal:") else ("--heartbeat", str(HEARTBEAT),
                                                    "--grace", str(GRACE))
    marker = tmp_path / "hung"
    procs = [_start(backend, name, tmp_path, i, *hb) for i in range(N_WORKERS - 1)]
    victim = _start(backend, name, tmp_path, N_WORKERS - 1, *hb,
                    "--hang-at", "5", "--marker", str(marker))
    deadline = time.monotonic() + TIMEOUT
    while not marker.exists():
        assert victim.poll() is None, f"victim exited early:\n{_errors(tmp_path)}"
        assert time.monotonic() < deadline, f"victim never hung:\n{_errors(tmp_path)}"
        time.sleep(0.1)
    time.sleep(0.2)  # the marker is written whole before the sleep
    killed = int(marker.read_text())
    victim.send_signal(signal.SIGKILL)
    assert victim.wait(timeout=10) == -signal.SIGKILL
    killed_at = time.monotonic()
    _wait(procs, tmp_path)

    stale: list[int] = []
    storage = _storage(backend, heartbeat=True,
                       callback=lambda study, trial: stale.append(trial.number))
    study = optuna.load_study(study_name=name, storage=storage, pruner=ForecastPruner())
    if backend.startswith("journal:"):
        # No heartbeats for JournalStorage in Optuna 5.0: the trial stays RUNNING until
        # someone fails it by hand, which works from any process.
        assert study.get_trials(deepcopy=False)[killed].state == TrialState.RUNNING
        study.tell(killed, state=TrialState.FAIL)
    else:
        # Any worker starting a trial GRACE seconds after the kill fails the stale trial;
        # if none did, the trial run below does (optimize calls fail_stale_trials first).
        time.sleep(max(0.0, killed_at + GRACE + 0.5 - time.monotonic()))

    # The study goes on: a new trial (the best run, 1 lower: it must win) runs to its end.
    best = min((c for c in sample_curves() if c.status == "ok"), key=lambda c: c.values[-1])

    def objective(trial):
        for step, value in zip(best.steps.tolist(), (best.values - 1).tolist(), strict=True):
            trial.report(value, int(step))
            if trial.should_prune():
                raise optuna.TrialPruned()
        return value

    study.optimize(objective, n_trials=1)
    logs = _logs(tmp_path)
    n = len({r["trial"] for log in logs for r in log if "trial" in r})  # the workers' trials
    assert n == N_WORKERS * N_TRIALS - N_TRIALS + len({r["trial"] for r in logs[-1]
                                                     if "trial" in r})
    assert len(study.get_trials(deepcopy=False)) == n + 1
    new = study.get_trials(deepcopy=False)[n]
    assert new.state == TrialState.COMPLETE and new.value == best.values[-1] - 1

    # The killed trial failed once, by whoever noticed first; the others' all finished.
    by_workers = [r["failed_stale"] for log in logs for r in log if "failed_stale" in r]
    if not backend.startswith("journal:"):
        assert by_workers + stale == [killed]
    outcome = _check(study.get_trials(deepcopy=False)[:n], logs, n)
    assert study.get_trials(deepcopy=False)[killed].state == TrialState.FAIL
    assert killed not in outcome
    assert set(outcome.values()) <= {"COMPLETE", "PRUNED"} and len(outcome) == n - 1
    assert all(log[-1] == {"done": N_TRIALS} for log in logs[:-1])

