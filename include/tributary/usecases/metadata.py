"""User metadata and descriptions: edit one item, or many from a JSONL or CSV file.

User metadata is a JSON object per item: keys are non-empty strings of at most 256
characters without control characters, values any JSON (numbers, strings, booleans, null,
lists, objects). System metadata (what preprocessing found) is read-only: nothing here
writes it.

A bulk file is streamed (an iterable of lines, never read whole) and applied in batches,
one transaction per batch: a bad line is reported with its line number (the physical line
of the file, where a CSV record starts) and the good lines are applied all the same.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import sqlalchemy as sa

from tributary.catalog import Catalog, item_edits
from tributary.catalog import datasets as dataset_queries
from tributary.catalog.item_pages import check_metadata_key
from tributary.catalog.schema import items
from tributary.errors import InvalidInput
from tributary.usecases.items import item_record

UNSET = object()
"""``description`` left as it is (None clears it)."""

MAX_METADATA_BYTES = 64 * 1024  # one item's user metadata, as JSON
MAX_DESCRIPTION = 10_000  # characters
BATCH = 500  # lines per transaction
MAX_ERRORS = 1000  # errors listed one by one; the rest are counted
NOT_UTF8 = "\0not utf-8\0"  # stands for a line that could not be decoded


def edit_item(
    catalog: Catalog,
    dataset: str,
    item_id: int,
    *,
    set: dict | None = None,
    remove: Iterable[str] = (),
    replace: bool = False,
    description: object = UNSET,
) -> dict:
    """Change one item's user metadata and description; returns its record.

    ``set`` merges keys (``replace``: the metadata becomes ``set`` exactly), ``remove``
    drops keys (a missing key is no error), ``description`` a string or None to clear.
    """
    edit = Edit.checked(set, list(remove), replace, description)
    with catalog.begin() as conn:
        found = dataset_queries.get(conn, dataset)
        row = item_edits.item_row(conn, found.id, item_id, lock=True)
        values = edit.values(row["user_metadata"])
        if values:
            values["updated_at"] = dt.datetime.now(dt.UTC)
            conn.execute(items.update().where(items.c.id == item_id).values(**values))
            row = {**row, **values}
    return item_record(row)


@dataclass(frozen=True)
class Edit:
    """One checked change of an item's metadata and description."""

    set: dict = field(default_factory=dict)
    remove: tuple[str, ...] = ()
    replace: bool = False
    description: object = UNSET

    @classmethod
    def checked(cls, set_: object, remove: object, replace: object, description: object) -> Edit:
        """Validate each part (InvalidInput names the first problem)."""
        if set_ is None:
            set_ = {}
        if not isinstance(set_, dict):
            raise InvalidInput("metadata must be a JSON object of key: value")
        for key in set_:
            check_metadata_key(key)
        if not isinstance(remove, (list, tuple)) or not all(isinstance(k, str) for k in remove):
            raise InvalidInput("remove must be a list of metadata keys")
        if both := sorted(set(set_) & set(remove)):
            raise InvalidInput(f"metadata key {both[0]!r} is both set and removed")
        if not isinstance(replace, bool):
            raise InvalidInput("replace must be true or false")
        if description is not UNSET and description is not None:
            if not isinstance(description, str):
                raise InvalidInput("description must be a string or null")
            if len(description) > MAX_DESCRIPTION:
                raise InvalidInput(f"description is longer than {MAX_DESCRIPTION} characters")
        _check_json(set_)
        return cls(set_, tuple(remove), replace, description)

    def values(self, current: dict | None) -> dict:
        """The columns to write, given the item's current user metadata."""
        values: dict = {}
        if self.set or self.remove or self.replace:
            merged = dict(self.set) if self.replace else {**(current or {}), **self.set}
            for key in self.remove:
                merged.pop(key, None)
            if len(json.dumps(merged, ensure_ascii=False).encode()) > MAX_METADATA_BYTES:
                raise InvalidInput(f"an item's metadata is limited to {MAX_METADATA_BYTES} bytes")
            if merged != (current or {}):
                values["user_metadata"] = merged
        if self.description is not UNSET:
            values["description"] = self.description
        return values


