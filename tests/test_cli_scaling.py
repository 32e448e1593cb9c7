"""``curvecast scaling``: fit, predict, optimal, backtest; JSON keys; bad input exits 2.

Also the table reader behind them (columns by name, errors naming row and column).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from test_cli import cli

from curvecast.errors import InputError
from curvecast.scaling import read_points

BOOT = "5"  # bootstrap replicates: enough to exercise the intervals, fast


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> str:
    """A small sweep from a known Chinchilla law, two data sets, one diverged run."""
    rng = np.random.default_rng(0)
    n = np.geomspace(2e7, 1e9, 6).repeat(4)
    d = n * np.tile([5.0, 10.0, 20.0, 40.0], 6)
    rows = []
    for name, E in (("web", 1.8), ("code", 1.2)):
        y = (E + 400 * n**-0.34 + 2000 * d**-0.37) * np.exp(rng.normal(0, 0.003, n.size))
        rows += [{"params": a, "tokens": b, "C": 6 * a * b, "val_loss": c, "data": name}
                 for a, b, c in zip(n, d, y, strict=True)]
    rows[3]["val_loss"] = float("nan")
    path = tmp_path_factory.mktemp("scaling") / "runs.csv"
    pd.DataFrame(rows).to_csv(path, index=False, na_rep="nan")
    return str(path)


COLS = ("--n", "params", "--d", "tokens", "--loss", "val_loss", "--boot", BOOT)


def test_fit_prints_parameters_with_intervals(capsys, runs):
    code, out, err = cli(capsys, "scaling", "fit", runs, *COLS, "--group", "data")
    assert code == 0, err
    assert "alpha" in out and "group web" in out and "group code" in out
    assert "1 run(s) with a NaN or inf loss dropped" in err


def test_fit_json(capsys, runs):
    code, out, _ = cli(capsys, "scaling", "fit", runs, *COLS, "--group", "data", "--json",
                       "--law", "chinchilla")
    assert code == 0
    doc = json.loads(out)
    assert set(doc) == {"law", "formula", "citation", "level", "boot", "seed", "prior", "fits"}
    web, codefit = doc["fits"]
    assert set(web) == {"group", "law", "formula", "posterior", "chosen", "n_points",
                        "dropped", "params", "residual_scale", "warnings"}
    assert web["law"] == "chinchilla" and web["chosen"] is None and not web["posterior"]
    assert web["group"] == "web" and web["n_points"] == 23 and web["dropped"] == 1
    assert set(web["params"]) == {"E", "A", "B", "alpha", "beta"}
    assert set(web["params"]["E"]) == {"estimate", "se", "lower", "upper"}
    assert web["params"]["E"]["estimate"] == pytest.approx(1.8, abs=0.1)
    assert codefit["params"]["E"]["estimate"] == pytest.approx(1.2, abs=0.1)


def test_d_from_compute(capsys, runs):
    a = json.loads(cli(capsys, "scaling", "fit", runs, *COLS, "--json", "--law",
                       "chinchilla")[1])
    cols = [c for c in COLS if c not in ("--d", "tokens")]
    b = json.loads(cli(capsys, "scaling", "fit", runs, *cols, "--c", "C", "--json", "--law",
                       "chinchilla")[1])
    assert a["fits"][0]["params"]["beta"]["estimate"] == pytest.approx(
        b["fits"][0]["params"]["beta"]["estimate"], rel=1e-6)


def test_predict_json(capsys, runs):
    code, out, err = cli(capsys, "scaling", "predict", runs, *COLS, "--group", "data",
                         "--at", "N=7e9,D=1.4e11", "--at", "params=1e9,tokens=2e10", "--json",
                         "--law", "chinchilla")
    assert code == 0, err
    doc = json.loads(out)
    assert set(doc) == {"law", "level", "predictions"}
    assert len(doc["predictions"]) == 4
    p = doc["predictions"][0]
    assert set(p) == {"group", "n", "d", "pred", "lower", "upper"}
    assert p["n"] == 7e9 and p["lower"] < p["pred"] < p["upper"]
    assert doc["predictions"][0]["pred"] < doc["predictions"][1]["pred"]  # bigger is better


def test_optimal_json(capsys, runs):
    code, out, err = cli(capsys, "scaling", "optimal", runs, *COLS, "--compute", "1e21",
                         "--compute", "1e23", "--json", "--law", "chinchilla")
    assert code == 0, err
    doc = json.loads(out)
    assert set(doc) == {"law", "level", "k", "results"}
    small, big = doc["results"]
    assert set(small) == {"group", "compute", "k", "n_opt", "d_opt", "tokens_per_param",
                          "loss", "E"}
    assert big["n_opt"]["estimate"] > small["n_opt"]["estimate"]
    assert 6 * big["n_opt"]["estimate"] * big["d_opt"]["estimate"] == pytest.approx(1e23)
    code, out, _ = cli(capsys, "scaling", "optimal", runs, *COLS, "--compute", "1e21")
    assert code == 0 and "tokens/param" in out


def test_backtest_json(capsys, runs):
    code, out, err = cli(capsys, "scaling", "backtest", runs, *COLS, "--group", "data",
                         "--holdout-top", "2", "--json")
    assert code == 0, err
    assert "group 'web': 1 run(s) with a NaN or inf loss dropped" in err
    doc = json.loads(out)
    assert {"points", "mean_rel_error", "coverage"} <= set(doc) and doc["dropped"] == 1
    assert len(doc["points"]) == 2 * 2 * 4
    assert set(doc["points"][0]) == {"group", "n", "d", "true", "pred", "lower", "upper"}
    assert doc["mean_rel_error"] < 0.05 and 0 <= doc["coverage"] <= 1
    code, out, _ = cli(capsys, "scaling", "backtest", runs, *COLS, "--holdout-top", "1")
    assert code == 0 and "mean relative error" in out


@pytest.fixture(scope="module")
def unequal(tmp_path_factory) -> str:
    """Runs of a Chinchilla law whose exponents differ far (0.2 in N, 0.6 in D): the
    over-training law (alpha = beta) cannot describe them."""
    rng = np.random.default_rng(1)
    n = np.geomspace(1e7, 1e9, 7).repeat(4)
    d = n * np.tile([5.0, 10.0, 20.0, 40.0], 7)
    y = (1.8 + 30 * n**-0.2 + 3e5 * d**-0.6) * np.exp(rng.normal(0, 0.002, n.size))
    path = tmp_path_factory.mktemp("auto") / "unequal.csv"
    pd.DataFrame({"N": n, "D": d, "loss": y}).to_csv(path, index=False)
    return str(path)


def test_auto_is_the_default_and_reports_its_choice(capsys, unequal):
    """No --law: per group the law the runs' own refits without the largest sizes predict
    best, named with its held-out error in the JSON, the table and on stderr."""
    code, out, err = cli(capsys, "scaling", "fit", unequal, "--boot", BOOT, "--prior", "none",
                         "--json")
    assert code == 0, err
    doc = json.loads(out)
    (fit,) = doc["fits"]
    assert doc["law"] == "auto" and fit["law"] == "chinchilla"
    c = fit["chosen"]
    assert c["law"] == "chinchilla" and set(c["rolling_errors"]) == {"chinchilla",
                                                                    "overtraining"}
    assert c["rolling_errors"]["overtraining"] > 2 * c["rolling_errors"]["chinchilla"]
    assert c["held_out_error"] == c["rolling_errors"]["chinchilla"] < 0.01
    assert c["held_out_runs"] == 12  # refits without the largest size (4 runs), and 2 (8)
    assert fit["params"]["alpha"]["estimate"] == pytest.approx(0.2, abs=0.05)
    assert err == ""  # the choice is in the output: stderr stays for warnings
    code, out, err = cli(capsys, "scaling", "fit", unequal, "--boot", BOOT)
    assert code == 0, err
    assert "chosen by rolling-origin refits without the 1-2 largest sizes (held-out" in out
    # the shipped prior's fits are candidates by default
    assert "chinchilla+prior" in out and "overtraining+prior" in out


def test_auto_predict_optimal_backtest(capsys, runs):
    code, out, err = cli(capsys, "scaling", "predict", runs, *COLS, "--group", "data",
                         "--at", "N=7e9,D=1.4e11", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["law"] == "auto" and set(doc["chosen"]) == {"web", "code"}
    laws = {g: c["law"].removesuffix("+prior") for g, c in doc["chosen"].items()}
    assert {p["group"]: p["law"] for p in doc["predictions"]} == laws
    code, out, err = cli(capsys, "scaling", "optimal", runs, *COLS, "--compute", "1e21",
                         "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["results"][0]["law"] == doc["chosen"]["null"]["law"].removesuffix("+prior")
    code, out, err = cli(capsys, "scaling", "backtest", runs, *COLS, "--holdout-top", "2",
                         "--group", "data", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["law"] == "auto" and 0 <= doc["chosen"]["web"]["held_out_error"] < 0.05
    assert doc["mean_rel_error"] < 0.05


def test_optimal_of_the_overtraining_law_is_chinchillas_with_tied_exponents():
    """Gadre et al.'s (E, a, b, eta) is Chinchilla's (E, a / 6^eta, b / 6^eta, 2 eta,
    2 eta): the two laws' compute-optimal splits of the same runs agree."""
    from curvecast.scaling import compute_optimal, fit_law

    n = np.geomspace(1e7, 1e9, 6).repeat(4)
    d = n * np.tile([5.0, 10.0, 20.0, 40.0], 6)
    y = 1.7 + 400 * n**-0.3 + 900 * d**-0.3
    a, b = (compute_optimal(fit_law(law, {"n": n, "d": d}, y, n_boot=0), [1e22])[0]
            for law in ("chinchilla", "overtraining"))
    assert a.n_opt.estimate == pytest.approx(b.n_opt.estimate, rel=0.05)
    assert b.loss.estimate == pytest.approx(a.loss.estimate, rel=1e-3)


