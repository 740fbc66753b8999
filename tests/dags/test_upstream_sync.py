"""``tributary_upstream_sync`` through ``dag.test()`` on every storage kind and both catalogs."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from tests.dags.runner import run_dag
from tests.dags.test_initial_sync import items_created_events, make_dataset
from tributary.catalog import datasets, syncs
from tributary.catalog import items as item_queries
from tributary.catalog.schema import item_purges, items

DAG_ID = "tributary_upstream_sync"
FILES = {
    f"{folder}/{i}.jpg": f"{folder}-{i}".encode() * (i + 1) for folder in "ab" for i in range(5)
}


def by_path(catalog, state="active", name="ds") -> dict[str, dict]:
    with catalog.begin() as conn:
        return {i["path"].lstrip("/"): i for i in item_queries.iterate(conn, name, state)}


def last_run(catalog, name="ds") -> dict:
    with catalog.begin() as conn:
        return syncs.history(conn, name, limit=1)[0]


def sync(conf: dict | None = None, **kwargs):
    return run_dag(DAG_ID, {"dataset": "ds", **(conf or {})}, **kwargs)


def test_bucket_changes_reach_the_catalog(airflow_db, catalog, bucket):
    for key, data in FILES.items():
        bucket.put(key, data)
    make_dataset(catalog, bucket)
    with catalog.begin() as conn:
        datasets.set_policy(conn, "ds", mass_delete_threshold=0.5)
    assert sync().state == "success"
    first = by_path(catalog)
    assert set(first) == set(FILES)
    with catalog.begin() as conn:
        conn.execute(
            items.update().where(items.c.path == "/a/1.jpg").values(user_metadata={"tag": 7})
        )

    bucket.put("c/new.jpg", b"brand new")  # add
    bucket.put("a/0.jpg", b"rewritten, longer content")  # change
    bucket.delete("b/4.jpg")  # delete
    bucket.move("a/1.jpg", "a/1-renamed.jpg")  # rename
    bucket.move("b/2.jpg", "c/moved/2.jpg")  # move to another folder
    bucket.delete("a/3.jpg")  # delete, restored below
    run = sync()

    assert run.state == "success"
    after = by_path(catalog)
    assert set(after) == set(FILES) - {"b/4.jpg", "a/1.jpg", "b/2.jpg", "a/3.jpg"} | {
        "c/new.jpg",
        "a/1-renamed.jpg",
        "c/moved/2.jpg",
    }
    assert after["a/1-renamed.jpg"]["id"] == first["a/1.jpg"]["id"]
    assert after["a/1-renamed.jpg"]["user_metadata"] == {"tag": 7}
    assert after["c/moved/2.jpg"]["id"] == first["b/2.jpg"]["id"]
    assert after["a/0.jpg"]["size"] == len(b"rewritten, longer content")
    assert after["a/0.jpg"]["preprocess_state"] == "pending"
    assert set(by_path(catalog, "ghost")) == {"b/4.jpg", "a/3.jpg"}
    summary = last_run(catalog)
    assert (summary["items_new"], summary["items_changed"], summary["items_renamed"]) == (1, 1, 2)
    assert summary["items_ghosted"] == 2
    (event,) = items_created_events(run)
    assert event["count"] == 1 and event["min_id"] == after["c/new.jpg"]["id"]

    bucket.put("a/3.jpg", FILES["a/3.jpg"])  # delete-then-restore
    assert sync().state == "success"
    assert by_path(catalog)["a/3.jpg"]["id"] == first["a/3.jpg"]["id"]
    assert set(by_path(catalog, "ghost")) == {"b/4.jpg"}
    assert last_run(catalog)["items_revived"] == 1

    with catalog.begin() as conn:  # the grace period passes
        conn.execute(
            items.update()
            .where(items.c.state == "ghost")
            .values(vanished_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=8))
        )
    assert sync().state == "success"
    assert not by_path(catalog, "ghost")
    with catalog.begin() as conn:
        purged = conn.execute(sa.select(item_purges.c.path)).scalars().all()
    assert purged == ["/b/4.jpg"]


@pytest.mark.parametrize("bucket", ["local"], indirect=True)
def test_guards_through_the_dag(airflow_db, catalog, bucket):
    for key, data in FILES.items():
        bucket.put(key, data)
    make_dataset(catalog, bucket)
    assert sync().state == "success"
    before = by_path(catalog)
    for key in ("a/0.jpg", "a/1.jpg", "a/2.jpg"):
        bucket.delete(key)

    dry = sync({"dry_run": True})
    assert dry.state == "success"
    assert by_path(catalog) == before
    assert last_run(catalog)["report"]["counts"]["vanished"] == 3

    refused = sync()
    assert refused.state == "failed"
    assert by_path(catalog) == before
    assert "allow_mass_delete" in last_run(catalog)["error"]

    allowed = sync({"allow_mass_delete": True})
    assert allowed.state == "success"
    assert set(by_path(catalog, "ghost")) == {"a/0.jpg", "a/1.jpg", "a/2.jpg"}


@pytest.mark.parametrize("bucket", ["local"], indirect=True)
@pytest.mark.parametrize("catalog_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("empty", [None, ""], ids=["form-null", "empty-string"])
def test_empty_dataset_param_syncs_every_sync_enabled_dataset(airflow_db, catalog, bucket, empty):
    for key, data in FILES.items():
        bucket.put(key, data)
    make_dataset(catalog, bucket, name="one")
    make_dataset(catalog, bucket, name="two", path="a/")
    make_dataset(catalog, bucket, name="off")
    with catalog.begin() as conn:
        datasets.set_policy(conn, "off", sync_enabled=False)

    run = run_dag(DAG_ID, {"dataset": empty})

    assert run.state == "success"
    assert len(by_path(catalog, name="one")) == len(FILES)
    assert len(by_path(catalog, name="two")) == 5
    assert not by_path(catalog, name="off")
    assert sorted(e["dataset"] for e in items_created_events(run)) == ["one", "two"]
    listed = [ti for ti in run.get_task_instances() if ti.task_id == "list_partition"]
    labels = sorted(ti.rendered_map_index for ti in listed)
    assert "one: partition 1/1: every file" in labels


@pytest.mark.parametrize("bucket", ["local", "s3"], indirect=True)
@pytest.mark.parametrize("catalog_url", ["sqlite"], indirect=True)
def test_backfill_over_three_dates_loads_one_day_per_run(airflow_db, catalog, bucket):
    days = ("2026-11-01", "2026-11-02", "2026-11-03")
    for day in days:
        for i in range(3):
            bucket.put(f"camera-7/{day}/{i}.jpg", f"{day}/{i}".encode())
    make_dataset(catalog, bucket)
    with catalog.begin() as conn:
        conn.execute(
            sa.update(datasets.datasets)
            .where(datasets.datasets.c.name == "ds")
            .values(folder="camera-7/{{ ds }}/")
        )

    for n, day in enumerate(days, 1):
        logical_date = dt.datetime.fromisoformat(f"{day}T02:00:00+00:00")
        assert sync(logical_date=logical_date).state == "success"
        assert len(by_path(catalog)) == 3 * n
        assert last_run(catalog)["scope"].endswith(f"camera-7/{day}/")

    bucket.delete("camera-7/2026-11-01/0.jpg")
    rerun_day_two = dt.datetime(2026, 11, 2, 2, tzinfo=dt.UTC)
    assert sync(logical_date=rerun_day_two).state == "success"
    assert not by_path(catalog, "ghost")  # day one is not this run's partition
    rerun_day_one = dt.datetime(2026, 11, 1, 2, tzinfo=dt.UTC)
    assert sync({"allow_mass_delete": True}, logical_date=rerun_day_one).state == "success"
    assert set(by_path(catalog, "ghost")) == {"camera-7/2026-11-01/0.jpg"}


@pytest.mark.parametrize("bucket", ["local"], indirect=True)
def test_a_folder_template_never_reaches_a_connection(airflow_db, catalog, bucket, monkeypatch):
    """Issue 9, B9: even a template stored before creation checked it renders only dates."""
    monkeypatch.setenv("AIRFLOW_CONN_SECRET_HOLDER", '{"conn_type": "aws", "password": "s3cr3t"}')
    bucket.put("s3cr3t/0.jpg", b"x")
    make_dataset(catalog, bucket)
    with catalog.begin() as conn:
        conn.execute(
            sa.update(datasets.datasets)
            .where(datasets.datasets.c.name == "ds")
            .values(folder="{{ conn.secret_holder.password }}/")
        )

    run = sync(logical_date=dt.datetime(2026, 11, 1, 2, tzinfo=dt.UTC))

    assert run.state == "failed"
    failed = last_run(catalog)
    assert "only the run's dates" in failed["error"]
    assert "s3cr3t" not in str(failed)
    assert not by_path(catalog)
