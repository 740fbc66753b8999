"""CSV bulk link/upload: the file checked as a whole, then its rows validated in batches.

Columns, as the spec's table (headers in any case, extra columns ignored with a warning):

=================  =====================================================================
``ID``             required; the item's name when ``name`` is empty; unique in the file
``URL``            the item's URL (http/https); required unless ``image_bytes`` is given
``image_bytes``    the file itself, base64 or a ``data:`` URI (upload rows)
``name``           the item's name in the dataset (one path segment)
``action``         ``link`` (default: a link file pointing at the URL) or ``upload``
``mimetype``       default ``image/jpeg``; ``video``/``image`` take the extension's type
``item_metadata``  a JSON object: the item's user metadata
``item_description``  the item's description
=================  =====================================================================

``open_csv_import`` refuses the whole file (``CsvRefused``, one line) before any row is
read when it is not UTF-8, is empty, has no ``ID`` column, has neither ``URL`` nor
``image_bytes``, or names a column twice. Then ``CsvImport.batches()`` yields ``CsvBatch``es
of valid ``CsvRow``s and ``RowError``s, each with the physical line its record starts on
(a quoted value may span lines, so this is not the record's index).

Why the stdlib ``csv`` reader and not pyarrow's: pyarrow parses faster but cannot say on
which line a record starts once values hold newlines (nor once it skips blank lines), and
line numbers are what a user fixes the file by. The per-row check is a precompiled regex
and a few string operations; ``bench/csv_validate.py`` measures both readers.

Memory stays flat with the file's size: rows are yielded batch by batch, and the duplicate
check keeps 12 bytes per ID (a 64-bit hash and the line of its first row) in numpy arrays.
Two different IDs with the same 64-bit hash would be taken for duplicates: at a million
rows the odds are about one in 30 million files.
"""

from __future__ import annotations

import binascii
import codecs
import csv
import io
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np

