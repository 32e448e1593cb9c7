"""The live loop: a deployed forecaster, its errors as truth arrives, and the policies.

Time runs over the series' grid. At each decision row ``now`` (every ``every`` rows,
from the first row with a full training window behind it):

1. each policy looks at what it may know at ``now`` (a :class:`View`: its errors whose
   truth has arrived, the target up to ``now``) and says keep, or retrain on a window;
2. a retraining at ``now`` learns from rows ``s <= now - horizon`` (their targets are
   all observed by ``now``) of the chosen window;
3. the deployed model forecasts rows ``now + 1 .. now + horizon`` from row ``now``'s
   features;
4. the forecast's errors reach the policy once its last lead has been observed.

All policies of one model run in lockstep and share trained models: a retraining is a
function of (decision, window) alone, so ``fixed``, its ``fixed@k`` ladder and the other
policies never train the same model twice. Each policy is still charged, in work and
seconds, for every retraining it asked for, as if it had run alone.

>>> import numpy as np
>>> from curvecast.retrain.features import build_features
>>> from curvecast.retrain.policies import make_policy
>>> t = np.arange(24 * 40).astype("datetime64[h]")
>>> y = np.sin(np.arange(len(t)) * 2 * np.pi / 24)
>>> f = build_features(y, {}, t, 3600, horizon=6)
>>> traces = simulate(f, "ridge", [make_policy("fixed"), make_policy("fixed@4")],
...                   every=6, horizon=6, window=24 * 7)
>>> [(tr.policy, int(tr.retrained.sum())) for tr in traces]
[('fixed', 131), ('fixed@4', 33)]
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

from .features import Features
from .models import make_model
from .policies import Context, Policy, Retrain

CHUNK = 32
"""Decisions ahead that a trained model forecasts in one call (then kept)."""


class View:
    """What a policy may know at decision ``j``: nothing observed after row ``now``.

    ``errors``, ``issued``, ``trained`` and ``windows``: for each forecast whose every
    lead has been observed, its mean absolute error, the decision that issued it, and the
    decision and window of the retraining that made the model that issued it.
    ``shadows``: for the same forecasts, ``{(decision, window): error}`` of the models
    the policy kept beside the deployed one (the model it replaced; the candidates it
    asked for): scored on the same truth, at no training cost. ``values()``: the target
    up to ``now``.

    ``future``: None, except for a hindsight policy (``oracle``, whose ``hindsight`` is
    True): ``future(key, L)`` gives the mean absolute errors of the forecasts that model
    ``key`` (the deployed one, or ``(j, window)``: one trained now) would issue at
    decisions ``j .. j + L - 1``; it trains what it needs without charging the policy.
    """

    def __init__(self, sim: _Run, j: int) -> None:
        self._sim = sim
        self.j = j
        self.now = int(sim.rows[j])
        self.time = sim.times[self.now]
        self.trained_at = sim.deployed_j
        self.age = j - sim.deployed_j if sim.deployed_j >= 0 else None
        n = sim.n_arrived
        self.errors = sim.issue_mae[:n]
        self.issued = np.arange(n)
        self.trained = sim.issue_model[:n]
        self.windows = sim.issue_window[:n]
        self.shadows = sim.issue_shadows[:n]
        self.deployed = sim.deployed
        self.future = sim.future if getattr(sim.policy, "hindsight", False) else None

    def values(self) -> np.ndarray:
        """The target's values up to and including row ``now`` (NaN where missing)."""
        return self._sim.truth[: self.now + 1]


@dataclass
class Trace:
    """One policy's run: per decision, whether it retrained, the work and seconds spent,
    the mean absolute error of the forecast it issued (NaN where no lead was observed),
    and its absolute errors per lead."""

    policy: str
    model: str
    rows: np.ndarray
    retrained: np.ndarray
    window: np.ndarray
    work: np.ndarray
    seconds: np.ndarray
    issue_mae: np.ndarray
    abs_errors: np.ndarray = field(repr=False)

    @property
    def compute(self) -> float:
        """Work units of every retraining (rows x passes)."""
        return float(self.work.sum())

    @property
    def mae(self) -> float:
        e = self.abs_errors[np.isfinite(self.abs_errors)]
        return float(e.mean()) if len(e) else float("nan")

    @property
    def rmse(self) -> float:
        e = self.abs_errors[np.isfinite(self.abs_errors)]
        return float(np.sqrt((e**2).mean())) if len(e) else float("nan")


