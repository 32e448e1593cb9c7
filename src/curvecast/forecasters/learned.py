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
public learning-curve data sets and textbook curves (see ``scripts/make_training_set.py``
and ``scripts/train_combiner.py``; BENCHMARKS.md scores networks trained without the
data set scored). Several networks trained from different seeds are averaged as one
mixture, and each horizon bin's spreads are scaled so that intervals cover as stated on
data sets the networks were not trained on.

Where the network would be guessing, the BIC average of the families
(:class:`~curvecast.forecasters.ensemble.EnsembleForecaster`) answers instead: at
horizons beyond the longest it was trained on, and on curves a family reproduces almost
exactly (a formula, not a training run). Inputs are clamped to the range seen in
training, and locations to the families' plausibility band.

The networks are stored as plain arrays and evaluated with numpy: no deep-learning
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
from .features import CURVE_FEATURES, Anchor, features

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
LSD_RANGE = (-3.0, 2.0)
"""Range of the network's log spread (its units) over which a model file's
``spread_model`` lets the multiplier vary (``scripts/calibrate_combiner.py``)."""
MODEL = "combiner.npz"
EXACT_FIT = 1e-4
"""A family whose residual scale is below this fraction of the curve's spread..."""
EXACT_POINTS = 10
"""...over at least this many points reproduces the curve: its formula is the forecast
(0.02-0.03% of the real training rows of LCDB and TaskSet meet it, none of the others)."""


