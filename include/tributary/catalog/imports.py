"""Queries of the ``imports`` table: one row per CSV import of a dataset.

status: ``pending`` (stored, not started) → ``running`` → ``succeeded`` | ``failed``.
A run may be retried: ``start`` sets ``running`` again and clears the last error.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tributary.catalog.schema import imports
from tributary.errors import NotFound

COUNTS = ("rows", "valid", "failed", "created", "skipped", "updated")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def create(conn: Connection, *, dataset_id: int, file_name: str, folder: str) -> dict:
    """A new pending import; returns its row."""
    import_id = conn.execute(
        imports.insert()
        .values(
            dataset_id=dataset_id,
            file_name=file_name,
            folder=folder,
            status="pending",
            created_at=_now(),
        )
        .returning(imports.c.id)
    ).scalar_one()
    return get(conn, dataset_id, import_id)


def get(conn: Connection, dataset_id: int, import_id: int) -> dict:
    """The import ``import_id`` of the dataset; ``NotFound`` otherwise."""
    row = (
        conn.execute(
            sa.select(imports).where(
                (imports.c.id == import_id) & (imports.c.dataset_id == dataset_id)
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no import {import_id} in this dataset")
    return dict(row)


def list_for_dataset(conn: Connection, dataset_id: int, limit: int = 100) -> list[dict]:
    """The dataset's imports, newest first."""
    rows = conn.execute(
        sa.select(imports)
        .where(imports.c.dataset_id == dataset_id)
        .order_by(imports.c.id.desc())
        .limit(limit)
    ).mappings()
    return [dict(row) for row in rows]


def start(conn: Connection, import_id: int, *, dag_run_id: str | None = None) -> None:
    """The import runs (again): counts and error cleared."""
    values: dict = {"status": "running", "error": None, "finished_at": None}
    values.update(dict.fromkeys(COUNTS, 0))
    if dag_run_id:
        values["dag_run_id"] = dag_run_id
    conn.execute(imports.update().where(imports.c.id == import_id).values(**values))


def set_values(conn: Connection, import_id: int, **values) -> None:
    """Record counts, warnings or the run id on the import."""
    conn.execute(imports.update().where(imports.c.id == import_id).values(**values))


def finish(conn: Connection, import_id: int, **counts) -> None:
    """The import succeeded with ``counts``."""
    conn.execute(
        imports.update()
        .where(imports.c.id == import_id)
        .values(status="succeeded", error=None, finished_at=_now(), **counts)
    )


def fail(conn: Connection, import_id: int, error: str) -> None:
    """The import failed as a whole; ``error`` is one line saying why."""
    conn.execute(
        imports.update()
        .where(imports.c.id == import_id)
        .values(status="failed", error=_one_line(error), finished_at=_now())
    )


def _one_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[0] if lines else "failed"
