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
>>> list(FAMILIES)[:6]
['pow3', 'pow2', 'pow4', 'log2', 'exp2', 'exp3']
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


# --- shared helpers for the families below --------------------------------------------

_INF = np.inf


def _jstack(*cols) -> Array:
    """Stack derivative columns (broadcast to a common (B, T)) into (B, T, P)."""
    return np.stack(np.broadcast_arrays(*cols), axis=-1)


def _eps(s: Summary) -> Array:
    """A small positive level for logs of data that may touch or cross zero."""
    return np.maximum(1e-3 * np.maximum(np.abs(s.zmax), np.abs(s.zmin)), 1e-12)


def _tmid(s: Summary) -> Array:
    """Geometric middle of the observed t range: a natural time scale for starts."""
    return np.sqrt(s.t0 * np.maximum(s.t1, s.t0))


def _through(g0: Array, g1: Array, z0: Array, z1: Array) -> tuple[Array, Array]:
    """Offset c and amplitude a with c + a g passing through (g0, z0) and (g1, z1)."""
    d = g0 - g1
    a = (z0 - z1) / np.where(np.abs(d) < 1e-12, 1.0, d)
    return z1 - a * g1, a


def _family(name, params, f, jac, init, lower, upper, needs_floor, citation) -> Family:
    """A Family whose starts are clipped into its bounds (inits may overshoot them)."""
    lo, hi = np.asarray(lower, float), np.asarray(upper, float)

    def clipped_init(s: Summary) -> Array:
        with np.errstate(all="ignore"):
            return np.clip(init(s), lo, hi)

    return Family(name, tuple(params), f, jac, clipped_init, tuple(lower), tuple(upper),
                  needs_floor, citation)


# --- pow2: z = a t^-b  (LCDB "pow2") ----------------------------------------------------


def _pow2_f(t: Array, p: Array) -> Array:
    a, b = _cols(p)
    return a * t ** (-b)


def _pow2_jac(t: Array, p: Array) -> Array:
    a, b = _cols(p)
    tb = t ** (-b)
    return _jstack(tb, -a * tb * np.log(t))


def _pow2_init(s: Summary) -> Array:
    e = _eps(s)
    # slope in log-log through the two ends, plus two fixed exponents
    b_data = np.log(np.maximum(s.z0, e) / np.maximum(s.z1, e)) / np.maximum(
        np.log(s.t1 / s.t0), 1e-9)
    starts = []
    for b in (np.clip(b_data, 1e-3, 10.0), 0.5, 1.0):
        b = np.broadcast_to(b, s.z1.shape)
        starts.append([s.z1 * s.t1**b, b])
    return _stack_starts(*starts)


POW2 = _family("pow2", ("a", "b"), _pow2_f, _pow2_jac, _pow2_init,
               (-_INF, 1e-3), (_INF, 10.0), True, "Mohr et al. 2022 (pow2: a x^-b)")


# --- pow4: z = c + a (t + d)^-b  (LCDB "pow4"; Domhan "pow4" mirrored) ------------------
# d >= -0.99 keeps t + d > 0 for t >= 1; d <= 1e3 because an offset far beyond the
# observed range is not identifiable and only trades off against a and b.


def _pow4_f(t: Array, p: Array) -> Array:
    c, a, b, d = _cols(p)
    return c + a * (t + d) ** (-b)


def _pow4_jac(t: Array, p: Array) -> Array:
    c, a, b, d = _cols(p)
    td = t + d
    g = td ** (-b)
    return _jstack(1.0, g, -a * g * np.log(td), -a * b * g / td)


def _pow4_init(s: Summary) -> Array:
    starts = []
    for b, d in ((0.5, 0.0), (1.0, 1.0), (2.0, 5.0)):
        c, a = _through((s.t0 + d) ** (-b), (s.t1 + d) ** (-b), s.z0, s.z1)
        starts.append([c, a, b, d])
    return _stack_starts(*starts)


POW4 = _family("pow4", ("c", "a", "b", "d"), _pow4_f, _pow4_jac, _pow4_init,
               (-_INF, -_INF, 1e-3, -0.99), (_INF, _INF, 10.0, 1e3), False,
               "Domhan et al. 2015 (pow4: c - (a x + b)^-alpha); Mohr et al. 2022 (pow4)")


# --- log2: z = b - a log t  (LCDB "log2") -----------------------------------------------