@dataclass(frozen=True)
class Network:
    """One trained network: input range and standardisation, dense layers (GELU between)."""

    mean: np.ndarray
    std: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    """Range of each input seen in training: inputs are clamped to it, so a curve unlike
    any seen gets the nearest answer the network knows, not an extrapolation of it."""
    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]

    @classmethod
    def from_arrays(cls, z, prefix: str) -> Network:
        n = sum(1 for k in z.files if k.startswith(f"{prefix}W"))
        a = lambda k: np.asarray(z[f"{prefix}{k}"], float)
        return cls(*(a(k) for k in ("mean", "std", "lo", "hi")),
                   tuple(a(f"W{i}") for i in range(n)), tuple(a(f"b{i}") for i in range(n)))

    def outputs(self, X: np.ndarray):
        """Mixture (log weights, locations, scales) of inputs X (..., F), uncalibrated."""
        h = (np.clip(X, self.lo, self.hi) - self.mean) / self.std
        h = h.reshape(-1, X.shape[-1])  # 2-d: matmul of stacked arrays skips BLAS (100x slower)
        for i, (W, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = h @ W.T + b
            if i < len(self.weights) - 1:
                h = _gelu(h)
        h = h.reshape(X.shape[:-1] + (h.shape[-1],))
        logit, mu, log_s = np.split(h, 3, axis=-1)
        logw = logit - logit.max(axis=-1, keepdims=True)
        logw = logw - np.log(np.exp(logw).sum(axis=-1, keepdims=True))
        return logw, mu, np.exp(np.clip(log_s, -12, 8))


@dataclass(frozen=True)
class Combiner:
    """The trained networks (several seeds, averaged as a mixture) and their calibration."""

    nets: tuple[Network, ...]
    meta: dict
    scales: np.ndarray = field(default_factory=lambda: np.ones(len(HORIZON_EDGES) + 1))
    """Spread multiplier per horizon bin, fitted on held-out data sets' forecasts."""
    spread_model: dict | None = None
    """If set (meta 'spread_model'), the multiplier is ``exp(a[horizon bin] + b * log sd)``
    instead, ``sd`` the network's own mixture spread: held out, a network is the more
    overconfident the narrower it says the answer is."""

    @property
    def hi(self) -> np.ndarray:
        """The largest value of each input seen in training (by every network)."""
        return np.min([n.hi for n in self.nets], axis=0)

    @classmethod
    def load(cls, path: str | Path | None = None) -> Combiner:
        """Load a model file (default: the one shipped with curvecast)."""
        if path is None:
            src = resources.files("curvecast") / "models" / MODEL
            with resources.as_file(src) as p:
                return cls.load(p)
        try:
            with np.load(path) as z:
                meta = json.loads(str(z["meta"]))
                nets = tuple(Network.from_arrays(z, f"net{j}.") for j in range(meta["nets"]))
        except (OSError, KeyError, ValueError) as exc:
            raise UsageError(f"cannot read the combiner model {path}: {exc}") from exc
        return cls(nets, meta, np.asarray(meta.get("scales", np.ones(len(HORIZON_EDGES) + 1))),
                   meta.get("spread_model"))

    def predict(self, X: np.ndarray, calibrated: bool = True):
        """Mixture (log weights, locations, scales), each (..., nets x COMPONENTS), of
        inputs X (..., F): every network's components, each network weighing the same."""
        X = np.asarray(X, float)  # float64: float32 kernels round by the batch's size
        parts = [n.outputs(X) for n in self.nets]
        logw = np.concatenate([p[0] for p in parts], axis=-1) - np.log(len(parts))
        mu = np.concatenate([p[1] for p in parts], axis=-1)
        sd = np.concatenate([p[2] for p in parts], axis=-1)
        if calibrated and self.spread_model is not None:
            a, b = np.asarray(self.spread_model["a"]), self.spread_model["b"]
            lsd = np.clip(mixture_log_sd(logw, mu, sd), *LSD_RANGE)
            sd = sd * np.exp(a[horizon_bin(X)] + b * lsd)[..., None]
        elif calibrated:
            sd = sd * self.scales[horizon_bin(X)][..., None]
        return logw, mu, sd


def mixture_log_sd(logw: np.ndarray, mu: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """Log of a mixture's spread (its components' scales and the spread of their
    locations), over the last axis.

    >>> lw = np.log([[0.5, 0.5]])
    >>> float(np.round(mixture_log_sd(lw, np.array([[0.0, 0.0]]), np.array([[1.0, 1.0]]))[0], 6))
    0.0
    """
    w = np.exp(logw)
    m = (w * mu).sum(axis=-1, keepdims=True)
    return 0.5 * np.log(np.maximum((w * (sd**2 + (mu - m) ** 2)).sum(axis=-1), 1e-300))


def horizon_bin(X: np.ndarray) -> np.ndarray:
    """Index of each input's horizon bin (see HORIZON_EDGES)."""
    return np.searchsorted(np.asarray(HORIZON_EDGES), np.asarray(X)[..., CURVE_FEATURES])


def _gelu(h: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return 0.5 * h * (1.0 + erf(h * np.sqrt(0.5)))


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
        net = self._network_applies(frame, fits, anchor, X)
        B, nX = t.shape
        K = len(self.combiner.nets) * COMPONENTS
        logw, mu, sd = np.full((B, nX, K), -np.inf), np.zeros((B, nX, K)), np.ones((B, nX, K))
        logw[net], mu[net], sd[net] = self.combiner.predict(X[net])
        # the families' plausibility band, in the network's units
        u = anchor.to_u(np.where(frame.mask, frame.z, np.nan))
        # nanmin/nanmax without their 'All-NaN slice' warning (values near 1e308)
        seen = ~np.isnan(u)
        some = seen.any(axis=1)
        lo = np.where(some, np.where(seen, u, np.inf).min(axis=1), np.nan)
        hi = np.where(some, np.where(seen, u, -np.inf).max(axis=1), np.nan)
        reach = PLAUSIBLE_RANGES * (hi - lo + 1.0)
        mu = np.clip(mu, (lo - reach)[:, None, None], (hi + reach)[:, None, None])
        # the families' components stay (weight 0 where the network answers), so every
        # curve has the same components whatever else is in its batch
        fam_w = np.where(net[..., None], 0.0, fits.weight[:, None, :])
        return Components(
            np.concatenate([anchor.to_z(mu), fits.loc], axis=2),
            np.concatenate([anchor.spread[:, None, None] * sd, fits.scale], axis=2),
            np.concatenate([np.full((B, K), DF), fits.df], axis=1),
            np.concatenate([np.exp(logw), fam_w], axis=2),
        )

    def _network_applies(self, frame: Frame, fits, anchor: Anchor, X: np.ndarray) -> np.ndarray:
        """(B, X): where the network answers; elsewhere the BIC average of the families does.

        The network was trained on steps after the last one seen, up to the longest
        horizon in its training data, and on real curves, none of which a family
        reproduces to within EXACT_FIT of its spread over EXACT_POINTS or more points (a
        curve that one does is a formula, not a training run, and the formula is the
        forecast). Without a usable family, the network answers everywhere."""
        horizon = X[..., CURVE_FEATURES]
        ahead = (horizon > 0) & (horizon <= self.combiner.hi[CURVE_FEATURES])
        rel = np.where(fits.weight > 0, self._fit_residual(frame, fits), np.inf)
        rel = rel / anchor.spread[:, None]
        exact = (rel.min(axis=1) < EXACT_FIT) & (frame.mask.sum(axis=1) >= EXACT_POINTS)
        no_family = ~(fits.weight > 0).any(axis=1)
        return (ahead & ~exact[:, None]) | no_family[:, None]

    def _fit_residual(self, frame: Frame, fits) -> np.ndarray:
        """(B, K): each family's residual scale about the fitted points alone.

        A family's sigma also holds the spread inside log-time bins (the noise of single
        observations), and for a long curve without noise that spread is the curve's own
        slope across each bin: a power law logged at 40,000 steps, fitted exactly, has a
        sigma of 1e-3 of its spread. The exact-fit test asks whether the formula goes
        through the data, so the within-bin part is taken out again (unbinned curves have
        none: their test is unchanged)."""
        n_raw = frame.counts.sum(axis=1)
        P = np.array([fam.n_params for fam in self._ensemble._family_list()], float)
        within = frame.wss[:, None] / np.maximum(n_raw[:, None] - P[None, :], 1.0)
        return np.where(within > 0, np.sqrt(np.maximum(fits.sigma**2 - within, 0.0)), fits.sigma)
