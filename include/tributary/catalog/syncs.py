"""Sync runs: their record, listing partitions, progress counters and the dataset lock."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from tributary.catalog import datasets as dataset_queries
from tributary.catalog.schema import (
    dataset_locks,
    datasets,
    item_purges,
    staging_listing,
    sync_changes,
    sync_partitions,
    sync_runs,
)
from tributary.errors import NotFound, SyncLocked

if TYPE_CHECKING:
    from tributary.catalog.engine import Catalog

log = logging.getLogger(__name__)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# Counters a sync run reports (columns of sync_runs).
COUNTS = (
    "items_new",
    "items_changed",
    "items_renamed",
    "items_ghosted",
    "items_revived",
    "items_purged",
)

# Asked about the Airflow run that holds a lock: is it still going? (None: unknown.)
RunAlive = Callable[[str, str], "bool | None"]


def start(
    conn: Connection,
    *,
    dataset_id: int,
    kind: str,
    dag_id: str,
    run_id: str,
    scope: str | None = None,
    dry_run: bool = False,
) -> int:
    """The sync run of this Airflow run: created once, found again on a retry or re-run."""
    key = (
        (sync_runs.c.dag_id == dag_id)
        & (sync_runs.c.run_id == run_id)
        & (sync_runs.c.dataset_id == dataset_id)
    )
    existing = conn.execute(sa.select(sync_runs.c.id).where(key)).scalar()
    running = {"status": "running", "scope": scope, "dry_run": dry_run, "heartbeat_at": _now()}
    if existing is not None:
        conn.execute(
            sync_runs.update()
            .where(sync_runs.c.id == existing)
            .values(error=None, finished_at=None, **running)
        )
        return existing
    return conn.execute(
        sync_runs.insert()
        .values(
            dataset_id=dataset_id,
            kind=kind,
            dag_id=dag_id,
            run_id=run_id,
            started_at=_now(),
            **running,
        )
        .returning(sync_runs.c.id)
    ).scalar_one()


def get(conn: Connection, sync_id: int) -> dict:
    """One sync run as a dict."""
    row = conn.execute(sa.select(sync_runs).where(sync_runs.c.id == sync_id)).mappings().first()
    if row is None:
        raise NotFound(f"no sync run with id {sync_id}")
    return dict(row)


# How often a sync waiting for a dataset's lock asks again.
LOCK_POLL_SECONDS = 5.0

# Rounds of insert / read / swap before giving up for this attempt; each lost round means
# another sync took the lock meanwhile, so more than a few never happen in practice.
LOCK_ATTEMPTS = 3


def wait_for_lock(
    catalog: Catalog,
    *,
    dataset_id: int,
    sync_id: int,
    wait: dt.timedelta,
    stale_after: dt.timedelta = dt.timedelta(hours=1),
    run_alive: RunAlive | None = None,
) -> None:
    """Take the dataset's sync lock, asking again until ``wait`` has passed.

    Each attempt is its own transaction, so a holder that finishes (or dies) meanwhile
    frees the lock for the next attempt. After the wait, this sync run is closed as failed
    (``not started: …``) and ``SyncLocked`` is raised, naming the holder.
    """
    deadline = time.monotonic() + wait.total_seconds()
    while True:
        try:
            with catalog.begin() as conn:
                acquire_lock(
                    conn,
                    dataset_id=dataset_id,
                    sync_id=sync_id,
                    stale_after=stale_after,
                    run_alive=run_alive,
                )
            return
        except SyncLocked as exc:
            left = deadline - time.monotonic()
            if left <= 0:
                with catalog.begin() as conn:
                    fail(conn, sync_id, f"not started: {exc}")
                raise
            log.info("Waiting for the dataset lock: %s", exc)
            # Never sleep past the deadline: the wait is as long as configured, not longer.
            time.sleep(min(LOCK_POLL_SECONDS, left))


def acquire_lock(
    conn: Connection,
    *,
    dataset_id: int,
    sync_id: int,
    stale_after: dt.timedelta = dt.timedelta(hours=1),
    run_alive: RunAlive | None = None,
) -> None:
    """Take the dataset's sync lock; fail clearly while another live sync holds it.

    A holder is dead, and its lock taken over, when its sync run has ended, when Airflow
    says its run is over (``run_alive``), or when it has shown no sign of life (heartbeat)
    for ``stale_after``: a process killed mid-sync never blocks the dataset for good.

    Both ways in are atomic, so racing takers never see a database error: a free lock is
    taken by ``INSERT … ON CONFLICT DO NOTHING`` (a select-then-insert let two takers both
    see it free on PostgreSQL, and the second died on the primary key), a dead holder's lock
    by an update that only matches while that holder still has it.
    """
    for _ in range(LOCK_ATTEMPTS):
        if _insert_lock(conn, dataset_id, sync_id):
            return
        holder = _holder(conn, dataset_id)
        if holder is None:
            continue  # released between our insert and this read: try to take it again
        if holder == sync_id:
            return  # a retry of the holder itself
        run = get(conn, holder)
        ended = run["status"] != "running"
        dead = None if ended else _dead_reason(run, stale_after, run_alive)
        if not ended and dead is None:
            raise SyncLocked(_held_by(run))
        if _swap_holder(conn, dataset_id, holder, sync_id):
            if not ended:
                fail(conn, holder, f"interrupted: {dead}; sync {sync_id} took over the dataset")
            return
        # Another taker swapped first: look again, at the new holder.
    raise SyncLocked(
        f"the lock of this dataset changed hands {LOCK_ATTEMPTS} times while "
        f"sync {sync_id} tried to take it"
    )


def unlock_dataset(
    catalog: Catalog,
    name: str,
    run_alive: RunAlive | None,
    *,
    stale_after: dt.timedelta = dt.timedelta(hours=1),
) -> int | None:
    """Free a dataset's sync lock by hand once its holder is over; the freed sync id.

    The holder counts as over by the same rule as a takeover (Airflow says its run is
    over, or no heartbeat for ``stale_after``), and its sync run is closed as failed.
    While it is alive this refuses (``SyncLocked``, naming the Airflow run): freeing a live
    sync's lock would let a second sync interleave with it. None: the dataset was not locked.
    """
    with catalog.begin() as conn:
        dataset_id = dataset_queries.get(conn, name).id
        holder = _holder(conn, dataset_id)
        if holder is None:
            return None
        run = get(conn, holder)
        if run["status"] == "running":
            dead = _dead_reason(run, stale_after, run_alive)
            if dead is None:
                raise SyncLocked(f"dataset {name} not unlocked: {_held_by(run)}")
            fail(conn, holder, f"interrupted: {dead}; its lock was freed by hand")
        release_lock(conn, holder)
    return holder


def _insert_lock(conn: Connection, dataset_id: int, sync_id: int) -> bool:
    # The dialects' own insert: both SQLite and PostgreSQL spell ON CONFLICT the same way.
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[conn.dialect.name]
    taken = conn.execute(
        insert(dataset_locks)
        .values(dataset_id=dataset_id, sync_id=sync_id, acquired_at=_now())
        .on_conflict_do_nothing(index_elements=[dataset_locks.c.dataset_id])
    )
    return taken.rowcount == 1


def _holder(conn: Connection, dataset_id: int) -> int | None:
    return conn.execute(
        sa.select(dataset_locks.c.sync_id).where(dataset_locks.c.dataset_id == dataset_id)
    ).scalar()


def _swap_holder(conn: Connection, dataset_id: int, holder: int, sync_id: int) -> bool:
    # Compare-and-swap: on PostgreSQL a concurrent swapper waits on the row and then finds
    # the holder changed, so exactly one taker wins.
    swapped = conn.execute(
        dataset_locks.update()
        .where((dataset_locks.c.dataset_id == dataset_id) & (dataset_locks.c.sync_id == holder))
        .values(sync_id=sync_id, acquired_at=_now())
    )
    return swapped.rowcount == 1


def _held_by(run: dict) -> str:
    return (
        f"sync {run['id']} of this dataset ({run['kind']}, Airflow run {run['run_id']}) "
        "is still running; wait for it to finish"
    )


def _dead_reason(run: dict, stale_after: dt.timedelta, run_alive: RunAlive | None) -> str | None:
    if run_alive is not None and run_alive(run["dag_id"], run["run_id"]) is False:
        return f"its Airflow run {run['run_id']} is no longer running"
    last_sign = run["heartbeat_at"] or run["started_at"]
    if last_sign.tzinfo is None:
        last_sign = last_sign.replace(tzinfo=dt.UTC)
    if _now() - last_sign > stale_after:
        return f"no heartbeat since {last_sign:%Y-%m-%d %H:%M:%S} UTC"
    return None


def release_lock(conn: Connection, sync_id: int) -> None:
    """Release whatever lock this sync holds."""
    conn.execute(dataset_locks.delete().where(dataset_locks.c.sync_id == sync_id))


def plan_partitions(conn: Connection, sync_id: int, descriptors: list[dict]) -> None:
    """Record the listing partitions of a sync (replacing an earlier plan of the same sync)."""
    conn.execute(sync_partitions.delete().where(sync_partitions.c.sync_id == sync_id))
    conn.execute(staging_listing.delete().where(staging_listing.c.sync_id == sync_id))
    if descriptors:
        conn.execute(
            sync_partitions.insert(),
            [
                {"sync_id": sync_id, "partition_index": d["index"], "descriptor": d}
                for d in descriptors
            ],
        )
    conn.execute(
        sync_runs.update()
        .where(sync_runs.c.id == sync_id)
        .values(
            partitions_total=len(descriptors),
            partitions_done=0,
            objects_listed=0,
            objects_skipped=0,
        )
    )


def descriptor(conn: Connection, sync_id: int, index: int) -> dict:
    """What one partition lists: ``{"index", "prefixes", "recursive"}``."""
    parts = sync_partitions.c
    return conn.execute(
        sa.select(parts.descriptor).where(
            (parts.sync_id == sync_id) & (parts.partition_index == index)
        )
    ).scalar_one()


def begin_partition(conn: Connection, sync_id: int, index: int) -> None:
    """Mark a partition as listing and drop what an earlier attempt staged for it."""
    parts = sync_partitions.c
    status = conn.execute(
        sa.select(parts.status).where((parts.sync_id == sync_id) & (parts.partition_index == index))
    ).scalar_one()
    if status != "planned":  # a retry: only then can rows of this partition be staged
        conn.execute(
            staging_listing.delete().where(
                (staging_listing.c.sync_id == sync_id)
                & (staging_listing.c.partition_index == index)
            )
        )
    _update_partition(
        conn, sync_id, index, status="listing", objects_listed=0, objects_skipped=0, error=None
    )


def partition_progress(
    conn: Connection, sync_id: int, index: int, listed: int, skipped: int = 0
) -> None:
    """Record how many objects a partition has listed and left out so far."""
    _update_partition(conn, sync_id, index, objects_listed=listed, objects_skipped=skipped)


def finish_partition(
    conn: Connection,
    sync_id: int,
    index: int,
    listed: int,
    skipped: int = 0,
    *,
    unlisted: str | None = None,
) -> None:
    """Mark a partition as listed; ``skipped``: objects holding data that the listing rules
    left out (keys ending in ``/``), reported on the run, never dropped silently.

    ``unlisted`` says which parts could not be listed (an unreadable folder): the partition
    is then ``incomplete`` — its rows are real, but what lies in those parts is unknown, so
    the listing counts as incomplete and nothing is marked as ghost.
    """
    _update_partition(
        conn,
        sync_id,
        index,
        status="incomplete" if unlisted else "done",
        objects_listed=listed,
        objects_skipped=skipped,
        error=unlisted,
        finished_at=_now(),
    )


def fail_partition(conn: Connection, sync_id: int, index: int, error: str) -> None:
    """Mark a partition's listing as failed (its staged rows are incomplete)."""
    _update_partition(conn, sync_id, index, status="failed", error=error)


