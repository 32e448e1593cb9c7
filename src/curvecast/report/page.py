"""One self-contained HTML page: plotly.js inline, figures as inert JSON, names escaped.

Every text that came from the data (run names, methods, pruners, file names) goes
through :func:`esc` before it reaches the page, and through :func:`plot_text` before it
reaches a figure: plotly draws its titles, legends and hover text from a subset of HTML
and shows escaped entities as plain text, so ``<script>`` in a run name is displayed,
never parsed. Figures are embedded as
``<script type="application/json">`` blocks written by :func:`script_json`, in which no
``<``, ``>`` or ``&`` survives, so no string inside can close the block.

>>> page = Page("demo")
>>> page.figure({"data": [{"type": "scatter", "x": [1], "y": [2]}], "layout": {}})
'plot-0'
>>> "Plotly.newPlot" in page.render()
True
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1400px; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 2em; }
.plot { width: 100%; height: 460px; }
.fans { display: grid; grid-template-columns: repeat(auto-fill, minmax(440px, 1fr)); gap: 8px; }
.fans .plot { height: 340px; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { padding: 2px 8px; border-bottom: 1px solid #ddd; text-align: right; }
th.text, td.text { text-align: left; }
.scroll { max-height: 600px; overflow-y: auto; display: inline-block; }
input.filter { margin: 0.5em 0; padding: 3px; width: 24em; }
.note { color: #555; font-size: 0.9em; }
"""

# Draws every embedded figure, then wires each search box to its table (matching any
# cell's text, case-insensitively). Data reach the page only as JSON, never as code.
SCRIPT = """
document.querySelectorAll('script.figure').forEach(function (s) {
  var fig = JSON.parse(s.textContent);
  Plotly.newPlot(s.dataset.target, fig.data, fig.layout,
                 {responsive: true, displaylogo: false});
});
document.querySelectorAll('input.filter').forEach(function (box) {
  var table = document.getElementById(box.dataset.table);
  var count = document.getElementById(box.dataset.count);
  box.addEventListener('input', function () {
    var q = box.value.toLowerCase(), shown = 0;
    Array.prototype.forEach.call(table.tBodies[0].rows, function (tr) {
      var hit = tr.textContent.toLowerCase().indexOf(q) >= 0;
      tr.style.display = hit ? '' : 'none';
      shown += hit ? 1 : 0;
    });
    count.textContent = shown;
  });
});
"""


def esc(text) -> str:
    """HTML-escaped text, quotes included (safe in element text and attribute values).

    >>> esc("<script>alert(1)</script>")
    '&lt;script&gt;alert(1)&lt;/script&gt;'
    """
    return html.escape(str(text), quote=True)


def plot_text(text) -> str:
    """Text for a plotly title, legend, label or hover text: ``&``, ``<`` and ``>`` escaped,
    quotes not. plotly reads such text as a small subset of HTML and decodes only a few
    named entities (``&amp;``, ``&lt;``, ``&gt;``, not ``&quot;``), so :func:`esc`'s
    ``&quot;`` would show as written.

    >>> plot_text('<b>"lr=0.1" & wd</b>')
    '&lt;b&gt;"lr=0.1" &amp; wd&lt;/b&gt;'
    """
    return html.escape(str(text), quote=False)