def _check_json(value: dict) -> None:
    try:
        encoded = json.dumps(value, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"metadata values must be JSON: {exc}") from None
    if len(encoded.encode()) > MAX_METADATA_BYTES:
        raise InvalidInput(f"an item's metadata is limited to {MAX_METADATA_BYTES} bytes")


# -- bulk ----------------------------------------------------------------------------------


@dataclass
class _Line:
    number: int
    target: tuple[str, object]  # ("path", "/a.jpg") or ("id", 7)
    edit: Edit


@dataclass
class _Report:
    applied: int = 0
    errors: list[dict] = field(default_factory=list)
    more: int = 0

    def error(self, line: int, message: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append({"line": line, "error": message})
        else:
            self.more += 1

    def as_dict(self) -> dict:
        # Parse errors are found as lines are read, lookups per batch: list them in order.
        errors = sorted(self.errors, key=lambda error: error["line"])
        result = {"applied": self.applied, "errors": errors}
        if self.more:
            result["errors_not_listed"] = self.more
        return result


def apply_bulk_metadata(
    catalog: Catalog, dataset: str, lines: Iterable[str | bytes], *, fmt: str = "jsonl"
) -> dict:
    """Apply metadata from JSONL or CSV lines: ``{"applied": n, "errors": [{"line",
    "error"}]}``. Each entry names an item by ``path`` or ``id`` and gives ``metadata``
    (an object, merged into the item's), and may give ``description`` (JSONL: null
    clears it; CSV: an empty cell leaves it). JSONL may also give ``remove`` (keys) and
    ``replace`` (true: the metadata becomes the given object).
    """
    if fmt not in ("jsonl", "csv"):
        raise InvalidInput("format must be jsonl or csv")
    with catalog.begin() as conn:
        dataset_id = dataset_queries.get(conn, dataset).id
    report = _Report()
    parsed = _jsonl(_text(lines), report) if fmt == "jsonl" else _csv(_text(lines), report)
    batch: list[_Line] = []
    for line in parsed:
        batch.append(line)
        if len(batch) >= BATCH:
            _apply_batch(catalog, dataset_id, batch, report)
            batch = []
    if batch:
        _apply_batch(catalog, dataset_id, batch, report)
    return report.as_dict()


def _text(lines: Iterable[str | bytes]) -> Iterator[str]:
    for number, line in enumerate(lines, start=1):
        if isinstance(line, bytes):
            try:
                line = line.decode("utf-8")
            except UnicodeDecodeError:
                line = NOT_UTF8  # reported by the parser on its line
        if number == 1:
            line = line.removeprefix("\ufeff")
        yield line


def _entry(number: int, raw: object, report: _Report, *, csv_row: bool = False) -> _Line | None:
    """One entry checked, or None once its error is reported."""
    try:
        if not isinstance(raw, dict):
            raise InvalidInput("a line must be a JSON object")
        target = _target(raw)
        metadata = raw.get("metadata")
        if (metadata is None and "metadata" not in raw) or (csv_row and metadata == ""):
            metadata = {}
        elif csv_row:
            metadata = _json_cell(metadata)
        if not isinstance(metadata, dict):
            raise InvalidInput("metadata must be a JSON object of key: value")
        description = raw.get("description", UNSET)
        if csv_row and description == "":
            description = UNSET
        edit = Edit.checked(metadata, raw.get("remove", []), raw.get("replace", False), description)
        if not (edit.set or edit.remove or edit.replace or edit.description is not UNSET):
            raise InvalidInput("nothing to change: give metadata or a description")
    except InvalidInput as exc:
        report.error(number, str(exc))
        return None
    return _Line(number, target, edit)


def _target(raw: dict) -> tuple[str, object]:
    path, item_id = raw.get("path") or None, raw.get("id")
    if item_id in ("", None):
        item_id = None
    if (path is None) == (item_id is None):
        raise InvalidInput("give the item's path or its id (one of them)")
    if path is not None:
        if not isinstance(path, str):
            raise InvalidInput("path must be a string")
        return "path", path if path.startswith("/") else f"/{path}"
    if isinstance(item_id, str) and item_id.strip().isdigit():
        item_id = int(item_id)
    if not isinstance(item_id, int) or isinstance(item_id, bool):
        raise InvalidInput("id must be an integer")
    return "id", item_id


def _json_cell(cell: object) -> object:
    try:
        return json.loads(cell)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"metadata is not valid JSON: {exc}") from None


