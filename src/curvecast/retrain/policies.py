"""Retraining policies: at each decision, keep the deployed model or retrain it on a window.

A policy sees a :class:`~curvecast.retrain.simulate.View` (what is known at the decision:
the errors of forecasts whose truth has arrived, the target up to now) and answers None
(keep) or the number of rows to retrain on. Policies are told the loop's settings once,
in :meth:`Policy.reset`.

* ``fixed``: retrain at every decision, on the plain window: the baseline.
  ``fixed@k``: every k-th decision (the ladder of plain schedules).
* ``never``: train once, at the first decision.
* ``adwin``, ``page_hinkley``: river's drift detectors on the stream of arrived errors;
  retrain when one fires.
* ``window``: retrain at every decision, on a window chosen from the series' variance
  structure (:func:`variance_window`), in the spirit of the Variance Horizon of
  Törnquist et al. (2023).
* ``oracle``: hindsight, the floor: retrains on the plain window exactly when a model
  trained now would, over the coming decisions, save more error than one retraining
  costs (:class:`OraclePolicy`; it sees the future, so no live loop can run it).
* ``default``: curvecast's own (:class:`CostPolicy`): forecast the deployed model's
  error over the coming decisions with curvecast's forecaster and retrain when the
  expected excess error outweighs the cost of one retraining; ``default+window``
  retrains on the ``window`` policy's window.

>>> make_policy("fixed@4").name, make_policy("default+window").name
('fixed@4', 'default+window')
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..errors import UsageError

POLICIES = ("fixed", "never", "adwin", "page_hinkley", "window", "oracle", "default",
            "default+window")
"""The policy names ``--policy`` accepts, besides ``fixed@K`` for any K >= 1."""
LADDER = (2, 4, 8, 16, 32)
"""The plain schedules every result is read against: fixed@2 ... fixed@32."""


@dataclass
class Context:
    """The loop's settings, in rows: decisions every ``every`` rows, forecasts
    ``horizon`` rows ahead, the plain training ``window``; the series' step in seconds;
    the number of decisions; the user's cost of one retraining (None: the policy's own)."""

    every: int
    horizon: int
    window: int
    step_seconds: int
    n_decisions: int
    cost: float | None = None


@dataclass(frozen=True)
class Retrain:
    """A decision to retrain on ``window`` rows; ``explore``: other windows to train at the
    same time and keep as shadows (scored on the same truth as the deployed model, never
    deployed); ``keep_old``: keep this many of the models it replaced as shadows too
    (free: they are trained already). ``half_life``: rows weigh ``0.5 ** (age /
    half_life)`` in the fit, age in rows from the newest (0: all alike, a plain window);
    the explored windows are weighted alike. Weights change no work: a retraining costs
    the rows it reads."""

    window: int
    explore: tuple[int, ...] = ()
    keep_old: int = 0
    half_life: int = 0


class Policy:
    """Base class: ``decide(view)`` returns None (keep) or the rows to retrain on."""

    name = "policy"

    def reset(self, ctx: Context) -> None:
        """Start a new run with the loop's settings."""
        self.ctx = ctx

    def decide(self, view) -> int | Retrain | None:
        raise NotImplementedError


class FixedPolicy(Policy):
    """Retrain at every ``k``-th decision on the plain window (``fixed`` is k = 1).

    >>> p = FixedPolicy(3); p.name
    'fixed@3'
    """

    def __init__(self, k: int = 1) -> None:
        self.k = k
        self.name = "fixed" if k == 1 else f"fixed@{k}"

    def decide(self, view) -> int | None:
        return self.ctx.window if view.j % self.k == 0 else None


class NeverPolicy(Policy):
    """Train once, at the first decision, and never again."""

    name = "never"

    def decide(self, view) -> int | None:
        return self.ctx.window if view.age is None else None


class DriftPolicy(Policy):
    """Retrain when river's ``detector`` ('adwin' or 'page_hinkley') sees the arrived
    errors drift; the detector restarts with each new model (its errors are a new
    stream). River's default settings: a detector tuned on the data would be no
    baseline."""

    def __init__(self, detector: str) -> None:
        self.detector = detector
        self.name = detector

    def reset(self, ctx: Context) -> None:
        super().reset(ctx)
        self._fresh()

    def _fresh(self) -> None:
        from river import drift

        self.det = drift.ADWIN() if self.detector == "adwin" else drift.PageHinkley()
        self.seen = 0

    def decide(self, view) -> int | None:
        if view.age is None:
            return self.ctx.window
        fired = False
        new = view.errors[self.seen:]
        model = view.trained[self.seen:]
        self.seen = len(view.errors)
        for e, m in zip(new, model, strict=True):
            if m == view.trained_at and np.isfinite(e):  # only the deployed model's errors
                self.det.update(float(e))
                fired = fired or self.det.drift_detected
        if fired:
            self._fresh()
            self.seen = len(view.errors)
            return self.ctx.window
        return None


