"""The HTML report: self-contained, the expected plots, names inert, bad input refused.

Real data only: the bundled NAS-Bench-NLP sample, and replay and backtest JSON made
from it by the commands themselves. The browser tests are a later part of issue 7.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest
from test_cli import cli

from curvecast.demo import run_demo
from curvecast.report.page import SCRIPT

SAMPLE = Path(str(resources.files("curvecast") / "data" / "nasbench_nlp_sample.csv"))
HOSTILE = "<script>alert(1)</script>"
FIGURE = re.compile(r'<script type="application/json" class="figure"[^>]*>(.*?)</script>', re.DOTALL)


def figures(html: str) -> list[dict]:
    """Every embedded plotly figure, parsed as the page's script parses it."""
    return [json.loads(block) for block in FIGURE.findall(html)]


def assert_self_contained(html: str) -> None:
    assert not re.search(r"<script[^>]*\bsrc\s*=", html, re.IGNORECASE)
    assert not re.search(r"<link[^>]*\bhref\s*=\s*[\"']?(https?:)?//", html, re.IGNORECASE)
    assert not re.search(r"<(img|iframe)[^>]*\bsrc\s*=\s*[\"']?(https?:)?//", html, re.IGNORECASE)
    assert html.count("<script>") == 2  # plotly.js once, the page's own script once


def written(tmp_path, capsys, *args) -> tuple[int, str, Path]:
    out = tmp_path / "report.html"
    code, _, err = cli(capsys, "report", *args, "-o", out)
    return code, err, out


@pytest.fixture(scope="module")
def hostile_file(tmp_path_factory) -> Path:
    """The sample with one run renamed to a script tag and another left unfinished."""
    df = pd.read_csv(SAMPLE)
    first, second = df["run"].unique()[:2]
    df["run"] = df["run"].replace({first: HOSTILE})
    df = df[(df["run"] != second) | (df["step"] <= 20)]
    path = tmp_path_factory.mktemp("hostile") / "runs.csv"
    df.to_csv(path, index=False, na_rep="nan")
    return path


def test_curve_report(tmp_path, capsys, hostile_file):
    code, err, out = written(tmp_path, capsys, hostile_file, "--method", "last", "--top", "3",
                             "--runs", HOSTILE)
    assert code == 0, err
    html = out.read_text()
    assert_self_contained(html)
    figs = figures(html)
    n_runs = pd.read_csv(hostile_file)["run"].nunique()
    # the summary (forecast with intervals, last observed), then one fan per run drawn:
    # the 3 best and the one asked for, each 3 bands + median + observed
    assert len(figs) == 1 + 4
    summary, fans = figs[0], figs[1:]
    assert len(summary["data"]) == 2
    assert summary["data"][0]["error_y"]["array"] and len(summary["data"][0]["y"]) <= n_runs
    assert all(len(f["data"]) == 5 for f in fans)
    assert [t["name"] for t in fans[0]["data"]][:3] == ["95% interval", "80% interval",
                                                        "50% interval"]
    # every run is in the searchable table
    assert html.count("<tr>") == n_runs + 1 and 'class="filter"' in html
    # the hostile name: only ever escaped, in the table, the fan's title and the figure JSON
    assert HOSTILE not in html and "alert(1)</" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    titles = [f["layout"]["title"]["text"] for f in fans]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in titles
    assert any(HOSTILE in (f["layout"]["title"]["text"].replace("&lt;", "<").replace("&gt;", ">"))
               for f in fans)


def test_unfinished_run_gets_a_fan(tmp_path, capsys, hostile_file):
    second = pd.read_csv(SAMPLE)["run"].unique()[1]
    code, err, out = written(tmp_path, capsys, hostile_file, "--method", "last", "--top", "0",
                             "--runs", second)
    assert code == 0, err
    (_summary, fan) = figures(out.read_text())
    bands = fan["data"][:3]
    assert all(len(b["x"]) > 2 and min(b["x"]) == 20 and max(b["x"]) == 50 for b in bands)


def test_replay_report(tmp_path, capsys):
    code, replay_json, err = cli(capsys, "replay", SAMPLE, "--trials", "8", "--repeats", "2",
                                 "--pruners", "nop,median,sha", "--json")
    assert code == 0, err
    src = tmp_path / "replay.json"
    src.write_text(replay_json)
    code, err, out = written(tmp_path, capsys, src)
    assert code == 0, err
    html = out.read_text()
    assert_self_contained(html)
    (fig,) = figures(html)
    assert [t["name"] for t in fig["data"]] == ["nop", "median", "sha"]
    assert fig["data"][0]["x"] == [1.0]  # nop uses all the compute


def test_backtest_report(tmp_path, capsys):
    code, bt_json, err = cli(capsys, "backtest", SAMPLE, "--cutoffs", "0.3,0.6", "--methods",
                             "last,mean_last", "--json")
    assert code == 0, err
    src = tmp_path / "bt.json"
    src.write_text(bt_json)
    code, err, out = written(tmp_path, capsys, src)
    assert code == 0, err
    html = out.read_text()
    assert_self_contained(html)
    calibration, error = figures(html)
    assert [t["name"] for t in calibration["data"]] == ["calibrated", "last", "mean_last"]
    # stated levels 0.5, 0.8, 0.9 at two cutoffs, one line each (None between)
    assert calibration["data"][1]["x"] == [0.5, 0.8, 0.9, None] * 2
    observed = json.loads(bt_json)["results"][0]["coverage"]["0.8"]
    assert calibration["data"][1]["y"][1] == observed
    assert len(error["data"]) == 2


@pytest.mark.parametrize("content, name", [
    ("not a table\n", "runs.txt"),
    ("run,step\na,1\n", "runs.csv"),
    ('{"results": [{"pruner": "nop"}]}', "replay.json"),
    ('{"results": [{"something": 1}]}', "other.json"),
    ('{"results": []}', "empty.json"),
])
def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, content, name):
    src = tmp_path / name
    src.write_text(content)
    before = sorted(tmp_path.iterdir())
    code, err, _ = written(tmp_path, capsys, src)
    assert code == 2
    assert err.startswith("error: ") and "Traceback" not in err and name in err
    assert sorted(tmp_path.iterdir()) == before  # no report, no temporary file


def test_unknown_run_exits_2(tmp_path, capsys):
    code, err, out = written(tmp_path, capsys, SAMPLE, "--method", "last", "--runs", "nope")
    assert code == 2 and "nope" in err and not out.exists()


def test_demo_writes_its_report(tmp_path):
    result = run_demo(tmp_path, cutoff=0.3)
    assert result.report == tmp_path / "report.html"
    html = result.report.read_text()
    assert_self_contained(html)
    figs = figures(html)
    # summary + fans of the 20 best, each with the whole run drawn too
    assert len(figs) == 1 + 20 and all(len(f["data"]) == 6 for f in figs[1:])
    assert figs[1]["data"][0]["name"] == "whole run"


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to check the page's script")
def test_page_script_parses(tmp_path):
    path = tmp_path / "page.js"
    path.write_text(SCRIPT)
    subprocess.run(["node", "--check", str(path)], check=True)
