"""Reconcile on a local folder, on SQLite and PostgreSQL: every kind of change, the guards."""

from __future__ import annotations

import contextlib
import datetime as dt
import os

import pytest
import sqlalchemy as sa

from tests.sync.upstream_steps import upstream_sync
from tributary.catalog import datasets, drivers, syncs
from tributary.catalog import items as item_queries
from tributary.catalog.schema import item_purges, items
from tributary.errors import ListingIncomplete, MassDeleteRefused
from tributary.storage.local import LocalStore

FILES = {f"{d}/{i}.jpg": f"{d}{i}".encode() * (i + 1) for d in "abc" for i in range(4)}


@pytest.fixture
def bucket(tmp_path):
    root = tmp_path / "bucket"
    for key, data in FILES.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(data)
    return root


@pytest.fixture
def dataset(catalog, bucket):
    with catalog.begin() as conn:
        drivers.create(conn, name="d", provider="local", bucket=str(bucket))
        datasets.create(conn, name="ds", driver_name="d")
    upstream_sync(catalog, "ds")
    return "ds"


def catalog_items(catalog, state="active") -> dict[str, dict]:
    with catalog.begin() as conn:
        return {row["path"].lstrip("/"): row for row in item_queries.iterate(conn, "ds", state)}


def bucket_keys(bucket) -> set[str]:
    return {
        str(p.relative_to(bucket))
        for p in bucket.rglob("*")
        if p.is_file() and ".tributary" not in p.parts
    }


def set_user_metadata(catalog, path: str, value: dict) -> None:
    with catalog.begin() as conn:
        conn.execute(
            items.update()
            .where(items.c.path == f"/{path}")
            .values(user_metadata=value, description="kept")
        )


def test_first_upstream_sync_indexes_everything(catalog, dataset, bucket):
    assert set(catalog_items(catalog)) == bucket_keys(bucket) == set(FILES)


def test_every_kind_of_change_is_reconciled(catalog, dataset, bucket):
    before = catalog_items(catalog)
    set_user_metadata(catalog, "a/1.jpg", {"label": "cat"})
    (bucket / "a/0.jpg").write_bytes(b"changed content")  # changed
    (bucket / "b/2.jpg").unlink()  # deleted
    (bucket / "a/1.jpg").rename(bucket / "a/1-renamed.jpg")  # renamed (mtime kept)
    (bucket / "d").mkdir()
    (bucket / "c/3.jpg").rename(bucket / "d/3.jpg")  # moved to another folder
    (bucket / "e.png").write_bytes(b"new")  # new

    report = upstream_sync(catalog, dataset)

    assert report["counts"] == {"new": 1, "changed": 1, "revived": 0, "renamed": 2, "vanished": 1}
    assert report["samples"]["renamed"] == ["/a/1.jpg -> /a/1-renamed.jpg", "/c/3.jpg -> /d/3.jpg"]
    after = catalog_items(catalog)
    assert set(after) == bucket_keys(bucket)
    renamed = after["a/1-renamed.jpg"]
    assert renamed["id"] == before["a/1.jpg"]["id"]
    assert renamed["user_metadata"] == {"label": "cat"}
    assert renamed["description"] == "kept"
    assert after["d/3.jpg"]["id"] == before["c/3.jpg"]["id"]
    assert after["a/0.jpg"]["id"] == before["a/0.jpg"]["id"]
    assert after["a/0.jpg"]["size"] == len(b"changed content")
    assert after["a/0.jpg"]["preprocess_state"] == "pending"
    ghosts = catalog_items(catalog, "ghost")
    assert set(ghosts) == {"b/2.jpg"}
    assert ghosts["b/2.jpg"]["id"] == before["b/2.jpg"]["id"]
    assert ghosts["b/2.jpg"]["vanished_at"] is not None
    with catalog.begin() as conn:
        run = syncs.get(conn, report["sync_id"])
    assert (run["items_new"], run["items_changed"], run["items_renamed"]) == (1, 1, 2)
    assert (run["items_ghosted"], run["items_revived"], run["status"]) == (1, 0, "succeeded")


def test_a_restored_file_revives_its_tombstone(catalog, dataset, bucket):
    before = catalog_items(catalog)
    set_user_metadata(catalog, "b/1.jpg", {"keep": True})
    data = (bucket / "b/1.jpg").read_bytes()
    (bucket / "b/1.jpg").unlink()
    upstream_sync(catalog, dataset)
    assert set(catalog_items(catalog, "ghost")) == {"b/1.jpg"}

    (bucket / "b/1.jpg").write_bytes(data)
    report = upstream_sync(catalog, dataset)

    assert report["counts"]["revived"] == 1
    revived = catalog_items(catalog)["b/1.jpg"]
    assert revived["id"] == before["b/1.jpg"]["id"]
    assert revived["user_metadata"] == {"keep": True}
    assert revived["vanished_at"] is None
    assert not catalog_items(catalog, "ghost")


