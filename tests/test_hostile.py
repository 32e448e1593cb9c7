"""The promise of every command on hostile input and hostile output paths (issue 15):
exit 0, 1 or 2; a bad input or path is one 'error:' line naming it and what to do; never
a traceback; nothing half-written (no temporary file left, an old output unchanged);
a device, FIFO or symlink given as the output survives as it was.

First the cases the issue names, one test each; then a hypothesis fuzzer that runs the
real command line in-process (``curvecast.cli.main``) over random and corrupted CSV,
JSON Lines, Parquet, report-JSON and scaling-table files and over hostile output paths.
Each fuzz test is bounded (``MAX_EXAMPLES``, small files; the whole file takes well under
a minute on one core); CURVECAST_FUZZ_EXAMPLES=1000 runs a deeper search.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from curvecast.cli import main
from curvecast.io.output import TEMP_TAG

ROOT = os.geteuid() == 0
SAMPLE = resources.files("curvecast") / "data" / "nasbench_nlp_sample.csv"
MAX_EXAMPLES = int(os.environ.get("CURVECAST_FUZZ_EXAMPLES", "60"))  # more for a deep run
FUZZ = settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# --------------------------------------------------------------------------- helpers


@dataclass
class Result:
    code: int
    out: str
    err: str


def run(*args, stdout=None) -> Result:
    """``curvecast ARGS`` in-process; an exception other than SystemExit escapes (and
    fails the test: it would have been a traceback)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout if stdout is not None else out), \
            contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code
        else:
            raise AssertionError("main() returned instead of exiting")
    return Result(0 if code is None else code, out.getvalue(), err.getvalue())


def _temps(folder: Path) -> list[str]:
    return [str(p) for p in folder.rglob("*") if TEMP_TAG in p.name and p.name.startswith(".")]


def kept(r: Result, folder: Path | None = None, out: Path | None = None,
         before: bytes | None = None) -> None:
    """Assert the promise for one run. When it failed, ``out`` (if given) still holds
    ``before`` (read through any link), or is no regular file when ``before`` is None."""
    assert r.code in (0, 1, 2), r
    assert "Traceback" not in r.err and "Traceback" not in r.out, r.err
    if r.code == 2:
        lines = [line for line in r.err.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("error:")]
        assert len(errors) == 1 and lines[-1] == errors[0], r.err
    if folder is not None:
        assert not _temps(folder), _temps(folder)
    if out is not None and r.code != 0:
        if before is None:
            assert not os.path.isfile(out), f"{out} written by a run that failed"
        else:
            assert Path(out).read_bytes() == before, f"{out} changed by a run that failed"


def error(r: Result) -> str:
    assert r.code == 2, r
    kept(r)
    return r.err.strip().splitlines()[-1]


def write_runs(path: Path, runs: dict[str, tuple], goal_max: bool = False) -> Path:
    with open(path, "w") as f:
        f.write("run,step,value\n")
        for name, (steps, values) in runs.items():
            f.writelines(f"{name},{s},{float(v)!r}\n"
                         for s, v in zip(steps, values, strict=True))
    return path


def figure_titles(html: str) -> list[str]:
    blocks = re.findall(r'<script type="application/json" class="figure"[^>]*>(.*?)</script>',
                        html, flags=re.DOTALL)
    return [json.loads(b)["layout"].get("title", {}).get("text", "") for b in blocks]


@pytest.fixture
def curves_csv(tmp_path) -> Path:
    s = np.arange(1, 21)
    return write_runs(tmp_path / "runs.csv", {"a": (s, 1 / s + 0.5), "b": (s, 2 / s + 0.4),
                                              "c": (s, 1.5 / s + 0.45)})


@pytest.fixture
def scaling_csv(tmp_path) -> Path:
    n = np.geomspace(1e7, 1e9, 10)
    d = 20 * n
    loss = 1.7 + 400 / n**0.34 + 410 / d**0.28
    p = tmp_path / "scaling.csv"
    p.write_text("N,D,loss\n" + "".join(f"{a:g},{b:g},{float(c)!r}\n" for a, b, c in
                                        zip(n, d, loss, strict=True)))
    return p


# --------------------------------------------------------------------------- named: inputs


