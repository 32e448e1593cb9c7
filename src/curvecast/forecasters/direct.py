"""A direct learned forecaster: the observed curve in, a predictive mixture out, no fits.

The per-curve ``ensemble`` fits a dozen parametric families per curve before its network
combines them, which costs milliseconds per curve. This network reads the observed prefix
itself: its values in the scale-free units of :class:`~curvecast.forecasters.features.Anchor`
(``u``: observed spreads above or below the value now), resampled on a fixed grid of
``log(t / t_last)`` (with a mask for the cells before the first point), and a few
closed-form summaries (points seen, noise, recent slope, distance to a known floor, the
horizon). It outputs a mixture of Student-t components for ``u`` at each requested step:
a few matrix products for a whole batch, evaluated with numpy.

It is trained (``scripts/make_direct_set.py``, ``scripts/train_direct.py``) on a
synthetic prior of curve shapes (power laws and exponentials with floors, plateaus that
break late, rise then collapse, late take-off, schedule cool-downs, heavy-tailed noise)
and on the real curves of the shared sources; BENCHMARKS.md scores networks trained
without the whole source scored (``benchmarks/models/direct_minus_<source>.npz``).

>>> from curvecast.curve import Curve
>>> run = Curve("a", range(1, 31), [1 / k**0.5 for k in range(1, 31)])
>>> f = DirectForecaster().forecast([run], [100])
>>> bool(f.median[0, 0] < run.values[-1])
True
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import UsageError
from ..transform import Frame
from .base import Components, Forecaster
from .features import Anchor, _noise
from .learned import _gelu

GRID = -6.0 * np.linspace(1.0, 0.0, 16) ** 1.5
"""Grid positions in log(t / t_last): dense near now, reaching back a factor e^6 ~ 400."""
COMPONENTS = 4
"""Mixture components per (curve, step)."""
DF = 4.0
"""Degrees of freedom of every component."""
HORIZON_EDGES = (0.5, 1.5)
"""Edges, in log(t / t_last), of the horizon bins that get their own spread multiplier."""
MODEL = "direct.npz"
HORIZON_COLUMN = 2 * GRID.size + 15
"""Where log(t / t_last) sits among the inputs."""


def inputs(frame: Frame, t: np.ndarray, anchor: Anchor | None = None) -> np.ndarray:
    """(B, X, F) network inputs of each curve of ``frame`` at each time of ``t`` (B, X).

    >>> from curvecast.curve import Curve
    >>> fr = Frame.build([Curve("a", [1, 2, 3, 4], [4.0, 3.0, 2.5, 2.2])])
    >>> inputs(fr, fr.t_at(np.array([8.0]))).shape
    (1, 1, 50)
    """
    anchor = anchor or Anchor.of(frame)
    cur = _curve_inputs(frame, anchor)
    B, X = t.shape
    n = frame.mask.sum(axis=1)
    rows = np.arange(B)
    t_first, t_last = frame.t[:, 0][:, None], frame.t[rows, n - 1][:, None]
    ahead = np.maximum(t, t_last)
    hor = np.stack([np.log(ahead / t_last),
                    np.log1p((ahead - t_last) / np.maximum(t_last - t_first, 1e-12)),
                    (t <= t_last).astype(float)], axis=2)
    return np.concatenate([np.broadcast_to(cur[:, None, :], (B, X, cur.shape[1])), hor], axis=2)


def _curve_inputs(frame: Frame, anchor: Anchor) -> np.ndarray:
    """(B, 2G + 15): the resampled shape, its mask and the summaries of every curve."""
    mask, n = frame.mask, frame.mask.sum(axis=1)
    rows = np.arange(n.size)
    logt = np.log(frame.t)
    r = logt - logt[rows, n - 1][:, None]  # <= 0 on the observed points
    u = np.where(mask, anchor.to_u(frame.z), 0.0)
    shape, seen = _resample(r, u, mask, n)
    z = np.where(mask, frame.z, np.nan)
    noise = _noise(z) / anchor.spread
    within = np.sqrt(frame.wss / np.maximum(frame.counts.sum(axis=1), 1.0)) / anchor.spread
    u_nan = np.where(mask, u, np.nan)
    span = -r[:, 0]
    recent = mask & (np.arange(r.shape[1])[None, :] >= (n - np.maximum(3, n // 3))[:, None])
    last5 = mask & (np.arange(r.shape[1])[None, :] >= (n - 5)[:, None])
    same = (np.diff(z, axis=1) == 0) & last5[:, 1:]
    to_floor = np.where(frame.has_floor, anchor.ref / anchor.spread, 0.0)
    return np.column_stack([
        np.arcsinh(shape), seen,
        np.log(n), np.log(frame.counts.sum(axis=1)), np.log1p(span),
        np.log(np.maximum(noise, 1e-6)), np.log(np.maximum(within, 1e-6)),
        np.arcsinh(np.nanmin(u_nan, axis=1)), np.arcsinh(np.nanmax(u_nan, axis=1)),
        np.arcsinh(u[:, 0]), np.arcsinh(_slope(r, u, recent)), np.arcsinh(_slope(r, u, mask)),
        same.sum(axis=1) / np.maximum(last5.sum(axis=1) - 1, 1),
        frame.has_floor.astype(float), np.arcsinh(to_floor), frame.sign,
        np.log(np.maximum(anchor.spread, 1e-6)),
    ])


def _resample(r: np.ndarray, u: np.ndarray, mask: np.ndarray, n: np.ndarray):
    """Linear interpolation of each row's points at GRID (B, G), and which cells lie
    within the observed span (1) or before the first point (0, value 0)."""
    cnt = ((r[:, :, None] <= GRID[None, None, :]) & mask[:, :, None]).sum(axis=1)
    lo = np.clip(cnt - 1, 0, (n - 1)[:, None])
    hi = np.clip(cnt, 0, (n - 1)[:, None])
    r_lo, r_hi = np.take_along_axis(r, lo, 1), np.take_along_axis(r, hi, 1)
    u_lo, u_hi = np.take_along_axis(u, lo, 1), np.take_along_axis(u, hi, 1)
    gap = r_hi - r_lo
    w = np.where(gap > 0, (GRID[None, :] - r_lo) / np.where(gap > 0, gap, 1.0), 0.0)
    seen = cnt > 0
    return np.where(seen, u_lo + np.clip(w, 0, 1) * (u_hi - u_lo), 0.0), seen.astype(float)


def _slope(r: np.ndarray, u: np.ndarray, use: np.ndarray) -> np.ndarray:
    """Least-squares slope of u against log-time over the points ``use`` (0 if < 2)."""
    k = use.sum(axis=1)
    k1 = np.maximum(k, 1)
    rm = np.where(use, r, 0.0).sum(axis=1) / k1
    um = np.where(use, u, 0.0).sum(axis=1) / k1
    dr = np.where(use, r - rm[:, None], 0.0)
    var = (dr**2).sum(axis=1)
    cov = (dr * np.where(use, u - um[:, None], 0.0)).sum(axis=1)
    return np.where((k >= 2) & (var > 1e-12), cov / np.where(var > 1e-12, var, 1.0), 0.0)


def horizon_bin(X: np.ndarray) -> np.ndarray:
    """Index of each input row's horizon bin (see HORIZON_EDGES)."""
    return np.searchsorted(np.asarray(HORIZON_EDGES), np.asarray(X)[..., HORIZON_COLUMN])