def _jsonl(lines: Iterator[str], report: _Report) -> Iterator[_Line]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if line == NOT_UTF8:
            report.error(number, "not valid UTF-8")
            continue
        try:
            raw = json.loads(line)
        except ValueError as exc:
            report.error(number, f"not valid JSON: {exc}")
            continue
        if (entry := _entry(number, raw, report)) is not None:
            yield entry


CSV_COLUMNS = ("path", "id", "metadata", "description")


def _csv(lines: Iterator[str], report: _Report) -> Iterator[_Line]:
    reader = csv.DictReader(_with_newlines(lines), strict=True)
    try:
        header = reader.fieldnames or []
    except csv.Error as exc:
        report.error(1, f"the CSV header cannot be read: {exc}")
        return
    unknown = [name for name in header if name not in CSV_COLUMNS]
    if unknown or not ({"path", "id"} & set(header)):
        report.error(
            1,
            f"CSV columns are {', '.join(CSV_COLUMNS)} (path or id needed); "
            f"got {', '.join(header) or 'none'}",
        )
        return
    while True:
        start = reader.line_num + 1  # the physical line the next record starts on
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            report.error(start, f"not valid CSV: {exc}")
            continue
        if None in row or any(value is None for value in row.values()):
            report.error(start, f"expected {len(header)} cells")
            continue
        if NOT_UTF8 in "".join(row.values()):
            report.error(start, "not valid UTF-8")
            continue
        if (entry := _entry(start, row, report, csv_row=True)) is not None:
            yield entry


def _with_newlines(lines: Iterator[str]) -> Iterator[str]:
    """Lines for the csv module: it needs their ends to read a quoted cell spanning two."""
    for line in lines:
        yield line if line.endswith(("\n", "\r")) else f"{line}\n"


def _apply_batch(catalog: Catalog, dataset_id: int, batch: list[_Line], report: _Report):
    """One transaction: find the batch's items, then write each line's change."""
    now = dt.datetime.now(dt.UTC)
    with catalog.begin() as conn:
        by_path, by_id = _rows_of(conn, dataset_id, batch)
        for line in batch:
            kind, value = line.target
            row = (by_path if kind == "path" else by_id).get(value)
            if row is None:
                report.error(line.number, f"no item with {kind} {value!r} in this dataset")
                continue
            try:
                values = line.edit.values(row["user_metadata"])
            except InvalidInput as exc:
                report.error(line.number, str(exc))
                continue
            if values:
                conn.execute(
                    items.update().where(items.c.id == row["id"]).values(updated_at=now, **values)
                )
                row.update(values)  # a later line for the same item builds on this one
            report.applied += 1


def _rows_of(conn, dataset_id: int, batch: list[_Line]) -> tuple[dict, dict]:
    """The batch's items by path and by id (where a path is held by a deleted record and
    a live one, the live one)."""
    paths = sorted({value for kind, value in (line.target for line in batch) if kind == "path"})
    ids = sorted({value for kind, value in (line.target for line in batch) if kind == "id"})
    wanted = sa.false()
    if paths:
        wanted |= items.c.path.in_(paths)
    if ids:
        wanted |= items.c.id.in_(ids)
    rows = conn.execute(
        sa.select(items)
        .where((items.c.dataset_id == dataset_id) & wanted)
        .order_by((items.c.state != "deleted").asc(), items.c.id)
    ).mappings()
    by_path, by_id = {}, {}
    for row in rows:
        record = dict(row)
        by_id[record["id"]] = record
        by_path[record["path"]] = by_id[record["id"]]  # the last, live ones win
    return by_path, by_id