class _Run:
    """One policy's state in the lockstep loop."""

    def __init__(self, policy: Policy, n_dec: int, horizon: int, feats: Features,
                 rows: np.ndarray, times: np.ndarray) -> None:
        self.policy = policy
        self.rows = rows
        self.times = times
        self.truth = feats.truth
        self.deployed = None  # (decision, window, half-life) of the model in service
        self.deployed_j = -1
        self.retrained = np.zeros(n_dec, bool)
        self.window = np.zeros(n_dec, np.int64)
        self.work = np.zeros(n_dec)
        self.seconds = np.zeros(n_dec)
        self.issue_mae = np.full(n_dec, np.nan)
        self.issue_model = np.full(n_dec, -1, np.int64)
        self.issue_window = np.zeros(n_dec, np.int64)
        self.issue_shadows: list[dict] = [{} for _ in range(n_dec)]
        self.shadow_keys: list[tuple[int, int, int]] = []  # (decision, window, half-life)
        self.replaced: list[tuple[int, int, int]] = []
        self.abs_errors = np.full((n_dec, horizon), np.nan)
        self.n_arrived = 0
        self.future = None  # set by simulate for hindsight policies
        self.j_now = 0


class _Trained:
    __slots__ = ("chunks", "errors", "known", "model", "seconds", "work")

    def __init__(self, model, work, seconds) -> None:
        self.model, self.work, self.seconds, self.chunks = model, work, seconds, {}
        self.errors = self.known = None  # per decision: its mean absolute error (hindsight)


def first_decision(window: int, horizon: int) -> int:
    """The first decision row: a full window of rows whose targets have all arrived.

    >>> first_decision(720, 6)
    725
    """
    return window + horizon - 1


def decision_rows(n: int, every: int, window: int, horizon: int) -> np.ndarray:
    """Rows at which the policies decide: every ``every`` rows from :func:`first_decision`
    while at least one lead lies inside the series.

    >>> decision_rows(40, 6, 20, 6).tolist()
    [25, 31, 37]
    """
    return np.arange(first_decision(window, horizon), n - 1, every)


