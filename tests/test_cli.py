"""Tests of the ``curvecast`` command: run in-process through ``curvecast.cli.main``.

Every test goes through ``main(argv)`` (the console script's entry point), so exit codes
and the mapping of errors to messages are those a user sees; one test runs the installed
console script itself.
"""

from __future__ import annotations

import gzip
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from curvecast.cli import main

RUN_KEYS = {"run", "status", "n_points", "last", "at", "median", "lower", "upper", "eta"}
NUMBER_KEYS = RUN_KEYS - {"run", "status"}


# --------------------------------------------------------------------------- helpers


def cli(capsys, *args) -> tuple[int, str, str]:
    """Run ``curvecast ARGS`` in-process: (exit code, stdout, stderr)."""
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code
    else:  # main() always ends in sys.exit
        raise AssertionError("curvecast.cli.main returned instead of exiting")
    out, err = capsys.readouterr()
    return (0 if code is None else code), out, err


def strict_json(text: str) -> dict:
    """Parse JSON, refusing the non-standard NaN/Infinity tokens."""

    def bad_constant(name):
        raise AssertionError(f"non-standard JSON constant {name} in the output")

    return json.loads(text, parse_constant=bad_constant)


def forecast_json(capsys, *args, code: int = 0) -> dict:
    """``curvecast forecast ARGS --json``, checked for exit code and documented shape."""
    got, out, err = cli(capsys, "forecast", *args, "--json")
    assert got == code, err
    assert "Traceback" not in err
    data = strict_json(out)
    assert isinstance(data, dict) and isinstance(data["runs"], list)
    for row in data["runs"]:
        assert set(row) == RUN_KEYS
        assert isinstance(row["run"], str) and isinstance(row["status"], str)
        for k in NUMBER_KEYS:
            v = row[k]
            assert v is None or (
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            ), (k, v)
    return data


def by_run(data: dict) -> dict[str, dict]:
    return {r["run"]: r for r in data["runs"]}


def table_rows(out: str) -> dict[str, list[str]]:
    """Rows of the rich table printed by ``forecast``, as cells keyed by run name."""
    lines = [ln for ln in out.splitlines() if ln.strip()]
    header = [c.strip() for c in lines[0].split("┃")]
    rows = {}
    for ln in lines[2:]:  # after the header and its rule
        cells = [c.strip() for c in ln.split("│")]
        rows[cells[0]] = cells
    return {"__header__": header, **rows}


def loss_curve(x, floor=0.3, amp=2.0, power=0.8, noise=0.003, seed=0) -> np.ndarray:
    """A power-law loss with small multiplicative noise (deterministic)."""
    x = np.asarray(x, float)
    rng = np.random.default_rng(seed)
    return (floor + amp * x**-power) * (1 + noise * rng.standard_normal(x.size))


