"""default and oracle on a real weather series: NOAA WTH, the first year, hourly.

A year of WTH with 6-hourly decisions and a 30-day window is 1,339 decisions: ridge
runs every policy in about 2 s, so these tests read real drift, not a made-up one.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SHARED_DATA, need

from curvecast.retrain import make_policy, simulate
from curvecast.retrain.cost import EXPLORE, RECENCY_DAYS, START, CostPolicy
from curvecast.retrain.features import build_features
from curvecast.retrain.policies import Policy
from curvecast.retrain.run import ladder_error_at

WTH = SHARED_DATA / "weather" / "noaa_wth" / "WTH.csv"
YEAR = 24 * 365
LADDER = ["fixed@2", "fixed@4", "fixed@8", "fixed@16", "fixed@32"]


@pytest.fixture(scope="module")
def wth():
    from curvecast.datasets import load_noaa_wth

    need(WTH)
    return load_noaa_wth(["DryBulbCelsius", "WindSpeed"])


def _run(s, target, policies, y=None):
    y = s.values[target][:YEAR] if y is None else y
    f = build_features(y, {}, s.times[:len(y)], 3600, horizon=6)
    pols = [make_policy(p) if isinstance(p, str) else p for p in policies]
    return {t.policy: t for t in simulate(f, "ridge", pols, every=6, horizon=6, window=720,
                                          times=s.times[:len(y)], step_seconds=3600)}


def _rows(trs):
    base = trs["fixed"]
    return [{"policy": t.policy, "compute_fraction": t.compute / base.compute,
             "error_ratio": t.mae / base.mae} for t in trs.values()]


@pytest.mark.parametrize("target", ["DryBulbCelsius", "WindSpeed"])
def test_default_retrains_far_less_at_about_fixed_error(wth, target):
    trs = _run(wth, target, ["fixed", "default"])
    fixed, d = trs["fixed"], trs["default"]
    assert d.compute < 0.25 * fixed.compute
    assert d.mae < 1.01 * fixed.mae
    assert 20 < d.retrained.sum() < fixed.retrained.sum() / 4


def test_default_retrains_on_its_soft_window_alone(wth):
    """default trains its leave-one-series-out window, recency-weighted, and nothing
    beside it (EXPLORE is off): each retraining costs the rows it reads."""
    p = CostPolicy()
    trs = _run(wth, "WindSpeed", ["fixed", p])
    d = trs["default"]
    at = np.flatnonzero(d.retrained)
    assert EXPLORE == 0 and p.half_life_rows == round(RECENCY_DAYS * 24)
    assert (d.window[at] == round(START * 720)).all()
    late = d.rows[at] > START * 720 + 30  # a full window of history behind it
    assert late.any() and (d.work[at][late] <= round(START * 720)).all()
    assert (d.work[at][late] > 0.95 * round(START * 720)).all()
    s, se = p.slope
    assert np.isfinite(s) and se > 0


def test_oracle_is_below_every_plain_schedule(wth):
    """Hindsight is the floor: below the ladder at its own compute, and below fixed."""
    trs = _run(wth, "DryBulbCelsius", ["fixed", "oracle", "default", *LADDER])
    rows = _rows(trs)
    o = next(r for r in rows if r["policy"] == "oracle")
    assert o["compute_fraction"] < 0.5
    assert o["error_ratio"] < ladder_error_at(rows, o["compute_fraction"]) - 0.005
    assert o["error_ratio"] < 1.0
    assert trs["oracle"].mae < trs["default"].mae


def test_only_the_oracle_sees_the_future(wth):
    """Poison the second half: the oracle's first-half decisions change, a live
    policy's do not (and no live policy is handed view.future)."""
    seen = []

    class Spy(Policy):
        name = "spy"

        def decide(self, view):
            seen.append(view.future)
            return self.ctx.window if view.j % 4 == 0 else None

    n = YEAR // 2
    y = wth.values["DryBulbCelsius"][:n].copy()
    before = _run(wth, "DryBulbCelsius", ["fixed", "oracle", "default", Spy()], y)
    half = n // 2
    y[half:] = y[half:] + 20 * np.sin(np.arange(n - half))
    after = _run(wth, "DryBulbCelsius", ["fixed", "oracle", "default", Spy()], y)
    assert all(f is None for f in seen)
    rows = before["fixed"].rows
    early = rows + 6 + 30 * 6 * 4 < half  # decisions whose look-ahead all precedes the poison
    late = (rows < half) & ~early & (rows + 6 < half)
    assert (before["default"].retrained[rows < half - 6]
            == after["default"].retrained[rows < half - 6]).all()
    assert (before["oracle"].retrained[early] == after["oracle"].retrained[early]).all()
    assert (before["oracle"].retrained[late] != after["oracle"].retrained[late]).any()


@pytest.mark.slow  # 8 trainings of torch: 3 s alone, 30 s on a loaded 2-core machine
def test_lstm_learns_the_weather(wth):
    """The lstm extra: a small LSTM on 45 days of WTH beats persistence by far."""
    from conftest import need_module

    need_module("torch", "lstm")
    n = 24 * 45
    y = wth.values["WindSpeed"][:n]
    f = build_features(y, {}, wth.times[:n], 3600, horizon=6)
    (tr,) = simulate(f, "lstm", [make_policy("fixed@8")], every=6, horizon=6, window=720,
                     times=wth.times[:n], step_seconds=3600)
    persistence = np.nanmean(np.abs(f.D[tr.rows]))
    assert tr.retrained.sum() == -(-len(tr.rows) // 8)
    assert 0.5 * 720 * 8 * 8 < tr.compute <= tr.retrained.sum() * 720 * 8  # rows x epochs
    assert tr.mae < 0.9 * persistence


def test_lstm_without_torch_is_one_line(monkeypatch):
    import importlib.util

    from curvecast.errors import UsageError
    from curvecast.retrain import make_model

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real(name, *a))
    with pytest.raises(UsageError, match=r"curvecast\[lstm\]"):
        make_model("lstm")


def test_cli_oracle_and_cost_on_a_real_slice(tmp_path, capsys):
    """curvecast retrain on 60 real days of WTH: the oracle's row, --cost reaching both."""
    import json

    from curvecast.cli import main

    p = tmp_path / "wth60.csv"
    with open(need(WTH), encoding="latin-1") as f:
        p.write_text("".join(next(f) for _ in range(1 + 24 * 60)))
    rows = {}
    for cost in ("0.005", "0.2"):
        with pytest.raises(SystemExit) as e:
            main(["retrain", str(p), "--time", "date", "--target", "WindSpeed", "--every", "6h",
                  "--horizon", "6h", "--policy", "oracle,default", "--cost", cost, "--json"])
        assert e.value.code in (0, None)
        rows[cost] = {r["policy"]: r for r in json.loads(capsys.readouterr().out)["results"]}
    cheap, dear = rows["0.005"], rows["0.2"]
    assert cheap["oracle"]["error_ratio"] < 1.0
    assert dear["oracle"]["retrains"] < cheap["oracle"]["retrains"]
    assert dear["default"]["retrains"] <= cheap["default"]["retrains"]
