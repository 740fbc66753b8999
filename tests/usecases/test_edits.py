"""Platform edits and their rules: delete, restore, move/rename, clone, and a clone's
refusal to sync. Real catalogs (SQLite, PostgreSQL), real folders (a local driver and the
internal storage); the outbox rows a delete queues are read back from the catalog."""

from __future__ import annotations

import datetime as dt
import os

import pytest
import sqlalchemy as sa

from tests.sync.upstream_steps import upstream_sync
from tributary.catalog import datasets as dataset_queries
from tributary.catalog import outbox as outbox_queries
from tributary.catalog.schema import items, outbox, sync_runs
from tributary.config import internal_storage_root
from tributary.errors import Conflict, InvalidInput, QuotaExceeded, RuleRefused
from tributary.sync import listing, upstream
from tributary.usecases.datasets import create_dataset, set_quota, update_dataset
from tributary.usecases.drivers import create_driver
from tributary.usecases.edits import (
    MOVE_RULE,
    clone_dataset,
    delete_item,
    move_item,
    restore_item,
)
from tributary.usecases.items import find_item, get_item, list_items
from tributary.usecases.syncs import start_initial_sync, start_upstream_sync

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def own_internal_storage(tmp_path, monkeypatch):
    """Each test its own internal storage (dataset names repeat across tests)."""
    monkeypatch.setenv("TRIBUTARY_STORAGE_ROOT", str(tmp_path / "internal"))


def external(catalog, bucket, *, allow_delete=False, name="ds") -> str:
    """A dataset on a local driver over ``bucket``, synced once."""
    create_driver(
        catalog, name=f"{name}-d", provider="local", bucket=str(bucket), allow_delete=allow_delete
    )
    create_dataset(catalog, name=name, driver=f"{name}-d", start_sync=False)
    upstream_sync(catalog, name)
    return name


