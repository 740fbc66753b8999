"""The outbox: platform operations waiting to reach the bucket (DESIGN.md).

A platform edit writes its item change and its outbox row in one transaction; the drain
(``tributary.sync.downstream``, run by ``tributary_downstream_sync``) applies each pending
row and marks it done. Every operation is idempotent on its target (a copy to a key, a
delete of a key), so a drain killed between applying a row and marking it done applies it
again with the same result: each entry takes effect exactly once.

Operations:

* ``put``: copy the upload spooled at ``spool_key`` (in the hidden folder) to
  ``storage_key``, then drop the spool; the item's ``downstream`` flag is cleared.
* ``delete``: delete ``storage_key`` from the bucket (only queued when the driver has
  ``allow_delete``).
* ``delete_thumbnail``: delete a removed item's thumbnail from the hidden folder.
* ``announce``: an item created on the platform; the drain announces them per dataset
  as one ``items-created`` event (so preprocessing runs once per batch, not per file).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tributary.catalog.schema import outbox

OPS = ("put", "delete", "delete_thumbnail", "announce")


def enqueue(
    conn: Connection,
    *,
    dataset_id: int,
    op: str,
    storage_key: str,
    item_id: int | None = None,
    spool_key: str | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Record one operation (in the caller's transaction); returns its id."""
    if op not in OPS:
        raise ValueError(f"unknown outbox operation {op!r}")
    now = now or dt.datetime.now(dt.UTC)
    return conn.execute(
        outbox.insert()
        .values(
            dataset_id=dataset_id,
            item_id=item_id,
            op=op,
            storage_key=storage_key,
            spool_key=spool_key,
            status="pending",
            next_attempt_at=now,
            created_at=now,
        )
        .returning(outbox.c.id)
    ).scalar_one()


def due(
    conn: Connection,
    *,
    now: dt.datetime,
    limit: int,
    after_id: int = 0,
    ops: tuple[str, ...] = OPS,
    dataset_id: int | None = None,
) -> list[dict]:
    """Pending operations whose next attempt is due, oldest first, after ``after_id``."""
    query = (
        sa.select(outbox)
        .where(
            (outbox.c.status == "pending")
            & (outbox.c.next_attempt_at <= now)
            & (outbox.c.id > after_id)
            & outbox.c.op.in_(ops)
        )
        .order_by(outbox.c.id)
        .limit(limit)
    )
    if dataset_id is not None:
        query = query.where(outbox.c.dataset_id == dataset_id)
    return [dict(row) for row in conn.execute(query).mappings()]


def mark_done(conn: Connection, entry_ids: list[int], *, now: dt.datetime) -> None:
    """The operations took effect."""
    if entry_ids:
        conn.execute(
            outbox.update()
            .where(outbox.c.id.in_(entry_ids))
            .values(status="done", applied_at=now, error=None)
        )


def mark_failed_attempt(
    conn: Connection,
    entry_id: int,
    *,
    error: str,
    now: dt.datetime,
    retry_at: dt.datetime | None,
) -> None:
    """An attempt failed: try again at ``retry_at``, or (None) give up as ``failed``."""
    conn.execute(
        outbox.update()
        .where(outbox.c.id == entry_id)
        .values(
            attempts=outbox.c.attempts + 1,
            error=error,
            next_attempt_at=retry_at,
            status="pending" if retry_at is not None else "failed",
            applied_at=None if retry_at is not None else now,
        )
    )


def pending_count(conn: Connection, dataset_id: int | None = None) -> int:
    """Operations not applied yet (failed ones excluded)."""
    query = sa.select(sa.func.count()).where(outbox.c.status == "pending")
    if dataset_id is not None:
        query = query.where(outbox.c.dataset_id == dataset_id)
    return conn.execute(query).scalar_one()


def waiting_writes(conn: Connection, dataset_id: int) -> int:
    """Uploads and bucket deletes of a dataset not applied yet: bytes or a decision of a
    user that only the drain can still carry to the bucket."""
    return conn.execute(
        sa.select(sa.func.count()).where(
            (outbox.c.dataset_id == dataset_id)
            & (outbox.c.status == "pending")
            & outbox.c.op.in_(("put", "delete"))
        )
    ).scalar_one()


def forget_dataset(conn: Connection, dataset_id: int) -> int:
    """Drop every outbox row of a dataset that is being deleted; returns how many."""
    return conn.execute(outbox.delete().where(outbox.c.dataset_id == dataset_id)).rowcount
