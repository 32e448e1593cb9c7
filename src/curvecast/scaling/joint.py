"""Joint fits across groups (data sets, model families) that share a law's exponents but
not its coefficients.

``joint_law(base, n_groups)`` is a ``Law`` like any other, of the base law's inputs and a
group index ``g`` (1, 2, ...): shared parameters keep their names, the others are
repeated per group as ``E[0]``, ``A[0]``, ... (group ``g`` = j + 1), so that ``fit_law``,
its bootstrap, its intervals and a ``prior.Prior`` (which applies a base name to every
group's copy) all work unchanged. Sharing exponents pools what every group says about
the shape of the law: a group with a narrow range of sizes borrows the others' exponents
(Gadre et al. 2024 and Porian et al. 2024 fit one law's exponents across data sets).

>>> import numpy as np
>>> from curvecast.scaling import fit_law
>>> n = np.geomspace(1e7, 1e9, 5).repeat(2); d = n * np.tile([10.0, 40.0], 5)
>>> X = {"n": np.r_[n, n], "d": np.r_[d, d], "g": np.repeat([1.0, 2.0], 10)}
>>> y = np.r_[1.8 + 400 * n**-0.34 + 2000 * d**-0.37, 2.5 + 600 * n**-0.34 + 900 * d**-0.37]
>>> law = joint_law("chinchilla", 2)
>>> fit = fit_law(law, X, y, n_boot=0, drift=False)
>>> round(fit.params_["alpha"], 2), round(fit.params_["E[1]"], 2)
(0.34, 2.5)
"""

from __future__ import annotations

import numpy as np

from ..errors import UsageError
from .laws import Law, get_law

SHARED = ("alpha", "beta", "eta", "c0", "c1")
"""The exponents a joint law shares by default (whichever the base law has)."""
JOINT = "+joint"


def base_name(law: Law) -> str:
    """The base law's name of a joint law (its own name otherwise)."""
    return law.name.split(JOINT)[0]


def group_params(law: Law, name: str) -> list[str]:
    """The parameters of ``law`` a base parameter ``name`` stands for: itself if present
    (shared, or a plain law), else its per-group copies ``name[j]``.

    >>> group_params(joint_law("chinchilla", 2), "E")
    ['E[0]', 'E[1]']
    """
    if name in law.params:
        return [name]
    return [p for p in law.params if p.startswith(name + "[")]


def joint_law(base: str | Law, n_groups: int, shared: tuple[str, ...] | None = None) -> Law:
    """A law of ``base``'s inputs and ``g`` (the group, 1..n_groups) whose ``shared``
    parameters (default: the exponents, ``SHARED``) are common to every group."""
    base = get_law(base) if isinstance(base, str) else base
    if JOINT in base.name:
        raise UsageError("a joint law cannot be joined again")
    if n_groups < 1:
        raise UsageError(f"a joint law needs at least one group, got {n_groups}")
    shared = tuple(p for p in (SHARED if shared is None else shared) if p in base.params)
    own = [j for j, p in enumerate(base.params) if p not in shared]
    names = list(shared) + [f"{base.params[j]}[{g}]" for g in range(n_groups) for j in own]
    # index[g][j]: where base parameter j of group g sits in the joint vector
    index = [[(shared.index(base.params[j]) if base.params[j] in shared
               else len(shared) + g * len(own) + own.index(j)) for j in range(base.n_params)]
             for g in range(n_groups)]

    def log_loss(theta, X):
        g = np.rint(np.asarray(X["g"])).astype(int) - 1
        out = np.empty((theta.shape[0], len(g)))
        for k in range(n_groups):
            m = g == k
            if m.any():
                Xk = {name: v[m] for name, v in X.items() if name != "g"}
                out[:, m] = base.log_loss(theta[:, index[k]], Xk)
        if ((g < 0) | (g >= n_groups)).any():
            raise UsageError(f"group index g must be 1..{n_groups}")
        return out

    def grid(X, y):
        return _joint_grid(base, X, y, n_groups, index, len(names))

    return Law(
        name=f"{base.name}{JOINT}{n_groups}",
        formula=f"{base.formula}, per group; {', '.join(shared) or 'nothing'} shared",
        citation=base.citation, inputs=(*base.inputs, "g"), params=tuple(names),
        logged=tuple(base.logged[_base_index(base, p)] for p in names),
        bounds=tuple(base.bounds[_base_index(base, p)] for p in names),
        log_loss=log_loss, grid=grid, decreasing=base.decreasing,
    )


def _base_index(base: Law, name: str) -> int:
    return base.params.index(name.split("[")[0])


def _joint_grid(base: Law, X, y, n_groups, index, size) -> np.ndarray:
    """One start per shape of the base grid (its exponents): every group's best grid point
    of that shape, scored on the group's own points."""
    g = np.rint(np.asarray(X["g"])).astype(int) - 1
    free = ~np.array(base.logged)
    per_group = []
    for k in range(n_groups):
        m = g == k
        Xk = {name: v[m] for name, v in X.items() if name != "g"}
        starts = base.grid(Xk, y[m])
        with np.errstate(all="ignore"):
            r = np.log(y[m])[None, :] - base.log_loss(starts, Xk)
        score = np.where(np.isfinite(r).all(axis=1), np.abs(r).sum(axis=1), np.inf)
        per_group.append((starts, score))
    shapes = np.unique(per_group[0][0][:, free], axis=0)
    out = []
    for shape in shapes:
        theta = np.empty(size)
        for k, (starts, score) in enumerate(per_group):
            same = np.all(np.isclose(starts[:, free], shape), axis=1)
            best = starts[same][np.argmin(score[same])] if same.any() else starts[0]
            theta[index[k]] = best
        out.append(theta)
    return np.array(out)
