"""Loaders of the real data sets in ../shared/data."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SHARED_DATA, need

from curvecast.datasets import (
    TASKSET_TASKS,
    data_dir,
    load_cifar10_cnn,
    load_datablations,
    load_nasbench_nlp,
    load_pythia,
    load_taskset,
)
from curvecast.errors import InputError

DATA = SHARED_DATA


@pytest.fixture(autouse=True)
def _data():
    need(DATA)


def test_taskset_tasks_load_with_hyperparameters():
    for task in TASKSET_TASKS[:2]:
        cs = load_taskset(task, path=DATA)
        assert len(cs) == 1000
        assert cs[0].steps[:3].tolist() == [0.0, 200.0, 400.0] and len(cs[0]) == 51
        assert set(cs[0].hp) >= {"learning_rate", "beta1", "beta2"}
    with pytest.raises(InputError, match="no TaskSet task"):
        load_taskset("nope", path=DATA)


def test_nasbench_nlp_marks_runs_the_log_says_diverged():
    cs = load_nasbench_nlp(DATA)
    assert len(cs) == 345 and len(set(cs.runs)) == 345
    diverged = [c for c in cs if c.status == "diverged"]
    assert len(diverged) == 4
    assert all(c.meta["status"] != "OK" for c in diverged)
    ok = [c for c in cs if c.status == "ok"]
    assert {len(c) for c in ok} == {50} and ok[0].hp["num_params"] > 0


def test_cifar10_cnn():
    cs = load_cifar10_cnn(DATA)
    assert len(cs) == 265 and {len(c) for c in cs} == {40}
    v = np.concatenate([c.values for c in cs])
    assert ((v >= 0) & (v <= 1)).all()  # validation error
    assert "log10_learning_rate" in cs[0].hp


def test_datablations_language_model_runs():
    cs = load_datablations(DATA)
    assert len(cs) == 48 and len(set(cs.runs)) == 48
    assert all(c.status == "ok" and len(c) >= 60 for c in cs)
    c = cs["2.8B-c4-44ep"]
    assert c.hp == {"params": "2.8B", "data": "c4", "epochs": 44, "tokens_per_epoch": 1.25e9}
    # 44 epochs of the same data: validation loss ends above its minimum (overfitting)
    assert c.values[-1] > c.values.min() + 0.1 and c.steps[-1] > 5e10


def test_pythia_accuracy_per_checkpoint_from_step_0():
    cs = load_pythia(tasks="arc_easy", path=DATA)
    assert len(cs) == 16 and {c.goal for c in cs} == {"max"}
    c = cs["pythia-12b/arc_easy"]
    assert c.steps[0] == 0 and c.steps[-1] == 143000 and len(c) == 27
    assert c.values[-1] > c.values[0] + 0.2  # learns well past chance
    assert len(load_pythia(path=DATA)) == 1040


def test_data_dir_explains_where_to_put_the_data(tmp_path, monkeypatch):
    assert data_dir(DATA) == DATA.resolve()
    monkeypatch.setenv("CURVECAST_DATA", str(DATA))
    assert data_dir() == DATA.resolve()
    for load in (load_nasbench_nlp, load_cifar10_cnn, lambda p: load_taskset(path=p),
                 load_datablations, lambda p: load_pythia(path=p)):
        with pytest.raises(InputError, match="not found"):
            load(tmp_path)
