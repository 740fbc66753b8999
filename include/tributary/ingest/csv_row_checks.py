"""One CSV record (a list of cells) → a valid ``CsvRow`` or a ``RowError`` with its reason.

Two paths that must agree: ``RowValidator.check`` is the rule, written to be read, and
names what is wrong; ``RowValidator.__call__`` first tries a shortcut for the common row
(an ID, a good URL, nothing unusual) that costs a few hundred nanoseconds and hands
anything else to ``check``. A million-row CSV spends its time on the shortcut;
``tests/ingest/test_csv_row_checks.py`` holds the two to the same answers.
"""

from __future__ import annotations

import binascii
import json
import re
from typing import NamedTuple

from tributary.ingest.media_types import DEFAULT_MIMETYPE, normalize_mimetype
from tributary.ingest.urls import GOOD_URL, MAX_URL_LENGTH, url_problem

COLUMNS = (
    "id",
    "url",
    "image_bytes",
    "name",
    "action",
    "mimetype",
    "item_metadata",
    "item_description",
)
ACTIONS = frozenset({"link", "upload"})
MAX_INLINE_BYTES = 32 * 1024 * 1024
MAX_METADATA_CHARS = 64 * 1024
MAX_NAME_CHARS = 200
_DATA_URI = re.compile(r"data:([\w.+-]+/[\w.+-]+)?(?:;[\w.+-]+=[^;,]*)*;base64,", re.I)
_BAD_NAME = re.compile(r"[/\\\x00-\x1f\x7f]")


class CsvRow(NamedTuple):
    """One valid row. ``data`` holds the decoded ``image_bytes`` of an upload row (None
    for a link row or an upload by URL); ``name`` is the ID when the row has none."""

    line: int
    id: str
    name: str
    action: str
    url: str | None
    data: bytes | None
    mimetype: str
    metadata: dict | None
    description: str | None


class RowError(NamedTuple):
    """One rejected row: the line its record starts on, its ID (maybe empty), a short
    ``code`` to count by (``bad_url``, ``duplicate_id``, …) and a one-line reason."""

    line: int
    id: str
    code: str
    reason: str


class _Invalid(Exception):
    def __init__(self, code: str, reason: str) -> None:
        self.code, self.reason = code, reason


class RowValidator:
    """Validates the records of one CSV whose header gave ``columns`` (name → index) and
    ``width`` cells. Absent optional columns read as empty: each record gets one empty
    cell appended, and an absent column's index points at it. ``inline_bytes`` adds up
    the decoded ``image_bytes`` of the rows it passed (for batching by size).
    """

    def __init__(self, columns: dict[str, int], width: int) -> None:
        self.width = width
        self.index = {name: columns.get(name, width) for name in COLUMNS}
        self.inline_bytes = 0
        # validate(record, line): the record's row or error; None for a record of empty
        # cells (skipped). A closure over the column indices: the hot loop's one call.
        self.validate = self._shortcut()

    def __call__(self, record: list[str], line: int) -> CsvRow | RowError | None:
        """The record's row or error; None for a record of empty cells (skipped)."""
        return self.validate(record, line)

    def _shortcut(self):
        i = self.index
        i_id, i_url, i_bytes, i_name = i["id"], i["url"], i["image_bytes"], i["name"]
        i_action, i_mime, i_meta, i_desc = (
            i["action"],
            i["mimetype"],
            i["item_metadata"],
            i["item_description"],
        )
        width, check, good_url = self.width, self.check, GOOD_URL.fullmatch
        new_tuple = tuple.__new__  # CsvRow(...) without NamedTuple's Python-level __new__
        loads = json.loads

        def validate(record: list[str], line: int) -> CsvRow | RowError | None:
            if len(record) != width:
                return check(record, line)
            record.append("")
            if record[i_bytes] or record[i_mime]:
                record.pop()
                return check(record, line)
            row_id = record[i_id].strip()
            url = record[i_url].strip()
            action = record[i_action] or "link"
            name = record[i_name].strip() or row_id
            if not (
                row_id
                and url
                and (action == "link" or action == "upload")
                and len(url) <= MAX_URL_LENGTH
                and good_url(url)
                and len(name) <= MAX_NAME_CHARS
                and "/" not in name
                and "\\" not in name
                and name.isprintable()
                and name != "."
                and name != ".."
            ):
                record.pop()
                return check(record, line)
            metadata = record[i_meta]
            if metadata:
                try:
                    metadata = loads(metadata) if len(metadata) <= MAX_METADATA_CHARS else None
                except (ValueError, RecursionError):
                    metadata = None
                if metadata.__class__ is not dict:
                    record.pop()
                    return check(record, line)
            else:
                metadata = None
            description = record[i_desc] or None
            return new_tuple(
                CsvRow,
                (line, row_id, name, action, url, None, DEFAULT_MIMETYPE, metadata, description),
            )

        return validate

    def check(self, record: list[str], line: int) -> CsvRow | RowError | None:
        """The rule for one record, every case named (the shortcut's fallback)."""
        if len(record) > self.width:
            row_id = record[self.index["id"]].strip()
            reason = f"{len(record)} fields where the header has {self.width}"
            return RowError(line, row_id, "too_many_fields", reason)
        if not any(cell.strip() for cell in record):
            return None  # a spreadsheet's trailing ",,,," line
        record = record + [""] * (self.width + 1 - len(record))
        row_id = record[self.index["id"]].strip()
        try:
            return self._row(record, line, row_id)
        except _Invalid as invalid:
            return RowError(line, row_id, invalid.code, invalid.reason)

    def _row(self, record: list[str], line: int, row_id: str) -> CsvRow:
        i = self.index
        if not row_id:
            raise _Invalid("empty_id", "empty ID")
        action = record[i["action"]].strip().lower() or "link"
        if action not in ACTIONS:
            raise _Invalid("unknown_action", f"unknown action {action!r} (link or upload)")
        url = record[i["url"]].strip() or None
        if url is not None and (problem := url_problem(url)):
            code = "bad_scheme" if problem.startswith("scheme") else "bad_url"
            raise _Invalid(code, problem)
        data, data_type = _content(action, url, record[i["image_bytes"]])
        name = record[i["name"]].strip() or row_id
        _check_name(name)
        mimetype = _mimetype(record[i["mimetype"]] or data_type, name, url)
        metadata = _metadata(record[i["item_metadata"]])
        description = record[i["item_description"]] or None
        if data is not None:
            self.inline_bytes += len(data)
        return CsvRow(line, row_id, name, action, url, data, mimetype, metadata, description)


