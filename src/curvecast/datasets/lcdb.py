"""LCDB 1.0: sample-wise learning curves of 20 scikit-learn learners on 248 OpenML data sets.

Mohr, Viering, Loog et al. (2022), "LCDB 1.0: An Extensive Learning Curves Database for
Classification Tasks". The curves come with the PyPI package ``lcdb`` (0.1.0, MIT
license), whose files include one CSV per metric (``database-accuracy.csv`` 151 MB,
``database-logloss.csv`` 153 MB, ``database-auc.csv`` and ``database-f1.csv`` 88 MB
each) with the columns openmlid, learner, size_train, size_test, outer_seed, inner_seed,
traintime, score_train, score_valid, score_test.

The CSVs are read straight from the installed package's folder, found with
:func:`importlib.util.find_spec`, which does not run the package: ``import lcdb`` itself
fails unless ``openml`` and ``func_timeout`` are installed too, which ``lcdb`` does not
declare and curvecast does not need.

One curve is one (openmlid, learner, outer_seed, inner_seed): the score against the
number of training samples. Decisions on the data, made here:

* a row whose score is NaN is dropped: in LCDB a NaN marks a metric that could not be
  computed (AUC and F1 of 3 data sets, whole curves), not a diverged training; a curve
  left with no rows is dropped;
* if one training size appears twice in a curve, its scores are averaged (LCDB 1.0 has
  no such repeat; the rule is here for other versions and for ``csv_path`` files);
* curves of one or two points are kept (40 in the accuracy table); their status is
  'too_short'.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..curve import Curve, CurveSet
from ..errors import InputError, UsageError

LCDB_METRICS = {"accuracy": "max", "auc": "max", "f1": "max", "logloss": "min"}
"""The metrics LCDB 1.0 has a table for, and which direction is better."""

LCDB_SCORES = ("score_train", "score_valid", "score_test")
"""Where the score was measured: on the training set, the validation or the test fold."""

LCDB_LEARNERS = (
    "SVC_linear",
    "SVC_poly",
    "SVC_rbf",
    "SVC_sigmoid",
    "sklearn.discriminant_analysis.LinearDiscriminantAnalysis",
    "sklearn.discriminant_analysis.QuadraticDiscriminantAnalysis",
    "sklearn.ensemble.ExtraTreesClassifier",
    "sklearn.ensemble.GradientBoostingClassifier",
    "sklearn.ensemble.RandomForestClassifier",
    "sklearn.linear_model.LogisticRegression",
    "sklearn.linear_model.PassiveAggressiveClassifier",
    "sklearn.linear_model.Perceptron",
    "sklearn.linear_model.RidgeClassifier",
    "sklearn.linear_model.SGDClassifier",
    "sklearn.naive_bayes.BernoulliNB",
    "sklearn.naive_bayes.MultinomialNB",
    "sklearn.neighbors.KNeighborsClassifier",
    "sklearn.neural_network.MLPClassifier",
    "sklearn.tree.DecisionTreeClassifier",
    "sklearn.tree.ExtraTreeClassifier",
)
"""The 20 learners of LCDB 1.0, named as in its tables (short class names work too)."""

_KEYS = ["openmlid", "learner", "outer_seed", "inner_seed"]
_INSTALL_HINT = "pip install lcdb (or pip install 'curvecast[test]')"


def lcdb_folder() -> Path:
    """The folder of the installed ``lcdb`` package, which holds its CSV files."""
    try:
        spec = importlib.util.find_spec("lcdb")
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise InputError(f"the LCDB data package 'lcdb' is not installed; {_INSTALL_HINT}, "
                         "or pass csv_path")
    return Path(locations[0])


def lcdb_csv(metric: str = "accuracy", csv_path: str | Path | None = None) -> Path:
    """The CSV of ``metric``: ``csv_path`` (a file, or a folder with database-<metric>.csv)
    or the one in the installed ``lcdb`` package."""
    _check_metric(metric)
    name = f"database-{metric}.csv"
    if csv_path is not None:
        path = Path(csv_path)
        if path.is_dir():
            path = path / name
    else:
        path = lcdb_folder() / name
        if not path.is_file():
            try:
                version = importlib.metadata.version("lcdb")
            except importlib.metadata.PackageNotFoundError:
                version = "unknown"
            raise InputError(f"the installed lcdb package (version {version}) has no {name}; "
                             f"reinstall it: {_INSTALL_HINT}", file=str(path))
    if not path.is_file():
        raise InputError("LCDB CSV file not found", file=str(path))
    return path


def _check_metric(metric: str) -> str:
    if metric not in LCDB_METRICS:
        raise InputError(f"LCDB has no metric {metric!r}; known metrics: "
                         f"{', '.join(LCDB_METRICS)}")
    return metric


def _check_score(score: str) -> str:
    if score in ("train", "valid", "test"):
        score = f"score_{score}"
    if score not in LCDB_SCORES:
        raise InputError(f"LCDB has no score column {score!r}; known: {', '.join(LCDB_SCORES)}")
    return score


def _resolve_learners(wanted: Sequence[str], known: Sequence[str]) -> list[str]:
    """Full table names of ``wanted``, which may also be short class names."""
    if isinstance(wanted, str):
        wanted = [wanted]
    short = {k.rsplit(".", 1)[-1]: k for k in known}
    out, unknown = [], []
    for w in wanted:
        name = w if w in known else short.get(w)
        (out if name is not None else unknown).append(name if name is not None else w)
    if unknown:
        raise InputError(f"LCDB has no learner {', '.join(map(repr, unknown))}; known "
                         f"learners: {', '.join(known)}")
    return list(dict.fromkeys(out))


def _dataset_names(folder: Path) -> dict[int, str]:
    file = folder / "datasets.csv"
    if not file.is_file():
        return {}
    try:
        names = pd.read_csv(file, usecols=["openmlid", "Name"])
    except ValueError:
        return {}
    return dict(zip(names["openmlid"].astype(int).tolist(), names["Name"].astype(str).tolist()))


def load_lcdb(
    metric: str = "accuracy",
    score: str = "score_valid",
    learners: Sequence[str] | None = None,
    datasets: Sequence[int] | None = None,
    max_datasets: int | None = None,
    seed: int = 0,
    csv_path: str | Path | None = None,
) -> CurveSet:
    """LCDB 1.0 learning curves: ``score`` against the training-set size.

    Parameters
    ----------
    metric: 'accuracy', 'auc', 'f1' (goal 'max') or 'logloss' (goal 'min').
    score: 'score_valid' (default), 'score_test' or 'score_train' ('valid', ... work too).
    learners: keep these learners (table names such as
        'sklearn.ensemble.RandomForestClassifier', or class names such as
        'RandomForestClassifier'); default all 20.
    datasets: keep these OpenML ids; default all that have curves of ``learners``.
    max_datasets: draw this many of those data sets at random (``seed``); all when the
        table has fewer.
    seed: seed of that draw.
    csv_path: a database-<metric>.csv file, or a folder holding it; default the one in the
        installed ``lcdb`` package.

    One curve per (openmlid, learner, outer_seed, inner_seed), named
    ``"{openmlid}/{learner}/{outer_seed}-{inner_seed}"``, sorted by those, with
    ``hp = {"learner", "openmlid", "outer_seed", "inner_seed"}`` and
    ``meta = {"metric", "score", "dataset"}`` (dataset: the OpenML name, where known).
    See the module docstring for NaN scores and repeated sizes.

    >>> cs = load_lcdb(max_datasets=5)  # doctest: +SKIP
    >>> cs[0].run, cs[0].goal  # doctest: +SKIP
    ('737/SVC_linear/0-0', 'max')
    """
    goal = LCDB_METRICS[_check_metric(metric)]
    score = _check_score(score)
    if max_datasets is not None and max_datasets < 1:
        raise UsageError(f"max_datasets must be >= 1, not {max_datasets}")
    file = lcdb_csv(metric, csv_path)

    dtypes = {"openmlid": "int64", "learner": "category", "size_train": "int64",
              "outer_seed": "int64", "inner_seed": "int64", score: "float64"}
    try:
        df = pd.read_csv(file, usecols=list(dtypes), dtype=dtypes, engine="c")
    except ValueError as exc:
        raise InputError(f"not an LCDB table ({exc}); it needs the columns "
                         f"{', '.join(dtypes)}", file=str(file)) from None

    known = [str(c) for c in df["learner"].cat.categories]
    keep = df[score].notna().to_numpy() & (df["learner"].cat.codes.to_numpy() >= 0)
    if learners is not None:
        wanted = _resolve_learners(learners, known)
        keep &= df["learner"].isin(wanted).to_numpy()
    ids = df["openmlid"].to_numpy()
    available = np.unique(ids[keep])
    if datasets is not None:
        asked = np.unique(np.asarray(list(datasets), dtype=np.int64))
        missing = np.setdiff1d(asked, available)
        if missing.size:
            raise InputError(f"no LCDB {metric} curves for data set(s) "
                             f"{', '.join(map(str, missing.tolist()))}"
                             f"{' of the chosen learners' if learners is not None else ''}; "
                             f"known ids: {', '.join(map(str, available.tolist()))}",
                             file=str(file))
        available = asked
    if max_datasets is not None and max_datasets < available.size:
        available = np.sort(np.random.default_rng(seed).choice(available, max_datasets,
                                                               replace=False))
    keep &= np.isin(ids, available)

    lid = df["learner"].cat.codes.to_numpy()[keep]
    oid, outer = ids[keep], df["outer_seed"].to_numpy()[keep]
    inner, size = df["inner_seed"].to_numpy()[keep], df["size_train"].to_numpy()[keep]
    val = df[score].to_numpy()[keep]
    del df
    order = np.lexsort((size, inner, outer, lid, oid))
    oid, lid, outer, inner, size, val = (a[order] for a in (oid, lid, outer, inner, size, val))

    if oid.size:
        new = np.ones(oid.size, dtype=bool)
        new[1:] = ((oid[1:] != oid[:-1]) | (lid[1:] != lid[:-1]) | (outer[1:] != outer[:-1])
                   | (inner[1:] != inner[:-1]))
        repeat = ~new
        repeat[1:] &= size[1:] == size[:-1]
        if repeat[1:].any():  # average the scores of a size that appears twice in a curve
            point = np.cumsum(~repeat) - 1
            val = np.bincount(point, weights=val) / np.bincount(point)
            first = ~repeat
            oid, lid, outer, inner, size, new = (a[first] for a in
                                                 (oid, lid, outer, inner, size, new))
        starts = np.flatnonzero(new)
    else:
        starts = np.zeros(0, dtype=np.int64)
    bounds = np.append(starts, oid.size)

    names = _dataset_names(file.parent)
    curves = []
    for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        o, learner = int(oid[a]), known[lid[a]]
        s_out, s_in = int(outer[a]), int(inner[a])
        curves.append(Curve(
            f"{o}/{learner}/{s_out}-{s_in}", size[a:b], val[a:b], goal,
            {"learner": learner, "openmlid": o, "outer_seed": s_out, "inner_seed": s_in},
            {"metric": metric, "score": score, "dataset": names.get(o)},
        ))
    return CurveSet(curves, source=str(file))
