"""ForecastStopping with Lightning: a real network trained on the digits on CPU."""

from __future__ import annotations

import csv
import math

import pytest
from conftest import need_module

need_module("lightning", "lightning")

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.loggers import CSVLogger
from loops_data import EPOCHS, TARGET, digits
from torch.utils.data import DataLoader, TensorDataset

from curvecast.integrations.lightning import ForecastStopping


class Net(LightningModule):
    def __init__(self, lr: float) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.lr = lr
        self.net = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(),
                                       torch.nn.Linear(64, 10))

    def training_step(self, batch, _):
        x, y = batch
        return torch.nn.functional.cross_entropy(self.net(x), y)

    def validation_step(self, batch, _):
        x, y = batch
        self.log("val_loss", torch.nn.functional.cross_entropy(self.net(x), y))

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr)


def fit(tmp_path, shuffled: bool, epochs: int = EPOCHS, **kwargs):
    xt, yt, xv, yv = digits(shuffled)
    train = DataLoader(TensorDataset(torch.from_numpy(xt), torch.from_numpy(yt)),
                       batch_size=100, shuffle=True, generator=torch.Generator().manual_seed(0))
    val = DataLoader(TensorDataset(torch.from_numpy(xv), torch.from_numpy(yv)), batch_size=600)
    stop = ForecastStopping(**{"monitor": "val_loss", "target": TARGET, **kwargs})
    logger = CSVLogger(tmp_path, name="run")
    trainer = Trainer(max_epochs=epochs, callbacks=[stop], logger=logger, accelerator="cpu",
                      enable_progress_bar=False, enable_model_summary=False,
                      enable_checkpointing=False, log_every_n_steps=1)
    trainer.fit(Net(lr=3e-3), train, val)
    with open(logger.log_dir + "/metrics.csv") as f:
        rows = list(csv.DictReader(f))
    return trainer, stop, rows


def forecasts(rows: list[dict]) -> list[tuple[int, float, float, float]]:
    return [(int(r["step"]), float(r["forecast/median"]), float(r["forecast/lower"]),
             float(r["forecast/upper"])) for r in rows if r.get("forecast/median")]


def test_a_hopeless_run_is_stopped_early_and_its_forecast_logged(tmp_path):
    trainer, stop, rows = fit(tmp_path, shuffled=True)
    assert trainer.current_epoch < EPOCHS // 2, "stopped before half its budget"
    assert stop.judgement.stop and stop.judgement.decision.reason == "cannot_win"
    assert stop.stopped_step == trainer.global_step
    logged = forecasts(rows)
    assert logged, "the forecast is in the logger's metrics.csv"
    step, median, lower, upper = logged[-1]
    assert step == trainer.global_step and lower <= median <= upper
    assert median > 3 * TARGET  # heading for ~2.3, far above the target


def test_a_good_run_goes_on_to_its_budget(tmp_path):
    trainer, stop, rows = fit(tmp_path, shuffled=False)
    assert trainer.current_epoch == EPOCHS and stop.stopped_step is None
    val = [float(r["val_loss"]) for r in rows if r.get("val_loss")]
    assert val[-1] < TARGET
    d = stop.judgement.decision
    assert not d.stop and d.prob_better > 0.5 and d.final_step == trainer.global_step
    eta = [float(r["forecast/eta"]) for r in rows if r.get("forecast/eta")]
    assert eta and all(math.isfinite(e) for e in eta[-3:])


def test_a_converged_run_is_stopped_by_min_gain(tmp_path):
    trainer, stop, _ = fit(tmp_path, shuffled=False, min_gain=0.05)
    assert trainer.current_epoch < EPOCHS and stop.judgement.decision.reason == "converged"


def test_bad_arguments():
    with pytest.raises(ValueError, match="risk"):
        ForecastStopping(risk=1.5)
    with pytest.raises(ValueError, match="mode"):
        ForecastStopping(mode="up")


def test_a_metric_never_logged_is_an_error_unless_not_strict(tmp_path):
    with pytest.raises(RuntimeError, match="could not find the metric 'val_acc'.*val_loss"):
        fit(tmp_path, shuffled=False, epochs=1, monitor="val_acc")
    trainer, stop, _ = fit(tmp_path, shuffled=False, epochs=2, monitor="val_acc",
                           strict=False)
    assert trainer.current_epoch == 2 and stop.judgement is None
