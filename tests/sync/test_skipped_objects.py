"""A sync never drops data silently: objects the listing rules leave out are counted on its run."""

from __future__ import annotations

import pytest

from tests.buckets import new_bucket
from tributary.catalog import datasets, drivers, items, syncs
from tributary.sync import initial, listing


@pytest.fixture
def s3_bucket(moto, tmp_path):
    return new_bucket("s3", moto, tmp_path)


def test_a_sync_counts_non_empty_keys_ending_in_a_slash_on_its_run(catalog, s3_bucket):
    for key, data in {
        "a/x.jpg": b"x",
        "a/marker/": b"",  # a folder marker: not data
        "a/data/": b"payload",
        "b/more/": b"more",
        "top/": b"top",
    }.items():
        s3_bucket.put(key, data)
    with catalog.begin() as conn:
        drivers.create(
            conn, name="d", provider="s3", bucket=s3_bucket.name, conn_id=s3_bucket.conn_id
        )
        datasets.create(conn, name="ds", driver_name="d")

    sync_id = listing.start(catalog, dataset_name="ds", kind="initial", dag_id="d", run_id="r")
    for pointer in listing.plan(catalog, sync_id):
        listing.list_partition(catalog, sync_id, pointer["index"])
        listing.list_partition(catalog, sync_id, pointer["index"])  # a retry counts once
    initial.index(catalog, sync_id)

    with catalog.begin() as conn:
        run = syncs.get(conn, sync_id)
        paths = [i["path"] for i in items.iterate(conn, "ds")]
    assert paths == ["/a/x.jpg"]
    assert (run["objects_listed"], run["objects_skipped"]) == (1, 3)
