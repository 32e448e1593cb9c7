"""``curvecast replay`` with Ray Tune's schedulers beside Optuna's pruners, on the bundled
NAS-Bench-NLP sample, through ``curvecast.cli.main``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import need_module

from curvecast.cli import main
from curvecast.evaluate import replay as replay_mod

SAMPLE = Path(replay_mod.__file__).parents[1] / "data" / "nasbench_nlp_sample.csv"


def _cli(capsys, *args) -> tuple[int, str, str]:
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return (0 if code is None else code), out, err


def test_names_agree_with_replay_ray():
    from curvecast.evaluate.replay_ray import SCHEDULERS

    assert replay_mod.RAY_SCHEDULERS == SCHEDULERS
    assert set(SCHEDULERS) <= set(replay_mod.PRUNERS)


def test_replay_ray_rows_beside_optuna(capsys):
    need_module("ray", "ray")
    code, out, err = _cli(capsys, "replay", SAMPLE, "--pruners", "ray_asha,ray_median,nop",
                          "--trials", 12, "--repeats", 1, "--json")
    assert code == 0, err
    rows = {r["pruner"]: r for r in json.loads(out)["results"]}
    assert list(rows) == ["ray_asha", "ray_median", "nop"]
    assert rows["nop"]["compute_fraction"]["mean"] == pytest.approx(1.0)
    for name in ("ray_asha", "ray_median"):
        row = rows[name]
        assert row["repeats"] == 1
        # both stop runs early on these 12 draws, and keep the best run's neighbourhood
        assert 0 < row["compute_fraction"]["mean"] < 1
        assert 0 <= row["regret"]["mean"] <= 1
        assert row["latency_ms"] is not None and row["best_found"]["mean"] is not None
    code, out, _ = _cli(capsys, "replay", SAMPLE, "--pruners", "ray_asha,nop", "--trials", 12,
                        "--repeats", 1)
    assert code == 0 and "ray_asha" in out and "nop" in out


def test_ray_missing_is_one_line(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what an install without the extra sees
    code, out, err = _cli(capsys, "replay", SAMPLE, "--pruners", "ray_asha,nop", "--trials", 4,
                          "--repeats", 1)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "ray_asha" in err and "curvecast[ray]" in err


def test_default_pruners_leave_ray_out():
    from curvecast.cli import replay

    default = next(p.default for p in replay.params if p.name == "pruners")
    assert not any(n.startswith("ray_") for n in default.split(","))
