"""Scaling laws: fit small runs, predict big ones, with intervals and the compute-optimal split.

>>> import numpy as np
>>> from curvecast.scaling import fit_law, compute_optimal
>>> n = np.geomspace(1e7, 1e9, 6).repeat(3); d = n * np.tile([5.0, 20.0, 80.0], 6)
>>> fit = fit_law("chinchilla", {"n": n, "d": d}, 1.8 + 400 * n**-0.34 + 2000 * d**-0.37,
...               n_boot=20)
>>> p = fit.predict({"n": 7e9, "d": 1.4e11})
>>> bool(p.lower[0] <= p.pred[0] <= p.upper[0])
True
"""

from .backtest import Backtest, HeldOut, backtest
from .fit import Estimate, Prediction, ScalingFit, ScalingWarning, fit_law
from .laws import LAWS, Law, get_law, optimal_n_for_tokens
from .optimal import Allocation, check_law, compute_optimal, optimal_split
from .table import Points, read_points

__all__ = [
    "LAWS",
    "Allocation",
    "Backtest",
    "Estimate",
    "HeldOut",
    "Law",
    "Points",
    "Prediction",
    "ScalingFit",
    "ScalingWarning",
    "backtest",
    "check_law",
    "compute_optimal",
    "fit_law",
    "get_law",
    "optimal_n_for_tokens",
    "optimal_split",
    "read_points",
]
