"""The downstream sync: apply the outbox's operations to the buckets, each exactly once.

This is the only code that writes a bucket for platform edits, but for the body of an
upload (written by the upload itself: a new file straight to its key, a replacement to its
spool, its outbox row reserved before any byte). Rows are applied in id
order; every operation is idempotent on its target and marked done only after it took
effect, so a drain killed at any point and run again applies each entry once:

* ``put``: copy the spooled upload to its key (server-side), read back the etag the
  bucket gives it, delete the spool, then — in one transaction — record the etag on the
  item, clear its ``downstream`` flag and mark the row done. A spool that is gone while the
  key exists means an earlier attempt got that far: the rest is done with the key's etag.
  A new file is written straight to its key by the upload, which marks its row done at
  once; only when a sync of the dataset was running is the row left due (no spool), and
  the drain then just records the key's etag.
* ``delete``: delete the key, only when the driver has ``allow_delete`` (internal storage
  is Tributary's own: always); otherwise the row is done as *kept*. An item back in the
  dataset (restored, or revived by a sync) keeps its file.
* ``delete_thumbnail``: delete a thumbnail from the hidden folder unless an item uses it.
* ``announce``: one ``items-created`` event per dataset for the items uploaded since the
  last drain, marked done by the step that emits it (``announce``).

Order per key is kept: a row waits while an earlier row for the same key is pending (a
delete queued before a re-upload never runs after it). A ``put`` also waits while a sync
of its dataset runs, so that a sync which listed the bucket before the file arrived
cannot take the item for vanished. A failed attempt is retried with exponential backoff
(``TRIBUTARY_DOWNSTREAM_RETRY_SECONDS``, doubling, at most an hour) and given up as
``failed`` with its error after ``TRIBUTARY_DOWNSTREAM_MAX_ATTEMPTS``.

An upload reserves its ``put`` row before the body arrives (``RESERVED_*`` in the row's
``error``, due only when the reservation's lease runs out). A reservation the drain finds
due was abandoned (the uploading process died): the drain removes it — a new item goes, an
existing one is left as it was — and its spool is deleted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tributary.catalog import Catalog, outbox
from tributary.catalog import datasets as dataset_queries
from tributary.catalog.datasets import Dataset
from tributary.catalog.schema import dataset_locks, datasets, items, sync_runs
from tributary.catalog.schema import outbox as outbox_table
from tributary.config import downstream_max_attempts, downstream_retry_delay, lock_stale_after
from tributary.errors import NotFound, TributaryError
from tributary.storage import ObjectStore, open_dataset_store
from tributary.storage.base import ObjectNotFound, StorageError

log = logging.getLogger(__name__)

# Marks of a put row whose upload is still being received (in the row's ``error``). The
# item of a ``new`` reservation was created by it; an ``existing`` one was there before.
RESERVED_NEW = "reserved: a new item's upload is still being received"
RESERVED_EXISTING = "reserved: an upload replacing the item is still being received"
RESERVED = (RESERVED_NEW, RESERVED_EXISTING)
WRITE_OPS = ("put", "delete", "delete_thumbnail")
BATCH = 200
MAX_RETRY_DELAY = dt.timedelta(hours=1)


def spool_key(store: ObjectStore, name: str) -> str:
    """Where an upload waits in the hidden folder before it is copied to its key."""
    return f"{store.hidden_prefix}spool/{name}"


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class DrainReport:
    """What one drain did: rows applied (kept deletes and removed reservations included),
    rows that failed an attempt (``gave_up`` of them for good), rows still pending, and the
    items-created events to emit."""

    applied: int = 0
    failed: int = 0
    gave_up: list[dict] = field(default_factory=list)
    deferred: int = 0
    pending: int = 0
    announced: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "applied": self.applied,
            "failed": self.failed,
            "gave_up": self.gave_up,
            "deferred": self.deferred,
            "pending": self.pending,
            "announced": self.announced,
        }


def drain(
    catalog: Catalog,
    *,
    dataset: str | None = None,
    limit: int | None = None,
    now: dt.datetime | None = None,
) -> DrainReport:
    """Apply the due write operations (all datasets, or one), then gather the
    announcements. ``limit`` caps the write operations attempted in this call."""
    now = now or now_utc()
    with catalog.begin() as conn:
        dataset_id = dataset_queries.get(conn, dataset).id if dataset else None
    report = DrainReport()
    blocked: set[tuple[int, str]] = set()
    after = 0
    attempted = 0
    while limit is None or attempted < limit:
        size = BATCH if limit is None else min(BATCH, limit - attempted)
        with catalog.begin() as conn:
            batch = outbox.due(
                conn, now=now, limit=size, after_id=after, ops=WRITE_OPS, dataset_id=dataset_id
            )
        if not batch:
            break
        for entry in batch:
            after = entry["id"]
            attempted += 1
            outcome = apply_entry(catalog, entry, blocked=blocked)
            if outcome in ("applied", "kept", "abandoned"):
                report.applied += 1
            elif outcome == "deferred":
                report.deferred += 1
            else:
                report.failed += 1
                if outcome == "gave up":
                    report.gave_up.append(
                        {"id": entry["id"], "op": entry["op"], "key": entry["storage_key"]}
                    )
    # Last: once these rows are marked done, the caller must get to emit their events.
    with catalog.begin() as conn:
        report.announced = _announce(conn, dataset_id, now)
        report.pending = outbox.pending_count(conn, dataset_id)
    log.info(
        "Downstream: %d applied, %d failed, %d waiting, %d pending; %d announcements",
        report.applied,
        report.failed,
        report.deferred,
        report.pending,
        len(report.announced),
    )
    return report


def apply_entry(catalog: Catalog, entry: dict, *, blocked: set | None = None) -> str:
    """Apply one outbox row; returns ``applied``, ``kept``, ``abandoned`` (an expired
    reservation removed), ``deferred`` (it must wait: nothing changed), ``retry`` (the
    attempt failed, it is rescheduled) or ``gave up`` (failed for good)."""
    blocked = set() if blocked is None else blocked
    target = (entry["dataset_id"], entry["storage_key"])
    if target in blocked:
        return "deferred"
    with catalog.begin() as conn:
        if entry["op"] in ("put", "delete") and _earlier_pending(conn, entry):
            blocked.add(target)
            return "deferred"
        dataset = _dataset(conn, entry["dataset_id"])
    try:
        if dataset is None:
            raise NotFound(f"dataset {entry['dataset_id']} no longer exists")
        store = open_dataset_store(dataset)
        if entry["op"] == "put":
            outcome = _put(catalog, store, dataset, entry)
        elif entry["op"] == "delete":
            outcome = _delete(catalog, store, dataset, entry)
        elif entry["op"] == "delete_thumbnail":
            outcome = _delete_thumbnail(catalog, store, entry)
        else:
            raise ValueError(f"not a write operation: {entry['op']!r}")
    except Exception as exc:
        blocked.add(target)
        return _failed_attempt(catalog, entry, exc)
    if outcome == "deferred":
        blocked.add(target)
    return outcome


def _dataset(conn: Connection, dataset_id: int) -> Dataset | None:
    try:
        return dataset_queries.get_by_id(conn, dataset_id)
    except NotFound:
        return None


def _earlier_pending(conn: Connection, entry: dict) -> bool:
    """An earlier put or delete of the same key has not taken effect yet."""
    table = outbox_table.c
    return (
        conn.execute(
            sa.select(table.id)
            .where(
                (table.dataset_id == entry["dataset_id"])
                & (table.storage_key == entry["storage_key"])
                & (table.status == "pending")
                & table.op.in_(("put", "delete"))
                & (table.id < entry["id"])
            )
            .limit(1)
        ).first()
        is not None
    )


def sync_running(conn: Connection, dataset_id: int) -> bool:
    """A live sync holds the dataset's lock (one silent for longer than
    ``TRIBUTARY_LOCK_STALE_SECONDS`` is taken for dead, as the syncs themselves do)."""
    alive_since = now_utc() - lock_stale_after()
    return (
        conn.execute(
            sa.select(dataset_locks.c.sync_id)
            .join(sync_runs, sync_runs.c.id == dataset_locks.c.sync_id)
            .where(
                (dataset_locks.c.dataset_id == dataset_id)
                & (sync_runs.c.status == "running")
                & (sa.func.coalesce(sync_runs.c.heartbeat_at, sync_runs.c.started_at) > alive_since)
            )
        ).first()
        is not None
    )


# -- put -----------------------------------------------------------------------------------


def _put(catalog: Catalog, store: ObjectStore, dataset: Dataset, entry: dict) -> str:
    if entry["error"] in RESERVED:
        return _abandon(catalog, store, dataset, entry)
    with catalog.begin() as conn:
        if sync_running(conn, dataset.id):
            return "deferred"
    spool = entry["spool_key"]
    info = None
    if spool:
        # A missing spool: copied and dropped by an earlier attempt (checked just below).
        with contextlib.suppress(ObjectNotFound):
            info = store.copy(spool, entry["storage_key"])
    if info is None:
        try:
            info = store.head(entry["storage_key"])
        except ObjectNotFound:
            raise StorageError(
                f"upload lost: neither its spool {spool!r} nor {entry['storage_key']!r} exists"
            ) from None
    if spool:
        store.delete(spool)
    with catalog.begin() as conn:
        # A sync that started since it was checked may have listed the bucket before the
        # copy: the item must stay "waiting" for it. The next drain finishes the row.
        if sync_running(conn, dataset.id):
            return "deferred"
        if _status(conn, entry["id"]) != "pending":
            return "applied"  # finished meanwhile by another drain (or the upload itself)
        if entry["item_id"] is not None:
            conn.execute(
                items.update()
                .where(items.c.id == entry["item_id"])
                .values(
                    etag=info.etag,
                    size=info.size,
                    mtime=info.last_modified,
                    downstream=sa.case(
                        (items.c.downstream == "put", sa.null()), else_=items.c.downstream
                    ),
                    updated_at=now_utc(),
                )
            )
        outbox.mark_done(conn, [entry["id"]], now=now_utc())
    log.info(
        "Wrote %s%s (etag %s)", store.location, entry["storage_key"][len(store.prefix) :], info.etag
    )
    return "applied"


def _status(conn: Connection, entry_id: int) -> str | None:
    return conn.execute(
        sa.select(outbox_table.c.status).where(outbox_table.c.id == entry_id)
    ).scalar()


def _abandon(catalog: Catalog, store: ObjectStore, dataset: Dataset, entry: dict) -> str:
    """Remove an upload's reservation whose lease ran out: its process died mid-upload (no
    client was told it succeeded). A new item goes; an existing one stays as it was.

    A new file was written straight to its key, whole or not at all. On the internal
    storage the key is Tributary's: it is deleted. In a driver's bucket an object there is
    not known to be the upload's (a file the catalog had not indexed yet is never deleted
    on a guess); one the upload did complete is indexed by the next sync."""
    if entry["spool_key"]:
        store.delete(entry["spool_key"])
    elif entry["error"] == RESERVED_NEW and dataset.driver is None:
        store.delete(entry["storage_key"])
    with catalog.begin() as conn:
        release_reservation(conn, entry)
    log.warning(
        "Removed the abandoned upload of %s (its uploader stopped before it finished)",
        entry["storage_key"],
    )
    return "abandoned"


def still_reserved(conn: Connection, entry_id: int) -> str | None:
    """The reservation mark of a put row that is still one, else None."""
    row = conn.execute(
        sa.select(outbox_table.c.error, outbox_table.c.status).where(outbox_table.c.id == entry_id)
    ).first()
    if row is None or row.status != "pending" or row.error not in RESERVED:
        return None
    return row.error


def release_reservation(conn: Connection, entry: dict) -> bool:
    """Undo a reservation that is still one (in the caller's transaction): the new item
    is deleted, an existing item's ``downstream`` flag cleared, the put row removed.
    False when it is no reservation any more."""
    mark = still_reserved(conn, entry["id"])
    if mark is None:
        return False
    waiting = (items.c.id == entry["item_id"]) & (items.c.downstream == "put")
    if mark == RESERVED_NEW:
        conn.execute(items.delete().where(waiting))
    else:
        conn.execute(items.update().where(waiting).values(downstream=None))
    conn.execute(outbox_table.delete().where(outbox_table.c.id == entry["id"]))
    return True


# -- deletes -------------------------------------------------------------------------------


def _delete(catalog: Catalog, store: ObjectStore, dataset: Dataset, entry: dict) -> str:
    with catalog.begin() as conn:
        back = _item_back(conn, entry["item_id"])
    # Internal storage is Tributary's own; a bucket is the user's, touched only if allowed.
    allowed = dataset.driver is None or dataset.driver.allow_delete
    if back:
        note = "kept: the item is in the dataset again"
    elif not allowed:
        note = "kept: the driver does not allow deletes"
    else:
        store.delete(entry["storage_key"])
        note = None
    with catalog.begin() as conn:
        if entry["item_id"] is not None:
            conn.execute(
                items.update()
                .where((items.c.id == entry["item_id"]) & (items.c.downstream == "delete"))
                .values(downstream=None)
            )
        _done(conn, entry, note)
    return "kept" if note else "applied"


def _item_back(conn: Connection, item_id: int | None) -> bool:
    """The item whose file a delete concerns is no longer deleted."""
    if item_id is None:
        return False
    state = conn.execute(sa.select(items.c.state).where(items.c.id == item_id)).scalar()
    return state is not None and state != "deleted"


def _delete_thumbnail(catalog: Catalog, store: ObjectStore, entry: dict) -> str:
    key = entry["storage_key"]
    with catalog.begin() as conn:
        # Thumbnail keys are per item: preprocessing may already have made the new one.
        in_use = conn.execute(
            sa.select(items.c.id)
            .where((items.c.dataset_id == entry["dataset_id"]) & (items.c.thumbnail_key == key))
            .limit(1)
        ).first()
    if not in_use:
        store.delete(key)
    with catalog.begin() as conn:
        _done(conn, entry, "kept: an item uses it again" if in_use else None)
    return "kept" if in_use else "applied"


def _done(conn: Connection, entry: dict, note: str | None) -> None:
    outbox.mark_done(conn, [entry["id"]], now=now_utc())
    if note:
        conn.execute(
            outbox_table.update().where(outbox_table.c.id == entry["id"]).values(error=note)
        )


# -- failures ------------------------------------------------------------------------------


def _failed_attempt(catalog: Catalog, entry: dict, exc: Exception) -> str:
    """Reschedule the row with exponential backoff, or give it up after the last attempt.
    The error kept is one line: our own message, or only the type of a surprise."""
    attempts = entry["attempts"] + 1
    reason = str(exc) if isinstance(exc, TributaryError) else type(exc).__name__
    error = f"{entry['op']} {entry['storage_key']}: {reason}"[:1000]
    now = now_utc()
    if attempts >= downstream_max_attempts():
        retry_at = None
    else:
        delay = min(downstream_retry_delay() * 2 ** (attempts - 1), MAX_RETRY_DELAY)
        retry_at = now + delay
    with catalog.begin() as conn:
        outbox.mark_failed_attempt(conn, entry["id"], error=error, now=now, retry_at=retry_at)
    if retry_at is None:
        log.error("Gave up on outbox entry %d after %d attempts: %s", entry["id"], attempts, error)
        return "gave up"
    log.warning(
        "Outbox entry %d failed (attempt %d), retry at %s: %s",
        entry["id"],
        attempts,
        retry_at,
        error,
    )
    return "retry"


def retry_failed(catalog: Catalog, *, dataset: str | None = None) -> int:
    """Put the rows given up as failed back in the queue, due now with fresh attempts
    (after the cause was fixed); returns how many."""
    with catalog.begin() as conn:
        query = outbox_table.update().where(outbox_table.c.status == "failed")
        if dataset:
            query = query.where(outbox_table.c.dataset_id == dataset_queries.get(conn, dataset).id)
        return conn.execute(
            query.values(status="pending", attempts=0, next_attempt_at=now_utc(), applied_at=None)
        ).rowcount


# -- announcements -------------------------------------------------------------------------


def announce(
    catalog: Catalog, *, dataset_id: int | None = None, now: dt.datetime | None = None
) -> list[dict]:
    """Mark the due announce rows done and return one ``items-created`` extra per dataset
    (``dataset``, ``count``, ``min_id``, ``max_id``) for the caller to emit. Rows whose item
    still waits for its put stay pending (preprocessing would find no file); rows whose
    item is gone or deleted are done without an announcement."""
    with catalog.begin() as conn:
        return _announce(conn, dataset_id, now or now_utc())


def _announce(conn: Connection, dataset_id: int | None, now: dt.datetime) -> list[dict]:
    table = outbox_table.c
    query = (
        sa.select(table.id, table.dataset_id, table.item_id, items.c.state)
        .select_from(outbox_table.outerjoin(items, items.c.id == table.item_id))
        .where(
            (table.op == "announce")
            & (table.status == "pending")
            & (table.next_attempt_at <= now)
            & (sa.func.coalesce(items.c.downstream, "") != "put")
        )
        .order_by(table.id)
    )
    if dataset_id is not None:
        query = query.where(table.dataset_id == dataset_id)
    rows = conn.execute(query).all()
    created: dict[int, set[int]] = {}  # an item uploaded twice is announced once
    for row in rows:
        if row.state == "active":
            created.setdefault(row.dataset_id, set()).add(row.item_id)
    done = [row.id for row in rows]
    for start in range(0, len(done), 500):
        outbox.mark_done(conn, done[start : start + 500], now=now)
    names = dict(
        conn.execute(
            sa.select(datasets.c.id, datasets.c.name).where(datasets.c.id.in_(list(created)))
        ).all()
    )
    return [
        {"dataset": names[ds], "count": len(ids), "min_id": min(ids), "max_id": max(ids)}
        for ds, ids in sorted(created.items(), key=lambda pair: names[pair[0]])
    ]