def simulate(feats: Features, model: str, policies: Sequence[Policy], *, every: int,
             horizon: int, window: int, times: np.ndarray | None = None,
             step_seconds: int = 3600, cost: float | None = None) -> list[Trace]:
    """Run ``policies`` with ``model`` over the series of ``feats``; one Trace each.

    ``every``, ``horizon`` and ``window`` are in rows; ``window`` is the training window of
    the plain schedules (a policy may choose another). ``cost`` is passed to the policies.
    """
    n = len(feats.truth)
    rows = decision_rows(n, every, window, horizon)
    if not len(rows):
        from ..errors import InputError

        raise InputError(f"the series has {n} rows: too short for a training window of "
                         f"{window} rows and a horizon of {horizon}; shorten --window")
    if times is None:
        times = np.arange(n).astype("datetime64[h]")
    ctx = Context(every=every, horizon=horizon, window=window, step_seconds=step_seconds,
                  n_decisions=len(rows), cost=cost)
    runs = [_Run(p, len(rows), horizon, feats, rows, times) for p in policies]
    for r in runs:
        r.policy.reset(ctx)
    lag = -(-horizon // every)  # decisions until a forecast's last lead is observed
    usable = np.isfinite(feats.X).all(axis=1) & np.isfinite(feats.D).all(axis=1)
    X_pred = np.nan_to_num(feats.X)
    cache: dict[tuple[int, int], _Trained] = {}
    leads = np.arange(1, horizon + 1)

    def train(j: int, w: int, half_life: int = 0) -> _Trained:
        hi = int(rows[j]) - horizon + 1  # rows < hi have every lead observed by now
        lo = max(0, hi - w)
        ok = usable[lo:hi]
        if ok.all():  # the usual case: a view, no copy
            idx = None
            Xw, Dw = feats.X[lo:hi], feats.D[lo:hi]
        else:
            idx = lo + np.flatnonzero(ok)
            Xw, Dw = feats.X[idx], feats.D[idx]
        weight = None
        if half_life > 0:
            age = hi - 1 - (np.arange(lo, hi) if idx is None else idx)
            weight = 0.5 ** (age / half_life)
        m = make_model(model)
        m.feature_names = feats.names
        t0 = time.perf_counter()
        work = m.fit(Xw, Dw, weight) if len(Xw) > 1 else 0
        return _Trained(m if len(Xw) > 1 else None, work, time.perf_counter() - t0)

    def predict(tr: _Trained, j: int) -> tuple[np.ndarray, float]:
        c = j - j % CHUNK
        if c not in tr.chunks:
            t0 = time.perf_counter()
            r = rows[c: c + CHUNK]
            tr.chunks[c] = (np.zeros((len(r), horizon)) if tr.model is None
                            else tr.model.predict(X_pred[r]))
            tr.chunks.pop(c - CHUNK, None)  # decisions only move forward
            return tr.chunks[c][j - c], time.perf_counter() - t0
        return tr.chunks[c][j - c], 0.0

    def future(j: int, key: tuple[int, int], L: int) -> np.ndarray:
        """Hindsight: the errors model ``key`` would make at decisions j .. j + L - 1."""
        key = tuple(key) + (0,) * (3 - len(key))  # (decision, window[, half-life])
        if key not in cache:
            cache[key] = train(*key)
        tr = cache[key]
        if tr.errors is None:
            tr.errors, tr.known = np.full(len(rows), np.nan), np.zeros(len(rows), bool)
        hi = min(j + L, len(rows))
        todo = j + np.flatnonzero(~tr.known[j:hi])
        if len(todo):
            r = rows[todo]
            d = np.zeros((len(r), horizon)) if tr.model is None else tr.model.predict(X_pred[r])
            ahead = r[:, None] + leads[None, :]
            truth = np.where(ahead < n, feats.truth[np.minimum(ahead, n - 1)], np.nan)
            err = np.abs(truth - (feats.base[r][:, None] + d))
            ok = np.isfinite(err)
            cnt = ok.sum(axis=1)
            tr.errors[todo] = np.where(cnt > 0, np.where(ok, err, 0).sum(axis=1) / np.maximum(cnt, 1), np.nan)
            tr.known[todo] = True
        return tr.errors[j:hi]

    for r in runs:
        if getattr(r.policy, "hindsight", False):
            r.future = lambda key, L, _r=r: future(_r.j_now, key, L)
    with threadpool_limits(1):  # 2 shared cores: BLAS threads only fight over them
        for j in range(len(rows)):
            now = int(rows[j])
            for r in runs:
                r.j_now = j
                while r.n_arrived < len(rows) and r.n_arrived + lag <= j:
                    r.n_arrived += 1
                t0 = time.perf_counter()
                w = r.policy.decide(View(r, j))
                r.seconds[j] += time.perf_counter() - t0
                if w is None and r.deployed is None:
                    w = window  # nothing is deployed yet: every policy trains first
                if w is not None:
                    dec = w if isinstance(w, Retrain) else Retrain(int(w))
                    hl = int(dec.half_life)
                    keys = [(j, int(dec.window), hl)] + [(j, int(x), hl) for x in dec.explore
                                                         if int(x) != int(dec.window)]
                    for key in keys:
                        if key not in cache:
                            cache[key] = train(*key)
                        r.work[j] += cache[key].work
                        r.seconds[j] += cache[key].seconds
                    if r.deployed is not None:
                        r.replaced.append(r.deployed)
                    r.deployed, r.deployed_j = keys[0], j
                    kept = r.replaced[-int(dec.keep_old):] if dec.keep_old else []
                    r.shadow_keys = kept[::-1] + keys[1:]
                    r.retrained[j] = True
                    r.window[j] = dec.window
                d, secs = predict(cache[r.deployed], j)
                r.seconds[j] += secs
                ahead = now + leads
                inside = ahead < n
                truth = feats.truth[ahead[inside]]
                err = np.full(horizon, np.nan)
                err[inside] = np.abs(truth - (feats.base[now] + d[inside]))
                r.abs_errors[j] = err
                ok = np.isfinite(err)
                r.issue_mae[j] = err[ok].mean() if ok.any() else np.nan
                r.issue_model[j] = r.deployed_j
                r.issue_window[j] = r.deployed[1]
                for key in r.shadow_keys:
                    ds, secs = predict(cache[key], j)
                    r.seconds[j] += secs
                    e = np.abs(truth - (feats.base[now] + ds[inside]))
                    e = e[np.isfinite(e)]
                    r.issue_shadows[j][key[:2]] = float(e.mean()) if len(e) else float("nan")
            live = {r.deployed for r in runs} | {k for r in runs for k in r.shadow_keys}
            for key in [k for k in cache if k not in live]:
                del cache[key]
    return [Trace(r.policy.name, model, rows, r.retrained, r.window, r.work, r.seconds,
                  r.issue_mae, r.abs_errors) for r in runs]