from tributary.ingest.errors import CsvRefused
from tributary.ingest.media_types import normalize_mimetype
from tributary.ingest.urls import url_problem

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
MAX_FIELD_CHARS = 64 * 1024 * 1024  # the csv module's own limit (128 KiB) is one small image
MAX_INLINE_BYTES = 32 * 1024 * 1024
MAX_METADATA_CHARS = 64 * 1024
MAX_NAME_CHARS = 200
_DATA_URI = re.compile(r"data:([\w.+-]+/[\w.+-]+)?(?:;[\w.+-]+=[^;,]*)*;base64,", re.I)
_BAD_NAME = re.compile(r"[/\\\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class CsvRow:
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


@dataclass(frozen=True, slots=True)
class RowError:
    """One rejected row: the line its record starts on, its ID (maybe empty), a short
    ``code`` to count by (``bad_url``, ``duplicate_id``, …) and a one-line reason."""

    line: int
    id: str
    code: str
    reason: str


@dataclass
class CsvBatch:
    """Valid rows and errors of consecutive records, in file order within each list."""

    rows: list[CsvRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


class _Invalid(Exception):
    def __init__(self, code: str, reason: str) -> None:
        self.code, self.reason = code, reason


def open_csv_import(source: str | os.PathLike | BinaryIO, **options) -> CsvImport:
    """Check ``source`` (a path, or a seekable binary file) as a whole: UTF-8 throughout
    and a usable header, else ``CsvRefused``. ``options`` as for ``CsvImport``."""
    return CsvImport(source, **options)


class CsvImport:
    """A checked CSV import; ``batches()`` validates its rows.

    ``columns`` maps each known column to its index; ``ignored_columns`` are the others
    (``warnings`` says so in a line). After ``batches()`` is exhausted, ``rows`` counts the
    records read (blank lines aside), ``valid`` and ``failed`` how they ended.
    """

    def __init__(
        self,
        source: str | os.PathLike | BinaryIO,
        *,
        batch_rows: int = 10_000,
        batch_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self._source = source
        self.batch_rows, self.batch_bytes = batch_rows, batch_bytes
        self.rows = self.valid = self.failed = 0
        self.warnings: list[str] = []
        with self._binary() as raw:
            _check_utf8(raw)
        with self._text() as text:
            header = next(csv.reader(text), None)
        self.columns, self.ignored_columns = _read_header(header)
        self.width = len(header)
        if self.ignored_columns:
            self.warnings.append(f"ignored columns: {', '.join(self.ignored_columns)}")

    def batches(self) -> Iterator[CsvBatch]:
        """Batches of at most ``batch_rows`` records (or about ``batch_bytes`` of decoded
        image bytes), every record ending in exactly one of ``rows`` or ``errors``."""
        csv.field_size_limit(max(csv.field_size_limit(), MAX_FIELD_CHARS))
        seen = SeenIds()
        validate = RowValidator(self.columns, self.width)
        with self._text() as text:
            reader = csv.reader(text)
            next(reader)  # the header
            pending: list[tuple[int, str, CsvRow | RowError]] = []
            size, line = 0, reader.line_num + 1
            for record in _records(reader):
                if isinstance(record, RowError):  # the file's structure broke: stop here
                    pending.append((record.line, "", record))
                    break
                if record and any(record):
                    result = validate(record, line)
                    pending.append((line, result.id, result))
                    size += len(result.data) if isinstance(result, CsvRow) and result.data else 0
                line = reader.line_num + 1
                if len(pending) >= self.batch_rows or size >= self.batch_bytes:
                    yield self._batch(pending, seen)
                    pending, size = [], 0
            if pending:
                yield self._batch(pending, seen)

    def _batch(self, pending: list[tuple[int, str, CsvRow | RowError]], seen) -> CsvBatch:
        earlier = seen.check([p[1] for p in pending], [p[0] for p in pending])
        batch = CsvBatch()
        for (line, row_id, result), first in zip(pending, earlier, strict=True):
            if first >= 0 and row_id and isinstance(result, CsvRow):
                result = RowError(
                    line, row_id, "duplicate_id", f"duplicate ID (first on line {first})"
                )
            (batch.rows if isinstance(result, CsvRow) else batch.errors).append(result)
        self.rows += len(pending)
        self.valid += len(batch.rows)
        self.failed += len(batch.errors)
        return batch

    # -- the source, opened as bytes or as text ------------------------------------------

    def _binary(self):
        if isinstance(self._source, (str, os.PathLike)):
            return open(self._source, "rb")
        self._source.seek(0)
        return _Borrowed(self._source)

    def _text(self):
        raw = self._binary()
        return _TextOf(raw)


class _Borrowed:
    """A caller's file as a context manager that does not close it."""

    def __init__(self, file: BinaryIO) -> None:
        self.file = file

    def __enter__(self) -> BinaryIO:
        return self.file

    def __exit__(self, *exc_info) -> None:
        pass


class _TextOf:
    """UTF-8 text (a leading BOM dropped, newlines untranslated for the csv module) over a
    binary source; closing it closes only what it opened."""

    def __init__(self, raw) -> None:
        self._raw = raw

    def __enter__(self) -> io.TextIOWrapper:
        self._text = io.TextIOWrapper(self._raw.__enter__(), encoding="utf-8-sig", newline="")
        return self._text

    def __exit__(self, *exc_info) -> None:
        self._text.detach()
        self._raw.__exit__(*exc_info)


def _records(reader) -> Iterator[list[str] | RowError]:
    """The reader's records; a structural error (an unclosed quote swallowing the file
    into one field) ends them with a RowError at the line where reading stopped."""
    line = reader.line_num + 1
    try:
        for record in reader:
            yield record
            line = reader.line_num + 1
    except csv.Error as exc:
        reason = f"the CSV breaks here ({exc}); the rest of the file was not read"
        yield RowError(line, "", "broken_csv", reason)


def _check_utf8(raw: BinaryIO, block: int = 1024 * 1024) -> None:
    """Refuse a file that is not UTF-8, naming the line of the first bad byte."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = newlines = 0
    head = raw.read(4)
    if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        raise CsvRefused("the CSV is UTF-16 text: save it as CSV UTF-8")
    chunk = head + raw.read(block)
    while chunk:
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            line = newlines + chunk.count(b"\n", 0, exc.start) + 1
            raise CsvRefused(
                f"the CSV is not UTF-8: byte 0x{chunk[exc.start]:02x} on line {line} "
                f"(offset {offset + exc.start}); save it as CSV UTF-8"
            ) from None
        offset += len(chunk)
        newlines += chunk.count(b"\n")
        chunk = raw.read(block)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise CsvRefused("the CSV is not UTF-8: it ends inside a character") from None


def _read_header(header: list[str] | None) -> tuple[dict[str, int], list[str]]:
    if not header or not any(cell.strip() for cell in header):
        raise CsvRefused("the CSV is empty: it needs a header row with an ID column")
    columns: dict[str, int] = {}
    ignored = []
    for index, cell in enumerate(header):
        name = cell.strip().lower()
        if name in COLUMNS:
            if name in columns:
                raise CsvRefused(f"the CSV names the column {cell.strip()!r} twice")
            columns[name] = index
        else:
            ignored.append(cell.strip() or f"(column {index + 1} without a name)")
    found = ", ".join(c.strip() for c in header if c.strip()) or "none"
    if "id" not in columns:
        raise CsvRefused(f"the CSV has no ID column (its columns: {found})")
    if "url" not in columns and "image_bytes" not in columns:
        raise CsvRefused(
            f"the CSV has neither a URL nor an image_bytes column (its columns: {found})"
        )
    return columns, ignored


class RowValidator:
    """Turns one record (a list of cells) into a ``CsvRow`` or a ``RowError``.

    Absent optional columns read as empty: each record is padded to the header's width
    plus one empty cell, and an absent column's index points at that cell.
    """

    def __init__(self, columns: dict[str, int], width: int) -> None:
        self.width = width
        self.index = {name: columns.get(name, width) for name in COLUMNS}

    def __call__(self, record: list[str], line: int) -> CsvRow | RowError:
        if len(record) > self.width:
            row_id = record[self.index["id"]].strip()
            reason = f"{len(record)} fields where the header has {self.width}"
            return RowError(line, row_id, "too_many_fields", reason)
        record.extend([""] * (self.width + 1 - len(record)))
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
        data, data_type = self._content(action, url, record[i["image_bytes"]])
        name = record[i["name"]].strip() or row_id
        _check_name(name)
        mimetype = _mimetype(record[i["mimetype"]] or data_type, name, url)
        metadata = _metadata(record[i["item_metadata"]])
        description = record[i["item_description"]] or None
        return CsvRow(line, row_id, name, action, url, data, mimetype, metadata, description)

    @staticmethod
    def _content(action: str, url: str | None, cell: str) -> tuple[bytes | None, str]:
        """The decoded bytes of an upload row without a URL (and a data URI's type)."""
        inline = cell.strip()
        if url is not None:
            return None, ""  # the URL is the content; image_bytes beside it is ignored
        if not inline:
            raise _Invalid("no_content", "neither a URL nor image_bytes")
        if action == "link":
            raise _Invalid(
                "link_without_url", "action link needs a URL: this row has only image_bytes"
            )
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
    if not isinstance(value, dict):
        raise _Invalid("bad_metadata", "item_metadata is not a JSON object")
    return value


class SeenIds:
    """IDs met so far, as sorted 64-bit hashes with the line of each first row.

    ``check`` takes a batch in file order and answers, per ID, the line of an earlier row
    with the same ID (in an earlier batch or earlier in this one), or -1; empty IDs are
    never duplicates. Memory: 12 bytes per distinct ID.
    """

    def __init__(self) -> None:
        self._keys = np.empty(0, dtype=np.int64)
        self._lines = np.empty(0, dtype=np.int32)

    def __len__(self) -> int:
        return len(self._keys)

    def check(self, ids: list[str], lines: list[int]) -> np.ndarray:
        keys = np.fromiter((hash(i) for i in ids), dtype=np.int64, count=len(ids))
        here = np.asarray(lines, dtype=np.int32)
        earlier = np.full(len(ids), -1, dtype=np.int64)
        if len(self._keys):
            at = np.minimum(np.searchsorted(self._keys, keys), len(self._keys) - 1)
            known = self._keys[at] == keys
            earlier[known] = self._lines[at[known]]
        else:
            known = np.zeros(len(ids), dtype=bool)
        # within the batch: the first of each run of equal keys (stable order) owns it
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        starts = np.ones(len(ids), dtype=bool)
        starts[1:] = sorted_keys[1:] != sorted_keys[:-1]
        owner = order[np.maximum.accumulate(np.where(starts, np.arange(len(ids)), 0))]
        repeat = (owner != order) & ~known[order]
        earlier[order[repeat]] = here[owner[repeat]]
        empty = np.fromiter((not i for i in ids), dtype=bool, count=len(ids))
        earlier[empty] = -1
        new = starts & ~known[order] & ~empty[order]
        self._insert(sorted_keys[new], here[order[new]])
        return earlier

    def _insert(self, keys: np.ndarray, lines: np.ndarray) -> None:
        at = np.searchsorted(self._keys, keys)
        self._keys = np.insert(self._keys, at, keys)
        self._lines = np.insert(self._lines, at, lines)
