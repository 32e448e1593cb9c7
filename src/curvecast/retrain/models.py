"""The deployed forecasters: ``ridge``, ``gbm``, ``mlp``.

Each model maps a row of features to the change of the target over every lead of the
horizon (direct multi-horizon: no forecast feeds another). ``fit`` returns the work it
did in deterministic units, rows x passes (a pass: one look at every training row, so a
boosting round, an epoch, or the one pass that builds the normal equations), summed over
the models it fits; the simulator also times it.

* ``ridge``: L2-penalised least squares on standardised features, all leads at once. The
  closed form that scikit-learn's ``Ridge(solver="cholesky")`` solves, computed here in
  numpy because scikit-learn's per-call validation costs three times the solve at this
  size (6 ms against 1.6 ms for 4,320 rows x 25 features x 36 leads), which a year of
  hourly retraining pays 8,760 times. ``tests/retrain`` checks it against scikit-learn.
* ``gbm``: LightGBM, one model per anchor lead (a sixth, a half and all of the horizon),
  the leads between them interpolated linearly from a change of 0 at lead 0; trained on
  at most :data:`TREE_ROWS` rows of the window (every k-th, the newest kept). LightGBM,
  not scikit-learn's HistGradientBoosting: 55 ms against 140 ms per 30-round fit of 720
  rows on this machine, the difference between the 5-minute budget kept and missed.
* ``mlp``: scikit-learn's MLPRegressor (one hidden layer of 32) on the anchor leads.

* ``lstm``: a small PyTorch LSTM (extra ``lstm``: ``pip install 'curvecast[lstm]'``,
  torch 2.13.0) over the series' recent past as a sequence: the target's value at each
  lag of :func:`~curvecast.retrain.features.lag_rows`, oldest first, relative to the
  last value (the ``change_*`` features read backwards), each step also given the other
  features; the last hidden state maps to the anchor leads.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(200, 3)); D = X @ np.ones((3, 4)) + 0.01 * rng.normal(size=(200, 4))
>>> m = make_model("ridge"); work = m.fit(X, D)
>>> work, bool(np.abs(m.predict(X[:2]) - D[:2]).max() < 0.1)
(200, True)
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import UsageError

MODELS = ("ridge", "gbm", "mlp", "lstm")
"""The model names ``--model`` accepts."""
TREE_ROWS = 1000
"""At most this many training rows for gbm and mlp (evenly strided, newest kept):
a 30-day window of 10-minute rows is 4,320 strongly correlated rows."""


def anchors(horizon: int) -> np.ndarray:
    """The leads (1-based) that gbm and mlp fit; the others are interpolated.

    >>> anchors(36).tolist(), anchors(6).tolist(), anchors(1).tolist()
    ([6, 18, 36], [1, 3, 6], [1])
    """
    return np.unique(np.maximum(1, np.rint(np.array([horizon / 6, horizon / 2, horizon]))
                                .astype(int)))


def _interpolate(pred: np.ndarray, leads: np.ndarray, horizon: int) -> np.ndarray:
    """Predictions at ``leads`` to every lead 1..horizon, from 0 at lead 0."""
    x = np.concatenate([[0], leads])
    p = np.concatenate([np.zeros((len(pred), 1)), pred], axis=1)
    grid = np.arange(1, horizon + 1)
    return np.stack([np.interp(grid, x, row) for row in p]) if len(p) else np.zeros((0, horizon))


def stride_rows(n: int, limit: int = TREE_ROWS) -> np.ndarray:
    """Indices of at most ``limit`` of ``n`` rows, evenly strided, the last kept.

    >>> stride_rows(10, 4).tolist()
    [0, 3, 6, 9]
    """
    k = max(1, math.ceil(n / limit))
    return np.arange(n - 1, -1, -k)[::-1]


class Model:
    """A forecaster of the next ``horizon`` changes; subclasses define fit and predict.
    ``feature_names``: the columns of X (the simulator sets them before fitting)."""

    name = "model"
    feature_names: list[str] | None = None

    def fit(self, X: np.ndarray, D: np.ndarray, weight: np.ndarray | None = None) -> int:
        """Learn from rows X (features) and D (targets per lead), each row weighted by
        ``weight`` (None: all alike); return the work done."""
        raise NotImplementedError

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The changes over every lead, shape (rows, horizon)."""
        raise NotImplementedError