def test_report_on_deeply_nested_json(tmp_path):
    p = tmp_path / "deep.json"
    p.write_text('{"results": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert "nested too deeply" in error(run("report", p, "-o", tmp_path / "r.html"))
    assert not (tmp_path / "r.html").exists()
    q = tmp_path / "deep.jsonl"
    q.write_text('{"run": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    for cmd in ("report", "forecast"):
        assert "row 1: JSON nested too deeply" in error(run(cmd, q))


def test_report_on_a_5000_digit_integer(tmp_path):
    p = tmp_path / "digits.json"
    p.write_text('{"results": [{"pruner": ' + "1" * 5000 + "}]}")
    assert "too many digits" in error(run("report", p, "-o", tmp_path / "r.html"))
    q = tmp_path / "digits.jsonl"
    q.write_text('{"run": "a", "step": ' + "1" * 5000 + ', "value": 1}\n')
    for cmd in ("report", "forecast"):
        assert "row 1: a number the JSON reader refuses" in error(run(cmd, q))


def _in_subprocess(*args) -> subprocess.CompletedProcess:
    """For inputs that would hang a regressed reader: a timeout, not a stuck suite."""
    return subprocess.run([sys.executable, "-m", "curvecast", *map(str, args)],
                          capture_output=True, text=True, timeout=120, check=False,
                          stdin=subprocess.DEVNULL)


def test_fifo_input_is_refused_at_once(tmp_path):
    fifo = tmp_path / "runs.csv"
    os.mkfifo(fifo)
    for args in (("forecast", fifo), ("scaling", "fit", fifo), ("report", fifo, "-o",
                                                               tmp_path / "r.html")):
        proc = _in_subprocess(*args)
        assert proc.returncode == 2 and "not a regular file (a FIFO)" in proc.stderr, proc
    logs = tmp_path / "logs" / "run1"  # a TensorBoard directory stays valid, its FIFO not
    logs.mkdir(parents=True)
    os.mkfifo(logs / "events.out.tfevents.1")
    proc = _in_subprocess("forecast", tmp_path / "logs")
    assert proc.returncode == 2 and "tfevents.1: not a regular file (a FIFO)" in proc.stderr


def test_dev_zero_input_is_refused_at_once():
    for args in (("forecast", "/dev/zero", "--format", "csv"),
                 ("backtest", "/dev/zero", "--format", "jsonl"),
                 ("scaling", "fit", "/dev/zero", "--format", "csv")):
        proc = _in_subprocess(*args)
        assert proc.returncode == 2 and "a character device" in proc.stderr, proc


def test_non_utf8_names_the_row(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_bytes(b"run,step,value\na,1,0.5\na,2,0.4\nb\xff,3,0.3\n")
    assert "row 3: not UTF-8 text" in error(run("forecast", p))
    q = tmp_path / "bad.jsonl"
    q.write_bytes(b'{"run": "a", "step": 1, "value": 1}\n{"run": "a\xfe", "step": 2}\n')
    assert "row 2: not UTF-8 text" in error(run("forecast", q))
    s = tmp_path / "scaling.csv"
    s.write_bytes(b"N,D,loss\n1e8,2e9,3.1\n2e8,4e9,\xff2.9\n")
    assert "row 2: not UTF-8 text" in error(run("scaling", "fit", s))


def test_steps_beyond_2_53_say_what_is_wrong(tmp_path):
    p = tmp_path / "big.csv"
    p.write_text("run,step,value\na,1000000000000000000000000000000,0.5\n"
                 "a,1000000000000000000000000000001,0.4\na,3,0.3\n")
    msg = error(run("forecast", p))
    assert "row 2" in msg and "too large to be told apart" in msg and "appears twice" not in msg
    q = tmp_path / "dup.csv"  # the same number written twice: a real repeat
    q.write_text("run,step,value\na,1e30,0.5\na,1E+30,0.4\n")
    assert "step 1e+30 appears twice (rows 1 and 2)" in error(run("forecast", q))


def test_values_beyond_the_bound_name_run_and_row(tmp_path):
    s = np.arange(1, 30)
    p = write_runs(tmp_path / "acc.csv", {"ok": (s, 0.9 - 1 / s), "over": (s, 1.5 - 1 / s)})
    for args in (("forecast", p), ("backtest", p, "--methods", "last"),
                 ("report", p, "--method", "last", "-o", tmp_path / "r.html")):
        msg = error(run(*args, "--goal", "max", "--bound", "1"))
        # 'over' reaches 1.5 - 1/3 = 1.17 at step 3, the first row beyond 1 (row 29 + 3)
        assert "row 32" in msg and "run 'over'" in msg and "above the bound 1" in msg, msg
    assert not (tmp_path / "r.html").exists()
    low = write_runs(tmp_path / "loss.csv", {"neg": (s, 1 / s - 0.1)})
    assert "below the bound 0" in error(run("forecast", low, "--bound", "0"))
    assert "finite" in error(run("forecast", p, "--bound", "nan"))
    ok = run("forecast", p, "--goal", "max", "--bound", "2", "--method", "last")
    assert ok.code == 0


def test_values_beyond_the_bound_in_the_api():
    from curvecast.api import forecast, forecast_batch
    from curvecast.errors import InputError

    s = np.arange(1.0, 30.0)
    with pytest.raises(InputError, match=r"run 'r'.*value 1.16667 at step 3 is above"):
        forecast_batch({"r": (s, 1.5 - 1 / s)}, at=100, goal="max", bound=1)
    with pytest.raises(InputError, match="above the bound"):
        forecast(s, 1.5 - 1 / s, at=100, goal="max", bound=1, method="last")
    assert forecast(s, 0.9 - 1 / s, at=100, goal="max", bound=1, method="last").valid[0]


def test_values_beyond_the_bound_in_a_study_report(tmp_path):
    optuna = pytest.importorskip("optuna")
    url = f"sqlite:///{tmp_path / 'study.db'}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=url, study_name="acc", direction="maximize")
    for top in (0.9, 1.5):
        trial = study.ask()
        for step in range(1, 20):
            trial.report(top - 1 / step, step)
        study.tell(trial, top - 1 / 19)
    msg = error(run("report", "--storage", url, "--study", "acc", "--method", "last",
                    "--bound", "1", "-o", tmp_path / "r.html"))
    assert "run 'trial 1'" in msg and "above the bound 1" in msg, msg
    assert not (tmp_path / "r.html").exists()


def test_scaling_fit_and_report_agree(tmp_path):
    n = np.geomspace(1e7, 1e9, 10)
    flat = tmp_path / "flat.csv"  # a constant loss: a degenerate fit with no frontier
    flat.write_text("N,D,loss\n" + "".join(f"{a:g},{20 * a:g},2.0\n" for a in n))
    assert run("scaling", "fit", flat, "--boot", "5").code == 0
    r = run("scaling", "report", flat, "--boot", "5", "-o", tmp_path / "flat.html")
    kept(r, tmp_path)
    assert r.code == 0 and "no finite compute-optimal split" in (tmp_path / "flat.html").read_text()
    huge = tmp_path / "huge.csv"  # k N D beyond float64
    huge.write_text("N,D,loss\n" + "".join(f"{a * 1e150:g},{2e151 * a:g},{3 - i / 10}\n"
                                           for i, a in enumerate(n)))
    msgs = [error(run("scaling", cmd, huge, "--boot", "5", *extra))
            for cmd, extra in (("fit", ()), ("report", ("-o", tmp_path / "huge.html")))]
    assert msgs[0] == msgs[1]
    assert "huge.csv, row" in msgs[0] and "column 'N'" in msgs[0] and "beyond float64" in msgs[0]
    assert not (tmp_path / "huge.html").exists()


def test_plot_titles_show_quotes_as_written(tmp_path):
    s = np.arange(1, 21)
    name = 'say "hi" & <b>'
    p = tmp_path / "q.csv"
    p.write_text("run,step,value\n" + "".join(f'"say ""hi"" & <b>",{x},{1 / x + 0.5}\n'
                                              for x in s))
    r = run("report", p, "--method", "last", "--top", "1", "-o", tmp_path / "r.html")
    assert r.code == 0, r
    titles = figure_titles((tmp_path / "r.html").read_text())
    assert 'say "hi" &amp; &lt;b&gt;' in titles, titles
    assert not any("&quot;" in t for t in titles) and name not in titles


# --------------------------------------------------------------------------- named: outputs


def _bad_outputs(tmp_path: Path) -> dict[str, Path]:
    """Output paths that cannot be written, by what is wrong with them."""
    (tmp_path / "afile").write_text("keep")
    out = {"parent is a file": tmp_path / "afile" / "r.html",
           "grandparent is a file": tmp_path / "afile" / "sub" / "r.html",
           "name too long": tmp_path / ("x" * 300 + ".html"),
           "in /proc": Path("/proc/curvecast-test/r.html")}
    if ROOT:
        out["unwritable (sysfs)"] = Path("/sys/curvecast-test.html")
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        out["read-only folder"] = ro / "r.html"
    return out


WRITERS = {
    "report": lambda src, out: ("report", src, "--method", "last", "--top", "1", "-o", out),
    "scaling report": lambda src, out: ("scaling", "report", src, "--boot", "5", "-o", out),
    "demo": lambda src, out: ("demo", "--out", out.with_suffix("")),  # a folder of that name
}


@pytest.mark.parametrize("command", list(WRITERS))
def test_unwritable_outputs_are_one_line(tmp_path, curves_csv, scaling_csv, command):
    src = scaling_csv if command == "scaling report" else curves_csv
    for why, out in _bad_outputs(tmp_path).items():
        args = WRITERS[command](src, out)
        r = run(*args)
        msg = error(r)
        assert msg.startswith("error: cannot "), (why, msg)
        assert str(args[-1])[:40] in msg, (why, msg)  # the path as given
        kept(r, tmp_path, out)
    assert (tmp_path / "afile").read_text() == "keep"


def test_output_that_is_a_directory(tmp_path, curves_csv):
    assert "is a directory" in error(run(*WRITERS["report"](curves_csv, tmp_path)))


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_report_to_dev_full_keeps_the_device(curves_csv):
    before = os.stat("/dev/full")
    msg = error(run(*WRITERS["report"](curves_csv, "/dev/full")))
    assert "'/dev/full': no space left on device" in msg
    after = os.stat("/dev/full")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev


def test_report_to_dev_null_and_through_a_symlink(tmp_path, curves_csv):
    assert run(*WRITERS["report"](curves_csv, "/dev/null")).code == 0
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    real = tmp_path / "real.html"
    real.write_text("old")
    link = tmp_path / "link.html"
    link.symlink_to(real.name)
    r = run(*WRITERS["report"](curves_csv, link))
    kept(r, tmp_path)
    assert r.code == 0 and link.is_symlink() and "<!DOCTYPE html>" in real.read_text()


def test_report_to_a_fifo_nobody_reads(tmp_path, curves_csv):
    fifo = tmp_path / "r.html"
    os.mkfifo(fifo)
    assert "no process is reading this FIFO" in error(run(*WRITERS["report"](curves_csv, fifo)))
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert not _temps(tmp_path)


COMMANDS_ON_STDOUT = {
    "forecast --json": lambda c, s: ("forecast", c, "--method", "last", "--json"),
    "forecast": lambda c, s: ("forecast", c, "--method", "last"),
    "backtest --json": lambda c, s: ("backtest", c, "--methods", "last", "--json"),
    "replay --json": lambda c, s: ("replay", c, "--trials", "2", "--repeats", "1",
                                   "--pruners", "nop", "--json"),
    "scaling fit --json": lambda c, s: ("scaling", "fit", s, "--boot", "5", "--json"),
    "scaling fit": lambda c, s: ("scaling", "fit", s, "--boot", "5"),
    "--help": lambda c, s: ("--help",),
}


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
@pytest.mark.parametrize("command", list(COMMANDS_ON_STDOUT))
def test_stdout_on_a_full_disk(curves_csv, scaling_csv, command):
    with open("/dev/full", "w") as full:
        r = run(*COMMANDS_ON_STDOUT[command](curves_csv, scaling_csv), stdout=full)
        assert "cannot write to standard output: no space left on device" in error(r)


@pytest.mark.parametrize("command", ["forecast --json", "forecast", "scaling fit"])
def test_broken_pipe_is_quiet(curves_csv, scaling_csv, command):
    read, write = os.pipe()
    os.close(read)  # the reader is gone, as after 'curvecast forecast x.csv | head -1'
    pipe = os.fdopen(write, "w")
    try:
        r = run(*COMMANDS_ON_STDOUT[command](curves_csv, scaling_csv), stdout=pipe)
    finally:  # what is left in its buffer goes nowhere, as at a real exit
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, write)
        os.close(null)
        pipe.close()
    assert r.code == 1 and r.err == "", r


# --------------------------------------------------------------------------- fuzz strategies

NUMBERS = st.one_of(
    st.sampled_from(["", " ", "nan", "NaN", "inf", "-inf", " +Infinity", "1e309", "-1e309",
                     "1e-320", "5e-324", "0", "-0", "-1", "2", "9007199254740993", "1e30",
                     "1" * 400, "0x10", "1_000", "true", "null", "1,5", '"3"', "é", "\x00",
                     "\ufeff1", "1.7976931348623157e308"]),
    st.integers(-10**6, 10**18).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=6),
)
NAMES = st.one_of(st.sampled_from(["a", "b", "3", "3.0", "", " ", '"q"', "<b>", "a,b", "é"]),
                  st.text(max_size=5))


LEVELS = st.sampled_from(["clean", "clean", "extreme", "cells", "cells"])
"""How hostile a generated file is: 'clean' (valid, ordinary numbers, so that the
forecasters, the backtest and the report run), 'extreme' (valid, but values near float64's
limits, NaN, inf, constants, wild steps), 'cells' (hostile cells mixed in)."""

EXTREME = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([1e308, -1e308, 5e-324, 1e-308, 0.0, -0.0, 1.0]))


