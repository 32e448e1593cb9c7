"""curvecast: forecast where training runs will end, with honest uncertainty.

>>> import curvecast
>>> f = curvecast.forecast([1, 2, 3, 4, 5], [1.0, 0.7, 0.6, 0.55, 0.52], at=50)
>>> f.median.shape
(1,)
"""

from .api import forecast, forecast_batch, make_forecaster
from .curve import Curve, CurveSet
from .errors import CurvecastError, InputError, UsageError
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

__all__ = [
    "Curve",
    "CurveSet",
    "CurvecastError",
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
