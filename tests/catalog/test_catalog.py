"""Catalog schema, drivers, datasets, quotas and the sync lock on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import time

import pytest
import sqlalchemy as sa

from tributary.catalog import Catalog, datasets, drivers, items, migrations, syncs
from tributary.catalog.schema import dataset_locks
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
    with pytest.raises(InvalidInput, match="needs conn_id"):
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


def test_dataset_list_reports_storage_and_quota(catalog, monkeypatch):
    monkeypatch.setenv("TRIBUTARY_LOCAL_ROOTS", "/data")
    with catalog.begin() as conn:
        drivers.create(conn, name="d", provider="local", bucket="/data", path="imgs")
        datasets.create(conn, name="with-driver", driver_name="d", quota=5)
        datasets.create(conn, name="internal")
        listing = {row["name"]: row for row in datasets.list_all(conn)}

    assert listing["with-driver"]["storage"] == "local:///data/imgs/"
    assert listing["with-driver"]["quota"] == 5
    assert listing["internal"]["storage"] == "internal"
    assert listing["internal"]["items"] == {"active": 0, "ghost": 0}


def _stage(conn, sync_id, keys):
    from tributary.catalog.staging import StagedRow, insert_rows

    insert_rows(
        conn,
        [
            StagedRow(
                sync_id=sync_id,
                storage_key=k,
                partition_index=0,
                path=f"/{k}",
                size=1,
                etag="e",
                mtime=None,
                mimetype=None,
            )
            for k in keys
        ],
    )


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


def test_planned_partitions_of_several_syncs_come_in_order(catalog):
    with catalog.begin() as conn:
        first = _new_sync(conn, datasets.create(conn, name="p1").id)
        second = _new_sync(conn, datasets.create(conn, name="p2").id, "r2")
        unplanned = _new_sync(conn, datasets.create(conn, name="p3").id, "r3")
        syncs.plan_partitions(conn, second, [{"index": 1}, {"index": 0}])
        syncs.plan_partitions(conn, first, [{"index": 0}])

        assert syncs.planned_partitions(conn, [second, unplanned, first]) == [
            (first, 0),
            (second, 0),
            (second, 1),
        ]
        assert syncs.planned_partitions(conn, []) == []


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


def _holder(conn, dataset_id):
    return conn.execute(
        sa.select(dataset_locks.c.sync_id).where(dataset_locks.c.dataset_id == dataset_id)
    ).scalar()


def test_a_lock_left_by_an_ended_sync_is_taken_over(catalog):
    with catalog.begin() as conn:
        ds = datasets.create(conn, name="l")
        ended = _new_sync(conn, ds.id, "r1")
        syncs.acquire_lock(conn, dataset_id=ds.id, sync_id=ended)
        # Ended without releasing its lock (closed by hand, as a crash would leave it).
        conn.execute(sa.text("UPDATE sync_runs SET status = 'failed' WHERE id = :i"), {"i": ended})
        fresh = _new_sync(conn, ds.id, "r2")
        syncs.acquire_lock(conn, dataset_id=ds.id, sync_id=fresh)

        assert _holder(conn, ds.id) == fresh
        assert syncs.get(conn, ended)["error"] is None  # already ended: its record is kept


def test_a_silent_holder_loses_its_lock_after_stale_after(catalog):
    with catalog.begin() as conn:
        ds = datasets.create(conn, name="l")
        silent = _new_sync(conn, ds.id, "r1")
        syncs.acquire_lock(conn, dataset_id=ds.id, sync_id=silent)
        fresh = _new_sync(conn, ds.id, "r2")
        with pytest.raises(SyncLocked):  # Airflow cannot say, and it showed life just now
            syncs.acquire_lock(conn, dataset_id=ds.id, sync_id=fresh, run_alive=lambda d, r: None)
        syncs.acquire_lock(
            conn, dataset_id=ds.id, sync_id=fresh, stale_after=dt.timedelta(seconds=-1)
        )

        assert _holder(conn, ds.id) == fresh
        silent_run = syncs.get(conn, silent)
        assert silent_run["status"] == "failed"
        assert silent_run["error"].startswith("interrupted: no heartbeat since ")


def test_a_sync_waiting_for_a_lock_takes_it_at_once_when_airflow_says_the_holder_is_over(catalog):
    # kill -9 leaves a fresh heartbeat: only Airflow's word frees the lock before stale_after.
    with catalog.begin() as conn:
        ds = datasets.create(conn, name="l")
        killed = _new_sync(conn, ds.id, "killed")
        syncs.acquire_lock(conn, dataset_id=ds.id, sync_id=killed)
        waiting = _new_sync(conn, ds.id, "next")
    began = time.monotonic()

    syncs.wait_for_lock(
        catalog,
        dataset_id=ds.id,
        sync_id=waiting,
        wait=dt.timedelta(seconds=30),
        run_alive=lambda dag_id, run_id: run_id != "killed",
    )

    assert time.monotonic() - began < syncs.LOCK_POLL_SECONDS  # no poll, no wait
    with catalog.begin() as conn:
        assert _holder(conn, ds.id) == waiting
        assert "its Airflow run killed is no longer running" in syncs.get(conn, killed)["error"]


def test_a_sync_that_waited_in_vain_is_closed_and_names_the_holder(catalog):
    with catalog.begin() as conn:
        ds = datasets.create(conn, name="l")
        holder = _new_sync(conn, ds.id, "holder")
        syncs.acquire_lock(conn, dataset_id=ds.id, sync_id=holder)
        waiting = _new_sync(conn, ds.id, "next")

    with pytest.raises(SyncLocked, match=rf"sync {holder} of this dataset .*Airflow run holder"):
        syncs.wait_for_lock(
            catalog, dataset_id=ds.id, sync_id=waiting, wait=dt.timedelta(seconds=0.2)
        )

    with catalog.begin() as conn:
        assert _holder(conn, ds.id) == holder
        assert syncs.get(conn, waiting)["status"] == "failed"
        assert syncs.get(conn, waiting)["error"].startswith("not started: sync ")


def test_unlock_refuses_while_the_holders_run_is_alive_and_frees_it_after(catalog):
    with catalog.begin() as conn:
        ds = datasets.create(conn, name="u")
        holder = _new_sync(conn, ds.id, "manual__1")
        syncs.acquire_lock(conn, dataset_id=ds.id, sync_id=holder)

    with pytest.raises(SyncLocked) as refused:
        syncs.unlock_dataset(catalog, "u", lambda dag_id, run_id: True)
    assert "\n" not in str(refused.value)
    assert str(refused.value).startswith(f"dataset u not unlocked: sync {holder} ")
    assert "Airflow run manual__1" in str(refused.value)
    with pytest.raises(SyncLocked):  # Airflow cannot say, and the heartbeat is fresh
        syncs.unlock_dataset(catalog, "u", None)
    with catalog.begin() as conn:
        assert _holder(conn, ds.id) == holder

    assert syncs.unlock_dataset(catalog, "u", lambda dag_id, run_id: False) == holder

    with catalog.begin() as conn:
        assert _holder(conn, ds.id) is None
        run = syncs.get(conn, holder)
    assert run["status"] == "failed"
    assert run["error"] == (
        "interrupted: its Airflow run manual__1 is no longer running; its lock was freed by hand"
    )
    assert syncs.unlock_dataset(catalog, "u", None) is None  # nothing left to free
    with pytest.raises(NotFound):
        syncs.unlock_dataset(catalog, "nope", None)


def test_catalog_repr_hides_the_password():
    catalog = Catalog("postgresql://user:s3cret@127.0.0.1:1/db", upgrade=False)
    assert "s3cret" not in repr(catalog)


def test_migrations_build_exactly_the_declared_schema(catalog):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from tributary.catalog.schema import metadata

    dialect = catalog.engine.dialect.name

    def on_this_dialect(obj, _name, _type, _reflected, _compare_to) -> bool:
        # An index declared for one dialect only (.ddl_if) exists only there.
        ddl_if = getattr(obj, "_ddl_if", None)
        return ddl_if is None or ddl_if.dialect in (None, dialect)

    with catalog.engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={"version_table": migrations.VERSION_TABLE, "include_object": on_this_dialect},
        )
        differences = compare_metadata(context, metadata)

    assert differences == []


def test_the_failing_since_migration_dates_a_stored_failing_check(catalog_url):
    """A driver whose last check failed before 0006 reads as failing since that check,
    not as healthy until the next one."""
    from alembic import command

    engine = sa.create_engine(catalog_url)
    command.upgrade(migrations.alembic_config(engine), "0005")
    checked_at = dt.datetime(2026, 11, 1, 3, 0, tzinfo=dt.UTC)
    rows = [
        {"name": name, "ok": ok, "check": sa.null() if ok is None else {"ok": ok}}
        for name, ok in (("broken", False), ("fine", True), ("unchecked", None))
    ]
    old_drivers = sa.table(
        "drivers",
        *(sa.column(c) for c in ("name", "provider", "bucket", "last_check_at", "created_at")),
        sa.column("last_check", sa.JSON),
    )
    with engine.begin() as conn:
        for row in rows:
            conn.execute(
                old_drivers.insert().values(
                    name=row["name"],
                    provider="local",
                    bucket="/b",
                    last_check=row["check"],
                    last_check_at=checked_at if row["ok"] is not None else None,
                    created_at=checked_at,
                )
            )
    engine.dispose()

    catalog = Catalog(catalog_url)  # migrates to head
    with catalog.begin() as conn:
        since = {
            name: drivers.check_status(conn, name).failing_since
            for name in ("broken", "fine", "unchecked")
        }

    assert since == {"broken": checked_at, "fine": None, "unchecked": None}


def test_a_sqlite_catalog_serves_many_threads_at_once(tmp_path):
    """Eight threads each holding a catalog connection at once (the API server's threads,
    an SDK's upload threads renewing a lease): each keeps its own. The old per-thread
    pool kept five and closed the others' connections, in use or not."""
    import threading

    catalog = Catalog(f"sqlite:///{tmp_path / 'threads.db'}")
    errors: list[BaseException] = []
    holding = threading.Barrier(8, timeout=30)

    def worker() -> None:
        try:
            connection = catalog.engine.raw_connection()  # checked out, no transaction
            try:
                holding.wait()  # all eight hold one now
                cursor = connection.cursor()
                cursor.execute("SELECT count(*) FROM datasets")
                cursor.fetchall()
                cursor.close()
            finally:
                connection.close()  # back to the pool
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