@st.composite
def curve_rows(draw, level: str = "clean") -> list[tuple[str, str, str]]:
    """(run, step, value) cells of up to 4 runs of up to 12 points, as hostile as ``level``."""
    rows = []
    for r in range(draw(st.integers(1, 4))):
        name = draw(NAMES) if level == "cells" and draw(st.booleans()) else f"r{r}"
        n = draw(st.integers(1, 12))
        scale = draw(st.sampled_from([1.0, 1.0, 1e-300, 1e300, -1.0, 1e6]))
        spacing = draw(st.sampled_from([1.0, 1.0, 0.001, 1e12, 1e17]))
        for i in range(n):
            step, value = repr((i + 1) * spacing), repr(scale * (1 / (i + 1) + 0.3))
            if level == "extreme" and draw(st.integers(0, 3)) == 0:
                value = repr(draw(EXTREME))
            if level == "cells" and draw(st.integers(0, 5)) == 0:
                step = draw(NUMBERS)
            if level == "cells" and draw(st.integers(0, 5)) == 0:
                value = draw(NUMBERS)
            rows.append((name, step, value))
    return rows


def _csv_cell(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text


@st.composite
def csv_bytes(draw) -> bytes:
    level = draw(LEVELS)
    headers = ["run,step,value", "run,step,value,hp.lr", "\ufeffrun,step,value"]
    if level == "cells":
        headers += ["run, step ,value", "step,value", "run,step,value,run", "run;step;value", ""]
    header = draw(st.sampled_from(headers))
    extra = header.count(",") - 2
    lines = [header]
    for row in draw(curve_rows(level)):
        cells = [*row, *(draw(NUMBERS) for _ in range(max(extra, 0)))]
        quote = draw(st.booleans())
        lines.append(",".join(_csv_cell(c) if quote else c for c in cells))
    data = "\n".join(lines).encode("utf-8", "surrogatepass")
    return draw(corrupted(data)) if level == "cells" else data


@st.composite
def corrupted(draw, data: bytes) -> bytes:
    """``data``, or with bytes flipped, cut short, or a run of garbage inserted."""
    how = draw(st.sampled_from(["none", "none", "flip", "truncate", "insert"]))
    if how == "none" or not data:
        return data
    i = draw(st.integers(0, len(data) - 1))
    if how == "flip":
        return data[:i] + bytes([data[i] ^ draw(st.integers(1, 255))]) + data[i + 1:]
    if how == "truncate":
        return data[:i]
    return data[:i] + draw(st.binary(min_size=1, max_size=8)) + data[i:]


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                    lambda kids: st.lists(kids, max_size=3)
                    | st.dictionaries(st.text(max_size=4), kids, max_size=3),
                    max_leaves=8)


