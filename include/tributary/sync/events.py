"""Bucket event notifications → catalog changes (the event-driven upstream sync).

Payloads come from Airflow triggers watching the bucket's event queue and are parsed
into ``BucketEvent``s by ``sync.event_messages`` (re-exported here: the event-sync DAG
calls ``events.parse_payloads`` then ``events.apply``). Only the newest event per key is
applied — in one transaction per dataset, through the same plan/apply SQL as the nightly
reconcile (so a copy + delete in one batch is a rename that keeps the item). Keys in the
hidden folder are ignored, so Tributary's own thumbnails and probe files never loop back.
Dropped events are caught by the nightly reconcile.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from tributary.catalog import Catalog, change_plans, staging
from tributary.catalog import datasets as dataset_queries
from tributary.catalog import items as item_queries
from tributary.catalog import syncs as sync_queries
from tributary.catalog.datasets import Dataset
from tributary.catalog.staging import StagedRow
from tributary.config import HIDDEN_FOLDER
from tributary.errors import TributaryError
from tributary.mimetype import mimetype_of_extension
from tributary.storage import open_dataset_store
from tributary.storage.base import ObjectNotFound
from tributary.sync import listing, scope
from tributary.sync.event_messages import BucketEvent, newest_per_key, parse_payloads

__all__ = ["BucketEvent", "apply", "parse_payloads"]

log = logging.getLogger(__name__)


def apply(
    catalog: Catalog,
    events: list[BucketEvent],
    *,
    dag_id: str,
    run_id: str,
    run_alive: sync_queries.RunAlive | None = None,
) -> list[dict]:
    """Apply events to every dataset whose storage they fall in; one summary per dataset."""
    latest = newest_per_key(events)
    log.info("%d events, %d objects after deduplication", len(events), len(latest))
    with catalog.begin() as conn:
        names = [d["name"] for d in dataset_queries.list_all(conn)]
        datasets = [dataset_queries.get(conn, name) for name in names]
    results = []
    for dataset in datasets:
        mine = [e for e in latest if _belongs(dataset, e)]
        if mine:
            results.append(_apply_to_dataset(catalog, dataset, mine, dag_id, run_id, run_alive))
    return results


def _belongs(dataset: Dataset, event: BucketEvent) -> bool:
    driver = dataset.driver
    if driver is None or driver.provider != event.provider or driver.bucket != event.bucket:
        return False
    if dataset.origin is not None:  # a clone shares the bucket but is never synced
        return False
    root = driver.prefix + scope.static_root(dataset.folder)
    hidden = f"{driver.prefix}{HIDDEN_FOLDER}/"
    key = event.key
    return key.startswith(root) and not key.startswith(hidden) and not key.endswith("/")


def _with_content_hashes(dataset: Dataset, created: list[BucketEvent]) -> list[BucketEvent]:
    """Fill in size and content hash with a HEAD where an event does not carry them (Azure
    Event Grid); an object already gone again is left to its delete event."""
    if all(e.etag for e in created):
        return created
    store = open_dataset_store(dataset)
    completed = []
    for event in created:
        if event.etag:
            completed.append(event)
            continue
        try:
            info = store.head(event.key)
        except ObjectNotFound:
            log.info("%s is gone again; skipping its created event", event.key)
            continue
        completed.append(
            dataclasses.replace(
                event, size=info.size, etag=info.etag, mtime=info.last_modified or event.mtime
            )
        )
    return completed


def _apply_to_dataset(
    catalog: Catalog,
    dataset: Dataset,
    events: list[BucketEvent],
    dag_id: str,
    run_id: str,
    run_alive: sync_queries.RunAlive | None,
) -> dict:
    sync_id = listing.start(
        catalog,
        dataset_name=dataset.name,
        kind="event",
        dag_id=dag_id,
        run_id=run_id,
        run_alive=run_alive,
    )
    try:
        return _apply_batch(catalog, dataset, events, sync_id)
    except Exception as exc:
        reason = str(exc) if isinstance(exc, TributaryError) else type(exc).__name__
        with catalog.begin() as conn:
            sync_queries.fail(conn, sync_id, f"events not applied: {reason}")
        raise


def _apply_batch(catalog: Catalog, dataset: Dataset, events: list[BucketEvent], sync_id: int):
    prefix = dataset.driver.prefix
    now = dt.datetime.now(dt.UTC)
    with catalog.begin() as conn:
        applied_order = item_queries.event_orders(conn, dataset.id, [e.key for e in events])
    fresh = [e for e in events if e.order > applied_order.get(e.key, "")]
    stale = len(events) - len(fresh)
    created = _with_content_hashes(dataset, [e for e in fresh if e.kind == "created"])
    with catalog.begin() as conn:
        staging.insert_rows(
            conn,
            [
                StagedRow(
                    sync_id=sync_id,
                    storage_key=e.key,
                    partition_index=0,
                    path=f"/{e.key[len(prefix) :]}",
                    size=e.size,
                    etag=e.etag,
                    mtime=e.mtime,
                    mimetype=mimetype_of_extension(e.key.rpartition("/")[2]),
                )
                for e in created
            ],
        )
        plan = change_plans.plan_events(
            conn,
            dataset_id=dataset.id,
            sync_id=sync_id,
            deleted_keys=[e.key for e in fresh if e.kind == "deleted"],
        )
        item_queries.check_quota(
            conn, dataset_id=dataset.id, dataset_name=dataset.name, needed=plan["new"]
        )
        change_plans.apply(
            conn, dataset_id=dataset.id, sync_id=sync_id, last_seen_sync_id=None, now=now
        )
        item_queries.record_event_orders(conn, dataset.id, {e.key: e.order for e in fresh})
        counts = {
            "items_new": plan["new"],
            "items_changed": plan["changed"],
            "items_renamed": plan["renamed"],
            "items_ghosted": plan["vanished"],
            "items_revived": plan["revived"],
        }
        sync_queries.record_report(
            conn, sync_id, {"events": len(events), "stale_ignored": stale, "counts": plan}
        )
        sync_queries.succeed(conn, sync_id, **counts)
        created_range = item_queries.created_by(conn, sync_id)
    log.info("Dataset %s: %s (%d stale events ignored)", dataset.name, plan, stale)
    return {"dataset": dataset.name, "sync_id": sync_id, **counts, "created": created_range}
