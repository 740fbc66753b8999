"""Platform edits and their rules: delete, restore, move/rename, clone, and a clone's
refusal to sync. Real catalogs (SQLite, PostgreSQL), real folders (a local driver and the
internal storage); the outbox rows a delete queues are read back from the catalog."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.sync.upstream_steps import upstream_sync
from tributary.catalog import datasets as dataset_queries
from tributary.catalog import outbox as outbox_queries
from tributary.catalog.datasets import Dataset
from tributary.catalog.schema import items, outbox, sync_runs
from tributary.errors import Conflict, InvalidInput, QuotaExceeded, RuleRefused
from tributary.storage import open_dataset_store
from tributary.sync import events, listing, upstream
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


@pytest.fixture(params=["folder", "driver"])
def storage(request, catalog, tmp_path, monkeypatch):
    """The internal storage: the local folder, or a (local) driver named by
    TRIBUTARY_STORAGE_DRIVER, where each dataset is a prefix of one bucket."""
    if request.param == "driver":
        (tmp_path / "store").mkdir()
        create_driver(catalog, name="store", provider="local", bucket=str(tmp_path / "store"))
        monkeypatch.setenv("TRIBUTARY_STORAGE_DRIVER", "store")
    return request.param


def key_of(dataset: str, path: str) -> str:
    """The storage key of an internal dataset's path."""
    store = open_dataset_store(Dataset(id=0, name=dataset, driver=None, sync_enabled=False))
    return f"{store.prefix}{path[1:]}"


def file_of(dataset: str, path: str) -> Path:
    """Where an internal dataset's file lies on disk."""
    store = open_dataset_store(Dataset(id=0, name=dataset, driver=None, sync_enabled=False))
    return Path(store.root) / key_of(dataset, path)


