"""An item's bytes and its thumbnail, read from the dataset's storage by item id."""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from tributary.catalog import Catalog, item_edits
from tributary.catalog import datasets as dataset_queries
from tributary.errors import NotFound
from tributary.storage import ObjectStore, open_dataset_store
from tributary.usecases.items import item_record
from tributary.usecases.thumbnails import NoThumbnail

CHUNK = 1024 * 1024  # bytes read from the storage at a time


@dataclass(frozen=True)
class ItemContent:
    """Where an item's bytes are, and how many: read them with ``chunks``."""

    item: dict
    size: int
    store: ObjectStore
    key: str

    def chunks(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Bytes ``start``..``end`` (inclusive; None: to the end), a chunk at a time."""
        stop = self.size if end is None else min(end + 1, self.size)
        position = start
        while position < stop:
            length = min(CHUNK, stop - position)
            data = self.store.read(self.key, position, length)
            if not data:
                return  # the file is shorter than the catalog says: it changed since
            yield data
            position += len(data)


def _row(catalog: Catalog, dataset: str, item_id: int) -> tuple[dict, ObjectStore]:
    with catalog.begin() as conn:
        found = dataset_queries.get(conn, dataset)
        row = item_edits.item_row(conn, found.id, item_id)
    return row, open_dataset_store(found)


def open_content(catalog: Catalog, dataset: str, item_id: int) -> ItemContent:
    """The bytes of an active item. A deleted item's or a ghost's are not served
    (``NotFound`` says which)."""
    row, store = _row(catalog, dataset, item_id)
    if row["state"] != "active":
        raise NotFound(f"{row['path']!r} is {row['state']}: its content is not served")
    return ItemContent(item_record(row), int(row["size"] or 0), store, row["storage_key"])


@dataclass(frozen=True)
class ThumbnailFile:
    """A thumbnail's bytes, type and version (changes whenever the thumbnail may have)."""

    data: bytes
    mimetype: str
    version: str


def thumbnail_version(item: Mapping) -> str | None:
    """A short tag of an item's thumbnail as it is now (its key is by item id, so the
    content it was made from and when are part of the tag); None without a thumbnail."""
    if not item["thumbnail_key"]:
        return None
    made_from = (item["thumbnail_key"], item["etag"], item["size"], item["preprocessed_at"])
    return hashlib.sha256(repr(made_from).encode()).hexdigest()[:20]


def item_thumbnail(catalog: Catalog, dataset: str, item_id: int) -> ThumbnailFile:
    """The thumbnail of an item (``NoThumbnail`` says why there is none)."""
    row, store = _row(catalog, dataset, item_id)
    if not row["thumbnail_key"]:
        raise NoThumbnail(dataset, row["path"], row)
    key = row["thumbnail_key"]
    mimetype = mimetypes.guess_type(key)[0] or "image/jpeg"
    return ThumbnailFile(store.read(key), mimetype, thumbnail_version(row))
