"""The initial sync's own steps, after the shared listing (``listing``): check the
quota, then index every listed key that is not an item yet (one task does both)."""

from __future__ import annotations

import logging

from sqlalchemy.engine import Connection

from tributary.catalog import Catalog
from tributary.catalog import datasets as dataset_queries
from tributary.catalog import items as item_queries
from tributary.catalog import syncs as sync_queries
from tributary.errors import ListingIncomplete
from tributary.sync import link_files

log = logging.getLogger(__name__)


def check_quota(catalog: Catalog, sync_id: int) -> int:
    """Fail before indexing anything when the new items would exceed a quota."""
    with catalog.begin() as conn:
        return _check_quota(conn, sync_id)


def index(catalog: Catalog, sync_id: int) -> dict:
    """Insert the new items in one set-based statement and close the sync run."""
    with catalog.begin() as conn:
        return _index(conn, sync_id)


def check_quota_and_index(catalog: Catalog, sync_id: int) -> dict:
    """Both steps in one transaction (one task: a task's start-up costs more than both).

    A refusal raises before anything is written, so a retry or a re-run after the quota
    is raised starts from the same staging rows.
    """
    with catalog.begin() as conn:
        _check_quota(conn, sync_id)
        created = _index(conn, sync_id)
    link_files.recognise_created(catalog, sync_id)  # link JSON files become linked items
    return created


def _check_quota(conn: Connection, sync_id: int) -> int:
    # Only unfinished partitions stop the indexing: a folder that could not be listed
    # hides items but ghosts none, and an initial sync has nothing to ghost.
    unfinished = sync_queries.unfinished_partitions(conn, sync_id)
    if unfinished:
        raise ListingIncomplete(
            f"listing incomplete: partitions {unfinished} did not finish; nothing indexed"
        )
    if sync_queries.incomplete_partitions(conn, sync_id):
        log.warning("Indexing what was listed: %s", sync_queries.listing_gaps(conn, sync_id))
    dataset = dataset_queries.get_by_id(conn, sync_queries.get(conn, sync_id)["dataset_id"])
    needed = item_queries.count_new(conn, dataset_id=dataset.id, sync_id=sync_id)
    item_queries.check_quota(conn, dataset_id=dataset.id, dataset_name=dataset.name, needed=needed)
    log.info("Quota check passed: %d new items", needed)
    return needed


def _index(conn: Connection, sync_id: int) -> dict:
    run = sync_queries.get(conn, sync_id)
    created = item_queries.index_new(conn, dataset_id=run["dataset_id"], sync_id=sync_id)
    sync_queries.succeed(conn, sync_id, items_new=created["count"])
    log.info(
        "Indexed %d new items (ids %s..%s)", created["count"], created["min_id"], created["max_id"]
    )
    return {"sync_id": sync_id, **created}