def _update_partition(conn: Connection, sync_id: int, index: int, **values) -> None:
    conn.execute(
        sync_partitions.update()
        .where(
            (sync_partitions.c.sync_id == sync_id) & (sync_partitions.c.partition_index == index)
        )
        .values(**values)
    )
    _refresh_run_counts(conn, sync_id)


def _refresh_run_counts(conn: Connection, sync_id: int) -> None:
    # Counts are derived from the partitions, so retries never double-count.
    parts = sync_partitions.c
    totals = conn.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(parts.objects_listed), 0),
            # Finished partitions, those with parts they could not list included.
            sa.func.count().filter(parts.status.in_(("done", "incomplete"))),
            sa.func.coalesce(sa.func.sum(parts.objects_skipped), 0),
        ).where(parts.sync_id == sync_id)
    ).one()
    conn.execute(
        sync_runs.update()
        .where(sync_runs.c.id == sync_id)
        .values(
            objects_listed=totals[0],
            partitions_done=totals[1],
            objects_skipped=totals[2],
            heartbeat_at=_now(),
        )
    )


def incomplete_partitions(conn: Connection, sync_id: int) -> list[int]:
    """Partitions not completely listed (unfinished, or finished with parts that could not
    be listed): a listing is complete only without any."""
    return list(
        conn.execute(
            sa.select(sync_partitions.c.partition_index).where(
                (sync_partitions.c.sync_id == sync_id) & (sync_partitions.c.status != "done")
            )
        ).scalars()
    )