def give_thumbnail(catalog, bucket, path: str, *, as_folder: bool = False):
    """Point an item at a thumbnail in the hidden folder, as preprocessing does; with
    ``as_folder`` the key is a folder, which no delete can remove."""
    with catalog.begin() as conn:
        item_id = conn.execute(sa.select(items.c.id).where(items.c.path == f"/{path}")).scalar()
        key = f".tributary/thumbnails/1/{item_id}.jpg"
        conn.execute(items.update().where(items.c.id == item_id).values(thumbnail_key=key))
    thumbnail = bucket / key
    if as_folder:
        (thumbnail / "inside").mkdir(parents=True)
    else:
        thumbnail.parent.mkdir(parents=True, exist_ok=True)
        thumbnail.write_bytes(b"thumbnail")
    return thumbnail


def sync_after_grace(catalog, dataset) -> dict:
    """The next sync once every tombstone is past the 7 days of grace."""
    with catalog.begin() as conn:
        conn.execute(
            items.update()
            .where(items.c.state == "ghost")
            .values(vanished_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=8))
        )
    return upstream_sync(catalog, dataset)


def test_tombstones_are_purged_after_the_grace_period_and_recorded(catalog, dataset, bucket):
    purged_thumbnail = give_thumbnail(catalog, bucket, "c/0.jpg")
    kept_thumbnail = give_thumbnail(catalog, bucket, "c/1.jpg")
    (bucket / "c/0.jpg").unlink()
    upstream_sync(catalog, dataset)
    assert upstream_sync(catalog, dataset)["items_purged"] == 0  # within the 7 days
    assert purged_thumbnail.exists()  # a tombstone may still come back

    report = sync_after_grace(catalog, dataset)

    assert report["items_purged"] == 1
    assert not catalog_items(catalog, "ghost")
    with catalog.begin() as conn:
        purges = conn.execute(sa.select(item_purges)).mappings().all()
    assert [p["path"] for p in purges] == ["/c/0.jpg"]
    assert purges[0]["sync_id"] == report["sync_id"]
    assert purges[0]["thumbnail_key"] == str(purged_thumbnail.relative_to(bucket))
    assert not purged_thumbnail.exists()
    assert kept_thumbnail.exists()
    assert set(catalog_items(catalog)) == bucket_keys(bucket)  # hidden folder not indexed


def test_a_thumbnail_that_cannot_be_deleted_is_logged_and_the_purge_stands(
    catalog, dataset, bucket, caplog
):
    stuck = give_thumbnail(catalog, bucket, "a/2.jpg", as_folder=True)
    (bucket / "a/2.jpg").unlink()
    upstream_sync(catalog, dataset)

    report = sync_after_grace(catalog, dataset)

    assert report["items_purged"] == 1
    assert stuck.is_dir()
    assert "Deleted 0 thumbnails of purged items, then:" in caplog.text
    with catalog.begin() as conn:
        assert syncs.get(conn, report["sync_id"])["status"] == "succeeded"


def test_mass_delete_guard_stops_before_applying(catalog, dataset, bucket):
    before = catalog_items(catalog)
    for key in ("a/0.jpg", "a/1.jpg", "a/2.jpg"):  # 3 of 12 = 25% > 10%
        (bucket / key).unlink()
    (bucket / "new.jpg").write_bytes(b"n")

    with pytest.raises(MassDeleteRefused, match=r"3 of 12 items .* set allow_mass_delete"):
        upstream_sync(catalog, dataset)

    assert catalog_items(catalog) == before  # nothing applied, not even the new file
    with catalog.begin() as conn:
        last = syncs.history(conn, "ds", limit=1)[0]
    assert last["status"] == "failed" and "allow_mass_delete" in last["error"]

    report = upstream_sync(catalog, dataset, allow_mass_delete=True)
    assert report["items_ghosted"] == 3
    assert set(catalog_items(catalog)) == bucket_keys(bucket)


def test_the_threshold_is_set_per_dataset(catalog, dataset, bucket):
    with catalog.begin() as conn:
        datasets.set_policy(conn, "ds", mass_delete_threshold=0.5)
    for key in ("a/0.jpg", "a/1.jpg", "a/2.jpg"):
        (bucket / key).unlink()
    assert upstream_sync(catalog, dataset)["items_ghosted"] == 3


