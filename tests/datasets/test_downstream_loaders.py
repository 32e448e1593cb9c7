"""Pythia's and the observational-scaling data's tables for downstream accuracy: shapes,
units, item counts and the catalog's counts, from the real files."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SHARED_DATA, need

from curvecast.datasets.catalog import get
from curvecast.datasets.obsscaling import OBS_BENCHMARKS, load_obsscaling, obsscaling_table
from curvecast.datasets.pythia import (
    LOSS,
    MMLU,
    PYTHIA_TASKS,
    _flat,
    load_pythia_downstream,
    mmlu_items,
    pythia_table,
)

PYTHIA = SHARED_DATA / "scaling" / "pythia_evals" / "pythia_v1_evals_flat.csv.gz"
OBS = SHARED_DATA / "scaling" / "obsscaling_ruan" / "base_llm_benchmark_eval.csv"


@pytest.fixture(scope="module")
def pythia():
    need(PYTHIA)
    return pythia_table(subjects=True)


def test_pythia_table_has_every_size_and_checkpoint(pythia):
    sizes = pythia.groupby("size")["step"].nunique()
    assert sorted(sizes.index) == ["1.4b", "12b", "160m", "2.8b", "410m", "6.9b", "70m"]
    assert (sizes == 26).all()  # 27 checkpoints less step 0 (no tokens seen)
    assert (pythia["d"] > 0).all() and set(pythia["variant"]) == {"standard"}
    first = pythia[pythia["size"] == "70m"].iloc[0]
    assert first["n"] == 70_426_624 and first["d"] == first["step"] * 2_097_152
    acc = pythia[[*PYTHIA_TASKS, MMLU]].to_numpy()
    assert np.isfinite(acc).all() and ((acc >= 0) & (acc <= 1)).all()
    assert (pythia[LOSS] > 0).all()


def test_pythia_mmlu_is_the_item_weighted_mean_of_its_subjects(pythia):
    items = mmlu_items(_flat(None))
    assert len(items) == 57 and int(items.sum()) == 14_042  # MMLU's test set
    subs = pythia[[f"{MMLU}:{s}" for s in items.index]].to_numpy()
    np.testing.assert_allclose(subs @ items.to_numpy() / items.sum(), pythia[MMLU], rtol=1e-9)
    final = pythia[(pythia["step"] == 143_000) & (pythia["size"] == "12b")]
    assert final["arc_easy"].item() == pytest.approx(0.7024, abs=1e-3)


def test_pythia_variants_and_curves():
    need(PYTHIA)
    deduped = pythia_table("deduped")
    assert deduped["size"].nunique() == 8  # 1B is in the deduplicated family only
    curves = load_pythia_downstream()
    d = get("pythia-downstream")
    assert len(curves) == d.runs and sum(len(c.steps) for c in curves) == d.points


def test_obsscaling_table_units_and_catalog():
    need(OBS)
    t = obsscaling_table()
    assert len(t) == 148 and t["family"].nunique() == 47
    llama = t.set_index("model").loc["meta-llama/Llama-2-7b-hf"]
    assert llama["n"] == 7e9 and llama["d"] == 2e12 and llama["flops"] == pytest.approx(8.4e22)
    vals = t[list(OBS_BENCHMARKS)].to_numpy()
    ok = np.isfinite(vals)
    assert ((vals[ok] >= 0) & (vals[ok] <= 1)).all()
    # published compute is 6 N D where both are known
    both = t["flops"].notna()
    ratio = t.loc[both, "flops"] / (6 * t.loc[both, "n"] * t.loc[both, "d"])
    assert ratio.median() == pytest.approx(1.0, rel=0.05)
    curves = load_obsscaling()
    entry = get("obsscaling")
    assert len(curves) == entry.runs and sum(len(c.steps) for c in curves) == entry.points