def write_csv(path: Path, runs: dict[str, tuple], header: str = "run,step,value") -> Path:
    lines = [header]
    for run, (steps, values) in runs.items():
        lines += [f"{run},{float(s):g},{float(v)!r}" for s, v in zip(steps, values)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def three_runs() -> dict[str, tuple]:
    """Runs of different lengths; the largest step of the set is 30."""
    x = np.arange(1, 31)
    return {
        "a": (x[:20], loss_curve(x[:20], seed=1)),
        "b": (x, loss_curve(x, floor=0.5, amp=1.5, seed=2)),
        "c": (x[:12], loss_curve(x[:12], floor=0.2, amp=3.0, power=0.6, seed=3)),
    }


def tb_write(logdir: Path, points, tag: str = "loss", extra_tag: str | None = None) -> None:
    """Write one TensorBoard event file with simple_value scalars."""
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    w = EventFileWriter(str(logdir))
    for step, v in points:
        vals = [summary_pb2.Summary.Value(tag=tag, simple_value=v)]
        if extra_tag:
            vals.append(summary_pb2.Summary.Value(tag=extra_tag, simple_value=v / 2))
        ev = event_pb2.Event(step=int(step), wall_time=1.0, summary=summary_pb2.Summary(value=vals))
        w.add_event(ev)
    w.close()


@pytest.fixture
def runs_csv(tmp_path) -> Path:
    return write_csv(tmp_path / "runs.csv", three_runs())


# --------------------------------------------------------------------------- output


def test_table_output(capsys, runs_csv):
    code, out, err = cli(capsys, "forecast", runs_csv)
    assert code == 0, err
    assert err == ""
    rows = table_rows(out)
    assert rows["__header__"] == ["run", "status", "points", "last", "at", "median", "lower",
                                  "upper"]  # fmt: skip
    assert set(rows) == {"__header__", "a", "b", "c"}
    for run, (steps, values) in three_runs().items():
        cells = rows[run]
        assert cells[1] == "ok"
        assert int(cells[2]) == len(steps)
        assert float(cells[3]) == pytest.approx(values[-1], rel=1e-4)  # printed with 5 digits
        assert float(cells[4]) == 30
        median, lower, upper = (float(c) for c in cells[5:8])
        assert lower < median < upper
    assert "eta" not in out  # only with --target


def test_json_output_shape_and_at_default(capsys, runs_csv):
    data = forecast_json(capsys, runs_csv)
    assert [r["run"] for r in data["runs"]] == ["a", "b", "c"]
    assert data["goal"] == "min" and data["level"] == 0.8 and data["method"] == "default"
    for run, (steps, values) in three_runs().items():
        r = by_run(data)[run]
        assert r["status"] == "ok" and r["n_points"] == len(steps)
        assert r["at"] == 30.0  # the largest step in the file, for every run
        assert r["last"] == pytest.approx(values[-1], rel=1e-12)
        assert r["lower"] < r["median"] < r["upper"]
        assert r["eta"] is None
    # run b was seen up to 30: its forecast at 30 is near its last value
    b = by_run(data)["b"]
    assert b["median"] == pytest.approx(b["last"], rel=0.02)
    # run c (seen to 12) keeps decreasing: forecast at 30 below its last value
    c = by_run(data)["c"]
    assert c["median"] < c["last"]


def test_json_and_table_agree(capsys, runs_csv):
    data = by_run(forecast_json(capsys, runs_csv, "--at", 100))
    code, out, _ = cli(capsys, "forecast", runs_csv, "--at", 100)
    assert code == 0
    rows = table_rows(out)
    for run in "abc":
        assert float(rows[run][4]) == 100 == data[run]["at"]
        assert float(rows[run][5]) == pytest.approx(data[run]["median"], rel=1e-4)


def test_at_option_moves_the_forecast(capsys, runs_csv):
    near = by_run(forecast_json(capsys, runs_csv, "--at", 30))
    far = by_run(forecast_json(capsys, runs_csv, "--at", 1000))
    for run in "abc":
        assert far[run]["at"] == 1000.0
        assert far[run]["median"] < near[run]["median"]  # losses keep falling
        # and the further ahead, the less certain
        assert far[run]["upper"] - far[run]["lower"] > near[run]["upper"] - near[run]["lower"]


def test_level_changes_the_interval(capsys, runs_csv):
    narrow = by_run(forecast_json(capsys, runs_csv, "--at", 60, "--level", 0.5))
    wide = by_run(forecast_json(capsys, runs_csv, "--at", 60, "--level", 0.9))
    assert narrow.keys() == wide.keys() == {"a", "b", "c"}
    for run in narrow:
        n, w = narrow[run], wide[run]
        assert n["median"] == pytest.approx(w["median"], rel=1e-9)
        assert w["lower"] < n["lower"] < n["median"] < n["upper"] < w["upper"]


def test_goal_max_on_accuracy_curve(capsys, tmp_path):
    x = np.arange(1, 16)
    acc = 0.9 - 0.5 * x**-0.7 * (1 + 0.003 * np.random.default_rng(4).standard_normal(x.size))
    path = write_csv(tmp_path / "acc.csv", {"acc": (x, acc)})
    data = forecast_json(capsys, path, "--goal", "max", "--at", 200, "--method", "bma")
    assert data["goal"] == "max"
    (r,) = data["runs"]
    assert r["status"] == "ok"
    # an accuracy keeps rising towards 0.9, not falling
    assert acc[-1] < r["median"] < 0.95
    assert r["lower"] < r["median"] < r["upper"]
    assert r["median"] == pytest.approx(0.9 - 0.5 * 200**-0.7, abs=0.03)


def test_target_eta(capsys, tmp_path):
    x = np.arange(1, 21)
    runs = {
        # reaches 0.3 at about step 20 ** (1 / 0.7) = 72.4
        "will": (x, loss_curve(x, floor=0.2, amp=2.0, power=0.7, noise=0.002, seed=5)),
        # levels off at 0.6: never reaches 0.3
        "wont": (x, loss_curve(x, floor=0.6, amp=1.0, power=0.7, noise=0.002, seed=6)),
        # below 0.3 from step 3 on (0.1 + 0.5 / 3 = 0.267)
        "done": (x, 0.1 + 0.5 / x),
    }
    path = write_csv(tmp_path / "eta.csv", runs)
    # textbook curves: the fitted families' own average (bma) is the exact method here
    ask = ("--at", 200, "--target", 0.3, "--method", "bma")
    at50 = by_run(forecast_json(capsys, path, *ask, "--prob", 0.5))
    at90 = by_run(forecast_json(capsys, path, *ask, "--prob", 0.9))
    for rows in (at50, at90):
        assert 60 < rows["will"]["eta"] < 90
        assert rows["wont"]["eta"] is None
        assert rows["done"]["eta"] == 3.0  # the observed step, not a forecast
    # asking for more certainty can only move the ETA later
    assert at90["will"]["eta"] >= at50["will"]["eta"]

    code, out, err = cli(capsys, "forecast", path, *ask)
    assert code == 0, err
    rows = table_rows(out)
    assert rows["__header__"][-1] == "eta"
    assert rows["wont"][-1] == "not within horizon"
    assert rows["done"][-1] == "3"
    assert 60 < float(rows["will"][-1]) < 90


def test_target_beyond_horizon_is_null(capsys, tmp_path):
    x = np.arange(1, 21)
    path = write_csv(tmp_path / "eta.csv", {"r": (x, loss_curve(x, floor=0.2, power=0.7))})
    # reached near step 72, but the horizon stops at 50
    (r,) = forecast_json(capsys, path, "--at", 50, "--target", 0.3)["runs"]
    assert r["status"] == "ok" and r["eta"] is None


@pytest.mark.parametrize("method", ["last", "mean_last"])
def test_baseline_methods(capsys, tmp_path, method):
    x = np.arange(1, 31)
    runs = {f"r{i}": (x, loss_curve(x, floor=0.2 * i, seed=10 + i)) for i in range(1, 4)}
    path = write_csv(tmp_path / "runs.csv", runs)
    # at the last observed step (the default --at) a baseline's median is its statistic
    data = by_run(forecast_json(capsys, path, "--method", method))
    for run, (_, values) in runs.items():
        expect = values[-1] if method == "last" else np.mean(values[-3:])
        assert data[run]["median"] == pytest.approx(expect, rel=1e-6)
        assert data[run]["lower"] < data[run]["median"] < data[run]["upper"]
    # ahead of the data the ensemble extrapolates the decline; the baselines do not
    base = by_run(forecast_json(capsys, path, "--method", method, "--at", 100))
    ens = by_run(forecast_json(capsys, path, "--at", 100))
    for run, (_, values) in runs.items():
        assert ens[run]["median"] < values[-1] < base[run]["upper"]
        assert base[run]["upper"] - base[run]["lower"] > data[run]["upper"] - data[run]["lower"]


# --------------------------------------------------------------------------- formats


def _write_format(tmp_path: Path, fmt: str, runs: dict[str, tuple]) -> tuple[Path, list[str]]:
    """The runs in one input format: (path, extra CLI args)."""
    rows = [(r, float(s), float(v)) for r, (xs, ys) in runs.items() for s, v in zip(xs, ys)]
    df = pd.DataFrame(rows, columns=["run", "step", "value"])
    if fmt == "csv":
        return write_csv(tmp_path / "runs.csv", runs), []
    if fmt == "csv.gz":
        p = tmp_path / "runs.csv.gz"
        with gzip.open(p, "wt", encoding="utf-8") as f:
            df.to_csv(f, index=False)
        return p, []
    if fmt == "jsonl-long":
        p = tmp_path / "runs.jsonl"
        p.write_text("".join(json.dumps({"run": r, "step": s, "value": v}) + "\n"
                             for r, s, v in rows))  # fmt: skip
        return p, []
    if fmt == "jsonl-runs":
        p = tmp_path / "runs.jsonl"
        p.write_text("".join(
            json.dumps({"run": r, "steps": [float(s) for s in xs], "values": [float(v) for v in ys],
                        "hp": {"lr": 0.1}}) + "\n"
            for r, (xs, ys) in runs.items()
        ))  # fmt: skip
        return p, []
    if fmt == "parquet":
        p = tmp_path / "runs.parquet"
        df.to_parquet(p, index=False)
        return p, []
    if fmt == "tensorboard":
        root = tmp_path / "logs"
        for r, (xs, ys) in runs.items():
            tb_write(root / r, zip(xs, ys), tag="val/loss", extra_tag="train/loss")
        return root, ["--tag", "val/loss"]
    raise AssertionError(fmt)


@pytest.mark.parametrize(
    "fmt", ["csv", "csv.gz", "jsonl-long", "jsonl-runs", "parquet", "tensorboard"]
)
def test_every_input_format(capsys, tmp_path, fmt):
    runs = three_runs()
    reference = by_run(forecast_json(capsys, write_csv(tmp_path / "ref.csv", runs), "--at", 50))
    (tmp_path / "in").mkdir()
    path, extra = _write_format(tmp_path / "in", fmt, runs)
    got = by_run(forecast_json(capsys, path, *extra, "--at", 50))
    assert got.keys() == reference.keys()
    # TensorBoard stores float32: compare loosely there, exactly elsewhere
    rel = 1e-4 if fmt == "tensorboard" else 1e-12
    for run, ref in reference.items():
        g = got[run]
        assert g["status"] == "ok" and g["n_points"] == ref["n_points"]
        for k in ("last", "median", "lower", "upper"):
            assert g[k] == pytest.approx(ref[k], rel=rel), (run, k)


def test_tensorboard_picks_the_tag(capsys, tmp_path):
    runs = three_runs()
    path, _ = _write_format(tmp_path, "tensorboard", runs)
    val = by_run(forecast_json(capsys, path, "--tag", "val/loss"))
    train = by_run(forecast_json(capsys, path, "--tag", "train/loss"))
    for run, (_, values) in runs.items():
        assert val[run]["last"] == pytest.approx(values[-1], rel=1e-6)
        assert train[run]["last"] == pytest.approx(values[-1] / 2, rel=1e-6)


# --------------------------------------------------------------------------- bad input


CSV_HEAD = "run,step,value\n"
BAD_FILES = {
    # id: (file name, content, substrings the message must hold besides the file name)
    "empty": ("runs.csv", "", ["empty"]),
    "header-only": ("runs.csv", CSV_HEAD, ["no data rows"]),
    "missing-column": ("runs.csv", "run,step\na,1\na,2\n", ["'value'"]),
    "text-in-value": ("runs.csv", CSV_HEAD + "a,1,1.0\na,2,abc\n",
                      ["row 2", "column 'value'", "run 'a'", "'abc'"]),
    "text-in-step": ("runs.csv", CSV_HEAD + "a,1,1.0\nb,two,0.5\n",
                     ["row 2", "column 'step'", "run 'b'", "'two'"]),
    "empty-value": ("runs.csv", CSV_HEAD + "a,1,1.0\na,2,0.8\na,3,\n",
                    ["row 3", "column 'value'", "run 'a'", "missing"]),
    "duplicate-step": ("runs.csv", CSV_HEAD + "a,1,1.0\na,2,0.8\nb,2,0.8\na,2,0.7\n",
                       ["row 4", "run 'a'", "step 2", "rows 2 and 4"]),
    "negative-step": ("runs.csv", CSV_HEAD + "a,1,1.0\na,-5,0.8\n",
                      ["row 2", "column 'step'", "run 'a'", "negative"]),
    "inf-step": ("runs.csv", CSV_HEAD + "a,1,1.0\na,inf,0.8\n",
                 ["row 2", "column 'step'", "run 'a'", "not finite"]),
    "nan-step": ("runs.csv", CSV_HEAD + "a,nan,1.0\na,2,0.8\n",
                 ["row 1", "column 'step'", "run 'a'", "not finite"]),
    "malformed-json": ("runs.jsonl",
                       '{"run": "a", "step": 1, "value": 1.0}\n{"run": "a", "step": 2,\n',
                       ["row 2", "not valid JSON"]),
    "json-runs-text-value": ("runs.jsonl",
                             '{"run": "a", "steps": [1, 2, 3], "values": [1.0, 0.5, 0.25]}\n'
                             '{"run": "b", "steps": [1, 2, 3], "values": [1.0, "x", 0.25]}\n',
                             ["row 2", "run 'b'", "values[1]", "'x'"]),
    "json-runs-duplicate-step": ("runs.jsonl",
                                 '{"run": "a", "steps": [1, 2, 2], "values": [1.0, 0.5, 0.2]}\n',
                                 ["row 1", "run 'a'", "step 2", "appears twice"]),
    "unknown-extension": ("runs.txt", CSV_HEAD + "a,1,1.0\n", ["'.txt'"]),
    "not-parquet": ("runs.parquet", "this is not parquet", ["Parquet"]),
}  # fmt: skip


def assert_clean_error(code: int, out: str, err: str, *parts: str) -> None:
    """Exit 2, one line `error: ...` on stderr holding every part, nothing on stdout."""
    assert code == 2, err
    assert "Traceback" not in err
    assert out == ""
    assert err.startswith("error: ") and err.endswith("\n")
    assert err.count("\n") == 1, f"not one line: {err!r}"
    for p in parts:
        assert p in err, f"{p!r} not in {err!r}"


@pytest.mark.parametrize("case", list(BAD_FILES), ids=list(BAD_FILES))
def test_bad_input_exits_2_with_one_line(capsys, tmp_path, case):
    name, content, parts = BAD_FILES[case]
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    code, out, err = cli(capsys, "forecast", path)
    assert_clean_error(code, out, err, str(path), *parts)


def test_bad_parquet_cells(capsys, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "runs.parquet"
    pq.write_table(pa.table({"run": ["a", "a"], "step": [1.0, 2.0], "value": [1.0, None]}), path)
    code, out, err = cli(capsys, "forecast", path)
    assert_clean_error(code, out, err, str(path), "row 2", "column 'value'", "run 'a'")
    pq.write_table(pa.table({"run": ["a"], "value": [1.0]}), path)
    code, out, err = cli(capsys, "forecast", path)
    assert_clean_error(code, out, err, str(path), "'step'")


def test_missing_file(capsys, tmp_path):
    path = tmp_path / "nope.csv"
    code, out, err = cli(capsys, "forecast", path)
    assert_clean_error(code, out, err, str(path), "no such file")


def test_tensorboard_dir_without_the_tag(capsys, tmp_path):
    root = tmp_path / "logs"
    tb_write(root / "r1", [(0, 1.0), (1, 0.5), (2, 0.4)], tag="train/loss", extra_tag="val/acc")
    code, out, err = cli(capsys, "forecast", root, "--tag", "val/loss")
    assert_clean_error(code, out, err, str(root), "'val/loss'", "train/loss, val/acc")
    # and without --tag when the logs hold several
    code, out, err = cli(capsys, "forecast", root)
    assert_clean_error(code, out, err, str(root), "--tag", "train/loss", "val/acc")
    # a directory without event files
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, err = cli(capsys, "forecast", empty)
    assert_clean_error(code, out, err, str(empty), "no TensorBoard event files")


def test_tag_on_a_csv_file(capsys, runs_csv):
    code, out, err = cli(capsys, "forecast", runs_csv, "--tag", "loss")
    assert_clean_error(code, out, err, "tag")


def test_bad_at_value(capsys, runs_csv):
    code, out, err = cli(capsys, "forecast", runs_csv, "--at", -1)
    assert_clean_error(code, out, err, "-1")


BAD_OPTIONS = {
    "level": (["--level", "1.5"], "--level", "1.5"),
    "level-zero": (["--level", "0"], "--level", "0"),
    "prob": (["--prob", "0"], "--prob", "0"),
    "goal": (["--goal", "up"], "--goal", "up"),
    "method": (["--method", "spline"], "--method", "spline"),
    "bound": (["--bound", "abc"], "--bound", "abc"),
}


@pytest.mark.parametrize("case", list(BAD_OPTIONS), ids=list(BAD_OPTIONS))
def test_bad_option_values_exit_2(capsys, runs_csv, case):
    args, option, value = BAD_OPTIONS[case]
    code, out, err = cli(capsys, "forecast", runs_csv, *args)
    assert code == 2, err
    assert "Traceback" not in err
    assert out == ""
    last = err.strip().splitlines()[-1]
    assert option in last and value in last, err


def test_bad_option_values_are_one_line_errors(capsys, runs_csv):
    code, out, err = cli(capsys, "forecast", runs_csv, "--level", "1.5")
    assert_clean_error(code, out, err, "--level", "1.5")


def test_format_option_overrides_the_extension(capsys, tmp_path, runs_csv):
    # the unknown-extension message points at --format; that option must exist and work
    txt = tmp_path / "runs.txt"
    txt.write_bytes(runs_csv.read_bytes())
    code, out, err = cli(capsys, "forecast", txt)
    assert_clean_error(code, out, err, str(txt), "--format")
    assert by_run(forecast_json(capsys, txt, "--format", "csv")) == by_run(
        forecast_json(capsys, runs_csv))
    code, out, err = cli(capsys, "forecast", txt, "--format", "xml")
    assert code == 2 and "Traceback" not in err and "--format" in err
    # a CSV read as JSON Lines is bad input, reported cleanly
    code, out, err = cli(capsys, "forecast", runs_csv, "--format", "jsonl")
    assert_clean_error(code, out, err, str(runs_csv), "row 1")


# --------------------------------------------------------------------------- awkward but valid


def test_unsorted_steps_equal_sorted(capsys, tmp_path):
    runs = three_runs()
    sorted_path = write_csv(tmp_path / "sorted.csv", runs)
    lines = sorted_path.read_text().splitlines()
    body = lines[1:]
    rng = np.random.default_rng(7)
    shuffled = [body[i] for i in rng.permutation(len(body))]
    assert shuffled != body
    shuffled_path = tmp_path / "shuffled.csv"
    shuffled_path.write_text("\n".join([lines[0], *shuffled]) + "\n")
    a = by_run(forecast_json(capsys, sorted_path, "--at", 50, "--target", 0.6))
    b = by_run(forecast_json(capsys, shuffled_path, "--at", 50, "--target", 0.6))
    assert a.keys() == b.keys()
    for run, row in a.items():  # the same numbers, to 1e-12, whatever the row order
        assert b[run] == {k: pytest.approx(v, rel=1e-12) if isinstance(v, float) else v
                          for k, v in row.items()}


def test_one_point_run_is_too_short(capsys, tmp_path):
    x = np.arange(1, 11)
    path = write_csv(tmp_path / "runs.csv", {"ok": (x, loss_curve(x)), "one": ([1], [0.9])})
    data = by_run(forecast_json(capsys, path, code=0))
    assert data["ok"]["status"] == "ok" and data["ok"]["median"] is not None
    one = data["one"]
    assert one["status"] == "too_short" and one["n_points"] == 1
    assert one["last"] == 0.9
    assert one["median"] is None and one["lower"] is None and one["upper"] is None


def test_diverged_runs(capsys, tmp_path):
    x = np.arange(1, 11)
    mid = loss_curve(x, seed=8).copy()
    mid[5] = np.nan
    path = tmp_path / "runs.csv"
    write_csv(path, {"ok": (x, loss_curve(x)), "mid": (x, mid)})
    with path.open("a") as f:  # spelled the ways a log might spell it
        spellings = ["nan", "NaN", "inf", "-inf"]
        f.writelines(f"allnan,{s},{w}\n" for s, w in zip([1, 2, 3, 4], spellings))
    data = by_run(forecast_json(capsys, path, "--target", 0.1))
    assert data["ok"]["status"] == "ok"
    for run in ("mid", "allnan"):
        r = data[run]
        assert r["status"] == "diverged"
        assert r["median"] is None and r["lower"] is None and r["upper"] is None
        assert r["eta"] is None
    assert data["mid"]["last"] == pytest.approx(mid[-1])
    assert data["allnan"]["last"] is None
    code, out, err = cli(capsys, "forecast", path)
    assert code == 0, err
    assert table_rows(out)["allnan"][1:4] == ["diverged", "4", "-"]


def test_no_run_can_be_forecast_exits_1(capsys, tmp_path):
    path = tmp_path / "runs.csv"
    path.write_text(
        CSV_HEAD + "a,1,nan\na,2,nan\na,3,nan\nb,1,1.0\nb,2,0.9\nc,1,1\nc,2,nan\nc,3,0.5\n"
    )
    data = by_run(forecast_json(capsys, path, code=1))
    assert {r: d["status"] for r, d in data.items()} == {
        "a": "diverged", "b": "too_short", "c": "diverged"}
    code, out, err = cli(capsys, "forecast", path)
    assert code == 1
    assert "no run could be forecast" in err and "Traceback" not in err
    assert set(table_rows(out)) == {"__header__", "a", "b", "c"}  # the table is still shown


# --------------------------------------------------------------------------- side effects


def tree(root: Path) -> dict[str, bytes]:
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p.relative_to(root)): p.read_bytes() for p in files}


