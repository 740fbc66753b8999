"""Enrich new items from your own DAG: the public API behind the subscriber template.

A DAG scheduled on ``tributary.assets.ITEMS_CREATED`` gets one event per sync that indexed
new items. ``new_items`` turns those events (or a manual run's params) into id ranges;
``add_user_metadata`` reads each new item's bytes from its dataset's storage, calls your
function and merges what it returns into the item's user metadata::

    @task
    def tag(params=None, triggering_asset_events=None) -> dict:
        ranges = new_items(triggering_asset_events.get(ITEMS_CREATED, []), params)
        return add_user_metadata(ranges, my_function, mimetypes=IMAGE_TYPES)

Your function takes the file's bytes and returns a dict of user metadata (or None to
leave the item alone); it may raise ``OSError`` or ``ValueError`` for a file it cannot
read (the item is skipped and counted). Anything else it raises fails the task, so
Airflow retries it. Each item's metadata is merged in its own short transaction, so a
retry redoes only what is missing, and running twice leaves the same catalog.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tributary.catalog import Catalog, datasets
from tributary.catalog import items as item_queries

log = logging.getLogger(__name__)

IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif", "image/tiff")

Compute = Callable[[bytes], "dict | None"]


@dataclass(frozen=True)
class NewItems:
    """The items one sync created in one dataset: ids ``min_id``..``max_id``."""

    dataset: str
    min_id: int
    max_id: int


def new_items(events: Iterable, params: dict | None = None) -> list[NewItems]:
    """The id ranges announced by items-created events (objects with an ``extra`` dict).

    Without events (a manual run), the range the run's params name: ``dataset``,
    ``min_id`` and ``max_id``; an empty ``dataset`` param means nothing to do.
    """
    ranges = [
        NewItems(e.extra["dataset"], e.extra["min_id"], e.extra["max_id"])
        for e in events
        if e.extra and e.extra.get("count")
    ]
    params = params or {}
    if not ranges and params.get("dataset"):
        ranges = [NewItems(params["dataset"], params["min_id"], params["max_id"])]
    return ranges


def add_user_metadata(
    ranges: Iterable[NewItems],
    compute: Compute,
    *,
    mimetypes: Iterable[str] | None = None,
    catalog: Catalog | None = None,
) -> dict:
    """Call ``compute`` on each new item's bytes and merge its result into the item's
    user metadata. Only items of ``mimetypes`` (None: every item) are read.

    Returns the counts ``{"updated": n, "skipped": m}``; skipped are the items whose
    bytes ``compute`` could not read (it raised ``OSError`` or ``ValueError``).
    """
    from tributary.hooks.catalog import open_catalog
    from tributary.storage import open_dataset_store

    catalog = catalog or open_catalog()
    wanted = set(mimetypes) if mimetypes is not None else None
    counts = {"updated": 0, "skipped": 0}
    for new in ranges:
        with catalog.begin() as conn:
            dataset = datasets.get(conn, new.dataset)
            rows = item_queries.in_id_range(conn, dataset.id, new.min_id, new.max_id)
        store = open_dataset_store(dataset)
        for item in rows:
            if wanted is not None and item["mimetype"] not in wanted:
                continue
            try:
                values = compute(store.read(item["storage_key"]))
            except (OSError, ValueError) as exc:
                log.warning("%s: skipped (%s)", item["path"], exc)
                counts["skipped"] += 1
                continue
            if values:
                with catalog.begin() as conn:
                    item_queries.merge_user_metadata(conn, item["id"], values)
                counts["updated"] += 1
    log.info("User metadata added to %d items (%d skipped)", counts["updated"], counts["skipped"])
    return counts
