"""Downstream accuracy forecasts: links, two-stage and direct routes, intervals from both
stages, difficulty clusters, bad input; and a held-out check on Pythia."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED_DATA, need

from curvecast.errors import InputError, UsageError
from curvecast.scaling.difficulty import Aggregate, clusters
from curvecast.scaling.downstream import (
    LINKS,
    METHODS,
    fit_metric,
    forecast_split,
    holdout_forecast,
)


def ladder(seed: int = 0, noise: float = 0.005) -> pd.DataFrame:
    """Seven sizes x four token budgets; loss from a Chinchilla law, accuracy a sigmoid
    of the loss above a chance of 0.25, binomial-sized noise."""
    rng = np.random.default_rng(seed)
    n = np.repeat(np.geomspace(2e7, 4e9, 7), 4)
    d = np.tile([2e9, 8e9, 3e10, 1e11], 7)
    loss = (1.7 + 400 * n**-0.34 + 1500 * d**-0.3) * np.exp(rng.normal(0, 0.003, n.size))
    acc = 0.25 + 0.6 / (1 + np.exp(4 * (loss - 2.6))) + rng.normal(0, noise, n.size)
    easy = 0.25 + 0.7 / (1 + np.exp(6 * (loss - 3.2))) + rng.normal(0, noise, n.size)
    return pd.DataFrame({"n": n, "d": d, "loss": loss, "acc": np.clip(acc, 0, 1),
                         "easy": np.clip(easy, 0, 1)})


@pytest.mark.parametrize("name", ["sigmoid", "exponential"])
def test_links_stay_between_floor_and_one(name):
    link = LINKS[name]
    s = np.linspace(-20, 0, 50)
    for theta in link.starts(s, np.linspace(0.3, 0.8, 50), 0.25):
        acc = link.f(np.clip(np.array([theta]), *link.bounds(0.25, s)), s, 0.25)
        assert (acc >= 0.25 - 1e-12).all() and (acc <= 1 + 1e-12).all()
        assert (np.diff(acc[0]) >= -1e-12).all()  # more score (less loss): no less accuracy


@pytest.mark.slow
def test_two_stage_forecasts_the_largest_model_within_its_interval():
    r = holdout_forecast(ladder(), n="n", d="d", metrics=["acc", "easy"], loss="loss",
                         chance=0.25, holdout_top=1, n_boot=10)
    assert len(r.points) == 2 and {p.metric for p in r.points} == {"acc", "easy"}
    p = r.points[0]
    assert p.n == pytest.approx(4e9) and p.d == pytest.approx(1e11)  # the final row
    assert r.mean_abs_error < 0.03
    assert all(q.lower <= q.pred <= q.upper for q in r.points)
    assert set(r.methods.values()) <= {"two-stage-sigmoid", "two-stage-exponential"}
    assert set(r.inner_errors["acc"]) == {"two-stage-sigmoid", "two-stage-exponential"}


def test_intervals_carry_the_loss_laws_uncertainty():
    """Forcing the link alone (the held-out loss known) narrows the interval: the spread
    of the two-stage forecast is not the link's alone."""
    t = ladder(1)
    held = t["n"] == t["n"].max()
    test = held & (t["d"] == t["d"].max())
    r = forecast_split(t, ~held.to_numpy(), test.to_numpy(), n="n", d="d", metrics=["acc"],
                       loss="loss", chance=0.25, methods=["two-stage-sigmoid"], n_boot=30)
    sub = t[~held]
    fit = fit_metric("two-stage-sigmoid", sub["n"], sub["d"], sub["acc"], [None] * len(sub),
                     chance=0.25, loss=sub["loss"], losses={None: None}, n_boot=30)
    rng = np.random.default_rng(0)
    true_loss = np.broadcast_to(t.loc[test, "loss"].to_numpy(), (4000, 1))
    link_only = fit.draws(t.loc[test, "n"].to_numpy(), t.loc[test, "d"].to_numpy(), [None],
                          rng, loss_draws=true_loss)
    both = r.draws["acc"][:, 0]
    assert np.std(both) > np.std(link_only[:, 0])


