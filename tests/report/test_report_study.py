"""The report of an Optuna study read from its storage: a real SQLite study made by
replaying the bundled sample under ForecastPruner (and one under MedianPruner), the
pruned trials' decisions on the page, the forecasts those decisions rested on drawn as
recorded (not re-forecast), the compute saved, and bad storages refused."""

from __future__ import annotations

import hashlib
import re
import sqlite3

import optuna
import pytest
from test_cli import cli
from test_report import assert_self_contained, figures, written

from curvecast.demo import sample_curves
from curvecast.evaluate.replay import replay_study
from curvecast.integrations.optuna import ATTR, ForecastPruner
from curvecast.io.optuna import read_decision
from curvecast.report.page import num

TRIALS = 10


@pytest.fixture(scope="module")
def storage(tmp_path_factory):
    """(URL, db path, the ForecastPruner study, the MedianPruner study)."""
    db = tmp_path_factory.mktemp("study") / "sweep.db"
    url = f"sqlite:///{db}"
    runs = list(sample_curves())[:TRIALS]
    forecast = replay_study(runs, ForecastPruner(), storage=url, study_name="sweep").study
    median = replay_study(runs, optuna.pruners.MedianPruner(n_startup_trials=2),
                          storage=url, study_name="median").study
    return url, db, forecast, median


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_study_report(tmp_path, capsys, storage):
    url, db, study, _ = storage
    trials = study.trials
    pruned = [t for t in trials if t.state == optuna.trial.TrialState.PRUNED]
    assert pruned and all(t.user_attrs[ATTR]["stop"] for t in pruned)
    first = pruned[0]
    before = digest(db)
    code, err, out = written(tmp_path, capsys, "--storage", url, "--study", "sweep",
                             "--method", "last", "--top", "2", "--runs", f"trial {first.number}",
                             "--pruned", "2")
    assert code == 0, err
    assert digest(db) == before  # read only
    html = out.read_text()
    assert_self_contained(html)
    # the same curve report: summary, then fans of the 2 best, the pruned one asked for and
    # the 2 pruned with the highest probability of beating the best when stopped
    figs = figures(html)
    closest = sorted(pruned, key=lambda t: -t.user_attrs[ATTR]["prob_better"])[:2]
    titles = [f["layout"]["title"]["text"] for f in figs[1:]]
    assert {f"trial {t.number}" for t in closest} | {f"trial {first.number}"} <= set(titles)
    assert len(figs) == 1 + len(set(titles)) and 3 <= len(titles) <= 5
    assert len(figs[0]["data"]) == 2
    recorded = {f"trial {t.number}" for t in pruned if read_decision(t).median is not None}
    for f in figs[1:]:  # a recorded forecast and the curve; or 3 bands, median and curve
        assert len(f["data"]) == (2 if f["layout"]["title"]["text"] in recorded else 5)
    assert html.count("<tr>") == len(trials) + 1 and "<th>decision</th>" not in html
    assert '<th class="text">decision</th>' in html
    # each pruned trial's decision: step, reason, probability, steps saved
    final = max(t.last_step for t in trials if t.state == optuna.trial.TrialState.COMPLETE)
    for t in pruned:
        rec = t.user_attrs[ATTR]
        text = (f"pruned at step {rec['step']}: {rec['reason']}, "
                f"P(better) {rec['prob_better']:.3g}, saved {final - rec['step']} steps")
        assert f"<td class=\"text\">{text}</td>" in html
    # ... and on the pruned trial's fan: a line at its step, the words above it
    fan = next(f for f in figs[1:] if f["layout"]["title"]["text"] == f"trial {first.number}")
    rec = first.user_attrs[ATTR]
    assert fan["layout"]["shapes"][0]["x0"] == rec["step"]
    assert fan["layout"]["annotations"][0]["text"].startswith(
        f"pruned at step {rec['step']}: {rec['reason']}")
    # the study-level line
    used = sum(t.user_attrs[ATTR]["step"] if t.number in {p.number for p in pruned}
               else t.last_step for t in trials)
    full = final * len(trials)
    line = re.search(r"(\d+) steps used of the (\d+) a study without pruning would have used "
                     rf"\({len(trials)} trials x {final} steps\): (\d+)% saved", html)
    assert line and (int(line[1]), int(line[2])) == (used, full)
    assert int(line[3]) == round(100 * (1 - used / full))
    assert f"{len(pruned)} of {len(trials)} trials pruned" in html


def test_other_pruner_shows_the_step_only(tmp_path, capsys, storage):
    url, _, _, study = storage
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    assert pruned and not any(ATTR in t.user_attrs for t in pruned)
    code, err, out = written(tmp_path, capsys, "--storage", url, "--study", "median",
                             "--method", "last", "--top", "1")
    assert code == 0, err
    html = out.read_text()
    final = max(t.last_step for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE)
    for t in pruned:
        assert f">pruned at step {t.last_step}, saved {final - t.last_step} steps<" in html
    assert "(0 by ForecastPruner)" in html


