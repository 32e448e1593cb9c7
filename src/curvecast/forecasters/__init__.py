"""Forecasting methods, one module each, sharing :class:`Forecaster`'s interface."""

from .base import Forecaster
from .baselines import LastValue, MeanLastK
from .direct import DirectForecaster
from .ensemble import EnsembleForecaster
from .joint import JointForecaster
from .learned import LearnedForecaster
from .mcmc import MCMCForecaster
from .single import FamilyForecaster
from .study import StudyForecaster

METHODS = {
    "ensemble": LearnedForecaster,
    "bma": EnsembleForecaster,
    "direct": DirectForecaster,
    "joint": JointForecaster,
    "last": LastValue,
    "mean_last": MeanLastK,
    "mcmc": MCMCForecaster,
    "study": StudyForecaster,
}
"""Forecasters by the name the command line uses."""

__all__ = ["METHODS", "DirectForecaster", "EnsembleForecaster", "FamilyForecaster", "Forecaster",
           "JointForecaster",
           "LastValue",
           "LearnedForecaster",
           "MCMCForecaster", "MeanLastK", "StudyForecaster"]
