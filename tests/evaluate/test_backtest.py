"""Backtests: scores, fallbacks, diverged runs, the command and its JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from curvecast.cli import main
from curvecast.curve import Curve, CurveSet
from curvecast.errors import UsageError
from curvecast.evaluate import backtest
from curvecast.evaluate import scoring
from curvecast.io import write_long

X = np.arange(1, 31.0)


def runs(n=12, seed=0, noise=0.01):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        y = 0.2 + 0.05 * i + (1 + 0.1 * i) * X**-0.6 + noise * rng.standard_normal(X.size)
        out.append(Curve(f"r{i}", X, y))
    return out


def test_ensemble_beats_last_value_on_curves_it_can_model():
    """Textbook power laws: the fitted families (bma) are near exact; the learned
    ensemble, trained on real runs, which never look like this, still beats the last
    value clearly."""
    bt = backtest(CurveSet(runs()), cutoffs=[0.3, 0.6],
                  methods=["ensemble", "bma", "last", "pow3"])
    by = {(r.method, r.cutoff): r for r in bt.results}
    for cut in (0.3, 0.6):
        assert by["bma", cut].mae < 0.5 * by["last", cut].mae
        assert by["ensemble", cut].mae < 0.7 * by["last", cut].mae
        for m in ("ensemble", "bma"):
            assert by[m, cut].crps < by["last", cut].crps
            assert by[m, cut].spearman > 0.9
            assert 0 <= by[m, cut].coverage["0.8"] <= 1
    assert bt.n_runs == 12 and bt.excluded == 0


def test_scores_by_hand():
    truth = np.array([1.0, 2.0, 3.0, 10.0])
    pred = np.array([1.5, 2.0, 2.0, 10.0])
    assert scoring.mae(pred, truth) == pytest.approx(0.375)
    assert scoring.medae(pred, truth) == pytest.approx(0.25)
    assert scoring.iqr(truth) == pytest.approx(np.subtract(*np.percentile(truth, [75, 25])))
    # CRPS of a point forecast is its absolute error
    assert scoring.crps(np.repeat(pred[:, None], 100, axis=1), truth) == pytest.approx(0.375)
    assert scoring.log_score(np.array([-np.inf, 0.0])) == pytest.approx(-50.0)


def test_diverged_and_short_runs_are_excluded_or_fall_back():
    curves = runs(6)
    y = curves[0].values.copy()
    y[20] = np.nan
    curves[0] = Curve("diverged", X, y)
    curves.append(Curve("short", [1.0, 2.0], [1.0, 0.9]))
    bt = backtest(CurveSet(curves), cutoffs=[0.05, 0.5], methods=["ensemble"])
    assert bt.excluded == 2 and bt.n_runs == 5  # the diverged and the 2-point run
    at5, at50 = bt.results
    # 5% of 30 points is 2, too few to fit: every forecast falls back to the last value
    assert at5.failures == 5 and np.isfinite(at5.mae) and at50.failures == 0


def test_bad_cutoffs():
    with pytest.raises(UsageError):
        backtest(CurveSet(runs(3)), cutoffs=[1.0])


def test_cli_backtest_json(tmp_path, capsys):
    path = tmp_path / "runs.csv"
    write_long(CurveSet(runs(8)), path)
    with pytest.raises(SystemExit) as exc:
        main(["backtest", str(path), "--cutoffs", "0.2,0.5", "--methods", "last,pow3,families",
              "--json", "--progress"])
    assert exc.value.code == 0
    out = json.loads(capsys.readouterr().out)
    rows = out["results"]
    methods = [r["method"] for r in rows if r["cutoff"] == 0.2]
    assert methods[:2] == ["last", "pow3"] and len(methods) == len(set(methods)) == 19
    keys = {"method", "cutoff", "n_runs", "mae", "nmae", "medae", "log_score", "crps",
            "coverage", "spearman", "failures", "seconds"}
    assert keys <= set(rows[0]) and set(rows[0]["coverage"]) == {"0.5", "0.8", "0.9"}


def test_cli_backtest_bad_input(tmp_path, capsys):
    path = tmp_path / "runs.csv"
    write_long(CurveSet(runs(3)), path)
    for args in (["--cutoffs", "0.2,abc"], ["--cutoffs", "1.5"], ["--methods", "nope"]):
        with pytest.raises(SystemExit) as exc:
            main(["backtest", str(path), *args])
        assert exc.value.code == 2
        assert capsys.readouterr().err.startswith("error:")