def planned_partitions(conn: Connection, sync_ids: list[int]) -> list[tuple[int, int]]:
    """(sync id, partition index) of every planned partition of these syncs, in order."""
    return [
        (sync_id, index)
        for sync_id, index in conn.execute(
            sa.select(sync_partitions.c.sync_id, sync_partitions.c.partition_index)
            .where(sync_partitions.c.sync_id.in_(sync_ids))
            .order_by(sync_partitions.c.sync_id, sync_partitions.c.partition_index)
        )
    ]


def unfinished_partitions(conn: Connection, sync_id: int) -> list[int]:
    """Partitions whose listing did not finish (failed, or not run): their rows are partial."""
    parts = sync_partitions.c
    return list(
        conn.execute(
            sa.select(parts.partition_index).where(
                (parts.sync_id == sync_id) & parts.status.not_in(("done", "incomplete"))
            )
        ).scalars()
    )


def listing_gaps(conn: Connection, sync_id: int) -> str:
    """Why a sync's listing is incomplete, in one line: the partitions that did not finish,
    then what the finished ones could not list."""
    parts = sync_partitions.c
    rows = conn.execute(
        sa.select(parts.partition_index, parts.status, parts.error)
        .where((parts.sync_id == sync_id) & (parts.status != "done"))
        .order_by(parts.partition_index)
    ).all()
    unfinished = [index for index, status, _ in rows if status != "incomplete"]
    reasons = [f"partitions {unfinished} did not finish"] if unfinished else []
    reasons += [
        f"partition {index} {error}" for index, status, error in rows if status == "incomplete"
    ]
    return "; ".join(reasons)


