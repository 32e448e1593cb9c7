"""Pick a law by the study's own rolling-origin refits: for each candidate (a law, with or
without a prior), refit without the largest 1, 2, ... sizes of N and predict them; the
candidate with the lowest mean relative error on those is chosen. Only the study's own
points are used, so the choice can be made before any larger run exists.

>>> import numpy as np
>>> n = np.geomspace(1e7, 1e9, 6).repeat(3); d = n * np.tile([5.0, 20.0, 80.0], 6)
>>> y = 1.8 + 400 * n**-0.4 + 2000 * d**-0.3
>>> best, scores = choose_law([("chinchilla", None), ("overtraining", None)],
...                           {"n": n, "d": d}, y)
>>> best, sorted(scores)
('chinchilla', ['chinchilla', 'overtraining'])
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import InputError
from .fit import ScalingWarning, fit_law
from .laws import get_law

CUTS = 2
"""Rolling origins: refits without the largest 1 and 2 sizes."""


def label(law: str, prior) -> str:
    return law + ("+prior" if prior is not None else "")


def rolling_error(law: str, X: Mapping[str, np.ndarray], y: np.ndarray, prior=None,
                  cuts: int = CUTS) -> float:
    """Mean relative error of refits without the largest 1..``cuts`` values of N (or x)
    on the runs they leave out; nan when too few sizes are left to fit."""
    spec = get_law(law) if isinstance(law, str) else law
    key = np.asarray(X["n"] if "n" in X else X["x"], float)
    errors = []
    for cut in np.unique(key)[::-1][:cuts]:
        train = key < cut
        if np.unique(key[train]).size < 3 or train.sum() <= spec.n_params:
            break
        Xt = {k: np.asarray(v)[train] for k, v in X.items() if k in spec.inputs}
        Xh = {k: np.asarray(v)[~train] for k, v in X.items() if k in spec.inputs}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ScalingWarning)
                fit = fit_law(spec, Xt, y[train], n_boot=0, drift=False, prior=prior)
        except InputError:
            break
        pred = spec.predict(fit.theta_, Xh)
        errors.append(np.abs(pred - y[~train]) / y[~train])
    return float(np.mean(np.concatenate(errors))) if errors else float("nan")


def choose_law(candidates: Sequence[tuple[str, object]], X: Mapping[str, np.ndarray], y,
               cuts: int = CUTS) -> tuple[str, dict[str, float]]:
    """The label ('law' or 'law+prior') of the candidate with the lowest rolling-origin
    error, and every candidate's error (nan: could not be scored; the first candidate
    wins when none could)."""
    y = np.asarray(y, float)
    scores = {label(law, prior): rolling_error(law, X, y, prior, cuts)
              for law, prior in candidates}
    finite = {k: v for k, v in scores.items() if np.isfinite(v)}
    best = min(finite, key=finite.get) if finite else label(*candidates[0])
    return best, scores
