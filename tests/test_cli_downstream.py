"""``curvecast scaling downstream``: the JSON schema of issue 20, the table, the report,
and bad input as one line naming the file, row and column, exit 2."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from test_cli import cli

POINT_KEYS = ["metric", "group", "n", "d", "true", "pred", "lower", "upper"]


@pytest.fixture(scope="module")
def evals(tmp_path_factory) -> str:
    """Two families of six sizes x three checkpoints: a loss from a Chinchilla law and two
    accuracies that rise with it above a chance of 0.25."""
    rng = np.random.default_rng(0)
    rows = []
    for fam, e in (("x", 1.7), ("y", 1.9)):
        for n in np.geomspace(3e7, 3e9, 6):
            for d in (5e9, 2e10, 8e10):
                loss = (e + 400 * n**-0.34 + 1500 * d**-0.3) * np.exp(rng.normal(0, 0.003))
                rows.append({"family": fam, "params": n, "tokens": d, "loss": loss,
                             "arc": 0.25 + 0.6 / (1 + np.exp(4 * (loss - 2.7))),
                             "qa": 0.25 + 0.5 / (1 + np.exp(3 * (loss - 2.9)))})
    path = tmp_path_factory.mktemp("downstream") / "evals.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


ARGS = ("--n", "params", "--d", "tokens", "--metric", "arc", "--metric", "qa",
        "--chance", "0.25", "--holdout-top", "1", "--boot", "5")


@pytest.mark.slow
def test_json_schema_two_stage(capsys, evals):
    code, out, err = cli(capsys, "scaling", "downstream", evals, *ARGS, "--loss", "loss",
                         "--group", "family", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert list(data) == ["points", "mean_abs_error", "coverage"]  # issue 20's schema
    assert len(data["points"]) == 4  # 2 metrics x the largest model of 2 families
    for p in data["points"]:
        assert list(p) == POINT_KEYS
        assert all(0 <= p[k] <= 1 for k in ("true", "pred", "lower", "upper"))
        assert p["lower"] <= p["pred"] <= p["upper"]
        assert p["n"] == pytest.approx(3e9) and p["d"] == pytest.approx(8e10)
    assert {p["group"] for p in data["points"]} == {"x", "y"}
    assert 0 <= data["coverage"] <= 1 and data["mean_abs_error"] < 0.05
    notes = [ln for ln in err.splitlines() if ln.startswith("note: ")]
    assert len(notes) == 2 and all(": two-stage-" in ln for ln in notes)


def test_table_direct_and_report(capsys, evals, tmp_path):
    html = tmp_path / "ds.html"
    code, out, err = cli(capsys, "scaling", "downstream", evals, *ARGS, "--html", html)
    assert code == 0, err
    assert "held-out accuracy" in out and "direct" in out
    text = html.read_text()
    assert "accuracy against compute" in text and text.count('class="figure"') == 2


def _bad(tmp_path, evals, change) -> str:
    df = change(pd.read_csv(evals))
    path = tmp_path / "bad.csv"
    df.to_csv(path, index=False)
    return str(path)


@pytest.mark.parametrize(("change", "extra", "match"), [
    (lambda t: t.assign(arc=t["arc"] * 100), (), "row 1, column 'arc': an accuracy must lie"),
    (lambda t: t.drop(columns="qa"), (), "no column 'qa'"),
    (lambda t: t.assign(params=t["params"].astype(object).where(t.index != 4, "")), (),
     "row 5, column 'params': empty cell"),
    (lambda t: t.assign(loss=t["loss"].where(t.index != 2, -1.0)), ("--loss", "loss"),
     "row 3, column 'loss': a loss must be positive"),
])
def test_bad_input_exits_2_with_one_line(capsys, tmp_path, evals, change, extra, match):
    path = _bad(tmp_path, evals, change)
    out_html = tmp_path / "never.html"
    code, out, err = cli(capsys, "scaling", "downstream", path, *ARGS, *extra, "--json",
                         "--html", out_html)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and path in err and match in err, err
    assert not out_html.exists()  # nothing half-written


def test_usage_errors_exit_2(capsys, evals, tmp_path):
    code, _, err = cli(capsys, "scaling", "downstream", evals, "--n", "params", "--d", "tokens",
                       "--metric", "arc", "--holdout-top", "0")
    assert code == 2 and "holdout-top" in err
    code, _, err = cli(capsys, "scaling", "downstream", evals, *ARGS[:-2], "--boot", "2",
                       "--method", "two-stage-sigmoid")
    assert code == 2 and "--loss" in err
    code, _, err = cli(capsys, "scaling", "downstream", str(tmp_path / "none.csv"), *ARGS)
    assert code == 2 and "none.csv" in err


def test_average_of_routes_with_families(capsys, evals):
    """--method average with --group: every direct route (the mixed model of the families
    among them) averaged, each metric's weights in its note; the JSON schema unchanged."""
    code, out, err = cli(capsys, "scaling", "downstream", evals, *ARGS, "--group", "family",
                         "--method", "average", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert list(data) == ["points", "mean_abs_error", "coverage"] and len(data["points"]) == 4
    assert all(p["lower"] <= p["pred"] <= p["upper"] for p in data["points"])
    notes = [ln for ln in err.splitlines() if ln.startswith("note: ")]
    assert len(notes) == 2 and all("average: " in ln and "direct-mixed" in ln for ln in notes)
