"""``errors.csv``: every rejected row of an import, with its line, ID and reason.

The report is opened in spreadsheets, so a cell that a spreadsheet would run as a formula
(starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return — OWASP's list) gets a
leading ``'``: an ID such as ``=HYPERLINK(…)`` from an uploaded CSV stays text. Reasons
already carry redacted URLs (``redact.redact_url``). Counts per error code come with it,
for the import's record.
"""

from __future__ import annotations

import collections
import csv
from collections.abc import Iterable
from typing import TextIO

from tributary.ingest.csv_rows import RowError

HEADER = ("line", "ID", "reason")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: str) -> str:
    """``value`` made inert for a spreadsheet: prefixed with ``'`` when it starts like a
    formula."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


class ErrorReport:
    """Writes ``errors.csv`` to ``stream`` (text, opened with ``newline=""``) row error by
    row error; ``counts`` is how many errors of each code it wrote, ``total`` all of them."""

    def __init__(self, stream: TextIO) -> None:
        self._writer = csv.writer(stream)
        self._writer.writerow(HEADER)
        self.counts: collections.Counter[str] = collections.Counter()

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def add(self, error: RowError) -> None:
        """One line of the report."""
        self._writer.writerow((error.line, escape_cell(error.id), escape_cell(error.reason)))
        self.counts[error.code] += 1

    def add_all(self, errors: Iterable[RowError]) -> None:
        """Every error of ``errors``, in order."""
        for error in errors:
            self.add(error)