def _number_or_json(draw):
    return draw(st.one_of(st.integers(-5, 10**6), st.floats(), JSON, NUMBERS))


@st.composite
def jsonl_bytes(draw) -> bytes:
    level = draw(LEVELS)
    lines = []
    if level == "cells" and draw(st.booleans()):  # one run per line, hostile
        for r in range(draw(st.integers(1, 3))):
            n = draw(st.integers(0, 10))
            steps = [i + 1 if draw(st.integers(0, 9)) else _number_or_json(draw)
                     for i in range(n)]
            values = [1 / (i + 1) if draw(st.integers(0, 6)) else _number_or_json(draw)
                      for i in range(n + draw(st.sampled_from([0, 0, 0, 1])))]
            obj = {"run": draw(NAMES) if draw(st.booleans()) else f"r{r}", "steps": steps,
                   "values": values}
            if draw(st.booleans()):
                obj["hp"] = draw(JSON)
            lines.append(json.dumps(obj))
    elif draw(st.booleans()):  # one run per line, from the rows
        by_run: dict[str, list] = {}
        for run_, step, value in draw(curve_rows(level)):
            by_run.setdefault(run_, []).append((_try_number(step), _try_number(value)))
        for run_, points in by_run.items():
            obj = {"run": run_, "steps": [p[0] for p in points],
                   "values": [p[1] for p in points]}
            if draw(st.booleans()):
                obj["hp"] = {"lr": draw(st.floats(0, 1))}
            lines.append(json.dumps(obj))
    else:
        for run_, step, value in draw(curve_rows(level)):
            as_text = level == "cells" and draw(st.booleans())
            obj = {"run": run_, "step": step if as_text else _try_number(step),
                   "value": _try_number(value)}
            if level == "cells" and draw(st.integers(0, 5)) == 0:
                obj[draw(st.sampled_from(["hp.lr", "step", "x"]))] = draw(JSON)
            lines.append(json.dumps(obj))
    if level == "cells" and draw(st.integers(0, 4)) == 0:
        lines.insert(draw(st.integers(0, len(lines))), draw(st.text(max_size=12)))
    data = "\n".join(lines).encode("utf-8", "surrogatepass")
    return draw(corrupted(data)) if level == "cells" else data