def test_dry_run_reports_the_plan_and_changes_nothing(catalog, dataset, bucket):
    before = catalog_items(catalog)
    (bucket / "a/0.jpg").unlink()
    (bucket / "z.jpg").write_bytes(b"z")

    report = upstream_sync(catalog, dataset, dry_run=True)

    assert report["applied"] is False
    assert report["counts"]["new"] == 1 and report["counts"]["vanished"] == 1
    assert report["samples"]["vanished"] == ["/a/0.jpg"]
    assert catalog_items(catalog) == before
    with catalog.begin() as conn:
        last = syncs.history(conn, "ds", limit=1)[0]
    assert last["dry_run"] and last["report"]["counts"]["new"] == 1


def test_a_failed_partition_marks_nothing_as_ghost(catalog, dataset, bucket, monkeypatch):
    monkeypatch.setenv("TRIBUTARY_LISTING_PAGE_SIZE", "2")  # pages staged before the fault
    (bucket / "a/0.jpg").unlink()
    (bucket / "b/0.jpg").unlink()
    (bucket / "a/new.jpg").write_bytes(b"fresh")  # listed before b/ fails
    real_list_raw = LocalStore.list_raw

    def failing_under_b(self, prefix, *, recursive=True):
        if prefix.endswith("b/"):
            raise OSError("injected: storage error listing b/")
        yield from real_list_raw(self, prefix, recursive=recursive)

    monkeypatch.setattr(LocalStore, "list_raw", failing_under_b)
    from tributary.sync import guarded_reconcile, listing

    sync_id = listing.start(catalog, dataset_name="ds", kind="upstream", dag_id="t", run_id="x")
    for pointer in listing.plan(catalog, sync_id):
        with contextlib.suppress(OSError):
            listing.list_partition(catalog, sync_id, pointer["index"])
    with pytest.raises(ListingIncomplete, match="nothing was marked as ghost"):
        guarded_reconcile.reconcile(catalog, sync_id)

    assert not catalog_items(catalog, "ghost")
    assert "a/new.jpg" in catalog_items(catalog)  # new items still land
    with catalog.begin() as conn:
        run = syncs.get(conn, sync_id)
    assert run["status"] == "failed" and "listing incomplete" in run["error"]

    monkeypatch.setattr(LocalStore, "list_raw", real_list_raw)  # the fault heals
    report = upstream_sync(catalog, dataset, allow_mass_delete=True)
    assert report["items_ghosted"] == 2
    assert set(catalog_items(catalog)) == bucket_keys(bucket)


def test_ambiguous_renames_fall_back_to_new_and_ghost(catalog, dataset, bucket):
    # Two keys with the same size and etag (hard links: one inode) both move.
    (bucket / "a/twin1.jpg").write_bytes(b"same")
    os.link(bucket / "a/twin1.jpg", bucket / "a/twin2.jpg")
    upstream_sync(catalog, dataset)
    (bucket / "a/twin1.jpg").rename(bucket / "c/twin1.jpg")
    (bucket / "a/twin2.jpg").rename(bucket / "c/twin2.jpg")

    report = upstream_sync(catalog, dataset, allow_mass_delete=True)

    assert report["counts"]["renamed"] == 0
    assert report["counts"]["new"] == 2 and report["counts"]["vanished"] == 2
    assert report["ambiguous_renames"]["keys"] == 2
    assert set(catalog_items(catalog)) == bucket_keys(bucket)


def test_a_templated_folder_reconciles_only_the_runs_interval(catalog, tmp_path):
    root = tmp_path / "dated"
    for day in ("2026-11-01", "2026-11-02"):
        (root / "cam" / day).mkdir(parents=True)
        for i in range(3):
            (root / "cam" / day / f"{i}.jpg").write_bytes(day.encode())
    with catalog.begin() as conn:
        drivers.create(conn, name="dated", provider="local", bucket=str(root))
        datasets.create(conn, name="ds", driver_name="dated", folder="cam/{{ ds }}/")

    def day(ds):
        return lambda template: template.replace("{{ ds }}", ds)

    upstream_sync(catalog, "ds", render=day("2026-11-01"))
    assert set(catalog_items(catalog)) == {f"cam/2026-11-01/{i}.jpg" for i in range(3)}
    (root / "cam/2026-11-01/0.jpg").unlink()

    report = upstream_sync(catalog, "ds", render=day("2026-11-02"))
    assert report["scope"].endswith("cam/2026-11-02/")
    assert report["counts"]["vanished"] == 0  # the other day is out of scope
    assert len(catalog_items(catalog)) == 6

    report = upstream_sync(catalog, "ds", render=day("2026-11-01"), allow_mass_delete=True)
    assert report["items_ghosted"] == 1
    assert set(catalog_items(catalog, "ghost")) == {"cam/2026-11-01/0.jpg"}


