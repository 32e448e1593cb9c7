"""The dashboard and the HTML report in a real browser: headless Chromium (Debian's
chromium and chromium-driver packages, which .ci/run installs) driven by Selenium.

The dashboard is started as ``curvecast dashboard`` against a real study (SQLite, and
PostgreSQL where ``CURVECAST_PG_URL`` is set) while a worker process runs trials with
ForecastPruner in the background. Each test checks that the plots render with the
expected number of traces, that new reports appear without a reload, that the console
has no errors, and that HTML in a study, run or parameter name stays text. Screenshots
go to ``test-artifacts/`` (or ``$CURVECAST_ARTIFACTS``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from distributed_worker import HOSTILE_PARAM, HOSTILE_RUN  # tests/ is on sys.path

from curvecast.demo import sample_curves

WORKER = Path(__file__).parents[1] / "distributed_worker.py"
ARTIFACTS = Path(os.environ.get("CURVECAST_ARTIFACTS",
                                Path(__file__).resolve().parents[2] / "test-artifacts"))
CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromedriver")
HOSTILE_STUDY = "<script>alert(1)</script> study"
WAIT = 60  # seconds for anything to appear


@pytest.fixture(scope="module")
def browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        from conftest import require

        require("selenium is not installed (pip install -e '.[test]')")
    binary, driver = (shutil.which(Path(p).name) or p for p in CHROMIUM)
    if not (Path(binary).exists() and Path(driver).exists()):
        from conftest import require

        require("headless Chromium is missing: apt-get install chromium chromium-driver "
                "(.ci/run installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--window-size=1400,2200", "--disable-gpu"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    chrome = webdriver.Chrome(service=Service(driver), options=options)
    yield chrome
    chrome.quit()


def _blank(browser) -> None:
    """Leave the page (so it stops polling a server about to stop) and drop its log."""
    browser.get("about:blank")
    browser.get_log("browser")


def _errors(browser) -> list:
    return [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]


def _wait(browser, script: str, what: str, timeout: float = WAIT):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = browser.execute_script(script)
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _no_alert(browser) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert  # noqa: B018 - raises when no alert() ran


def _screenshot(browser, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def _trace_counts(browser) -> dict:
    return browser.execute_script(
        "var out = {}; document.querySelectorAll('.js-plotly-plot').forEach("
        "function (d) { out[d.id || d.parentNode.id] = d.data.length; }); return out;")


# Points drawn in the overview plot: every reported value of every trial.
POINTS = ("return document.getElementById('all-trials').data.reduce(function (n, t) {"
          " return n + t.y.filter(function (y) { return y !== null; }).length; }, 0)")


RUNNING_FAN = ("return Array.from(document.querySelectorAll('#fans .js-plotly-plot')).some("
               "function (d) { return /running/.test(d.layout.title.text) && "
               "d.data[3].x.length > 0; })")


def _run(args, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kw)


@pytest.fixture(params=["sqlite", "postgresql"])
def storage(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'study.db'}"
    return request.getfixturevalue("pg_url")


def test_dashboard_live_in_chromium(browser, storage, tmp_path, request):
    study = f"{HOSTILE_STUDY} {uuid.uuid4().hex[:8]}"
    log = tmp_path / "worker.log"
    # Finished trials first (a final step to forecast to), then a worker that keeps going.
    subprocess.run([sys.executable, str(WORKER), storage, study, "8", str(log), "--hostile"],
                   check=True, timeout=300)
    dash = _run(["-m", "curvecast", "dashboard", "--storage", storage, "--study", study,
                 "--port", "0", "--refresh", "0.5", "--target", "5.2"])
    worker = None
    try:
        line = dash.stdout.readline()
        assert "http://127.0.0.1:" in line, line + dash.stdout.read()
        url = line.split(": ", 1)[1].split()[0]
        worker = _run([str(WORKER), storage, study, "4", str(log), "--hostile",
                       "--delay", "0.4"])
        _blank(browser)
        browser.get(url)
        _wait(browser, "return window.curvecast && window.curvecast.renders > 0", "a render")
        with urllib.request.urlopen(url + "api/state", timeout=10) as r:
            state = json.loads(r.read())
        browser.execute_script("window.sameDocument = true;")
        points = browser.execute_script(POINTS)

        # Reports the worker makes show up, drawn in the same document (no reload).
        _wait(browser, f"return ({POINTS.removeprefix('return ')}) > {points} && "
                       "document.getElementById('fans').querySelector('.js-plotly-plot')",
              "new reports drawn in place")
        assert browser.execute_script("return window.sameDocument === true")
        _wait(browser, "return Array.from(document.querySelectorAll('#trials tbody tr'))"
                       ".some(function (tr) { return /running/.test(tr.textContent); })",
              "a running trial in the table")

        # Traces: one per trial state in the overview, five per fan (3 bands, median, observed).
        counts = _trace_counts(browser)
        assert counts.pop("all-trials") >= len(state["curves"]) >= 2
        assert counts and set(counts.values()) == {5}, counts
        fans = browser.execute_script("return document.querySelectorAll('#fans .plot').length")
        assert fans == len(counts)

        # Hostile names: shown as text, never run or parsed.
        _no_alert(browser)
        body = browser.find_element("tag name", "body").text
        assert HOSTILE_STUDY in body and HOSTILE_RUN in body and HOSTILE_PARAM in body
        assert browser.execute_script(
            "return document.scripts.length === 2 && !document.querySelector('img[src=x]')")
        try:  # for the screenshot, a running trial's fan if one gets far enough (not a check)
            _wait(browser, RUNNING_FAN, "a running trial's fan", timeout=20)
        except AssertionError:
            pass
        _screenshot(browser, f"dashboard_{request.node.callspec.params['storage']}")
        assert _errors(browser) == []
    finally:
        _blank(browser)
        for proc in (worker, dash):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=30)
    assert dash.returncode == 0, dash.stdout.read()  # SIGTERM is a clean stop


SAMPLE = Path(str(resources.files("curvecast") / "data" / "nasbench_nlp_sample.csv"))


def _curves_file(tmp_path: Path) -> list[str]:
    rows = ["run,step,value"]
    for k, c in enumerate(sample_curves()[:8]):  # the first 20 of 50 epochs: fans to draw
        name = HOSTILE_RUN if k == 0 else c.run
        rows += [f'"{name}",{s:g},{float(v)!r}'
                 for s, v in zip(c.steps, c.values, strict=True) if s <= 20]
    (tmp_path / "runs.csv").write_text("\n".join(rows) + "\n")
    return [str(tmp_path / "runs.csv"), "--top", "8", "--at", "50"]


def _cli_json(tmp_path: Path, name: str, *args) -> list[str]:
    out = subprocess.run([sys.executable, "-m", "curvecast", *args, "--json"], check=True,
                         capture_output=True, text=True, timeout=300).stdout
    (tmp_path / name).write_text(out)
    return [str(tmp_path / name)]


def _scaling_file(tmp_path: Path) -> list[str]:
    n = np.geomspace(2e7, 1e9, 5).repeat(3)
    d = n * np.tile([5.0, 20.0, 80.0], 5)
    loss = 1.8 + 400 * n**-0.34 + 2000 * d**-0.37
    rows = ["params,tokens,val_loss,data"] + [f'{a:.6g},{b:.6g},{c:.6g},"{HOSTILE_RUN}"'
                                              for a, b, c in zip(n, d, loss, strict=True)]
    (tmp_path / "scaling.csv").write_text("\n".join(rows) + "\n")
    return ["scaling", "report", str(tmp_path / "scaling.csv"), "--law", "chinchilla",
            "--n", "params", "--d", "tokens", "--loss", "val_loss", "--group", "data",
            "--boot", "50"]


def _study(tmp_path: Path) -> list[str]:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    subprocess.run([sys.executable, str(WORKER), url, HOSTILE_STUDY, "8",
                    str(tmp_path / "worker.log"), "--hostile"], check=True, timeout=300)
    return ["--storage", url, "--study", HOSTILE_STUDY]


REPORTS = {  # kind: (the arguments after 'curvecast report', or a whole command, a name shown)
    "curves": (_curves_file, HOSTILE_RUN),
    "replay": (lambda tmp: _cli_json(tmp, "replay.json", "replay", str(SAMPLE), "--trials", "8",
                                     "--repeats", "2", "--pruners", "nop,median,sha"), None),
    "backtest": (lambda tmp: _cli_json(tmp, "bt.json", "backtest", str(SAMPLE), "--cutoffs",
                                       "0.3,0.6", "--methods", "last,mean_last"), None),
    "scaling": (_scaling_file, HOSTILE_RUN),
    "study": (_study, HOSTILE_RUN),
}


@pytest.mark.parametrize("kind", REPORTS)
def test_report_file_in_chromium(browser, tmp_path, kind):
    """Each kind of static report: opens from disk (no server, no network), every figure
    drawn with the traces its JSON holds, no console errors, HTML in names inert."""
    make, shown = REPORTS[kind]
    args = make(tmp_path)
    out = tmp_path / "report.html"
    cmd = args if args[0] == "scaling" else ["report", *args]
    subprocess.run([sys.executable, "-m", "curvecast", *cmd, "-o", str(out)], check=True,
                   timeout=300)
    html = out.read_text()
    expected = [len(json.loads(block.split(">", 1)[1].split("</script>", 1)[0])["data"])
                for block in html.split('<script type="application/json" class="figure"')[1:]]
    assert expected
    _blank(browser)
    browser.get(out.as_uri())
    _wait(browser, f"return document.querySelectorAll('.js-plotly-plot').length === "
                   f"{len(expected)}", "every figure drawn")
    drawn = browser.execute_script(
        "return Array.from(document.querySelectorAll('.js-plotly-plot'))"
        ".map(function (d) { return d.data.length; })")
    assert drawn == expected
    _no_alert(browser)
    if shown is not None:
        assert shown in browser.find_element("tag name", "body").text
    assert browser.execute_script("return document.scripts.length") == html.count("<script")
    _screenshot(browser, f"report_{kind}")
    assert _errors(browser) == []
