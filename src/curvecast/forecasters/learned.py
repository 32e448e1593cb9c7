"""The learned combiner: a mixture density network over the family forecasts.

Each family's forecast is right for some curves and wrong for others, and which one is
right shows in the curve itself (how it bends, how noisy it is, how far it is from its
floor) and in how the families disagree. Picking the best family per curve in hindsight
has 3-5 times lower error than the best single family, so BIC weights, which look only
at the fit to the past, leave most of the accuracy on the table. The combiner learns that
choice from real curves: a small network reads the scale-free features of
:mod:`curvecast.forecasters.features` and outputs a mixture of Student-t components for
the value at each requested step, in the features' normalised units (how many observed
spreads below or above the value now), trained by maximum likelihood on the runs of
public learning-curve data sets (see ``scripts/make_training_set.py`` and
``scripts/train_combiner.py``; BENCHMARKS.md reports it trained without the source it
is scored on).

The network is stored as plain arrays and evaluated with numpy: no deep-learning
framework is needed to forecast.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import UsageError
from ..transform import Frame
from .base import Components, Forecaster
from .ensemble import PLAUSIBLE_RANGES, EnsembleForecaster
from .features import CURVE_FEATURES, Anchor, family_columns, features

COMPONENTS = 4
"""Mixture components the network outputs per (curve, step)."""
DF = 4.0
"""Degrees of freedom of every component: heavy enough tails for real curves' surprises."""
HIDDEN = (128, 128)
"""Widths of the network's hidden layers."""
U_CLIP = 1e4
"""Training targets are clipped to this many spreads (runs that explode by 1e15)."""
HORIZON_EDGES = (0.5, 1.5)
"""Edges, in log(step time / last seen time), of the horizon bins that each get their
own spread multiplier (recalibration: see ``scripts/train_combiner.py``)."""
MODEL = "combiner.npz"
EXACT_FIT = 1e-4
EXACT_POINTS = 10