def _plain(obj):
    """Plain JSON values: numpy arrays and scalars to Python, NaN and inf to None."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | np.ndarray):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def script_json(obj) -> str:
    """Strict JSON that is inert inside a ``<script>`` block: ``<``, ``>`` and ``&`` are
    written as ``\\u003c``, ``\\u003e``, ``\\u0026`` (the same string to a JSON parser).

    >>> script_json({"run": "</script>", "v": float("nan")})
    '{"run":"\\\\u003c/script\\\\u003e","v":null}'
    """
    text = json.dumps(_plain(obj), allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def num(v, digits: int = 5) -> str:
    """A number for a table cell: ``digits`` significant digits, '-' for none.

    >>> num(0.123456), num(None), num(float("nan"))
    ('0.12346', '-', '-')
    """
    if v is None or not math.isfinite(float(v)):
        return "-"
    return f"{float(v):.{digits}g}"


def floats(a) -> list[float]:
    """Plain floats: plotly would write numpy arrays as base64 binary blobs."""
    return np.asarray(a, float).tolist()


def band(x, lower, upper, name: str, color: str) -> go.Scatter:
    """The interval as one closed, filled polygon (out along the upper edge, back along
    the lower), not hovered."""
    x = np.asarray(x, float)
    return go.Scatter(x=floats(np.concatenate([x, x[::-1]])),
                      y=floats(np.concatenate([np.asarray(upper, float),
                                              np.asarray(lower, float)[::-1]])),
                      fill="toself", fillcolor=color, line={"width": 0}, mode="lines",
                      name=name, hoverinfo="skip")


FENCE = 4.0
"""Interquartile ranges beyond the quartiles that :func:`view_range` still shows."""


def view_range(series, bands=(), pad: float = 0.05, skip_first: bool = True
               ) -> list[float] | None:
    """A y range that shows the curves' course, not their outliers: the 0.5-99.5%
    quantiles of the finite values of ``series`` and ``bands`` (forecast bands, each an
    array), within FENCE interquartile ranges of the quartiles (so a few runs that explode
    to 1e9 do not flatten the rest), each series' first point left out where it has three
    or more (often the untrained loss; kept with ``skip_first=False``), padded by ``pad``.
    None when there is nothing finite to show (the plot then scales itself).

    >>> view_range([[9.0, 1.0, 0.9, 0.8]])  # the untrained first point is left out
    [0.7911, 1.0089]
    >>> view_range([[1.0, 1.5, 1.2, 1.1, 3e9]], skip_first=False)  # an explosion: off the plot
    [0.8971, 3.2049]
    """
    vals = [np.asarray(s, float)[1 if skip_first and len(s) >= 3 else 0:] for s in series]
    vals += [np.asarray(b, float) for b in bands]
    v = np.concatenate(vals) if vals else np.array([])
    v = v[np.isfinite(v)]
    if v.size == 0:
        return None
    with np.errstate(over="ignore", invalid="ignore"):  # values near 1e308 overflow here
        low, q1, q3, high = np.quantile(v, [0.005, 0.25, 0.75, 0.995])
        iqr = q3 - q1
        lo, hi = max(low, q1 - FENCE * iqr), min(high, q3 + FENCE * iqr)
        span = hi - lo if hi > lo else max(abs(hi), 1.0)
        out = [float(lo - pad * span), float(hi + pad * span)]
    if not all(math.isfinite(x) for x in out):
        return None  # beyond float64: the plot scales itself
    return [round(x, 12) for x in out]


class Page:
    """An HTML page built section by section; :meth:`render` gives the whole file.

    Callers pass escaped text (:func:`esc`) to :meth:`html`; :meth:`table` escapes its
    cells itself unless they are marked as ready HTML with :class:`Markup`.
    """

    def __init__(self, title: str) -> None:
        self.title = title
        self.parts: list[str] = [f"<h1>{esc(title)}</h1>"]
        self._plots = 0
        self._tables = 0

    def html(self, text: str) -> None:
        """Append ready HTML (everything from the data in it already escaped)."""
        self.parts.append(text)

    def heading(self, text: str) -> None:
        self.parts.append(f"<h2>{esc(text)}</h2>")

    def note(self, text: str) -> None:
        self.parts.append(f'<p class="note">{esc(text)}</p>')

    def figure(self, fig, div_id: str | None = None, wrap: str | None = None) -> str:
        """Embed a plotly figure (a ``go.Figure`` or its dict); returns its div's id.
        ``wrap``: the id of a container div around it (a link target)."""
        if hasattr(fig, "to_plotly_json"):
            fig = fig.to_plotly_json()
        div_id = div_id or f"plot-{self._plots}"
        self._plots += 1
        block = (f'<div class="plot" id="{esc(div_id)}"></div>'
                 f'<script type="application/json" class="figure" data-target="{esc(div_id)}">'
                 f"{script_json({'data': fig.get('data', []), 'layout': fig.get('layout', {})})}"
                 "</script>")
        if wrap is not None:
            block = f'<div id="{esc(wrap)}">{block}</div>'
        self.parts.append(block)
        return div_id

    def table(self, header: Sequence[str], rows: Sequence[Sequence], *, text_cols: int = 1,
              searchable: bool = False) -> None:
        """A table; the first ``text_cols`` columns flush left, numbers right. With
        ``searchable``, a box above it hides the rows that do not contain its text."""
        tid = f"table-{self._tables}"
        self._tables += 1

        def cls(j: int) -> str:
            return ' class="text"' if j < text_cols else ""

        head = "".join(f"<th{cls(j)}>{esc(h)}</th>" for j, h in enumerate(header))
        body = "\n".join(
            "<tr>" + "".join(f"<td{cls(j)}>{c if isinstance(c, Markup) else esc(c)}</td>"
                             for j, c in enumerate(r)) + "</tr>" for r in rows)
        if searchable:
            self.parts.append(
                f'<div><input class="filter" type="search" placeholder="search runs" '
                f'data-table="{tid}" data-count="{tid}-count"> '
                f'<span class="note"><span id="{tid}-count">{len(rows)}</span> of {len(rows)} '
                "shown</span></div>")
        self.parts.append(f'<div class="scroll"><table id="{tid}"><thead><tr>{head}</tr></thead>'
                          f"<tbody>\n{body}\n</tbody></table></div>")

    def render(self) -> str:
        """The whole page, plotly.js inline once (no network needed to view it)."""
        from plotly.offline import get_plotlyjs

        return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>{esc(self.title)}</title><style>{CSS}</style>"
                f"<script>{get_plotlyjs()}</script></head>\n<body>\n"
                + "\n".join(self.parts)
                + f"\n<script>{SCRIPT}</script>\n</body></html>\n")


class Markup(str):
    """A table cell that is already HTML (its data escaped by whoever built it)."""
