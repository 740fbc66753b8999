"""The staged row: one definition of its columns, written alike by both bulk paths."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from tributary.catalog import datasets, syncs
from tributary.catalog.schema import items, staging_listing
from tributary.catalog.staging import COLUMNS, ITEM_FIELDS, StagedRow, insert_rows


def test_the_staged_row_is_the_staging_tables_columns_in_order():
    # COPY and executemany write rows positionally in COLUMNS order: a column added to the
    # table but not to StagedRow (or the reverse) would shift every value after it.
    assert tuple(staging_listing.c.keys()) == COLUMNS
    assert set(ITEM_FIELDS) <= set(items.c.keys())


def test_staged_rows_read_back_field_for_field(catalog):
    mtime = dt.datetime(2026, 11, 25, 8, 30, 15, 123456, tzinfo=dt.UTC)
    with catalog.begin() as conn:
        dataset = datasets.create(conn, name="staged")
        sync_id = syncs.start(conn, dataset_id=dataset.id, kind="initial", dag_id="d", run_id="r")
        rows = [
            StagedRow(
                sync_id=sync_id,
                storage_key="prefix/a/cat.jpg",
                partition_index=3,
                path="/a/cat.jpg",
                size=2048,
                etag="abc",
                mtime=mtime,
                mimetype="image/jpeg",
            ),
            StagedRow(
                sync_id=sync_id,
                storage_key="prefix/b",
                partition_index=0,
                path="/b",
                size=0,
                etag=None,
                mtime=None,
                mimetype=None,
            ),
        ]
        insert_rows(conn, rows)
        stored = conn.execute(
            sa.select(staging_listing).order_by(staging_listing.c.storage_key)
        ).all()

    read_back = [StagedRow(*row) for row in stored]
    # SQLite hands timestamps back naive (they are stored in UTC).
    assert [r._replace(mtime=r.mtime and r.mtime.replace(tzinfo=dt.UTC)) for r in read_back] == rows
