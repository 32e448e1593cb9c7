"""Parametric learning-curve families.

Every family is written for a *lower-is-better* metric ``z`` against a positive time
``t`` (see :mod:`curvecast.fitting` for how steps and values are mapped there:
``t >= 1`` at the first point, ``z`` the loss or error measured from its natural floor
and divided by a typical magnitude, so ``z`` is O(1)). Domhan et al. write their
families for accuracy, which rises; where a formula can only rise, the one here is its
mirror (the sign of the amplitude flipped), which is the same family for a falling metric.

All functions work on a batch: ``t`` and the output have shape (B, T), parameters have
shape (B, P) and the Jacobian (B, T, P). Starting points come from summaries of each
curve, shape (B, S, P), so that fitting can try S starts per curve at once.

References
----------
* Domhan, Springenberg & Hutter (2015), "Speeding up automatic hyperparameter
  optimization of deep neural networks by extrapolation of learning curves", IJCAI.
* Mohr, Viering, Loog et al. (2022), "LCDB 1.0: An extensive learning curves database
  for classification tasks", ECML-PKDD; families after Viering & Loog (2022),
  "The shape of learning curves: a review", IEEE TPAMI.

>>> fam = FAMILIES["pow3"]
>>> t = np.array([[1.0, 2.0, 4.0]]); p = np.array([[1.0, 0.5, 0.2]])
>>> np.round(fam.f(t, p), 4).tolist()
[[1.5, 1.4353, 1.3789]]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Array = np.ndarray


@dataclass(frozen=True)
class Summary:
    """Per-curve summaries (each shape (B,)) that families use to pick starting points.

    ``z0``/``z1`` are robust values at the start and end of the observed part,
    ``t0``/``t1`` the first and last observed t, ``zmin``/``zmax`` the extremes.
    """

    t0: Array
    t1: Array
    z0: Array
    z1: Array
    zmin: Array
    zmax: Array


@dataclass(frozen=True)
class Family:
    """A parametric curve family z = f(t; theta).

    Parameters
    ----------
    name: short name used on the command line and in results.
    params: parameter names, in the order of theta's last axis.
    f: ``f(t, theta) -> z``; t (B, T), theta (B, P).
    jac: ``jac(t, theta) -> dz/dtheta`` of shape (B, T, P).
    init: ``init(summary) -> starts`` of shape (B, S, P).
    lower, upper: bounds of each parameter (may be +-inf).
    needs_floor: True when the formula fixes the asymptote or origin at z = 0, so it is
        only meaningful for metrics with a natural floor (loss, error, perplexity).
    citation: where the formula comes from.
    """

    name: str
    params: tuple[str, ...]
    f: Callable[[Array, Array], Array]
    jac: Callable[[Array, Array], Array]
    init: Callable[[Summary], Array]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    needs_floor: bool
    citation: str

    @property
    def n_params(self) -> int:
        return len(self.params)


def _cols(p: Array) -> list[Array]:
    """Split parameters (B, P) into P columns of shape (B, 1), broadcasting against t."""
    return [p[:, i : i + 1] for i in range(p.shape[1])]


def _stack_starts(*starts: list[Array]) -> Array:
    """Build (B, S, P) from S lists of P arrays of shape (B,) (or scalars)."""
    out = []
    for s in starts:
        b = np.broadcast_arrays(*[np.asarray(v, float) for v in s])
        out.append(np.stack(b, axis=-1))
    return np.stack(out, axis=-2)


# --- pow3: z = c + a t^-b  (LCDB "pow3"; Domhan "pow3" mirrored) ---------------------


def _pow3_f(t: Array, p: Array) -> Array:
    c, a, b = _cols(p)
    return c + a * t ** (-b)


def _pow3_jac(t: Array, p: Array) -> Array:
    c, a, b = _cols(p)
    tb = t ** (-b)
    return np.stack([np.ones_like(t * c), tb, -a * tb * np.log(t)], axis=-1)


def _pow3_init(s: Summary) -> Array:
    starts = []
    for b in (0.3, 1.0, 2.0):
        # choose a, c so the curve passes through (t0, z0) and (t1, z1)
        d = s.t0 ** (-b) - s.t1 ** (-b)
        a = (s.z0 - s.z1) / np.where(d == 0, 1.0, d)
        c = s.z1 - a * s.t1 ** (-b)
        starts.append([c, a, np.full_like(c, b)])
    return _stack_starts(*starts)


POW3 = Family(
    name="pow3",
    params=("c", "a", "b"),
    f=_pow3_f,
    jac=_pow3_jac,
    init=_pow3_init,
    lower=(-np.inf, -np.inf, 1e-3),
    upper=(np.inf, np.inf, 10.0),
    needs_floor=False,
    citation="Domhan et al. 2015 (pow3: c - a x^-alpha); Mohr et al. 2022 (pow3)",
)


FAMILIES: dict[str, Family] = {fam.name: fam for fam in [POW3]}
"""Every family by name, in a fixed order."""
