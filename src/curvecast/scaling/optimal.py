"""Compute-optimal allocation: the model size and data that minimise loss at a budget.

Under a Chinchilla law L = E + A / N^alpha + B / D^beta and compute C = k N D (k = 6 for
a dense transformer's forward and backward passes), the minimum of L at fixed C is
(Hoffmann et al. 2022, eq. 4; appendix D.2):

    N*(C) = G (C / k)^(beta / (alpha + beta)),   D*(C) = (C / k) / N*(C),
    G = (alpha A / (beta B))^(1 / (alpha + beta)).

Every bootstrap replicate of the fit gives its own N*, D*, tokens per parameter and
L(N*, D*), whose percentiles are the intervals; E is reported with them (the loss no
budget gets below).

>>> import numpy as np
>>> from curvecast.scaling import fit_law
>>> n = np.geomspace(1e7, 1e9, 6).repeat(3); d = n * np.tile([5.0, 20.0, 80.0], 6)
>>> fit = fit_law("chinchilla", {"n": n, "d": d},
...               1.69 + 406.4 * n**-0.34 + 410.7 * d**-0.28, n_boot=10)
>>> a = compute_optimal(fit, 5.76e23)[0]  # Chinchilla's budget
>>> round(a.n_opt.estimate / 1e9), round(a.tokens_per_param.estimate)
(32, 93)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UsageError
from ..numerics import quiet
from .fit import LEVEL, Estimate, ScalingFit, estimate
from .laws import Law, split_constant

K = 6.0
"""FLOPs per parameter per token of training (forward and backward; Kaplan et al. 2020)."""
_CHINCHILLA_LIKE = ("chinchilla", "data_constrained", "overtraining")


def chinchilla_params(law: Law, natural: np.ndarray) -> np.ndarray:
    """Rows of a Chinchilla-type law's natural parameters as Chinchilla's (E, A, B, alpha,
    beta): the over-training law's (E, a, b, eta) are E, a / 6^eta, b / 6^eta, 2 eta, 2 eta
    (Gadre et al. 2024, eq. 4, with C = 6 N D); data_constrained's first five are already.

    >>> from curvecast.scaling import LAWS
    >>> chinchilla_params(LAWS["overtraining"], np.array([[1.7, 6.0, 6.0, 0.5]])).round(3)
    array([[1.7  , 2.449, 2.449, 1.   , 1.   ]])
    """
    p = np.atleast_2d(np.asarray(natural, float))
    if law.name != "overtraining":
        return p[:, :5]
    E, a, b, eta = (p[:, j] for j in range(4))
    six = 6.0**eta
    return np.stack([E, a / six, b / six, 2 * eta, 2 * eta], axis=1)


@dataclass(frozen=True)
class Allocation:
    """The compute-optimal split of one budget, each quantity with its interval
    (see ``compute_optimal`` and the module docstring for an example)."""

    compute: float
    k: float
    n_opt: Estimate
    d_opt: Estimate
    tokens_per_param: Estimate
    loss: Estimate
    E: Estimate

    def to_dict(self) -> dict:
        return {"compute": self.compute, "k": self.k, "n_opt": self.n_opt.to_dict(),
                "d_opt": self.d_opt.to_dict(),
                "tokens_per_param": self.tokens_per_param.to_dict(),
                "loss": self.loss.to_dict(), "E": self.E.to_dict()}


def optimal_split(params: np.ndarray, compute, k: float = K) -> tuple[np.ndarray, ...]:
    """N*, D* and L(N*, D*) for rows of natural parameters (E, A, B, alpha, beta, ...)
    and budgets ``compute``: arrays of shape (rows, budgets).

    >>> n, d, loss = optimal_split(np.array([[1.69, 406.4, 410.7, 0.34, 0.28]]), 5.76e23)
    >>> f"{n[0, 0]:.3g} {d[0, 0]:.3g} {loss[0, 0]:.3f}"
    '3.22e+10 2.98e+12 1.931'
    """
    p = np.atleast_2d(np.asarray(params, float))
    E, A, B, alpha, beta = (p[:, j, None] for j in range(5))
    c = np.atleast_1d(np.asarray(compute, float))[None, :] / k
    n = split_constant(A, B, alpha, beta) * c ** (beta / (alpha + beta))
    d = c / n
    return n, d, E + A * n**-alpha + B * d**-beta


def check_law(law: Law) -> None:
    """Raise a UsageError unless ``law`` has the Chinchilla terms the split needs (callers
    ask before a slow fit).

    >>> from curvecast.scaling import LAWS
    >>> check_law(LAWS["chinchilla"])
    >>> check_law(LAWS["power"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    curvecast.errors.UsageError: the compute-optimal split needs a law of N and D (...
    """
    if law.name not in _CHINCHILLA_LIKE:
        raise UsageError(f"the compute-optimal split needs a law of N and D "
                         f"({', '.join(_CHINCHILLA_LIKE)}), not {law.name!r}")


@quiet
def compute_optimal(fit: ScalingFit, compute, k: float = K,
                    level: float = LEVEL) -> list[Allocation]:
    """The compute-optimal N*, D*, tokens per parameter and loss at each budget in
    ``compute`` (FLOPs) for a fitted Chinchilla-type law, with bootstrap intervals.

    For 'data_constrained' this uses the law's Chinchilla terms (E, A, B, alpha, beta):
    the split when every token is fresh and no parameter is in excess.
    """
    check_law(fit.law)
    if not k > 0:
        raise UsageError(f"k (FLOPs per parameter per token) must be positive, got {k}")
    budgets = np.atleast_1d(np.asarray(compute, float))
    if not (np.isfinite(budgets).all() and (budgets > 0).all()):
        raise UsageError(f"compute budgets must be positive, got {budgets.tolist()}")
    nat = chinchilla_params(fit.law, fit.law.natural(fit.theta_)[None, :])
    boot = (chinchilla_params(fit.law, fit.law.natural(fit.boot_)) if len(fit.boot_)
            else np.empty((0, 5)))
    n0, d0, l0 = optimal_split(nat, budgets, k)
    nb, db, lb = optimal_split(boot, budgets, k) if len(boot) else (np.empty((0, len(budgets))),) * 3
    e = estimate(nat[0, 0], boot[:, 0] if len(boot) else [], level)
    return [
        Allocation(float(c), float(k), estimate(n0[0, i], nb[:, i], level),
                   estimate(d0[0, i], db[:, i], level),
                   estimate(d0[0, i] / n0[0, i], db[:, i] / nb[:, i], level),
                   estimate(l0[0, i], lb[:, i], level), e)
        for i, c in enumerate(budgets)
    ]
