"""ForecastStopping with Keras 3 on the torch backend: a real network trained on the
digits on CPU."""

from __future__ import annotations

import csv
import math
import os

import pytest
from conftest import need_module

need_module("keras", "keras")
os.environ.setdefault("KERAS_BACKEND", "torch")  # curvecast[keras] brings torch, not TensorFlow

import keras
from loops_data import EPOCHS, TARGET, digits

from curvecast.integrations.keras import ForecastStopping

# Keras' torch backend converts tensors with a numpy 1 idiom, once per batch
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def fit(tmp_path, shuffled: bool):
    xt, yt, xv, yv = digits(shuffled)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(10)])
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    stop = ForecastStopping(target=TARGET)
    log = tmp_path / "log.csv"
    history = model.fit(xt, yt, validation_data=(xv, yv), epochs=EPOCHS, batch_size=100,
                        callbacks=[stop, keras.callbacks.CSVLogger(str(log))], verbose=0)
    with open(log) as f:
        return history, stop, list(csv.DictReader(f))


def test_a_hopeless_run_is_stopped_early_and_its_forecast_logged(tmp_path):
    history, stop, rows = fit(tmp_path, shuffled=True)
    epochs = len(history.history["val_loss"])
    assert epochs < EPOCHS // 2 and stop.stopped_epoch == epochs
    assert stop.judgement.decision.reason == "cannot_win"
    medians = history.history["forecast_median"]
    assert len(medians) == epochs and math.isnan(medians[0]) and medians[-1] > 3 * TARGET
    assert len(rows) == epochs and float(rows[-1]["forecast_median"]) == medians[-1]
    assert float(rows[-1]["forecast_lower"]) <= medians[-1] <= float(rows[-1]["forecast_upper"])


def test_a_good_run_goes_on_to_its_budget(tmp_path):
    history, stop, rows = fit(tmp_path, shuffled=False)
    assert len(history.history["val_loss"]) == EPOCHS and stop.stopped_epoch is None
    assert history.history["val_loss"][-1] < TARGET
    d = stop.judgement.decision
    assert not d.stop and d.prob_better > 0.5 and d.final_step == EPOCHS
    assert math.isfinite(float(rows[-1]["forecast_eta"]))
