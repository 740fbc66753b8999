"""The initial-sync steps without Airflow: retries of a listing task leave no duplicates."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tributary.catalog import datasets, drivers, items, syncs
from tributary.catalog.schema import staging_listing
from tributary.storage.base import BucketNotFound
from tributary.storage.local import LocalStore
from tributary.sync import initial, listing

FOLDERS = "abcdefghij"  # enough top-level folders for several listing partitions
KEYS = sorted(f"{f}/{i}.jpg" for f in FOLDERS for i in range(2))


@pytest.fixture
def local_dataset(catalog, tmp_path):
    root = tmp_path / "bucket"
    for folder in FOLDERS:
        for i in range(2):
            (root / folder).mkdir(parents=True, exist_ok=True)
            (root / folder / f"{i}.jpg").write_bytes(b"x" * i)
    with catalog.begin() as conn:
        drivers.create(conn, name="d", provider="local", bucket=str(root))
        datasets.create(conn, name="ds", driver_name="d")
    return root


def staged_keys(catalog, sync_id):
    with catalog.begin() as conn:
        return list(
            conn.execute(
                sa.select(staging_listing.c.storage_key).where(staging_listing.c.sync_id == sync_id)
            ).scalars()
        )


def test_a_retried_listing_task_stages_each_key_once(catalog, local_dataset, monkeypatch):
    monkeypatch.setenv("TRIBUTARY_LISTING_PAGE_SIZE", "2")
    sync_id = listing.start(catalog, dataset_name="ds", kind="initial", dag_id="d", run_id="r")
    pointers = listing.plan(catalog, sync_id)
    real_list_raw = LocalStore.list_raw

    def flaky_list_raw(self, prefix, *, recursive=True):
        pages = real_list_raw(self, prefix, recursive=recursive)
        yield next(pages)
        raise OSError("injected: connection reset mid-listing")

    assert len(pointers) > 2
    target = pointers[1]
    monkeypatch.setattr(LocalStore, "list_raw", flaky_list_raw)
    with pytest.raises(Exception, match="injected"):
        listing.list_partition(catalog, sync_id, target["index"])
    with catalog.begin() as conn:
        assert syncs.incomplete_partitions(conn, sync_id)
    monkeypatch.setattr(LocalStore, "list_raw", real_list_raw)

    for pointer in pointers:  # the retry, and every other partition
        listing.list_partition(catalog, sync_id, pointer["index"])
    listing.list_partition(catalog, sync_id, target["index"])  # and a second retry

    keys = staged_keys(catalog, sync_id)
    assert sorted(keys) == KEYS
    assert initial.check_quota(catalog, sync_id) == len(KEYS)
    assert initial.index(catalog, sync_id)["count"] == len(KEYS)
    with catalog.begin() as conn:
        run = syncs.get(conn, sync_id)
        assert [i["storage_key"] for i in items.iterate(conn, "ds")] == KEYS
    assert (run["objects_listed"], run["partitions_done"], run["status"]) == (
        len(KEYS),
        run["partitions_total"],
        "succeeded",
    )


def test_progress_is_visible_while_a_partition_lists(catalog, local_dataset, monkeypatch):
    monkeypatch.setenv("TRIBUTARY_LISTING_PAGE_SIZE", "2")
    sync_id = listing.start(catalog, dataset_name="ds", kind="initial", dag_id="d", run_id="r")
    pointers = listing.plan(catalog, sync_id)
    seen = []
    real = syncs.partition_progress

    def spy(conn, sync_id_, index, listed, *skipped):
        real(conn, sync_id_, index, listed, *skipped)
        seen.append(syncs.get(conn, sync_id_)["objects_listed"])

    monkeypatch.setattr(syncs, "partition_progress", spy)
    for pointer in pointers:
        listing.list_partition(catalog, sync_id, pointer["index"])

    assert seen == sorted(seen)
    assert seen[0] == 2
    assert seen[-1] == len(KEYS)


def test_a_missing_folder_stops_the_sync_saying_so(catalog, tmp_path):
    with catalog.begin() as conn:
        drivers.create(conn, name="d", provider="local", bucket=str(tmp_path / "gone"))
        datasets.create(conn, name="ds", driver_name="d")
    sync_id = listing.start(catalog, dataset_name="ds", kind="initial", dag_id="d", run_id="r")

    # The probe's cause itself (permanent, one line), not "a permission is missing".
    with pytest.raises(BucketNotFound, match="does not exist"):
        listing.check_permissions(catalog, sync_id)
