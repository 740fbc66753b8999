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
line numbers are what a user fixes the file by. ``bench/csv_validate.py`` measures both.

Memory stays flat with the file's size: rows are yielded batch by batch, and the duplicate
check keeps 12 bytes per ID (``seen_ids``). The per-row rule is ``csv_row_checks``.
"""

from __future__ import annotations

import codecs
import csv
import io
import operator
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from tributary.ingest.csv_row_checks import COLUMNS, CsvRow, RowError, RowValidator
from tributary.ingest.errors import CsvRefused
from tributary.ingest.seen_ids import SeenIds

__all__ = ["CsvBatch", "CsvImport", "CsvRow", "RowError", "open_csv_import"]

_ID, _LINE = operator.attrgetter("id"), operator.attrgetter("line")
MAX_FIELD_CHARS = 64 * 1024 * 1024  # the csv module's own limit (128 KiB) is one small image


@dataclass
class CsvBatch:
    """Valid rows and errors of consecutive records, in file order within each list."""

    rows: list[CsvRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


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
            header = _header(csv.reader(text))
        self.columns, self.ignored_columns = _read_header(header)
        self.width = len(header)
        if self.ignored_columns:
            self.warnings.append(f"ignored columns: {', '.join(self.ignored_columns)}")

    def batches(self) -> Iterator[CsvBatch]:
        """Batches of at most ``batch_rows`` records (or about ``batch_bytes`` of decoded
        image bytes), every record ending in exactly one of ``rows`` or ``errors``."""
        csv.field_size_limit(max(csv.field_size_limit(), MAX_FIELD_CHARS))
        seen = SeenIds()
        validator = RowValidator(self.columns, self.width)
        validate, most_rows, most_bytes = validator.validate, self.batch_rows, self.batch_bytes
        with self._text() as text:
            reader = csv.reader(text)
            _header(reader)
            pending: list[CsvRow | RowError] = []
            line = reader.line_num + 1  # where the next record starts
            try:
                for record in reader:
                    if record and (result := validate(record, line)) is not None:
                        pending.append(result)
                    line = reader.line_num + 1
                    if len(pending) >= most_rows or validator.inline_bytes >= most_bytes:
                        yield self._batch(pending, seen)
                        pending, validator.inline_bytes = [], 0
            except csv.Error as exc:  # e.g. a field above MAX_FIELD_CHARS: stop here
                reason = f"the CSV breaks here ({exc}); the rest of the file was not read"
                pending.append(RowError(line, "", "broken_csv", reason))
            if pending:
                yield self._batch(pending, seen)

    def _batch(self, pending: list[CsvRow | RowError], seen: SeenIds) -> CsvBatch:
        earlier = seen.check(list(map(_ID, pending)), list(map(_LINE, pending)))
        duplicates = (earlier >= 0).nonzero()[0]
        for index in duplicates:
            result = pending[index]
            if result.__class__ is CsvRow:
                reason = f"duplicate ID (first on line {earlier[index]})"
                pending[index] = RowError(result.line, result.id, "duplicate_id", reason)
        if len(duplicates) or any(r.__class__ is RowError for r in pending):
            batch = CsvBatch(
                [r for r in pending if r.__class__ is CsvRow],
                [r for r in pending if r.__class__ is RowError],
            )
        else:  # the common batch: nothing to sort out
            batch = CsvBatch(pending, [])
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


def _header(reader) -> list[str] | None:
    """The first record that is not a blank line (blank lines before the header are
    skipped here and in ``batches`` alike, so line numbers stay the file's)."""
    return next((record for record in reader if record), None)


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