def internal(catalog, name="in", files=None) -> str:
    """An internal dataset with files written where uploads put them."""
    create_dataset(catalog, name=name, start_sync=False)
    folder = internal_storage_root() / name
    with catalog.begin() as conn:
        found = dataset_queries.get(conn, name)
        for path, data in (files or {"/a.jpg": b"aaaa", "/sub/b.png": b"bb"}).items():
            (folder / path[1:]).parent.mkdir(parents=True, exist_ok=True)
            (folder / path[1:]).write_bytes(data)
            conn.execute(
                items.insert().values(
                    dataset_id=found.id,
                    path=path,
                    storage_key=path[1:],
                    size=len(data),
                    mimetype="image/jpeg",
                    user_metadata={"camera": 3},
                    description=f"about {path}",
                    preprocess_state="done",
                    thumbnail_key=f".tributary/thumbnails/{found.id}/x.jpg",
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
    return name


def outbox_rows(catalog, item_id=None) -> list[tuple]:
    with catalog.begin() as conn:
        query = sa.select(outbox.c.op, outbox.c.storage_key, outbox.c.status).order_by(outbox.c.id)
        if item_id is not None:
            query = query.where(outbox.c.item_id == item_id)
        return [tuple(row) for row in conn.execute(query)]


def give_thumbnail(catalog, item_id: int, key="thumbs/1.jpg") -> None:
    with catalog.begin() as conn:
        conn.execute(
            items.update()
            .where(items.c.id == item_id)
            .values(thumbnail_key=key, preprocess_state="done")
        )


# -- delete --------------------------------------------------------------------------------


def test_delete_without_allow_delete_keeps_the_file_and_drops_the_thumbnail(catalog, bucket):
    ds = external(catalog, bucket)
    item = find_item(catalog, ds, "/b.png")
    give_thumbnail(catalog, item["id"])

    result = delete_item(catalog, ds, item["id"])

    assert result["bucket_file"] == "kept"
    deleted = result["item"]
    assert (deleted["state"], deleted["downstream"], deleted["thumbnail"]) == (
        "deleted",
        None,
        None,
    )
    assert deleted["deleted_at"] is not None
    assert outbox_rows(catalog, item["id"]) == [("delete_thumbnail", "thumbs/1.jpg", "pending")]
    assert (bucket / "b.png").exists()
    assert [i["path"] for i in list_items(catalog, ds)["items"]] == ["/sub/a.jpg"]
    assert [i["path"] for i in list_items(catalog, ds, state="deleted")["items"]] == ["/b.png"]
    # Deleting again changes nothing and queues nothing more.
    assert delete_item(catalog, ds, item["id"])["bucket_file"] == "kept"
    assert len(outbox_rows(catalog)) == 1


def test_delete_with_allow_delete_queues_the_bucket_delete(catalog, bucket):
    ds = external(catalog, bucket, allow_delete=True)
    item = find_item(catalog, ds, "/sub/a.jpg")

    result = delete_item(catalog, ds, item["id"])

    assert result["bucket_file"] == "deleting"
    assert result["item"]["downstream"] == "delete"
    assert outbox_rows(catalog, item["id"]) == [("delete", "sub/a.jpg", "pending")]
    with catalog.begin() as conn:
        assert outbox_queries.pending_count(conn) == 1


def test_delete_in_the_internal_storage_queues_the_file_removal(catalog):
    ds = internal(catalog)
    item = find_item(catalog, ds, "/a.jpg")

    result = delete_item(catalog, ds, item["id"])

    assert result["bucket_file"] == "internal"
    assert [op for op, _, _ in outbox_rows(catalog, item["id"])] == ["delete_thumbnail", "delete"]


def test_an_upload_on_its_way_cannot_be_deleted(catalog, bucket):
    ds = external(catalog, bucket)
    item = find_item(catalog, ds, "/b.png")
    with catalog.begin() as conn:
        conn.execute(items.update().where(items.c.id == item["id"]).values(downstream="put"))

    with pytest.raises(Conflict, match="still being written"):
        delete_item(catalog, ds, item["id"])


def test_deleted_items_hold_no_data_point(catalog, bucket):
    ds = external(catalog, bucket)
    delete_item(catalog, ds, find_item(catalog, ds, "/b.png")["id"])
    assert set_quota(catalog, ds, 1).used == 1


# -- a sync after a delete -----------------------------------------------------------------


def test_a_sync_does_not_bring_a_deleted_file_back_unless_its_content_changes(catalog, bucket):
    ds = external(catalog, bucket)
    item = find_item(catalog, ds, "/b.png")
    delete_item(catalog, ds, item["id"])

    upstream_sync(catalog, ds)
    assert get_item(catalog, ds, item["id"])["state"] == "deleted"

    (bucket / "b.png").write_bytes(b"new content")
    upstream_sync(catalog, ds)
    revived = get_item(catalog, ds, item["id"])
    assert (revived["state"], revived["deleted_at"], revived["size"]) == ("active", None, 11)
    assert revived["preprocess_state"] == "pending"


# -- restore -------------------------------------------------------------------------------


def test_restore_brings_back_a_kept_file_and_withdraws_the_thumbnail_removal(catalog, bucket):
    ds = external(catalog, bucket)
    item = find_item(catalog, ds, "/b.png")
    give_thumbnail(catalog, item["id"])
    delete_item(catalog, ds, item["id"])

    restored = restore_item(catalog, ds, item["id"])

    assert (restored["state"], restored["deleted_at"], restored["preprocess_state"]) == (
        "active",
        None,
        "pending",
    )
    assert outbox_rows(catalog, item["id"]) == [("delete_thumbnail", "thumbs/1.jpg", "cancelled")]
    with pytest.raises(Conflict, match="is not deleted"):
        restore_item(catalog, ds, item["id"])


def test_restore_withdraws_a_pending_bucket_delete(catalog, bucket):
    ds = external(catalog, bucket, allow_delete=True)
    item = find_item(catalog, ds, "/b.png")
    delete_item(catalog, ds, item["id"])

    restored = restore_item(catalog, ds, item["id"])

    assert (restored["state"], restored["downstream"]) == ("active", None)
    assert outbox_rows(catalog, item["id"]) == [("delete", "b.png", "cancelled")]
    with catalog.begin() as conn:
        assert outbox_queries.due(conn, now=dt.datetime.now(dt.UTC), limit=10) == []


def test_restore_is_refused_once_the_delete_was_applied(catalog, bucket):
    ds = external(catalog, bucket, allow_delete=True)
    item = find_item(catalog, ds, "/b.png")
    delete_item(catalog, ds, item["id"])
    # What the drain does: delete the file, mark the operation done.
    (bucket / "b.png").unlink()
    with catalog.begin() as conn:
        (entry,) = outbox_queries.due(conn, now=dt.datetime.now(dt.UTC), limit=10)
        outbox_queries.mark_done(conn, [entry["id"]], now=dt.datetime.now(dt.UTC))

    with pytest.raises(Conflict, match="its file was deleted from the bucket; upload it again"):
        restore_item(catalog, ds, item["id"])
    assert get_item(catalog, ds, item["id"])["state"] == "deleted"


def test_restore_is_refused_when_the_file_left_the_bucket(catalog, bucket):
    ds = external(catalog, bucket)
    item = find_item(catalog, ds, "/b.png")
    delete_item(catalog, ds, item["id"])
    (bucket / "b.png").unlink()

    with pytest.raises(Conflict, match="no longer in the bucket"):
        restore_item(catalog, ds, item["id"])
    assert get_item(catalog, ds, item["id"])["state"] == "deleted"


def test_restore_needs_a_free_data_point(catalog, bucket):
    ds = external(catalog, bucket)
    item = find_item(catalog, ds, "/b.png")
    delete_item(catalog, ds, item["id"])
    set_quota(catalog, ds, 1)

    with pytest.raises(QuotaExceeded, match=r"restoring '/b\.png' needs 1 data points, 0 avail"):
        restore_item(catalog, ds, item["id"])


# -- move / rename -------------------------------------------------------------------------


def test_items_on_a_driver_cannot_be_moved(catalog, bucket):
    ds = external(catalog, bucket)
    with pytest.raises(RuleRefused, match="rename the file in the bucket") as refused:
        move_item(catalog, ds, find_item(catalog, ds, "/b.png")["id"], "/c.png")
    assert str(refused.value) == MOVE_RULE
    assert (bucket / "b.png").exists()


def test_an_internal_item_moves_with_its_file_id_and_metadata(catalog):
    ds = internal(catalog)
    item = find_item(catalog, ds, "/a.jpg")
    folder = internal_storage_root() / ds
    inode = os.stat(folder / "a.jpg").st_ino

    moved = move_item(catalog, ds, item["id"], "/new/place/a2.png")

    assert (moved["id"], moved["path"], moved["mimetype"]) == (
        item["id"],
        "/new/place/a2.png",
        "image/png",
    )
    assert moved["metadata"] == item["metadata"] and moved["description"] == "about /a.jpg"
    assert not (folder / "a.jpg").exists()
    assert (folder / "new/place/a2.png").read_bytes() == b"aaaa"
    assert os.stat(folder / "new/place/a2.png").st_ino == inode  # renamed, not copied
    # A folder as the target keeps the file name.
    assert move_item(catalog, ds, item["id"], "/top/")["path"] == "/top/a2.png"
    assert (folder / "top/a2.png").exists()


def test_a_move_onto_a_taken_path_is_a_conflict(catalog):
    ds = internal(catalog)
    item = find_item(catalog, ds, "/a.jpg")
    with pytest.raises(Conflict, match=r"'/sub/b\.png' is taken by item"):
        move_item(catalog, ds, item["id"], "/sub/b.png")
    # A file no item knows, at the target: refused, neither file touched.
    stray = internal_storage_root() / ds / "stray.jpg"
    stray.write_bytes(b"not mine")
    with pytest.raises(Conflict, match="a file is already there"):
        move_item(catalog, ds, item["id"], "/stray.jpg")
    assert stray.read_bytes() == b"not mine"
    assert (internal_storage_root() / ds / "a.jpg").read_bytes() == b"aaaa"
    assert get_item(catalog, ds, item["id"])["path"] == "/a.jpg"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        pytest.param("/a/../b.jpg", "'..'", id="dotdot"),
        pytest.param("/a//b.jpg", "empty", id="empty-segment"),
        pytest.param("/.tributary/x.jpg", "hidden folder", id="hidden"),
        pytest.param("/a\x00b.jpg", "control", id="nul"),
        pytest.param("", "give a path", id="empty"),
    ],
)
def test_bad_move_targets_are_refused(catalog, path, message):
    ds = internal(catalog)
    with pytest.raises(InvalidInput, match=message):
        move_item(catalog, ds, find_item(catalog, ds, "/a.jpg")["id"], path)


