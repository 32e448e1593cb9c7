"""ForecastStoppingCallback with the Hugging Face Trainer: a real network trained on the
digits on CPU."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
from conftest import need_module

need_module("transformers", "transformers")

import torch
from loops_data import EPOCHS, TARGET, digits

# tests/ is on sys.path, and its folder datasets/ would pass for Hugging Face's datasets
# library in transformers' (cached) check for it: check again without it, whoever
# imported transformers first (the doctests of curvecast.integrations.transformers).
_TESTS = Path(__file__).resolve().parents[1]
_path = sys.path[:]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _TESTS]
try:
    from transformers import Trainer, TrainingArguments
    from transformers.utils.import_utils import is_datasets_available

    is_datasets_available.cache_clear()
    is_datasets_available()
finally:
    sys.path[:] = _path

from curvecast.integrations.transformers import ForecastStoppingCallback


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(),
                                       torch.nn.Linear(64, 10))

    def forward(self, x, labels=None):
        logits = self.net(x)
        return {"loss": torch.nn.functional.cross_entropy(logits, labels), "logits": logits}


def rows(x, y) -> list[dict]:
    return [{"x": torch.from_numpy(a), "labels": int(b)} for a, b in zip(x, y, strict=True)]


def fit(tmp_path, shuffled: bool):
    xt, yt, xv, yv = digits(shuffled)
    args = TrainingArguments(
        str(tmp_path), eval_strategy="epoch", logging_strategy="epoch", save_strategy="no",
        num_train_epochs=EPOCHS, per_device_train_batch_size=100,
        per_device_eval_batch_size=600, learning_rate=3e-3, lr_scheduler_type="constant",
        report_to="none", use_cpu=True, disable_tqdm=True, seed=0, data_seed=0)
    stop = ForecastStoppingCallback(target=TARGET)
    trainer = Trainer(Net(), args, train_dataset=rows(xt, yt), eval_dataset=rows(xv, yv),
                      callbacks=[stop])
    trainer.train()
    return trainer, stop


def test_a_hopeless_run_is_stopped_early_and_its_forecast_logged(tmp_path):
    trainer, stop = fit(tmp_path, shuffled=True)
    assert trainer.state.epoch < EPOCHS / 2, "stopped before half its budget"
    assert stop.judgement.decision.reason == "cannot_win"
    assert stop.stopped_step == trainer.state.global_step < trainer.state.max_steps
    logged = [r for r in trainer.state.log_history if "eval_forecast_median" in r]
    assert logged and logged[-1]["step"] == trainer.state.global_step
    last = logged[-1]
    assert last["eval_forecast_lower"] <= last["eval_forecast_median"] <= last[
        "eval_forecast_upper"]
    assert last["eval_forecast_median"] > 3 * TARGET
    saved = tmp_path / "trainer_state.json"
    trainer.state.save_to_json(str(saved))  # the log as Trainer saves it with checkpoints
    history = json.loads(saved.read_text())["log_history"]
    assert [r for r in history if "eval_forecast_median" in r][-1] == pytest.approx(
        last, nan_ok=True)  # the ETA is NaN: the target is not reached by the last step


def test_a_good_run_goes_on_to_its_budget(tmp_path):
    trainer, stop = fit(tmp_path, shuffled=False)
    assert trainer.state.global_step == trainer.state.max_steps and stop.stopped_step is None
    evals = [r["eval_loss"] for r in trainer.state.log_history if "eval_loss" in r]
    assert len(evals) == EPOCHS and evals[-1] < TARGET
    d = stop.judgement.decision
    assert not d.stop and d.prob_better > 0.5 and d.final_step == trainer.state.max_steps
    metrics = trainer.evaluate()
    assert math.isfinite(metrics["eval_forecast_eta"]) and "eval_forecast_median" in metrics