def _content(action: str, url: str | None, cell: str) -> tuple[bytes | None, str]:
    """The decoded bytes of an upload row without a URL (and a data URI's type)."""
    inline = cell.strip()
    if url is not None:
        return None, ""  # the URL is the content; image_bytes beside it is ignored
    if not inline:
        raise _Invalid("no_content", "neither a URL nor image_bytes")
    if action == "link":
        raise _Invalid("link_without_url", "action link needs a URL: this row has only image_bytes")
    return _decode_inline(inline)


def _decode_inline(inline: str) -> tuple[bytes, str]:
    data_type = ""
    if inline[:5].lower() == "data:":
        match = _DATA_URI.match(inline)
        if match is None:
            raise _Invalid("bad_base64", "image_bytes is a data URI but not a base64 one")
        data_type, inline = match[1] or "", inline[match.end() :]
    if len(inline) > MAX_INLINE_BYTES * 4 // 3 + 4:
        raise _Invalid("too_large", f"image_bytes above {MAX_INLINE_BYTES:,} bytes")
    if any(c.isspace() for c in inline[:80]) or "\n" in inline:
        inline = "".join(inline.split())  # base64 wrapped on several lines
    try:
        data = binascii.a2b_base64(inline, strict_mode=True)
    except (binascii.Error, ValueError):
        raise _Invalid("bad_base64", "image_bytes is not valid base64") from None
    if not data:
        raise _Invalid("bad_base64", "image_bytes is empty")
    return data, data_type


def _check_name(name: str) -> None:
    if len(name) > MAX_NAME_CHARS:
        raise _Invalid("bad_name", f"name longer than {MAX_NAME_CHARS} characters")
    if name in (".", "..") or _BAD_NAME.search(name):
        raise _Invalid("bad_name", f"name {name!r} is not one path segment (no '/', '\\')")


def _mimetype(cell: str, name: str, url: str | None) -> str:
    try:
        hint = name if "." in name else (url or "").split("?", 1)[0].rpartition("/")[2]
        return normalize_mimetype(cell, hint)
    except ValueError as exc:
        raise _Invalid("bad_mimetype", str(exc)) from None


def _metadata(cell: str) -> dict | None:
    if not cell.strip():
        return None
    if len(cell) > MAX_METADATA_CHARS:
        raise _Invalid("bad_metadata", f"item_metadata above {MAX_METADATA_CHARS:,} characters")
    try:
        value = json.loads(cell)
    except json.JSONDecodeError as exc:
        raise _Invalid("bad_metadata", f"item_metadata is not valid JSON ({exc})") from None
    except RecursionError:
        raise _Invalid("bad_metadata", "item_metadata is nested too deeply") from None
    if not isinstance(value, dict):
        raise _Invalid("bad_metadata", "item_metadata is not a JSON object")
    return value
