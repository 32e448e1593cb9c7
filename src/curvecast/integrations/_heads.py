"""What the pruners keep between calls: per-curve forecasts, and the study model.

A study model (joint or study) is refit each time the completed trials it learns from
grow; each fit forecasts every completed trial's head, cut where the judged trial
stands, with the per-curve forecaster, which is most of its cost. A finished trial's
head at a step never changes, and a per-curve forecast depends on the curve alone (not
on the batch it came in: see ``tests/forecasters/test_batch_independence.py``), so
:class:`HeadCache` remembers each one by the curve's content: a refit forecasts only the
heads it has not seen. It is a cache and nothing more: a process that starts empty
gives the same forecasts.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from ..curve import Curve
from ..forecast import Forecast
from ..forecasters import Forecaster, JointForecaster, LearnedForecaster, StudyForecaster
from ..forecasters.base import steps_array
from ..numerics import quiet

STUDY_MODELS = {"joint": JointForecaster, "study": StudyForecaster}
"""The study models a pruner can correct its per-curve forecasts with."""
ROWS = 20000
"""Per-curve forecasts kept (a few hundred bytes each)."""


class HeadCache(Forecaster):
    """A per-curve forecaster that remembers its answers, by curve content and steps.

    >>> from curvecast.forecasters import LastValue
    >>> f = HeadCache(LastValue())
    >>> c = Curve("a", [1, 2, 3], [3.0, 2.0, 1.5])
    >>> a = f.forecast([c], [10]).median[0, 0]
    >>> b = f.forecast([Curve("b", [1, 2], [1.0, 1.0]), c], [10]).median[1, 0]
    >>> bool(a == b), f.hits, f.misses
    (True, 1, 2)
    >>> import pickle
    >>> len(pickle.loads(pickle.dumps(f))._rows)  # what travels is the forecaster alone
    0
    """

    def __init__(self, base: Forecaster, rows: int = ROWS) -> None:
        super().__init__(base.bound)
        self.base = base
        self.name = base.name
        self.min_points = base.min_points
        self._rows: OrderedDict = OrderedDict()
        self._most = rows
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def __getstate__(self) -> dict:
        # pickled (Ray ships its scheduler to the driver): the answers kept are a cache,
        # and a lock cannot travel
        state = self.__dict__.copy()
        state["_rows"], state["_lock"] = OrderedDict(), None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @quiet
    def forecast(self, curves: Sequence[Curve], at) -> Forecast:
        x = steps_array(at)
        curves = list(curves)
        keys = [(c.goal, c.steps.tobytes(), c.values.tobytes(), x.tobytes()) for c in curves]
        with self._lock:
            rows = [self._rows.get(k) for k in keys]
        new = [i for i, r in enumerate(rows) if r is None]
        if new:
            fc = self.base.forecast([curves[i] for i in new], x)
            for j, i in enumerate(new):
                rows[i] = _row(fc, j)
            with self._lock:
                for i in new:
                    self._rows[keys[i]] = rows[i]
                while len(self._rows) > self._most:
                    self._rows.popitem(last=False)
        self.hits += len(curves) - len(new)
        self.misses += len(new)
        # every answer is rebuilt from the rows kept, fresh or not, so a process that
        # starts empty and one that remembers give the same numbers
        return _stack(rows, x, curves[0].goal if curves else "min", [c.run for c in curves])


def _row(fc: Forecast, j: int) -> tuple:
    return (fc.loc[j].copy(), fc.scale[j].copy(), fc.df[j].copy(), fc.weights[j].copy(),
            float(fc.lower[j]), float(fc.upper[j]))


def _stack(rows: list[tuple], x: np.ndarray, goal: str, runs: list[str]) -> Forecast:
    B, X = len(rows), x.size
    K = max([r[0].shape[1] for r in rows], default=1)
    loc, scale, w = np.zeros((B, X, K)), np.ones((B, X, K)), np.zeros((B, X, K))
    df, lower, upper = np.full((B, K), 1e6), np.full(B, -np.inf), np.full(B, np.inf)
    for b, (l, s, d, wt, lo, hi) in enumerate(rows):
        k = l.shape[1]
        loc[b, :, :k], scale[b, :, :k], df[b, :k], w[b, :, :k] = l, s, d, wt
        lower[b], upper[b] = lo, hi
    return Forecast(x, loc, scale, df, w, goal, runs, lower, upper)


def study_model(kind: str, base: Forecaster, context: Sequence[Curve]) -> Forecaster:
    """The study model ``kind`` ('joint' or 'study') on the per-curve ``base``, fitted on
    the finished runs ``context``.

    >>> from curvecast.forecasters import LastValue
    >>> study_model("joint", HeadCache(LastValue()), []).name
    'joint'
    """
    if kind not in STUDY_MODELS:
        raise ValueError(f"unknown study model {kind!r}; choose from {', '.join(STUDY_MODELS)}")
    # the pruner judges a trial's first reports by dominance, not by forecasts of 1-2 points
    extra = {"short": None} if kind == "joint" else {}
    return STUDY_MODELS[kind](base=base, **extra).fit(list(context))


def cached(forecaster: Forecaster | str | None) -> Forecaster:
    """The per-curve forecaster a pruner corrects (None: the learned combiner; a name of
    :func:`curvecast.make_forecaster`, or one), its answers kept by :class:`HeadCache`,
    unless it learns from the study itself (then an answer depends on more than the
    curve).

    >>> cached("last").name, type(cached(None)).__name__
    ('last', 'HeadCache')
    """
    if forecaster is None:
        forecaster = LearnedForecaster()
    elif isinstance(forecaster, str):
        from ..api import make_forecaster  # the api module imports more than a pruner needs

        forecaster = make_forecaster(forecaster)
    return forecaster if forecaster.uses_context else HeadCache(forecaster)
