"""The subscriber API: new-item ranges from events, user metadata merged per item."""

from __future__ import annotations

import types

import pytest

from tributary.catalog import datasets, drivers
from tributary.catalog import items as item_queries
from tributary.enrich import NewItems, add_user_metadata, new_items


def event(**extra):
    return types.SimpleNamespace(extra=extra)


def test_ranges_come_from_events_with_new_items():
    events = [
        event(dataset="ds", count=2, min_id=5, max_id=6),
        event(dataset="other", count=0),
    ]

    assert new_items(events, {"dataset": ""}) == [NewItems("ds", 5, 6)]


def test_a_manual_run_names_its_range_in_params():
    assert new_items([], {"dataset": "ds", "min_id": 1, "max_id": 9}) == [NewItems("ds", 1, 9)]
    assert new_items([], {"dataset": ""}) == []


def index_folder(catalog, folder, files: dict[str, bytes]) -> list[int]:
    """A dataset on a local folder, indexed by the initial sync's own steps."""
    from tributary.sync import initial, listing

    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    with catalog.begin() as conn:
        drivers.create(conn, name="d", provider="local", bucket=str(folder))
        datasets.create(conn, name="ds", driver_name="d")
    sync_id = listing.start(catalog, dataset_name="ds", kind="initial", dag_id="t", run_id="r")
    for partition in listing.plan(catalog, sync_id):
        listing.list_partition(catalog, sync_id, partition["index"])
    created = initial.index(catalog, sync_id)
    return [created["min_id"], created["max_id"]]


def by_name(catalog) -> dict[str, dict]:
    with catalog.begin() as conn:
        return {i["path"].lstrip("/"): i for i in item_queries.iterate(conn, "ds", "all")}


@pytest.mark.parametrize("catalog_url", ["sqlite"], indirect=True)
def test_metadata_is_merged_and_unreadable_files_are_skipped(catalog, tmp_path):
    files = {"a.jpg": b"AAAA", "bad.png": b"broken", "notes.txt": b"text"}
    first, last = index_folder(catalog, tmp_path / "bucket", files)
    a_id = by_name(catalog)["a.jpg"]["id"]
    with catalog.begin() as conn:
        item_queries.merge_user_metadata(conn, a_id, {"keep": 1})

    def measure(data: bytes) -> dict:
        if data == b"broken":
            raise OSError("cannot identify image file")
        return {"length": len(data)}

    ranges = [NewItems("ds", first, last)]
    counts = add_user_metadata(ranges, measure, mimetypes=["image/jpeg", "image/png"])
    again = add_user_metadata(ranges, measure, mimetypes=["image/jpeg", "image/png"])

    assert counts == again == {"updated": 1, "skipped": 1}
    items = by_name(catalog)
    assert items["a.jpg"]["user_metadata"] == {"keep": 1, "length": 4}
    assert items["bad.png"]["user_metadata"] is None
    assert items["notes.txt"]["user_metadata"] is None  # not a wanted mimetype


@pytest.mark.parametrize("catalog_url", ["sqlite"], indirect=True)
def test_a_bug_in_the_function_fails_loudly(catalog, tmp_path):
    first, last = index_folder(catalog, tmp_path / "bucket", {"a.jpg": b"A"})

    def buggy(data: bytes) -> dict:
        raise KeyError("oops")

    with pytest.raises(KeyError):
        add_user_metadata([NewItems("ds", first, last)], buggy)