def test_direct_route_learns_family_offsets():
    """Two families, one needing 4x the compute for the same accuracy: with --group the
    inefficient family's largest model is forecast without the other's bias."""
    rows = []
    for fam, shift in (("a", 0.0), ("b", np.log(4.0))):
        for n in np.geomspace(1e8, 3e10, 7):
            c = 6 * n * 20 * n
            acc = 0.25 + 0.7 / (1 + np.exp(-0.8 * (np.log(c) - shift - 48)))
            rows.append({"family": fam, "n": n, "d": 20 * n, "acc": acc})
    t = pd.DataFrame(rows)
    grouped = holdout_forecast(t, n="n", d="d", metrics=["acc"], group="family",
                               chance=0.25, holdout_top=1, n_boot=10,
                               methods=["direct-sigmoid"])
    pooled = holdout_forecast(t.drop(columns="family"), n="n", d="d", metrics=["acc"],
                              chance=0.25, holdout_top=1, n_boot=10,
                              methods=["direct-sigmoid"])
    assert len(grouped.points) == 2 and {p.group for p in grouped.points} == {"a", "b"}
    assert grouped.mean_abs_error < 0.01
    assert grouped.mean_abs_error < pooled.mean_abs_error


def test_difficulty_clusters_separate_rising_from_flat_parts():
    rng = np.random.default_rng(0)
    x = np.linspace(0, 1, 12)
    cols = {f"rise{i}": 0.25 + 0.5 * x + rng.normal(0, .01, 12) for i in range(4)}
    cols |= {f"flat{i}": 0.25 + rng.normal(0, .01, 12) for i in range(4)}
    t = pd.DataFrame(cols)
    labels = clusters(t, np.arange(12) < 8, list(cols), k=2, chance=0.25)
    assert labels.tolist() == [0] * 4 + [1] * 4  # 0: the easiest


def test_aggregate_forecast_through_clusters():
    t = ladder(2)
    parts = tuple(f"p{i}" for i in range(6))
    for i, c in enumerate(parts):  # three that rise with the loss, three at chance
        t[c] = t["acc"] if i < 3 else 0.25 + 0.0 * t["acc"]
    agg = Aggregate(parts, (1, 2, 3, 1, 1, 1), k=2, chance=0.25)
    r = holdout_forecast(t, n="n", d="d", metrics=[], aggregates={"suite": agg},
                         chance=0.25, holdout_top=1, n_boot=10)
    assert [p.metric for p in r.points] == ["suite"]
    w = np.array([1, 2, 3, 1, 1, 1]) / 9
    top = t[(t["n"] == t["n"].max()) & (t["d"] == t["d"].max())]
    assert r.points[0].true == pytest.approx(float(top[list(parts)].to_numpy()[0] @ w))
    # 0.025: the ladder's four budgets per size count as checkpoints, the small ones
    # weighted down (downstream.TOKEN_WEIGHT), which costs this grid 0.0003 over 0.02
    assert abs(r.points[0].pred - r.points[0].true) < 0.025
    assert r.methods["suite"].startswith("clusters: ")


@pytest.mark.parametrize(("change", "match"), [
    (lambda t: t.assign(acc=t["acc"] * 100), "row 1, column 'acc': an accuracy must lie"),
    (lambda t: t.drop(columns="d"), "no column 'd'"),
    (lambda t: t.assign(n=np.where(t.index == 3, -1.0, t["n"])), "row 4, column 'n'"),
    (lambda t: t.assign(loss=t["loss"].astype(object).where(t.index != 2, "x")),
     "row 3, column 'loss': 'x' is not a number"),
])
def test_bad_input_names_row_and_column(change, match):
    with pytest.raises(InputError, match=match):
        holdout_forecast(change(ladder()), n="n", d="d", metrics=["acc"], loss="loss",
                         holdout_top=1, n_boot=0)


def test_bad_usage():
    with pytest.raises(UsageError, match="need a loss column"):
        holdout_forecast(ladder(), n="n", d="d", metrics=["acc"], holdout_top=1,
                         methods=["two-stage-sigmoid"])
    with pytest.raises(UsageError, match="unknown method"):
        holdout_forecast(ladder(), n="n", d="d", metrics=["acc"], holdout_top=1,
                         methods=["magic"])
    with pytest.raises(InputError, match="fewer than 3 distinct sizes"):
        holdout_forecast(ladder(), n="n", d="d", metrics=["acc"], holdout_top=5)
    assert len(METHODS) == 5
    with pytest.raises(UsageError, match="needs families"):
        holdout_forecast(ladder(), n="n", d="d", metrics=["acc"], holdout_top=1,
                         methods=["direct-mixed"])