WINDOW_SHARE = 0.9
"""The ``window`` policy's share of the long-run variance that a window must hold."""
WINDOW_DAYS = (3, 5, 7, 10, 14, 21, 30, 45, 60)
"""The windows, in days, that ``window`` chooses from (none longer than the plain one)."""


def variance_window(values: np.ndarray, step_seconds: int, longest: int,
                    share: float = WINDOW_SHARE) -> int:
    """The shortest window (rows) whose variance of the target holds ``share`` of the
    variance over the ``longest`` window: the recent history that shows as much of the
    series' variability as the long one, in the spirit of the Variance Horizon
    (Törnquist et al. 2023). Calm periods give short windows, changing seasons long ones.

    >>> rng = np.random.default_rng(0)
    >>> calm = np.r_[10 * rng.normal(size=600), rng.normal(size=24 * 14)]
    >>> variance_window(calm, 3600, 24 * 30) > variance_window(rng.normal(size=1000), 3600, 24 * 30)
    True
    """
    v = np.asarray(values, float)[-longest:]
    v = v[np.isfinite(v)]
    if len(v) < 3:
        return longest
    total = v.var()
    if not total > 0:
        return longest
    day = 86400 // step_seconds
    for d in WINDOW_DAYS:
        w = d * day
        if w >= longest:
            break
        if v[-w:].var() >= share * total:
            return w
    return longest


class WindowPolicy(Policy):
    """Retrain at every decision on :func:`variance_window`'s window."""

    name = "window"

    def decide(self, view) -> int | None:
        return variance_window(view.values(), self.ctx.step_seconds, self.ctx.window)


class OraclePolicy(Policy):
    """Hindsight, the floor of timing: at each decision, train a model on the plain
    window (free: it knows the outcome without paying) and retrain for real only if,
    over the next ``L`` decisions, the new model's errors would be lower than the
    deployed one's by more than the cost of one retraining, in the units of ``default``'s
    ``cost`` (forecasts' mean absolute errors: the saved error summed over the decisions,
    divided by the deployed model's mean error there). ``L`` is the life of a model at
    ``default``'s longest: a quarter of the window turned over. The loop gives a
    hindsight policy ``view.future``; no policy that runs live can see it.

    >>> OraclePolicy().name, OraclePolicy().hindsight
    ('oracle', True)
    """

    name = "oracle"
    hindsight = True

    def reset(self, ctx: Context) -> None:
        from .cost import DEFAULT_COST  # the same price as default's when none is given

        super().reset(ctx)
        self.cost = DEFAULT_COST if ctx.cost is None else float(ctx.cost)
        self.life = max(8, ctx.window // 4 // ctx.every)

    def decide(self, view) -> int | None:
        if view.age is None:
            return self.ctx.window
        old = view.future(view.deployed, self.life)
        new = view.future((view.j, self.ctx.window), self.life)
        ok = np.isfinite(old) & np.isfinite(new)
        level = old[ok].mean() if ok.any() else 0.0
        if not level > 0:
            return None
        saved = float((old[ok] - new[ok]).sum()) / level
        return self.ctx.window if saved > self.cost else None


def make_policy(name: str) -> Policy:
    """A fresh policy by name (:data:`POLICIES`, or ``fixed@K``).

    >>> make_policy("adwin").name
    'adwin'
    >>> make_policy("sometimes")
    Traceback (most recent call last):
    ...
    curvecast.errors.UsageError: unknown policy 'sometimes'; choose from fixed, never, adwin, page_hinkley, window, oracle, default, default+window or fixed@K
    """
    m = re.fullmatch(r"fixed@(\d+)", name)
    if m:
        k = int(m.group(1))
        if k < 1:
            raise UsageError(f"policy {name!r}: K must be at least 1")
        return FixedPolicy(k)
    if name == "fixed":
        return FixedPolicy(1)
    if name == "never":
        return NeverPolicy()
    if name in ("adwin", "page_hinkley"):
        return DriftPolicy(name)
    if name == "window":
        return WindowPolicy()
    if name == "oracle":
        return OraclePolicy()
    if name in ("default", "default+window"):
        from .cost import CostPolicy

        return CostPolicy(window=name.endswith("+window"))
    raise UsageError(f"unknown policy {name!r}; choose from {', '.join(POLICIES)} or fixed@K")