def test_a_deleted_item_does_not_move(catalog):
    ds = internal(catalog)
    item = find_item(catalog, ds, "/a.jpg")
    delete_item(catalog, ds, item["id"])
    with pytest.raises(Conflict, match="only active items move"):
        move_item(catalog, ds, item["id"], "/b.jpg")


# -- clone ---------------------------------------------------------------------------------


def test_an_internal_clone_copies_records_and_links_the_files(catalog):
    ds = internal(catalog)
    delete_item(catalog, ds, find_item(catalog, ds, "/sub/b.png")["id"])

    made = clone_dataset(catalog, ds, "copy")

    assert (made["name"], made["origin"], made["origin_detail"]) == (
        "copy",
        "clone",
        "clone of 'in'",
    )
    assert made["sync"]["enabled"] is False
    (cloned,) = list_items(catalog, "copy", state="all")["items"]  # the deleted one stays out
    original = find_item(catalog, ds, "/a.jpg")
    assert cloned["id"] != original["id"]
    assert (cloned["path"], cloned["metadata"], cloned["description"]) == (
        "/a.jpg",
        original["metadata"],
        "about /a.jpg",
    )
    assert (cloned["thumbnail"], cloned["preprocess_state"]) == (None, "pending")
    copy = internal_storage_root() / "copy" / "a.jpg"
    assert copy.read_bytes() == b"aaaa"
    # The clone's file is its own name: moving the source's leaves it in place.
    move_item(catalog, ds, original["id"], "/moved.jpg")
    assert copy.exists()