def test_a_second_sync_waits_for_the_first_then_fails_clearly(catalog, dataset, monkeypatch):
    from tributary.errors import SyncLocked
    from tributary.sync import listing

    monkeypatch.setenv("TRIBUTARY_LOCK_WAIT_SECONDS", "0")
    first = listing.start(catalog, dataset_name="ds", kind="upstream", dag_id="t", run_id="one")
    with pytest.raises(SyncLocked, match=f"sync {first} of this dataset"):
        listing.start(catalog, dataset_name="ds", kind="event", dag_id="t", run_id="two")
    with catalog.begin() as conn:
        assert syncs.get(conn, first)["status"] == "running"


def test_a_dead_holder_loses_the_lock(catalog, dataset, monkeypatch):
    from tributary.sync import listing

    monkeypatch.setenv("TRIBUTARY_LOCK_STALE_SECONDS", "0")
    first = listing.start(catalog, dataset_name="ds", kind="upstream", dag_id="t", run_id="one")
    second = listing.start(catalog, dataset_name="ds", kind="upstream", dag_id="t", run_id="two")
    with catalog.begin() as conn:
        assert syncs.get(conn, first)["status"] == "failed"
        assert "interrupted" in syncs.get(conn, first)["error"]
        assert syncs.get(conn, second)["status"] == "running"


def _as_before_inodes(etag: str) -> str:
    """A local etag as stored before it had an inode part: ``<size>-<mtime ns>``."""
    return etag.rsplit("-", 1)[0]


def test_local_etags_from_before_inodes_are_not_changes(catalog, dataset, bucket):
    stored = catalog_items(catalog).values()
    with catalog.begin() as conn:
        for row in stored:
            conn.execute(
                items.update()
                .where(items.c.id == row["id"])
                .values(etag=_as_before_inodes(row["etag"]), preprocess_state="done")
            )
    current = {key: row["etag"] for key, row in catalog_items(catalog).items()}
    (bucket / "a/0.jpg").write_bytes(b"really changed")  # a real change still is one
    os.utime(bucket / "a/0.jpg", ns=(1, 1))

    report = upstream_sync(catalog, dataset)

    assert report["counts"]["changed"] == 1
    assert report["samples"]["changed"] == ["/a/0.jpg"]
    after = catalog_items(catalog)
    assert {k for k, row in after.items() if row["preprocess_state"] == "pending"} == {"a/0.jpg"}
    listed = {o.key: o.etag for page in LocalStore(str(bucket)).list_pages("") for o in page}
    assert {k: row["etag"] for k, row in after.items()} == listed  # the new etags stored
    assert all(row["etag"] != current[k] for k, row in after.items())
    assert upstream_sync(catalog, dataset)["counts"]["changed"] == 0


def _plan_listing(conn, dataset_id: int, run_id: str, etag: str | None) -> dict:
    """Stage one key ``k`` (3 bytes) with ``etag``, plan it and apply the plan."""
    from tributary.catalog import change_plans as plans
    from tributary.catalog.staging import insert_rows

    sync_id = syncs.start(conn, dataset_id=dataset_id, kind="upstream", dag_id="d", run_id=run_id)
    insert_rows(conn, [(sync_id, "k", 0, "/k", 3, etag, None, None)])
    plan = plans.plan(conn, dataset_id=dataset_id, sync_id=sync_id, scope=None, complete=True)
    now = dt.datetime.now(dt.UTC)
    plans.apply(conn, dataset_id=dataset_id, sync_id=sync_id, last_seen_sync_id=None, now=now)
    return plan["counts"]


@pytest.mark.parametrize(
    ("stored", "listed", "changed"),
    [
        pytest.param("3-ab", "3-ab-1f", False, id="two-part-upgraded"),
        pytest.param("3-ab", "3-abc-1f", True, id="not-a-prefix-at-a-dash"),
        pytest.param("3-ab", "3-ab-", True, id="empty-inode"),
        pytest.param("3-ab-1f", "3-ab-1f-9", True, id="three-parts-are-no-old-etag"),
        pytest.param("3-ab", "3-ab-1f-9", True, id="more-than-one-part-added"),
        pytest.param("d41d8cd98f00b204-2", "d41d8cd98f00b204-2", False, id="s3-multipart-same"),
        pytest.param("d41d8cd98f00b204", "d41d8cd98f00b204-1f", True, id="one-part-stored"),
        pytest.param(None, "3-ab-1f", True, id="no-stored-etag"),
    ],
)
def test_only_an_old_two_part_local_etag_counts_as_unchanged(catalog, stored, listed, changed):
    with catalog.begin() as conn:
        dataset_id = datasets.create(conn, name="e").id
        assert _plan_listing(conn, dataset_id, "r1", stored)["new"] == 1
        counts = _plan_listing(conn, dataset_id, "r2", listed)
        etag = conn.execute(sa.select(items.c.etag)).scalar_one()

    assert counts["changed"] == int(changed)
    assert etag == listed  # a change stores it, and so does an upgrade
