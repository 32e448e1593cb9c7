"""Backtests say when the network scored was trained on the runs scored."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from curvecast.cli import main
from curvecast.curve import Curve
from curvecast.evaluate import backtest
from curvecast.forecasters.provenance import check_in_sample, fingerprint, trained_on
from curvecast.io import read_curves

HELD_OUT = Path(__file__).parents[2] / "benchmarks" / "models" / "combiner_minus_nasbench_nlp.npz"


@pytest.fixture(scope="module")
def sample_path():
    src = resources.files("curvecast") / "data" / "nasbench_nlp_sample.csv"
    with resources.as_file(src) as p:
        yield p


def test_shipped_network_learned_the_bundled_runs_the_held_out_one_did_not(sample_path):
    runs = read_curves(sample_path)
    shipped = check_in_sample(runs)
    assert shipped.in_sample and shipped.sources == ["nasbench_nlp"]
    assert shipped.datasets["nasbench_nlp"] >= len(runs) - 2
    held = check_in_sample(runs, HELD_OUT)
    assert held.in_sample is False and held.datasets == {}
    assert "nasbench_nlp" in trained_on() and "nasbench_nlp" not in trained_on(HELD_OUT)


def test_runs_no_network_saw_are_out_of_sample():
    rng = np.random.default_rng(0)
    x = np.arange(1, 41.0)
    runs = [Curve(str(i), x, 0.3 + rng.uniform(1, 2) * x ** -rng.uniform(0.3, 1)) for i in range(20)]
    assert check_in_sample(runs).in_sample is False


def test_fingerprint_ignores_steps_and_printing_precision():
    a = Curve("a", np.arange(10.0), np.linspace(2, 1, 10) + 1e-7)
    b = Curve("b", np.arange(10.0) * 5, np.round(np.linspace(2, 1, 10), 6))
    c = Curve("c", np.arange(10.0), np.linspace(2, 1.1, 10))
    assert fingerprint(a) == fingerprint(b) != fingerprint(c)


def test_backtest_reports_it_in_json_and_table(sample_path, capsys):
    bt = backtest(read_curves(sample_path), cutoffs=[0.3], methods=["last"])
    assert bt.in_sample is None  # no network among the methods
    with pytest.raises(SystemExit) as exc:
        main(["backtest", str(sample_path), "--cutoffs", "0.3", "--methods", "ensemble,last",
              "--json"])
    assert exc.value.code == 0
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert data["in_sample"] is True and data["model"] is None
    assert "--model" in err and "in sample" in err
    with pytest.raises(SystemExit):
        main(["backtest", str(sample_path), "--cutoffs", "0.3", "--methods", "study",
              "--model", str(HELD_OUT)])
    out, err = capsys.readouterr()
    assert "IN SAMPLE" not in out and "in sample" not in err


def test_missing_model_file_is_a_usage_error(sample_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["backtest", str(sample_path), "--model", "no/such.npz"])
    assert exc.value.code == 2
    assert "no/such.npz" in capsys.readouterr().err
