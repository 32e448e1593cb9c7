"""``curvecast scaling report``: self-contained, the expected figures and traces, names
inert, bad input refused (exit 2, no file). Synthetic runs from known laws, plus Epoch's
Chinchilla data when ../shared/data is present."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED_DATA, need
from test_cli import cli
from test_report import HOSTILE, assert_self_contained, figures

from curvecast.report.scaling import scaling_report
from curvecast.scaling import ScalingWarning, fit_law, read_points

BOOT = "5"

DATA = SHARED_DATA / "scaling"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> str:
    """A Chinchilla sweep for two data sets, one named like a script tag."""
    rng = np.random.default_rng(0)
    n = np.geomspace(2e7, 1e9, 5).repeat(3)
    d = n * np.tile([5.0, 20.0, 80.0], 5)
    rows = []
    for name, E in (("web", 1.8), (HOSTILE, 1.2)):
        y = (E + 400 * n**-0.34 + 2000 * d**-0.37) * np.exp(rng.normal(0, 0.003, n.size))
        rows += [{"params": a, "tokens": b, "val_loss": c, "data": name}
                 for a, b, c in zip(n, d, y, strict=True)]
    path = tmp_path_factory.mktemp("scaling_report") / "runs.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


def report(capsys, tmp_path, *args) -> tuple[int, str, object]:
    out = tmp_path / "scaling.html"
    code, _, err = cli(capsys, "scaling", "report", *args, "--boot", BOOT, "-o", out)
    return code, err, out


def test_chinchilla_report(tmp_path, capsys, runs):
    code, err, out = report(capsys, tmp_path, runs, "--n", "params", "--d", "tokens",
                            "--loss", "val_loss", "--group", "data")
    assert code == 0, err
    html = out.read_text()
    assert_self_contained(html)
    figs = figures(html)
    assert len(figs) == 2 * 2  # per group: loss against N, the frontier
    for loss_n, frontier in (figs[0:2], figs[2:4]):
        points, band, curve = loss_n["data"]
        assert len(points["x"]) == 15 and points["marker"]["color"]  # coloured by D
        assert band["fill"] == "toself"
        assert loss_n["layout"]["xaxis"]["type"] == "log" == loss_n["layout"]["yaxis"]["type"]
        # along the frontier to 10x the largest compute seen: N* beyond the largest N
        assert max(curve["x"]) > max(points["x"])
        assert all(lo <= p <= hi for lo, p, hi in zip(band["y"][len(curve["x"]):][::-1],
                                                       curve["y"], band["y"], strict=False))
        assert [t["name"] for t in frontier["data"]] == ["N* 90% interval", "N*",
                                                          "D* 90% interval", "D*"]
        c = frontier["data"][1]["x"]
        seen = 6 * 1e9 * 80e9
        assert min(c) == pytest.approx(6 * 2e7 * 1e8) and max(c) == pytest.approx(100 * seen)
    # a parameter table per group; the hostile group name only ever escaped
    assert html.count("<th class=\"text\">parameter</th>") == 2
    assert HOSTILE not in html and "alert(1)</" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert any("&lt;script&gt;" in f["layout"]["title"]["text"] for f in figs)


def test_one_variable_report(tmp_path, capsys):
    x = np.geomspace(10, 1e4, 12)
    src = tmp_path / "x.csv"
    pd.DataFrame({"x": x, "loss": 0.5 + 3 * x**-0.4}).to_csv(src, index=False)
    code, err, out = report(capsys, tmp_path, src, "--law", "power")
    assert code == 0, err
    html = out.read_text()
    assert_self_contained(html)
    (fig,) = figures(html)
    points, band, curve = fig["data"]
    assert len(points["x"]) == 12 and band["fill"] == "toself"
    assert max(curve["x"]) == pytest.approx(1e5)
    assert html.count("<tr>") == 1 + 3  # E, A, alpha


def test_warnings_shown_and_escaped(tmp_path, capsys):
    # no irreducible loss in the data: the fit of E + A x^-alpha warns, on stderr and the page
    x = np.geomspace(10, 1e4, 12)
    src = tmp_path / "x.csv"
    pd.DataFrame({"x": x, "loss": 3 * x**-0.4}).to_csv(src, index=False)
    code, err, out = report(capsys, tmp_path, src, "--law", "power")
    assert code == 0, err
    assert "is negligible" in err and "is negligible" in out.read_text()
    # a warning's text is escaped like every other text from the data
    (pts,) = read_points(src, {"x": "x"}, "loss")
    with pytest.warns(ScalingWarning):
        fit = fit_law("power", pts.X, pts.y, n_boot=3)
    fit.warnings_.append(HOSTILE)
    html = scaling_report(fit.law, [(pts, fit)], HOSTILE).render()
    assert HOSTILE not in html and "warning: &lt;script&gt;alert(1)&lt;/script&gt;" in html


@pytest.mark.parametrize("content, args", [
    ("N,D,loss\n1e8,2e9,oops\n", ()),
    ("N,D,loss\n1e8,2e9,3.1\n", ("--n", "nope")),
    ("", ()),
])
def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, content, args):
    src = tmp_path / "runs.csv"
    src.write_text(content)
    before = sorted(tmp_path.iterdir())
    code, err, out = report(capsys, tmp_path, src, *args)
    assert code == 2, err
    assert err.startswith("error: ") and "Traceback" not in err
    assert not out.exists() and sorted(tmp_path.iterdir()) == before


@pytest.mark.slow
def test_epoch_chinchilla_report(tmp_path, capsys):
    path = need(DATA / "epoch_chinchilla" / "svg_extracted_data.csv")
    code, err, out = report(capsys, tmp_path, path, "--n", "Model Size", "--c", "Training FLOP")
    assert code == 0, err
    html = out.read_text()
    assert_self_contained(html)
    loss_n, frontier = figures(html)
    assert len(loss_n["data"]) == 3 and len(frontier["data"]) == 4
    n_opt = frontier["data"][1]
    # Chinchilla's budget lies inside the range drawn; N* grows with compute
    assert min(n_opt["x"]) < 5.76e23 < max(n_opt["x"])
    assert all(a < b for a, b in zip(n_opt["y"], n_opt["y"][1:], strict=False))
