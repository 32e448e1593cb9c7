"""What the ``curvecast`` commands print with: the console and the number format."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # rich loads when a command prints, not for --help
    from rich.console import Console
    from rich.table import Table


def make_console() -> Console:
    """Stdout console; when piped, wide enough that tables do not wrap."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=200)


def cell(v: float | None) -> str:
    """A number in a table cell: five significant digits, '-' for none."""
    return "-" if v is None else f"{v:.5g}"


def new_table(columns, left=(), title: str | None = None) -> Table:
    """A table without outer border, headers in bold; the ``left`` columns (names, labels)
    flush left, the others (numbers) right."""
    from rich.table import Table

    table = Table(title=title, show_edge=False, header_style="bold")
    for c in columns:
        table.add_column(c, justify="left" if c in left else "right")
    return table
