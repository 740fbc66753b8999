"""Platform edits of items in the catalog: delete, restore, move, clone.

Queries only (the rules and the storage side are ``tributary.usecases.edits``). Each
function works in the caller's transaction, so an item change and the outbox rows it
needs commit together.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tributary.catalog import outbox as outbox_queries
from tributary.catalog.schema import datasets, drivers, items, outbox
from tributary.errors import NotFound

# The outbox status of an operation a restore withdrew before the drain applied it. The
# drain takes only "pending" rows, so a cancelled one is never applied.
CANCELLED = "cancelled"


def item_row(conn: Connection, dataset_id: int, item_id: int, *, lock: bool = False) -> dict:
    """The row of one item of a dataset (``lock``: FOR UPDATE on PostgreSQL, so two edits
    of one item take turns; SQLite's writers take turns anyway)."""
    query = sa.select(items).where((items.c.dataset_id == dataset_id) & (items.c.id == item_id))
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    if row is None:
        raise NotFound(f"no item {item_id} in this dataset")
    return dict(row)


def holder_of(conn: Connection, dataset_id: int, *, path: str, storage_key: str) -> dict | None:
    """An item of the dataset (any state) at this path or storage key, if any."""
    row = (
        conn.execute(
            sa.select(items.c.id, items.c.path, items.c.state).where(
                (items.c.dataset_id == dataset_id)
                & ((items.c.path == path) | (items.c.storage_key == storage_key))
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def shared_elsewhere(conn: Connection, item: dict, driver_id: int) -> bool:
    """Whether another live item (of a clone, or of a dataset whose folder overlaps) names
    the same object: the same storage key in the same bucket of the same provider."""
    bucket = sa.select(drivers.c.provider, drivers.c.bucket).where(drivers.c.id == driver_id)
    provider, name = conn.execute(bucket).one()
    others = (
        sa.select(items.c.id)
        .join(datasets, datasets.c.id == items.c.dataset_id)
        .join(drivers, drivers.c.id == datasets.c.driver_id)
        .where(
            (items.c.storage_key == item["storage_key"])
            & (items.c.id != item["id"])
            & (items.c.state != "deleted")
            & (drivers.c.provider == provider)
            & (drivers.c.bucket == name)
        )
        .limit(1)
    )
    return conn.execute(others).first() is not None


def mark_deleted(conn: Connection, item: dict, *, delete_key: bool, now: dt.datetime) -> dict:
    """Mark an item deleted and queue what the bucket needs: the thumbnail's removal, and
    (``delete_key``) the file's. The key stays on the record: that is what keeps an
    upstream sync from bringing the same file back."""
    if item["thumbnail_key"]:
        outbox_queries.enqueue(
            conn,
            dataset_id=item["dataset_id"],
            item_id=item["id"],
            op="delete_thumbnail",
            storage_key=item["thumbnail_key"],
            now=now,
        )
    if delete_key:
        outbox_queries.enqueue(
            conn,
            dataset_id=item["dataset_id"],
            item_id=item["id"],
            op="delete",
            storage_key=item["storage_key"],
            now=now,
        )
    values = {
        "state": "deleted",
        "deleted_at": now,
        "downstream": "delete" if delete_key else None,
        "thumbnail_key": None,
        "updated_at": now,
    }
    conn.execute(items.update().where(items.c.id == item["id"]).values(**values))
    return {**item, **values}


def deletes_of(conn: Connection, item_id: int, since: dt.datetime | None) -> dict[str, int]:
    """The item's outbox deletes of its file since it was deleted, counted per status."""
    query = (
        sa.select(outbox.c.status, sa.func.count())
        .where((outbox.c.item_id == item_id) & (outbox.c.op == "delete"))
        .group_by(outbox.c.status)
    )
    if since is not None:
        query = query.where(outbox.c.created_at >= since)
    return dict(conn.execute(query).all())


def cancel_pending(conn: Connection, item_id: int, ops: tuple[str, ...]) -> list[int]:
    """Withdraw the item's pending outbox operations of ``ops``; returns their ids."""
    which = (outbox.c.item_id == item_id) & (outbox.c.status == "pending") & outbox.c.op.in_(ops)
    ids = list(conn.execute(sa.select(outbox.c.id).where(which)).scalars())
    if ids:
        conn.execute(
            outbox.update()
            .where(outbox.c.id.in_(ids) & (outbox.c.status == "pending"))
            .values(status=CANCELLED, error="cancelled: the item was restored")
        )
    return ids


def requeue(conn: Connection, entry_ids: list[int]) -> None:
    """Put operations withdrawn by ``cancel_pending`` back in the queue (the restore they
    were withdrawn for did not happen)."""
    if entry_ids:
        conn.execute(
            outbox.update()
            .where(outbox.c.id.in_(entry_ids) & (outbox.c.status == CANCELLED))
            .values(status="pending", error=None)
        )


def mark_restored(conn: Connection, item: dict, *, now: dt.datetime) -> dict:
    """Back to active; preprocessing again (its thumbnail was removed on delete)."""
    values = {
        "state": "active",
        "deleted_at": None,
        "downstream": None,
        "preprocess_state": "pending",
        "preprocess_error": None,
        "updated_at": now,
    }
    conn.execute(items.update().where(items.c.id == item["id"]).values(**values))
    return {**item, **values}


def move(
    conn: Connection,
    item: dict,
    *,
    path: str,
    storage_key: str,
    mimetype: str | None,
    now: dt.datetime,
) -> dict:
    """Give an item a new path and storage key (its id, metadata and thumbnail stay)."""
    values = {"path": path, "storage_key": storage_key, "mimetype": mimetype, "updated_at": now}
    conn.execute(items.update().where(items.c.id == item["id"]).values(**values))
    return {**item, **values}


def active_count(conn: Connection, dataset_id: int) -> int:
    """The items a clone of the dataset copies: its active ones."""
    return conn.execute(
        sa.select(sa.func.count()).where(
            (items.c.dataset_id == dataset_id) & (items.c.state == "active")
        )
    ).scalar_one()


def active_keys(conn: Connection, dataset_id: int, *, after_id: int, limit: int) -> list[tuple]:
    """(id, storage_key) of the dataset's active items after ``after_id``, in id order."""
    return conn.execute(
        sa.select(items.c.id, items.c.storage_key)
        .where(
            (items.c.dataset_id == dataset_id)
            & (items.c.state == "active")
            & (items.c.id > after_id)
        )
        .order_by(items.c.id)
        .limit(limit)
    ).all()


# Copied from the source item as they are; the rest is set by the clone.
_CLONED = (
    "path",
    "storage_key",
    "size",
    "etag",
    "mtime",
    "mimetype",
    "kind",
    "sha256",
    "preprocess_error",
    "preprocessed_at",
    "system_metadata",
    "user_metadata",
    "description",
)


def clone_items(
    conn: Connection,
    *,
    source_id: int,
    target_id: int,
    now: dt.datetime,
    max_id: int | None = None,
    keys: tuple[str, str] | None = None,
) -> None:
    """Copy the source's active items (up to ``max_id``) into the target, in one
    ``INSERT … SELECT``. ``keys`` (source prefix, target prefix)
    rewrites the storage keys where the clone's files lie elsewhere (internal storage).

    Thumbnails are not shared: a thumbnail lives under its dataset's id in the hidden
    folder and goes when its item or dataset is deleted, so an item that had one is
    preprocessed again for the clone (system metadata is kept meanwhile).
    """
    source = items.c
    which = (source.dataset_id == source_id) & (source.state == "active")
    if max_id is not None:
        which &= source.id <= max_id
    copied = [source[name] for name in _CLONED]
    if keys is not None and keys[0] != keys[1]:
        cut = sa.func.substr(source.storage_key, len(keys[0]) + 1)
        copied[_CLONED.index("storage_key")] = sa.literal(keys[1]) + cut
    select = (
        sa.select(
            sa.literal(target_id),
            *copied,
            sa.literal("active"),
            sa.case((source.thumbnail_key.is_not(None), "pending"), else_=source.preprocess_state),
            sa.literal(now, items.c.created_at.type),
            sa.literal(now, items.c.updated_at.type),
        )
        .where(which)
        .order_by(source.path, source.id)
    )
    columns = ["dataset_id", *_CLONED, "state", "preprocess_state", "created_at", "updated_at"]
    conn.execute(items.insert().from_select(columns, select))


def set_origin(conn: Connection, dataset_id: int, *, origin: str, detail: str) -> None:
    """Record how a dataset was made on the platform (a clone: never synced)."""
    conn.execute(
        datasets.update()
        .where(datasets.c.id == dataset_id)
        .values(origin=origin, origin_detail=detail, sync_enabled=False)
    )


def sync_refusal(dataset) -> str | None:
    """Why a dataset may not be synced (one line), or None when it may: a dataset made on
    the platform by a clone or a merge is a copy of items, not a view of a bucket."""
    if dataset.origin is None:
        return None
    made = f" ({dataset.origin_detail})" if dataset.origin_detail else ""
    return (
        f"dataset {dataset.name!r} was made by a {dataset.origin}{made} and is never synced: "
        "its items are a platform copy, not a view of a bucket (sync the source dataset)"
    )