def test_forecast_writes_no_files(capsys, tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    good = write_csv(data_dir / "runs.csv", three_runs())
    bad = data_dir / "bad.csv"
    bad.write_text(CSV_HEAD + "a,1,1.0\na,2,oops\n")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    before = tree(tmp_path)
    assert cli(capsys, "forecast", good)[0] == 0
    assert cli(capsys, "forecast", good, "--json", "--target", 0.5, "--at", 100)[0] == 0
    assert cli(capsys, "forecast", bad)[0] == 2
    assert tree(tmp_path) == before


@pytest.mark.slow
def test_demo_writes_plot_and_json(capsys, tmp_path):
    out_dir = tmp_path / "demo-out"
    code, out, err = cli(capsys, "demo", "--out", out_dir)
    assert code == 0, err
    assert "Traceback" not in err
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "forecasts.json", "forecasts.png", "report.html", "sweep.db"]
    png = (out_dir / "forecasts.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
    data = strict_json((out_dir / "forecasts.json").read_text())
    rows = data["runs"]
    assert len(rows) > 10
    ok = [r for r in rows if r["status"] == "ok"]
    assert ok and all(r["lower"] <= r["median"] <= r["upper"] for r in ok)
    assert any(r["final_status"] == "diverged" for r in rows)
    flat = " ".join(out.split())  # rich wraps long lines
    assert f"plot: {out_dir / 'forecasts.png'}" in flat and "inside the 80% interval" in flat
    assert flat.endswith(f"report (open it in a browser): {out_dir / 'report.html'}")
    # the sweep: both pruners on SQLite, each trial recorded there
    assert "ForecastPruner" in flat and "MedianPruner" in flat
    import optuna

    storage = f"sqlite:///{out_dir / 'sweep.db'}"
    # the dashboard command it prints opens that study
    assert f"curvecast dashboard --storage {storage} --study ForecastPruner" in flat
    from curvecast.report.live import LiveStudy

    state = LiveStudy(storage, "ForecastPruner").snapshot()
    assert len(state["trials"]) == len(rows) and state["compute"]["fraction_saved"] > 0
    for name in ("ForecastPruner", "MedianPruner"):
        study = optuna.load_study(study_name=name, storage=storage)
        assert len(study.trials) == len(rows)
        pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
        assert pruned
    fp = optuna.load_study(study_name="ForecastPruner", storage=storage)
    assert all(t.user_attrs["curvecast"]["stop"] for t in fp.trials
               if t.state == optuna.trial.TrialState.PRUNED)


# --------------------------------------------------------------------------- console script


def test_console_script_entry_point(tmp_path):
    exe = shutil.which("curvecast", path=str(Path(sys.executable).parent))
    assert exe is not None, "the curvecast console script is not installed next to python"
    good = write_csv(tmp_path / "runs.csv", three_runs())
    proc = subprocess.run([exe, "forecast", str(good), "--json"], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert {r["run"] for r in strict_json(proc.stdout)["runs"]} == {"a", "b", "c"}
    bad = tmp_path / "bad.csv"
    bad.write_text(CSV_HEAD + "a,x,1\n")
    proc = subprocess.run([exe, "forecast", str(bad)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"error: {bad}, row 1, column 'step'")


# --------------------------------------------------------------------------- Ctrl-C


@pytest.mark.parametrize("args, where", [
    (["forecast", "RUNS", "--json"], "curvecast.runs.iter_forecast_runs"),
    (["backtest", "RUNS"], "curvecast.evaluate.backtest"),
    (["datasets", "list"], "curvecast.datasets.catalog.Dataset.available"),
])
def test_ctrl_c_is_one_line_and_exit_130(capsys, monkeypatch, runs_csv, args, where):
    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(where, interrupted)
    code, _, err = cli(capsys, *[str(runs_csv) if a == "RUNS" else a for a in args])
    assert code == 130
    assert err == "interrupted\n"


def test_ctrl_c_to_the_console_script(tmp_path):
    """A real SIGINT, sent once the command has its input open (so inside the command)."""
    import signal
    import time

    exe = shutil.which("curvecast", path=str(Path(sys.executable).parent))
    path = tmp_path / "many.csv"
    steps = np.arange(1, 11)
    runs = {f"r{i}": (steps, 1 + 2 * steps ** -(0.3 + i % 7 / 10)) for i in range(6000)}
    write_csv(path, runs)
    proc = subprocess.Popen([exe, "forecast", str(path)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    fds = Path(f"/proc/{proc.pid}/fd")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if any(str(path) in str(p.readlink()) for p in fds.iterdir()):
                break
        except OSError:
            pass
        time.sleep(0.005)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, err
    assert err == "interrupted\n"


# --------------------------------------------------------------------------- datasets export


def test_export_checks_the_output_before_loading(capsys, monkeypatch, tmp_path):
    from curvecast.datasets.catalog import Dataset

    def no_load(*a, **k):
        raise AssertionError("loaded the data before checking the output path")

    monkeypatch.setattr(Dataset, "load", no_load)
    monkeypatch.setattr(Dataset, "available", lambda *a, **k: True)
    (tmp_path / "file").write_text("x")
    for out in [tmp_path / "file" / "x.csv", tmp_path / "no" / "x.csv", tmp_path]:
        code, stdout, err = cli(capsys, "datasets", "export", "nasbench-nlp", "-o", out)
        assert code == 2 and stdout == "" and err.count("\n") == 1, err
        assert err.startswith("error: ") and str(out) in err
