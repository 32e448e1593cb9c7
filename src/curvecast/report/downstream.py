"""Report of a downstream-accuracy forecast (``curvecast scaling downstream --html``).

An adapter only: the forecast comes from :func:`curvecast.scaling.downstream.holdout_forecast`;
this module draws, per metric, accuracy against training compute C = 6 N D: every row of
the table (the models fitted, faint, and the held-out models' other rows), the held-out
models' true accuracy at their final rows, and the forecast with its interval as a band
joining the held-out models (and error bars at each), then a table of the points.

>>> import numpy as np, pandas as pd
>>> from curvecast.scaling.downstream import DownstreamPoint, DownstreamResult
>>> t = pd.DataFrame({"n": [1e8, 1e9, 1e10], "d": [2e9, 2e10, 2e11], "acc": [.3, .5, .7]})
>>> r = DownstreamResult([DownstreamPoint("acc", None, 1e10, 2e11, .7, .68, .6, .75)], 0.9,
...                      {"acc": "direct-sigmoid"}, {})
>>> downstream_report(t, r, n="n", d="d", metrics=["acc"]).render().count('class="figure"')
1
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ..scaling.downstream import K_FLOPS, DownstreamResult
from .page import Page, band, floats, num, plot_text

BAND = "rgba(214, 39, 40, 0.18)"


def _metric_figure(table: pd.DataFrame, result: DownstreamResult, metric: str, *, n: str,
                   d: str, group: str | None) -> go.Figure:
    nn, dd, y = (pd.to_numeric(table[col], errors="coerce").to_numpy(float)
                 for col in (n, d, metric))
    c = K_FLOPS * nn * dd
    pts = sorted((p for p in result.points if p.metric == metric), key=lambda p: p.n * p.d)
    pc = np.array([K_FLOPS * p.n * p.d for p in pts])
    who = [""] * len(table) if group is None else [f"{g}, " for g in table[group].astype(str)]
    hover = [f"{w}N {a:.3g}, D {b:.3g}: {v:.4g}" for w, a, b, v in zip(who, nn, dd, y,
                                                                       strict=True)]
    traces = [go.Scatter(x=floats(c), y=floats(y), mode="markers", name="every row",
                         marker={"color": "#888", "size": 5, "opacity": 0.5},
                         hovertext=hover, hoverinfo="text")]
    if len(pts) > 1:
        traces.append(band(pc, [p.lower for p in pts], [p.upper for p in pts],
                           f"{result.level:.0%} interval", BAND))
    traces += [
        go.Scatter(x=floats(pc), y=[p.pred for p in pts], mode="markers+lines",
                   name=f"forecast ({result.methods.get(metric, '?')})",
                   line={"color": "#d62728", "dash": "dot"},
                   error_y={"type": "data", "symmetric": False,
                            "array": [p.upper - p.pred for p in pts],
                            "arrayminus": [p.pred - p.lower for p in pts]}),
        go.Scatter(x=floats(pc), y=[p.true for p in pts], mode="markers", name="held out: true",
                   marker={"color": "#111", "symbol": "x", "size": 9}),
    ]
    fig = go.Figure(traces)
    fig.update_layout(title={"text": f"{plot_text(metric)}: accuracy against compute"},
                      xaxis={"type": "log", "title": f"training compute C = {K_FLOPS:g} N D"},
                      yaxis={"title": "accuracy"}, hovermode="closest")
    return fig


def downstream_report(table: pd.DataFrame, result: DownstreamResult, *, n: str, d: str,
                      metrics: Sequence[str], group: str | None = None,
                      source: str = "") -> Page:
    """The page for ``result``, forecast from ``table`` (columns ``n``, ``d``, the
    ``metrics`` and ``group`` as the forecast read them)."""
    page = Page(f"curvecast downstream report{': ' + source if source else ''}")
    page.note(f"Held-out models' accuracy forecast from the smaller models: mean absolute "
              f"error {result.mean_abs_error:.4f}, {result.level:.0%} interval coverage "
              f"{result.coverage:.0%} over {len(result.points)} points. Intervals carry "
              "both stages' bootstrap (the loss law's and the link's) and the extrapolation "
              "error measured on the small models' own largest sizes.")
    for metric in metrics:
        page.heading(str(metric))
        errs = result.inner_errors.get(metric, {})
        if errs:
            page.note("inner held-out error by method: " + ", ".join(
                f"{k} {v:.4f}" for k, v in errs.items()) + f"; chosen: {result.methods[metric]}")
        page.figure(_metric_figure(table, result, metric, n=n, d=d, group=group))
    page.table(["metric", "group", "N", "D", "true", "pred", f"lower ({result.level:.0%})",
                "upper"],
               [[p.metric, "-" if p.group is None else p.group, num(p.n), num(p.d),
                 num(p.true), num(p.pred), num(p.lower), num(p.upper)] for p in result.points])
    return page
