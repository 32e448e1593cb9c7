"""Which report a file asks for, and writing it whole or not at all.

A file is read as a replay or backtest result when it is one JSON object with a
``results`` list (what ``curvecast replay --json`` and ``curvecast backtest --json``
print; its rows say which), and as a curve file otherwise, by the same reader as
``curvecast forecast`` (so a JSON Lines file of one run is still a curve file).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import InputError
from ..io.output import write_text
from .curves import curve_report
from .evaluation import backtest_report, replay_report
from .page import Page
from .retrain import is_retrain, retrain_report

KINDS = ("curves", "replay", "backtest", "retrain")


def _as_results(path: Path) -> dict | None:
    """The parsed object if ``path`` is a single JSON object with a 'results' key."""
    if not path.is_file():
        return None  # a directory (TensorBoard), or what the curve reader refuses
    try:
        with open(path, "rb") as f:
            if f.read(64).lstrip()[:1] != b"{":
                return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None  # JSON Lines, or not JSON at all: the curve reader says what is wrong
    except (RecursionError, ValueError) as exc:  # nested too deeply; an int of 4300+ digits
        if _curve_format(path):
            return None  # the curve reader names the line
        why = ("nested too deeply" if isinstance(exc, RecursionError)
               else "a number has too many digits")
        raise InputError(f"not readable JSON ({why}); give the JSON that 'curvecast replay "
                         "--json' or 'curvecast backtest --json' printed", file=str(path)) from None
    return data if isinstance(data, dict) and "results" in data else None


def _curve_format(path: Path) -> bool:
    """Whether the curve reader takes ``path`` by its name (a .jsonl file, say)."""
    from ..io import detect_format

    try:
        detect_format(path)
    except InputError:
        return False
    return True


def detect(path: str | os.PathLike) -> tuple[str, dict | None]:
    """('replay' | 'backtest' | 'retrain', the parsed JSON) or ('curves', None), from the
    content (a retrain result's rows have 'policy' and 'compute_fraction').

    >>> import json, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.json"
    >>> _ = p.write_text(json.dumps({"results": [{"pruner": "nop"}]}))
    >>> detect(p)[0]
    'replay'
    """
    path = Path(path)
    data = _as_results(path)
    if data is None:
        return "curves", None
    results = data["results"]
    if not isinstance(results, list) or not results or not all(isinstance(r, dict) for r in results):
        raise InputError("'results' must be a non-empty list of objects, as printed by "
                         "'curvecast replay --json' or 'curvecast backtest --json'", file=str(path))
    if all("pruner" in r for r in results):
        return "replay", data
    if all("method" in r and "coverage" in r for r in results):
        return "backtest", data
    if is_retrain(results):
        return "retrain", data
    raise InputError("a JSON object with 'results', but neither a replay (rows with 'pruner') "
                     "nor a backtest (rows with 'method' and 'coverage'); give the JSON that "
                     "'curvecast replay --json' or 'curvecast backtest --json' printed",
                     file=str(path))


def build_report(path: str | os.PathLike, *, goal: str = "min", tag: str | None = None,
                 fmt: str | None = None, experiment: str | None = None,
                 on_duplicate: str | None = None, **options) -> tuple[str, Page]:
    """(kind, page) for ``path``; ``options`` go to :func:`curve_report` for a curve file.

    >>> from importlib import resources
    >>> p = resources.files("curvecast") / "data" / "nasbench_nlp_sample.csv"
    >>> kind, page = build_report(p, method="last", top=1)
    >>> kind, page.render().count('class="figure"')
    ('curves', 2)
    """
    from ..io import read_curves

    kind, data = detect(path)
    if kind == "replay":
        return kind, replay_report(data, str(path))
    if kind == "backtest":
        return kind, backtest_report(data, str(path))
    if kind == "retrain":
        return kind, retrain_report(data, str(path))
    curves = read_curves(path, goal=goal, tag=tag, fmt=fmt, bound=options.get("bound"),
                         experiment=experiment, on_duplicate=on_duplicate)
    return kind, curve_report(curves, **options)


def write_report(page: Page | str, out: str | os.PathLike) -> Path:
    """Write the page to ``out`` whole or not at all (through a temporary file beside it,
    renamed into place; a symlink is written through, a device or FIFO in place, see
    :func:`curvecast.io.output.staged`): a failure leaves no half-written report (nor a
    changed old one) and raises :class:`~curvecast.io.output.OutputError` naming ``out``.

    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "r.html"
    >>> write_report("<p>hi</p>", out).read_text()
    '<p>hi</p>'
    """
    text = page if isinstance(page, str) else page.render()
    return write_text(out, text)