def internal(catalog, name="in", files=None) -> str:
    """An internal dataset with files written where uploads put them."""
    create_dataset(catalog, name=name, start_sync=False)
    files = files or {"/a.jpg": b"aaaa", "/sub/b.png": b"bb"}
    # Found before the transaction: the internal storage's driver is read from the catalog.
    keys = {path: key_of(name, path) for path in files}
    for path, data in files.items():
        file_of(name, path).parent.mkdir(parents=True, exist_ok=True)
        file_of(name, path).write_bytes(data)
    with catalog.begin() as conn:
        found = dataset_queries.get(conn, name)
        for path, data in files.items():
            conn.execute(
                items.insert().values(
                    dataset_id=found.id,
                    path=path,
                    storage_key=keys[path],
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


def test_delete_in_the_internal_storage_queues_the_file_removal(catalog, storage):
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


def test_a_refused_restore_leaves_the_bucket_delete_queued(catalog, bucket):
    ds = external(catalog, bucket, allow_delete=True)
    item = find_item(catalog, ds, "/b.png")
    delete_item(catalog, ds, item["id"])
    (bucket / "b.png").unlink()  # gone before the drain came

    with pytest.raises(Conflict, match="no longer in the bucket"):
        restore_item(catalog, ds, item["id"])
    assert outbox_rows(catalog, item["id"]) == [("delete", "b.png", "pending")]


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


def test_an_internal_item_moves_with_its_file_id_and_metadata(catalog, storage):
    ds = internal(catalog)
    item = find_item(catalog, ds, "/a.jpg")
    inode = os.stat(file_of(ds, "/a.jpg")).st_ino

    moved = move_item(catalog, ds, item["id"], "/new/place/a2.png")

    assert (moved["id"], moved["path"], moved["mimetype"]) == (
        item["id"],
        "/new/place/a2.png",
        "image/png",
    )
    assert moved["metadata"] == item["metadata"] and moved["description"] == "about /a.jpg"
    assert not file_of(ds, "/a.jpg").exists()
    assert file_of(ds, "/new/place/a2.png").read_bytes() == b"aaaa"
    assert os.stat(file_of(ds, "/new/place/a2.png")).st_ino == inode  # renamed, not copied
    # A folder as the target keeps the file name.
    assert move_item(catalog, ds, item["id"], "/top/")["path"] == "/top/a2.png"
    assert file_of(ds, "/top/a2.png").exists()


def test_a_move_onto_a_taken_path_is_a_conflict(catalog, storage):
    ds = internal(catalog)
    item = find_item(catalog, ds, "/a.jpg")
    with pytest.raises(Conflict, match=r"'/sub/b\.png' is taken by item"):
        move_item(catalog, ds, item["id"], "/sub/b.png")
    # A file no item knows, at the target: refused, neither file touched.
    stray = file_of(ds, "/stray.jpg")
    stray.write_bytes(b"not mine")
    with pytest.raises(Conflict, match="a file is already there"):
        move_item(catalog, ds, item["id"], "/stray.jpg")
    assert stray.read_bytes() == b"not mine"
    assert file_of(ds, "/a.jpg").read_bytes() == b"aaaa"
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


def test_an_item_whose_file_is_missing_does_not_move(catalog, storage):
    ds = internal(catalog)
    file_of(ds, "/a.jpg").unlink()
    with pytest.raises(Conflict, match="missing from the internal storage"):
        move_item(catalog, ds, find_item(catalog, ds, "/a.jpg")["id"], "/b.jpg")
    assert find_item(catalog, ds, "/a.jpg")["state"] == "active"


def test_a_deleted_item_does_not_move(catalog, storage):
    ds = internal(catalog)
    item = find_item(catalog, ds, "/a.jpg")
    delete_item(catalog, ds, item["id"])
    with pytest.raises(Conflict, match="only active items move"):
        move_item(catalog, ds, item["id"], "/b.jpg")


# -- clone ---------------------------------------------------------------------------------


def test_an_internal_clone_copies_records_and_links_the_files(catalog, storage):
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
    copy = file_of("copy", "/a.jpg")
    assert copy.read_bytes() == b"aaaa"
    assert os.stat(copy).st_ino == os.stat(file_of(ds, "/a.jpg")).st_ino  # linked, not copied
    # The clone's file is its own name: moving the source's leaves it in place.
    move_item(catalog, ds, original["id"], "/moved.jpg")
    assert copy.exists()


def test_a_failed_clone_removes_its_own_copies_only(catalog, storage):
    ds = internal(catalog, files={"/a.jpg": b"aaaa", "/z/b.png": b"bb"})
    file_of(ds, "/z/b.png").unlink()  # copied after /a.jpg (id order): the clone fails

    with pytest.raises(Conflict, match="missing from the internal storage; nothing cloned"):
        clone_dataset(catalog, ds, "copy")

    assert not file_of("copy", "/a.jpg").exists()
    assert file_of(ds, "/a.jpg").read_bytes() == b"aaaa"
    with catalog.begin() as conn:
        assert [d.name for d in dataset_queries.all_datasets(conn)] == ["in"]


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
    # Nor does the source delete a file its clone still names; once no one does, it may.
    source_item = find_item(catalog, ds, "/sub/a.jpg")
    assert delete_item(catalog, ds, source_item["id"])["bucket_file"] == "kept"
    delete_item(catalog, ds, find_item(catalog, ds, "/b.png")["id"])
    assert outbox_rows(catalog) == [("delete", "b.png", "pending")]


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


def test_a_clone_checks_the_quota_before_copying(catalog, storage):
    ds = internal(catalog)
    set_quota(catalog, "catalog", 3)

    with pytest.raises(QuotaExceeded, match="cloning 'in' needs 2 data points, 1 available"):
        clone_dataset(catalog, ds, "copy")

    with catalog.begin() as conn:
        assert [d.name for d in dataset_queries.all_datasets(conn)] == ["in"]
    assert not file_of("copy", "/a.jpg").exists()
    assert file_of(ds, "/a.jpg").exists()  # the source's files untouched


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


def test_bucket_events_reach_the_source_and_never_its_clone(catalog, bucket):
    ds = external(catalog, bucket)
    clone_dataset(catalog, ds, "copy")
    (bucket / "new.jpg").write_bytes(b"new")
    event = events.BucketEvent(
        provider="local", bucket=str(bucket), key="new.jpg", kind="created", order="1",
        size=3, etag="e1", mtime=NOW,
    )  # fmt: skip

    summaries = events.apply(catalog, [event], dag_id="t", run_id="e1")

    assert [s["dataset"] for s in summaries] == ["ds"]
    assert find_item(catalog, ds, "/new.jpg")["state"] == "active"
    assert [i["path"] for i in list_items(catalog, "copy")["items"]] == ["/b.png", "/sub/a.jpg"]


def test_cloned_records_take_the_clones_own_keys_in_a_bucket_internal_storage(catalog):
    # An internal storage in a bucket keeps each dataset under its own prefix: the clone's
    # records must name the copies, not the source's files.
    from tributary.catalog import item_edits

    with catalog.begin() as conn:
        source = dataset_queries.create(conn, name="src", sync_enabled=False)
        target = dataset_queries.create(conn, name="dst", sync_enabled=False)
        conn.execute(
            items.insert().values(
                dataset_id=source.id, path="/a/b.jpg", storage_key="store/src/a/b.jpg", size=1,
                created_at=NOW, updated_at=NOW,
            )
        )  # fmt: skip
        item_edits.clone_items(
            conn, source_id=source.id, target_id=target.id, now=NOW,
            keys=("store/src/", "store/dst/"),
        )  # fmt: skip
        keys = conn.execute(
            sa.select(items.c.storage_key, items.c.path).where(items.c.dataset_id == target.id)
        ).all()
    assert [tuple(k) for k in keys] == [("store/dst/a/b.jpg", "/a/b.jpg")]


# -- with the real uploads and drain -------------------------------------------------------


def test_uploaded_items_move_delete_and_stay_deleted_once_drained(catalog, storage):
    import io

    from tributary.usecases.downstream import drain
    from tributary.usecases.uploads import upload

    create_dataset(catalog, name="up", start_sync=False)
    item = upload(catalog, "up", "/cam/a.jpg", io.BytesIO(b"jpeg"), metadata={"lot": 1})["item"]

    moved = move_item(catalog, "up", item["id"], "/cam2/a.jpg")
    assert file_of("up", "/cam2/a.jpg").read_bytes() == b"jpeg"
    assert delete_item(catalog, "up", moved["id"])["bucket_file"] == "internal"
    drain(catalog)

    assert not file_of("up", "/cam2/a.jpg").exists()
    with pytest.raises(Conflict, match="deleted from the internal storage; upload it again"):
        restore_item(catalog, "up", item["id"])
    # Uploaded again: the same path is a live item again.
    again = upload(catalog, "up", "/cam2/a.jpg", io.BytesIO(b"jpeg"))
    assert find_item(catalog, "up", "/cam2/a.jpg")["state"] == "active"
    assert again["status"] in ("created", "replaced")


@pytest.mark.parametrize("allow_delete", [True, False], ids=["allow-delete", "no-delete"])
def test_the_drain_applies_a_bucket_delete_only_where_allowed(catalog, bucket, allow_delete):
    from tributary.usecases.downstream import drain

    ds = external(catalog, bucket, allow_delete=allow_delete)
    item = find_item(catalog, ds, "/b.png")
    delete_item(catalog, ds, item["id"])
    drain(catalog)
    upstream_sync(catalog, ds)

    assert (bucket / "b.png").exists() is not allow_delete
    assert get_item(catalog, ds, item["id"])["state"] == "deleted"
    assert get_item(catalog, ds, item["id"])["downstream"] is None
    if allow_delete:
        with pytest.raises(Conflict, match="deleted from the bucket"):
            restore_item(catalog, ds, item["id"])
    else:
        assert restore_item(catalog, ds, item["id"])["state"] == "active"
