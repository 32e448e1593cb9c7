"""The CSV reader's Arrow path (``tabular._read_csv_arrow``) reads what the text path reads:
the same runs in the same order, the same floats to the bit, the same hyperparameters and
metadata, and every bad file gets the text path's error, naming the row."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_DATA, need
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curvecast.errors import InputError
from curvecast.io import read_curves, tabular, write_long


def text_path(path: Path, **kw):
    """read_curves with the Arrow path switched off: what the text reader gives."""
    keep = tabular._read_csv_arrow
    tabular._read_csv_arrow = lambda p: None
    try:
        return read_curves(path, **kw)
    finally:
        tabular._read_csv_arrow = keep


def outcome(path: Path, **kw):
    """('ok', curves) or ('error', message) of a read."""
    try:
        return "ok", read_curves(path, **kw)
    except InputError as exc:
        return "error", str(exc)


def text_outcome(path: Path, **kw):
    try:
        return "ok", text_path(path, **kw)
    except InputError as exc:
        return "error", str(exc)


def assert_same(a, b) -> None:
    assert a.runs == b.runs
    for x, y in zip(a, b, strict=True):
        assert x.steps.tobytes() == y.steps.tobytes(), x.run
        assert np.array_equal(x.values, y.values, equal_nan=True), x.run
        assert x.hp == y.hp and x.meta == y.meta, x.run
        assert {k: type(v) for k, v in x.hp.items()} == {k: type(v) for k, v in y.hp.items()}


def test_fast_path_is_taken_on_a_plain_file(tmp_path):
    p = tmp_path / "runs.csv"
    p.write_text("run,step,value,hp.lr,note\nb,2,0.5,0.1,x\nb,1,1.0,0.1,\na,1,2,1e-3,y\n")
    assert tabular._read_csv_arrow(p) is not None
    fast = read_curves(p)
    assert_same(fast, text_path(p))
    assert fast.runs == ["b", "a"] and fast["b"].steps.tolist() == [1.0, 2.0]
    assert fast["b"].hp == {"lr": 0.1} and fast["b"].meta == {"note": "x"}


def test_real_sweep_reads_the_same(tmp_path):
    """NAS-Bench-NLP (345 runs, hyperparameters, NaN values), written by write_long."""
    from curvecast.datasets.catalog import get

    need(SHARED_DATA / "nasbench_nlp_wt2")
    p = tmp_path / "nas.csv"
    write_long(get("nasbench-nlp").load(SHARED_DATA), p)
    assert tabular._read_csv_arrow(p) is not None
    assert_same(read_curves(p), text_path(p))


@pytest.mark.parametrize("body, parts", [
    ("run,step,value\na,1,1.0\na,2,\n", ["row 2", "'value'", "missing value"]),
    ("run,step,value\na,1,1.0\na,x,2\n", ["row 2", "'step'", "'x' is not a number"]),
    ("run,step,value\na,1,1.0\n,2,2\n", ["row 2", "run name is empty"]),
    ("run,step,value\na,1,1.0\na,1,2\n", ["row 2", "step 1 appears twice (rows 1 and 2)"]),
    ("run,step,value\na,1,1.0\na,-2,2\n", ["row 2", "negative"]),
    ("run,step,value\na,1,1.0\na,2,3,4\n", ["row 2", "more than the header"]),
    ("run,step,value\na,1,1.0\na,inf,3\n", ["row 2", "not finite"]),
    ("run,step,value\na,9007199254740993,1\na,9007199254740992,2\n", ["2^53"]),
    ("run,step,value\na,1,-1\n", ["row 1", "below"]),
])
def test_bad_rows_get_the_text_readers_error(tmp_path, body, parts):
    p = tmp_path / "bad.csv"
    p.write_text(body)
    kw = {"bound": 0.0} if "-1\n" in body else {}
    kind, msg = outcome(p, **kw)
    assert kind == "error"
    assert (kind, msg) == text_outcome(p, **kw)
    for part in parts:
        assert part in msg, msg


def test_not_utf8_and_gzip(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"run,step,value\na,1,1\n\xff\xfe,2,2\n")
    assert outcome(bad) == text_outcome(bad)
    assert "row 2" in outcome(bad)[1]
    gz = tmp_path / "runs.csv.gz"
    with gzip.open(gz, "wt") as f:
        f.write("run,step,value\na,1,1.5\na,2,0.25\n")
    assert tabular._read_csv_arrow(gz) is not None
    assert_same(read_curves(gz), text_path(gz))


CELLS = st.sampled_from(["1", "0.5", "-0.0", "1e-3", "1E+30", "nan", "NaN", "-inf", "Infinity",
                         " 2", "2 ", '"3"', "", "x", "1_0", "0x1", "TRUE", "9007199254740993",
                         "1e400", "4.9e-324"])
NAMES = st.sampled_from(["a", "b", "7", "3.0", " c", "d ", '"e,f"', "", "nan", "ü"])


@settings(max_examples=int(os.environ.get("CURVECAST_FUZZ_EXAMPLES", "60")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(NAMES, CELLS, CELLS, CELLS), min_size=1, max_size=12),
       header=st.sampled_from(["run,step,value,hp.lr", "run,step,value,note", "step,run,value,x",
                               "run, step,value,y", "\ufeffrun,step,value,z", "run,step,run,v"]))
def test_any_file_reads_as_the_text_reader_reads_it(tmp_path, rows, header):
    """Whatever the cells, both paths give the same curves or the same error."""
    p = tmp_path / "fuzz.csv"
    cols = header.lstrip("\ufeff").split(",")
    lines = []
    for run, a, b, c in rows:
        cell = dict(zip(("run", "step", "value"), (run, a, b)))
        lines.append(",".join(cell.get(n.strip(), c) for n in cols))
    p.write_text(header + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    fast, slow = outcome(p), text_outcome(p)
    assert fast[0] == slow[0], (fast, slow)
    if fast[0] == "ok":
        assert_same(fast[1], slow[1])
    else:
        assert fast[1] == slow[1]
