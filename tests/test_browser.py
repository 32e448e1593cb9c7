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
from pathlib import Path

import pytest

from curvecast.demo import sample_curves

from distributed_worker import HOSTILE_PARAM, HOSTILE_RUN  # tests/ is on sys.path

WORKER = Path(__file__).with_name("distributed_worker.py")
ARTIFACTS = Path(os.environ.get("CURVECAST_ARTIFACTS",
                                Path(__file__).resolve().parents[1] / "test-artifacts"))
CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromedriver")
HOSTILE_STUDY = "<script>alert(1)</script> study"
WAIT = 60  # seconds for anything to appear


@pytest.fixture(scope="module")
def browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install -e '.[test]')")
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
        version = browser.execute_script("return window.curvecast.version")

        # A report the worker makes shows up without a reload.
        _wait(browser, f"return window.curvecast.version > {version} && "
                       "document.getElementById('fans').querySelector('.js-plotly-plot')",
              "a new report drawn in place")
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
        _screenshot(browser, f"dashboard_{request.node.callspec.params['storage']}")
        assert _errors(browser) == []
    finally:
        _blank(browser)
        for proc in (worker, dash):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=30)
    assert dash.returncode == 0, dash.stdout.read()  # SIGTERM is a clean stop


def test_report_file_in_chromium(browser, tmp_path):
    """The static report of a curve file: opens from disk (no server, no network), every
    figure drawn with its traces, a hostile run name inert."""
    from curvecast.cli import main

    rows = ["run,step,value"]
    for k, c in enumerate(sample_curves()[:8]):  # the first 20 of 50 epochs: fans to draw
        name = HOSTILE_RUN if k == 0 else c.run
        rows += [f'"{name}",{s:g},{float(v)!r}'
                 for s, v in zip(c.steps, c.values, strict=True) if s <= 20]
    (tmp_path / "runs.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "report.html"
    with pytest.raises(SystemExit) as exc:
        main(["report", str(tmp_path / "runs.csv"), "-o", str(out), "--top", "8", "--at", "50"])
    assert exc.value.code == 0
    html = out.read_text()
    expected = [len(json.loads(block.split(">", 1)[1].split("</script>", 1)[0])["data"])
                for block in
                html.split('<script type="application/json" class="figure"')[1:]]
    _blank(browser)
    browser.get(out.as_uri())
    _wait(browser, f"return document.querySelectorAll('.js-plotly-plot').length === "
                   f"{len(expected)}", "every figure drawn")
    drawn = browser.execute_script(
        "return Array.from(document.querySelectorAll('.js-plotly-plot'))"
        ".map(function (d) { return d.data.length; })")
    assert drawn == expected and len(drawn) == 1 + 8
    _no_alert(browser)
    assert HOSTILE_RUN in browser.find_element("tag name", "body").text
    assert browser.execute_script("return document.scripts.length") == html.count("<script")
    _screenshot(browser, "report_curves")
    assert _errors(browser) == []
