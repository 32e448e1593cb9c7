"""Tests of curvecast.io: readers for long tables, JSON runs and TensorBoard, and write_long."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import SHARED_DATA, need

from curvecast.curve import Curve, CurveSet
from curvecast.errors import InputError, UsageError
from curvecast.io import read_curves, write_long

DATA = SHARED_DATA
TASKSET = DATA / "taskset" / "FixedTextRNNClassification_imdb_patch32_GRU128_bs128.json"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def csv(tmp_path: Path, body: str, name: str = "runs.csv") -> Path:
    return write(tmp_path / name, body)


def raises(path: Path, *parts: str, **kw) -> InputError:
    """read_curves(path) must raise InputError whose message holds every part."""
    with pytest.raises(InputError) as info:
        read_curves(path, **kw)
    msg = str(info.value)
    for p in parts:
        assert p in msg, f"{p!r} not in {msg!r}"
    return info.value


def sample_set() -> CurveSet:
    return CurveSet(
        [
            Curve("a", [0, 100, 200], [2.0, 1.25, 0.875], hp={"lr": 0.1, "bs": 32, "opt": "adam"},
                  meta={"seed": 1, "note": "x, with comma"}),  # fmt: skip
            Curve("7", [0, 100, 200, 300], [2.5, float("nan"), float("inf"), float("-inf")],
                  hp={"lr": 0.001, "bs": 64, "opt": "sgd"}, meta={"seed": 2}),  # fmt: skip
            Curve("c", [5.5], [0.1], hp={"lr": 1e-5}),
        ]
    )


def same(a: CurveSet, b: CurveSet) -> None:
    assert a.runs == b.runs
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.steps, y.steps)
        np.testing.assert_array_equal(x.values, y.values)  # NaN == NaN here
        assert x.hp == y.hp and x.meta == y.meta
        assert {type(v) for v in x.hp.values()} == {type(v) for v in y.hp.values()}


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("ext", [".csv", ".csv.gz", ".jsonl", ".ndjson", ".parquet", ".pq"])
def test_round_trip(tmp_path, ext):
    cs = sample_set()
    path = tmp_path / f"out{ext}"
    write_long(cs, path)
    back = read_curves(path)
    same(cs, back)
    assert back["7"].status == "diverged" and back["c"].status == "too_short"
    assert back.source == str(path)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left


def test_round_trip_jsonl_is_strict_json(tmp_path):
    path = tmp_path / "out.jsonl"
    write_long(sample_set(), path)
    for line in path.read_text().splitlines():  # NaN/inf written as text, not bare NaN
        json.loads(line, parse_constant=lambda c: pytest.fail(f"bare {c} in {line}"))


def test_csv_reads_hp_meta_and_types(tmp_path):
    p = csv(tmp_path, "run,step,value,hp.lr,hp.layers,opt,flag,epoch\n"
                      "a,2,0.5,0.1,3,adam,true,2\n"
                      "a,0,1.0,0.1,3,adam,false,0\n"
                      "a,1,0.7,0.1,3,adam,true,1\n"
                      "b,0,2.0,,4,sgd,,0\n")  # fmt: skip
    cs = read_curves(p, goal="min")
    a, b = cs["a"], cs["b"]
    assert a.steps.tolist() == [0, 1, 2]  # unsorted rows are sorted silently
    assert a.values.tolist() == [1.0, 0.7, 0.5]
    assert a.hp == {"lr": 0.1, "layers": 3}
    assert type(a.hp["layers"]) is int
    # varying meta keeps the value at the largest step; empty cells do not count
    assert a.meta == {"opt": "adam", "flag": True, "epoch": 2}
    assert b.hp == {"layers": 4} and b.meta == {"opt": "sgd", "epoch": 0}


def test_numeric_run_names(tmp_path):
    cs = read_curves(csv(tmp_path, "run,step,value\n3,0,1\n3,1,2\n10,0,1\n"))
    assert cs.runs == ["3", "10"]
    pq.write_table(pa.table({"run": [3.0, 3.0, 4.0], "step": [0, 1, 0], "value": [1.0, 2, 3]}),
                   tmp_path / "f.parquet")  # fmt: skip
    assert read_curves(tmp_path / "f.parquet").runs == ["3", "4"]
    pq.write_table(pa.table({"run": [3, 3], "step": [0, 1], "value": [1.0, 2]}),
                   tmp_path / "i.parquet")  # fmt: skip
    assert read_curves(tmp_path / "i.parquet").runs == ["3"]
    lines = '{"run": 3, "step": 0, "value": 1}\n{"run": 3.0, "step": 1, "value": 2}\n'
    p = write(tmp_path / "r.jsonl", lines)
    cs = read_curves(p)
    assert cs.runs == ["3"] and len(cs["3"]) == 2


def test_nan_words_are_values(tmp_path):
    p = csv(tmp_path, "run,step,value\na,0,1\na,1,nan\nb,0,NaN\nc,0,inf\nc,1,-inf\n"
                      "d,0,1\nd,1,Infinity\n")  # fmt: skip
    cs = read_curves(p)
    assert all(c.status == "diverged" for c in cs)
    assert np.isnan(cs["a"].values[1]) and cs["c"].values.tolist() == [math.inf, -math.inf]


def test_one_point_and_all_nan_runs_are_kept(tmp_path):
    cs = read_curves(csv(tmp_path, "run,step,value\nsolo,0,1.5\nbad,0,nan\nbad,1,nan\nbad,2,nan\n"))
    assert cs["solo"].status == "too_short"
    assert cs["bad"].status == "diverged" and cs["bad"].last is None


def test_goal_and_fmt(tmp_path):
    p = write(tmp_path / "runs.txt", "run,step,value\na,0,0.1\na,1,0.5\n")
    cs = read_curves(p, fmt="csv", goal="max")
    assert cs.goal == "max" and cs["a"].best() == 0.5
    with pytest.raises(UsageError):
        read_curves(p, fmt="excel")
    with pytest.raises(UsageError):
        read_curves(p, fmt="csv", goal="up")
    with pytest.raises(UsageError, match="TensorBoard"):
        read_curves(p, fmt="csv", tag="loss")


def test_csv_gz_and_whitespace(tmp_path):
    p = tmp_path / "r.csv.gz"
    with gzip.open(p, "wt") as f:
        f.write("run, step, value\n\na, 0, 1.0\n\na, 1, 0.5\n")
    assert read_curves(p)["a"].values.tolist() == [1.0, 0.5]


def test_jsonl_runs_per_line(tmp_path):
    lines = [
        {"run": "a", "steps": [200, 0, 100], "values": [0.5, 1.0, "nan"], "hp": {"lr": 0.1},
         "seed": 3},  # fmt: skip
        {"run": 5, "steps": [0], "values": [1.0]},
    ]
    p = write(tmp_path / "runs.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n\n")
    cs = read_curves(p)
    assert cs.runs == ["a", "5"]
    a = cs["a"]
    assert a.steps.tolist() == [0, 100, 200] and a.values[0] == 1.0 and np.isnan(a.values[1])
    assert a.hp == {"lr": 0.1} and a.meta == {"seed": 3}
    assert cs["5"].status == "too_short"


def test_write_long_accepts_list_and_rejects_bad_calls(tmp_path):
    write_long([Curve("x", [0, 1], [1, 2])], tmp_path / "x.csv")
    assert read_curves(tmp_path / "x.csv").runs == ["x"]
    with pytest.raises(UsageError, match="extension"):
        write_long([Curve("x", [0], [1])], tmp_path / "x.xlsx")
    with pytest.raises(UsageError, match="clashes"):
        write_long([Curve("x", [0], [1], meta={"step": 1})], tmp_path / "y.csv")
    with pytest.raises(UsageError):
        write_long([Curve("x", [0], [1])], tmp_path / "no" / "such" / "dir.csv")


def test_write_long_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "out.csv"
    target.write_text("old contents\n")

    def broken(self, f, *a, **k):
        f.write("run,step,value\nhalf")
        raise RuntimeError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken)
    with pytest.raises(RuntimeError):
        write_long(sample_set(), target)
    assert target.read_text() == "old contents\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


# --------------------------------------------------------------------------- TensorBoard


def tb_write(logdir: Path, points, tag="loss", tensor=False, suffix="", extra_tag=None):
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter
    from tensorboard.util import tensor_util

    meta = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
    )
    w = EventFileWriter(str(logdir), filename_suffix=suffix)
    for step, v in points:
        if tensor:  # what TF2's tf.summary.scalar writes
            vals = [summary_pb2.Summary.Value(tag=tag, tensor=tensor_util.make_tensor_proto(v),
                                              metadata=meta)]  # fmt: skip
        else:
            vals = [summary_pb2.Summary.Value(tag=tag, simple_value=v)]
        if extra_tag:
            vals.append(summary_pb2.Summary.Value(tag=extra_tag, simple_value=v * 2))
        summary = summary_pb2.Summary(value=vals)
        w.add_event(event_pb2.Event(step=step, wall_time=1.0, summary=summary))
    w.close()


def test_tensorboard_simple_value_tensor_and_nested(tmp_path):
    root = tmp_path / "logs"
    tb_write(root, [(0, 1.0), (10, 0.5), (20, 0.25)])
    tb_write(root / "lr0.1" / "seed1", [(20, 0.75), (0, 2.0), (10, 1.0)], tensor=True)
    tb_write(root / "lr0.1" / "seed2", [(0, 4.0)])
    cs = read_curves(root)
    assert cs.runs == ["logs", "lr0.1/seed1", "lr0.1/seed2"]
    assert cs["logs"].values.tolist() == [1.0, 0.5, 0.25]
    assert cs["lr0.1/seed1"].steps.tolist() == [0, 10, 20]
    assert cs["lr0.1/seed1"].values.tolist() == [2.0, 1.0, 0.75]
    assert cs["lr0.1/seed2"].status == "too_short"
    assert cs["logs"].meta == {"tag": "loss"}
    # a single event file can be read too
    (event_file,) = root.glob("events.out.tfevents.*")
    assert read_curves(event_file).runs == ["logs"]


def test_tensorboard_restart_keeps_last_value(tmp_path):
    tb_write(tmp_path, [(0, 1.0), (10, 0.8), (20, 0.6), (10, 0.7), (20, 0.5), (30, 0.25)])
    c = read_curves(tmp_path)[0]
    assert c.steps.tolist() == [0, 10, 20, 30]
    assert c.values.tolist() == pytest.approx([1.0, 0.7, 0.5, 0.25])


def test_tensorboard_restart_in_second_file(tmp_path):
    # TensorBoard reads a run's files in name order; name them so, whatever the clock says
    for i, pts in enumerate([[(0, 1.0), (10, 0.8), (20, 0.6)], [(20, 0.5), (30, 0.25)]]):
        tb_write(tmp_path / "tmp", pts)
        (f,) = (tmp_path / "tmp").iterdir()
        f.rename(tmp_path / f"events.out.tfevents.{1000 + i}.host")
    (tmp_path / "tmp").rmdir()
    c = read_curves(tmp_path)[0]
    assert c.steps.tolist() == [0, 10, 20, 30] and c.values[2] == 0.5


def test_tensorboard_tag_selection(tmp_path):
    tb_write(tmp_path / "a", [(0, 1.0), (1, 0.5)], tag="train/loss", extra_tag="val/acc")
    tb_write(tmp_path / "b", [(0, 1.0), (1, 0.5)], tag="train/loss")
    raises(tmp_path, "2 scalar tags", "train/loss", "val/acc", "tag")
    cs = read_curves(tmp_path, tag="val/acc", goal="max")
    assert cs.runs == ["a"] and cs["a"].values.tolist() == [2.0, 1.0]  # b lacks it: skipped
    assert read_curves(tmp_path, tag="train/loss").runs == ["a", "b"]
    raises(tmp_path, "no scalar tag 'loss'", "train/loss, val/acc", tag="loss")


def test_tensorboard_without_event_files(tmp_path):
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub" / "notes.txt", "hi")
    raises(tmp_path, str(tmp_path), "no TensorBoard event files")


def test_tensorboard_without_scalars(tmp_path):
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    EventFileWriter(str(tmp_path)).close()
    raises(tmp_path, "no scalar summaries")


# --------------------------------------------------------------------------- bad input


def test_missing_file_and_unknown_extension(tmp_path):
    raises(tmp_path / "nope.csv", "nope.csv", "no such file")
    p = write(tmp_path / "runs.xlsx", "x")
    raises(p, "runs.xlsx", "unknown file type '.xlsx'", ".csv", "fmt")
    raises(write(tmp_path / "README", "x"), "(no extension)")


@pytest.mark.parametrize(
    "name, body, expect",
    [
        ("zero.csv", "", "is empty"),
        ("blank.csv", "\n\n  \n", "is empty"),
        ("header.csv", "run,step,value\n", "no data rows"),
        ("header_blank.csv", "run,step,value\n\n\n", "no data rows"),
        ("zero.jsonl", "", "is empty"),
        ("blank.jsonl", "\n \n\n", "is empty"),
    ],
)
def test_empty_files(tmp_path, name, body, expect):
    raises(write(tmp_path / name, body), name, expect)


def test_empty_parquet(tmp_path):
    p = tmp_path / "e.parquet"
    pq.write_table(pa.table({"run": pa.array([], pa.string()), "step": pa.array([], pa.int64()),
                             "value": pa.array([], pa.float64())}), p)  # fmt: skip
    raises(p, "no data rows")


def test_missing_column(tmp_path):
    e = raises(csv(tmp_path, "run,stp,value\na,0,1\n"), "no column 'step'",
               "['run', 'stp', 'value']", "'run', 'step' and 'value'")  # fmt: skip
    assert e.file.endswith("runs.csv")
    raises(write(tmp_path / "r.jsonl", '{"run": "a", "x": 0, "value": 1}\n'), "no column 'step'")
    pq.write_table(pa.table({"name": ["a"], "step": [0], "value": [1.0]}), tmp_path / "m.parquet")
    raises(tmp_path / "m.parquet", "no column 'run'", "'name'")


def test_text_in_step_and_value(tmp_path):
    e = raises(csv(tmp_path, "run,step,value\na,0,1\na,1,2\na,two,3\na,zz,3\n"),
               "row 3", "column 'step'", "'two'", "not a number")  # fmt: skip
    assert e.row == 3 and e.column == "step" and e.run == "a"
    e = raises(csv(tmp_path, "run,step,value\na,0,1\nb,1,1.2.3\n"),
               "row 2", "column 'value'", "run 'b'", "'1.2.3'")  # fmt: skip
    assert e.row == 2


def test_empty_value_run_and_step_cells(tmp_path):
    e = raises(csv(tmp_path, "run,step,value\na,0,1\na,1,\n"),
               "row 2", "column 'value'", "run 'a'", "missing value", "write nan",
               "drop the row")  # fmt: skip
    assert e.row == 2
    raises(csv(tmp_path, "run,step,value\na,0,1\n,1,2\n"),
           "row 2", "column 'run'", "run name is empty")  # fmt: skip
    raises(csv(tmp_path, "run,step,value\na,0,1\na, ,2\n"), "row 2", "column 'step'", "empty")


def test_duplicate_steps_name_run_and_both_rows(tmp_path):
    e = raises(csv(tmp_path, "run,step,value\na,0,1\nb,0,1\nb,5,2\na,1,2\nb,5.0,3\n"),
               "run 'b'", "rows 3 and 5", "step 5 appears twice")  # fmt: skip
    assert e.run == "b" and e.row == 5


@pytest.mark.parametrize(
    "bad, what", [("-1", "negative"), ("inf", "not finite"), ("nan", "not finite")]
)
def test_negative_and_nonfinite_steps(tmp_path, bad, what):
    e = raises(csv(tmp_path, f"run,step,value\na,0,1\na,{bad},2\n"), "row 2", "column 'step'", what)
    assert e.row == 2


def test_csv_ragged_row(tmp_path):
    raises(csv(tmp_path, "run,step,value\na,0,1\na,1,2,3\n"), "row 2", "quote fields")


def test_not_utf8(tmp_path):
    p = tmp_path / "r.csv"
    p.write_bytes(b"run,step,value\n\xff\xfe,0,1\n")
    raises(p, "UTF-8")


def test_long_jsonl_errors_use_line_numbers(tmp_path):
    ok = '{"run": "a", "step": 0, "value": 1}\n'
    raises(write(tmp_path / "a.jsonl", ok + "\n" + '{"run": "a", "step": 1, "value": 1\n'),
           "row 3", "not valid JSON")  # fmt: skip
    raises(write(tmp_path / "b.jsonl", ok + "[1, 2]\n"), "row 2", "not an object")
    raises(write(tmp_path / "c.jsonl", ok + '{"run": "a", "step": "x", "value": 1}\n'),
           "row 2", "column 'step'", "'x'")  # fmt: skip
    raises(write(tmp_path / "d.jsonl", ok + '{"run": "a", "step": 1, "value": null}\n'),
           "row 2", "missing value")  # fmt: skip
    raises(write(tmp_path / "e.jsonl", ok + '{"run": "a", "step": 1}\n'), "row 2", "missing value")
    raises(write(tmp_path / "f.jsonl", ok + '{"run": "a", "step": 0, "value": 2}\n'),
           "rows 1 and 2", "run 'a'")  # fmt: skip
    raises(write(tmp_path / "g.jsonl", ok + '{"run": "a", "step": true, "value": 2}\n'),
           "row 2", "'true'")  # fmt: skip
    # JSON's NaN and the string "nan" are values of a diverged run
    p = write(tmp_path / "h.jsonl", ok + '{"run": "a", "step": 1, "value": NaN}\n'
              '{"run": "a", "step": 2, "value": "-inf"}\n')  # fmt: skip
    assert read_curves(p)["a"].status == "diverged"


def test_jsonl_runs_errors(tmp_path):
    def runs(*objs) -> Path:
        return write(tmp_path / "r.jsonl", "\n".join(json.dumps(o) for o in objs) + "\n")

    a = {"run": "a", "steps": [0, 1], "values": [1, 2]}
    raises(runs(a, {"run": "b", "steps": [0, 1, 2], "values": [1, 2]}),
           "row 2", "run 'b'", "3 steps but 2 values")  # fmt: skip
    raises(runs(a, {"run": "b", "steps": [0, 1, 1], "values": [1, 2, 3]}),
           "row 2", "run 'b'", "steps[1] and steps[2]")  # fmt: skip
    raises(runs(a, {"run": "b", "steps": [0, 1], "values": [1, "oops"]}),
           "row 2", "run 'b'", "values[1] 'oops'")  # fmt: skip
    raises(runs(a, {"run": "b", "steps": [0, 1], "values": [1, None]}),
           "row 2", "missing values[1]", "write nan")  # fmt: skip
    raises(runs(a, {"run": "b", "steps": [0, -5], "values": [1, 2]}), "row 2", "negative")
    raises(runs(a, {"run": "a", "steps": [0], "values": [1]}), "lines 1 and 2", "run 'a'")
    raises(runs(a, {"steps": [0], "values": [1]}), "row 2", "no run name")
    raises(runs(a, {"run": "b", "step": 0, "value": 1}), "row 2", "no 'steps'")
    raises(runs(a, {"run": "b", "steps": 0, "values": [1]}), "row 2", "list of numbers")
    raises(runs(a, {"run": "b", "steps": [], "values": []}), "row 2", "no points")
    raises(runs(a, {"run": "b", "steps": [0], "values": [1], "hp": [1]}), "row 2", "'hp'")


def test_parquet_bad_input(tmp_path):
    p = tmp_path / "corrupt.parquet"
    p.write_bytes(b"PAR1 this is not really parquet PAR1")
    raises(p, "corrupt.parquet", "not a readable Parquet file")
    pq.write_table(pa.table({"run": ["a", "a"], "step": [0, 1], "value": [1.0, None]}),
                   tmp_path / "null.parquet")  # fmt: skip
    raises(tmp_path / "null.parquet", "row 2", "missing value")
    pq.write_table(pa.table({"run": ["a", "a"], "step": [0, 1], "value": [1.0, float("nan")]}),
                   tmp_path / "nan.parquet")  # fmt: skip
    assert read_curves(tmp_path / "nan.parquet")["a"].status == "diverged"
    pq.write_table(pa.table({"run": ["a", "a"], "step": ["0", "x"], "value": [1.0, 2.0]}),
                   tmp_path / "text.parquet")  # fmt: skip
    raises(tmp_path / "text.parquet", "row 2", "column 'step'", "'x'")


def test_bad_gzip(tmp_path):
    p = tmp_path / "r.csv.gz"
    p.write_bytes(b"not gzip at all")
    raises(p, "r.csv.gz", "could not read")


def test_directory_with_file_format(tmp_path):
    (tmp_path / "d.csv").mkdir()
    raises(tmp_path / "d.csv", "directory", fmt="csv")


# --------------------------------------------------------------------------- speed and real data


def test_reads_50k_shuffled_rows(tmp_path):
    rng = np.random.default_rng(0)
    n_runs, n_pts = 1000, 50
    df = pd.DataFrame({
        "run": np.repeat([f"run{i}" for i in range(n_runs)], n_pts),
        "step": np.tile(np.arange(n_pts) * 100, n_runs),
        "value": rng.random(n_runs * n_pts),
        "hp.lr": np.repeat(rng.random(n_runs), n_pts),
        "seed": np.repeat(np.arange(n_runs), n_pts),
    }).sample(frac=1.0, random_state=1)  # fmt: skip
    p = tmp_path / "big.csv"
    df.to_csv(p, index=False)
    cs = read_curves(p)
    assert len(cs) == n_runs and all(len(c) == n_pts for c in cs)
    assert cs["run5"].meta == {"seed": 5}


def test_real_taskset_curves(tmp_path):
    need(TASKSET)
    runs = json.loads(TASKSET.read_text())[:20]
    rows = []
    for i, r in enumerate(runs):
        loss = r["valid"]["loss"]
        for k, v in enumerate(loss):
            rows.append({"run": f"r{i}", "step": 200 * k, "value": v,
                         **{f"hp.{h}": x for h, x in r["hp"].items()}})  # fmt: skip
    p = tmp_path / "taskset.csv"
    pd.DataFrame(rows).to_csv(p, index=False)
    cs = read_curves(p)
    assert len(cs) == 20
    first = cs["r0"]
    assert first.steps[0] == 0 and first.steps[-1] == 10000 and len(first) == 51
    assert first.hp == pytest.approx(runs[0]["hp"])
    assert set(first.hp) == set(runs[0]["hp"])
    np.testing.assert_allclose(
        first.values, np.asarray(runs[0]["valid"]["loss"], dtype=float), equal_nan=True
    )
    assert {c.status for c in cs} <= {"ok", "diverged"}
