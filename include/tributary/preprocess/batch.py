"""One preprocessing batch: describe each item from its storage, write its thumbnail into
the hidden folder and record the outcome.

A linked item is read from its URL through the safe fetcher instead of from the storage
(``preprocess.linked``); its thumbnail goes to the hidden folder like any other, and a URL
that fails fails the item with a reason (it never holds the batch up for a retry).

Whatever a file's bytes, its item ends ``done`` or ``failed`` with a reason (``describe``
turns every decoder error, the read limit and the time limit into one). A storage error
leaves the item ``pending`` and, once the rest of the batch is recorded, fails the task so
that Airflow retries it (the retry only redoes those items). Planning the batches is
``tributary.preprocess.planning``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from tributary import config
from tributary.catalog import Catalog, link_items
from tributary.catalog import datasets as dataset_queries
from tributary.catalog import preprocessing as queries
from tributary.catalog.preprocessing import Selection
from tributary.errors import TributaryError
from tributary.ingest.fetch import Fetcher
from tributary.mimetype import mimetype_of_extension
from tributary.preprocess import linked
from tributary.preprocess.describe import Outcome, describe
from tributary.preprocess.options import Limits, ThumbnailSpec
from tributary.storage import ObjectStore, open_dataset_store
from tributary.storage.base import ObjectNotFound, StorageError

log = logging.getLogger(__name__)

RECORD_EVERY = 100  # outcomes per catalog write: progress survives a killed task


class ItemsDeferred(TributaryError):
    """Some items could not be read or written (storage errors); they stay pending."""

    permanent = False  # the storage errors may pass: the retry takes the pending items


def thumbnail_spec() -> ThumbnailSpec | None:
    """The configured thumbnail settings (None: ``TRIBUTARY_THUMBNAIL_FORMAT=none``)."""
    fmt = config.thumbnail_format()
    return None if fmt == "none" else ThumbnailSpec(size=config.thumbnail_size(), format=fmt)


def thumbnail_key(store: ObjectStore, dataset_id: int, item_id: int, spec: ThumbnailSpec) -> str:
    """Where an item's thumbnail lives: by id, so a renamed item keeps its thumbnail."""
    return f"{store.hidden_prefix}thumbnails/{dataset_id}/{item_id}.{spec.extension}"


@dataclass
class StoreSource:
    """An item's file in an ObjectStore, read by ranges (``describe``'s ``Source``)."""

    store: ObjectStore
    key: str
    name: str
    size: int
    extension_mimetype: str | None

    def read(self, start: int, length: int) -> bytes:
        return self.store.read(self.key, start, length)


@dataclass
class BatchResult:
    done: int = 0
    failed: int = 0
    missing: int = 0
    deferred: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "done": self.done,
            "failed": self.failed,
            "missing": self.missing,
            "deferred": len(self.deferred),
        }


