"""The real data the training-loop tests learn: scikit-learn's handwritten digits (1,797
8x8 images of the UCI optical recognition set, shipped inside scikit-learn), split once.

A good run learns the digits; a hopeless one learns labels shuffled at random, so its
validation loss stays near log(10) = 2.3 whatever it is trained for."""

from __future__ import annotations

import numpy as np

TARGET = 0.3
"""The validation loss (cross-entropy) a run must reach: a small network on the digits
gets below 0.15 in a few epochs; on shuffled labels it never leaves ~2.3."""
EPOCHS = 30


def digits(shuffled: bool = False, seed: int = 0):
    """(x_train, y_train, x_val, y_val) as float32 / int64 arrays; ``shuffled``: the
    labels permuted at random (train and validation alike)."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    x, y = (x[order] / 16.0).astype(np.float32), y[order].astype(np.int64)
    if shuffled:
        y = rng.permutation(y)
    return x[:1200], y[:1200], x[1200:], y[1200:]