def test_one_variable_law(capsys, tmp_path):
    x = np.geomspace(100, 1e5, 12)
    path = tmp_path / "lc.csv"
    pd.DataFrame({"x": x, "loss": 0.3 + 5 * x**-0.5}).to_csv(path, index=False)
    code, out, err = cli(capsys, "scaling", "backtest", path, "--law", "power",
                         "--holdout-top", "3", "--boot", BOOT, "--json")
    assert code == 0, err
    p = json.loads(out)["points"][0]
    assert p["x"] >= x[-3] and p["n"] is None and p["d"] is None
    code, out, err = cli(capsys, "scaling", "predict", path, "--law", "power", "--at", "x=1e7",
                         "--boot", BOOT, "--json")
    assert json.loads(out)["predictions"][0]["pred"] == pytest.approx(0.3 + 5 * 1e7**-0.5, rel=1e-3)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("cells", "message"), [
    ({"loss": "abc"}, "row 2, column 'loss': 'abc' is not a number"),
    ({"N": "-5"}, "row 2, column 'N': an input of a scaling law must be a positive"),
    ({"D": "0"}, "row 2, column 'D': an input of a scaling law must be a positive"),
    ({"loss": "0"}, "row 2, column 'loss': a loss must be positive"),
    ({"N": ""}, "row 2, column 'N': empty cell"),
])  # fmt: skip
def test_bad_cells_exit_2_naming_row_and_column(capsys, tmp_path, cells, message):
    df = pd.DataFrame({"N": ["1e8", "2e8", "4e8"], "D": ["2e9", "4e9", "8e9"],
                       "loss": ["3.1", "2.9", "2.7"]})
    for col, v in cells.items():
        df.loc[1, col] = v
    path = tmp_path / "bad.csv"
    df.to_csv(path, index=False)
    code, out, err = cli(capsys, "scaling", "fit", path, "--boot", BOOT)
    assert code == 2 and out == ""
    assert message in err and "Traceback" not in err


