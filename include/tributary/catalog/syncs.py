"""Sync runs: their record, listing partitions, progress counters and the dataset lock."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tributary.catalog.schema import (
    dataset_locks,
    datasets,
    staging_listing,
    sync_partitions,
    sync_runs,
)
from tributary.errors import NotFound, SyncLocked


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def start(conn: Connection, *, dataset_id: int, kind: str, dag_id: str, run_id: str) -> int:
    """The sync run of this Airflow run: created once, found again on a retry or re-run."""
    key = (
        (sync_runs.c.dag_id == dag_id)
        & (sync_runs.c.run_id == run_id)
        & (sync_runs.c.dataset_id == dataset_id)
    )
    existing = conn.execute(sa.select(sync_runs.c.id).where(key)).scalar()
    if existing is not None:
        conn.execute(
            sync_runs.update()
            .where(sync_runs.c.id == existing)
            .values(status="running", error=None, finished_at=None)
        )
        return existing
    return conn.execute(
        sync_runs.insert()
        .values(
            dataset_id=dataset_id,
            kind=kind,
            status="running",
            dag_id=dag_id,
            run_id=run_id,
            started_at=_now(),
        )
        .returning(sync_runs.c.id)
    ).scalar_one()


def get(conn: Connection, sync_id: int) -> dict:
    """One sync run as a dict."""
    row = conn.execute(sa.select(sync_runs).where(sync_runs.c.id == sync_id)).mappings().first()
    if row is None:
        raise NotFound(f"no sync run with id {sync_id}")
    return dict(row)


def acquire_lock(conn: Connection, *, dataset_id: int, sync_id: int) -> None:
    """Take the dataset's sync lock; fail clearly while another sync holds it."""
    holder = conn.execute(
        sa.select(dataset_locks.c.sync_id).where(dataset_locks.c.dataset_id == dataset_id)
    ).scalar()
    if holder is None:
        conn.execute(
            dataset_locks.insert().values(
                dataset_id=dataset_id, sync_id=sync_id, acquired_at=_now()
            )
        )
        return
    if holder == sync_id:
        return
    holder_status = conn.execute(
        sa.select(sync_runs.c.status).where(sync_runs.c.id == holder)
    ).scalar()
    if holder_status == "running":
        raise SyncLocked(
            f"sync {holder} of this dataset is still running; wait for it to finish "
            "(tributary runs DATASET) before starting another"
        )
    # The holder ended without releasing (its process was killed): take the lock over.
    conn.execute(
        dataset_locks.update()
        .where(dataset_locks.c.dataset_id == dataset_id)
        .values(sync_id=sync_id, acquired_at=_now())
    )


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
        .values(partitions_total=len(descriptors), partitions_done=0, objects_listed=0)
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
    _update_partition(conn, sync_id, index, status="listing", objects_listed=0, error=None)


def partition_progress(conn: Connection, sync_id: int, index: int, listed: int) -> None:
    """Record how many objects a partition has listed so far."""
    _update_partition(conn, sync_id, index, objects_listed=listed)


def finish_partition(conn: Connection, sync_id: int, index: int, listed: int) -> None:
    """Mark a partition as completely listed."""
    _update_partition(
        conn, sync_id, index, status="done", objects_listed=listed, finished_at=_now()
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
            sa.func.count().filter(parts.status == "done"),
        ).where(parts.sync_id == sync_id)
    ).one()
    conn.execute(
        sync_runs.update()
        .where(sync_runs.c.id == sync_id)
        .values(objects_listed=totals[0], partitions_done=totals[1])
    )


def incomplete_partitions(conn: Connection, sync_id: int) -> list[int]:
    """Partitions whose listing did not finish: a listing is complete only without any."""
    return list(
        conn.execute(
            sa.select(sync_partitions.c.partition_index).where(
                (sync_partitions.c.sync_id == sync_id) & (sync_partitions.c.status != "done")
            )
        ).scalars()
    )


def succeed(conn: Connection, sync_id: int, **counts) -> None:
    """Close a sync run as succeeded, drop its staging rows and release the lock."""
    _close(conn, sync_id, status="succeeded", error=None, **counts)


def fail(conn: Connection, sync_id: int, error: str) -> None:
    """Close a sync run as failed with a one-line reason, and release the lock."""
    _close(conn, sync_id, status="failed", error=error)


def _close(conn: Connection, sync_id: int, **values) -> None:
    conn.execute(
        sync_runs.update().where(sync_runs.c.id == sync_id).values(finished_at=_now(), **values)
    )
    conn.execute(staging_listing.delete().where(staging_listing.c.sync_id == sync_id))
    release_lock(conn, sync_id)


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