def test_pythia_direct_forecast_of_the_largest_models():
    """Fit <= 1.4B, forecast 2.8B-12B's final checkpoints on three tasks (the full bar is
    in benchmarks/bench_downstream.py)."""
    need(SHARED_DATA / "scaling" / "pythia_evals" / "pythia_v1_evals_flat.csv.gz")
    from curvecast.datasets.pythia import CHANCE, pythia_table

    t = pythia_table()
    train = (t["n"] < 2e9).to_numpy()
    test = ((t["n"] > 2e9) & (t["step"] == 143_000)).to_numpy()
    r = forecast_split(t, train, test, n="n", d="d", metrics=["arc_easy", "piqa", "mmlu"],
                       chance=CHANCE, n_boot=10)
    assert len(r.points) == 9
    assert r.mean_abs_error < 0.03
    assert np.mean([p.lower <= p.true <= p.upper for p in r.points]) >= 0.6


def test_checkpoint_weights_follow_the_share_of_the_run():
    from curvecast.scaling.downstream import _token_weights

    n = np.array([1e8] * 4 + [2e8] * 2)
    d = np.array([1e9, 1e10, 5e10, 1e11, 1e11, 3e11])
    w = _token_weights(n, d, [None] * 6)
    assert w[:4].tolist() == pytest.approx([0.01, 0.1, 0.5, 1.0])
    assert w[4:].tolist() == [1.0, 1.0]  # two rows: distinct released models, not a ladder


def test_step_of_early_checkpoints_does_not_win():
    """Many checkpoints near chance then a plateau that rises with N (Pythia's SciQ): the
    sigmoid, weighted by the run's share, follows the final checkpoints, not a step."""
    n = np.repeat([7e7, 1.6e8, 4e8, 1.4e9], 8)
    d = np.tile([2e6, 2e7, 2e8, 2e9, 3e10, 1e11, 2e11, 3e11], 4)
    final = {7e7: 0.60, 1.6e8: 0.74, 4e8: 0.81, 1.4e9: 0.865}
    y = np.array([0.22 if dd < 1e9 else final[nn] - 0.03 * (dd < 1e11)
                  for nn, dd in zip(n, d, strict=True)])
    f = fit_metric("direct-sigmoid", n, d, y, [None] * n.size, chance=0.25, n_boot=0)
    last = d == d.max()
    assert np.abs(f.predict(n[last], d[last], [None] * 4) - y[last]).max() < 0.04


def test_choice_prefers_the_sigmoid_unless_clearly_worse():
    from curvecast.scaling.downstream import choose

    assert choose({"direct-sigmoid": 0.030, "direct-linear": 0.026}) == "direct-sigmoid"
    assert choose({"direct-sigmoid": 0.030, "direct-linear": 0.020}) == "direct-linear"
    assert choose({"two-stage-sigmoid": 0.05, "two-stage-exponential": 0.045}) == \
        "two-stage-sigmoid"


def test_a_metric_never_evaluated_is_bad_input():
    t = ladder()
    t["blank"] = np.nan
    with pytest.raises(InputError, match="'blank' has 0 evaluated rows"):
        holdout_forecast(t, n="n", d="d", metrics=["acc", "blank"], chance=0.25, n_boot=0)


