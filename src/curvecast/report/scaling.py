"""Report of scaling-law fits (``curvecast scaling report``): points, law, band, frontier.

An adapter only: fits, predictions and allocations come from :mod:`curvecast.scaling`
(``fit_law``, ``ScalingFit.predict``, ``compute_optimal``); this module picks where to
draw them and draws them. Per group, for a law of N and D (chinchilla,
data_constrained): loss against N on log axes, the runs coloured by D, and the law's
predicted loss with its interval along the compute-optimal frontier, from the smallest
compute seen to 10x the largest; then N* and D* against compute with their intervals,
from the smallest compute seen to 100x the largest. For a one-variable law: loss against
x, the runs, and the fitted law with its interval out to 10x the largest x. Each group
also gets its parameter table and the fit's warnings.

>>> import numpy as np
>>> from curvecast.scaling import fit_law, read_points
>>> from curvecast.scaling.table import Points
>>> x = np.geomspace(10, 1e4, 12)
>>> pts = Points(None, {"x": x}, 0.5 + 3 * x**-0.4, np.arange(12))
>>> fit = fit_law("power", pts.X, pts.y, n_boot=5)
>>> scaling_report(fit.law, [(pts, fit)], "runs.csv").render().count('class="figure"')
1
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from ..scaling import Law, Points, ScalingFit, compute_optimal
from .page import Page, band, floats, num, plot_text

EXTEND_CURVE = 10.0  # the fitted curve goes to this many times the largest compute (or x) seen
EXTEND_FRONTIER = 100.0  # the frontier plot goes to this many times the largest compute seen
GRID = 60  # points along each drawn curve
BAND = "rgba(31, 119, 180, 0.2)"
BAND_D = "rgba(255, 127, 14, 0.2)"


def _seen_line(x: float, text: str) -> dict:
    """A dotted vertical line (a layout shape, not a trace) at the edge of the data."""
    return {"type": "line", "xref": "x", "yref": "paper", "x0": x, "x1": x, "y0": 0, "y1": 1,
            "line": {"color": "#999", "dash": "dot", "width": 1}, "name": text}


def _out_to(lo: float, hi: float, factor: float) -> np.ndarray:
    """GRID points from ``lo`` to ``factor`` times ``hi`` on a log scale, stopping short
    of float64's largest number (inputs near 1e308 must not make the grid inf).

    >>> float(_out_to(1.0, 1e307, 100.0)[-1]) < float("inf")
    True
    """
    top = min(hi * factor, np.finfo(float).max / 2) if np.isfinite(hi) else hi
    return np.geomspace(lo, max(top, lo), GRID)


def _usable(*arrays) -> np.ndarray:
    """Where every array is positive and finite (a law's inputs, the split it gives)."""
    ok = np.ones(len(arrays[0]), bool)
    for a in arrays:
        a = np.asarray(a, float)
        ok &= np.isfinite(a) & (a > 0)
    return ok


def _inputs(law: Law, n, d) -> dict[str, np.ndarray]:
    """The law's inputs at (N, D); every token fresh (U = D) for a law that reads U, as
    on the compute-optimal frontier."""
    X = {"n": n, "d": d}
    if "u" in law.inputs:
        X["u"] = d
    return X


def _two_variable(page: Page, law: Law, pts: Points, fit: ScalingFit, *, k: float,
                  level: float, label: str) -> None:
    n, d = pts.X["n"], pts.X["d"]
    with np.errstate(over="ignore"):
        seen = k * n * d
    lo, hi = float(seen.min()), float(seen.max())

    # loss against N: the runs by D, the law along the frontier to 10x the compute seen
    grid = _out_to(lo, hi, EXTEND_CURVE)
    alloc = compute_optimal(fit, grid, k=k, level=level)
    n_opt = np.array([a.n_opt.estimate for a in alloc])
    d_opt = np.array([a.d_opt.estimate for a in alloc])
    # A degenerate fit (a flat loss, an exponent at 0) has no finite split: the runs
    # are drawn, the frontier where it exists, and a note says why the rest is missing.
    on = _usable(n_opt, d_opt)
    if not on.all():
        page.note(f"{pts.where}the fitted law has no finite compute-optimal split "
                  f"{'at some' if on.any() else 'at any'} of these budgets (its parameters "
                  "are degenerate: see the warnings and the parameter table); "
                  f"{'only where it has one is it' if on.any() else 'nothing is'} drawn along it.")
    grid, n_opt, d_opt = grid[on], n_opt[on], d_opt[on]
    traces = []
    if on.any():
        pr = fit.predict(_inputs(law, n_opt, d_opt), level)
        traces = [
            band(n_opt, pr.lower, pr.upper, f"{level:.0%} interval", BAND),
            go.Scatter(x=floats(n_opt), y=floats(pr.pred), mode="lines",
                       name="law at the compute-optimal N*, D*", line={"color": "#1f77b4"},
                       hovertext=[f"C {c:.3g}: N* {a:.3g}, D* {b:.3g}, loss {p:.4g}"
                                  for c, a, b, p in zip(grid, n_opt, d_opt, pr.pred,
                                                        strict=True)],
                       hoverinfo="text"),
        ]
    hover = [f"N {a:.3g}, D {b:.3g}, loss {c:.4g}" for a, b, c in zip(n, d, pts.y, strict=True)]
    fig = go.Figure([
        go.Scatter(x=floats(n), y=floats(pts.y), mode="markers", name="runs (colour: log10 D)",
                   hovertext=hover, hoverinfo="text",
                   marker={"color": floats(np.log10(d)), "colorscale": "Viridis", "size": 7,
                           "showscale": True, "colorbar": {"title": {"text": "log10 D"}}}),
        *traces,
    ])
    fig.update_layout(title={"text": f"{label}loss against N"},
                      xaxis={"type": "log", "title": "parameters N"},
                      yaxis={"type": "log", "title": "loss"}, hovermode="closest",
                      legend={"x": 0, "y": 0, "yanchor": "bottom"},
                      shapes=[_seen_line(float(n.max()), "largest N seen")])
    page.figure(fig)

    # the frontier: N* and D* against compute, to 100x the compute seen
    if not on.any():
        return
    grid = _out_to(lo, hi, EXTEND_FRONTIER)
    alloc = compute_optimal(fit, grid, k=k, level=level)
    traces = []
    for what, color, fill in (("n_opt", "#1f77b4", BAND), ("d_opt", "#ff7f0e", BAND_D)):
        est = [getattr(a, what) for a in alloc]
        name = "N*" if what == "n_opt" else "D*"
        traces += [band(grid, [e.lower for e in est], [e.upper for e in est],
                         f"{name} {level:.0%} interval", fill),
                   go.Scatter(x=floats(grid), y=[e.estimate for e in est], mode="lines", name=name,
                              line={"color": color})]
    fig = go.Figure(traces)
    fig.update_layout(title={"text": f"{label}compute-optimal N* and D* (C = {k:g} N D)"},
                      xaxis={"type": "log", "title": "training compute C (FLOPs)"},
                      yaxis={"type": "log", "title": "parameters N*, tokens D*"},
                      hovermode="x unified", shapes=[_seen_line(hi, "largest compute seen")])
    page.figure(fig)


def _one_variable(page: Page, pts: Points, fit: ScalingFit, *, level: float,
                  label: str) -> None:
    x = pts.X["x"]
    grid = _out_to(float(x.min()), float(x.max()), EXTEND_CURVE)
    pr = fit.predict({"x": grid}, level)
    fig = go.Figure([
        go.Scatter(x=floats(x), y=floats(pts.y), mode="markers", name="runs", marker={"color": "#222"}),
        band(grid, pr.lower, pr.upper, f"{level:.0%} interval", BAND),
        go.Scatter(x=floats(grid), y=floats(pr.pred), mode="lines", name=f"{fit.law.name} fit",
                   line={"color": "#1f77b4"}),
    ])
    fig.update_layout(title={"text": f"{label}loss against x"},
                      xaxis={"type": "log", "title": "x"}, yaxis={"type": "log", "title": "loss"},
                      hovermode="closest", shapes=[_seen_line(float(x.max()), "largest x seen")])
    page.figure(fig)


def scaling_report(law: Law, fits: Sequence[tuple[Points, ScalingFit]], file: str, *,
                   k: float = 6.0, level: float = 0.9) -> Page:
    """The page for ``fits`` (one ``(points, fit)`` per group, as ``curvecast scaling``
    reads and fits them) of ``law`` to the runs in ``file``."""
    page = Page(f"curvecast scaling report: {law.name} on {file}")
    one = "d" not in law.inputs
    page.note(f"{law.formula} ({law.citation}). Intervals: {level:.0%} predictive intervals "
              "for one new run (bootstrap over runs, widened beyond the data at the rate the "
              "fit's own refits without the largest runs show); parameter intervals are "
              "bootstrap percentiles. Dotted lines mark the edge of the data. "
              + ("The curve runs to 10x the largest x seen."
                 if one else
                 f"The law's curve follows the compute-optimal split under C = {k:g} N D (every "
                 "token fresh) from the smallest compute seen to 10x the largest; the frontier "
                 "runs to 100x the largest."))
    for pts, fit in fits:
        label = "" if pts.group is None else f"{plot_text(pts.group)}: "
        page.heading(f"group {pts.group}" if pts.group is not None else law.name)
        page.note(f"{fit.n_points} runs"
                  + (f", {pts.dropped} with a NaN or inf loss dropped (diverged)"
                     if pts.dropped else "")
                  + f"; {len(fit.boot_)} bootstrap replicates; log-residual scale "
                    f"{fit.residual_scale:.3g}.")
        for w in fit.warnings_:
            page.note(f"warning: {w}")
        if one:
            _one_variable(page, pts, fit, level=level, label=label)
        else:
            _two_variable(page, law, pts, fit, k=k, level=level, label=label)
        page.table(["parameter", "estimate", "se", f"lower ({level:.0%})", "upper"],
                   [[name, num(e.estimate), num(e.se, 3), num(e.lower), num(e.upper)]
                    for name, e in fit.parameters(level).items()])
    return page
