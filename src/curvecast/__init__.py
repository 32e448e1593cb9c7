"""curvecast: forecast where training runs will end, with honest uncertainty.

The public API is re-exported here and loaded on first use (PEP 562), so that
``import curvecast.cli`` and ``curvecast --help`` do not pay for numpy and scipy.

>>> import curvecast
>>> f = curvecast.forecast([1, 2, 3, 4, 5], [1.0, 0.7, 0.6, 0.55, 0.52], at=50)
>>> f.median.shape
(1,)
"""

from __future__ import annotations

import sys
import types
from importlib import import_module
from typing import TYPE_CHECKING

_WHERE = {
    "forecast": "api", "forecast_batch": "api", "make_forecaster": "api",
    "Curve": "curve", "CurveSet": "curve",
    "CurvecastError": "errors", "InputError": "errors", "UsageError": "errors",
    "CurvecastWarning": "errors",
    "Forecast": "forecast",
    "EnsembleForecaster": "forecasters", "FamilyForecaster": "forecasters",
    "Forecaster": "forecasters", "LastValue": "forecasters", "LearnedForecaster": "forecasters",
    "MCMCForecaster": "forecasters", "MeanLastK": "forecasters", "StudyForecaster": "forecasters",
}  # fmt: skip

__all__ = [
    "Curve",
    "CurveSet",
    "CurvecastError",
    "CurvecastWarning",
    "EnsembleForecaster",
    "FamilyForecaster",
    "Forecast",
    "Forecaster",
    "InputError",
    "LastValue",
    "LearnedForecaster",
    "MCMCForecaster",
    "MeanLastK",
    "StudyForecaster",
    "UsageError",
    "forecast",
    "forecast_batch",
    "make_forecaster",
]

if TYPE_CHECKING:
    from .api import forecast, forecast_batch, make_forecaster
    from .curve import Curve, CurveSet
    from .errors import CurvecastError, CurvecastWarning, InputError, UsageError
    from .forecast import Forecast
    from .forecasters import (
        EnsembleForecaster,
        FamilyForecaster,
        Forecaster,
        LastValue,
        LearnedForecaster,
        MCMCForecaster,
        MeanLastK,
        StudyForecaster,
    )


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'curvecast' has no attribute {name!r}")
    value = getattr(import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value  # loaded once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


class _Package(types.ModuleType):
    """Importing the submodule ``curvecast.forecast`` sets the package attribute of the
    same name; the function ``curvecast.forecast`` keeps it, as with eager imports."""

    def __setattr__(self, name: str, value) -> None:
        if name == "forecast" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