def families_in_opposite_directions(seed: int = 0) -> pd.DataFrame:
    """TruthfulQA-like: six families of five sizes, three losing accuracy with compute and
    three gaining it, at different levels; binomial-sized noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for j, slope in enumerate((-0.015, -0.01, -0.02, 0.02, 0.03, 0.015)):
        base = 0.35 + 0.02 * j
        for n in np.geomspace(3e8, 3e10, 5):
            x = np.log(6 * n * 20 * n) - 50
            rows.append({"family": f"f{j}", "n": n, "d": 20 * n,
                         "acc": base + slope * x + rng.normal(0, 0.005)})
    return pd.DataFrame(rows)


def test_mixed_model_follows_each_familys_direction():
    """Families whose accuracy goes opposite ways with compute: the mixed model (each
    family its own slope, shrunk by REML) forecasts their largest models; a shared sigmoid
    with family offsets in compute cannot."""
    t = families_in_opposite_directions()
    kw = dict(n="n", d="d", metrics=["acc"], group="family", holdout_top=1, n_boot=0)
    mixed = holdout_forecast(t, methods=["direct-mixed"], **kw)
    sig = holdout_forecast(t, methods=["direct-sigmoid"], **kw)
    assert len(mixed.points) == 6
    assert mixed.mean_abs_error < 0.015
    assert mixed.mean_abs_error < 0.5 * sig.mean_abs_error
    assert all(p.lower <= p.pred <= p.upper for p in mixed.points)
    auto = holdout_forecast(t, **kw)  # the inner hold-outs see it too
    assert auto.methods["acc"] == "direct-mixed"


def test_mixed_model_shrinks_a_lone_member_to_the_pooled_slope():
    """A family with one fitted model: its forecast takes that model's level and the
    pooled slope (no slope of its own to fit), with a wider interval than a family of five."""
    from curvecast.scaling.downstream import fit_mixed

    t = families_in_opposite_directions(1)
    t["acc"] = np.where(t["family"] < "f3", 0.4, 0.5) + 0.01 * (np.log(6 * t["n"] * t["d"]) - 50)
    lone = pd.DataFrame({"family": ["solo"], "n": [1e9], "d": [2e10], "acc": [0.3]})
    fit_rows = pd.concat([t, lone], ignore_index=True)
    f = fit_mixed(fit_rows["n"], fit_rows["d"], fit_rows["acc"], fit_rows["family"])
    n, d = np.array([1e10, 1e10]), np.array([2e11, 2e11])
    pred = f.predict(n, d, ["solo", "f0"])
    step = 0.01 * np.log(1e10 * 2e11 / (1e9 * 2e10))
    assert pred[0] == pytest.approx(0.3 + step, abs=0.01)
    dr = f.draws(n, d, ["solo", "f0"], np.random.default_rng(0))
    assert np.std(dr[:, 0]) > np.std(dr[:, 1])


def test_average_of_routes_is_their_weighted_forecast():
    from curvecast.scaling.downstream import route_weights

    t = families_in_opposite_directions(2)
    kw = dict(n="n", d="d", metrics=["acc"], group="family", holdout_top=1, n_boot=0)
    avg = holdout_forecast(t, average=True, **kw)
    w = route_weights(avg.inner_errors["acc"])
    assert avg.methods["acc"].startswith("average: ") and sum(w.values()) == pytest.approx(1)
    parts = {m: holdout_forecast(t, methods=[m], **kw) for m in w}
    for i, p in enumerate(avg.points):
        assert p.pred == pytest.approx(sum(w[m] * parts[m].points[i].pred for m in w), abs=1e-6)
        assert p.lower <= p.pred <= p.upper


def test_obsscaling_truthfulqa_by_the_mixed_model():
    """Ruan et al.'s models, fitted at or below each family's median compute: the mixed
    model's TruthfulQA error on the rest is well under the naive line's (0.65x measured;
    the bar is 0.7x, bench_downstream.py)."""
    need(SHARED_DATA / "scaling" / "obsscaling_ruan" / "base_llm_benchmark_eval.csv")
    from curvecast.datasets.obsscaling import obsscaling_table

    t = obsscaling_table()
    t = t[np.isfinite(t["d"])].reset_index(drop=True)
    logc = np.log(6 * t["n"] * t["d"])
    test = ((logc > logc.groupby(t["family"]).transform("median"))
            & (logc.groupby(t["family"]).transform("size") >= 2)).to_numpy()
    r = forecast_split(t, ~test, test, n="n", d="d", metrics=["TruthfulQA"], group="family",
                       methods=["direct-mixed"], n_boot=0)
    ok = ~test & t["TruthfulQA"].notna().to_numpy()
    beta = np.polyfit(logc[ok], t.loc[ok, "TruthfulQA"], 1)
    okt = test & t["TruthfulQA"].notna().to_numpy()
    naive = np.mean(np.abs(np.clip(np.polyval(beta, logc[okt]), 0, 1)
                           - t.loc[okt, "TruthfulQA"]))
    assert r.mean_abs_error < 0.75 * naive