def _log2_f(t: Array, p: Array) -> Array:
    a, b = _cols(p)
    return b - a * np.log(t)


def _log2_jac(t: Array, p: Array) -> Array:
    a, b = _cols(p)
    return _jstack(-np.log(t) + 0 * a, 1.0)


def _log2_init(s: Summary) -> Array:
    b, a = _through(-np.log(s.t0), -np.log(s.t1), s.z0, s.z1)
    return _stack_starts([a, b], [0.0, 0.5 * (s.z0 + s.z1)])


LOG2 = _family("log2", ("a", "b"), _log2_f, _log2_jac, _log2_init,
               (-_INF, -_INF), (_INF, _INF), False, "Mohr et al. 2022 (log2: -a log x + b)")


# --- exp2: z = a exp(-b t)  (LCDB "exp2") -----------------------------------------------


def _exp2_f(t: Array, p: Array) -> Array:
    a, b = _cols(p)
    return a * np.exp(-b * t)


def _exp2_jac(t: Array, p: Array) -> Array:
    a, b = _cols(p)
    e = np.exp(-b * t)
    return _jstack(e, -a * t * e)


def _exp2_init(s: Summary) -> Array:
    e, span = _eps(s), np.maximum(s.t1 - s.t0, 1e-9)
    b_data = np.log(np.maximum(s.z0, e) / np.maximum(s.z1, e)) / span
    starts = []
    for b in (np.clip(b_data, 1e-3, 10.0), 1.0 / span, 3.0 / span):
        b = np.clip(np.broadcast_to(b, s.z0.shape), 1e-3, 10.0)
        # amplitude through the first point: exp(b t0) stays small since t0 ~ 1
        starts.append([s.z0 * np.exp(np.minimum(b * s.t0, 700.0)), b])
    return _stack_starts(*starts)


EXP2 = _family("exp2", ("a", "b"), _exp2_f, _exp2_jac, _exp2_init,
               (-_INF, 1e-3), (_INF, 10.0), True, "Mohr et al. 2022 (exp2: a exp(-b x))")


# --- exp3: z = c + a exp(-b t)  (LCDB "exp3") -------------------------------------------


def _exp3_f(t: Array, p: Array) -> Array:
    c, a, b = _cols(p)
    return c + a * np.exp(-b * t)


def _exp3_jac(t: Array, p: Array) -> Array:
    c, a, b = _cols(p)
    e = np.exp(-b * t)
    return _jstack(1.0, e, -a * t * e)


def _exp3_init(s: Summary) -> Array:
    span = np.maximum(s.t1 - s.t0, 1e-9)
    starts = []
    for k in (1.0, 3.0, 10.0):  # k e-folds over the observed range
        b = np.clip(k / span, 1e-3, 10.0)
        c, a = _through(np.exp(-b * s.t0), np.exp(-b * s.t1), s.z0, s.z1)
        starts.append([c, a, b])
    return _stack_starts(*starts)


EXP3 = _family("exp3", ("c", "a", "b"), _exp3_f, _exp3_jac, _exp3_init,
               (-_INF, -_INF, 1e-3), (_INF, _INF, 10.0), False,
               "Mohr et al. 2022 (exp3: a exp(-b x) + c)")


# --- exp4: z = c + exp(b - a t^d)  (Domhan "exp4" c - exp(-a x^alpha + b), mirrored;
# LCDB "exp4"). The amplitude exp(b) is positive, so this family only falls. |b| <= 50
# keeps exp(b) finite; a, d > 0 keep the exponent from growing.


def _exp4_f(t: Array, p: Array) -> Array:
    c, a, b, d = _cols(p)
    return c + np.exp(b - a * t**d)


def _exp4_jac(t: Array, p: Array) -> Array:
    c, a, b, d = _cols(p)
    td = t**d
    e = np.exp(b - a * td)
    return _jstack(1.0, -td * e, e, -a * td * np.log(t) * e)


def _exp4_init(s: Summary) -> Array:
    starts = []
    for d, k in ((1.0, 1.0), (1.0, 3.0), (0.5, 2.0)):
        # a gives k e-folds of the amplitude between t0 and t1
        a = np.clip(k / np.maximum(s.t1**d - s.t0**d, 1e-9), 1e-3, 10.0)
        g0, g1 = np.exp(-a * s.t0**d), np.exp(-a * s.t1**d)
        _, amp = _through(g0, g1, s.z0, s.z1)
        b = np.clip(np.log(np.maximum(amp, _eps(s))), -50.0, 50.0)
        starts.append([s.z1 - np.exp(b) * g1, a, b, d])
    return _stack_starts(*starts)


