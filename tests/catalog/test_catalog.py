"""Catalog schema, drivers, datasets, quotas and the sync lock on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tributary.catalog import Catalog, datasets, drivers, items, migrations, syncs
from tributary.errors import InvalidInput, NotFound, QuotaExceeded, SyncLocked


def test_migrations_create_every_table_and_are_idempotent(catalog, catalog_url):
    again = Catalog(catalog_url)  # a second open must not re-run or fail
    tables = set(sa.inspect(again.engine).get_table_names())

    assert {
        "drivers",
        "datasets",
        "items",
        "sync_runs",
        "sync_partitions",
        "staging_listing",
        "quotas",
        "dataset_locks",
        migrations.VERSION_TABLE,
    } <= tables
    assert migrations.current_revision(again.engine) == migrations.head_revision(again.engine)


def test_driver_validation(catalog):
    with pytest.raises(InvalidInput, match="unknown provider"):
        drivers.build(name="x", provider="ftp", bucket="b")
    with pytest.raises(InvalidInput, match="needs --conn-id"):
        drivers.build(name="x", provider="s3", bucket="b")
    driver = drivers.build(name="x", provider="s3", bucket="b", conn_id="c", path="/a/b/")
    assert driver.prefix == "a/b/"
    assert driver.storage_class == "standard"
    assert driver.allow_delete is False
    with catalog.begin() as conn:
        drivers.insert(conn, driver)
        with pytest.raises(InvalidInput, match="already exists"):
            drivers.insert(conn, driver)
        assert [d.name for d in drivers.list_all(conn)] == ["x"]
        with pytest.raises(NotFound, match="no driver named 'y'"):
            drivers.get(conn, "y")


def test_a_local_bucket_is_stored_as_an_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    driver = drivers.build(name="x", provider="local", bucket="./images/../imgs")
    assert driver.bucket == str(tmp_path / "imgs")


def test_dataset_list_reports_storage_and_quota(catalog):
    with catalog.begin() as conn:
        drivers.create(conn, name="d", provider="local", bucket="/data", path="imgs")
        datasets.create(conn, name="with-driver", driver_name="d", quota=5)
        datasets.create(conn, name="internal")
        listing = {row["name"]: row for row in datasets.list_all(conn)}

    assert listing["with-driver"]["storage"] == "local:///data/imgs/"
    assert listing["with-driver"]["quota"] == 5
    assert listing["internal"]["storage"] == "internal"
    assert listing["internal"]["items"] == 0


def _stage(conn, sync_id, keys):
    from tributary.catalog.staging import insert_rows

    insert_rows(conn, [(sync_id, k, 0, f"/{k}", 1, "e", None, None) for k in keys])


def _new_sync(conn, dataset_id, run_id="r1"):
    return syncs.start(conn, dataset_id=dataset_id, kind="initial", dag_id="d", run_id=run_id)


def test_quota_counts_only_new_items_and_names_both_numbers(catalog):
    with catalog.begin() as conn:
        ds = datasets.create(conn, name="q", quota=3)
        sync_id = _new_sync(conn, ds.id)
        _stage(conn, sync_id, ["a", "b"])
        items.index_new(conn, dataset_id=ds.id, sync_id=sync_id)
        second = _new_sync(conn, ds.id, "r2")
        _stage(conn, second, ["a", "b", "c", "d"])  # two known, two new
        needed = items.count_new(conn, dataset_id=ds.id, sync_id=second)
        assert needed == 2
        with pytest.raises(QuotaExceeded, match=r"needs 2 data points, 1 available \(quota 3"):
            items.check_quota(conn, dataset_id=ds.id, dataset_name="q", needed=needed)
        items.check_quota(conn, dataset_id=ds.id, dataset_name="q", needed=1)


def test_catalog_wide_quota(catalog):
    with catalog.begin() as conn:
        ds = datasets.create(conn, name="q")
        datasets.set_quota(conn, "catalog", 0)
        with pytest.raises(QuotaExceeded, match="for the catalog"):
            items.check_quota(conn, dataset_id=ds.id, dataset_name="q", needed=1)


def test_index_is_idempotent_and_reports_the_id_range(catalog):
    with catalog.begin() as conn:
        ds = datasets.create(conn, name="i")
        sync_id = _new_sync(conn, ds.id)
        _stage(conn, sync_id, ["b", "a", "c"])
        first = items.index_new(conn, dataset_id=ds.id, sync_id=sync_id)
        again = items.index_new(conn, dataset_id=ds.id, sync_id=sync_id)
        paths = [i["path"] for i in items.iterate(conn, "i")]

    assert first == again
    assert first["count"] == 3
    assert first["max_id"] - first["min_id"] == 2
    assert paths == ["/a", "/b", "/c"]


def test_a_second_sync_of_a_dataset_waits_for_the_first(catalog):
    with catalog.begin() as conn:
        ds = datasets.create(conn, name="l")
        first = _new_sync(conn, ds.id, "r1")
        second = _new_sync(conn, ds.id, "r2")
        syncs.acquire_lock(conn, dataset_id=ds.id, sync_id=first)
        syncs.acquire_lock(conn, dataset_id=ds.id, sync_id=first)  # re-entrant on retry
        with pytest.raises(SyncLocked, match=rf"sync {first} of this dataset \(initial, "):
            syncs.acquire_lock(conn, dataset_id=ds.id, sync_id=second)
        # A live holder by Airflow's word keeps the lock; a finished one loses it.
        with pytest.raises(SyncLocked, match="still running"):
            syncs.acquire_lock(
                conn, dataset_id=ds.id, sync_id=second, run_alive=lambda dag, run: True
            )
        syncs.acquire_lock(conn, dataset_id=ds.id, sync_id=second, run_alive=lambda d, r: False)
        assert "is no longer running" in syncs.get(conn, first)["error"]
        syncs.release_lock(conn, second)
        syncs.acquire_lock(conn, dataset_id=ds.id, sync_id=first)
        syncs.acquire_lock(conn, dataset_id=ds.id, sync_id=second)


def test_a_lock_left_by_a_dead_sync_is_taken_over(catalog):
    with catalog.begin() as conn:
        ds = datasets.create(conn, name="l")
        dead = _new_sync(conn, ds.id, "r1")
        syncs.acquire_lock(conn, dataset_id=ds.id, sync_id=dead)
        conn.execute(sa.text("UPDATE sync_runs SET status = 'failed' WHERE id = :i"), {"i": dead})
        fresh = _new_sync(conn, ds.id, "r2")
        syncs.acquire_lock(conn, dataset_id=ds.id, sync_id=fresh)


def test_catalog_repr_hides_the_password():
    catalog = Catalog("postgresql://user:s3cret@127.0.0.1:1/db", upgrade=False)
    assert "s3cret" not in repr(catalog)


def test_migrations_build_exactly_the_declared_schema(catalog):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from tributary.catalog.schema import metadata

    with catalog.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": migrations.VERSION_TABLE})
        differences = compare_metadata(context, metadata)

    assert differences == []
