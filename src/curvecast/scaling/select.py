"""Pick a law by the study's own rolling-origin refits: for each candidate (a law, with or
without a prior), refit without the largest 1, 2, ... sizes of N and predict them. The
choice follows the one-standard-error rule (Breiman et al. 1984, sec. 3.4.3; Hastie et al.
2009, sec. 7.10): the most constrained candidate whose mean relative error is within one
standard error of the best one's -- a prior constrains more than none, and fewer
parameters more than more -- since a few rolling origins tell close candidates apart
poorly. Only the study's own points are used, so the choice can be made before any
larger run exists.

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

from ..errors import InputError, UsageError
from .fit import SAME_SIZE, ScalingWarning, fit_law, sizes  # noqa: F401 (sizes: public here)
from .laws import get_law

CUTS = 2
"""Rolling origins: refits without the largest 1 and 2 sizes."""


def label(law: str, prior) -> str:
    return law + ("+prior" if prior is not None else "")


def rolling_error(law: str, X: Mapping[str, np.ndarray], y: np.ndarray, prior=None,
                  cuts: int = CUTS) -> float:
    """Mean relative error of refits without the largest 1..``cuts`` values of N (or x)
    on the runs they leave out; nan when too few sizes are left to fit."""
    e = rolling_errors(law, X, y, prior, cuts)
    return float(e.mean()) if e.size else float("nan")


def rolling_errors(law: str, X: Mapping[str, np.ndarray], y: np.ndarray, prior=None,
                   cuts: int = CUTS) -> np.ndarray:
    """Each left-out run's relative error (see ``rolling_error``); empty when none."""
    e, _ = rolling_residuals(law, X, y, prior, cuts)
    return np.abs(np.expm1(-e))


def rolling_residuals(law: str, X: Mapping[str, np.ndarray], y: np.ndarray, prior=None,
                      cuts: int = CUTS) -> tuple[np.ndarray, np.ndarray]:
    """Each left-out run's log error (log true - log predicted) and its distance in log N
    (or log x) beyond the largest size its refit saw; empty arrays when none."""
    spec = get_law(law) if isinstance(law, str) else law
    key = np.asarray(X["n"] if "n" in X else X["x"], float)
    errors, dists = [], []
    for cut in sizes(key)[::-1][:cuts]:
        train = key < cut
        if sizes(key[train]).size < 3 or train.sum() <= spec.n_params:
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
        errors.append(np.log(y[~train]) - np.log(pred))
        dists.append(np.log(key[~train]) - np.log(key[train].max()))
    if not errors:
        return np.empty(0), np.empty(0)
    return np.concatenate(errors), np.concatenate(dists)


def repeats(X: Mapping[str, np.ndarray]) -> bool:
    """Whether the runs repeat data: unique-token counts ``u`` below the tokens ``d``
    trained on (more than 1% over, for rounding) for any run.

    >>> repeats({"d": np.array([1e9, 4e9]), "u": np.array([1e9, 1e9])})
    True
    """
    return "u" in X and "d" in X and bool(
        (np.asarray(X["d"], float) > 1.01 * np.asarray(X["u"], float)).any())


def _eligible(candidates, X):
    """Where the runs repeat data, only laws that read unique tokens (``u``): a law
    blind to repetition is misspecified there, however well it did on the few rolling
    origins (a few runs that overfit make their errors heavy-tailed)."""
    if repeats(X) and any("u" in get_law(law).inputs for law, _ in candidates):
        return [(law, p) for law, p in candidates if "u" in get_law(law).inputs]
    return list(candidates)


def choose_law(candidates: Sequence[tuple[str, object]], X: Mapping[str, np.ndarray], y,
               cuts: int = CUTS) -> tuple[str, dict[str, float]]:
    """The label ('law' or 'law+prior') of the candidate the one-standard-error rule picks
    (see the module docstring), and every eligible candidate's mean rolling-origin error
    (nan: could not be scored; the first candidate wins when none could). Where the runs
    repeat data (``repeats``), only laws that read unique tokens are eligible."""
    best, scores, _ = _choose(candidates, X, y, cuts)
    return best, scores


