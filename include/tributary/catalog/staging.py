"""Bulk loading of listing pages into staging: COPY on PostgreSQL, executemany on SQLite."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy.engine import Connection

COLUMNS = ("sync_id", "storage_key", "partition_index", "path", "size", "etag", "mtime", "mimetype")
StagedRow = tuple  # in COLUMNS order


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
    timestamp_at = COLUMNS.index("mtime")
    converted = [
        (*row[:timestamp_at], sqlite_timestamp(row[timestamp_at]), *row[timestamp_at + 1 :])
        for row in rows
    ]
    placeholders = ", ".join("?" for _ in COLUMNS)
    conn.connection.dbapi_connection.executemany(
        f"INSERT INTO staging_listing ({', '.join(COLUMNS)}) VALUES ({placeholders})", converted
    )