EXP4 = _family("exp4", ("c", "a", "b", "d"), _exp4_f, _exp4_jac, _exp4_init,
               (-_INF, 1e-3, -50.0, 1e-3), (_INF, 10.0, 50.0, 10.0), False,
               "Domhan et al. 2015 (exp4: c - exp(-a x^alpha + b)); Mohr et al. 2022 (exp4)")


# --- expp3: z = c + exp(-(t - b)^a)  (after LCDB "expp3" c - exp((x - b)^a)) ----------
# LCDB's form grows without bound for a > 0. Here the sign of the amplitude AND of the
# exponent are flipped, so z falls from c + exp(-(t0 - b)^a) (at most c + 1) to the
# floor c. The bound b <= 0.999 (below the first t = 1) keeps t - b > 0, so the power
# and log(t - b) are finite; (t - b)^a is computed as exp(a log(t - b)).


def _expp3_parts(t: Array, p: Array) -> tuple[Array, ...]:
    c, b, a = _cols(p)
    with np.errstate(invalid="ignore", divide="ignore"):
        lu = np.log(t - b)  # NaN if t < b: outside the domain, an invalid fit
    s = np.exp(a * lu)
    return c, b, a, lu, s, np.exp(-s)


def _expp3_f(t: Array, p: Array) -> Array:
    c, _, _, _, _, e = _expp3_parts(t, p)
    return c + e


def _expp3_jac(t: Array, p: Array) -> Array:
    c, b, a, lu, s, e = _expp3_parts(t, p)
    # d/db of -(t-b)^a is a (t-b)^(a-1) = a s / (t-b)
    return _jstack(1.0, e * a * s / (t - b), -e * s * lu)


def _expp3_init(s: Summary) -> Array:
    rng = np.maximum(np.abs(s.z0 - s.z1), _eps(s))
    starts = []
    for b, frac in ((0.0, 0.1), (0.5, 0.5), (0.9, 0.02)):
        c = s.z1 - frac * rng  # floor a little below the last value
        # the amplitude exp(-(t-b)^a) lies in (0, 1): solve a from the two ends
        l0 = -np.log(np.clip(s.z0 - c, 1e-9, 0.999))
        l1 = -np.log(np.clip(s.z1 - c, 1e-9, 0.999))
        a = np.log(l1 / l0) / np.maximum(np.log((s.t1 - b) / (s.t0 - b)), 1e-9)
        starts.append([c, b, np.clip(a, 1e-3, 10.0)])
    return _stack_starts(*starts)


EXPP3 = _family("expp3", ("c", "b", "a"), _expp3_f, _expp3_jac, _expp3_init,
                (-_INF, -_INF, 1e-3), (_INF, 0.999, 10.0), False,
                "Mohr et al. 2022 (expp3: c - exp((x - b)^a)), sign-flipped to decay")


# --- vap3: z = exp(a + b/t + c log t)  (Domhan "vap3" vapor pressure; LCDB "vap3") -----


def _vap3_f(t: Array, p: Array) -> Array:
    a, b, c = _cols(p)
    with np.errstate(over="ignore"):
        return np.exp(a + b / t + c * np.log(t))


def _vap3_jac(t: Array, p: Array) -> Array:
    z = _vap3_f(t, p)
    return _jstack(z, z / t, z * np.log(t))


def _vap3_init(s: Summary) -> Array:
    e = _eps(s)
    l0, l1 = np.log(np.maximum(s.z0, e)), np.log(np.maximum(s.z1, e))
    dlt = np.maximum(np.log(s.t1 / s.t0), 1e-9)
    starts = []
    for b in (0.0, 0.5, 2.0):
        # log z is linear in (a, c) given b: pass through both ends
        c = (l1 - l0 - b * (1 / s.t1 - 1 / s.t0)) / dlt
        starts.append([l0 - b / s.t0 - c * np.log(s.t0), b, c])
    return _stack_starts(*starts)


VAP3 = _family("vap3", ("a", "b", "c"), _vap3_f, _vap3_jac, _vap3_init,
               (-_INF, -_INF, -_INF), (_INF, _INF, _INF), True,
               "Domhan et al. 2015 (vap3: exp(a + b/x + c log x)); Mohr et al. 2022 (vap3)")


