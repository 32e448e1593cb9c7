"""Report of a retraining replay (``curvecast retrain --json`` or ``-o``): per target and
model, each policy's forecast error and cumulative compute over time, every retraining
marked, and the table of results.

An adapter only: the numbers come from :func:`curvecast.retrain.run_retrain`.

>>> tr = {"policy": "fixed", "model": "ridge", "target": "T", "time": ["2020-01-02"],
...       "error": [1.0], "compute": [10.0], "retrain_times": ["2020-01-01"]}
>>> row = {"policy": "fixed", "model": "ridge", "target": "T", "mae": 1.0, "rmse": 1.2,
...        "retrains": 1, "compute": 10.0, "compute_fraction": 1.0, "error_ratio": 1.0,
...        "seconds": 0.1}
>>> retrain_report({"results": [row], "traces": [tr]}, "r.json").render().count('class="figure"')
2
"""

from __future__ import annotations

import plotly.graph_objects as go

from ..errors import InputError
from .page import Page, floats, num, plot_text

FIELDS = ("policy", "model", "target", "mae", "rmse", "retrains", "compute",
          "compute_fraction", "error_ratio", "seconds")
"""The keys of every row of ``curvecast retrain --json``."""


def is_retrain(results: list[dict]) -> bool:
    """Whether the rows are a retraining replay's (they have policy and compute_fraction)."""
    return all("policy" in r and "compute_fraction" in r for r in results)


def _interp_error(tr: dict, when: str) -> float | None:
    """The trace's binned error at the first bin ending at or after ``when``."""
    for t, e in zip(tr["time"], tr["error"], strict=True):
        if t >= when:
            return e
    return tr["error"][-1] if tr["error"] else None


def retrain_report(data: dict, file: str) -> Page:
    """Error and cumulative compute over time per policy (retrainings marked, for every
    policy but the plain schedules, which retrain on a clock), then the results table."""
    rows = data["results"]
    for i, r in enumerate(rows):
        for k in FIELDS:
            if k not in r:
                raise InputError(f"result row {i + 1} has no {k!r}; give the JSON that "
                                 "'curvecast retrain --json' printed", file=file)
    traces = data.get("traces") or []
    if not isinstance(traces, list):
        raise InputError("'traces' must be a list", file=file)
    page = Page(f"curvecast report: retraining {file}")
    s = data.get("settings") or {}
    page.note(f"Decisions every {s.get('every', '?')}, forecasts {s.get('horizon', '?')} "
                  f"ahead, plain window {s.get('window', '?')}. Error: mean absolute error of "
                  "each forecast, averaged over bins of time. Compute: rows x passes of every "
                  "retraining, summed. Markers: retrainings. error_ratio and compute_fraction "
                  "are against 'fixed' (retrain at every decision) with the same model.")
    groups = sorted({(str(r["target"]), str(r["model"])) for r in rows})
    for target, model in groups:
        mine = [t for t in traces if isinstance(t, dict) and str(t.get("target")) == target
                and str(t.get("model")) == model]
        if not mine:
            continue
        page.heading(f"{target}, {model}")
        err, comp = go.Figure(), go.Figure()
        for tr in mine:
            name = plot_text(tr["policy"])
            err.add_trace(go.Scatter(x=tr["time"], y=floats([v if v is not None else float("nan")
                                                              for v in tr["error"]]),
                                     mode="lines", name=name, legendgroup=name))
            comp.add_trace(go.Scatter(x=tr["time"], y=floats(tr["compute"]), mode="lines",
                                      name=name, legendgroup=name))
            marks = tr.get("retrain_times") or []
            if marks and not str(tr["policy"]).startswith("fixed"):
                err.add_trace(go.Scatter(
                    x=marks, y=floats([_interp_error(tr, m) or float("nan") for m in marks]),
                    mode="markers", marker={"symbol": "triangle-up", "size": 6},
                    name=f"{name} retrains", legendgroup=name, showlegend=False))
        err.update_layout(xaxis_title="time", yaxis_title="mean absolute error",
                          title=plot_text(f"{target}, {model}: forecast error"))
        comp.update_layout(xaxis_title="time", yaxis_title="cumulative compute (rows x passes)",
                           yaxis_type="log", title=plot_text(f"{target}, {model}: compute"))
        page.figure(err)
        page.figure(comp)
    page.heading("Results")
    page.table(["target", "model", "policy", "mae", "rmse", "retrains", "compute",
                "compute fraction", "error ratio", "seconds"],
               [[r["target"], r["model"], r["policy"], num(r["mae"]),
                 num(r["rmse"]), r["retrains"], num(r["compute"]), num(r["compute_fraction"], 4),
                 num(r["error_ratio"], 4), num(r["seconds"], 3)] for r in rows], text_cols=3)
    return page