def _standardise(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu = X.mean(axis=0)
    sd = X.std(axis=0)
    sd[~(sd > 1e-12)] = 1.0  # a constant column (the time of year over a day) stays 0
    return mu, sd


class RidgeModel(Model):
    """Ridge regression of every lead on standardised features; ``alpha`` the penalty.

    >>> m = RidgeModel(alpha=0.0); _ = m.fit(np.c_[0:4.0], np.c_[0:8.0:2])
    >>> np.round(m.predict(np.array([[5.0]])), 6).tolist()
    [[10.0]]
    """

    name = "ridge"

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = alpha

    def fit(self, X: np.ndarray, D: np.ndarray, weight: np.ndarray | None = None) -> int:
        n = len(X)
        if weight is None:
            mu = X.mean(axis=0)
            ym = D.mean(axis=0)
            Xw = X
        else:  # weights scaled to mean 1: alpha keeps its meaning
            wt = np.asarray(weight, float) * (n / float(np.sum(weight)))
            mu = wt @ X / n
            ym = wt @ D / n
            Xw = X * wt[:, None]
        # the centred, scaled normal equations from the raw products: no copy of X
        A = Xw.T @ X - n * np.outer(mu, mu)
        B = Xw.T @ D - n * np.outer(mu, ym)
        sd = np.sqrt(np.maximum(np.diag(A), 0) / n)
        sd[~(sd > 1e-12 * (1 + np.abs(mu)))] = 1.0  # a constant column stays out
        self.mu_, self.sd_ = mu, sd
        A = A / np.outer(sd, sd)
        B = B / sd[:, None]
        A[np.diag_indices_from(A)] += self.alpha
        try:
            coef = np.linalg.solve(A, B)
        except np.linalg.LinAlgError:
            coef = np.linalg.lstsq(A, B, rcond=None)[0]
        self.coef_ = coef / self.sd_[:, None]  # back to raw features: one matmul to predict
        self.intercept_ = ym - self.mu_ @ self.coef_
        return len(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return X @ self.coef_ + self.intercept_


class GBMModel(Model):
    """LightGBM per anchor lead (see the module docstring); ``rounds`` boosting rounds.

    >>> rng = np.random.default_rng(0); X = rng.normal(size=(300, 2))
    >>> m = GBMModel(rounds=10); m.fit(X, np.c_[X[:, :1], 2 * X[:, :1]])
    6000
    >>> m.predict(X[:3]).shape
    (3, 2)
    """

    name = "gbm"

    def __init__(self, rounds: int = 30, learning_rate: float = 0.15, leaves: int = 15,
                 seed: int = 0) -> None:
        self.rounds, self.learning_rate, self.leaves, self.seed = rounds, learning_rate, leaves, seed

    def fit(self, X: np.ndarray, D: np.ndarray, weight: np.ndarray | None = None) -> int:
        import lightgbm as lgb

        rows = stride_rows(len(X))
        self.horizon_ = D.shape[1]
        self.leads_ = anchors(self.horizon_)
        params = {"objective": "l2", "learning_rate": self.learning_rate,
                  "num_leaves": self.leaves, "min_data_in_leaf": 10, "max_bin": 31,
                  "num_threads": 1, "verbose": -1, "seed": self.seed,
                  "deterministic": True, "force_row_wise": True}
        self.boosters_ = []
        for lead in self.leads_:
            data = lgb.Dataset(X[rows], D[rows, lead - 1], params={"max_bin": 31, "verbose": -1},
                               weight=None if weight is None else np.asarray(weight, float)[rows],
                               free_raw_data=True)
            self.boosters_.append(lgb.train(params, data, num_boost_round=self.rounds))
        return len(rows) * self.rounds * len(self.leads_)

    def predict(self, X: np.ndarray) -> np.ndarray:
        pred = np.column_stack([b.predict(X, num_threads=1) for b in self.boosters_])
        return _interpolate(pred, self.leads_, self.horizon_)


class MLPModel(Model):
    """scikit-learn's MLPRegressor on standardised features and anchor leads.

    >>> rng = np.random.default_rng(0); X = rng.normal(size=(200, 2))
    >>> m = MLPModel(epochs=5); m.fit(X, np.c_[X[:, :1], X[:, 1:]])
    1000
    """

    name = "mlp"

    def __init__(self, hidden: int = 32, epochs: int = 40, seed: int = 0) -> None:
        self.hidden, self.epochs, self.seed = hidden, epochs, seed

    def fit(self, X: np.ndarray, D: np.ndarray, weight: np.ndarray | None = None) -> int:
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPRegressor

        rows = stride_rows(len(X))
        self.horizon_ = D.shape[1]
        self.leads_ = anchors(self.horizon_)
        self.mu_, self.sd_ = _standardise(X[rows])
        Y = D[rows][:, self.leads_ - 1]
        self.ym_, self.ys_ = Y.mean(axis=0), Y.std(axis=0) + 1e-12
        self.net_ = MLPRegressor(hidden_layer_sizes=(self.hidden,), max_iter=self.epochs, random_state=self.seed,
                                 learning_rate_init=3e-3, batch_size=64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # a fixed budget of epochs
            self.net_.fit((X[rows] - self.mu_) / self.sd_, (Y - self.ym_) / self.ys_,
                          sample_weight=None if weight is None else np.asarray(weight, float)[rows])
        return len(rows) * self.net_.n_iter_

    def predict(self, X: np.ndarray) -> np.ndarray:
        out = self.net_.predict((X - self.mu_) / self.sd_).reshape(len(X), -1)
        return _interpolate(out * self.ys_ + self.ym_, self.leads_, self.horizon_)


class LSTMModel(Model):
    """A small LSTM over the lag sequence (see the module docstring); ``hidden`` units,
    ``epochs`` passes of Adam over at most :data:`TREE_ROWS` rows.

    >>> import pytest; _ = pytest.importorskip("torch")
    >>> rng = np.random.default_rng(0); X = rng.normal(size=(200, 3))
    >>> m = LSTMModel(epochs=2); m.feature_names = ["change_1", "change_6", "day_sin1"]
    >>> m.fit(X, np.c_[X[:, :1], X[:, 1:2]]), m.predict(X[:4]).shape
    (400, (4, 2))
    """

    name = "lstm"

    def __init__(self, hidden: int = 16, epochs: int = 8, batch: int = 256,
                 learning_rate: float = 1e-2, seed: int = 0) -> None:
        self.hidden, self.epochs, self.batch = hidden, epochs, batch
        self.learning_rate, self.seed = learning_rate, seed

    def _split(self, X: np.ndarray):
        """(rows, steps, 1 + static) inputs: lag values oldest first, the rest repeated."""
        import torch

        Z = (X - self.mu_) / self.sd_
        seq = Z[:, self.seq_]  # oldest lag first
        seq = np.concatenate([seq, np.zeros((len(Z), 1))], axis=1)[:, :, None]  # now: 0
        static = np.repeat(Z[:, None, self.static_], seq.shape[1], axis=1)
        return torch.as_tensor(np.concatenate([seq, static], axis=2), dtype=torch.float32)

    def fit(self, X: np.ndarray, D: np.ndarray, weight: np.ndarray | None = None) -> int:
        import torch

        names = self.feature_names or [f"x{i}" for i in range(X.shape[1])]
        lags = [(int(n.split("_")[1]), i) for i, n in enumerate(names) if n.startswith("change_")]
        self.seq_ = np.array([i for _, i in sorted(lags, reverse=True)], dtype=int)
        self.static_ = np.array([i for i in range(X.shape[1]) if i not in set(self.seq_)], dtype=int)
        rows = stride_rows(len(X))
        self.horizon_ = D.shape[1]
        self.leads_ = anchors(self.horizon_)
        self.mu_, self.sd_ = _standardise(X[rows])
        self.mu_[self.seq_] = 0.0  # lag values keep 0 as "the last value"
        self.sd_[self.seq_] = float(np.std(X[rows][:, self.seq_])) or 1.0  # one scale
        Y = D[rows][:, self.leads_ - 1]
        self.ym_, self.ys_ = Y.mean(axis=0), Y.std(axis=0) + 1e-12
        torch.manual_seed(self.seed)
        torch.set_num_threads(1)
        self.net_ = _LSTMNet(1 + len(self.static_), self.hidden, len(self.leads_))
        opt = torch.optim.Adam(self.net_.parameters(), lr=self.learning_rate)
        inp = self._split(X[rows])
        out = torch.as_tensor((Y - self.ym_) / self.ys_, dtype=torch.float32)
        wt = torch.ones(len(rows)) if weight is None else torch.as_tensor(
            np.asarray(weight, float)[rows] / np.mean(np.asarray(weight, float)[rows]), dtype=torch.float32)
        gen = torch.Generator().manual_seed(self.seed)
        for _ in range(self.epochs):
            for idx in torch.randperm(len(inp), generator=gen).split(self.batch):
                opt.zero_grad()
                sq = (self.net_(inp[idx]) - out[idx]) ** 2
                loss = (sq.mean(axis=1) * wt[idx]).mean()
                loss.backward()
                opt.step()
        return len(rows) * self.epochs

    def predict(self, X: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            out = self.net_(self._split(X)).numpy().astype(float)
        return _interpolate(out * self.ys_ + self.ym_, self.leads_, self.horizon_)


def _LSTMNet(inputs: int, hidden: int, outputs: int):
    """An LSTM layer and a linear head on its last hidden state."""
    import torch

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = torch.nn.LSTM(inputs, hidden, batch_first=True)
            self.head = torch.nn.Linear(hidden, outputs)

        def forward(self, x):
            return self.head(self.lstm(x)[0][:, -1])

    return Net()


def make_model(name: str) -> Model:
    """A fresh model by name (:data:`MODELS`).

    >>> make_model("gbm").name
    'gbm'
    >>> make_model("svm")
    Traceback (most recent call last):
    ...
    curvecast.errors.UsageError: unknown model 'svm'; choose from ridge, gbm, mlp, lstm
    """
    if name == "ridge":
        return RidgeModel()
    if name == "gbm":
        return GBMModel()
    if name == "mlp":
        return MLPModel()
    if name == "lstm":
        import importlib.util

        if importlib.util.find_spec("torch") is None:
            raise UsageError("the lstm model needs PyTorch: pip install 'curvecast[lstm]'")
        return LSTMModel()
    raise UsageError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
