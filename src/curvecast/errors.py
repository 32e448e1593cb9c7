"""Errors raised by curvecast.

Every message says what was wrong, where (file, row, column, run) and what to do,
so that the command line can print it as it is and exit with code 2.

>>> raise InputError("no column 'step'", file="runs.csv")
Traceback (most recent call last):
...
curvecast.errors.InputError: runs.csv: no column 'step'
"""

from __future__ import annotations


class CurvecastError(Exception):
    """Base class of every error curvecast raises on purpose."""


class InputError(CurvecastError, ValueError):
    """Bad input data: the message names the place (file, row, column, run) and the fix.

    Parameters
    ----------
    message:
        What was wrong and what to do.
    file, row, column, run:
        Where it was wrong; any may be omitted. ``row`` counts data rows from 1
        (the header of a CSV file is not a row), lines for JSON Lines files.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
        run: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.row = row
        self.column = column
        self.run = run
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.file is not None:
            where.append(str(self.file))
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        if self.run is not None:
            where.append(f"run {self.run!r}")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class UsageError(CurvecastError, ValueError):
    """A call or option that cannot be honoured (bad level, unknown goal, ...)."""


class CurvecastWarning(UserWarning):
    """Base class of the warnings curvecast issues (numerical trouble it handled, input
    it repaired); filter them with ``warnings.simplefilter("ignore", CurvecastWarning)``."""
