"""The report of an Optuna study read from its storage: a real SQLite study made by
replaying the bundled sample under ForecastPruner (and one under MedianPruner), the
pruned trials' decisions on the page, the compute saved, and bad storages refused."""

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
    assert len(figs[0]["data"]) == 2 and all(len(f["data"]) == 5 for f in figs[1:])
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