def process_batch(
    catalog: Catalog,
    batch: dict,
    *,
    spec: ThumbnailSpec | None,
    max_pixels: int | None = None,
    threads: int,
    limits: Limits | None = None,
    progress: Callable[[str], None] = log.info,
) -> dict:
    """Preprocess one batch; returns counts ``{done, failed, missing, deferred}``.

    ``limits`` default to the configured ones (``max_pixels``, when given, overrides the
    pixel limit). Raises ``ItemsDeferred`` at the end when storage errors left items
    pending.
    """
    limits = limits or Limits.from_config(pixels=max_pixels)
    selection = Selection.from_dict(batch["selection"])
    with catalog.begin() as conn:
        dataset = dataset_queries.get_by_id(conn, batch["dataset_id"])
        rows = queries.batch_items(conn, dataset.id, selection, batch["min_id"], batch["max_id"])
        links = link_items.link_urls(conn, [row["id"] for row in rows])
    store = open_dataset_store(dataset)
    result, pending, started = BatchResult(), [], time.monotonic()
    fetcher = Fetcher() if links else None  # one pool of connections for the batch's links

    def work(row: dict):
        try:
            if row["id"] in links:
                source = _LinkSource(fetcher, links[row["id"]])
                return row, _process_item(store, dataset.id, row, spec, limits, source)
            return row, _process_item(store, dataset.id, row, spec, limits)
        except StorageError as exc:
            return row, exc
        except Exception as exc:  # never lose the batch's other outcomes
            log.exception("Preprocessing %s failed unexpectedly", row["path"])
            return row, _failed(row, f"preprocessing error: {type(exc).__name__}: {exc}")

    with contextlib.ExitStack() as closing, ThreadPoolExecutor(max(1, threads)) as pool:
        if fetcher is not None:
            closing.callback(fetcher.close)
        for row, outcome in pool.map(work, rows):
            if isinstance(outcome, ObjectNotFound):
                result.missing += 1  # gone from the bucket: the next sync tombstones it
            elif isinstance(outcome, StorageError):
                result.deferred.append(f"{row['path']}: {outcome}")
            else:
                pending.append(outcome)
                if outcome["state"] == "done":
                    result.done += 1
                else:
                    result.failed += 1
                    progress(f"{dataset.name}{row['path']}: failed: {outcome['error']}")
            if len(pending) >= RECORD_EVERY:
                _record(catalog, pending)
        _record(catalog, pending)
    elapsed = time.monotonic() - started
    progress(
        f"{dataset.name} batch {batch['index']}: {len(rows)} items in {elapsed:.1f} s "
        f"({len(rows) / elapsed if elapsed else 0:.0f}/s): {result.as_dict()}"
    )
    if result.deferred:
        raise ItemsDeferred(
            f"{len(result.deferred)} items of {dataset.name} could not be read or their "
            f"thumbnail written; they stay pending for the retry. First: {result.deferred[0]}"
        )
    return result.as_dict()


def _record(catalog: Catalog, outcomes: list[dict]) -> None:
    if outcomes:
        with catalog.begin() as conn:
            queries.record(conn, outcomes)
        outcomes.clear()


@dataclass
class _LinkSource:
    """Where a linked item's bytes are: its URL, through the batch's fetcher."""

    fetcher: Fetcher
    link: dict  # {"url", "mimetype"}

    def describe(self, row: dict, spec: ThumbnailSpec | None, limits: Limits) -> Outcome:
        return linked.describe_link(
            self.fetcher,
            self.link["url"],
            name=linked.link_name(row["path"]),
            link_mimetype=self.link["mimetype"],
            spec=spec,
            limits=limits,
        )


def _process_item(
    store: ObjectStore,
    dataset_id: int,
    row: dict,
    spec: ThumbnailSpec | None,
    limits: Limits,
    link: _LinkSource | None = None,
) -> dict:
    if link is not None:
        outcome: Outcome = link.describe(row, spec, limits)
    else:
        name = row["path"].rpartition("/")[2]
        extension = mimetype_of_extension(name)
        source = StoreSource(store, row["storage_key"], name, row["size"], extension)
        outcome = describe(source, spec=spec, limits=limits)
    key = None
    if outcome.thumbnail is not None:
        key = thumbnail_key(store, dataset_id, row["id"], spec)
        store.write(key, outcome.thumbnail.data, content_type=outcome.thumbnail.mimetype)
        outcome.metadata["thumbnail"] = {
            "key": key,
            "width": outcome.thumbnail.width,
            "height": outcome.thumbnail.height,
            "mimetype": outcome.thumbnail.mimetype,
        }
    elif row["thumbnail_key"]:
        _delete_stale_thumbnail(store, row["thumbnail_key"])
    return {
        **_failed(row, outcome.error),
        "state": "failed" if outcome.error else "done",
        "metadata": outcome.metadata,
        "mimetype": outcome.mimetype,
        "thumbnail_key": key,
    }


def _failed(row: dict, reason: str | None) -> dict:
    """An outcome that records ``reason`` against the item as it was read."""
    return {
        "id": row["id"],
        "size": row["size"],
        "etag": row["etag"],
        "state": "failed",
        "error": reason,
        "metadata": {"name": row["path"].rpartition("/")[2], "size": row["size"]},
        "mimetype": row["mimetype"],
        "thumbnail_key": None,
    }


def _delete_stale_thumbnail(store: ObjectStore, key: str) -> None:
    """The file changed into one without a thumbnail: its old one goes, if it can (a
    driver without delete permission keeps it; the item no longer points at it)."""
    try:
        store.delete(key)
    except StorageError as exc:
        log.warning("Left the stale thumbnail %s: %s", key, exc)