@dataclass(frozen=True)
class DirectNet:
    """A trained network: input standardisation and range, dense layers (GELU between),
    and a spread multiplier per horizon bin fitted on held-out sources."""

    mean: np.ndarray
    std: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    scales: np.ndarray
    meta: dict

    @classmethod
    def load(cls, path: str | Path | None = None) -> DirectNet:
        """Load a model file (default: the one shipped with curvecast).

        >>> DirectNet.load().weights[0].shape[1]
        50
        """
        if path is None:
            with resources.as_file(resources.files("curvecast") / "models" / MODEL) as p:
                return cls.load(p)
        try:
            with np.load(path) as z:
                meta = json.loads(str(z["meta"]))
                a = lambda k: np.asarray(z[k], float)
                k = sum(1 for name in z.files if name.startswith("W"))
                return cls(a("mean"), a("std"), a("lo"), a("hi"),
                           tuple(a(f"W{i}") for i in range(k)),
                           tuple(a(f"b{i}") for i in range(k)),
                           np.asarray(meta.get("scales", [1.0] * (len(HORIZON_EDGES) + 1))),
                           meta)
        except (OSError, KeyError, ValueError) as exc:
            raise UsageError(f"cannot read the direct model {path}: {exc}") from exc

    def predict(self, X: np.ndarray, calibrated: bool = True):
        """Mixture (log weights, locations, scales), each (..., COMPONENTS), of inputs X.

        >>> net = DirectNet.load()
        >>> [a.shape for a in net.predict(np.zeros((2, 3, 50)))]
        [(2, 3, 4), (2, 3, 4), (2, 3, 4)]
        """
        X = np.asarray(X, float)
        h = ((np.clip(X, self.lo, self.hi) - self.mean) / self.std).reshape(-1, X.shape[-1])
        for i, (W, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = h @ W.T + b
            if i < len(self.weights) - 1:
                h = _gelu(h)
        h = h.reshape(X.shape[:-1] + (h.shape[-1],))
        logit, mu, log_s = np.split(h, 3, axis=-1)
        logw = logit - logit.max(axis=-1, keepdims=True)
        logw = logw - np.log(np.exp(logw).sum(axis=-1, keepdims=True))
        sd = np.exp(np.clip(log_s, -12, 8))
        if calibrated:
            sd = sd * self.scales[horizon_bin(X)][..., None]
        return logw, mu, sd


class DirectForecaster(Forecaster):
    """The observed curve read directly by a trained network (no family fits).

    Parameters
    ----------
    model: path of a model file (default: the one shipped, trained on every source).
    bound: the metric's best attainable value, if known (see :class:`Forecaster`).

    >>> from curvecast.curve import Curve
    >>> runs = [Curve("a", [1, 2, 3, 4], [3.0, 2.0, 1.6, 1.4]), Curve("b", [1, 2], [1, 1])]
    >>> f = DirectForecaster().forecast(runs, [10])
    >>> bool(np.isfinite(f.median[0, 0])), bool(np.isnan(f.median[1, 0]))
    (True, True)
    """

    name = "direct"

    def __init__(self, model: str | Path | None = None, bound: float | None = None) -> None:
        super().__init__(bound)
        self.model = model
        self._net: DirectNet | None = None

    @property
    def net(self) -> DirectNet:
        if self._net is None:
            self._net = DirectNet.load(self.model)
        return self._net

    def components(self, frame: Frame, t: np.ndarray) -> Components:
        anchor = Anchor.of(frame)
        logw, mu, sd = self.net.predict(inputs(frame, t, anchor))
        B = t.shape[0]
        return Components(anchor.to_z(mu), anchor.spread[:, None, None] * sd,
                          np.full((B, COMPONENTS), DF), np.exp(logw))
