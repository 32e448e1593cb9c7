"""Every command over every real file the command line can read: each file in the shared
data folder as it is, and each data set ``curvecast datasets export`` writes (a sample of
its runs, to bound the time), through forecast, backtest, replay and report, in-process.
Each must end with exit 0, 1 or 2 and never with a traceback (bar 2 of issue 15)."""

from __future__ import annotations

import json
import traceback

import numpy as np
import pytest

from curvecast.cli import main
from curvecast.curve import Curve
from curvecast.datasets.catalog import DATASETS
from curvecast.io import write_long

SAMPLE = 8
"""Runs exported per data set: --context 5 leaves 3 to score; replay draws all 8."""


def run(capsys, *args) -> tuple[int, str, str]:
    """``curvecast ARGS`` in-process: (exit code, stdout, stderr); an exception that
    escapes main (a traceback for the user) fails the test with that traceback."""
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        code = 0 if exc.code is None else exc.code
    except BaseException:  # noqa: BLE001 - what the user would see, shown in full
        out, err = capsys.readouterr()
        pytest.fail(f"curvecast {' '.join(map(str, args))} raised:\n{traceback.format_exc()}"
                    f"\nstderr: {err[-2000:]}")
    else:
        raise AssertionError("curvecast.cli.main returned instead of exiting")
    out, err = capsys.readouterr()
    assert code in (0, 1, 2), (args, code, err[-2000:])
    assert "Traceback" not in out + err, (args, err[-4000:])
    return code, out, err


def commands(file, goal: str, tmp_path) -> list[list]:
    """The commands each readable file goes through (small settings: bounded time)."""
    g = ["--goal", goal]
    return [["forecast", file, *g],
            ["forecast", file, *g, "--json"],
            ["backtest", file, *g, "--cutoffs", "0.1,0.2,0.4", "--context", "0,5",
             "--repeats", 1, "--json"],
            ["replay", file, *g, "--trials", 10, "--repeats", 1],
            ["report", file, *g, "-o", tmp_path / "report.html"]]


def test_every_shared_file_as_it_is(capsys, tmp_path, shared_data):
    """forecast reads or refuses (exit 2) each file of the shared folder; those it reads
    go through every command. (None is in the long format today: all are refused.)"""
    files = sorted(p for p in shared_data.rglob("*") if p.is_file())
    assert len(files) > 100
    readable = []
    for f in files:
        code, _, err = run(capsys, "forecast", f, "--json")
        if code == 2:
            assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, (f, err)
        else:
            readable.append(f)
    for f in readable:
        for args in commands(f, "min", tmp_path):
            run(capsys, *args)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(DATASETS))
def test_every_command_over_every_exported_data_set(capsys, tmp_path, shared_data, name):
    d = DATASETS[name]
    if not d.available(shared_data):
        from conftest import require

        require(f"the data of {name} are missing: {', '.join(d.expected(shared_data))}")
    ext = ".parquet" if name.startswith("opda") else ".csv"  # both writers, both readers
    file = tmp_path / f"{name}{ext}"
    code, _, _ = run(capsys, "datasets", "export", name, "-o", file, "--runs", SAMPLE)
    assert code == 0 and file.is_file()
    for args in commands(file, d.goal, tmp_path):
        code, out, _ = run(capsys, *args)
        if args[0] == "backtest" and code == 0:
            bt = json.loads(out)
            assert bt["n_runs"] + bt["excluded"] == SAMPLE


def _sweep(lengths, seed: int = 0) -> list[Curve]:
    """An accuracy sweep whose runs were evaluated a different number of times each, at
    irregular steps (as a fine-tuning sweep with early stopping is)."""
    rng = np.random.default_rng(seed)
    out = []
    for i, n in enumerate(lengths):
        steps = np.cumsum(rng.integers(10, 200, n)).astype(float)
        acc = 0.9 - 0.4 * (steps / steps[0]) ** -0.5 + 0.005 * rng.normal(size=n)
        out.append(Curve(f"ft{i}", steps, acc, "max", {"lr": float(10 ** -rng.uniform(2, 5))}))
    return out


def test_backtest_counts_runs_too_short_for_a_cutoff(capsys, tmp_path):
    """Runs of 5-102 evaluations at cutoff 0.1: a run of 5 or fewer points is shown no
    point there, so it is left out of that row and counted (too_short), not forecast from
    a point it would not have (this once ended in IndexError in rowstats.nanmedian)."""
    lengths = [3, 4, 5, 5, 6, 9, 12, 20, 37, 50, 64, 80, 102, 102]
    path = tmp_path / "finetune.csv"
    write_long(_sweep(lengths), path)
    code, out, _ = run(capsys, "backtest", path, "--goal", "max", "--cutoffs", "0.1,0.2,0.4",
                       "--json")
    assert code == 0
    bt = json.loads(out)
    assert bt["n_runs"] == len(lengths) and bt["excluded"] == 0
    for r in bt["results"]:
        short = sum(round(r["cutoff"] * n) < 1 for n in lengths)
        assert r["too_short"] == short and r["n_runs"] == len(lengths) - short
        assert np.isfinite(r["mae"])
    assert {r["cutoff"]: r["too_short"] for r in bt["results"]} == {0.1: 4, 0.2: 0, 0.4: 0}


def test_backtest_with_every_run_too_short_for_a_cutoff_is_a_row_of_nan(capsys, tmp_path):
    path = tmp_path / "short.csv"
    write_long(_sweep([4] * 6), path)
    code, out, _ = run(capsys, "backtest", path, "--goal", "max", "--cutoffs", "0.1,0.5",
                       "--methods", "last,ensemble", "--json")
    assert code == 0
    rows = {(r["method"], r["cutoff"]): r for r in json.loads(out)["results"]}
    assert rows["last", 0.1]["n_runs"] == 0 and rows["last", 0.1]["too_short"] == 6
    assert rows["last", 0.1]["mae"] != rows["last", 0.1]["mae"]  # NaN: nothing to score
    assert rows["ensemble", 0.5]["n_runs"] == 6 and rows["ensemble", 0.5]["too_short"] == 0
    code, out, _ = run(capsys, "backtest", path, "--goal", "max", "--cutoffs", "0.1")
    assert code == 0 and "nan" in out


def test_replay_of_runs_with_text_hyperparameters(capsys, tmp_path):
    """Hyperparameters that are text and differ between runs (datablations' data, Pythia's
    variant, LCDB's learner) once ended replay in Optuna's ValueError 'CategoricalDistribution
    does not support dynamic value space'."""
    runs = _sweep([30] * 12)
    for i, c in enumerate(runs):
        c.hp.update({"data": ["c4", "oscar", "pile"][i % 3], "mixed": i if i % 2 else "x"})
    path = tmp_path / "text_hp.csv"
    write_long(runs, path)
    code, out, _ = run(capsys, "replay", path, "--goal", "max", "--trials", 10, "--repeats", 1,
                       "--pruners", "nop,median,forecast", "--json")
    assert code == 0 and len(json.loads(out)["results"]) == 3
