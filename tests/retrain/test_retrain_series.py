"""Reading series for curvecast retrain: durations, sentinels, repeats, gaps, bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED_DATA, need

from curvecast.cli import main
from curvecast.errors import InputError, UsageError
from curvecast.retrain import MODELS, clean_series, parse_duration, read_series


@pytest.mark.parametrize("text,seconds", [("10min", 600), ("1h", 3600), ("6h", 21600),
                                          ("1d", 86400), ("90s", 90), ("2 days", 172800),
                                          ("1.5h", 5400), ("h", 3600)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "6", "abc", "0h", "-1h", "0.5s", "1y", "1h30min"])
def test_bad_durations_name_the_option(text):
    with pytest.raises(UsageError, match="--every"):
        parse_duration(text, "--every")


def test_sentinels_repeats_and_gaps_are_repaired_and_counted():
    df = pd.DataFrame({"t": ["2020-01-01 00:00", "2020-01-01 00:10", "2020-01-01 00:10",
                             "2020-01-01 00:20", "2020-01-01 01:00", "2020-01-01 01:10"],
                       "y": ["1", "-9999", "7", "", "4", "-9999.0"]})
    s = clean_series(df, time="t", columns=["y"])
    assert s.step_seconds == 600
    assert len(s) == 8  # 00:00 .. 01:10 every 10 minutes
    assert s.report["sentinels"] == {"y": 2}
    assert s.report["duplicates"] == 1
    assert s.report["missing_rows"] == 3
    assert s.report["longest_gap"] == "40min"
    v = s.values["y"]
    assert v[0] == 1 and np.isnan(v[1]) and np.isnan(v[2]) and v[6] == 4 and np.isnan(v[7])


def test_unsorted_and_off_grid_rows():
    df = pd.DataFrame({"t": ["2020-01-01 02:00", "2020-01-01 00:00", "2020-01-01 01:00",
                             "2020-01-01 03:01", "2020-01-01 04:00"],
                       "y": [3.0, 1.0, 2.0, 4.0, 5.0]})
    s = clean_series(df, time="t", columns=["y"])
    assert s.step_seconds == 3600
    assert s.values["y"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert s.report["off_grid"] == 1


def test_errors_name_file_row_and_column(tmp_path):
    p = tmp_path / "w.csv"
    p.write_text("date,T\n2020-01-01 00:00,1\nyesterday,2\n2020-01-01 02:00,3\n")
    with pytest.raises(InputError, match=r"w.csv, row 2, column 'date': 'yesterday' is not a time"):
        read_series(p, time="date", columns=["T"])
    p.write_text("date,T\n2020-01-01 00:00,1\n2020-01-01 01:00,warm\n")
    with pytest.raises(InputError, match=r"row 2, column 'T': 'warm' is not a number"):
        read_series(p, time="date", columns=["T"])
    with pytest.raises(InputError, match=r"column 'rain': no column 'rain'"):
        read_series(p, time="date", columns=["rain"])


def _csv(tmp_path, days=40):
    t = pd.date_range("2020-01-01", periods=24 * days, freq="h")
    y = np.sin(np.arange(len(t)) * 2 * np.pi / 24) + np.linspace(0, 3, len(t))
    y[100] = -9999
    p = tmp_path / "s.csv"
    pd.DataFrame({"when": t.strftime("%m/%d/%Y %H:%M"), "y": y}).to_csv(p, index=False)
    return p


ARGS = ["--time", "when", "--target", "y", "--every", "6h", "--horizon", "6h", "--window", "7d"]


def test_cli_json_and_report(tmp_path, capsys):
    p = _csv(tmp_path)
    out = tmp_path / "r.json"
    with pytest.raises(SystemExit) as e:
        main(["retrain", str(p), *ARGS, "--policy", "default,page_hinkley", "--json", "-o",
              str(out)])
    assert e.value.code in (0, None)
    data = json.loads(capsys.readouterr().out)
    assert data["data"]["sentinels"] == {"y": 1}
    assert [r["policy"] for r in data["results"]][:3] == ["fixed", "default", "page_hinkley"]
    html = tmp_path / "r.html"
    with pytest.raises(SystemExit) as e:
        main(["report", str(out), "-o", str(html)])
    assert e.value.code in (0, None)
    assert html.read_text().count('class="figure"') == 2  # error and compute over time


@pytest.mark.parametrize("extra,msg", [
    (["--target", "nope"], "no column 'nope'"),
    (["--every", "soon"], "--every: 'soon' is not a duration"),
    (["--every", "90min"], ""),  # a whole number of steps is fine: 90min is not
    (["--model", "svm"], "unknown model 'svm'"),
    (["--policy", "sometimes"], "unknown policy 'sometimes'"),
    (["--time", "date"], "no column 'date'"),
])
def test_cli_bad_input_exits_2_with_one_line(tmp_path, capsys, extra, msg):
    p = _csv(tmp_path, days=10)
    with pytest.raises(SystemExit) as e:
        main(["retrain", str(p), *ARGS, *extra])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert msg in err
    if not msg:
        assert "whole number" in err


def test_cli_model_names_match():
    from curvecast.cli_retrain import MODEL_NAMES

    assert MODEL_NAMES == MODELS


@pytest.mark.slow
def test_real_weather_quirks_are_reported():
    from curvecast.datasets import load_jena2020, load_noaa_wth

    need(SHARED_DATA / "weather")
    jena = load_jena2020(["wv (m/s)", "OT"], path=SHARED_DATA)
    assert jena.step_seconds == 600
    assert jena.report["duplicates"] == 1
    assert jena.report["sentinels"] == {"wv (m/s)": 1, "OT": 50}
    assert jena.report["longest_gap"] == "100min"
    assert np.nanmin(jena.values["wv (m/s)"]) >= 0
    wth = load_noaa_wth(path=SHARED_DATA)
    assert wth.step_seconds == 3600 and len(wth) == 35064 and wth.report["missing_rows"] == 0
