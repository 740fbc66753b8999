"""Preprocessing runs: plan batches of catalog items, then describe each item of a batch
from its storage, write its thumbnail into the hidden folder and record the outcome.

A batch is an id range of one dataset (XCom carries only the range and a count). A file
that cannot be preprocessed marks its item ``failed`` with the reason and never fails the
batch; a storage error leaves the item ``pending`` and, once the rest of the batch is
recorded, fails the task so that Airflow retries it (the retry only redoes those items).
"""

from __future__ import annotations

import io
import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from tributary import config
from tributary.catalog import Catalog
from tributary.catalog import datasets as dataset_queries
from tributary.catalog import preprocessing as queries
from tributary.catalog.preprocessing import Selection
from tributary.errors import TributaryError
from tributary.preprocess.describe import Outcome, describe
from tributary.preprocess.image import ThumbnailSpec
from tributary.storage import ObjectStore, open_dataset_store
from tributary.storage.base import ObjectNotFound, StorageError
from tributary.sync.listing import mimetype_of_extension

log = logging.getLogger(__name__)

RECORD_EVERY = 100  # outcomes per catalog write: progress survives a killed task


class ItemsDeferred(TributaryError):
    """Some items could not be read or written (storage errors); they stay pending."""


def thumbnail_spec() -> ThumbnailSpec | None:
    """The configured thumbnail settings (None: ``TRIBUTARY_THUMBNAIL_FORMAT=none``)."""
    fmt = config.thumbnail_format()
    return None if fmt == "none" else ThumbnailSpec(size=config.thumbnail_size(), format=fmt)


def thumbnail_key(store: ObjectStore, dataset_id: int, item_id: int, spec: ThumbnailSpec) -> str:
    """Where an item's thumbnail lives: by id, so a renamed item keeps its thumbnail."""
    return f"{store.hidden_prefix}thumbnails/{dataset_id}/{item_id}.{spec.extension}"


# -- planning ------------------------------------------------------------------------------


def plan(
    catalog: Catalog,
    *,
    dataset_names: list[str] | None,
    selection: Selection,
    lanes: dict[str, dict],
    max_batches: int,
    min_batch: int,
) -> dict:
    """Cut the selected items of each dataset into batches, grouped by lane.

    Returns ``{"lanes": {lane: [batch, …]}, "datasets": {name: count}, "unplaced": […]}``.
    Every configured lane has a (maybe empty) list. Batches are sized so that the whole
    run stays under ``max_batches`` mapped tasks and each batch holds at least
    ``min_batch`` items when there are that many. A dataset assigned to a lane that is
    not configured is left out and named in ``unplaced``: its items never silently run
    on the shared workers.
    """
    with catalog.begin() as conn:
        if dataset_names is None:
            chosen = dataset_queries.all_datasets(conn)
        else:
            chosen = [dataset_queries.get(conn, name) for name in dataset_names]
        counts = {d.name: queries.count_selected(conn, d.id, selection) for d in chosen}
        total = sum(counts.values())
        room = max(1, max_batches - len(chosen))
        batch_size = max(min_batch, math.ceil(total / room)) if total else min_batch
        result: dict = {"lanes": {lane: [] for lane in lanes}, "datasets": counts, "unplaced": []}
        for dataset in chosen:
            if not counts[dataset.name]:
                continue
            lane = dataset.lane or "shared"
            if lane not in lanes:
                result["unplaced"].append({"dataset": dataset.name, "lane": lane})
                continue
            ranges = queries.id_ranges(conn, dataset.id, selection, batch_size)
            for index, batch in enumerate(ranges):
                result["lanes"][lane].append(
                    {
                        "dataset_id": dataset.id,
                        "dataset": dataset.name,
                        "index": index,
                        **batch,
                        "selection": selection.as_dict(),
                    }
                )
    return result


