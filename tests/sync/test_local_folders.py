"""Syncs of hostile local folders end with the right catalog (issue 9, B1/B2, B4–B6, B18)."""

from __future__ import annotations

import errno
import os

import pytest

from tests.sync.upstream_steps import upstream_sync
from tributary.catalog import datasets, drivers, syncs
from tributary.catalog import items as item_queries
from tributary.catalog.schema import items
from tributary.errors import ListingIncomplete
from tributary.storage import local
from tributary.sync import initial, listing, partitions


def catalog_items(catalog, dataset="ds") -> dict[str, dict]:
    with catalog.begin() as conn:
        return {row["path"]: row for row in item_queries.iterate(conn, dataset, "active")}


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "bucket"
    root.mkdir()
    return root


@pytest.fixture
def dataset(catalog, folder):
    with catalog.begin() as conn:
        drivers.create(conn, name="d", provider="local", bucket=str(folder))
        datasets.create(conn, name="ds", driver_name="d")
    return "ds"


def test_same_size_files_written_in_one_tick_keep_their_identity_through_mv(
    catalog, folder, dataset
):
    (folder / "a").mkdir()
    stamp = 1_700_000_000_000_000_000
    for i in range(200):
        path = folder / "a" / f"f{i:03}.bin"
        path.write_bytes(b"%08d" % i)  # different files, one size
        os.utime(path, ns=(stamp, stamp))  # a coarse kernel clock: one mtime for all
    upstream_sync(catalog, dataset)
    before = catalog_items(catalog)
    with catalog.begin() as conn:
        conn.execute(
            items.update().where(items.c.path == "/a/f007.bin").values(user_metadata={"k": 7})
        )

    (folder / "a").rename(folder / "b")  # mv a b
    report = upstream_sync(catalog, dataset, allow_mass_delete=True)

    counts = report["counts"]
    assert (counts["renamed"], counts["new"], counts["vanished"]) == (200, 0, 0)
    after = catalog_items(catalog)
    assert {p: r["id"] for p, r in after.items()} == {
        p.replace("/a/", "/b/"): r["id"] for p, r in before.items()
    }
    assert after["/b/f007.bin"]["user_metadata"] == {"k": 7}


def test_links_odd_entries_and_odd_names_never_stop_a_sync(catalog, folder, dataset, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jpg").write_bytes(b"secret")
    (folder / "ok.jpg").write_bytes(b"ok")
    (folder / "passwd").symlink_to("/etc/passwd")
    (folder / "secret.jpg").symlink_to(outside / "secret.jpg")
    (folder / "out").symlink_to(outside, target_is_directory=True)
    (folder / "dangling").symlink_to(folder / "nowhere")
    (folder / "loop").symlink_to(folder / "loop")
    os.mkfifo(folder / "pipe.jpg")
    with open(os.fsencode(folder) + b"/caf\xe9.jpg", "wb") as handle:
        handle.write(b"latin-1 name")

    report = upstream_sync(catalog, dataset)

    assert sorted(catalog_items(catalog)) == ["/caf%E9.jpg", "/ok.jpg"]
    assert report["counts"]["new"] == 2


def test_a_vanished_escaped_name_is_a_ghost_and_a_moved_one_a_rename(catalog, folder, dataset):
    raw = os.fsencode(folder) + b"/\xff.bin"
    with open(raw, "wb") as handle:
        handle.write(b"bytes")
    upstream_sync(catalog, dataset)

    os.rename(raw, os.fsencode(folder) + b"/\xfe.bin")
    report = upstream_sync(catalog, dataset, allow_mass_delete=True)

    assert report["counts"]["renamed"] == 1
    assert sorted(catalog_items(catalog)) == ["/%FE.bin"]


@pytest.fixture
def unreadable(monkeypatch):
    """Make folders of a given name unreadable (tests run as root, whom chmod 000 does not
    stop): opening one fails with EACCES, as for any other user."""
    names: set[str] = set()
    real_open = os.open

    def denied(path, flags, *args, **kwargs):
        if path in names:
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(local.os, "open", denied)
    return names


def test_items_under_a_folder_that_cannot_be_listed_are_never_ghosted(
    catalog, folder, dataset, unreadable
):
    for key in ("top.jpg", "open/a.jpg", "locked/0.jpg", "locked/deep/1.jpg"):
        (folder / key).parent.mkdir(parents=True, exist_ok=True)
        (folder / key).write_bytes(key.encode())
    upstream_sync(catalog, dataset)
    unreadable.add("locked")
    (folder / "open" / "new.jpg").write_bytes(b"new")
    (folder / "top.jpg").unlink()  # really gone, but judged only by a complete listing

    with pytest.raises(ListingIncomplete) as failed:
        upstream_sync(catalog, dataset, allow_mass_delete=True)

    reason = str(failed.value)
    assert "could not list '/locked/' (permission denied)" in reason
    assert "nothing was marked as ghost; 1 new" in reason
    assert sorted(catalog_items(catalog)) == [
        "/locked/0.jpg", "/locked/deep/1.jpg", "/open/a.jpg", "/open/new.jpg", "/top.jpg",
    ]  # fmt: skip
    with catalog.begin() as conn:
        (run,) = syncs.history(conn, dataset, limit=1)
    assert run["status"] == "failed" and run["error"] == reason
    assert run["partitions_done"] == run["partitions_total"]  # every partition finished

    unreadable.clear()  # readable again: the next sync is complete and ghosts what is gone
    report = upstream_sync(catalog, dataset, allow_mass_delete=True)
    assert report["counts"]["vanished"] == 1
    assert "/top.jpg" not in catalog_items(catalog)


def test_an_unreadable_partition_folder_is_a_gap_and_the_others_are_listed(
    catalog, folder, dataset, unreadable, monkeypatch
):
    monkeypatch.setattr(partitions, "MIN_FANOUT", 1)  # each top folder its own partition
    # Not a small listing (one partition) even with a/ and c/ unreadable: b/ has 3 pages.
    monkeypatch.setenv("TRIBUTARY_LISTING_PAGE_SIZE", "1")
    for name in ("a", "b", "c"):
        (folder / name).mkdir()
        (folder / name / "x.jpg").write_bytes(name.encode())
    for extra in ("y.jpg", "z.jpg"):
        (folder / "b" / extra).write_bytes(extra.encode())
    upstream_sync(catalog, dataset)
    unreadable.update({"a", "c"})

    with pytest.raises(ListingIncomplete, match=r"partition \d could not list '/a/'.*; partit"):
        upstream_sync(catalog, dataset, allow_mass_delete=True)

    assert sorted(catalog_items(catalog)) == [
        "/a/x.jpg",
        "/b/x.jpg",
        "/b/y.jpg",
        "/b/z.jpg",
        "/c/x.jpg",
    ]


def test_an_initial_sync_indexes_what_it_could_list(catalog, folder, dataset, unreadable):
    (folder / "open").mkdir()
    (folder / "open" / "a.jpg").write_bytes(b"a")
    (folder / "locked").mkdir()
    (folder / "locked" / "b.jpg").write_bytes(b"b")
    unreadable.add("locked")

    sync_id = listing.start(catalog, dataset_name=dataset, kind="initial", dag_id="d", run_id="r")
    for pointer in listing.plan(catalog, sync_id):
        listing.list_partition(catalog, sync_id, pointer["index"])
    initial.check_quota(catalog, sync_id)
    initial.index(catalog, sync_id)

    assert sorted(catalog_items(catalog)) == ["/open/a.jpg"]