def succeed(conn: Connection, sync_id: int, **counts) -> None:
    """Close a sync run as succeeded, drop its staging rows and release the lock."""
    _close(conn, sync_id, status="succeeded", error=None, **counts)


def fail(conn: Connection, sync_id: int, error: str, **counts) -> None:
    """Close a sync run as failed with a one-line reason, and release the lock."""
    _close(conn, sync_id, status="failed", error=error, **counts)


def _close(conn: Connection, sync_id: int, **values) -> None:
    conn.execute(
        sync_runs.update().where(sync_runs.c.id == sync_id).values(finished_at=_now(), **values)
    )
    conn.execute(staging_listing.delete().where(staging_listing.c.sync_id == sync_id))
    conn.execute(sync_changes.delete().where(sync_changes.c.sync_id == sync_id))
    release_lock(conn, sync_id)


def record_report(conn: Connection, sync_id: int, report: dict) -> None:
    """Store the reconcile plan of a sync (counts per kind, samples) on its run."""
    conn.execute(sync_runs.update().where(sync_runs.c.id == sync_id).values(report=report))


def last_complete_sync(conn: Connection, dataset_id: int, before: int) -> int | None:
    """The newest applied (not dry-run) succeeded sync of a dataset before ``before``."""
    return conn.execute(
        sa.select(sa.func.max(sync_runs.c.id)).where(
            (sync_runs.c.dataset_id == dataset_id)
            & (sync_runs.c.id < before)
            & (sync_runs.c.status == "succeeded")
            & ~sync_runs.c.dry_run
        )
    ).scalar()


