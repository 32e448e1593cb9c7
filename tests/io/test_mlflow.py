"""MLflow stores written by mlflow itself read back as the curves logged, every point."""

from __future__ import annotations

import json

import pytest
from conftest import need_module

need_module("mlflow", "mlflow")

import mlflow
from mlflow.entities import Metric

from curvecast.errors import InputError
from curvecast.io.mlflow import is_mlflow_store, read_mlflow


def loss(lr: float, step: int) -> float:
    return 0.2 + lr + 1.0 / (1 + lr * 50 * step)


def log_sweep(uri: str, monkeypatch, steps: int = 40) -> dict[str, list[float]]:
    """Three runs of experiment 'sweep' (one resumed: a step logged again), one of
    'other'; what was logged, as the reader should give it back."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 refuses mlruns/ else
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("sweep")
    logged = {}
    for lr in (0.1, 0.03, 0.01):
        with mlflow.start_run(run_name=f"lr{lr}"):
            mlflow.log_params({"lr": lr, "layers": 2, "optimizer": "adam"})
            for s in range(steps):
                mlflow.log_metric("val_loss", loss(lr, s), step=s)
                mlflow.log_metric("train_loss", loss(lr, s) - 0.1, step=s)
            if lr == 0.01:
                mlflow.log_metric("val_loss", -1.0, step=steps // 2)  # resumed: logged again
            logged[f"lr{lr}"] = [loss(lr, s) for s in range(steps)]
            if lr == 0.01:
                logged["lr0.01"][steps // 2] = -1.0
    mlflow.set_experiment("other")
    with mlflow.start_run(run_name="lone"):
        mlflow.log_metric("acc", 0.5, step=0)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE")  # the reader must open it by itself
    return logged


def test_a_tracking_directory_gives_back_every_curve_logged(tmp_path, monkeypatch):
    store = tmp_path / "mlruns"
    logged = log_sweep(store.as_uri(), monkeypatch)
    assert is_mlflow_store(store) and not is_mlflow_store(tmp_path)
    curves = read_mlflow(store, experiment="sweep", metric="val_loss")
    assert sorted(c.run for c in curves) == sorted(logged)
    for c in curves:
        assert c.steps.tolist() == list(range(40))
        assert c.values.tolist() == pytest.approx(logged[c.run], rel=1e-12)
        assert c.hp == {"lr": float(c.run[2:]), "layers": 2, "optimizer": "adam"}
        assert c.meta["status"] == "FINISHED" and c.meta["experiment"] == "sweep"
    assert [c.run for c in read_mlflow(store.as_uri(), experiment="other")] == ["lone"]


def test_every_point_of_a_long_history(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    store = tmp_path / "mlruns"
    client = mlflow.MlflowClient(store.as_uri())
    exp = client.create_experiment("long")
    run = client.create_run(exp, run_name="long")
    n = 12_000  # beyond TensorBoard's default 10,000 and MLflow's pages of 1,000 runs
    for start in range(0, n, 1000):
        client.log_batch(run.info.run_id, metrics=[
            Metric("loss", 1.0 / (1 + s), 1_000_000 + s, s) for s in range(start, start + 1000)])
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE")
    (curve,) = read_mlflow(store)
    assert len(curve) == n and curve.values[-1] == pytest.approx(1.0 / n)


def test_what_the_store_holds_is_named_when_the_choice_is_wrong(tmp_path, monkeypatch):
    store = tmp_path / "mlruns"
    log_sweep(store.as_uri(), monkeypatch, steps=5)
    with pytest.raises(InputError, match="2 experiments with runs.*'other', 'sweep'"):
        read_mlflow(store, metric="val_loss")
    with pytest.raises(InputError, match="no experiment 'nope'.*'sweep'"):
        read_mlflow(store, experiment="nope")
    with pytest.raises(InputError, match="log 2 metrics.*train_loss, val_loss"):
        read_mlflow(store, experiment="sweep")
    with pytest.raises(InputError, match="no run .* logged metric 'acc'"):
        read_mlflow(store, experiment="sweep", metric="acc")


@pytest.mark.slow  # MLflow creates its SQLite schema with 40-odd migrations (~20 s)
def test_an_mlflow_db_file(tmp_path, monkeypatch):
    db = tmp_path / "mlflow.db"
    logged = log_sweep(f"sqlite:///{db}", monkeypatch, steps=6)
    curves = read_mlflow(db, experiment="sweep", metric="val_loss")
    assert sorted(c.run for c in curves) == sorted(logged)
    for c in curves:
        assert c.values.tolist() == pytest.approx(logged[c.run], rel=1e-12)


def curvecast(capsys, *args) -> tuple[int, str, str]:
    from curvecast.cli import main

    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return (0 if code is None else code), out, err


def test_the_command_line_reads_a_tracking_directory(tmp_path, monkeypatch, capsys):
    store = tmp_path / "mlruns"
    logged = log_sweep(store.as_uri(), monkeypatch, steps=12)
    code, out, err = curvecast(capsys, "forecast", store, "--experiment", "sweep",
                               "--metric", "val_loss", "--at", 50, "--json")
    assert code == 0, err
    rows = {r["run"]: r for r in json.loads(out)["runs"]}
    assert sorted(rows) == sorted(logged) and rows["lr0.1"]["n_points"] == 12
    assert rows["lr0.1"]["last"] == pytest.approx(logged["lr0.1"][-1])
    code, out, err = curvecast(capsys, "backtest", store, "--experiment", "sweep",
                               "--metric", "val_loss", "--methods", "last", "--json")
    assert code == 0, err
    code, out, err = curvecast(capsys, "report", store, "--experiment", "sweep",
                               "--metric", "val_loss", "-o", tmp_path / "r.html")
    assert code == 0 and (tmp_path / "r.html").stat().st_size > 10_000, err
    code, out, err = curvecast(capsys, "forecast", store, "--experiment", "nope",
                               "--metric", "val_loss", "--at", 50)
    assert code == 2 and err.count("\n") == 1 and "no experiment 'nope'" in err
    assert "Traceback" not in err


def test_the_command_line_takes_a_tracking_uri(tmp_path, monkeypatch, capsys):
    store = tmp_path / "mlruns"
    logged = log_sweep(store.as_uri(), monkeypatch, steps=8)
    uri = store.as_uri()  # file:///...: a Path would make it file:/...
    code, out, err = curvecast(capsys, "forecast", uri, "--experiment", "sweep",
                               "--metric", "val_loss", "--method", "last", "--json")
    assert code == 0, err
    rows = {r["run"]: r for r in json.loads(out)["runs"]}
    assert sorted(rows) == sorted(logged) and rows["lr0.1"]["n_points"] == 8
    assert rows["lr0.03"]["last"] == pytest.approx(logged["lr0.03"][-1])
    code, out, err = curvecast(capsys, "replay", uri, "--experiment", "sweep", "--metric",
                               "val_loss", "--pruners", "nop", "--trials", 3, "--repeats", 1,
                               "--json")
    assert code == 0, err
    assert json.loads(out)["results"][0]["compute_fraction"]["mean"] == pytest.approx(1.0)
    code, out, err = curvecast(capsys, "backtest", uri, "--experiment", "sweep", "--metric",
                               "val_loss", "--methods", "last", "--cutoffs", 0.5, "--json")
    assert code == 0, err
    for missing in ((tmp_path / "none").as_uri(), f"sqlite:///{tmp_path / 'none.db'}"):
        code, out, err = curvecast(capsys, "forecast", missing, "--metric", "val_loss")
        assert code == 2 and err.count("\n") == 1 and "no MLflow tracking directory" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlruns"]  # MLflow made no store


def test_a_server_that_is_not_running_is_one_line_and_quick(capsys):
    import os
    import socket
    import time

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.perf_counter()
    code, out, err = curvecast(capsys, "forecast", f"http://127.0.0.1:{port}", "--experiment",
                               "sweep", "--metric", "val_loss", "--method", "last")
    elapsed = time.perf_counter() - t0
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert f"http://127.0.0.1:{port}" in err and "cannot read the MLflow store" in err
    assert "Connection refused" in err and "Traceback" not in err
    assert elapsed < 20  # MLflow's own retries wait about four minutes
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ  # set for the read only


def test_a_database_that_is_not_mlflows_is_left_alone(tmp_path):
    import sqlite3

    import optuna

    db = tmp_path / "study.db"
    optuna.create_study(storage=f"sqlite:///{db}", study_name="s")
    before = db.read_bytes()
    with pytest.raises(InputError, match="without MLflow's tables"):
        read_mlflow(db)
    assert db.read_bytes() == before  # no MLflow table created in it
    (tmp_path / "junk.db").write_text("not a database")
    with pytest.raises(InputError, match="not an SQLite database"):
        read_mlflow(tmp_path / "junk.db")
    with sqlite3.connect(db) as conn:
        assert "runs" not in {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