# --- mmf4: z = alpha - (alpha - beta) / (1 + (kappa t)^delta)  (Domhan "mmf",
# Morgan-Mercer-Flodin). beta at t = 0, alpha as t -> inf; free alpha, beta allow both
# directions. The Jacobian uses w = 1/(1+s) and q = s/(1+s) so that it stays finite.


def _mmf4_parts(t: Array, p: Array) -> tuple[Array, ...]:
    al, be, k, d = _cols(p)
    lk = np.log(k * t)
    s = np.exp(d * lk)
    w = 1.0 / (1.0 + s)
    return al, be, k, d, lk, w, s * w


def _mmf4_f(t: Array, p: Array) -> Array:
    al, be, _, _, _, w, _ = _mmf4_parts(t, p)
    return al - (al - be) * w


def _mmf4_jac(t: Array, p: Array) -> Array:
    al, be, k, d, lk, w, q = _mmf4_parts(t, p)
    g = (al - be) * w * q  # dz/ds times s
    return _jstack(q, w, g * d / k, g * lk)


def _sigmoid_starts(s: Summary, basis: Callable, grid) -> Array:
    """Starts for alpha + (beta - alpha) basis(t; kappa, delta) through both ends."""
    starts = []
    for r, d in grid:
        k = np.clip(r / _tmid(s), 1e-3, 10.0)
        al, amp = _through(basis(s.t0, k, d), basis(s.t1, k, d), s.z0, s.z1)
        starts.append([al, al + amp, k, d])
    return _stack_starts(*starts)


def _mmf4_init(s: Summary) -> Array:
    return _sigmoid_starts(s, lambda t, k, d: 1.0 / (1.0 + (k * t) ** d),
                           ((1.0, 1.0), (1.0, 0.5), (2.0, 2.0)))


MMF4 = _family("mmf4", ("alpha", "beta", "kappa", "delta"), _mmf4_f, _mmf4_jac,
               _mmf4_init, (-_INF, -_INF, 1e-3, 1e-3), (_INF, _INF, 10.0, 10.0), False,
               "Domhan et al. 2015 (mmf: alpha - (alpha - beta)/(1 + (kappa x)^delta))")


# --- wbl4: z = alpha - (alpha - beta) exp(-(kappa t)^delta)  (Domhan "weibull";
# LCDB "wbl4") -------------------------------------------------------------------------


def _wbl4_parts(t: Array, p: Array) -> tuple[Array, ...]:
    al, be, k, d = _cols(p)
    lk = np.log(k * t)
    s = np.exp(d * lk)
    return al, be, k, d, lk, s, np.exp(-s)


def _wbl4_f(t: Array, p: Array) -> Array:
    al, be, _, _, _, _, e = _wbl4_parts(t, p)
    return al - (al - be) * e


def _wbl4_jac(t: Array, p: Array) -> Array:
    al, be, k, d, lk, s, e = _wbl4_parts(t, p)
    g = (al - be) * e * s  # dz/ds times s
    return _jstack(1.0 - e, e, g * d / k, g * lk)


def _wbl4_init(s: Summary) -> Array:
    return _sigmoid_starts(s, lambda t, k, d: np.exp(-((k * t) ** d)),
                           ((1.0, 1.0), (1.0, 0.5), (0.5, 1.5)))


WBL4 = _family("wbl4", ("alpha", "beta", "kappa", "delta"), _wbl4_f, _wbl4_jac,
               _wbl4_init, (-_INF, -_INF, 1e-3, 1e-3), (_INF, _INF, 10.0, 10.0), False,
               "Domhan et al. 2015 (weibull: alpha - (alpha - beta) exp(-(kappa x)^delta));"
               " Mohr et al. 2022 (wbl4)")


# --- janoschek: z = alpha - (alpha - beta) exp(-kappa t^delta)  (Domhan "janoschek";
# LCDB "janoschek"). kappa is a rate to the power delta, so its lower bound is far
# below the other families' rates: kappa = (1/500)^2 must be reachable.


def _jan_f(t: Array, p: Array) -> Array:
    al, be, k, d = _cols(p)
    return al - (al - be) * np.exp(-k * t**d)


def _jan_jac(t: Array, p: Array) -> Array:
    al, be, k, d = _cols(p)
    td = t**d
    e = np.exp(-k * td)
    g = (al - be) * e * td  # dz/dkappa
    return _jstack(1.0 - e, e, g, g * k * np.log(t))


