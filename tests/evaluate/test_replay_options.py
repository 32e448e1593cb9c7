"""replay(options=...): ForecastPruner's settings reach the pruner of every repeat."""

from __future__ import annotations

import pytest

from curvecast.demo import sample_curves
from curvecast.evaluate.replay import replay
from curvecast.integrations import optuna as fp


def test_options_reach_forecast_pruner(monkeypatch):
    seen = []
    real = fp.ForecastPruner.__init__

    def spy(self, *args, **kw):
        seen.append(kw)
        real(self, *args, **kw)

    monkeypatch.setattr(fp.ForecastPruner, "__init__", spy)
    runs = list(sample_curves())
    res = replay(runs, ["forecast"], trials=6, repeats=2, forecaster="pow3",
                 options={"risk": 0.1, "study_model": "study"})
    assert len(res[0].compute) == 2
    assert [(k.get("risk"), k.get("study_model")) for k in seen] == [(0.1, "study")] * 2


def test_an_unknown_option_is_refused():
    with pytest.raises(TypeError):
        replay(list(sample_curves()), ["forecast"], trials=4, repeats=1,
               options={"riks": 0.1})
