"""The oracle row of a replay: the floor of compute at regret 0."""

from __future__ import annotations

import json

import numpy as np
import pytest

from curvecast.cli import main
from curvecast.curve import Curve
from curvecast.demo import sample_curves
from curvecast.evaluate.replay import new_bests, oracle_study, replay


def test_oracle_keeps_the_best_at_less_compute_than_any_pruner_with_zero_regret():
    runs = list(sample_curves())
    res = {r.pruner: r for r in replay(runs, ["oracle", "nop", "median", "percentile25"],
                                       trials=20, repeats=3)}
    oracle = res["oracle"]
    assert (oracle.regret == 0).all()
    for name, r in res.items():
        at_zero = r.regret == 0
        assert (oracle.compute[at_zero] <= r.compute[at_zero] + 1e-12).all(), name
    assert oracle.compute.max() < 1.0


def test_oracle_completes_exactly_the_new_bests_and_one_report_of_each_other_run():
    rng = np.random.default_rng(3)
    runs = [Curve(str(i), np.arange(1, n + 1.0), np.linspace(3, f, n))
            for i, (n, f) in enumerate(zip(rng.integers(3, 30, 40), rng.uniform(0, 2, 40)))]
    record = new_bests(runs)
    r = oracle_study(runs)
    assert r.steps == sum(len(c) if k else 1 for c, k in zip(runs, record))
    assert r.best == pytest.approx(min(c.values[-1] for c in runs)) and r.regret == 0
    maxed = oracle_study([Curve(c.run, c.steps, -c.values, goal="max") for c in runs])
    assert maxed.steps == r.steps and maxed.best == pytest.approx(-r.best)


def test_replay_json_has_the_oracle_with_no_latency(capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["replay", str(_sample_csv(tmp_path)), "--trials", "10", "--repeats", "1",
              "--pruners", "oracle,nop", "--json"])
    assert exc.value.code == 0
    rows = {r["pruner"]: r for r in json.loads(capsys.readouterr().out)["results"]}
    assert rows["oracle"]["latency_ms"] is None
    assert rows["oracle"]["compute_fraction"]["mean"] < rows["nop"]["compute_fraction"]["mean"]


def _sample_csv(tmp_path):
    from curvecast.io import write_long

    path = tmp_path / "runs.csv"
    write_long(sample_curves(), path)
    return path