def test_an_external_clone_copies_records_only_on_the_same_driver(catalog, bucket):
    ds = external(catalog, bucket, allow_delete=True)

    clone_dataset(catalog, ds, "copy", driver="ds-d")

    with catalog.begin() as conn:
        keys = {
            name: sorted(
                conn.execute(
                    sa.select(items.c.storage_key).where(
                        items.c.dataset_id == dataset_queries.get(conn, name).id
                    )
                ).scalars()
            )
            for name in (ds, "copy")
        }
        assert dataset_queries.get(conn, "copy").driver.name == "ds-d"
    assert keys["copy"] == keys[ds] == ["b.png", "sub/a.jpg"]
    # It shares the source's files: deleting in the clone never deletes one.
    result = delete_item(catalog, "copy", find_item(catalog, "copy", "/b.png")["id"])
    assert result["bucket_file"] == "kept"
    assert [op for op, _, _ in outbox_rows(catalog)] == []
    with pytest.raises(RuleRefused, match="rename the file in the bucket"):
        move_item(catalog, "copy", find_item(catalog, "copy", "/sub/a.jpg")["id"], "/x.jpg")


def test_clones_across_storages_are_refused_with_the_rule(catalog, bucket, tmp_path):
    ds = external(catalog, bucket)
    other = tmp_path / "other"
    other.mkdir()
    create_driver(catalog, name="other", provider="local", bucket=str(other))
    inside = internal(catalog)

    with pytest.raises(RuleRefused, match=r"clones onto that driver only .* not onto 'other'"):
        clone_dataset(catalog, ds, "copy", driver="other")
    with pytest.raises(RuleRefused, match="clones into the internal storage only"):
        clone_dataset(catalog, inside, "copy", driver="other")
    with pytest.raises(Conflict, match="'in' already exists"):
        clone_dataset(catalog, ds, inside)
    with catalog.begin() as conn:
        assert [d.name for d in dataset_queries.all_datasets(conn)] == ["ds", "in"]


def test_a_clone_checks_the_quota_before_copying(catalog):
    ds = internal(catalog)
    set_quota(catalog, "catalog", 3)

    with pytest.raises(QuotaExceeded, match="cloning 'in' needs 2 data points, 1 available"):
        clone_dataset(catalog, ds, "copy")

    with catalog.begin() as conn:
        assert [d.name for d in dataset_queries.all_datasets(conn)] == ["in"]
    assert not (internal_storage_root() / "copy").exists()


def test_a_clone_is_never_synced_and_says_why(catalog, bucket, airflow):
    ds = external(catalog, bucket)
    clone_dataset(catalog, ds, "copy")

    for start in (start_upstream_sync, start_initial_sync):
        with pytest.raises(RuleRefused, match=r"'copy' was made by a clone \(clone of 'ds'\)"):
            start(catalog, "copy", client=airflow)
    assert airflow.calls == []
    # The sync's own start step (the DAGs' first task) refuses too, and records why.
    with pytest.raises(RuleRefused, match="is never synced"):
        listing.start(catalog, dataset_name="copy", kind="upstream", dag_id="t", run_id="r1")
    with catalog.begin() as conn:
        (error,) = conn.execute(
            sa.select(sync_runs.c.error).where(sync_runs.c.run_id == "r1")
        ).scalars()
    assert error.startswith("not started: dataset 'copy' was made by a clone")
    # The nightly sync of every dataset leaves it out, even with its sync turned on.
    update_dataset(catalog, "copy", sync_enabled=True)
    assert upstream.select_datasets(catalog, None) == ["ds"]
