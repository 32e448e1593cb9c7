"""The LCDB 1.0 loader: on the CSVs of the installed ``lcdb`` package, and on small files."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import need_module

from curvecast.datasets import lcdb as lcdb_module
from curvecast.datasets import load_lcdb
from curvecast.datasets.lcdb import LCDB_LEARNERS
from curvecast.errors import InputError


# ``import lcdb`` fails without openml (which lcdb does not declare); the loader only needs
# the package's files, so need_module looks for the package without running it.
@pytest.fixture
def needs_lcdb_package():
    need_module("lcdb")


needs_lcdb = pytest.mark.usefixtures("needs_lcdb_package")


@pytest.fixture(scope="module")
def sample():
    return load_lcdb(max_datasets=5, seed=1)


@needs_lcdb
def test_sample_of_five_datasets(sample):
    assert len({c.hp["openmlid"] for c in sample}) == 5
    assert len(sample) > 100 and sample.goal == "max"
    assert set(sample[0].hp) == {"learner", "openmlid", "outer_seed", "inner_seed"}
    for c in sample:
        assert (np.diff(c.steps) > 0).all() and c.steps[0] >= 1
        assert ((c.values >= 0) & (c.values <= 1)).all()
        h = c.hp
        assert c.run == f"{h['openmlid']}/{h['learner']}/{h['outer_seed']}-{h['inner_seed']}"
        assert h["learner"] in LCDB_LEARNERS
    assert sample[0].meta["metric"] == "accuracy" and sample[0].meta["dataset"]
    assert np.median([len(c) for c in sample]) >= 8
    again = load_lcdb(max_datasets=5, seed=1)
    assert again.runs == sample.runs


@needs_lcdb
def test_learners_and_datasets_are_chosen_by_name_or_id(sample):
    ids = sorted({c.hp["openmlid"] for c in sample})[:2]
    cs = load_lcdb(learners=["RandomForestClassifier", "SVC_rbf"], datasets=ids)
    assert {c.hp["openmlid"] for c in cs} == set(ids)
    assert {c.hp["learner"] for c in cs} == {"sklearn.ensemble.RandomForestClassifier",
                                             "SVC_rbf"}
    with pytest.raises(InputError, match="no learner 'RandomForest'") as err:
        load_lcdb(learners=["RandomForest"], datasets=ids)
    assert all(name in str(err.value) for name in LCDB_LEARNERS) and len(LCDB_LEARNERS) == 20
    with pytest.raises(InputError, match="data set.* 999999999"):
        load_lcdb(datasets=[999999999])


@needs_lcdb
def test_logloss_is_minimised(sample):
    cs = load_lcdb("logloss", learners=["SVC_linear"], datasets=[sample[0].hp["openmlid"]])
    assert cs.goal == "min" and len(cs) > 0 and all((c.values >= 0).all() for c in cs)


@needs_lcdb
def test_a_fifty_dataset_sample():
    # speed is measured by benchmarks, not asserted here
    cs = load_lcdb(max_datasets=50)
    assert len({c.hp["openmlid"] for c in cs}) == 50


def test_unknown_metric_or_score_lists_the_known_ones():
    with pytest.raises(InputError, match="known metrics: accuracy, auc, f1, logloss"):
        load_lcdb("rmse")
    with pytest.raises(InputError, match="score_valid"):
        load_lcdb(score="valid_score")


def test_missing_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(lcdb_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(InputError, match="pip install lcdb"):
        load_lcdb()


HEADER = ("openmlid,learner,size_train,size_test,outer_seed,inner_seed,traintime,"
          "score_train,score_valid,score_test\n")


def test_csv_path_averages_repeated_sizes_and_drops_nan_scores(tmp_path):
    rows = [
        "7,SVC_rbf,32,10,0,0,0.1,1.0,0.7,0.7",
        "7,SVC_rbf,16,10,0,0,0.1,1.0,0.5,0.5",
        "7,SVC_rbf,32,10,0,0,0.1,1.0,0.8,0.8",   # size 32 again: averaged
        "7,SVC_rbf,64,10,0,0,0.1,1.0,,0.9",      # no valid score: dropped
        "7,SVC_rbf,16,10,0,1,0.1,1.0,0.6,0.6",
        "3,SVC_rbf,16,10,0,0,0.1,1.0,,0.6",      # a curve with no scores: dropped
    ]
    (tmp_path / "database-accuracy.csv").write_text(HEADER + "\n".join(rows) + "\n")
    cs = load_lcdb(csv_path=tmp_path)
    assert cs.runs == ["7/SVC_rbf/0-0", "7/SVC_rbf/0-1"]
    assert cs[0].steps.tolist() == [16, 32] and cs[0].values.tolist() == pytest.approx([0.5, 0.75])
    assert cs[1].status == "too_short" and cs[0].meta["dataset"] is None
    test = load_lcdb(score="test", csv_path=tmp_path / "database-accuracy.csv")
    assert test["7/SVC_rbf/0-0"].steps.tolist() == [16, 32, 64]
    (tmp_path / "bad.csv").write_text("openmlid,learner\n1,x\n")
    with pytest.raises(InputError, match="not an LCDB table"):
        load_lcdb(csv_path=tmp_path / "bad.csv")