def summarise(catalog: Catalog, planned: dict) -> dict:
    """Each planned dataset's items per preprocessing state after the run, logged."""
    summary = {}
    with catalog.begin() as conn:
        for name, selected in planned["datasets"].items():
            dataset = dataset_queries.get(conn, name)
            summary[name] = {"selected": selected, **queries.states(conn, dataset.id)}
            log.info("%s: %s", name, summary[name])
    return summary


def problems(planned: dict, failed_batches: int) -> list[str]:
    """Why the run should end failed, one sentence each (empty: it succeeded)."""
    found = [
        f"dataset {u['dataset']!r} is in lane {u['lane']!r}, which TRIBUTARY_LANES does not "
        f"define: its items were not preprocessed (define the lane, or "
        f"`tributary dataset set {u['dataset']} --lane ''` for the shared lane)"
        for u in planned["unplaced"]
    ]
    if failed_batches:
        found.append(
            f"{failed_batches} batch task(s) failed after their retries; their items that "
            "were not reached stay pending for the next run (see the tasks' logs)"
        )
    return found


# -- one batch -----------------------------------------------------------------------------


@dataclass
class StoreSource:
    """An item's file in an ObjectStore, read lazily and at most once in whole."""

    store: ObjectStore
    key: str
    name: str
    size: int
    extension_mimetype: str | None
    _whole: bytes | None = field(default=None, repr=False)

    def head(self, length: int) -> bytes:
        if self._whole is not None or length >= self.size:
            return self.whole()[:length]
        return self.store.read(self.key, 0, length)

    def whole(self) -> bytes:
        if self._whole is None:
            self._whole = self.store.read(self.key)
        return self._whole

    def open(self) -> io.BufferedReader:
        return io.BufferedReader(RangedFile(self.store, self.key, self.size), 1 << 20)


class RangedFile(io.RawIOBase):
    """A read-only, seekable file over ranged reads of one object (for FFmpeg)."""

    def __init__(self, store: ObjectStore, key: str, size: int) -> None:
        self.store, self.key, self.size, self.position = store, key, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def readinto(self, buffer) -> int:
        length = min(len(buffer), self.size - self.position)
        if length <= 0:
            return 0
        data = self.store.read(self.key, self.position, length)
        buffer[: len(data)] = data
        self.position += len(data)
        return len(data)


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
    max_pixels: int,
    threads: int,
    progress: Callable[[str], None] = log.info,
) -> dict:
    """Preprocess one batch; returns counts ``{done, failed, missing, deferred}``.

    Raises ``ItemsDeferred`` at the end when storage errors left items pending.
    """
    selection = Selection.from_dict(batch["selection"])
    with catalog.begin() as conn:
        dataset = dataset_queries.get_by_id(conn, batch["dataset_id"])
        rows = queries.batch_items(conn, dataset.id, selection, batch["min_id"], batch["max_id"])
    store = open_dataset_store(dataset)
    result, pending, started = BatchResult(), [], time.monotonic()

    def work(row: dict):
        try:
            return row, _process_item(store, dataset.id, row, spec, max_pixels)
        except StorageError as exc:
            return row, exc

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
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


def _process_item(
    store: ObjectStore, dataset_id: int, row: dict, spec: ThumbnailSpec | None, max_pixels: int
) -> dict:
    name = row["path"].rpartition("/")[2]
    source = StoreSource(store, row["storage_key"], name, row["size"], mimetype_of_extension(name))
    outcome: Outcome = describe(source, spec=spec, max_pixels=max_pixels)
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
        "id": row["id"],
        "size": row["size"],
        "etag": row["etag"],
        "state": "failed" if outcome.error else "done",
        "error": outcome.error,
        "metadata": outcome.metadata,
        "mimetype": outcome.mimetype,
        "thumbnail_key": key,
    }


def _delete_stale_thumbnail(store: ObjectStore, key: str) -> None:
    """The file changed into one without a thumbnail: its old one goes, if it can (a
    driver without delete permission keeps it; the item no longer points at it)."""
    try:
        store.delete(key)
    except StorageError as exc:
        log.warning("Left the stale thumbnail %s: %s", key, exc)