def _try_number(text: str):
    try:
        v = float(text)
    except ValueError:
        return text
    return int(v) if math.isfinite(v) and v.is_integer() and abs(v) < 2**63 else v


@st.composite
def parquet_bytes(draw) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    level = draw(LEVELS)
    rows = draw(curve_rows(level))
    columns = {}
    for j, name in enumerate(("run", "step", "value")):
        cells = [r[j] for r in rows]
        kinds = ["text" if name == "run" else "number"]
        if level == "cells":
            kinds += ["text", "number", "with nulls"]
        kind = draw(st.sampled_from(kinds))
        if kind == "text":
            columns[name] = pa.array(cells, pa.string())
        else:
            nums = [_try_number(c) for c in cells]
            nums = [v if isinstance(v, float | int) and not isinstance(v, bool) else None
                    for v in nums]
            if kind == "number":
                nums = [float("nan") if v is None else v for v in nums]
            columns[name] = pa.array([None if v is None else float(v) for v in nums],
                                     pa.float64())
    if draw(st.booleans()):
        columns["hp.lr"] = pa.array([draw(st.floats()) for _ in rows], pa.float64())
    drop = draw(st.sampled_from([None, None, None, "run", "value"])) if level == "cells" else None
    table = pa.table({k: v for k, v in columns.items() if k != drop})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return draw(corrupted(buf.getvalue())) if level == "cells" else buf.getvalue()