@pytest.mark.parametrize("args, words", [
    (["--study", "nope"], ["nope", "sweep"]),
    (["--study", "sweep", "SAMPLE"], ["exactly one of FILE or --storage"]),
    ([], ["--storage needs --study"]),
])
def test_bad_study_exits_2_and_writes_nothing(tmp_path, capsys, storage, args, words):
    url, db, _, _ = storage
    args = [str(db) if a == "SAMPLE" else a for a in args]
    before, files = digest(db), sorted(tmp_path.iterdir())
    code, err, out = written(tmp_path, capsys, "--storage", url, *args)
    assert code == 2 and err.startswith("error: ") and "Traceback" not in err
    assert all(w in err for w in words), err
    assert not out.exists() and sorted(tmp_path.iterdir()) == files
    assert digest(db) == before


def test_unreachable_storage_and_no_input_exit_2(tmp_path, capsys):
    missing = tmp_path / "none.db"
    code, err, out = written(tmp_path, capsys, "--storage", f"sqlite:///{missing}",
                             "--study", "s")
    assert code == 2 and "none.db" in err and not out.exists() and not missing.exists()
    other = tmp_path / "other.db"  # SQLite, not Optuna's: refused and left as it was
    with sqlite3.connect(other) as con:
        con.execute("create table t (x)")
    before = digest(other)
    code, err, out = written(tmp_path, capsys, "--storage", f"sqlite:///{other}", "--study", "s")
    assert code == 2 and "other.db" in err and not out.exists() and digest(other) == before
    code, err, out = written(tmp_path, capsys)
    assert code == 2 and "exactly one of FILE or --storage" in err and not out.exists()
    code, _, err = cli(capsys, "report", "--study", "s")
    assert code == 2 and "--study needs --storage" in err


ROW = re.compile(r"<tr>(.*?)</tr>", re.DOTALL)
CELL = re.compile(r"<td[^>]*>(.*?)</td>", re.DOTALL)


def _rows(html: str) -> dict[str, list[str]]:
    """The ranked table's cells by run name (links and tags dropped)."""
    out = {}
    for row in ROW.findall(html):
        cells = [re.sub(r"<[^>]+>", "", c) for c in CELL.findall(row)]
        if cells:
            out[cells[1]] = cells
    return out


def test_what_was_decided_is_what_is_shown(tmp_path, capsys, storage):
    """Each pruned trial is ranked, written and drawn with the forecast its stop rested
    on: the recorded median and 80% interval of its final, the best final it had to beat.
    A trial pruned as hopeless ranks below the best completed one."""
    url, _, study, _ = storage
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED
              and read_decision(t).median is not None]
    assert pruned
    names = ",".join(f"trial {t.number}" for t in pruned)
    code, err, out = written(tmp_path, capsys, "--storage", url, "--study", "sweep",
                             "--top", "0", "--runs", names, "--pruned", "0")
    assert code == 0, err
    html = out.read_text()
    rows = _rows(html)
    header = re.findall(r"<th(?: class=\"text\")?>(.*?)</th>", html)
    col = {h: header.index(h) for h in ("rank", "forecast", "median", "lower 80%", "upper 80%")}
    fans = {f["layout"]["title"]["text"]: f for f in figures(html)[1:]}
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    best = min(done, key=lambda t: t.value)
    for t in pruned:
        d, row = read_decision(t), rows[f"trial {t.number}"]
        assert row[col["forecast"]] == f"recorded at step {d.step}"
        assert [row[col[k]] for k in ("median", "lower 80%", "upper 80%")] == [
            num(d.median), num(d.lower), num(d.upper)]
        fan = fans[f"trial {t.number}"]
        forecast = fan["data"][0]
        assert forecast["x"] == [d.step, d.final_step] and forecast["y"][1] == d.median
        assert forecast["error_y"]["array"][1] == pytest.approx(d.upper - d.median)
        assert forecast["error_y"]["arrayminus"][1] == pytest.approx(d.median - d.lower)
        assert fan["layout"]["shapes"][-1]["y0"] == d.incumbent  # the best final then
        lo, hi = fan["layout"]["yaxis"]["range"]  # both in view
        assert lo <= min(d.lower, d.incumbent) and hi >= max(d.upper, d.incumbent)
        if d.reason == "cannot_win":  # P(better) < 0.05: the 80% band is above the best
            assert d.prob_better < 0.05 and d.lower > d.incumbent
            assert int(row[col["rank"]]) > int(rows[f"trial {best.number}"][col["rank"]])
    assert "re-forecast" not in html


def test_other_pruners_trials_are_labelled_re_forecasts(tmp_path, capsys, storage):
    url, _, _, study = storage
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    code, err, out = written(tmp_path, capsys, "--storage", url, "--study", "median",
                             "--method", "last", "--top", "0", "--pruned", "2")
    assert code == 0, err
    html = out.read_text()
    header = re.findall(r"<th(?: class=\"text\")?>(.*?)</th>", html)
    rows = _rows(html)
    for t in pruned:
        assert rows[f"trial {t.number}"][header.index("forecast")] == "re-forecast by last"
    titles = [f["layout"]["title"]["text"] for f in figures(html)[1:]]
    assert titles and all(t.endswith("(re-forecast by last)") for t in titles)
