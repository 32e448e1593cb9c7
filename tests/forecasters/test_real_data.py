"""End-to-end checks on real learning curves from ../shared/data.

Each test shows the forecaster the first part of real training runs and compares its
forecast of the final value with how the runs really ended. The bar is the one a user
cares about: better than assuming the run ends where it is now (the last value seen),
with intervals that cover about as often as they claim.

Data (see ../shared/data/README.md): NAS-Bench-NLP WikiText-2 logs (Apache-2.0),
TaskSet (Apache-2.0), CIFAR-10 CNN curves of Klein et al. 2017 (tests only).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import SHARED_DATA, need

from curvecast import Curve, CurveSet, EnsembleForecaster
from curvecast.cli import main
from curvecast.datasets import load_cifar10_cnn, load_nasbench_nlp, load_taskset
from curvecast.io import read_curves, write_long

DATA = SHARED_DATA
NASBENCH = DATA / "nasbench_nlp_wt2" / "train_logs_wikitext-2" / "logs.zip"
TASKSET = DATA / "taskset" / "FixedTextRNNClassification_imdb_patch32_GRU128_bs128.json"
CIFAR = DATA / "cnn_cifar10"

pytestmark = pytest.mark.slow


def abs_errors(median, last, truth, mask):
    return np.abs(median - truth)[mask], np.abs(last - truth)[mask]


# --------------------------------------------------------------------------- NAS-Bench-NLP


def nasbench_curves() -> list[Curve]:
    """Validation log-perplexity vs epoch (1..50) of every architecture."""
    need(NASBENCH)
    return list(load_nasbench_nlp(DATA))


def test_nasbench_nlp_final_from_first_20_percent():
    full = nasbench_curves()
    assert len(full) == 345
    seen = [c.head(min(10, len(c))) for c in full]  # epochs 1..10 of 50
    fc = EnsembleForecaster().forecast(seen, 50)
    med = fc.median[:, 0]
    lo, hi = fc.interval(0.8, axis=0)[:, :, 0]
    qs = fc.quantiles([0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99])[:, 0, :]

    status = np.array([s.status for s in seen])
    ok = status == "ok"
    # runs that diverged within the first 10 epochs: diverged, no forecast, no crash
    diverged = status == "diverged"
    assert diverged.sum() >= 2
    assert np.isnan(med[diverged]).all() and np.isnan(qs[diverged]).all()
    assert not fc.valid[diverged].any()
    # every ok run gets finite, ordered quantiles
    assert ok.sum() >= 340 and fc.valid[ok].all()
    assert np.isfinite(qs[ok]).all()
    assert (np.diff(qs[ok], axis=1) >= 0).all()

    # score on the runs that trained all 50 epochs
    truth = np.array([c.values[-1] if len(c) == 50 and c.status == "ok" else np.nan for c in full])
    last = np.array([np.nan if s.last is None else s.last for s in seen])
    scored = ok & np.isfinite(truth)
    assert scored.sum() == 341
    err_f, err_l = abs_errors(med, last, truth, scored)
    assert np.median(err_f) < np.median(err_l)
    cover = np.mean((lo <= truth)[scored] & (truth <= hi)[scored])
    assert 0.6 <= cover <= 1.0


def test_nasbench_nlp_early_stopped_runs_keep_their_forecast():
    """A run that stopped (diverged) after epoch 10 was ok when seen: it is forecast."""
    full = {c.run: c for c in nasbench_curves()}
    stopped = [c for c in full.values() if c.status == "diverged" and c.diverged_at > 10]
    assert stopped, "expected runs that diverged after epoch 10"
    fc = EnsembleForecaster().forecast([c.head(10) for c in stopped], 50)
    assert fc.valid.all() and np.isfinite(fc.median).all()


# --------------------------------------------------------------------------- TaskSet


def cli_json(capsys, *args) -> tuple[int, dict]:
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        code = 0 if exc.code is None else exc.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, json.loads(out)


def test_taskset_cli_forecast_from_first_10_steps(capsys, tmp_path):
    need(TASKSET)
    runs = load_taskset(path=DATA)
    assert len(runs) == 1000
    # 199 runs plus the one run of this task whose validation loss diverges
    bad = [c.run for c in runs if c.status == "diverged"]
    assert bad, "expected a diverging run in this TaskSet task"
    picked = [c for c in runs[:199]] + [runs[bad[0]]]
    full_path, head_path = tmp_path / "full.csv", tmp_path / "head.csv"
    write_long(CurveSet(picked), full_path)
    write_long(CurveSet([c.head(10) for c in picked]), head_path)
    full = read_curves(full_path)
    head = read_curves(head_path)
    assert len(full) == len(head) == 200
    assert head[runs[0].run].hp == {h: pytest.approx(v) for h, v in runs[0].hp.items()}
    assert head.max_step == 1800

    code, data = cli_json(capsys, "forecast", head_path, "--at", 10000, "--json")
    assert code == 0
    rows = {r["run"]: r for r in data["runs"]}
    assert set(rows) == set(full.runs)  # every run has a row
    assert {r["status"] for r in rows.values()} <= {"ok", "diverged"}
    assert rows[bad[0]]["status"] == "diverged"
    assert rows[bad[0]]["median"] is None
    assert all(r["at"] == 10000 for r in rows.values())

    def col(key: str) -> np.ndarray:
        return np.array([np.nan if rows[r][key] is None else rows[r][key] for r in rows])

    truth = np.array([full[r].values[-1] for r in rows])
    med, last, lo, hi = col("median"), col("last"), col("lower"), col("upper")
    scored = np.isfinite(truth) & np.isfinite(med)
    assert scored.sum() >= 190
    err_f, err_l = abs_errors(med, last, truth, scored)
    assert np.median(err_f) < np.median(err_l)
    cover = np.mean((lo <= truth)[scored] & (truth <= hi)[scored])
    assert 0.6 <= cover <= 1.0


# --------------------------------------------------------------------------- CIFAR-10 CNN


def test_cifar10_cnn_final_error_from_first_25_percent():
    need(CIFAR)
    full = list(load_cifar10_cnn(DATA))
    assert len(full) == 265
    assert {len(c) for c in full} == {40}
    seen = [c.head(10) for c in full]  # 25% of 40 epochs
    fc = EnsembleForecaster().forecast(seen, 40)
    assert fc.valid.all()
    med = fc.median[:, 0]
    lo, hi = fc.interval(0.8, axis=0)[:, :, 0]
    truth = np.array([c.values[-1] for c in full])
    last = np.array([s.last for s in seen])
    scored = np.ones(len(full), bool)
    err_f, err_l = abs_errors(med, last, truth, scored)
    assert np.median(err_f) < np.median(err_l)
    assert np.isfinite(fc.quantiles([0.05, 0.5, 0.95])).all()
    # validation error lies in [0, 1]: the forecast's floor at 0 keeps lower ends there
    assert (lo >= 0).all()
    cover = np.mean((lo <= truth) & (truth <= hi))
    assert 0.6 <= cover <= 1.0