def _jan_init(s: Summary) -> Array:
    st = _sigmoid_starts(s, lambda t, k, d: np.exp(-((k * t) ** d)),
                         ((1.0, 1.0), (1.0, 0.5), (0.5, 1.5)))
    st[..., 2] = st[..., 2] ** st[..., 3]  # (kappa t)^delta = kappa^delta t^delta
    return st


JANOSCHEK = _family("janoschek", ("alpha", "beta", "kappa", "delta"), _jan_f, _jan_jac,
                    _jan_init, (-_INF, -_INF, 1e-8, 1e-3), (_INF, _INF, 10.0, 10.0), False,
                    "Domhan et al. 2015 (janoschek: alpha - (alpha - beta) exp(-kappa x^delta));"
                    " Mohr et al. 2022 (janoschek)")


# --- ilog2: z = c + a / log(t + 1)  (Domhan "ilog2" c - a/log x, mirrored) -------------
# log(t + 1) instead of log t: Domhan's form is infinite at t = 1, our first point.


def _ilog2_f(t: Array, p: Array) -> Array:
    c, a = _cols(p)
    return c + a / np.log(t + 1.0)


def _ilog2_jac(t: Array, p: Array) -> Array:
    c, a = _cols(p)
    return _jstack(1.0, 1.0 / np.log(t + 1.0) + 0 * a)


def _ilog2_init(s: Summary) -> Array:
    c, a = _through(1 / np.log(s.t0 + 1), 1 / np.log(s.t1 + 1), s.z0, s.z1)
    return _stack_starts([c, a], [s.z1, 0.0])


ILOG2 = _family("ilog2", ("c", "a"), _ilog2_f, _ilog2_jac, _ilog2_init,
                (-_INF, -_INF), (_INF, _INF), False,
                "Domhan et al. 2015 (ilog2: c - a/log x), with log(x + 1)")


# --- logpower3: z = a / (1 + (t / exp(b))^c)  (Domhan "log power"; LCDB "logpower3") ---
# c > 0 falls from a to 0, c < 0 rises from 0 to a. (t/e^b)^c = exp(c (log t - b)); with
# |b| <= 20 and |c| <= 10 that stays finite for t in [1, 1e4].


def _logistic_parts(t: Array, amp: Array, u: Array) -> tuple[Array, Array, Array]:
    """z = amp / (1 + exp(u)), with w = 1/(1+e^u) and q = e^u/(1+e^u)."""
    s = np.exp(u)
    w = 1.0 / (1.0 + s)
    return amp * w, w, s * w


def _logpower3_f(t: Array, p: Array) -> Array:
    a, b, c = _cols(p)
    return _logistic_parts(t, a, c * (np.log(t) - b))[0]


def _logpower3_jac(t: Array, p: Array) -> Array:
    a, b, c = _cols(p)
    lt = np.log(t) - b
    _, w, q = _logistic_parts(t, a, c * lt)
    g = -a * w * q  # dz/du
    return _jstack(w, -g * c, g * lt)


def _logistic_starts(s: Summary, exponents) -> list[tuple[Array, Array, float]]:
    """(amp, log time scale, exponent) starts: amp fits both ends in least squares."""
    lm = np.log(_tmid(s))
    out = []
    for c in exponents:
        w0 = 1 / (1 + np.exp(c * (np.log(s.t0) - lm)))
        w1 = 1 / (1 + np.exp(c * (np.log(s.t1) - lm)))
        out.append(((s.z0 * w0 + s.z1 * w1) / (w0**2 + w1**2), lm, c))
    return out


def _logpower3_init(s: Summary) -> Array:
    return _stack_starts(*[[a, b, c] for a, b, c in _logistic_starts(s, (0.5, 1.0, 2.0))])


LOGPOWER3 = _family("logpower3", ("a", "b", "c"), _logpower3_f, _logpower3_jac,
                    _logpower3_init, (-_INF, -20.0, -10.0), (_INF, 20.0, 10.0), True,
                    "Domhan et al. 2015 (log power: a/(1 + (x/e^b)^c)); Mohr et al. 2022"
                    " (logpower3)")


# --- loglinear: z = log(a log t + b)  (Domhan "loglog_linear") --------------------------
# a < 0 gives a falling curve, which reaches log(0) at finite t: where the argument is
# <= 0 the value is NaN, and the fitter treats the fit as invalid.


