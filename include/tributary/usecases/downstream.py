"""The downstream sync as a use case: drain the outbox (DAG, CLI, tests alike)."""

from __future__ import annotations

from tributary.catalog import Catalog, outbox
from tributary.catalog import datasets as dataset_queries
from tributary.sync import downstream


def drain(catalog: Catalog, *, dataset: str | None = None, limit: int | None = None) -> dict:
    """Apply the due outbox operations (every dataset, or one) and gather the
    announcements to emit.

    Returns ``{"applied", "failed", "pending", "deferred", "gave_up": [{id, op, key}],
    "announced": [{"dataset", "count", "min_id", "max_id"}]}``: ``failed`` counts failed
    attempts (retried later with backoff), ``gave_up`` the rows that failed for good in
    this drain. The caller emits one ``items-created`` event per announcement: the rows
    behind them are already marked done.
    """
    return downstream.drain(catalog, dataset=dataset, limit=limit).as_dict()


def retry_failed(catalog: Catalog, *, dataset: str | None = None) -> int:
    """Queue the operations given up as failed again (once their cause is fixed)."""
    return downstream.retry_failed(catalog, dataset=dataset)


def pending_operations(catalog: Catalog, dataset: str | None = None) -> int:
    """Outbox operations not applied yet (of one dataset, or all)."""
    with catalog.begin() as conn:
        dataset_id = dataset_queries.get(conn, dataset).id if dataset else None
        return outbox.pending_count(conn, dataset_id)