def test_missing_column_names_the_columns_found(capsys, runs):
    code, _, err = cli(capsys, "scaling", "fit", runs, "--boot", BOOT)
    assert code == 2
    assert "no column 'N', 'D', 'loss'" in err and "'params'" in err


@pytest.mark.parametrize(("at", "message"), [
    ("N=7e9", "lacks d"), ("N=7e9,Q=2", "NAME=VALUE"), ("N=x,D=1", "not a number"),
    ("N=-1,D=1", "positive"),
])  # fmt: skip
def test_bad_at_exits_2(capsys, runs, at, message):
    code, _, err = cli(capsys, "scaling", "predict", runs, *COLS, "--at", at)
    assert code == 2 and message in err


def test_other_usage_errors_exit_2(capsys, runs, tmp_path):
    assert cli(capsys, "scaling", "fit", tmp_path / "none.csv")[0] == 2
    code, _, err = cli(capsys, "scaling", "optimal", runs, *COLS, "--law", "power",
                       "--x", "params", "--compute", "1e21")
    assert code == 2 and "needs a law of N and D" in err and "note:" not in err  # no fit
    code, _, err = cli(capsys, "scaling", "backtest", runs, *COLS, "--holdout-top", "6")
    assert code == 2 and "runs.csv: only 6 distinct values of n" in err
    code, _, err = cli(capsys, "scaling", "fit", runs, *COLS, "--law", "kaplan")
    assert code == 2 and "kaplan" in err


