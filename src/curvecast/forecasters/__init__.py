"""Forecasting methods, one module each, sharing :class:`Forecaster`'s interface."""

from .base import Forecaster
from .baselines import LastValue, MeanLastK
from .ensemble import EnsembleForecaster
from .learned import LearnedForecaster
from .mcmc import MCMCForecaster
from .single import FamilyForecaster
from .study import StudyForecaster

METHODS = {
    "ensemble": LearnedForecaster,
    "bma": EnsembleForecaster,
    "last": LastValue,
    "mean_last": MeanLastK,
    "mcmc": MCMCForecaster,
    "study": StudyForecaster,
}
"""Forecasters by the name the command line uses."""

__all__ = ["METHODS", "EnsembleForecaster", "FamilyForecaster", "Forecaster", "LastValue",
           "LearnedForecaster",
           "MCMCForecaster", "MeanLastK", "StudyForecaster"]
