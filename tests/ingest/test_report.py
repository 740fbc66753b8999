"""errors.csv: line, ID, reason; formula cells made inert; counts per code."""

from __future__ import annotations

import csv
import io

import pytest

from tributary.ingest.csv_rows import RowError
from tributary.ingest.report import ErrorReport, escape_cell


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ('=HYPERLINK("http://evil")', '\'=HYPERLINK("http://evil")'),
        ("+1", "'+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("cat.jpg", "cat.jpg"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_formula_cells_are_escaped(value, shown):
    assert escape_cell(value) == shown


def test_the_report_reads_back_with_counts():
    out = io.StringIO(newline="")
    report = ErrorReport(out)
    report.add_all(
        [
            RowError(3, "=cmd|' /C calc'!A0", "bad_url", "not a URL: 'x'"),
            RowError(7, "b", "duplicate_id", "duplicate ID (first on line 2)"),
            RowError(9, "c, with comma", "bad_url", 'not a URL: "y"\nz'),
        ]
    )
    rows = list(csv.reader(io.StringIO(out.getvalue(), newline="")))
    assert rows == [
        ["line", "ID", "reason"],
        ["3", "'=cmd|' /C calc'!A0", "not a URL: 'x'"],
        ["7", "b", "duplicate ID (first on line 2)"],
        ["9", "c, with comma", 'not a URL: "y"\nz'],
    ]
    assert report.counts == {"bad_url": 2, "duplicate_id": 1} and report.total == 3