def _loglin_arg(t: Array, p: Array) -> Array:
    a, b = _cols(p)
    x = a * np.log(t) + b
    return np.where(x > 0, x, np.nan)


def _loglin_f(t: Array, p: Array) -> Array:
    return np.log(_loglin_arg(t, p))


def _loglin_jac(t: Array, p: Array) -> Array:
    x = _loglin_arg(t, p)
    return _jstack(np.log(t) / x, 1.0 / x)


def _loglin_init(s: Summary) -> Array:
    # exp(z) is linear in log t: pass through both ends (positive between them)
    ez0, ez1 = np.exp(np.minimum(s.z0, 700.0)), np.exp(np.minimum(s.z1, 700.0))
    b, a = _through(np.log(s.t0), np.log(s.t1), ez0, ez1)
    return _stack_starts([a, b], [0.0, 0.5 * (ez0 + ez1)])


LOGLINEAR = _family("loglinear", ("a", "b"), _loglin_f, _loglin_jac, _loglin_init,
                    (-_INF, -_INF), (_INF, _INF), True,
                    "Domhan et al. 2015 (loglog_linear: log(a log x + b))")


# --- hill3: z = ymax t^eta / (kappa^eta + t^eta)  (Domhan "hill3") ---------------------
# Written as ymax / (1 + (kappa/t)^eta): eta < 0 falls from ymax to 0, eta > 0 rises.
# The same family as logpower3 with kappa = e^b, eta = -c; both are kept for coverage.


def _hill3_f(t: Array, p: Array) -> Array:
    ym, eta, k = _cols(p)
    return _logistic_parts(t, ym, eta * (np.log(k) - np.log(t)))[0]


def _hill3_jac(t: Array, p: Array) -> Array:
    ym, eta, k = _cols(p)
    lr = np.log(k) - np.log(t)
    _, w, q = _logistic_parts(t, ym, eta * lr)
    g = -ym * w * q  # dz/du
    return _jstack(w, g * lr, g * eta / k)


def _hill3_init(s: Summary) -> Array:
    st = _logistic_starts(s, (0.5, 1.0, 2.0))
    return _stack_starts(*[[a, -c, np.exp(lm)] for a, lm, c in st])


HILL3 = _family("hill3", ("ymax", "eta", "kappa"), _hill3_f, _hill3_jac, _hill3_init,
                (-_INF, -10.0, 1e-3), (_INF, 10.0, 1e4), True,
                "Domhan et al. 2015 (hill3: ymax x^eta/(kappa^eta + x^eta))")


# --- lin2: z = a t + b  (LCDB "lin2") ---------------------------------------------------


def _lin2_f(t: Array, p: Array) -> Array:
    a, b = _cols(p)
    return a * t + b


def _lin2_jac(t: Array, p: Array) -> Array:
    a, b = _cols(p)
    return _jstack(t + 0 * a, 1.0)


def _lin2_init(s: Summary) -> Array:
    b, a = _through(s.t0, s.t1, s.z0, s.z1)
    return _stack_starts([a, b], [0.0, 0.5 * (s.z0 + s.z1)])


LIN2 = _family("lin2", ("a", "b"), _lin2_f, _lin2_jac, _lin2_init,
               (-_INF, -_INF), (_INF, _INF), False, "Mohr et al. 2022 (lin2: a x + b)")


# --- last1: z = a  (LCDB "last1", the constant baseline) ------------------------------


def _last1_f(t: Array, p: Array) -> Array:
    return p[:, :1] + 0.0 * t


def _last1_jac(t: Array, p: Array) -> Array:
    return np.ones(np.broadcast_shapes(t.shape, p[:, :1].shape) + (1,))


def _last1_init(s: Summary) -> Array:
    return _stack_starts([s.z1], [0.5 * (s.zmin + s.zmax)])


LAST1 = _family("last1", ("a",), _last1_f, _last1_jac, _last1_init,
                (-_INF,), (_INF,), False, "Mohr et al. 2022 (last1: constant baseline)")


FAMILIES: dict[str, Family] = {
    fam.name: fam
    for fam in [POW3, POW2, POW4, LOG2, EXP2, EXP3, EXP4, EXPP3, VAP3, MMF4, WBL4,
                JANOSCHEK, ILOG2, LOGPOWER3, LOGLINEAR, HILL3, LIN2, LAST1]
}
"""Every family by name, in a fixed order."""
