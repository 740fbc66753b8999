"""Thumbnails: the reason an item has none, and fetching the bytes of one."""

from __future__ import annotations

import pytest

from tests.sync.upstream_steps import upstream_sync
from tributary.catalog.schema import items
from tributary.errors import DatasetNotFound, NotFound
from tributary.usecases.datasets import create_dataset
from tributary.usecases.drivers import create_driver
from tributary.usecases.thumbnails import (
    NoThumbnail,
    fetch_thumbnail,
    missing_thumbnail_reason,
)

THUMBNAIL_KEY = ".tributary/thumbnails/a.jpg"


@pytest.fixture
def dataset(catalog, bucket):
    create_driver(catalog, name="d", provider="local", bucket=str(bucket))
    create_dataset(catalog, name="ds", driver="d", start_sync=False)
    upstream_sync(catalog, "ds")
    return "ds"


def set_preprocessing(catalog, path: str, **values) -> None:
    with catalog.begin() as conn:
        conn.execute(items.update().where(items.c.path == path).values(**values))


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        pytest.param({"thumbnail_key": "k", "preprocess_state": "done"}, None, id="has-one"),
        pytest.param(
            {"thumbnail_key": None, "preprocess_state": "pending"},
            "it is not preprocessed yet",
            id="pending",
        ),
        pytest.param(
            {"thumbnail_key": None, "preprocess_state": "failed", "preprocess_error": "bad"},
            "its preprocessing failed: bad",
            id="failed",
        ),
        pytest.param(
            {"thumbnail_key": None, "preprocess_state": "done", "mimetype": "text/csv"},
            "it is a text/csv without one",
            id="no-kind-of-thumbnail",
        ),
        pytest.param(
            {"thumbnail_key": None, "preprocess_state": "done", "mimetype": None},
            "it is a file without one",
            id="unknown-kind",
        ),
    ],
)
def test_reasons_for_no_thumbnail(item, reason):
    assert missing_thumbnail_reason(item) == reason


def test_a_thumbnail_is_read_from_the_dataset_storage(catalog, dataset, bucket):
    (bucket / ".tributary" / "thumbnails").mkdir(parents=True)
    (bucket / THUMBNAIL_KEY).write_bytes(b"\xff\xd8\xffthumb")
    set_preprocessing(catalog, "/sub/a.jpg", preprocess_state="done", thumbnail_key=THUMBNAIL_KEY)

    found = fetch_thumbnail(catalog, dataset, "sub/a.jpg")

    assert (found.key, found.data) == (THUMBNAIL_KEY, b"\xff\xd8\xffthumb")


def test_a_pending_item_says_no_thumbnail_yet(catalog, dataset):
    with pytest.raises(NoThumbnail, match=r"^'/sub/a.jpg' has no thumbnail: it is not pre") as e:
        fetch_thumbnail(catalog, dataset, "/sub/a.jpg")

    assert (e.value.dataset, e.value.preprocess_state) == ("ds", "pending")


def test_a_failed_item_gives_the_failure(catalog, dataset):
    set_preprocessing(catalog, "/b.png", preprocess_state="failed", preprocess_error="truncated")

    with pytest.raises(NoThumbnail, match="preprocessing failed: truncated"):
        fetch_thumbnail(catalog, dataset, "/b.png")


def test_unknown_items_and_datasets(catalog, dataset):
    with pytest.raises(NotFound, match=r"no item '/x.jpg' in dataset 'ds'"):
        fetch_thumbnail(catalog, dataset, "/x.jpg")
    with pytest.raises(DatasetNotFound):
        fetch_thumbnail(catalog, "nope", "/b.png")
