"""The weather series the retraining simulator is tested on (``curvecast retrain``).

* :func:`load_jena2020`: the Max Planck Institute for Biogeochemistry roof station,
  Jena, 2020, every 10 minutes, 21 variables (the "weather" benchmark of long-horizon
  forecasting papers, via Kyushu-U-AI/CME-Mamba); -9999 sentinels and one repeated
  timestamp, repaired and counted in the report.
* :func:`load_noaa_wth`: US NOAA local climatological data, one station, hourly
  2010-2013, 12 variables (Informer's "WTH" benchmark).

Both return a :class:`curvecast.retrain.Series` of the columns asked for (all by default).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from .loaders import _need, data_dir

JENA_FILE = "weather/jena2020/weather.csv"
WTH_FILE = "weather/noaa_wth/WTH.csv"
JENA_TARGETS = ("T (degC)", "wv (m/s)", "rh (%)")
"""Temperature, wind speed, relative humidity: the paper's targets where the data has
them (no cloud cover here: humidity instead)."""
WTH_TARGETS = ("DryBulbCelsius", "WindSpeed", "RelativeHumidity")


def _load(rel: str, what: str, columns: Sequence[str] | None, path):
    import pandas as pd

    from ..retrain.series import read_series

    file = _need(data_dir(path) / rel, what)
    if columns is None:
        header = pd.read_csv(file, nrows=0, encoding="latin-1").columns
        columns = [c for c in header if c != "date"]
    return read_series(file, time="date", columns=list(columns))


def load_jena2020(columns: Sequence[str] | None = JENA_TARGETS,
                  path: str | os.PathLike | None = None):
    """Jena 2020, 10-minute (``columns=None``: all 21 variables).

    >>> s = load_jena2020()  # doctest: +SKIP
    >>> s.step_seconds, s.report["duplicates"]  # doctest: +SKIP
    (600, 1)
    """
    return _load(JENA_FILE, "the Jena 2020 weather series", columns, path)


def load_noaa_wth(columns: Sequence[str] | None = WTH_TARGETS,
                  path: str | os.PathLike | None = None):
    """NOAA WTH, hourly 2010-2013 (``columns=None``: all 12 variables).

    >>> s = load_noaa_wth()  # doctest: +SKIP
    >>> s.step_seconds, len(s)  # doctest: +SKIP
    (3600, 35064)
    """
    return _load(WTH_FILE, "the NOAA WTH weather series", columns, path)
