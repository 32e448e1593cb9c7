"""Difficulty clusters for an aggregate benchmark (COD-like).

An aggregate (MMLU's 57 subjects, a suite of tasks) mixes parts that scale differently:
some rise early, some sit at chance until late, some never move. Their mean is a sum of
sigmoids of different shapes, which one link fits badly. "Unveiling Downstream
Performance Scaling of LLMs: A Clustering-Based Perspective" (Xu et al. 2025,
arXiv:2502.17262, COD) clusters evaluation items by how their accuracy changes across
small models, forecasts each cluster, and recombines. Here the parts are the columns
given (subtasks or items), clustered by k-means on their accuracy above chance at the
small models' rows only (the large models are never seen), and the aggregate is the
weighted mean of the clusters' forecasts. COD's further step, dropping clusters that
cannot be extrapolated and mapping the rest back, is left out: a cluster near chance
is forecast by its own flat link.

>>> import numpy as np, pandas as pd
>>> t = pd.DataFrame({"a": [.25, .3, .5], "b": [.25, .26, .24], "c": [.3, .4, .6]})
>>> clusters(t, np.array([True, True, False]), ["a", "b", "c"], k=2, chance=0.25).tolist()
[1, 1, 0]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.cluster.vq import kmeans2

from ..errors import InputError, UsageError


@dataclass(frozen=True)
class Aggregate:
    """An aggregate benchmark: its part ``columns``, their ``weights`` (items; None:
    equal), ``k`` difficulty clusters and the parts' ``chance``.

    >>> Aggregate(("x", "y"), k=2).weight_array().tolist()
    [0.5, 0.5]
    """

    columns: tuple[str, ...]
    weights: tuple[float, ...] | None = None
    k: int = 3
    chance: float = 0.0

    def weight_array(self) -> np.ndarray:
        w = np.ones(len(self.columns)) if self.weights is None else np.asarray(self.weights,
                                                                               float)
        if len(w) != len(self.columns) or not (np.all(w >= 0) and w.sum() > 0):
            raise UsageError("an aggregate needs one non-negative weight per column")
        return w / w.sum()


def clusters(table: pd.DataFrame, train: np.ndarray, columns: Sequence[str], *, k: int = 3,
             chance: float = 0.0, seed: int = 0) -> np.ndarray:
    """A cluster label (0..k-1, by mean accuracy, highest first) for each column, from
    k-means on the columns' accuracy above ``chance`` at the rows ``train``: columns that
    rise alike across the small models share a cluster.
    """
    X = table.loc[np.asarray(train, bool), list(columns)].apply(pd.to_numeric,
                                                               errors="coerce")
    X = X.loc[X.notna().all(axis=1)].to_numpy(float).T - chance  # (columns, rows)
    if X.shape[1] == 0:
        raise InputError("the parts of an aggregate have no row evaluated on all of them")
    k = int(min(max(k, 1), len(columns)))
    if k == 1:
        return np.zeros(len(columns), int)
    rng = np.random.default_rng(seed)
    _, labels = kmeans2(X, k, minit="++", seed=rng)
    # relabel by mean level (0 = easiest); empty clusters vanish
    used = np.unique(labels)
    order = used[np.argsort([-X[labels == c].mean() for c in used])]
    rank = {int(c): i for i, c in enumerate(order)}
    return np.array([rank[int(c)] for c in labels])


def cluster_columns(table: pd.DataFrame, name: str, agg: Aggregate,
                    labels: np.ndarray) -> tuple[pd.DataFrame, dict[str, float]]:
    """``table`` with one column per cluster (``NAME#cJ``: the weighted mean of its
    parts) and ``NAME`` (the weighted mean of all parts), and each cluster's weight."""
    w = agg.weight_array()
    parts = table[list(agg.columns)].apply(pd.to_numeric, errors="coerce")
    out = table.copy()
    weights = {}
    for j in np.unique(labels):
        cols = np.flatnonzero(labels == j)
        wj = w[cols]
        out[f"{name}#c{j}"] = (parts.iloc[:, cols] * wj).sum(axis=1, min_count=len(cols)) / wj.sum()
        weights[f"{name}#c{j}"] = float(wj.sum())
    out[name] = (parts * w).sum(axis=1, min_count=len(w))
    return out, weights


def combine(draws: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """The aggregate's draws: the weighted sum of the clusters' aligned draws.

    >>> combine({"a": np.ones((2, 3)), "b": np.zeros((2, 3))}, {"a": .25, "b": .75})[0].tolist()
    [0.25, 0.25, 0.25]
    """
    return sum(weights[c] * draws[c] for c in weights)
