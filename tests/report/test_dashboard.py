"""The live dashboard without a browser: its state (report/live.py) read from a real
SQLite study that ForecastPruner pruned, its server (report/server.py) over real HTTP,
and the CLI's refusals. tests/report/test_browser.py drives the page in headless Chromium."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import optuna
import pytest

from curvecast.cli import main
from curvecast.report.live import LiveStudy
from curvecast.report.server import DashboardServer

WORKER = Path(__file__).parents[1] / "distributed_worker.py"
N_TRIALS = 10


@pytest.fixture(scope="module")
def study_db(tmp_path_factory) -> str:
    """A SQLite study of N_TRIALS bundled runs with ForecastPruner (trial 0 named in HTML)."""
    path = tmp_path_factory.mktemp("dash") / "study.db"
    url = f"sqlite:///{path}"
    subprocess.run([sys.executable, str(WORKER), url, "s", str(N_TRIALS),
                    str(path.with_suffix(".log")), "--hostile"], check=True, timeout=300)
    return url


def _db_bytes(url: str) -> bytes:
    return Path(url.removeprefix("sqlite:///")).read_bytes()


def test_state_has_every_trial_its_forecast_and_decision(study_db):
    before = _db_bytes(study_db)
    live = LiveStudy(study_db, "s", target=5.2)
    s = live.snapshot()
    study = optuna.load_study(study_name="s", storage=study_db)
    trials = study.get_trials()
    assert [r["number"] for r in s["trials"]] == [t.number for t in trials]
    assert s["counts"] == {"COMPLETE": sum(t.state.name == "COMPLETE" for t in trials),
                           "PRUNED": sum(t.state.name == "PRUNED" for t in trials)}
    assert s["final_step"] == max(t.last_step for t in trials if t.state.name == "COMPLETE")
    assert s["best"]["value"] == study.best_value
    pruned = [r for r in s["trials"] if r["state"] == "PRUNED"]
    assert pruned and all(r["decision"].startswith("pruned at step") for r in pruned)
    assert all(r["value"] is None for r in pruned)  # a pruned trial has no final value
    # Every pruned trial with enough points to fit is forecast to the final step.
    fit = [r for r in pruned if r["points"] >= 3]
    assert fit and all(r["forecast"] is not None for r in fit)
    assert all(r["forecast"]["lower"] <= r["forecast"]["median"] <= r["forecast"]["upper"]
               for r in fit)
    # Observed ETAs: a trial that got below the target says where; none else (not running).
    for r, t in zip(s["trials"], trials, strict=True):
        hit = [st for st, v in sorted(t.intermediate_values.items()) if v <= 5.2]
        assert r["eta"] == (float(hit[0]) if hit else None)
    assert s["trials"][0]["run"] == "<script>alert(1)</script>"  # raw: the page escapes it
    assert 0 < s["compute"]["fraction_saved"] < 1
    assert sum(len(c["x"]) for c in s["curves"].values()) == sum(
        len(t.intermediate_values) + 1 for t in trials)
    assert _db_bytes(study_db) == before  # read, never written


def test_fans_are_the_latest_pruned_and_best_completed_each_with_bands(study_db):
    s = LiveStudy(study_db, "s").snapshot()
    states = [f["state"] for f in s["fans"]]
    assert states == sorted(states, key=["RUNNING", "PRUNED", "COMPLETE"].index)
    assert states.count("COMPLETE") == 2 and 1 <= states.count("PRUNED") <= 4
    for f in s["fans"]:
        assert len(f["steps"]) == len(f["values"]) and f["yrange"][0] < f["yrange"][1]
        if f["fan"] is not None:
            lo95, hi95 = f["fan"]["bands"]["0.95"]
            lo50, hi50 = f["fan"]["bands"]["0.5"]
            assert all(a <= b <= c <= d for a, b, c, d in zip(lo95, lo50, hi50, hi95,
                                                               strict=True))
            assert f["fan"]["x"][0] == f["steps"][-1] and f["fan"]["x"][-1] == s["final_step"]


def test_state_changes_only_when_the_study_does(tmp_path, study_db):
    url = f"sqlite:///{tmp_path / 'copy.db'}"
    (tmp_path / "copy.db").write_bytes(_db_bytes(study_db))
    live = LiveStudy(url, "s")
    first = live.snapshot()
    assert live.snapshot()["version"] == first["version"]
    study = optuna.load_study(study_name="s", storage=url)
    trial = study.ask()
    trial.report(6.0, 1)
    trial.report(5.9, 2)
    trial.report(5.8, 3)
    s = live.snapshot()
    assert s["version"] == first["version"] + 1
    assert s["counts"]["RUNNING"] == 1 and s["fans"][0]["number"] == trial.number
    assert s["fans"][0]["fan"] is not None  # a running trial with 3 points is forecast
    # With a target it is close to (5.8 now, still falling): an ETA just ahead,
    # the same in its row and on its fan.
    s = LiveStudy(url, "s", target=5.75).snapshot()
    row = next(r for r in s["trials"] if r["number"] == trial.number)
    assert 3 < row["eta"] <= s["final_step"] and s["fans"][0]["eta"] == row["eta"]
    trial.report(5.7, 4)  # got there: the step where it did, not a forecast
    s = LiveStudy(url, "s", target=5.75).snapshot()
    assert next(r for r in s["trials"] if r["number"] == trial.number)["eta"] == 4


def test_no_final_step_means_no_forecast_and_says_why(tmp_path):
    url = f"sqlite:///{tmp_path / 'new.db'}"
    study = optuna.create_study(storage=url, study_name="new")
    trial = study.ask()
    for step, v in enumerate([1.0, 0.8, 0.7, 0.65]):
        trial.report(v, step)
    s = LiveStudy(url, "new").snapshot()
    assert s["final_step"] is None and s["fans"][0]["fan"] is None
    assert any("final step is unknown" in n for n in s["notes"])
    s = LiveStudy(url, "new", max_step=50).snapshot()  # told the final step: forecast
    assert s["final_step"] == 50 and s["fans"][0]["fan"]["x"][-1] == 50


def test_empty_study_serves(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    optuna.create_study(storage=url, study_name="empty")
    s = LiveStudy(url, "empty").snapshot()
    assert s["trials"] == [] and s["fans"] == [] and s["yrange"] is None


@pytest.fixture(scope="module")
def server(study_db):
    srv = DashboardServer(LiveStudy(study_db, "s"), port=0, refresh=0.2)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.close()


def _get(url: str, method: str = "GET", host: str | None = None):
    req = urllib.request.Request(url, method=method, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_server_serves_page_scripts_and_state(server):
    status, headers, body = _get(server.url)
    assert status == 200 and b'<script src="/static/dashboard.js">' in body
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    for path in ("static/dashboard.js", "static/plotly.min.js"):
        status, headers, body = _get(server.url + path)
        assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    status, headers, body = _get(server.url + "api/state")
    assert status == 200 and headers["Cache-Control"] == "no-store"
    state = json.loads(body)
    assert state["study"] == "s" and len(state["trials"]) == N_TRIALS
    assert b"<script>" not in body  # JSON written inert (\u003c)
    # A page that has this version gets a short answer, not the whole state again.
    status, _, short = _get(server.url + f"api/state?since={state['version']}")
    assert json.loads(short) == {"version": state["version"], "checked": json.loads(short)[
        "checked"], "error": None, "unchanged": True} and len(short) < 200
    whole = json.loads(_get(server.url + "api/state?since=0")[2])
    assert whole.pop("checked") >= state.pop("checked") and whole == state


def test_server_is_read_only_and_local(server):
    assert server.server_address[0] == "127.0.0.1"
    for method in ("POST", "PUT", "DELETE"):
        assert _get(server.url + "api/state", method)[0] == 501
    assert _get(server.url + "nothing")[0] == 404
    # A page elsewhere reaching us through DNS rebinding sends its own Host: refused.
    assert _get(server.url + "api/state", host="attacker.example:80")[0] == 403
    assert _get(server.url, host=f"localhost:{server.server_address[1]}")[0] == 200


def _free_port_taken():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    return sock


@pytest.mark.parametrize("args, words", [
    (["--storage", "sqlite:///{dir}/missing.db", "--study", "s"], "no such SQLite file"),
    (["--storage", "{db}", "--study", "nope"], "no study 'nope'"),
    (["--storage", "postgresql+psycopg2://u:secret@/x?host=/nonexistent", "--study", "s"],
     "cannot read the Optuna storage"),
    (["--storage", "{db}", "--study", "s", "--port", "{busy}"], "cannot serve on"),
    (["--storage", "{db}"], "Missing option '--study'"),
])
def test_cli_refuses_bad_input_with_exit_2(study_db, tmp_path, capsys, args, words):
    busy = _free_port_taken()
    fill = {"dir": tmp_path, "db": study_db, "busy": busy.getsockname()[1]}
    try:
        with pytest.raises(SystemExit) as exc:
            main(["dashboard", *[a.format(**fill) for a in args]])
    finally:
        busy.close()
    err = capsys.readouterr().err
    assert exc.value.code == 2 and words in err and "secret" not in err
    assert not (tmp_path / "missing.db").exists()


def test_journal_file_is_read_not_written(tmp_path):
    """journal:PATH (Optuna's JournalStorage on a file, as on NFS): read as it is."""
    journal = tmp_path / "sweep.log"
    subprocess.run([sys.executable, str(WORKER), f"journal:{journal}", "j", "6",
                    str(tmp_path / "w.log")], check=True, timeout=300)
    before = journal.read_bytes()
    s = LiveStudy(f"journal:{journal}", "j").snapshot()
    assert len(s["trials"]) == 6 and s["counts"].get("COMPLETE", 0) >= 1
    assert journal.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep.log", "w.log"]  # no lock left
    with pytest.raises(SystemExit) as exc:
        main(["dashboard", "--storage", f"journal:{tmp_path / 'missing.log'}", "--study", "j"])
    assert exc.value.code == 2 and not (tmp_path / "missing.log").exists()


def test_maximised_study_ranks_up_and_multi_objective_is_refused(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'acc.db'}"
    study = optuna.create_study(storage=url, study_name="acc", direction="maximize")
    for final in (0.7, 0.9, 0.8):
        t = study.ask()
        for step in range(1, 11):
            t.report(final * (1 - 0.5 ** step), step)
        study.tell(t, final * (1 - 0.5 ** 10))
    s = LiveStudy(url, "acc").snapshot()
    assert s["goal"] == "max" and s["best"]["trial"] == 1
    assert [f["number"] for f in s["fans"]] == [1, 2]  # the 2 best completed, best first
    optuna.create_study(storage=url, study_name="two", directions=["minimize", "maximize"])
    with pytest.raises(SystemExit) as exc:
        main(["dashboard", "--storage", url, "--study", "two"])
    assert exc.value.code == 2 and "2 objectives" in capsys.readouterr().err


def test_pruned_trials_show_the_forecast_their_stop_rested_on(study_db):
    """What was decided is what is shown: a trial ForecastPruner stopped is shown with the
    recorded forecast (row and fan), never re-forecast."""
    from curvecast.io.optuna import read_decision

    s = LiveStudy(study_db, "s").snapshot()
    trials = optuna.load_study(study_name="s", storage=study_db).get_trials()
    recorded = {t.number: read_decision(t) for t in trials if t.state.name == "PRUNED"
                and read_decision(t).median is not None}
    assert recorded
    rows = {r["number"]: r for r in s["trials"]}
    for number, d in recorded.items():
        row = rows[number]
        assert row["forecast"] == {"median": d.median, "lower": d.lower, "upper": d.upper}
        assert row["forecast_source"] == f"recorded at step {d.step}"
    fans = [f for f in s["fans"] if f["number"] in recorded]
    assert fans
    for f in fans:
        d = recorded[f["number"]]
        assert f["fan"] is None and f["forecast_source"] == f"forecast recorded at step {d.step}"
        r = f["recorded"]
        assert (r["step"], r["final_step"], r["median"], r["lower"], r["upper"]) == (
            d.step, d.final_step, d.median, d.lower, d.upper)
        assert r["best"] == d.incumbent and r["prob_better"] == d.prob_better
        assert r["value"] == f["values"][-1]  # from the last value it saw
        assert f["yrange"][0] <= min(d.lower, d.incumbent) and f["yrange"][1] >= d.upper


def test_run_names_and_integer_parameters_from_a_replayed_study(tmp_path):
    """The replay records run names and integer hyperparameters as integers: the table
    shows them so; another pruner's stopped trial is re-forecast, labelled so."""
    from curvecast.demo import sample_curves
    from curvecast.evaluate.replay import replay_study

    url = f"sqlite:///{tmp_path / 'r.db'}"
    runs = list(sample_curves())[:6]
    replay_study(runs, optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=5),
                 storage=url, study_name="r")
    s = LiveStudy(url, "r", method="last").snapshot()
    for row, run in zip(s["trials"], runs, strict=True):
        assert row["run"] == run.run
        assert row["params"]["num_params"] == str(run.hp["num_params"])  # no ".0"
        if row["state"] == "PRUNED" and row["forecast"] is not None:
            assert row["forecast_source"] == "re-forecast by last"
    pruned = [f for f in s["fans"] if f["state"] == "PRUNED"]
    assert pruned and all(f["recorded"] is None for f in pruned)
    assert all(f["forecast_source"] in (None, "re-forecast by last") for f in pruned)
