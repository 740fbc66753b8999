"""Items: the one record shape of an item, a dataset's items streamed as records, pages of
them (keyset, filtered) and one item by id or by path."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping

import sqlalchemy as sa

from tributary.catalog import Catalog, item_pages
from tributary.catalog import datasets as dataset_queries
from tributary.catalog import items as item_queries
from tributary.catalog.datasets import Dataset
from tributary.catalog.schema import items
from tributary.errors import InvalidInput, NotFound
from tributary.ingest.redact import redact_url


def item_record(row: Mapping) -> dict:
    """The public shape of an item (``items --json``, the REST API), from a row of the
    items table. Storage keys other than the thumbnail's stay internal.

    ``kind`` is ``file`` or ``link``; ``url`` is a linked item's URL, **redacted** (a
    pre-signed URL's signature, token or credential replaced by ``REDACTED``), None for a
    file. The real URL stays in the catalog, for the fetcher alone.
    """
    url = row.get("source_url") if row["kind"] == "link" else None
    return {
        "id": row["id"],
        "path": row["path"],
        "state": row["state"],
        "kind": row["kind"],
        "url": redact_url(url) if url else None,
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
        # An outbox operation on its way to the bucket ("put", "delete"), or None.
        "downstream": row["downstream"],
        "deleted_at": row["deleted_at"],
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


def list_items(
    catalog: Catalog,
    dataset: str,
    *,
    after: str | None = None,
    limit: int = 100,
    state: str = "active",
    preprocess_state: str | None = None,
    mimetype: str | None = None,
    prefix: str | None = None,
    name: str | None = None,
    metadata: dict | None = None,
) -> dict:
    """One page of a dataset's items in path order: ``{"items": [...], "next": cursor}``
    (``next`` None on the last page; pass it back as ``after``).

    Filters: ``state`` (active, ghost, deleted, all), ``preprocess_state``, ``mimetype``
    (``image/png`` or ``image/*``), ``prefix`` (a folder or path prefix, ``/cam1/``),
    ``name`` (a part of the file name, case-sensitive), ``metadata`` (user-metadata key ->
    value, every pair must match; see ``metadata_filter`` for ``key=value`` strings).
    """
    position = item_pages.decode_cursor(after) if after else None
    with catalog.begin() as conn:
        found = dataset_queries.get(conn, dataset)
        rows, last = item_pages.page(
            conn,
            found.id,
            after=position,
            limit=limit,
            state=state,
            preprocess_state=preprocess_state,
            mimetype=mimetype,
            prefix=prefix,
            name=name,
            metadata=metadata,
        )
    return {
        "items": [item_record(row) for row in rows],
        "next": item_pages.encode_cursor(*last) if last else None,
    }


def iter_items(catalog: Catalog, dataset: str, **filters) -> Iterator[dict]:
    """Every item matching ``filters`` (``list_items``'s), page after page of 1000: one
    short transaction per page, so a long listing holds no transaction open."""
    cursor = None
    while True:
        page = list_items(catalog, dataset, after=cursor, limit=item_pages.MAX_LIMIT, **filters)
        yield from page["items"]
        cursor = page["next"]
        if cursor is None:
            return


def metadata_filter(pairs: Iterable[str]) -> dict:
    """``key=value`` strings as a metadata filter; a value that parses as JSON is that
    JSON value (``3``, ``true``, ``"3"``), anything else is the string as given."""
    found = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep:
            raise InvalidInput(f"metadata filter {pair!r}: give key=value")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        found[item_pages.check_metadata_key(key)] = value
    return found


def dataset_and_row(catalog: Catalog, dataset: str, item_id: int) -> tuple[Dataset, dict]:
    """A dataset and the row of one of its items, whatever its state (``NotFound`` for
    either)."""
    with catalog.begin() as conn:
        found = dataset_queries.get(conn, dataset)
        row = (
            conn.execute(
                sa.select(items).where((items.c.dataset_id == found.id) & (items.c.id == item_id))
            )
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound(f"no item {item_id} in dataset {dataset!r}")
    return found, dict(row)


def get_item(catalog: Catalog, dataset: str, item_id: int) -> dict:
    """The record of one item of a dataset, whatever its state."""
    return item_record(dataset_and_row(catalog, dataset, item_id)[1])


def find_item(catalog: Catalog, dataset: str, path: str) -> dict:
    """The record of the item at ``path`` (``/a/b.jpg`` or ``a/b.jpg``). Where a path is
    held by several records (an item deleted on the platform, then a new one), the one
    not deleted wins."""
    path = path if path.startswith("/") else f"/{path}"
    with catalog.begin() as conn:
        found = dataset_queries.get(conn, dataset)
        row = (
            conn.execute(
                sa.select(items)
                .where((items.c.dataset_id == found.id) & (items.c.path == path))
                .order_by((items.c.state == "deleted").asc(), items.c.id.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound(f"no item {path!r} in dataset {dataset!r}")
    return item_record(row)
