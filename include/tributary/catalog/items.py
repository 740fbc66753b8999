"""Items: indexing staged listings, quota arithmetic, and reading items back."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tributary.catalog.schema import datasets, items, quotas, staging_listing
from tributary.catalog.staging import ITEM_FIELDS
from tributary.errors import InvalidInput, QuotaExceeded

ITEM_STATES = ("active", "ghost", "deleted", "all")
PREPROCESS_STATES = ("pending", "done", "failed")


def _already_indexed(dataset_id: int):
    return sa.exists().where(
        (items.c.dataset_id == dataset_id) & (items.c.storage_key == staging_listing.c.storage_key)
    )


def count_new(conn: Connection, *, dataset_id: int, sync_id: int) -> int:
    """Staged keys of a sync that are not items yet."""
    return conn.execute(
        sa.select(sa.func.count())
        .select_from(staging_listing)
        .where((staging_listing.c.sync_id == sync_id) & ~_already_indexed(dataset_id))
    ).scalar_one()


def check_quota(conn: Connection, *, dataset_id: int, dataset_name: str, needed: int) -> None:
    """Raise QuotaExceeded when ``needed`` new items do not fit the dataset or catalog quota.
    Items deleted on the platform hold no data point (their record only remembers a key)."""
    limits = {
        row.scope: row.max_data_points
        for row in conn.execute(
            sa.select(quotas).where(quotas.c.scope.in_(["catalog", f"dataset:{dataset_id}"]))
        )
    }
    holding = items.c.state != "deleted"
    used = {
        "catalog": lambda: conn.execute(sa.select(sa.func.count()).where(holding)).scalar_one(),
        f"dataset:{dataset_id}": lambda: conn.execute(
            sa.select(sa.func.count()).where((items.c.dataset_id == dataset_id) & holding)
        ).scalar_one(),
    }
    for scope, limit in limits.items():
        in_use = used[scope]()
        available = max(limit - in_use, 0)
        if needed > available:
            where = "the catalog" if scope == "catalog" else f"dataset {dataset_name!r}"
            # The way out, in the error the run keeps: a refused sync leaves the dataset
            # as it was (empty after an initial sync), so say what lets the next one through.
            raise QuotaExceeded(
                f"data-point quota exceeded for {where}: this sync needs {needed} data points, "
                f"{available} available (quota {limit}, {in_use} in use); nothing was indexed. "
                f"Raise the quota of {where} to at least {in_use + needed} (or remove it), "
                "then run the sync again"
            )


def index_new(conn: Connection, *, dataset_id: int, sync_id: int) -> dict:
    """Insert every staged key that is not an item yet, in one statement.

    Returns the count and the id range of the items this sync created (the range is what
    the items-created asset event carries).
    """
    insert_staged(
        conn,
        dataset_id=dataset_id,
        sync_id=sync_id,
        which=~_already_indexed(dataset_id),
        now=dt.datetime.now(dt.UTC),
    )
    return created_by(conn, sync_id)


def insert_staged(
    conn: Connection, *, dataset_id: int, sync_id: int, which, now: dt.datetime
) -> None:
    """Insert the staged rows of a sync that match ``which`` as new items, in key order,
    in one ``INSERT … SELECT``."""
    staged = staging_listing.c
    source = (
        sa.select(
            sa.literal(dataset_id),
            *(staged[name] for name in ITEM_FIELDS),
            sa.literal(sync_id),
            sa.literal(sync_id),
            sa.literal(now, items.c.created_at.type),
            sa.literal(now, items.c.updated_at.type),
        )
        .where((staged.sync_id == sync_id) & which)
        .order_by(staged.storage_key)
    )
    columns = [
        "dataset_id",
        *ITEM_FIELDS,
        "created_sync_id",
        "last_seen_sync_id",
        "created_at",
        "updated_at",
    ]
    conn.execute(items.insert().from_select(columns, source))


def count_active(conn: Connection, dataset_id: int) -> int:
    """Items of a dataset whose file is in the bucket (tombstones not counted)."""
    return conn.execute(
        sa.select(sa.func.count()).where(
            (items.c.dataset_id == dataset_id) & (items.c.state == "active")
        )
    ).scalar_one()


def event_orders(conn: Connection, dataset_id: int, keys: list[str]) -> dict[str, str]:
    """The order key of the last event applied to each of these keys (if any)."""
    found: dict[str, str] = {}
    for start in range(0, len(keys), 500):
        rows = conn.execute(
            sa.select(items.c.storage_key, items.c.event_order).where(
                (items.c.dataset_id == dataset_id)
                & items.c.storage_key.in_(keys[start : start + 500])
                & items.c.event_order.is_not(None)
            )
        )
        found.update(dict(rows.all()))
    return found


def record_event_orders(conn: Connection, dataset_id: int, orders: dict[str, str]) -> None:
    """Remember the newest applied event of each key (late, older events are ignored)."""
    if orders:
        conn.execute(
            items.update()
            .where(
                (items.c.dataset_id == dataset_id) & (items.c.storage_key == sa.bindparam("key"))
            )
            .values(event_order=sa.bindparam("order")),
            [{"key": key, "order": order} for key, order in orders.items()],
        )


def created_by(conn: Connection, sync_id: int) -> dict:
    """How many items a sync created, and their id range."""
    row = conn.execute(
        sa.select(sa.func.count(), sa.func.min(items.c.id), sa.func.max(items.c.id)).where(
            items.c.created_sync_id == sync_id
        )
    ).one()
    return {"count": row[0], "min_id": row[1], "max_id": row[2]}


def iterate(
    conn: Connection,
    dataset_name: str,
    state: str = "active",
    preprocess_state: str | None = None,
) -> Iterator[dict]:
    """Stream the items of a dataset in path order (server-side cursor on PostgreSQL),
    optionally only those in one preprocessing state."""
    if state not in ITEM_STATES:
        raise InvalidInput(f"state must be one of {', '.join(ITEM_STATES)}")
    if preprocess_state is not None and preprocess_state not in PREPROCESS_STATES:
        raise InvalidInput(f"preprocess state must be one of {', '.join(PREPROCESS_STATES)}")
    query = (
        sa.select(items)
        .join(datasets, datasets.c.id == items.c.dataset_id)
        .where(datasets.c.name == dataset_name)
        .order_by(items.c.path)
    )
    if state != "all":
        query = query.where(items.c.state == state)
    if preprocess_state is not None:
        query = query.where(items.c.preprocess_state == preprocess_state)
    result = conn.execution_options(yield_per=1000).execute(query).mappings()
    for row in result:
        yield dict(row)


def in_id_range(conn: Connection, dataset_id: int, min_id: int, max_id: int) -> list[dict]:
    """The active items of a dataset with ids in ``min_id..max_id`` (an items-created
    event's range), in id order."""
    query = (
        sa.select(items)
        .where(
            (items.c.dataset_id == dataset_id)
            & (items.c.state == "active")
            & items.c.id.between(min_id, max_id)
        )
        .order_by(items.c.id)
    )
    return [dict(row) for row in conn.execute(query).mappings()]


def merge_user_metadata(conn: Connection, item_id: int, values: dict) -> dict:
    """Set keys of an item's user metadata, keeping the others; returns the result."""
    current = conn.execute(
        sa.select(items.c.user_metadata).where(items.c.id == item_id)
    ).scalar_one()
    merged = {**(current or {}), **values}
    conn.execute(
        items.update()
        .where(items.c.id == item_id)
        .values(user_metadata=merged, updated_at=dt.datetime.now(dt.UTC))
    )
    return merged
