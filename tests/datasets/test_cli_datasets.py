"""``curvecast datasets list`` and ``export``: every real data set one command away from the
others. The catalog's counts are checked against a load of each data set."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import require

from curvecast.cli import main
from curvecast.datasets.catalog import DATASETS, get, names
from curvecast.io import read_curves


def cli(capsys, *args) -> tuple[int, str, str]:
    """Run ``curvecast ARGS`` in-process: (exit code, stdout, stderr)."""
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code
    else:
        raise AssertionError("curvecast.cli.main returned instead of exiting")
    out, err = capsys.readouterr()
    return (0 if code is None else code), out, err


def _need(name: str, folder) -> None:
    if not get(name).available(folder):
        require(f"the data of {name} are missing: {', '.join(get(name).expected(folder))}")


def test_list_shows_every_data_set_with_goal_and_counts(capsys, shared_data):
    code, out, err = cli(capsys, "datasets", "list")
    assert code == 0 and err == ""
    for d in DATASETS.values():
        line = next(ln for ln in out.splitlines() if ln.split("│")[0].strip() == d.name)
        assert f" {d.goal} " in line and f"{d.runs:,}" in line and d.license in line
        assert "yes" in line  # all here with the shared data
    code, out, _ = cli(capsys, "datasets", "list", "--json")
    data = json.loads(out)
    assert code == 0 and data["data_dir"] == str(shared_data)
    assert [d["name"] for d in data["datasets"]] == names()
    assert {d["goal"] for d in data["datasets"]} == {"min", "max"}
    assert all(d["available"] for d in data["datasets"])


def test_list_says_what_is_missing(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("CURVECAST_DATA", str(tmp_path))
    code, out, _ = cli(capsys, "datasets", "list", "--json")
    data = json.loads(out)
    assert code == 0 and data["data_dir"] == str(tmp_path.resolve())
    missing = {d["name"] for d in data["datasets"] if not d["available"]}
    assert missing == set(names()) - {"lcdb-accuracy"}  # LCDB is read from its package


@pytest.mark.parametrize("ext", [".csv", ".parquet"])
def test_export_writes_what_the_loader_gives(capsys, tmp_path, shared_data, ext):
    _need("opda-alexnet", shared_data)
    out_file = tmp_path / f"alexnet{ext}"
    code, out, err = cli(capsys, "datasets", "export", "opda-alexnet", "-o", out_file)
    assert code == 0 and err == "" and "512 runs" in out and "--goal max" in out
    back = read_curves(out_file, goal="max")
    orig = get("opda-alexnet").load()
    assert back.runs == orig.runs
    for a, b in zip(orig, back, strict=True):
        assert a.steps.tolist() == b.steps.tolist()
        np.testing.assert_array_equal(a.values, b.values)  # NaN where NaN: exact round trip
        assert a.hp == b.hp and a.status == b.status
    # the budget and the schedule's peak travel as hp.* columns
    assert back[0].hp["epochs"] == 23 and back[0].hp["lr_peak_epoch"] == 6


def test_export_samples_runs_reproducibly(capsys, tmp_path, shared_data):
    _need("ppo-pong", shared_data)
    a, b, c = (tmp_path / f"{n}.csv" for n in "abc")
    for path, seed in ((a, 0), (b, 0), (c, 1)):
        code, out, _ = cli(capsys, "datasets", "export", "ppo-pong", "-o", path, "--runs", 10,
                           "--seed", seed, "--json")
        assert code == 0 and json.loads(out)["runs"] == 10 and json.loads(out)["goal"] == "max"
    assert a.read_bytes() == b.read_bytes() and a.read_bytes() != c.read_bytes()
    runs = read_curves(a, goal="max").runs
    all_runs = get("ppo-pong").load().runs
    assert len(set(runs)) == 10 and runs == [r for r in all_runs if r in runs]  # in order


def test_export_refusals_exit_2_with_one_line(capsys, tmp_path, monkeypatch):
    code, _, err = cli(capsys, "datasets", "export", "imagenet", "-o", tmp_path / "x.csv")
    assert code == 2 and "no data set 'imagenet'; known: cifar10-cnn" in err
    assert all(n in err for n in names()) and len(err.splitlines()) == 1
    code, _, err = cli(capsys, "datasets", "export", "ppo-pong", "-o", tmp_path / "x.txt")
    assert code == 2 and "extension" in err and ".parquet" in err
    # data missing: where it was expected, and how to point there
    code, _, err = cli(capsys, "datasets", "export", "ppo-pong", "-o", tmp_path / "x.csv",
                       "--data-dir", tmp_path)
    assert code == 2 and str(tmp_path / "rl_ppo_pong" / "ppo_pong_eval.csv") in err
    assert "CURVECAST_DATA" in err and len(err.splitlines()) == 1
    monkeypatch.setenv("CURVECAST_DATA", str(tmp_path / "nowhere"))
    code, _, err = cli(capsys, "datasets", "export", "ppo-pong", "-o", tmp_path / "x.csv")
    assert code == 2 and "CURVECAST_DATA is not a folder" in err and "nowhere" in err
    code, _, err = cli(capsys, "datasets", "export", "ppo-pong", "-o", tmp_path / "x.csv",
                       "--runs", 0)
    assert code == 2
    assert not list(tmp_path.glob("x.*"))  # nothing written by any refusal


def test_catalog_imports_no_numerics():
    code = ("import sys, curvecast.datasets.catalog, curvecast.cli_datasets; "
            "print(sorted(m for m in ('numpy', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("name", [n for n in names() if n != "lcdb-accuracy"])
def test_catalog_counts_are_the_data(shared_data, name):
    _need(name, shared_data)
    d = get(name)
    cs = d.load(shared_data)
    assert (len(cs), sum(len(c) for c in cs)) == (d.runs, d.points)
    assert {c.goal for c in cs} == {d.goal}


@pytest.mark.slow
def test_catalog_counts_lcdb(shared_data):
    _need("lcdb-accuracy", shared_data)
    d = get("lcdb-accuracy")
    cs = d.load()
    assert (len(cs), sum(len(c) for c in cs)) == (d.runs, d.points)
