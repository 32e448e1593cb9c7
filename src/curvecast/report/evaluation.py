"""Reports of ``curvecast replay --json`` and ``curvecast backtest --json`` output.

Only what those files hold is drawn (their keys are documented in the README): a replay
gives, per pruner, the compute used and the regret (mean and worst over repeats); a
backtest gives, per method, cutoff and context, the coverage of the central 50/80/90%
intervals, which is the calibration: stated against observed coverage.
"""

from __future__ import annotations

import plotly.graph_objects as go

from ..errors import InputError
from .page import Page, num, plot_text


def _field(row: dict, key: str, i: int, file: str):
    if not isinstance(row, dict) or key not in row:
        raise InputError(f"result {i + 1} has no {key!r}; give the JSON that "
                         "'curvecast replay --json' or 'curvecast backtest --json' printed",
                         file=file)
    return row[key]


def _number(v, what: str, i: int, file: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise InputError(f"result {i + 1}: {what} is {v!r}, not a number", file=file)
    return float(v)


def _mean_worst(row: dict, key: str, i: int, file: str) -> tuple[float, float]:
    d = _field(row, key, i, file)
    if not isinstance(d, dict):
        raise InputError(f"result {i + 1}: {key} must hold 'mean' and 'worst'", file=file)
    return tuple(_number(_field(d, k, i, file), f"{key}.{k}", i, file) for k in ("mean", "worst"))


def replay_report(data: dict, file: str) -> Page:
    """Compute used against regret, one trace per pruner (the mean over repeats, a bar
    out to the worst repeat), and the table of every number the replay recorded.

    >>> row = {"pruner": "nop", "compute_fraction": {"mean": 1.0, "worst": 1.0},
    ...        "regret": {"mean": 0.0, "worst": 0.0}}
    >>> replay_report({"results": [row]}, "r.json").render().count('class="figure"')
    1
    """
    rows = []
    for i, r in enumerate(data["results"]):
        name = str(_field(r, "pruner", i, file))
        rows.append((name, _mean_worst(r, "compute_fraction", i, file),
                     _mean_worst(r, "regret", i, file), r))
    page = Page(f"curvecast report: replay {file}")
    page.note("Each pruner replayed the same random draws of the recorded runs. Compute: steps "
              "reported as a fraction of all steps (nop = 1). Regret: 0 kept the best run, "
              "1 did no better than a typical run. Points are means over repeats; bars reach "
              "the worst repeat. Lower left is better.")
    page.heading("Compute used against regret, per pruner")
    fig = go.Figure([
        go.Scatter(x=[c[0]], y=[g[0]], mode="markers+text", name=plot_text(name), text=[plot_text(name)],
                   textposition="top center", marker={"size": 10},
                   error_x={"type": "data", "symmetric": False, "array": [c[1] - c[0]],
                            "arrayminus": [0]},
                   error_y={"type": "data", "symmetric": False, "array": [g[1] - g[0]],
                            "arrayminus": [0]})
        for name, c, g, _ in rows])
    fig.update_layout(xaxis_title="compute used (fraction of all steps)",
                      yaxis_title="regret", hovermode="closest")
    page.figure(fig)
    page.heading("Pruners")
    page.table(["pruner", "compute mean", "compute worst", "regret mean", "regret worst",
                "latency ms", "p90 ms", "repeats", "seconds"],
               [[name, num(c[0], 3), num(c[1], 3), num(g[0], 3), num(g[1], 3),
                 num(r.get("latency_ms"), 3), num(r.get("latency_p90_ms"), 3),
                 r.get("repeats", "-"), num(r.get("seconds"), 3)] for name, c, g, r in rows])
    return page


def _coverage(r: dict, i: int, file: str) -> list[tuple[float, float]]:
    cov = _field(r, "coverage", i, file)
    if not isinstance(cov, dict):
        raise InputError(f"result {i + 1}: coverage must map levels to fractions", file=file)
    try:
        pairs = sorted((float(k), _number(v, f"coverage[{k!r}]", i, file)) for k, v in cov.items())
    except ValueError:
        raise InputError(f"result {i + 1}: coverage levels must be numbers, got "
                         f"{list(cov)!r}", file=file) from None
    return pairs


def backtest_report(data: dict, file: str) -> Page:
    """Calibration (stated against observed coverage, one trace per method and context,
    one line per cutoff, and the diagonal), error against cutoff, and the score table.

    >>> row = {"method": "last", "cutoff": 0.2, "nmae": 0.5, "coverage": {"0.5": 0.3, "0.8": 0.6}}
    >>> backtest_report({"results": [row]}, "b.json").render().count('class="figure"')
    2
    """
    groups: dict[tuple[str, int], list] = {}
    for i, r in enumerate(data["results"]):
        key = (str(_field(r, "method", i, file)), int(r.get("context") or 0))
        cutoff = _number(_field(r, "cutoff", i, file), "cutoff", i, file)
        groups.setdefault(key, []).append((cutoff, _coverage(r, i, file), r))
    with_k = any(k for _, k in groups)

    def label(method: str, k: int) -> str:
        return plot_text(f"{method}, {k} runs seen whole" if with_k else method)

    page = Page(f"curvecast report: backtest {file}")
    n, ex = data.get("n_runs"), data.get("excluded")
    page.note(f"{n if n is not None else '?'} complete runs scored "
              f"({ex if ex is not None else '?'} excluded). Each forecast saw the first part "
              "(the cutoff) of every run and forecast its final value; a calibrated method "
              "lies on the diagonal.")
    page.heading("Calibration: stated against observed coverage of the central intervals")
    traces = [go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="calibrated",
                         line={"color": "#999", "dash": "dot"}, hoverinfo="skip")]
    for (method, k), items in groups.items():
        xs, ys, hover = [], [], []
        for cutoff, pairs, _ in sorted(items, key=lambda t: t[0]):
            for lv, obs in pairs:
                xs.append(lv)
                ys.append(obs)
                hover.append(f"{label(method, k)}<br>cutoff {cutoff:g}: stated {lv:.0%}, "
                             f"observed {obs:.1%}")
            xs.append(None)  # one line per cutoff
            ys.append(None)
            hover.append("")
        traces.append(go.Scatter(x=xs, y=ys, mode="lines+markers", name=label(method, k),
                                 hovertext=hover, hoverinfo="text"))
    fig = go.Figure(traces)
    fig.update_layout(xaxis={"title": "stated coverage", "range": [0, 1]},
                      yaxis={"title": "observed coverage", "range": [0, 1]},
                      hovermode="closest")
    page.figure(fig)

    page.heading("Error of the forecast final against cutoff (nmae: mae / IQR of the finals)")
    fig = go.Figure([
        go.Scatter(x=[c for c, _, _ in sorted(items, key=lambda t: t[0])],
                   y=[r.get("nmae") for _, _, r in sorted(items, key=lambda t: t[0])],
                   mode="lines+markers", name=label(method, k))
        for (method, k), items in groups.items()])
    fig.update_layout(xaxis_title="cutoff (fraction of each run seen)", yaxis_title="nmae",
                      hovermode="closest")
    page.figure(fig)

    page.heading("Scores")
    levels = sorted({lv for items in groups.values() for _, pairs, _ in items for lv, _ in pairs})
    table = []
    for (method, k), items in groups.items():
        for cutoff, pairs, r in sorted(items, key=lambda t: t[0]):
            cov = dict(pairs)
            table.append([method, *([k] if with_k else []), f"{cutoff:g}",
                          *(num(r.get(key), 4) for key in ("mae", "nmae", "log_score", "crps")),
                          *(num(cov.get(lv), 3) for lv in levels),
                          num(r.get("spearman"), 3), r.get("failures", "-")])
    page.table(["method", *(["context"] if with_k else []), "cutoff", "mae", "nmae",
                "log score", "crps", *(f"cov{lv:.0%}" for lv in levels), "spearman",
                "failures"], table, searchable=len(table) > 20)
    return page
