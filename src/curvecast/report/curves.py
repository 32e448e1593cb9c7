"""The report of a curve file: what ``curvecast forecast FILE`` computes, drawn.

Every run is forecast at one step (:func:`curvecast.runs.forecast_runs`, the rows of
``curvecast forecast``). The page shows all of them at once in one summary plot and a
searchable ranked table, and draws forecast fans (50/80/95% bands and the median beyond
the last observed point) only for a bounded number: the ``top`` best forecasts and the
runs asked for by name, so a file of thousands of runs gives a page that still opens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from ..curve import Curve, CurveSet
from ..errors import UsageError
from ..forecasters import Forecaster
from ..runs import RunForecast, forecast_runs, run_forecaster
from .page import Markup, Page, band, esc, num, plot_text, view_range

FAN_LEVELS = (0.95, 0.8, 0.5)
FAN_POINTS = 60
"""Forecast steps per fan, evenly spaced from the earliest last step to the horizon."""
TOP = 20
BAND_ALPHA = {0.95: 0.15, 0.8: 0.25, 0.5: 0.4}


@dataclass(frozen=True)
class Stop:
    """Where a run was stopped early (a pruned Optuna trial) and the words that say why,
    drawn on its fan and written in the ranked table."""

    step: float
    text: str


@dataclass(frozen=True)
class Recorded:
    """A forecast made earlier, the one a decision rested on (a pruned trial's, recorded
    by ForecastPruner): from the run's values up to ``step``, of its value at ``at``, the
    ``median`` and the central ``level`` interval; ``best``, the best final it was
    compared with. Ranked, written and drawn instead of a new forecast, so the page shows
    what was decided."""

    step: float
    at: float
    median: float
    lower: float
    upper: float
    level: float = 0.8
    best: float | None = None

    def label(self, at: float, level: float) -> str:
        """Which forecast a row shows, in a report of step ``at`` and interval ``level``.

        >>> Recorded(12, 50, 5.1, 4.9, 5.3).label(50, 0.8)
        'recorded at step 12'
        >>> Recorded(12, 60, 5.1, 4.9, 5.3).label(50, 0.9)
        'recorded at step 12, of step 60, 80% interval'
        """
        out = f"recorded at step {self.step:g}"
        if self.at != at:
            out += f", of step {self.at:g}"
        if abs(self.level - level) > 1e-12:
            out += f", {self.level:.0%} interval"
        return out


def ranked(rows: Sequence[RunForecast], goal: str) -> list[RunForecast]:
    """Runs with a forecast best first (by median, in the goal's direction), then the rest
    in file order.

    >>> r = lambda n, m: RunForecast(n, "ok" if m else "diverged", 5, 1.0, 9, m, m, m)
    >>> [x.run for x in ranked([r("a", 2.0), r("b", None), r("c", 1.0)], "min")]
    ['c', 'a', 'b']
    """
    sign = 1.0 if goal == "min" else -1.0
    ok = sorted((r for r in rows if r.median is not None), key=lambda r: sign * r.median)
    return ok + [r for r in rows if r.median is None]


def _fan_names(order: Sequence[RunForecast], curves: CurveSet, top: int,
               asked: Sequence[str]) -> list[str]:
    missing = [n for n in asked if n not in set(curves.runs)]
    if missing:
        raise UsageError(f"--runs names {len(missing)} run(s) not in the file, e.g. "
                         f"{missing[0]!r}; the file has {len(curves)} runs")
    best = [r.run for r in order if r.median is not None][:top]
    return list(dict.fromkeys([*best, *asked]))


def _line(steps, values, name: str, mode: str = "lines", **style) -> go.Scatter:
    return go.Scatter(x=[float(s) for s in steps], mode=mode, name=name,
                      y=[float(v) if np.isfinite(v) else None for v in values], **style)


def fan_figure(c: Curve, x: np.ndarray, bands: dict, median: np.ndarray,
               truth: Curve | None = None, stop: Stop | None = None,
               title: str | None = None) -> go.Figure:
    """One run's fan: one filled trace per band (widest first), the median and the
    observed curve; with ``truth``, the whole run first (grey). Bands are drawn from the
    run's last observed step on; a run with no forecast (NaN) has empty bands. With
    ``stop``, a dashed red line at its step and its text (layout, not traces). The y axis
    shows :func:`~.page.view_range` of the curves and the 80% band (zoom out for the
    rest)."""
    ahead = (x >= c.last_step) & np.isfinite(median)
    xs = list(x[ahead])
    traces = []
    if truth is not None:
        traces.append(_line(truth.steps, truth.values, "whole run", line={"color": "#aaa"}))
    for lv in FAN_LEVELS:
        lo, hi = bands[lv][0][ahead], bands[lv][1][ahead]
        traces.append(band(xs, lo, hi, f"{lv:.0%} interval",
                           f"rgba(31,119,180,{BAND_ALPHA[lv]})"))
    traces.append(_line(xs, median[ahead], "forecast median", line={"color": "#1f77b4"}))
    traces.append(_line(c.steps, c.values, "observed", line={"color": "black"},
                        mode="lines+markers", marker={"size": 3}))
    fig = go.Figure(traces)
    fig.update_layout(title={"text": plot_text(title or c.run), "font": {"size": 13}},
                      xaxis_title="step", margin={"l": 50, "r": 10, "t": 40, "b": 40},
                      showlegend=False, hovermode="x")
    # The course of the run and its 80% band, not an untrained first point or a spike.
    seen = [c.values] + ([truth.values] if truth is not None else [])
    yrange = view_range(seen, [bands[0.8][0][ahead], bands[0.8][1][ahead]])
    if yrange is not None:
        fig.update_yaxes(range=yrange)
    _stop_line(fig, stop)
    return fig


def recorded_figure(c: Curve, rec: Recorded, truth: Curve | None = None,
                    stop: Stop | None = None) -> go.Figure:
    """One run's recorded forecast (see :class:`Recorded`), drawn as what it is, a
    forecast of one step: a dotted line from the value at the step it saw to the median
    at the step it forecast, with the interval as an error bar there, and the best final
    it was compared with (dotted, grey); the observed curve, and ``truth`` and ``stop``
    as in :func:`fan_figure`."""
    k = np.flatnonzero(c.steps <= rec.step)
    seen = float(c.values[k[-1]]) if k.size else float(c.values[-1])
    traces = []
    if truth is not None:
        traces.append(_line(truth.steps, truth.values, "whole run", line={"color": "#aaa"}))
    traces.append(go.Scatter(
        x=[float(rec.step), float(rec.at)], y=[seen, rec.median], mode="lines+markers",
        name=f"forecast recorded at step {rec.step:g}: median, {rec.level:.0%} interval",
        line={"color": "#1f77b4", "dash": "dot"}, marker={"size": [0, 7]},
        error_y={"type": "data", "symmetric": False, "thickness": 1.5, "width": 6,
                 "array": [0.0, rec.upper - rec.median],
                 "arrayminus": [0.0, rec.median - rec.lower]}))
    traces.append(_line(c.steps, c.values, "observed", line={"color": "black"},
                        mode="lines+markers", marker={"size": 3}))
    fig = go.Figure(traces)
    fig.update_layout(title={"text": plot_text(c.run), "font": {"size": 13}},
                      xaxis_title="step", margin={"l": 50, "r": 10, "t": 40, "b": 40},
                      showlegend=False, hovermode="x")
    extra = [v for v in (rec.lower, rec.upper, rec.best) if v is not None and np.isfinite(v)]
    yrange = view_range([c.values] + ([truth.values] if truth is not None else []), [extra])
    if yrange is not None:  # what the decision rested on stays in view
        lo, hi = min(yrange[0], *extra), max(yrange[1], *extra)
        pad = 0.05 * (hi - lo) if hi > lo else 0.0
        fig.update_yaxes(range=[lo - pad * (lo < yrange[0]), hi + pad * (hi > yrange[1])])
    _stop_line(fig, stop)
    if rec.best is not None and np.isfinite(rec.best):
        fig.add_hline(y=float(rec.best), line={"color": "#888", "dash": "dot", "width": 1},
                      annotation_text=plot_text(f"best final then {rec.best:.5g}"),
                      annotation_position="bottom right", annotation_font_size=10)
    return fig


def _stop_line(fig: go.Figure, stop: Stop | None) -> None:
    """A dashed red line at the step where the run was stopped, its text above."""
    if stop is not None:
        fig.add_vline(x=float(stop.step), line={"color": "#d62728", "dash": "dash", "width": 1})
        fig.add_annotation(x=float(stop.step), y=1, yref="paper", yanchor="bottom",
                           xanchor="left", showarrow=False, text=plot_text(stop.text),
                           font={"size": 10, "color": "#d62728"})


def _gap(a: float | None, b: float | None) -> float | None:
    """a - b, None where either is (an interval edge beyond float64: no bar)."""
    return None if a is None or b is None else a - b


def summary_figure(order: Sequence[RunForecast], at: float, level: float) -> go.Figure:
    """Every run with a forecast, best first: the median at ``at`` with its central interval
    (error bars), and the last observed value; the y axis spans the medians and last
    values (:func:`~.page.view_range`)."""
    ok = [r for r in order if r.median is not None]
    rank = list(range(1, len(ok) + 1))
    names = [plot_text(r.run) for r in ok]
    med = [r.median for r in ok]
    fig = go.Figure([
        go.Scatter(x=rank, y=med, mode="markers", name=f"forecast median, {level:.0%} interval",
                   marker={"size": 5, "color": "#1f77b4"}, hovertext=names,
                   error_y={"type": "data", "symmetric": False, "thickness": 1, "width": 0,
                            "array": [_gap(r.upper, r.median) for r in ok],
                            "arrayminus": [_gap(r.median, r.lower) for r in ok]}),
        go.Scatter(x=rank, y=[r.last for r in ok], mode="markers", name="last observed",
                   marker={"size": 4, "color": "black", "symbol": "x"}, hovertext=names),
    ])
    fig.update_layout(title=f"Forecast at step {at:g} of every run, best first",
                      xaxis_title="rank", yaxis_title="value", hovermode="closest",
                      margin={"t": 50})
    # The medians and last values; an interval wider than them runs off the plot.
    yrange = view_range([med, [np.nan if r.last is None else r.last for r in ok]],
                        skip_first=False)
    if yrange is not None:
        fig.update_yaxes(range=yrange)
    return fig


def curve_report(
    curves: CurveSet,
    *,
    at: float | None = None,
    level: float = 0.8,
    method: str | Forecaster = "ensemble",
    bound: float | None = None,
    top: int = TOP,
    runs: Sequence[str] = (),
    truth: CurveSet | None = None,
    title: str | None = None,
    stops: Mapping[str, Stop] | None = None,
    notes: Sequence[str] = (),
    extra: tuple[str, Sequence[str]] = ("", ()),
    recorded: Mapping[str, Recorded] | None = None,
) -> Page:
    """The page of a curve file: summary plot, ranked searchable table, fans for the
    ``top`` best forecasts and the ``runs`` named. ``truth``: the whole runs, where
    ``curves`` are their beginnings (the demo), drawn in grey in the fans. ``stops``:
    the runs stopped early (pruned trials), by name, shown in a "decision" column and on
    their fans; ``notes``: lines written under the first one; ``extra``: (words, names),
    more runs to draw fans of and the words that say which. ``recorded``: forecasts made
    earlier, by run (see :class:`Recorded`), shown instead of new ones; the table then
    says which forecast each row shows, and a new one of a stopped run is labelled a
    re-forecast.

    >>> from curvecast.demo import sample_curves
    >>> page = curve_report(sample_curves()[:6], method="last", top=2)
    >>> page.render().count('class="figure"')
    3
    """
    rows = forecast_runs(curves, at, level=level, method=method, bound=bound)
    at = rows[0].at
    recorded = dict(recorded) if recorded is not None else None
    by = method if isinstance(method, str) else type(method).__name__
    if recorded:
        rows = [RunForecast(r.run, "ok", r.n_points, r.last, at, recorded[r.run].median,
                            recorded[r.run].lower, recorded[r.run].upper)
                if r.run in recorded else r for r in rows]

    def shown(run: str) -> str:
        if run in recorded:
            return recorded[run].label(at, level)
        return f"re-forecast by {by}" if stops is not None and run in stops else "-"
    order = ranked(rows, curves.goal)
    fans = _fan_names(order, curves, top, [*runs, *extra[1]])
    n_ok = sum(r.median is not None for r in rows)

    page = Page(title or f"curvecast report: {curves.source or 'curves'}")
    page.note(f"{len(curves)} runs, goal {curves.goal}; forecast at step {at:g} by "
              f"{method if isinstance(method, str) else type(method).__name__}; "
              f"{n_ok} runs forecast, {len(rows) - n_ok} not (see status).")
    for line in notes:
        page.note(line)
    page.heading("All runs: forecast final, best first")
    page.figure(summary_figure(order, at, level))

    page.heading(f"Runs ranked by forecast at step {at:g}")
    fan_ids = {name: f"fan-{k}" for k, name in enumerate(fans)}
    table = []
    for k, r in enumerate(order, 1):
        name = esc(r.run)
        link = Markup(f'<a href="#{fan_ids[r.run]}">{name}</a>' if r.run in fan_ids else name)
        decision = ([stops[r.run].text if r.run in stops else "-"] if stops is not None
                    else [])
        which = [shown(r.run)] if recorded is not None else []
        table.append([str(k) if r.median is not None else "-", link, r.status, *decision,
                      *which, r.n_points, num(r.last), num(r.median), num(r.lower),
                      num(r.upper)])
    page.table(["rank", "run", "status", *(["decision"] if stops is not None else []),
                *(["forecast"] if recorded is not None else []),
                "points", "last", "median", f"lower {level:.0%}", f"upper {level:.0%}"],
               table, text_cols=3 + (stops is not None) + (recorded is not None),
               searchable=True)

    page.heading(f"Forecast fans (50/80/95%) of {len(fans)} runs: the {top} best"
                 + (f", {extra[0]}" if extra[1] else "") + " and any asked for with --runs")
    if fans:
        sel = [curves[n] for n in fans]
        fresh = [c for c in sel if not recorded or c.run not in recorded]
        starts = [c.last_step for c in fresh if c.last_step < at]
        x = np.unique(np.concatenate([np.linspace(min(starts, default=at), at, FAN_POINTS),
                                      starts, [at]]))
        if fresh:
            fc = run_forecaster(curves, at, method, bound).forecast(fresh, x)
            bands = {lv: fc.interval(lv, axis=0) for lv in FAN_LEVELS}
            med = fc.median
        page.html('<div class="fans">')
        for c in sel:
            real = truth[c.run] if truth is not None and c.run in set(truth.runs) else None
            stop = stops.get(c.run) if stops is not None else None
            if recorded and c.run in recorded:
                page.figure(recorded_figure(c, recorded[c.run], real, stop),
                            wrap=fan_ids[c.run])
                continue
            i = next(k for k, f in enumerate(fresh) if f is c)
            band = {lv: (b[0, i], b[1, i]) for lv, b in bands.items()}
            title = (f"{c.run} (re-forecast by {by})" if recorded is not None
                     and shown(c.run).startswith("re-forecast") else None)
            page.figure(fan_figure(c, x, band, med[i], real, stop, title),
                        wrap=fan_ids[c.run])
        page.html("</div>")
    return page
