"""Bulk loading of staged rows into staging: COPY on PostgreSQL, executemany on SQLite.

``StagedRow`` is the one definition of a staged row: every producer (the listing, bucket
events, and the coming uploads and CSV ingest) builds one, and its field order is the
column order both bulk paths write.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy.engine import Connection


class StagedRow(NamedTuple):
    """One object on its way into ``staging_listing``: fields in the table's column order.

    A NamedTuple rather than a dataclass: it *is* a tuple, so COPY and executemany take
    it as it is, with no per-row conversion on the bulk paths.
    """

    sync_id: int
    storage_key: str
    partition_index: int
    path: str  # the item's dataset path: "/" + the key below the storage's prefix
    size: int
    etag: str | None
    mtime: dt.datetime | None
    mimetype: str | None


COLUMNS = StagedRow._fields
# The staged fields a new item takes over (the rest say where the row came from).
ITEM_FIELDS = tuple(name for name in COLUMNS if name not in ("sync_id", "partition_index"))
_MTIME_AT = COLUMNS.index("mtime")


def sqlite_timestamp(value: dt.datetime | None) -> str | None:
    """A UTC timestamp in the text form SQLAlchemy's SQLite DateTime reads back."""
    if value is None:
        return None
    if value.utcoffset():
        value = value.astimezone(dt.UTC)
    # isoformat is several times faster than strftime; the first 26 characters are
    # "YYYY-MM-DD HH:MM:SS.ffffff" with any "+00:00" cut off.
    return value.isoformat(" ", "microseconds")[:26]


def insert_rows(conn: Connection, rows: Sequence[StagedRow]) -> None:
    """Append rows to ``staging_listing`` inside the caller's transaction."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        _copy_postgres(conn, rows)
    else:
        _executemany_sqlite(conn, rows)


def _copy_postgres(conn: Connection, rows: Sequence[StagedRow]) -> None:
    cursor = conn.connection.dbapi_connection.cursor()
    with cursor.copy(f"COPY staging_listing ({', '.join(COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _executemany_sqlite(conn: Connection, rows: Sequence[StagedRow]) -> None:
    converted = [
        (*row[:_MTIME_AT], sqlite_timestamp(row[_MTIME_AT]), *row[_MTIME_AT + 1 :]) for row in rows
    ]
    placeholders = ", ".join("?" for _ in COLUMNS)
    conn.connection.dbapi_connection.executemany(
        f"INSERT INTO staging_listing ({', '.join(COLUMNS)}) VALUES ({placeholders})", converted
    )
