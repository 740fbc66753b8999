"""The per-row shortcut and the rule give the same answer for every record."""

from __future__ import annotations

import base64

import pytest

from tributary.ingest.csv_row_checks import COLUMNS, CsvRow, RowError, RowValidator

B64 = base64.b64encode(b"image").decode()
COLUMNS_OF = {name: index for index, name in enumerate(COLUMNS)}
# id, url, image_bytes, name, action, mimetype, item_metadata, item_description
RECORDS = [
    ["a", "https://x.example/a.jpg", "", "", "", "", "", ""],
    ["a", "https://x.example/a.jpg", "", "n.png", "upload", "", '{"k": [1]}', "d"],
    [" a ", " HTTP://X.example/a ", "", " n ", "Link", "", "", ""],
    ["a", "https://x.example/a", "", "", "link", "", "[1]", ""],
    ["a", "https://x.example/a", "", "", "link", "", "{bad", ""],
    ["a", "https://x.example/a", "", "", "link", "", "  ", ""],
    ["a", "https://x.example/a", "", "", "", "", '"s"', ""],
    ["a", "https://x.example/a", "", "", "", "", "[" * 5000 + "]" * 5000, ""],
    ["a", "https://x.example/a", "", "", "", "video", "", ""],
    ["a", "https://x.example/a b", "", "", "", "", "", ""],
    ["a", "https://u@x.example/a", "", "", "", "", "", ""],
    ["a", "https://x.example:8080/a", "", "", "", "", "", ""],
    ["a", "https://x.example:0/a", "", "", "", "", "", ""],
    ["a", "ftp://x.example/a", "", "", "", "", "", ""],
    ["a", "", B64, "", "upload", "", "", ""],
    ["a", "", B64, "", "", "", "", ""],
    ["a", "", "", "", "", "", "", ""],
    ["", "https://x.example/a", "", "", "", "", "", ""],
    ["", "", "", "", "", "", "", ""],
    [" ", " ", "", "", "", "", "", ""],
    ["a", "https://x.example/a", "", "..", "", "", "", ""],
    ["a/b", "https://x.example/a", "", "", "", "", "", ""],
    ["a", "https://x.example/a", "", "tab\there", "", "", "", ""],
    ["a\u00a0b", "https://x.example/a", "", "", "", "", "", ""],
    ["a", "https://x.example/a", "", "n" * 201, "", "", "", ""],
    ["a", "https://x.example/a", "", "", "copy", "", "", ""],
    ["a", "https://x.example/a"],
    ["a", "https://x.example/a", "", "", "", "", "", "", "extra"],
]


@pytest.mark.parametrize("record", RECORDS, ids=range(len(RECORDS)))
def test_the_shortcut_agrees_with_the_rule(record):
    validator = RowValidator(COLUMNS_OF, len(COLUMNS))
    assert validator(list(record), 7) == validator.check(list(record), 7)


def test_absent_columns_read_as_empty():
    validator = RowValidator({"id": 1, "url": 0}, 2)
    row = validator(["https://x.example/a.jpg", "a"], 3)
    assert row == CsvRow(
        3, "a", "a", "link", "https://x.example/a.jpg", None, "image/jpeg", None, None
    )
    assert validator(["https://x.example/a.jpg", ""], 4) == RowError(4, "", "empty_id", "empty ID")
    assert validator(["", ""], 5) is None  # an empty record is skipped