@st.composite
def report_json_bytes(draw) -> bytes:
    row_keys = st.sampled_from(["pruner", "method", "coverage", "cutoff", "compute_fraction",
                                "regret", "mae", "context", "mean", "worst", "0.8"])
    rows = draw(st.lists(st.dictionaries(row_keys, JSON | st.dictionaries(row_keys, JSON),
                                         max_size=6), max_size=4))
    obj = {"results": rows if draw(st.integers(0, 5)) else draw(JSON)}
    for key in draw(st.lists(st.sampled_from(["n_runs", "excluded", "goal", "level"]),
                             max_size=3)):
        obj[key] = draw(JSON)
    data = json.dumps(obj).encode()
    return draw(corrupted(data))


@st.composite
def scaling_bytes(draw) -> bytes:
    header = draw(st.sampled_from(["N,D,loss", "N,D,loss,group", "x,loss", "N,C,loss",
                                   "N,D,U,loss", "N,loss", ""]))
    cols = header.split(",") if header else []
    lines = [header]
    for i in range(draw(st.integers(1, 12))):
        cells = []
        for c in cols:
            good = {"N": 1e7 * 2**i, "D": 2e8 * 2**i, "U": 1e8 * 2**i, "C": 1.2e16 * 4**i,
                    "x": 10.0 * 2**i, "loss": 2 + 3 / (i + 1), "group": "g" + str(i % 2)}[c]
            cells.append(repr(good) if draw(st.integers(0, 7)) else draw(NUMBERS))
        lines.append(",".join(_csv_cell(c) for c in cells))
    data = "\n".join(lines).encode("utf-8", "surrogatepass")
    return draw(corrupted(data))


