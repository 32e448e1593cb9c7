"""Floating-point trouble handled where it happens, not printed.

Real curves reach 1e308 and 1e-308, and explode to inf. On the way numpy overflows and
divides by zero; the forecasters turn what that gives into invalid rows (NaN answers,
status 'failed'), so numpy's RuntimeWarnings say nothing a user can act on, and inside
an Optuna worker they would land in the training log. Every public numeric entry point
runs under :func:`quiet`. (``np.errstate`` is thread-local, so threads sharing a pruner
do not see each other's settings; ``warnings.catch_warnings`` would not be.)

>>> @quiet
... def ratio(a, b):
...     return np.asarray(a, float) / b
>>> ratio([1.0, 0.0], 0.0).tolist()  # no RuntimeWarning printed
[inf, nan]
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import numpy as np

F = TypeVar("F", bound=Callable)


def quiet(func: F) -> F:
    """Run ``func`` with numpy's floating-point warnings off (results keep their inf/NaN)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with np.errstate(all="ignore"):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
