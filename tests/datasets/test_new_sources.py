"""Loaders of the two newer real sources: OPDA's ImageNet sweeps and HPO-RL-Bench's PPO on
Pong (../shared/data/opda_imagenet, rl_ppo_pong; see their README.txt)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import require

from curvecast.datasets import load_opda, load_ppo_pong
from curvecast.datasets.opda import OPDA_FILES
from curvecast.errors import InputError


@pytest.fixture(scope="module")
def opda_dir(shared_data):
    if not (shared_data / "opda_imagenet").is_dir():
        require(f"OPDA data missing: {shared_data / 'opda_imagenet'}")
    return shared_data


@pytest.mark.parametrize("model, ok, diverged", [("alexnet", 365, 147), ("convnext", 288, 224)])
def test_opda_sweeps_keep_budget_and_schedule_and_mark_nan_runs(opda_dir, model, ok, diverged):
    cs = load_opda(model, path=opda_dir)
    assert len(cs) == 512 and {c.goal for c in cs} == {"max"}
    assert [c.status for c in cs].count("ok") == ok
    assert [c.status for c in cs].count("diverged") == diverged
    lines = (opda_dir / "opda_imagenet" / OPDA_FILES[model]).read_text().splitlines()
    raw = [json.loads(line) for line in lines]
    for c, r in zip(cs, raw, strict=True):
        assert c.run == f"{model}-{r['iteration']:03d}"
        assert c.hp["epochs"] == r["epochs"] and c.hp["lr_peak_epoch"] == r["lr_peak_epoch"]
        curve = r["learning_curve"]
        n = len(curve)
        # values unchanged; step = epochs trained (0-indexed epoch + 1)
        assert c.values[:n].tolist() == [p["top_1"] for p in curve]
        assert c.steps[:n].tolist() == [p["epoch"] + 1 for p in curve]
        if r["nan_train_loss"]:  # stopped where the loss became NaN: reads as diverged
            assert c.status == "diverged" and len(c) == n + 1 and np.isnan(c.values[-1])
        else:  # a finished run ends at its epoch budget
            assert c.status == "ok" and c.steps[-1] == r["epochs"] == n
    budgets = {c.hp["epochs"] for c in cs}
    assert min(budgets) >= 20 and max(budgets) <= 100 and len(budgets) > 50


def test_opda_other_metrics_and_bad_names(opda_dir):
    loss = load_opda("alexnet", metric="train_loss", path=opda_dir)
    assert loss[0].goal == "min" and loss[0].values[0] > loss[0].values[-1]
    with pytest.raises(InputError, match="no OPDA sweep of 'vgg'; known: alexnet, convnext"):
        load_opda("vgg", path=opda_dir)
    with pytest.raises(InputError, match="no metric 'top_10'"):
        load_opda(metric="top_10", path=opda_dir)


def test_ppo_pong_returns_at_irregular_timesteps(shared_data):
    if not (shared_data / "rl_ppo_pong").is_dir():
        require(f"PPO Pong data missing: {shared_data / 'rl_ppo_pong'}")
    cs = load_ppo_pong(path=shared_data)
    assert len(cs) == 324 and {len(c) for c in cs} == {100} and {c.goal for c in cs} == {"max"}
    c = cs["lr_-3_gamma_0.99_clip_0.2_seed1"]
    assert c.hp == {"learning_rate_log10": -3, "gamma": 0.99, "clip": 0.2, "seed": 1}
    v = np.concatenate([c.values for c in cs])
    assert v.min() == -21.0 and v.max() <= 21.0  # Pong's score range
    # irregular: the runs' timesteps differ, and steps within a run are not evenly spaced
    assert len({c.steps.tobytes() for c in cs}) == 324
    assert np.ptp(np.diff(c.steps)) > 0
    # noisy and non-monotone: most runs go down somewhere
    assert sum(bool((np.diff(c.values) < 0).any()) for c in cs) > 100


def test_missing_files_name_where_they_were_expected(tmp_path):
    with pytest.raises(InputError, match="opda_imagenet.*not found"):
        load_opda(path=tmp_path)
    with pytest.raises(InputError, match="rl_ppo_pong.*not found"):
        load_ppo_pong(path=tmp_path)
    with pytest.raises(InputError, match="not a folder"):
        load_ppo_pong(path=tmp_path / "nope")


def test_bad_opda_line_names_file_and_row(tmp_path):
    folder = tmp_path / "opda_imagenet"
    folder.mkdir()
    (folder / "alexnet-alexnet_tuning.results.jsonl").write_text('{"iteration": 1}\n')
    with pytest.raises(InputError, match=r"alexnet_tuning.results.jsonl, row 1: not an OPDA"):
        load_opda(path=tmp_path)