CURVE_COMMANDS = st.sampled_from([
    ("forecast", "--method", "last"),
    ("forecast", "--method", "pow3", "--json", "--goal", "max"),
    ("forecast", "--method", "ensemble", "--target", "0.5", "--bound", "0"),
    ("backtest", "--methods", "last,mean_last", "--cutoffs", "0.5", "--json"),
    ("replay", "--trials", "2", "--repeats", "1", "--pruners", "nop,median"),
    ("report", "--method", "last", "--top", "2", "-o", "{out}"),
])


def _fuzz_one(data: bytes, suffix: str, args: tuple[str, ...], fmt: str | None = None) -> None:
    """Write ``data`` to a fresh folder, run ``curvecast ARGS FILE`` and check the promise."""
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        src = folder / f"input{suffix}"
        src.write_bytes(data)
        out = folder / "out.html"
        argv = [a.replace("{out}", str(out)) for a in args]
        head = 2 if argv[0] == "scaling" else 1
        r = run(*argv[:head], src, *argv[head:], *(("--format", fmt) if fmt else ()))
        event(f"{' '.join(argv[:head])}: exit {r.code}")  # --hypothesis-show-statistics
        kept(r, folder, out if "{out}" in args else None)
        if r.code == 0 and "{out}" in args:
            assert out.read_text().startswith("<!DOCTYPE html>")


# --------------------------------------------------------------------------- fuzz tests


