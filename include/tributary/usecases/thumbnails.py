"""Thumbnails: why an item has none, and fetching one's bytes from the dataset's storage."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tributary.catalog import Catalog
from tributary.catalog import datasets as dataset_queries
from tributary.catalog import preprocessing as preprocessing_queries
from tributary.errors import NotFound
from tributary.storage import open_dataset_store


class NoThumbnail(NotFound):
    """An item exists but has no thumbnail; ``preprocess_state`` says whether one may
    still come (``pending``)."""

    permanent = True

    def __init__(self, dataset: str, path: str, item: Mapping) -> None:
        super().__init__(f"{path!r} has no thumbnail: {missing_thumbnail_reason(item)}")
        self.dataset = dataset
        self.preprocess_state = item["preprocess_state"]


@dataclass(frozen=True)
class Thumbnail:
    """A thumbnail's bytes and where they live in the dataset's storage."""

    key: str
    data: bytes


def missing_thumbnail_reason(item: Mapping) -> str | None:
    """Why an item (a row of the items table) has no thumbnail; None when it has one."""
    if item["thumbnail_key"]:
        return None
    if item["preprocess_state"] == "pending":
        return "it is not preprocessed yet"
    if item["preprocess_state"] == "failed":
        return f"its preprocessing failed: {item['preprocess_error']}"
    return f"it is a {item['mimetype'] or 'file'} without one"


def fetch_thumbnail(catalog: Catalog, dataset: str, path: str) -> Thumbnail:
    """The thumbnail of the item at ``path`` (``/a/b.jpg`` or ``a/b.jpg``).

    Raises ``NotFound`` for an unknown dataset or item, ``NoThumbnail`` with the reason
    when the item has none.
    """
    with catalog.begin() as conn:
        found = dataset_queries.get(conn, dataset)
        item = preprocessing_queries.item_by_path(conn, dataset, path)
    if item is None:
        raise NotFound(f"no item {path!r} in dataset {dataset!r}")
    if not item["thumbnail_key"]:
        raise NoThumbnail(dataset, path, item)
    key = item["thumbnail_key"]
    return Thumbnail(key, open_dataset_store(found).read(key))
