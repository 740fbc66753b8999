"""Link files found in a storage become linked items: the step after a sync indexes.

A bucket may hold the spec's link JSON files (written by Tributary for another dataset, or
brought by users, ``dataloop`` shebang included). After a sync indexes new items, the
``.json`` ones small enough to be links (64 KiB) are read and those that parse as a link
are marked ``kind='link'`` with their URL (``catalog.link_items``). A file that is not a
link, or a broken one, stays a file; a read that fails is logged and does not fail the sync.
"""

from __future__ import annotations

import logging

from tributary.catalog import Catalog, link_items
from tributary.catalog import datasets as dataset_queries
from tributary.catalog import items as item_queries
from tributary.catalog import syncs as sync_queries
from tributary.catalog.datasets import Dataset
from tributary.errors import TributaryError
from tributary.ingest.links import MAX_LINK_BYTES, parse_link

log = logging.getLogger(__name__)


def recognise(catalog: Catalog, dataset: Dataset, min_id: int, max_id: int) -> int:
    """Mark the link files among the dataset's items ``min_id..max_id``; how many."""
    from tributary.storage import open_dataset_store

    with catalog.begin() as conn:
        candidates = link_items.link_candidates(
            conn, dataset.id, min_id, max_id, max_bytes=MAX_LINK_BYTES
        )
    if not candidates:
        return 0
    store = open_dataset_store(dataset)
    marked = 0
    for candidate in candidates:
        try:
            link = parse_link(store.read(candidate["storage_key"]))
        except TributaryError as exc:
            log.warning("%s is not a readable link file: %s", candidate["storage_key"], exc)
            continue
        except Exception:  # the storage: the item stays a file, the sync goes on
            log.warning("Could not read %s", candidate["storage_key"], exc_info=True)
            continue
        if link is None:
            continue
        with catalog.begin() as conn:
            link_items.mark_link(conn, candidate["id"], link)
        marked += 1
    if marked:
        log.info("%d link file(s) of dataset %s indexed as linked items", marked, dataset.name)
    return marked


def recognise_created(catalog: Catalog, sync_id: int) -> int:
    """``recognise`` over the items sync ``sync_id`` created (none: nothing read)."""
    with catalog.begin() as conn:
        created = item_queries.created_by(conn, sync_id)
        if not created["count"]:
            return 0
        dataset = dataset_queries.get_by_id(conn, sync_queries.get(conn, sync_id)["dataset_id"])
    try:
        return recognise(catalog, dataset, created["min_id"], created["max_id"])
    except Exception:
        log.warning("Link files of sync %d were not recognised", sync_id, exc_info=True)
        return 0