@FUZZ
@given(data=csv_bytes(), args=CURVE_COMMANDS, gz=st.sampled_from(["no", "no", "yes", "cut"]))
def test_fuzz_csv(data, args, gz):
    if gz != "no":
        import gzip

        data = gzip.compress(data)
        data = data[: len(data) // 2] if gz == "cut" else data
    _fuzz_one(data, ".csv" if gz == "no" else ".csv.gz", args)


@FUZZ
@given(data=jsonl_bytes(), args=CURVE_COMMANDS)
def test_fuzz_jsonl(data, args):
    _fuzz_one(data, ".jsonl", args)


@FUZZ
@given(data=parquet_bytes(), args=CURVE_COMMANDS)
def test_fuzz_parquet(data, args):
    _fuzz_one(data, ".parquet", args)


@FUZZ
@given(data=report_json_bytes())
def test_fuzz_report_json(data):
    _fuzz_one(data, ".json", ("report", "--method", "last", "-o", "{out}"))


@FUZZ
@given(data=scaling_bytes(), args=st.sampled_from([
    ("scaling", "fit", "--boot", "3", "--json"),
    ("scaling", "fit", "--law", "power", "--boot", "0"),
    ("scaling", "fit", "--c", "C", "--group", "group", "--best", "--boot", "3"),
    ("scaling", "predict", "--at", "N=1e10,D=2e11", "--boot", "3"),
    ("scaling", "optimal", "--compute", "1e21", "--boot", "3"),
    ("scaling", "backtest", "--boot", "3"),
    ("scaling", "report", "--boot", "3", "-o", "{out}"),
    ("scaling", "report", "--law", "power", "--boot", "3", "-o", "{out}"),
]), fmt=st.sampled_from([None, None, "jsonl"]))
def test_fuzz_scaling_tables(data, args, fmt):
    if fmt == "jsonl":  # the same rows as JSON Lines
        lines = data.decode("utf-8", "replace").splitlines()
        cols = lines[0].split(",") if lines else []
        data = "\n".join(json.dumps(dict(zip(cols, (_try_number(c) for c in line.split(",")),
                                             strict=False)))
                         for line in lines[1:]).encode()
    _fuzz_one(data, ".jsonl" if fmt else ".csv", args)


OUTPUT_KINDS = ["new", "new nested", "existing file", "read-only file", "directory",
                "parent is a file", "name too long", "symlink to file", "dangling symlink",
                "symlink loop", "symlink to /dev/null", "fifo", "/dev/null", "/dev/full",
                "/proc", "socket"]


def _make_target(folder: Path, kind: str) -> tuple[Path, bytes | None]:
    """An output path of ``kind`` in ``folder`` and the bytes a file there (through a
    link) held (None: none)."""
    t = folder / "out.html"
    if kind == "new nested":
        return folder / "a" / "b" / "out.html", None
    if kind in ("existing file", "read-only file"):
        t.write_text("old report")
        if kind == "read-only file":
            t.chmod(0o444)
        return t, b"old report"
    if kind == "directory":
        t.mkdir()
        return t, None
    if kind == "parent is a file":
        (folder / "afile").write_text("x")
        return folder / "afile" / "out.html", None
    if kind == "name too long":
        return folder / ("n" * 300 + ".html"), None
    if kind == "symlink to file":
        (folder / "real.html").write_text("old report")
        t.symlink_to("real.html")
        return t, b"old report"
    if kind == "dangling symlink":
        t.symlink_to("nowhere.html")
        return t, None
    if kind == "symlink loop":
        t.symlink_to("loop.html")
        (folder / "loop.html").symlink_to("out.html")
        return t, None
    if kind == "symlink to /dev/null":
        t.symlink_to("/dev/null")
        return t, None
    if kind == "fifo":
        os.mkfifo(t)
        return t, None
    if kind == "socket":
        import socket

        s = socket.socket(socket.AF_UNIX)
        s.bind(str(t))
        s.close()  # the socket file stays
        return t, None
    if kind in ("/dev/null", "/dev/full"):
        return Path(kind), None
    if kind == "/proc":
        return Path("/proc/curvecast-fuzz.html"), None
    return t, None


def _identity(path: Path):
    try:
        st_ = os.lstat(path)
    except OSError:
        return None
    link = os.readlink(path) if stat.S_ISLNK(st_.st_mode) else None
    return stat.S_IFMT(st_.st_mode), st_.st_rdev, link


@settings(max_examples=max(40, MAX_EXAMPLES // 2), deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(OUTPUT_KINDS),
       command=st.sampled_from(["report", "scaling report", "report --storage"]))
def test_fuzz_output_paths(kind, command):
    if kind == "/dev/full" and not os.path.exists("/dev/full"):
        return
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        out, before = _make_target(folder, kind)
        special = kind in ("fifo", "/dev/null", "/dev/full", "socket") or "symlink" in kind
        ident = _identity(out)
        if command == "scaling report":
            src = folder / "s.csv"
            n = np.geomspace(1e7, 1e9, 8)
            src.write_text("N,D,loss\n" + "".join(f"{a:g},{20 * a:g},{2 + 30 / a**0.2!r}\n"
                                                  for a in n))
            args = ("scaling", "report", src, "--boot", "3", "-o", out)
        elif command == "report":
            args = ("report", SAMPLE, "--method", "last", "--top", "1", "-o", out)
        else:  # a study's storage that does not exist: exit 2 before anything is written
            args = ("report", "--storage", f"sqlite:///{folder / 'none.db'}", "--study", "x",
                    "-o", out)
        r = run(*args)
        kept(r, folder, out if kind not in ("/dev/null",) else None, before)
        if special:
            assert _identity(out) == ident, f"{kind} {out} changed"
        if r.code == 0 and kind in ("new", "new nested", "existing file", "read-only file",
                                    "symlink to file", "dangling symlink"):
            assert Path(out).read_text().startswith("<!DOCTYPE html>")
