"""Datasets seen whole and deleted: quota use, counts apart, ``describe``, ``delete``."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from tests.sync.upstream_steps import upstream_sync
from tributary.catalog import schema
from tributary.catalog import syncs as sync_queries
from tributary.catalog.schema import items
from tributary.errors import DatasetNotFound
from tributary.storage import open_dataset_store
from tributary.sync import listing
from tributary.usecases.datasets import (
    DatasetBusy,
    create_dataset,
    delete_dataset,
    describe_dataset,
    list_datasets,
    quota_usage,
    set_quota,
    thumbnail_folder,
)
from tributary.usecases.drivers import create_driver


@pytest.fixture
def dataset(catalog, bucket):
    """``ds`` on the local bucket, synced (2 items), with one of its files gone (a ghost)
    and a third file added, synced again."""
    create_driver(catalog, name="d", provider="local", bucket=str(bucket))
    create_dataset(catalog, name="ds", driver="d", quota=10, start_sync=False)
    upstream_sync(catalog, "ds")
    (bucket / "b.png").unlink()
    (bucket / "c.gif").write_bytes(b"ccc")
    upstream_sync(catalog, "ds", allow_mass_delete=True)
    return "ds"


def rows_of(catalog, table) -> int:
    with catalog.begin() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_quota_use_counts_tombstones_until_purged(catalog, dataset):
    usage = quota_usage(catalog, dataset)

    assert (usage.limit, usage.used, usage.available) == (10, 3, 7)
    assert quota_usage(catalog, "catalog").as_dict() == {
        "limit": None,
        "used": 3,
        "available": None,
    }
    assert set_quota(catalog, dataset, 2).available == 0  # never below zero


def test_the_list_counts_active_items_and_ghosts_apart(catalog, dataset):
    (listed,) = list_datasets(catalog)

    assert listed["items"] == {"active": 2, "ghost": 1}


def test_a_dataset_is_described_whole(catalog, dataset):
    with catalog.begin() as conn:
        conn.execute(items.update().where(items.c.path == "/c.gif").values(preprocess_state="done"))

    report = describe_dataset(catalog, dataset)
    shown = report.as_dict()

    assert (shown["name"], shown["driver"], shown["provider"]) == ("ds", "d", "local")
    assert shown["storage"].startswith("local://") and shown["storage"].endswith("/bucket/")
    assert shown["quota"] == {"limit": 10, "used": 3, "available": 7}
    assert shown["items"] == {"active": 2, "ghost": 1}
    assert shown["preprocessing"] == {"pending": 1, "done": 1, "failed": 0}
    assert shown["sync"] == {"enabled": True, "ghost_grace_days": 7, "mass_delete_threshold": 0.1}
    assert (shown["lane"], shown["folder"], shown["locked_by_sync"]) == ("shared", "", None)
    assert [run["counts"]["ghosted"] for run in shown["last_runs"]] == [1, 0]
    with pytest.raises(DatasetNotFound):
        describe_dataset(catalog, "nope")


def put_thumbnails(catalog, dataset_name: str) -> list[str]:
    """A thumbnail per active item, where preprocessing writes them."""
    from tributary.catalog import datasets as dataset_queries

    with catalog.begin() as conn:
        found = dataset_queries.get(conn, dataset_name)
        store = open_dataset_store(found)
        ids = conn.execute(sa.select(items.c.id).where(items.c.state == "active")).scalars()
        keys = []
        for item_id in ids:
            key = f"{thumbnail_folder(store.hidden_prefix, found.id)}{item_id}.jpg"
            store.write(key, b"thumb")
            conn.execute(items.update().where(items.c.id == item_id).values(thumbnail_key=key))
            keys.append(key)
    return keys


def test_delete_removes_the_catalog_side_and_thumbnails_never_the_files(catalog, dataset, bucket):
    from tributary.preprocess.batch import ThumbnailSpec, thumbnail_key

    keys = put_thumbnails(catalog, dataset)
    # The folder is the one preprocessing writes to.
    spec = ThumbnailSpec(size=64, format="jpeg")
    assert keys[0].rsplit("/", 1)[0] == thumbnail_key(_store(catalog), 1, 1, spec).rsplit("/", 1)[0]
    before = sorted(p.name for p in bucket.rglob("*") if ".tributary" not in p.parts)

    deleted = delete_dataset(catalog, dataset)

    assert (deleted.items, deleted.sync_runs, deleted.thumbnails_deleted) == (3, 2, 2)
    assert deleted.thumbnails_left is None
    assert not any((bucket / key).exists() for key in keys)
    assert sorted(p.name for p in bucket.rglob("*") if ".tributary" not in p.parts) == before
    for table in (
        schema.items, schema.sync_runs, schema.sync_partitions, schema.staging_listing,
        schema.sync_changes, schema.item_purges, schema.dataset_locks, schema.quotas,
    ):  # fmt: skip
        assert rows_of(catalog, table) == 0, table.name
    assert list_datasets(catalog) == []
    # The name is free again, and a new sync indexes the bucket from scratch.
    create_dataset(catalog, name="ds", driver="d", start_sync=False)
    assert upstream_sync(catalog, "ds")["items_new"] == 2


def _store(catalog):
    from tributary.catalog import datasets as dataset_queries

    with catalog.begin() as conn:
        return open_dataset_store(dataset_queries.get(conn, "ds"))


def test_delete_is_refused_while_a_sync_runs(catalog, dataset):
    sync_id = listing.start(catalog, dataset_name="ds", kind="upstream", dag_id="d", run_id="live")

    with pytest.raises(DatasetBusy, match=f"not deleted: sync {sync_id} of this dataset"):
        delete_dataset(catalog, dataset)

    assert list_datasets(catalog)[0]["items"] == {"active": 2, "ghost": 1}
    assert rows_of(catalog, schema.dataset_locks) == 1


def test_a_sync_dead_for_an_hour_does_not_block_the_delete(catalog, dataset):
    sync_id = listing.start(catalog, dataset_name="ds", kind="upstream", dag_id="d", run_id="dead")
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    with catalog.begin() as conn:
        conn.execute(
            schema.sync_runs.update()
            .where(schema.sync_runs.c.id == sync_id)
            .values(heartbeat_at=long_ago, started_at=long_ago)
        )
        assert sync_queries.lock_holder(conn, 1) == sync_id

    assert delete_dataset(catalog, dataset).sync_runs == 3
    assert rows_of(catalog, schema.dataset_locks) == 0


def test_delete_of_an_unknown_dataset(catalog):
    with pytest.raises(DatasetNotFound):
        delete_dataset(catalog, "nope")


def test_delete_waits_for_writes_in_the_outbox_then_drops_its_rows(catalog, dataset):
    """An upload or a bucket delete still in the outbox would be lost with the dataset:
    refused, saying what to wait for; once applied, the dataset's outbox rows go with it
    (an `announce` row alone never blocks)."""
    from tributary.catalog import outbox

    with catalog.begin() as conn:
        dataset_id = conn.execute(sa.select(schema.datasets.c.id)).scalar_one()
        put = outbox.enqueue(conn, dataset_id=dataset_id, op="put", storage_key="n.jpg")
        outbox.enqueue(conn, dataset_id=dataset_id, op="announce", storage_key="n.jpg")

    with pytest.raises(DatasetBusy, match=r"1 upload.* on their way to the bucket"):
        delete_dataset(catalog, dataset)

    with catalog.begin() as conn:
        outbox.mark_done(conn, [put], now=dt.datetime.now(dt.UTC))
    assert delete_dataset(catalog, dataset).items == 3
    assert rows_of(catalog, schema.outbox) == 0
