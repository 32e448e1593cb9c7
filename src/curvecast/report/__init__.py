"""HTML reports: one self-contained file per curve file, replay or backtest result.

>>> from curvecast.report import build_report, write_report  # doctest: +SKIP
>>> kind, page = build_report("runs.csv", top=20)  # doctest: +SKIP
>>> write_report(page, "report.html")  # doctest: +SKIP
"""

from __future__ import annotations

from .build import KINDS, build_report, detect, write_report
from .curves import curve_report
from .evaluation import backtest_report, replay_report
from .page import Page, esc, script_json

__all__ = ["KINDS", "Page", "backtest_report", "build_report", "curve_report", "detect", "esc",
           "replay_report", "script_json", "write_report"]