def _choose(candidates, X, y, cuts):
    """``choose_law``'s pick and scores, and every candidate's rolling-origin errors."""
    y = np.asarray(y, float)
    candidates = _eligible(candidates, X)
    errors = {label(law, prior): rolling_errors(law, X, y, prior, cuts)
              for law, prior in candidates}
    scores = {k: float(e.mean()) if e.size else float("nan") for k, e in errors.items()}
    finite = {k: v for k, v in scores.items() if np.isfinite(v)}
    if not finite:
        return label(*candidates[0]), scores, errors
    best = min(finite, key=finite.get)
    e = errors[best]
    se = float(e.std(ddof=1) / np.sqrt(e.size)) if e.size > 1 else 0.0
    order = sorted(((prior is None, get_law(law).n_params, i, label(law, prior))
                    for i, (law, prior) in enumerate(candidates)))
    within = [lab for *_, lab in order if lab in finite and finite[lab] <= finite[best] + se]
    return within[0], scores, errors


AUTO = "auto"
"""The law name that asks for the choice by rolling origins (``fit_auto``)."""

AUTO_LAWS = {"nd": ("chinchilla", "overtraining"), "ndu": ("chinchilla", "overtraining",
                                                             "data_constrained"),
             "x": ("power", "bnsl")}
"""Candidate laws of ``auto`` by the inputs a table has: N and D; with unique tokens U
too; one variable x."""


def auto_candidates(inputs, prior: str | None = "shipped",
                    laws: Sequence[str] | None = None) -> list[tuple[str, object]]:
    """``auto``'s candidates for runs with ``inputs``: each law of ``AUTO_LAWS`` (or
    ``laws``) plain, and under the population prior ``prior`` ('shipped', a JSON file, or
    None for none) where it has one for the law. Plain Chinchilla (or E + A x^-alpha)
    comes first: it is what a choice among unscored candidates falls back to.

    >>> [label(*c) for c in auto_candidates({"n", "d"})]
    ['chinchilla', 'overtraining', 'chinchilla+prior', 'overtraining+prior']
    >>> [label(*c) for c in auto_candidates({"x"})]
    ['power', 'bnsl']
    """
    from .prior import load_prior

    inputs = set(inputs)
    if laws is None:
        key = ("ndu" if "u" in inputs else "nd") if {"n", "d"} <= inputs else "x"
        laws = AUTO_LAWS[key]
    out: list[tuple[str, object]] = [(law, None) for law in laws]
    if prior is not None:
        for law in laws:
            try:
                out.append((law, load_prior(prior, law)))
            except UsageError:  # no prior for this law (a one-variable law, a one-law file)
                pass
    return out


def fit_auto(candidates: Sequence[tuple[str, object]], X: Mapping[str, np.ndarray], y, *,
             cuts: int = CUTS, **fit_kw):
    """Fit the candidate the study's own rolling origins pick (``choose_law``) to every
    run: the fit, and a record of the choice -- its label ('law' or 'law+prior'), each
    candidate's rolling-origin mean relative error, and the chosen one's
    (``held_out_error``, nan when no candidate could be scored: too few sizes) with the
    number of runs it was measured on. ``fit_kw`` go to ``fit_law``.

    >>> n = np.geomspace(1e7, 1e9, 6).repeat(3); d = n * np.tile([5.0, 20.0, 80.0], 6)
    >>> fit, pick = fit_auto(auto_candidates({"n", "d"}, prior=None), {"n": n, "d": d},
    ...                      1.8 + 400 * n**-0.4 + 2000 * d**-0.3, n_boot=0)
    >>> pick["law"], fit.law.name, pick["held_out_error"] < 0.01
    ('chinchilla', 'chinchilla', True)
    """
    best, scores, errors = _choose(candidates, X, y, cuts)
    law, prior = {label(*c): c for c in candidates}[best]
    spec = get_law(law)
    held = errors[best]
    fit = fit_law(spec, {k: v for k, v in X.items() if k in spec.inputs}, y, prior=prior,
                  **fit_kw)
    pick = {"law": best, "held_out_error": float(held.mean()) if held.size else float("nan"),
            "held_out_runs": int(held.size), "rolling_errors": scores}
    return fit, pick
