"""W&B runs written by wandb itself (offline, no network) read back as logged."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import need_module

need_module("wandb", "wandb")

import wandb

from curvecast.errors import InputError
from curvecast.io.wandb import BLOCK, is_wandb_dir, read_wandb, read_wandb_export

STEPS = {"lr0.1": 30, "lr0.01": 300, "diverged": 8}
"""300 rows make a log of several 32 KiB blocks (about 120 KiB), records split across them."""


def loss(lr: float, step: int) -> float:
    return 0.2 + lr + 1.0 / (1 + lr * 50 * step)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, dict[str, list[float]]]:
    """Three offline runs of project 'sweep' in one wandb/ folder, and what they logged."""
    root = tmp_path_factory.mktemp("wb")
    logged = {}
    for name, n in STEPS.items():
        lr = 0.1 if name == "lr0.1" else 0.01
        run = wandb.init(project="sweep", name=name, config={"lr": lr, "layers": 2},
                         dir=str(root), mode="offline", settings=wandb.Settings(silent=True))
        values = [loss(lr, s) for s in range(n)]
        if name == "diverged":
            values[5:] = [math.nan, math.inf, math.nan]
        for s, v in enumerate(values):
            run.log({"val_loss": v, "train/loss": v / 2, "epoch": s}, step=s)
        run.finish()
        logged[name] = values
    return root / "wandb", logged


def test_a_wandb_folder_gives_back_every_value_logged(runs):
    folder, logged = runs
    assert is_wandb_dir(folder) and not is_wandb_dir(folder.parent / "nothing")
    curves = read_wandb(folder, metric="val_loss")
    assert sorted(c.run for c in curves) == sorted(logged)
    for c in curves:
        assert c.steps.tolist() == list(range(STEPS[c.run]))
        want = logged[c.run]
        assert [v if math.isfinite(v) else str(v) for v in c.values] == [
            v if math.isfinite(v) else str(v) for v in want]  # exact: W&B keeps float64
        assert c.hp == {"lr": 0.1 if c.run == "lr0.1" else 0.01, "layers": 2}
        assert c.meta["project"] == "sweep"
    assert curves["diverged"].status == "diverged"
    nested = read_wandb(folder, metric="train/loss")["lr0.1"]
    assert nested.values.tolist() == pytest.approx([v / 2 for v in logged["lr0.1"]])


def test_one_run_directory_or_file_and_the_library_agree(runs):
    folder, _ = runs
    run_dir = next(d for d in folder.iterdir() if d.is_dir() and not d.is_symlink()
                   and read_wandb(d, metric="val_loss")[0].run == "lr0.01")
    (run_file,) = run_dir.glob("run-*.wandb")
    assert run_file.stat().st_size > 3 * BLOCK
    (curve,) = read_wandb(run_file, metric="val_loss")
    assert len(curve) == STEPS["lr0.01"]
    # wandb's own reader of the log (its Go core, offline) sees the same rows
    out = subprocess.run([str(Path(sys.executable).parent / "wandb"), "leet", "inspect",
                          "--json", str(run_dir)], capture_output=True, text=True,
                         check=True, stdin=subprocess.DEVNULL, timeout=120).stdout
    rows = [json.loads(line)["history"]["item"] for line in out.splitlines()
            if '"type":"history"' in line]
    assert [r["val_loss"] for r in rows] == curve.values.tolist()
    assert [r["_step"] for r in rows] == curve.steps.tolist()


def test_an_exported_history_csv_and_parquet(runs, tmp_path):
    folder, logged = runs
    curves = read_wandb(folder, metric="val_loss")
    # run.history()'s columns, the runs stacked with a name column, as users save them
    frame = pd.concat([pd.DataFrame({"_step": c.steps.astype(int), "val_loss": c.values,
                                     "_runtime": 1.0, "name": c.run}) for c in curves])
    frame.to_csv(tmp_path / "history.csv", index=False)
    frame.to_parquet(tmp_path / "history.parquet")
    for name in ("history.csv", "history.parquet"):
        back = read_wandb(tmp_path / name)
        assert back["lr0.1"].values.tolist() == pytest.approx(logged["lr0.1"], rel=1e-15)
        # NaN cells read as missing in an export, inf kept: still diverged
        assert len(back["diverged"]) == 6 and back["diverged"].status == "diverged"
    # a chart's CSV export: Step, '<run> - <metric>' and its __MIN/__MAX
    chart = pd.DataFrame({"Step": range(30), "lr0.1 - val_loss": logged["lr0.1"],
                          "lr0.1 - val_loss__MIN": 0.0, "lr0.1 - val_loss__MAX": 9.0})
    chart.to_csv(tmp_path / "chart.csv", index=False)
    (c,) = read_wandb_export(tmp_path / "chart.csv")
    assert c.run == "lr0.1" and c.values.tolist() == pytest.approx(logged["lr0.1"])


def test_errors_name_what_is_there(runs, tmp_path):
    folder, _ = runs
    with pytest.raises(InputError, match="3 metrics.*epoch, train/loss, val_loss"):
        read_wandb(folder)
    with pytest.raises(InputError, match="no run logged metric 'acc'"):
        read_wandb(folder, metric="acc")
    with pytest.raises(InputError, match="no W&B run here"):
        read_wandb(tmp_path)
    (run_file,) = next(d for d in folder.iterdir() if d.is_dir() and not d.is_symlink()
                       ).glob("run-*.wandb")
    data = bytearray(run_file.read_bytes())
    data[200] ^= 0xFF
    (tmp_path / "run-x.wandb").write_bytes(bytes(data))
    with pytest.raises(InputError, match="damaged record at byte"):
        read_wandb(tmp_path / "run-x.wandb", metric="val_loss")
    cut = run_file.read_bytes()[:-500]  # a run still writing: whole records only
    (tmp_path / "run-y.wandb").write_bytes(cut)
    assert len(read_wandb(tmp_path / "run-y.wandb", metric="val_loss")) == 1
