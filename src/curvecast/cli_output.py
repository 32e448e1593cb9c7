"""What the ``curvecast`` commands print with: the console and the number format."""

from __future__ import annotations

from rich.console import Console


def make_console() -> Console:
    """Stdout console; when piped, wide enough that tables do not wrap."""
    console = Console()
    return console if console.is_terminal else Console(width=200)


def cell(v: float | None) -> str:
    """A number in a table cell: five significant digits, '-' for none."""
    return "-" if v is None else f"{v:.5g}"