@dataclass(frozen=True)
class Combiner:
    """The trained network: input standardisation and dense layers (GELU between)."""

    mean: np.ndarray
    std: np.ndarray
    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    meta: dict
    scales: np.ndarray = field(default_factory=lambda: np.ones(len(HORIZON_EDGES) + 1))
    """Spread multiplier per horizon bin, fitted on held-out data sets' forecasts."""
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None
    """Range of each input seen in training: inputs are clamped to it, so a curve unlike
    any seen (a horizon 100 times its length) gets the nearest answer the network knows
    rather than an extrapolation of the network itself."""

    @classmethod
    def load(cls, path: str | Path | None = None) -> Combiner:
        """Load a model file (default: the one shipped with curvecast)."""
        if path is None:
            src = resources.files("curvecast") / "models" / MODEL
            with resources.as_file(src) as p:
                return cls.load(p)
        try:
            with np.load(path) as z:
                n = sum(1 for k in z.files if k.startswith("W"))
                meta = json.loads(str(z["meta"]))
                return cls(z["mean"], z["std"], tuple(z[f"W{i}"] for i in range(n)),
                           tuple(z[f"b{i}"] for i in range(n)), meta,
                           np.asarray(meta.get("scales", np.ones(len(HORIZON_EDGES) + 1))),
                           z["lo"] if "lo" in z.files else None,
                           z["hi"] if "hi" in z.files else None)
        except (OSError, KeyError, ValueError) as exc:
            raise UsageError(f"cannot read the combiner model {path}: {exc}") from exc

    def predict(self, X: np.ndarray, calibrated: bool = True):
        """Mixture (log weights, locations, scales), each (..., COMPONENTS), of inputs X (..., F)."""
        X = np.asarray(X, np.float32)
        inside = X if self.lo is None else np.clip(X, self.lo, self.hi)
        h = (inside - self.mean) / self.std
        for i, (W, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = h @ W.T + b
            if i < len(self.weights) - 1:
                h = _gelu(h)
        h = h.astype(float)
        if self.meta.get("head") == "gate":
            logw, mu, sd = gate(inside.astype(float), h, self.meta["families"])
        else:
            logw, mu, log_s = np.split(h, 3, axis=-1)
            sd = np.exp(np.clip(log_s, -12, 8))
        if calibrated:
            sd = sd * self.scales[horizon_bin(X)][..., None]
        logw = logw - logw.max(axis=-1, keepdims=True)
        return logw - np.log(np.exp(logw).sum(axis=-1, keepdims=True)), mu, sd


def horizon_bin(X: np.ndarray) -> np.ndarray:
    """Index of each input's horizon bin (see HORIZON_EDGES)."""
    return np.searchsorted(np.asarray(HORIZON_EDGES), np.asarray(X)[..., CURVE_FEATURES])


def gate(X: np.ndarray, out: np.ndarray, n_families: int):
    """The gated mixture: every usable family's forecast plus 'stays where it is now'
    (u = 0), weighted by the network's logits, each spread scaled by its multiplier."""
    cols = family_columns(n_families)
    K = n_families + 1
    logit, log_mult = out[..., :K], np.clip(out[..., K : 2 * K], -6, 6)
    ones = np.ones(X.shape[:-1] + (1,))
    usable = np.concatenate([X[..., cols["usable"]] > 0.5, ones > 0], axis=-1)
    mu = np.concatenate([np.sinh(X[..., cols["u"]]), 0 * ones], axis=-1)
    base = np.concatenate([np.exp(X[..., cols["log_sd"]]), ones], axis=-1)
    return np.where(usable, logit, -np.inf), mu, base * np.exp(log_mult)


def _gelu(h: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return 0.5 * h * (1.0 + erf(h / np.sqrt(2.0)))


class LearnedForecaster(Forecaster):
    """Family forecasts combined per curve and step by the trained network.

    Parameters
    ----------
    model: path of a model file (default: the one shipped, trained on every source).
    bound: the metric's best attainable value, if known (see :class:`Forecaster`).
    """

    name = "ensemble"

    def __init__(self, model: str | Path | None = None, bound: float | None = None) -> None:
        super().__init__(bound)
        self.model = model
        self._combiner: Combiner | None = None
        self._ensemble = EnsembleForecaster(bound=bound)

    @property
    def combiner(self) -> Combiner:
        if self._combiner is None:
            self._combiner = Combiner.load(self.model)
        return self._combiner

    def components(self, frame: Frame, t: np.ndarray) -> Components:
        fits = self._ensemble.family_fits(frame, t)
        anchor = Anchor.of(frame)
        X = features(frame, fits, t, anchor)
        logw, mu, sd = self.combiner.predict(X)
        B, nX, K = mu.shape
        # the families' plausibility band, in the network's units
        u = anchor.to_u(np.where(frame.mask, frame.z, np.nan))
        lo, hi = np.nanmin(u, axis=1), np.nanmax(u, axis=1)
        reach = PLAUSIBLE_RANGES * (hi - lo + 1.0)
        mu = np.clip(mu, (lo - reach)[:, None, None], (hi + reach)[:, None, None])
        net = self._network_applies(frame, fits, anchor, X)[..., None]
        fam_w = np.broadcast_to(fits.weight[:, None, :], fits.loc.shape)
        return Components(
            np.concatenate([anchor.to_z(mu), fits.loc], axis=2),
            np.concatenate([anchor.spread[:, None, None] * sd, fits.scale], axis=2),
            np.concatenate([np.full((B, K), DF), fits.df], axis=1),
            np.concatenate([np.where(net, np.exp(logw), 0.0), np.where(net, 0.0, fam_w)], axis=2),
        )

    def _network_applies(self, frame: Frame, fits, anchor: Anchor, X: np.ndarray) -> np.ndarray:
        """(B, X): where the network answers; elsewhere the BIC average of the families does.

        The network knows horizons up to the longest it was trained on, and real curves,
        none of which a family reproduces to within EXACT_FIT of its spread over
        EXACT_POINTS or more points (a curve that one does is a formula, not a training run,
        and the formula is the forecast)."""
        lim = self.combiner.hi
        horizon = X[..., CURVE_FEATURES]
        known = horizon <= (lim[CURVE_FEATURES] if lim is not None else np.inf)
        rel = np.where(fits.weight > 0, fits.sigma, np.inf) / anchor.spread[:, None]
        exact = (rel.min(axis=1) < EXACT_FIT) & (frame.mask.sum(axis=1) >= EXACT_POINTS)
        return known & ~exact[:, None]