def find(conn: Connection, *, dag_id: str, run_id: str) -> list[int]:
    """The sync runs started by one Airflow run."""
    return list(
        conn.execute(
            sa.select(sync_runs.c.id).where(
                (sync_runs.c.dag_id == dag_id) & (sync_runs.c.run_id == run_id)
            )
        ).scalars()
    )


def history(conn: Connection, dataset_name: str, limit: int = 50) -> list[dict]:
    """The newest sync runs of a dataset, newest first."""
    query = (
        sa.select(sync_runs)
        .join(datasets, datasets.c.id == sync_runs.c.dataset_id)
        .where(datasets.c.name == dataset_name)
        .order_by(sync_runs.c.id.desc())
        .limit(limit)
    )
    return [dict(r) for r in conn.execute(query).mappings()]


def live_syncs(
    conn: Connection,
    dataset_id: int,
    *,
    stale_after: dt.timedelta = dt.timedelta(hours=1),
    run_alive: RunAlive | None = None,
) -> list[dict]:
    """The sync runs of a dataset still running and alive, by the takeover rule of
    ``acquire_lock`` (a run with no heartbeat for ``stale_after``, or that Airflow says is
    over, is dead)."""
    running = conn.execute(
        sa.select(sync_runs)
        .where((sync_runs.c.dataset_id == dataset_id) & (sync_runs.c.status == "running"))
        .order_by(sync_runs.c.id)
    ).mappings()
    return [dict(run) for run in running if _dead_reason(dict(run), stale_after, run_alive) is None]


def held_by(run: dict) -> str:
    """Why a running sync blocks a change of its dataset, naming its Airflow run."""
    return _held_by(run)


def delete_history(conn: Connection, dataset_id: int) -> int:
    """Delete everything the syncs of a dataset left in the catalog: their runs,
    partitions, staged listings, plans, purge records and the dataset's lock. Returns the
    sync runs deleted."""
    ids = sa.select(sync_runs.c.id).where(sync_runs.c.dataset_id == dataset_id)
    conn.execute(staging_listing.delete().where(staging_listing.c.sync_id.in_(ids)))
    conn.execute(sync_changes.delete().where(sync_changes.c.sync_id.in_(ids)))
    conn.execute(sync_partitions.delete().where(sync_partitions.c.sync_id.in_(ids)))
    conn.execute(item_purges.delete().where(item_purges.c.dataset_id == dataset_id))
    conn.execute(dataset_locks.delete().where(dataset_locks.c.dataset_id == dataset_id))
    return conn.execute(sync_runs.delete().where(sync_runs.c.dataset_id == dataset_id)).rowcount


def lock_holder(conn: Connection, dataset_id: int) -> int | None:
    """The sync holding a dataset's lock, if any."""
    return _holder(conn, dataset_id)
