"""What the shipped networks were trained on, and whether a file of runs is part of it.

A backtest of the default forecaster on curves its network was trained on measures
memory, not forecasting. Each training run leaves a fingerprint (a hash of its first
values, rounded to 4 significant digits so a CSV written with fewer digits still
matches), stored with its data set in ``models/fingerprints.npz`` by
``scripts/make_fingerprints.py``. A model file says which data sets it learned from:
``datasets`` (the shipped model) or ``left_out`` (the held-out networks of
``benchmarks/models/``, trained on every data set but that one).

>>> import numpy as np
>>> from curvecast.curve import Curve
>>> fingerprint(Curve("a", [1, 2, 3, 4], [2.30001, 1.5, 1.2, 1.1])) == fingerprint(
...     Curve("b", [10, 20, 30, 40], [2.3, 1.5, 1.2, 1.1]))
True
>>> fingerprint(Curve("flat", [1, 2, 3], [1.0, 1.0, 1.0])) is None  # too plain to tell apart
True
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np

from ..curve import Curve

POINTS = 8
"""Leading finite values hashed."""
MIN_DISTINCT = 3
"""A head with fewer distinct values (a run stuck at 1.0) matches too many runs."""
FILE = "fingerprints.npz"


def fingerprint(curve: Curve) -> int | None:
    """A 63-bit hash of the run's first values, or None for a head too plain to tell."""
    head = curve.values[curve.finite][:POINTS]
    text = [f"{v:.4g}" for v in head]
    if len(set(text)) < MIN_DISTINCT:
        return None
    digest = hashlib.blake2b(",".join(text).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


@cache
def _table() -> tuple[np.ndarray, np.ndarray, tuple[str, ...], tuple[str, ...]]:
    """(hashes sorted, data set index of each, data set names, their sources)."""
    src = resources.files("curvecast") / "models" / FILE
    with resources.as_file(src) as p, np.load(p) as z:
        meta = json.loads(str(z["meta"]))
        return z["hash"], z["dataset"], tuple(meta["datasets"]), tuple(meta["sources"])


def trained_on(model: str | Path | None = None) -> set[str] | None:
    """The data sets a combiner model learned from (None: it does not say)."""
    from .learned import Combiner

    meta = Combiner.load(model).meta
    if "datasets" in meta:
        names = meta["datasets"]
        return set(json.loads(names.replace("'", '"')) if isinstance(names, str) else names)
    if "left_out" in meta:
        known = set(_table()[2])
        left = {n for n in known if n == meta["left_out"] or n.endswith(meta["left_out"])}
        return known - left
    return None


@dataclass(frozen=True)
class InSample:
    """Whether scored runs come from data the network was trained on.

    in_sample: True when at least MIN_MATCHES of them (or all, if fewer) are runs of data
    sets the model learned from; None when the model does not say what it learned from.
    datasets: those data sets, with the number of runs matched, most first.
    """

    in_sample: bool | None
    datasets: dict[str, int]
    sources: list[str]


MIN_MATCHES = 3


def check_in_sample(curves: Sequence[Curve], model: str | Path | None = None) -> InSample:
    """Match ``curves`` against the training runs of ``model`` (default: the shipped one).

    >>> from curvecast.io import read_curves
    >>> src = resources.files("curvecast") / "data" / "nasbench_nlp_sample.csv"
    >>> with resources.as_file(src) as p:
    ...     found = check_in_sample(read_curves(p))
    >>> found.in_sample, found.sources
    (True, ['nasbench_nlp'])
    """
    hashes, index, names, sources = _table()
    prints = np.array([h for h in map(fingerprint, curves) if h is not None], dtype=np.uint64)
    pos = np.minimum(np.searchsorted(hashes, prints), max(hashes.size - 1, 0))
    hit = hashes[pos] == prints if hashes.size else np.zeros(prints.size, bool)
    learned = trained_on(model)
    counts = Counter(names[i] for i in index[pos[hit]])
    if learned is None:
        return InSample(None, dict(counts.most_common()), [])
    seen = {n: k for n, k in counts.most_common() if n in learned}
    enough = sum(seen.values()) >= min(MIN_MATCHES, max(len(curves), 1))
    families = sorted({sources[names.index(n)] for n in seen})
    return InSample(bool(seen) and enough, seen, families)
