"""``tributary_initial_sync`` through ``dag.test()`` on every storage kind and both catalogs."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.dags.runner import run_dag
from tributary.catalog import datasets, drivers, items, syncs
from tributary.catalog.schema import staging_listing

DAG_ID = "tributary_initial_sync"

# Nested folders, unicode, spaces and odd characters, folder markers, the hidden folder.
TREE = {
    "top.txt": b"top level file",
    "a/one.png": b"\x89PNG\r\n\x1a\n fake png",
    "a/b/c/deep.jpg": b"\xff\xd8\xff" + b"deep" * 100,
    "photos 2024/été ü/naïve file (1).jpg": b"unicode name",
    "odd/hash#1 & plus+ 100%.bin": b"odd characters",
    "a/marker/": b"",
    "empty-folder/": b"",
    ".tributary/thumbnails/x.jpg": b"generated, never an item",
}
FILES = {k: v for k, v in TREE.items() if not k.endswith("/") and not k.startswith(".tributary/")}


def seed(bucket, tree=TREE):
    for key, data in tree.items():
        bucket.put(key, data)


def make_dataset(catalog, bucket, *, path="", quota=None, name="ds"):
    with catalog.begin() as conn:
        drivers.create(
            conn,
            name=f"{name}-driver",
            provider=bucket.provider,
            bucket=bucket.name,
            conn_id=bucket.conn_id,
            path=path,
        )
        datasets.create(conn, name=name, driver_name=f"{name}-driver", quota=quota)


def items_created_events(run) -> list[dict]:
    """The extras of the items-created asset events this Airflow run emitted."""
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        events = session.scalars(
            sa.select(AssetEvent).where(
                (AssetEvent.source_dag_id == run.dag_id) & (AssetEvent.source_run_id == run.run_id)
            )
        ).all()
        return [event.extra for event in events]


def catalog_items(catalog, name="ds"):
    with catalog.begin() as conn:
        return list(items.iterate(conn, name, "all"))


def test_catalog_holds_exactly_the_bucket_files(airflow_db, catalog, bucket):
    seed(bucket)
    make_dataset(catalog, bucket)

    run = run_dag(DAG_ID, {"dataset": "ds"})

    assert run.state == "success"
    indexed = {i["path"]: i for i in catalog_items(catalog)}
    assert set(indexed) == {f"/{k}" for k in FILES}
    for key, data in FILES.items():
        item = indexed[f"/{key}"]
        assert item["storage_key"] == key
        assert item["size"] == len(data)
        assert item["etag"]
        assert item["state"] == "active"
        expected_etag = bucket.expected_etag(data)
        if expected_etag:
            assert item["etag"] == expected_etag
    assert indexed["/a/b/c/deep.jpg"]["mimetype"] == "image/jpeg"
    with catalog.begin() as conn:
        (sync_run,) = syncs.history(conn, "ds")
        leftover = conn.execute(sa.select(sa.func.count()).select_from(staging_listing)).scalar()
    assert sync_run["status"] == "succeeded"
    assert sync_run["objects_listed"] == len(FILES)
    assert sync_run["items_new"] == len(FILES)
    assert sync_run["partitions_done"] == sync_run["partitions_total"] == 1
    assert leftover == 0
    # Issue 14: a small dataset is one listing partition and five task instances in all.
    assert sorted(ti.task_id for ti in run.get_task_instances()) == [
        "announce",
        "index_items",
        "list_partition",
        "plan_partitions",
        "start",
    ]
    ids = sorted(item["id"] for item in indexed.values())
    (event,) = items_created_events(run)
    assert event == {
        "dataset": "ds",
        "sync_id": sync_run["id"],
        "count": len(FILES),
        "min_id": ids[0],
        "max_id": ids[-1],
    }


@pytest.mark.parametrize("catalog_url", ["sqlite"], indirect=True)
def test_folder_path_limits_the_dataset_to_that_prefix(airflow_db, catalog, bucket):
    seed(bucket)
    make_dataset(catalog, bucket, path="/a/")

    run = run_dag(DAG_ID, {"dataset": "ds"})

    assert run.state == "success"
    assert {i["path"] for i in catalog_items(catalog)} == {"/one.png", "/b/c/deep.jpg"}
    assert {i["storage_key"] for i in catalog_items(catalog)} == {"a/one.png", "a/b/c/deep.jpg"}


@pytest.mark.parametrize("bucket", ["local"], indirect=True)
def test_quota_exceeded_fails_before_indexing_anything(airflow_db, catalog, bucket):
    seed(bucket, {f"img-{i:02}.jpg": b"x" * i for i in range(20)})
    make_dataset(catalog, bucket, quota=10)

    run = run_dag(DAG_ID, {"dataset": "ds"})

    assert run.state == "failed"
    assert catalog_items(catalog) == []
    with catalog.begin() as conn:
        (sync_run,) = syncs.history(conn, "ds")
    assert sync_run["status"] == "failed"
    assert "needs 20 data points" in sync_run["error"]
    assert "quota 10" in sync_run["error"]
    (indexing,) = [ti for ti in run.get_task_instances() if ti.task_id == "index_items"]
    assert (indexing.state, indexing.try_number) == ("failed", 1)  # refused, not retried


@pytest.mark.parametrize("bucket", ["local", "s3"], indirect=True)
def test_running_twice_leaves_the_same_catalog(airflow_db, catalog, bucket):
    seed(bucket)
    make_dataset(catalog, bucket)

    first = run_dag(DAG_ID, {"dataset": "ds"})
    before = {i["path"]: (i["id"], i["etag"], i["size"]) for i in catalog_items(catalog)}
    second = run_dag(DAG_ID, {"dataset": "ds"})
    after = {i["path"]: (i["id"], i["etag"], i["size"]) for i in catalog_items(catalog)}

    assert first.state == second.state == "success"
    assert after == before
    assert items_created_events(second) == []  # nothing new: nothing announced
    assert len(before) == len(FILES)
    with catalog.begin() as conn:
        newest, oldest = syncs.history(conn, "ds")
    assert (oldest["items_new"], newest["items_new"]) == (len(FILES), 0)


@pytest.mark.parametrize("bucket", ["local"], indirect=True)
def test_airflow_retrying_a_failed_listing_task_leaves_no_duplicates(
    airflow_db, catalog, bucket, monkeypatch
):
    from tributary.storage.local import LocalStore

    monkeypatch.setenv("TRIBUTARY_LISTING_PAGE_SIZE", "2")
    seed(bucket, {f"f{d}/{i}.jpg": b"x" * i for d in range(10) for i in range(3)})
    make_dataset(catalog, bucket)
    real_list_raw = LocalStore.list_raw
    failures = []

    def list_raw_failing_once(self, prefix, *, recursive=True):
        pages = real_list_raw(self, prefix, recursive=recursive)
        # A folder partition's listing, not planning's look at the root's first pages.
        if recursive and prefix and not failures:
            yield next(pages)  # one page reaches staging, then the connection "drops"
            failures.append(prefix)
            raise OSError("injected: connection reset mid-listing")
        yield from pages

    monkeypatch.setattr(LocalStore, "list_raw", list_raw_failing_once)
    run = run_dag(DAG_ID, {"dataset": "ds"})

    assert run.state == "success"
    assert failures, "the fault was never injected"
    with catalog.begin() as conn:
        assert syncs.history(conn, "ds")[0]["partitions_total"] > 1  # 30 files, pages of 2
    # The partition that raised can only have finished through Airflow's retry.
    listing = [ti for ti in run.get_task_instances() if ti.task_id == "list_partition"]
    assert {ti.state for ti in listing} == {"success"}
    paths = sorted(i["path"] for i in catalog_items(catalog))
    assert paths == sorted(f"/f{d}/{i}.jpg" for d in range(10) for i in range(3))


@pytest.mark.parametrize("catalog_url", ["sqlite"], indirect=True)
def test_an_unknown_dataset_fails_at_once_without_retries(airflow_db, catalog):
    run = run_dag(DAG_ID, {"dataset": "no-such-dataset"})

    assert run.state == "failed"
    (start,) = [ti for ti in run.get_task_instances() if ti.task_id == "start"]
    assert start.state == "failed"  # AirflowFailException: no up_for_retry
