"""Extrapolation backtest: hide the largest models, fit the rest, score the predictions.

For each group of runs, the runs at the K largest distinct values of ``by`` (parameters
N by default; or compute k N D, or x for a law of one variable) are held out, the law is
fitted to the others, and each held-out run's loss is predicted with its interval. The
scores are the mean relative error |pred - true| / true and the coverage, the fraction
of held-out losses inside their interval.

>>> import numpy as np
>>> from curvecast.scaling.table import Points
>>> n = np.geomspace(1e7, 1e9, 8).repeat(3); d = n * np.tile([5.0, 20.0, 80.0], 8)
>>> y = 1.8 + 400 * n**-0.34 + 2000 * d**-0.37
>>> bt = backtest([Points(None, {"n": n, "d": d}, y, np.arange(1, 25))], "chinchilla",
...               holdout_top=2, n_boot=10)
>>> len(bt.points), bt.mean_rel_error < 0.01
(6, True)
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import InputError, UsageError
from ..numerics import quiet
from .fit import DELTA, LEVEL, N_BOOT, ScalingWarning, fit_law
from .laws import get_law
from .optimal import K
from .table import Points


@dataclass(frozen=True)
class HeldOut:
    """One held-out run: where it is, its true loss, the prediction and its interval.

    >>> HeldOut("web", 1e9, 2e10, 2.7, 2.65, 2.6, 2.8).to_dict()["pred"]
    2.65
    """

    group: str | None
    n: float | None
    d: float | None
    true: float
    pred: float
    lower: float
    upper: float
    x: float | None = None

    def to_dict(self) -> dict:
        out = asdict(self)
        if out["x"] is None:
            del out["x"]
        return out


@dataclass(frozen=True)
class Backtest:
    """Held-out points and their scores (see the module docstring).

    >>> bt = Backtest("chinchilla", 1, "n", 0.9, [HeldOut(None, 1e9, 2e10, 2.0, 2.1, 1.9,
    ...               2.2)], [])
    >>> round(bt.mean_rel_error, 3), bt.coverage
    (0.05, 1.0)
    """

    law: str
    holdout_top: int
    by: str
    level: float
    points: list[HeldOut]
    warnings: list[str]
    chosen: dict = field(default_factory=dict)

    @property
    def rel_errors(self) -> np.ndarray:
        return np.array([abs(p.pred - p.true) / p.true for p in self.points])

    @property
    def mean_rel_error(self) -> float:
        return float(self.rel_errors.mean()) if self.points else float("nan")

    @property
    def coverage(self) -> float:
        inside = [p.lower <= p.true <= p.upper for p in self.points]
        return float(np.mean(inside)) if inside else float("nan")

    def to_dict(self) -> dict:
        return {"law": self.law, "holdout_top": self.holdout_top, "by": self.by,
                "level": self.level, "points": [p.to_dict() for p in self.points],
                "mean_rel_error": self.mean_rel_error, "coverage": self.coverage,
                "warnings": self.warnings,
                **({"chosen": self.chosen} if self.chosen else {})}


def _key(pts: Points, by: str, k: float) -> np.ndarray:
    if by == "compute":
        if "d" not in pts.X:
            raise UsageError("holding out by compute needs a law of N and D")
        return k * pts.X["n"] * pts.X["d"]
    if by not in pts.X:
        raise UsageError(f"cannot hold out by {by!r}: the law's inputs are "
                         f"{', '.join(pts.X)}")
    return pts.X[by]


def _split(pts: Points, key: np.ndarray, by: str, holdout_top: int,
           fit_fraction: float | None) -> np.ndarray:
    """Which runs are held out: the ``holdout_top`` largest values of ``by``, or with
    ``fit_fraction`` every run above that fraction of the largest."""
    levels = np.unique(key)
    if fit_fraction is not None:
        test = key > fit_fraction * levels[-1]
        if np.unique(key[~test]).size < 2:
            raise InputError(f"{pts.where}fewer than 2 distinct values of {by} are at most "
                             f"{fit_fraction:g} of the largest; nothing left to fit")
        return test
    if len(levels) <= holdout_top:
        raise InputError(f"{pts.where}only {len(levels)} distinct values of {by}; holding out "
                         f"{holdout_top} leaves nothing to fit")
    return key >= levels[-holdout_top]


def _fit(spec, pts: Points, test, *, n_boot, seed, delta, prior, choose, notes, chosen,
         priors=None):
    """One group's fit on its kept runs; with ``choose``, of the candidate law its own
    rolling origins pick (recorded in ``chosen``)."""
    X, y = pts.subset(~test).X, pts.y[~test]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ScalingWarning)
        if choose:
            from .select import fit_auto

            cands = [(law, None) for law in choose]
            if priors is not None:  # each law its own prior, where it has one
                cands += [(law, priors[law]) for law in choose if law in priors]
            elif prior is not None:
                cands += [(law, prior) for law in choose]
            fit, chosen[pts.group] = fit_auto(cands, X, y, n_boot=n_boot, seed=seed,
                                              delta=delta)
        else:
            fit = fit_law(spec, {k: v for k, v in X.items() if k in spec.inputs}, y,
                          n_boot=n_boot, seed=seed, delta=delta, prior=prior)
    notes += [f"{pts.where}{w.message}" for w in caught if issubclass(w.category, ScalingWarning)]
    return fit


def _joint_predictions(spec, groups, tests, *, n_boot, seed, prior, level, notes):
    """One law across the groups sharing exponents (``joint.joint_law``): a prediction
    per group."""
    from .joint import joint_law

    law = joint_law(spec, len(groups))
    parts = [(pts.subset(~t), j + 1.0) for j, (pts, t) in enumerate(zip(groups, tests))]
    X = {k: np.concatenate([p.X[k] for p, _ in parts]) for k in spec.inputs}
    X["g"] = np.concatenate([np.full(len(p.y), g) for p, g in parts])
    y = np.concatenate([p.y for p, _ in parts])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ScalingWarning)
        fit = fit_law(law, X, y, n_boot=n_boot, seed=seed, prior=prior)
    notes += [f"joint: {w.message}" for w in caught if issubclass(w.category, ScalingWarning)]
    out = []
    for j, (pts, t) in enumerate(zip(groups, tests)):
        held = pts.subset(t)
        out.append(fit.predict({**held.X, "g": np.full(len(held.y), j + 1.0)}, level))
    return out


@quiet
def backtest(groups: list[Points], law: str, holdout_top: int = 1, *, by: str | None = None,
             level: float = LEVEL, n_boot: int = N_BOOT, seed: int = 0, k: float = K,
             delta: float = DELTA, prior=None, fit_fraction: float | None = None,
             joint: bool = False, choose: tuple[str, ...] = (),
             priors: dict | None = None) -> Backtest:
    """Hold out each group's ``holdout_top`` largest distinct values of ``by`` ('n',
    'compute', or 'x'; default 'n', or 'x' for a one-variable law) -- or, with
    ``fit_fraction``, every run above that fraction of the group's largest -- fit ``law``
    to the rest and predict the held-out runs.

    ``prior`` (``prior.Prior``): posterior fits under it. ``joint``: one law across the
    groups, sharing exponents (``joint.joint_law``). ``choose``: candidate laws, each with
    and without ``prior``; per group, the one its own rolling-origin refits pick
    (``select.choose_law``; ``Backtest.chosen``, with the chosen one's rolling-origin
    error as ``held_out_error``); ``priors`` (law name -> prior) gives each candidate law
    its own prior instead of ``prior``."""
    spec = get_law(law)
    by = by or ("x" if spec.inputs == ("x",) else "n")
    if holdout_top < 1:
        raise UsageError(f"holdout_top must be at least 1, got {holdout_top}")
    if fit_fraction is not None and not 0 < fit_fraction < 1:
        raise UsageError(f"fit_fraction must be between 0 and 1, got {fit_fraction}")
    if joint and choose:
        raise UsageError("a joint fit and choosing the law per group do not go together")
    tests = [_split(pts, _key(pts, by, k), by, holdout_top, fit_fraction) for pts in groups]
    notes: list[str] = []
    chosen: dict = {}
    opts = {"n_boot": n_boot, "seed": seed, "prior": prior}
    if joint:
        preds = _joint_predictions(spec, groups, tests, level=level, notes=notes, **opts)
    else:
        preds = []
        for pts, test in zip(groups, tests, strict=True):
            try:
                fit = _fit(spec, pts, test, delta=delta, choose=choose, notes=notes,
                           chosen=chosen, priors=priors, **opts)
            except InputError as exc:
                raise InputError(f"{pts.where}{exc.message} (after holding out the "
                                 f"largest values of {by})") from None
            held = pts.subset(test)
            preds.append(fit.predict({k: v for k, v in held.X.items()
                                      if k in fit.law.inputs}, level))
    points = []
    for pts, test, pr in zip(groups, tests, preds, strict=True):
        held = pts.subset(test)
        for i in range(len(held.y)):
            X = {name: float(v[i]) for name, v in held.X.items()}
            points.append(HeldOut(pts.group, X.get("n"), X.get("d"), float(held.y[i]),
                                  float(pr.pred[i]), float(pr.lower[i]), float(pr.upper[i]),
                                  X.get("x")))
    return Backtest(law, holdout_top, by, level, points, notes, chosen)
