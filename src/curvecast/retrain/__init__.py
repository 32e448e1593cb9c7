"""Retrain deployed forecasters only when it pays: a live-loop simulator and policies.

A series is streamed in time order; a deployed model forecasts every step of the next
horizon; as truth arrives its errors are scored; at every decision a policy keeps the
model or retrains it on a window (see :mod:`.simulate` for the loop and its rule that
nothing from the future reaches a decision, :mod:`.models` for ridge, gbm and mlp,
:mod:`.policies` and :mod:`.cost` for the policies, :mod:`.run` for the result rows).

>>> from curvecast.retrain import POLICIES, MODELS
>>> "default" in POLICIES, MODELS[:2]
(True, ('ridge', 'gbm'))
"""

from __future__ import annotations

from .models import MODELS, make_model
from .policies import LADDER, POLICIES, Retrain, make_policy, variance_window
from .run import ladder_error_at, run_retrain
from .series import Series, clean_series, parse_duration, read_series
from .simulate import Trace, simulate

__all__ = ["LADDER", "MODELS", "POLICIES", "Retrain", "Series", "Trace", "clean_series",
           "ladder_error_at", "make_model", "make_policy", "parse_duration", "read_series",
           "run_retrain", "simulate", "variance_window"]
