"""Evaluation on real curves: backtests and their scoring rules."""

from .backtest import CUTOFFS, LEVELS, Backtest, Score, backtest

__all__ = ["CUTOFFS", "LEVELS", "Backtest", "Score", "backtest"]
