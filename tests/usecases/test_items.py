"""Items: the one record shape, and a dataset's items streamed as records."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.sync.upstream_steps import upstream_sync
from tributary.errors import DatasetNotFound, InvalidInput
from tributary.usecases.datasets import create_dataset
from tributary.usecases.drivers import create_driver
from tributary.usecases.items import item_record, iter_item_records

RECORD_KEYS = {
    "id",
    "path",
    "state",
    "size",
    "etag",
    "mimetype",
    "mtime",
    "created_at",
    "metadata",
    "description",
    "preprocess_state",
    "preprocess_error",
    "preprocessed_at",
    "thumbnail",
    "kind",
    "url",
    "downstream",
    "deleted_at",
}


@pytest.fixture
def dataset(catalog, bucket):
    create_driver(catalog, name="d", provider="local", bucket=str(bucket))
    create_dataset(catalog, name="ds", driver="d", start_sync=False)
    upstream_sync(catalog, "ds")
    return "ds"


def test_a_record_has_the_public_shape_and_no_storage_key():
    now = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    row = {
        **{key: None for key in RECORD_KEYS - {"metadata", "thumbnail"}},
        "kind": "file",
        "id": 7,
        "path": "/a.jpg",
        "storage_key": "raw/a.jpg",
        "system_metadata": None,
        "user_metadata": {"camera": 3},
        "thumbnail_key": ".tributary/thumbnails/7.jpg",
        "created_at": now,
    }

    record = item_record(row)

    assert set(record) == RECORD_KEYS
    assert record["metadata"] == {"system": {}, "user": {"camera": 3}}
    assert record["thumbnail"] == ".tributary/thumbnails/7.jpg"
    assert record["created_at"] == now
    assert (record["kind"], record["url"]) == ("file", None)


def test_a_link_record_shows_its_url_redacted():
    signed = "https://h.example/a.jpg?X-Amz-Expires=60&X-Amz-Signature=deadbeef&sig=abc"
    row = {
        **{key: None for key in RECORD_KEYS - {"metadata", "thumbnail"}},
        "kind": "link",
        "source_url": signed,
        "system_metadata": None,
        "user_metadata": None,
        "thumbnail_key": None,
    }

    record = item_record(row)

    assert record["url"] == (
        "https://h.example/a.jpg?X-Amz-Expires=60&X-Amz-Signature=REDACTED&sig=REDACTED"
    )
    assert item_record({**row, "kind": "file"})["url"] is None  # a stale URL never shows


def test_items_stream_in_path_order_as_records(catalog, dataset, bucket):
    records = list(iter_item_records(catalog, dataset))

    assert [r["path"] for r in records] == ["/b.png", "/sub/a.jpg"]
    assert all(set(r) == RECORD_KEYS for r in records)
    assert (records[1]["size"], records[1]["mimetype"], records[1]["state"]) == (
        4,
        "image/jpeg",
        "active",
    )
    assert records[1]["preprocess_state"] == "pending"


def test_ghosts_are_listed_apart(catalog, dataset, bucket):
    (bucket / "b.png").unlink()
    upstream_sync(catalog, dataset, allow_mass_delete=True)

    assert [r["path"] for r in iter_item_records(catalog, dataset, "ghost")] == ["/b.png"]
    assert len(list(iter_item_records(catalog, dataset, "all"))) == 2


def test_an_unknown_dataset_or_state_is_refused(catalog, dataset):
    with pytest.raises(DatasetNotFound):
        list(iter_item_records(catalog, "nope"))
    with pytest.raises(InvalidInput, match="state must be one of"):
        list(iter_item_records(catalog, dataset, "gone"))


def test_items_filtered_by_preprocessing_state(catalog, dataset):
    from tributary.catalog.schema import items

    with catalog.begin() as conn:
        conn.execute(
            items.update()
            .where(items.c.path == "/b.png")
            .values(preprocess_state="failed", preprocess_error="truncated file")
        )

    failed = list(iter_item_records(catalog, dataset, preprocess_state="failed"))
    pending = list(iter_item_records(catalog, dataset, "all", preprocess_state="pending"))

    assert [(r["path"], r["preprocess_error"]) for r in failed] == [("/b.png", "truncated file")]
    assert [r["path"] for r in pending] == ["/sub/a.jpg"]
    with pytest.raises(InvalidInput, match="pending, done, failed"):
        list(iter_item_records(catalog, dataset, preprocess_state="broken"))