def test_too_few_points_exit_2(capsys, tmp_path):
    path = tmp_path / "few.csv"
    pd.DataFrame({"N": [1e8, 2e8], "D": [1e9, 2e9], "loss": [3.0, 2.8]}).to_csv(path)
    code, _, err = cli(capsys, "scaling", "fit", path)
    assert code == 2 and "few.csv: law 'chinchilla'" in err and "needs at least 6 points" in err
    code, _, err = cli(capsys, "scaling", "fit", path, "--group", "N")
    assert code == 2 and "group '100000000.0'" in err


# --------------------------------------------------------------------------- reader


def test_reader_best_keeps_the_lowest_loss_per_point(tmp_path):
    path = tmp_path / "lr.csv"
    pd.DataFrame({"N": [1e8, 1e8, 1e8, 2e8], "D": [1e9, 1e9, 2e9, 1e9],
                  "loss": [3.0, 2.9, float("nan"), 2.8]}).to_csv(path, index=False, na_rep="nan")
    (all_,) = read_points(path, {"n": "N", "d": "D"})
    (best,) = read_points(path, {"n": "N", "d": "D"}, best=True)
    assert all_.y.tolist() == [3.0, 2.9, 2.8] and all_.dropped == 1
    assert sorted(best.y.tolist()) == [2.8, 2.9] and best.rows.tolist() == [2, 4]


def test_reader_parquet_and_jsonl(tmp_path):
    df = pd.DataFrame({"x": [1.0, 2.0, 4.0], "loss": [3.0, 2.0, float("nan")]})
    df.to_parquet(tmp_path / "a.parquet")
    df.to_json(tmp_path / "a.jsonl", orient="records", lines=True)
    for name in ("a.parquet", "a.jsonl"):
        (p,) = read_points(tmp_path / name, {"x": "x"})
        assert p.y.tolist() == [3.0, 2.0] and p.dropped == 1
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(InputError, match="empty"):
        read_points(tmp_path / "e.csv", {"x": "x"})


@pytest.mark.slow
def test_backtest_prior_fraction_joint_choose(capsys, runs, tmp_path):
    """Issue 18's options: --prior, --fit-fraction, --joint, --choose; a bad prior exits 2."""
    code, out, err = cli(capsys, "scaling", "backtest", runs, *COLS, "--group", "data",
                         "--fit-fraction", "0.25", "--prior", "shipped", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["prior"] == "shipped" and doc["fit_fraction"] == 0.25
    assert {p["n"] for p in doc["points"]} == {n for n in np.geomspace(2e7, 1e9, 6)
                                               if n > 1e9 / 4}
    assert doc["mean_rel_error"] < 0.05
    code, out, err = cli(capsys, "scaling", "backtest", runs, *COLS, "--group", "data",
                         "--holdout-top", "2", "--joint")
    assert code == 0 and "mean relative error" in out, err
    code, out, err = cli(capsys, "scaling", "backtest", runs, *COLS, "--holdout-top", "2",
                         "--choose", "chinchilla,overtraining", "--json", "--law",
                         "chinchilla")
    assert code == 0, err
    assert "chosen by rolling-origin refits" in err
    assert set(json.loads(out)["chosen"]["null"]["rolling_errors"]) == {"chinchilla",
                                                                        "overtraining"}
    bad = tmp_path / "prior.json"
    bad.write_text("not json")
    code, _, err = cli(capsys, "scaling", "fit", runs, *COLS, "--prior", str(bad))
    assert code == 2 and "could not read the prior" in err and "Traceback" not in err
    code, _, err = cli(capsys, "scaling", "backtest", runs, *COLS, "--choose", "power")
    assert code == 2 and "--choose" in err
