"""Two values at one step of a run (``on_duplicate``, ``--on-duplicate``): an error that
names the run, the rows and the option by default; last, first or mean on request, in every
reader (CSV by both paths, Parquet, JSON Lines in both layouts, TensorBoard)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curvecast import cli as cli_module
from curvecast.errors import InputError, UsageError
from curvecast.io import ON_DUPLICATE, read_curves, tabular

# run a: step 1 three times (rows 2, 4, 5: 4.0, 2.0, 6.0), run b: step 3 twice (rows 6, 7)
ROWS = [("a", 0, 9.0), ("a", 1, 4.0), ("a", 2, 1.0), ("a", 1, 2.0), ("a", 1, 6.0),
        ("b", 3, 5.0), ("b", 3, float("nan")), ("b", 4, 1.0)]
WANT = {"last": ([9.0, 6.0, 1.0], [np.nan, 1.0]), "first": ([9.0, 4.0, 1.0], [5.0, 1.0]),
        "mean": ([9.0, 4.0, 1.0], [np.nan, 1.0])}


def _csv(tmp_path: Path) -> Path:
    p = tmp_path / "runs.csv"
    p.write_text("run,step,value\n" + "".join(f"{r},{s},{v!r}\n" for r, s, v in ROWS))
    return p


def _parquet(tmp_path: Path) -> Path:
    p = tmp_path / "runs.parquet"
    cols = list(zip(*ROWS, strict=True))  # NaN stays NaN (pandas would write a null)
    pq.write_table(pa.table({"run": pa.array(cols[0]), "step": pa.array(cols[1]),
                             "value": pa.array(cols[2], from_pandas=False)}), p)
    return p


def _long_jsonl(tmp_path: Path) -> Path:
    p = tmp_path / "runs.jsonl"
    p.write_text("".join(json.dumps({"run": r, "step": s, "value": v}) + "\n"
                         for r, s, v in ROWS))
    return p


def _runs_jsonl(tmp_path: Path) -> Path:
    p = tmp_path / "runs.jsonl"
    lines = []
    for run in ("a", "b"):
        pts = [(s, v) for r, s, v in ROWS if r == run]
        lines.append(json.dumps({"run": run, "steps": [s for s, _ in pts],
                                 "values": [v for _, v in pts]}))
    p.write_text("\n".join(lines) + "\n")
    return p


def _csv_text_path(tmp_path: Path) -> Path:
    """A CSV the Arrow path leaves to the text reader (a padded run name)."""
    p = tmp_path / "padded.csv"
    p.write_text("run,step,value\n" + "".join(f" {r},{s},{v!r}\n" for r, s, v in ROWS))
    assert tabular._read_csv_arrow(p) is None
    return p


FILES = {"csv": _csv, "csv-text": _csv_text_path, "parquet": _parquet,
         "jsonl-long": _long_jsonl, "jsonl-runs": _runs_jsonl}


@pytest.mark.parametrize("kind", list(FILES))
def test_default_is_an_error_naming_run_rows_and_option(tmp_path, kind):
    p = FILES[kind](tmp_path)
    with pytest.raises(InputError) as info:
        read_curves(p)
    msg = str(info.value)
    assert "run 'a'" in msg and "--on-duplicate" in msg and "step 1 appears twice" in msg
    if kind == "jsonl-runs":
        assert "steps[1] and steps[3]" in msg and "row 1" in msg
    else:
        assert "rows 2 and 4" in msg and "row 4" in msg


@pytest.mark.parametrize("kind", list(FILES))
@pytest.mark.parametrize("how", ["last", "first", "mean"])
def test_merges_per_run(tmp_path, kind, how):
    cs = read_curves(FILES[kind](tmp_path), on_duplicate=how)
    a, b = WANT[how]
    assert cs.runs == ["a", "b"]
    assert cs["a"].steps.tolist() == [0.0, 1.0, 2.0]
    np.testing.assert_array_equal(cs["a"].values, a)  # mean of 4, 2, 6 is 4
    np.testing.assert_array_equal(cs["b"].values, b)  # a NaN among them: diverged
    assert cs["b"].status == ("too_short" if how == "first" else "diverged")


def test_mean_does_not_overflow_and_distinct_big_steps_still_fail(tmp_path):
    p = tmp_path / "big.csv"
    p.write_text("run,step,value\na,1,1e308\na,1,1.6e308\na,2,1\n")
    assert read_curves(p, on_duplicate="mean")["a"].values[0] == pytest.approx(1.3e308)
    p.write_text("run,step,value\na,1,1\na,1,2\na,9007199254740993,1\na,9007199254740992,2\n")
    with pytest.raises(InputError, match="2\\^53"):
        read_curves(p, on_duplicate="last")


def test_bad_choice_and_mlflow(tmp_path):
    with pytest.raises(UsageError, match="on_duplicate"):
        read_curves(_csv(tmp_path), on_duplicate="max")
    assert tuple(cli_module.ON_DUPLICATE) == ON_DUPLICATE


def test_tensorboard_keeps_last_by_default_and_obeys_the_option(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    w = EventFileWriter(str(tmp_path / "r1"))
    for step, v in [(0, 3.0), (1, 2.0), (2, 1.5), (1, 2.5), (2, 1.0), (3, 0.5)]:  # a restart
        summ = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="loss", simple_value=v)])
        w.add_event(event_pb2.Event(step=step, wall_time=0.0, summary=summ))
    w.close()
    assert read_curves(tmp_path)["r1"].values.tolist() == [3.0, 2.5, 1.0, 0.5]
    assert read_curves(tmp_path, on_duplicate="first")["r1"].values.tolist() == [3.0, 2.0,
                                                                                 1.5, 0.5]
    assert read_curves(tmp_path, on_duplicate="mean")["r1"].values.tolist() == [3.0, 2.25,
                                                                                1.25, 0.5]
    with pytest.raises(InputError) as info:
        read_curves(tmp_path, on_duplicate="error")
    msg = str(info.value)
    assert "run 'r1'" in msg and "step 1" in msg and "events 2 and 4" in msg
    assert "--on-duplicate" in msg


def test_cli_option(tmp_path, capsys):
    p = _csv(tmp_path)
    with pytest.raises(SystemExit) as code:
        cli_module.main(["forecast", str(p), "--method", "last", "--json"])
    assert code.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--on-duplicate" in err[0] and "row 4" in err[0]
    with pytest.raises(SystemExit) as code:
        cli_module.main(["forecast", str(p), "--method", "last", "--json",
                         "--on-duplicate", "first"])
    assert code.value.code == 0
    rows = {r["run"]: r for r in json.loads(capsys.readouterr().out)["runs"]}
    assert rows["a"]["n_points"] == 3 and rows["b"]["n_points"] == 2


def test_report_option(tmp_path, capsys):
    p = _csv(tmp_path)
    out = tmp_path / "report.html"
    with pytest.raises(SystemExit) as code:
        cli_module.main(["report", str(p), "--method", "last", "-o", str(out)])
    assert code.value.code == 2 and not out.exists()
    assert "--on-duplicate" in capsys.readouterr().err
    with pytest.raises(SystemExit) as code:
        cli_module.main(["report", str(p), "--method", "last", "-o", str(out),
                         "--on-duplicate", "mean"])
    assert code.value.code == 0 and out.stat().st_size > 0
