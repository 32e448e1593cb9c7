"""One parametric family fitted alone: the anchor that LCDB 1.0 uses.

Mohr et al. (2022) fit each family to a learning curve by least squares and
extrapolate its point estimate. Here the same point estimate comes with the interval a
plain residual analysis gives: Student-t with the residual standard deviation as scale
and ``n - P`` degrees of freedom, no parameter uncertainty. It is the baseline the
ensemble must beat, so it is fitted as the anchor is: plain (not robust) least squares.

>>> from curvecast.curve import Curve
>>> x = np.arange(1, 21.0); y = 0.5 + 2 * x ** -0.7
>>> f = FamilyForecaster("pow3").forecast([Curve("r", x[:8], y[:8])], at=20)
>>> bool(abs(f.median[0, 0] - y[-1]) < 1e-3)
True
"""

from __future__ import annotations

import numpy as np

from ..errors import UsageError
from ..families import FAMILIES
from ..fitting import fit_frame
from ..transform import Frame
from .base import Components, Forecaster


class FamilyForecaster(Forecaster):
    """Least-squares fit of one family (by name) with a residual-based interval."""

    def __init__(self, family: str, iters: int = 10, bound: float | None = None) -> None:
        super().__init__(bound)
        if family not in FAMILIES:
            raise UsageError(f"unknown family {family!r}; choose from {list(FAMILIES)}")
        self.family = family
        self.iters = iters

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.family

    def components(self, frame: Frame, t: np.ndarray) -> Components:
        fam = FAMILIES[self.family]
        B, X = t.shape
        loc, scale = np.zeros((B, X, 1)), np.ones((B, X, 1))
        df, weight = np.full((B, 1), 2.0), np.zeros((B, 1))
        rows, fit = fit_frame(fam, frame, iters=self.iters, robust=False)
        if fit is not None:
            with np.errstate(all="ignore"):
                mu = fam.f(t[rows], fit.theta)
            ok = fit.ok & np.isfinite(mu).all(axis=1)
            loc[rows, :, 0] = np.where(np.isfinite(mu), mu, 0.0)
            scale[rows, :, 0] = np.sqrt(fit.sigma2)[:, None]
            df[rows, 0] = np.maximum(fit.n - fam.n_params, 2.0)
            weight[rows, 0] = ok
        return Components(loc, scale, df, weight)
