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
from dataclasses import asdict, dataclass

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
                "warnings": self.warnings}


def _key(pts: Points, by: str, k: float) -> np.ndarray:
    if by == "compute":
        if "d" not in pts.X:
            raise UsageError("holding out by compute needs a law of N and D")
        return k * pts.X["n"] * pts.X["d"]
    if by not in pts.X:
        raise UsageError(f"cannot hold out by {by!r}: the law's inputs are "
                         f"{', '.join(pts.X)}")
    return pts.X[by]


@quiet
def backtest(groups: list[Points], law: str, holdout_top: int, *, by: str | None = None,
             level: float = LEVEL, n_boot: int = N_BOOT, seed: int = 0, k: float = K,
             delta: float = DELTA, prior=None) -> Backtest:
    """Hold out each group's ``holdout_top`` largest distinct values of ``by`` ('n',
    'compute', or 'x'; default 'n', or 'x' for a one-variable law), fit ``law`` to the
    rest and predict the held-out runs; with a ``prior`` (``prior.Prior``), the fits
    are posterior fits under it."""
    spec = get_law(law)
    by = by or ("x" if spec.inputs == ("x",) else "n")
    if holdout_top < 1:
        raise UsageError(f"holdout_top must be at least 1, got {holdout_top}")
    points, notes = [], []
    for pts in groups:
        key = _key(pts, by, k)
        levels = np.unique(key)
        where = pts.where
        if len(levels) <= holdout_top:
            raise InputError(f"{where}only {len(levels)} distinct values of {by}; holding out "
                             f"{holdout_top} leaves nothing to fit")
        test = key >= levels[-holdout_top]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ScalingWarning)
            try:
                fit = fit_law(spec, pts.subset(~test).X, pts.y[~test], n_boot=n_boot,
                              seed=seed, delta=delta, prior=prior)
            except InputError as exc:
                raise InputError(f"{where}{exc.message} (after holding out {holdout_top} "
                                 f"values of {by})") from None
        notes += [f"{where}{w.message}" for w in caught if issubclass(w.category, ScalingWarning)]
        held = pts.subset(test)
        pr = fit.predict(held.X, level)
        for i in range(len(held.y)):
            X = {name: float(v[i]) for name, v in held.X.items()}
            points.append(HeldOut(pts.group, X.get("n"), X.get("d"), float(held.y[i]),
                                  float(pr.pred[i]), float(pr.lower[i]), float(pr.upper[i]),
                                  X.get("x")))
    return Backtest(law, holdout_top, by, level, points, notes)
