"""Items: the one record shape of an item, and a dataset's items streamed as records."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from tributary.catalog import Catalog
from tributary.catalog import datasets as dataset_queries
from tributary.catalog import items as item_queries


def item_record(row: Mapping) -> dict:
    """The public shape of an item (``items --json`` today, the REST API tomorrow), from
    a row of the items table. Storage keys other than the thumbnail's stay internal."""
    return {
        "id": row["id"],
        "path": row["path"],
        "state": row["state"],
        "size": row["size"],
        "etag": row["etag"],
        "mimetype": row["mimetype"],
        "mtime": row["mtime"],
        "created_at": row["created_at"],
        "metadata": {
            "system": row["system_metadata"] or {},
            "user": row["user_metadata"] or {},
        },
        "description": row["description"],
        "preprocess_state": row["preprocess_state"],
        "preprocess_error": row["preprocess_error"],
        "preprocessed_at": row["preprocessed_at"],
        "thumbnail": row["thumbnail_key"],
    }


def iter_item_records(
    catalog: Catalog, dataset: str, state: str = "active", preprocess_state: str | None = None
) -> Iterator[dict]:
    """Stream a dataset's items (``active``, ``ghost`` or ``all``; with
    ``preprocess_state``, only those ``pending``, ``done`` or ``failed``) in path order, as
    records. The listing is one transaction, held open while the caller consumes it."""
    with catalog.begin() as conn:
        dataset_queries.get(conn, dataset)
        for row in item_queries.iterate(conn, dataset, state, preprocess_state):
            yield item_record(row)
