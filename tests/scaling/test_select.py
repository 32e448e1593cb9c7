"""``--law auto``'s library side (scaling.select.auto_candidates, fit_auto): which laws
compete for which table, what is reported, and the choice on real repeated-data runs."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED_DATA, need

from curvecast.scaling import ScalingWarning
from curvecast.scaling.select import auto_candidates, fit_auto, label


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingWarning)
        yield


def test_candidates_follow_the_tables_columns():
    labels = lambda c: [label(*x) for x in c]
    assert labels(auto_candidates({"n", "d"}, None)) == ["chinchilla", "overtraining"]
    assert labels(auto_candidates({"n", "d", "u"})) == [
        "chinchilla", "overtraining", "data_constrained", "chinchilla+prior",
        "overtraining+prior", "data_constrained+prior"]
    assert labels(auto_candidates({"x"})) == ["power", "bnsl"]  # no shipped prior for x
    # the data-constrained law's prior is Chinchilla's (E, A, B, alpha, beta)
    (dc,) = [p for law, p in auto_candidates({"n", "d", "u"}) if law == "data_constrained"
             and p is not None]
    assert dc.law == "chinchilla"


def test_too_few_sizes_fall_back_to_plain_chinchilla():
    n = np.geomspace(1e7, 1e8, 3).repeat(4)  # 3 sizes: no refit keeps 3
    d = n * np.tile([5.0, 10.0, 20.0, 40.0], 3)
    fit, pick = fit_auto(auto_candidates({"n", "d"}), {"n": n, "d": d},
                         1.8 + 400 * n**-0.34 + 2000 * d**-0.37, n_boot=0)
    assert pick["law"] == "chinchilla" and fit.law.name == "chinchilla"
    assert np.isnan(pick["held_out_error"]) and pick["held_out_runs"] == 0


@pytest.mark.slow
def test_repeated_data_gets_the_data_constrained_law():
    """Muennighoff et al.'s runs repeat data (D > U): only laws that read U compete, and
    the pick extrapolates far better than Chinchilla would (BENCHMARKS.md, issue 18)."""
    df = pd.read_csv(need(SHARED_DATA / "scaling" / "datablations_muennighoff"
                          / "datablations_final_val_losses.csv"))
    df = df[(df["final_val_loss"] > 0) & (df["tokens"] >= df["params"])]
    X = {"n": df["params"].to_numpy(float), "d": df["tokens"].to_numpy(float),
         "u": df["unique_tokens"].to_numpy(float)}
    fit, pick = fit_auto(auto_candidates(set(X), prior=None), X,
                         df["final_val_loss"].to_numpy(float), n_boot=0)
    assert pick["law"] == "data_constrained" and fit.law.name == "data_constrained"
    assert set(pick["rolling_errors"]) == {"data_constrained"}
    assert 0 < pick["held_out_error"] < 0.25 and pick["held_out_runs"] > 10
