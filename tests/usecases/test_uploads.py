"""Uploads on the internal storage and on a local driver: paths, idempotence, conflicts,
overwrite, quota, bodies that lie, and reservations left by a dead uploader."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from pathlib import Path

import pytest
import sqlalchemy as sa

from tributary.catalog import datasets, drivers
from tributary.catalog.schema import items, outbox
from tributary.errors import Conflict, InvalidInput, QuotaExceeded, TooLarge
from tributary.storage.streams import BodyUnreadable
from tributary.sync import downstream
from tributary.usecases import uploads
from tributary.usecases.uploads import check_upload_path, upload


@pytest.fixture(autouse=True)
def internal_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "internal"
    monkeypatch.setenv("TRIBUTARY_STORAGE_ROOT", str(root))
    return root


@pytest.fixture
def bucket_root(tmp_path) -> Path:
    root = tmp_path / "bucket"
    root.mkdir()
    return root


def on_driver(catalog, root, *, name="ds", quota=None, path="", folder=""):
    with catalog.begin() as conn:
        drivers.create(conn, name=f"{name}-d", provider="local", bucket=str(root), path=path)
        datasets.create(conn, name=name, driver_name=f"{name}-d", quota=quota, folder=folder)


def internal(catalog, *, name="int", quota=None):
    with catalog.begin() as conn:
        datasets.create(conn, name=name, quota=quota)


class Untouchable:
    """A body that must not be read."""

    def read(self, n=-1):
        raise AssertionError("the body was read")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def item_rows(catalog) -> list[dict]:
    with catalog.begin() as conn:
        return [dict(r) for r in conn.execute(sa.select(items).order_by(items.c.id)).mappings()]


def outbox_rows(catalog, op=None) -> list[dict]:
    query = sa.select(outbox).order_by(outbox.c.id)
    if op:
        query = query.where(outbox.c.op == op)
    with catalog.begin() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def files_under(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


# -- paths ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "to", "expected"),
    [
        ("a/b.jpg", "/", "/a/b.jpg"),
        ("/a/b.jpg", "/", "/a/b.jpg"),
        ("b.jpg", "/cam/", "/cam/b.jpg"),
        ("b.jpg", "cam", "/cam/b.jpg"),
        ("x/ü ñ (1).txt", "/2026/", "/2026/x/ü ñ (1).txt"),
        ("..hidden-ish.jpg", "/", "/..hidden-ish.jpg"),
    ],
)
def test_upload_paths_are_normalised(path, to, expected):
    assert check_upload_path(path, to) == expected


@pytest.mark.parametrize(
    ("path", "to", "reason"),
    [
        pytest.param("../x.jpg", "/", "'..'", id="parent"),
        pytest.param("a/../../x.jpg", "/", "'..'", id="parent inside"),
        pytest.param("./x.jpg", "/", "'.'", id="dot"),
        pytest.param("a//b.jpg", "/", "empty folder name", id="empty segment"),
        pytest.param("a/", "/", "names a folder", id="folder"),
        pytest.param("", "/", "needs a file path", id="empty"),
        pytest.param("C:/Windows/x.dll", "/", "Windows path", id="drive"),
        pytest.param("a\\b.jpg", "/", "separate folders with '/'", id="backslash"),
        pytest.param("a\0b.jpg", "/", "control characters", id="nul"),
        pytest.param("a\nb.jpg", "/", "control characters", id="newline"),
        pytest.param("a\x7fb.jpg", "/", "control characters", id="delete"),
        pytest.param("a\x85b.jpg", "/", "control characters", id="c1"),
        pytest.param(".tributary/thumbnails/1.jpg", "/", "hidden folder", id="hidden"),
        pytest.param("a/.Tributary/x.jpg", "/", "hidden folder", id="hidden deeper"),
        pytest.param("x.jpg", "/.tributary/", "hidden folder", id="hidden target"),
        pytest.param("x" * 256, "/", "longer than 255 bytes", id="long name"),
        pytest.param("a/" * 600 + "b", "/", "at most 1024", id="long path"),
        pytest.param("/x.jpg", "/cam/", "absolute path", id="absolute under a folder"),
        pytest.param("x.jpg", "/../", "'..'", id="parent target"),
        pytest.param("\udcff.jpg", "/", "not valid UTF-8", id="surrogate"),
    ],
)
def test_hostile_upload_paths_are_refused(path, to, reason):
    with pytest.raises(InvalidInput, match=reason.replace("(", r"\(")):
        check_upload_path(path, to)


def test_a_hostile_path_writes_nothing(catalog, bucket_root):
    on_driver(catalog, bucket_root)

    with pytest.raises(InvalidInput):
        upload(catalog, "ds", "../escape.txt", io.BytesIO(b"x"))

    assert files_under(bucket_root) == {}
    assert not list(bucket_root.parent.rglob("escape.txt"))
    assert item_rows(catalog) == [] and outbox_rows(catalog) == []


def test_a_path_outside_the_datasets_folder_is_refused(catalog, bucket_root):
    on_driver(catalog, bucket_root, folder="cam/")

    with pytest.raises(InvalidInput, match="holds the folder /cam/ only"):
        upload(catalog, "ds", "other/x.jpg", io.BytesIO(b"x"))
    assert upload(catalog, "ds", "cam/x.jpg", io.BytesIO(b"x"))["status"] == "created"


# -- writing -------------------------------------------------------------------------------


def test_an_internal_upload_goes_straight_to_its_place(catalog, internal_root):
    internal(catalog)

    result = upload(
        catalog, "int", "a/b.jpg", io.BytesIO(b"jpeg bytes"), size=10, metadata={"cam": 7}
    )

    assert result["status"] == "created"
    assert (internal_root / "int" / "a" / "b.jpg").read_bytes() == b"jpeg bytes"
    (row,) = item_rows(catalog)
    assert row["path"] == "/a/b.jpg" and row["state"] == "active" and row["downstream"] is None
    assert row["sha256"] == sha(b"jpeg bytes") and row["size"] == 10
    assert row["mimetype"] == "image/jpeg" and row["user_metadata"] == {"cam": 7}
    assert row["etag"] and row["etag"].startswith("a-")  # the local etag: size in hex first
    assert result["item"]["id"] == row["id"] and result["item"]["metadata"]["user"] == {"cam": 7}
    put, announce = outbox_rows(catalog)
    assert (put["op"], put["status"], put["spool_key"]) == ("put", "done", None)
    assert (announce["op"], announce["status"]) == ("announce", "pending")
    assert list(files_under(internal_root)) == ["int/a/b.jpg"]  # no temporary file left


def test_a_driver_upload_is_written_at_once_through_the_outbox(catalog, bucket_root):
    on_driver(catalog, bucket_root, path="data")

    result = upload(catalog, "ds", "x/y.txt", io.BytesIO(b"hello"), content_type="text/plain")

    assert result["status"] == "created"
    assert files_under(bucket_root) == {"data/x/y.txt": b"hello"}  # the spool is gone
    (row,) = item_rows(catalog)
    assert row["storage_key"] == "data/x/y.txt" and row["downstream"] is None
    stat = (bucket_root / "data" / "x" / "y.txt").stat()
    assert row["etag"] == f"{stat.st_size:x}-{stat.st_mtime_ns:x}-{stat.st_ino:x}"
    assert result["item"]["etag"] == row["etag"]
    assert [(r["op"], r["status"]) for r in outbox_rows(catalog)] == [
        ("put", "done"),
        ("announce", "pending"),
    ]


def test_without_apply_now_the_upload_waits_in_the_spool_for_the_drain(catalog, bucket_root):
    on_driver(catalog, bucket_root)

    upload(catalog, "ds", "a.txt", io.BytesIO(b"later"), apply_now=False)

    (row,) = item_rows(catalog)
    assert row["downstream"] == "put" and row["etag"] is None
    (spooled,) = files_under(bucket_root)
    assert spooled.startswith(".tributary/spool/")
    report = downstream.drain(catalog)
    assert (report.applied, report.failed, report.pending) == (1, 0, 0)
    assert report.announced == [
        {"dataset": "ds", "count": 1, "min_id": row["id"], "max_id": row["id"]}
    ]
    assert files_under(bucket_root) == {"a.txt": b"later"}
    (row,) = item_rows(catalog)
    assert row["downstream"] is None and row["etag"]


# -- idempotence and conflicts -------------------------------------------------------------


def test_the_same_file_again_is_skipped_without_reading_it(catalog, bucket_root):
    on_driver(catalog, bucket_root)
    first = upload(catalog, "ds", "a.txt", io.BytesIO(b"same"), sha256=sha(b"same"))

    again = upload(catalog, "ds", "a.txt", Untouchable(), sha256=sha(b"same"), size=4)

    assert again["status"] == "skipped" and again["item"]["id"] == first["item"]["id"]
    assert len(outbox_rows(catalog, "put")) == 1


def test_the_same_file_without_a_hash_is_read_compared_and_skipped(catalog, bucket_root):
    on_driver(catalog, bucket_root)
    upload(catalog, "ds", "a.txt", io.BytesIO(b"same"))

    assert upload(catalog, "ds", "a.txt", io.BytesIO(b"same"))["status"] == "skipped"
    assert len(outbox_rows(catalog, "put")) == 1
    assert files_under(bucket_root) == {"a.txt": b"same"}


@pytest.mark.parametrize("give_hash", [True, False])
def test_other_content_at_a_path_is_a_conflict_and_writes_nothing(catalog, bucket_root, give_hash):
    on_driver(catalog, bucket_root)
    upload(catalog, "ds", "a.txt", io.BytesIO(b"first"))
    before = outbox_rows(catalog)
    body = Untouchable() if give_hash else io.BytesIO(b"second")

    with pytest.raises(Conflict, match="already exists with other content"):
        upload(catalog, "ds", "a.txt", body, sha256=sha(b"second") if give_hash else None)

    assert files_under(bucket_root) == {"a.txt": b"first"}
    assert outbox_rows(catalog) == before


def test_overwrite_replaces_the_content_and_keeps_the_item(catalog, bucket_root):
    on_driver(catalog, bucket_root)
    first = upload(catalog, "ds", "a.jpg", io.BytesIO(b"first"), metadata={"lot": 1, "cam": 2})
    with catalog.begin() as conn:
        conn.execute(
            items.update().values(
                preprocess_state="done",
                thumbnail_key=".tributary/thumbnails/1/1.jpg",
                system_metadata={"width": 3},
            )
        )

    result = upload(
        catalog, "ds", "a.jpg", io.BytesIO(b"second!"), overwrite=True, metadata={"lot": 9}
    )

    assert result["status"] == "replaced" and result["item"]["id"] == first["item"]["id"]
    assert files_under(bucket_root) == {"a.jpg": b"second!"}
    (row,) = item_rows(catalog)
    assert row["sha256"] == sha(b"second!") and row["size"] == 7
    assert row["preprocess_state"] == "pending" and row["thumbnail_key"] is None
    assert row["system_metadata"] is None
    assert row["user_metadata"] == {"lot": 9, "cam": 2}
    (drop,) = outbox_rows(catalog, "delete_thumbnail")
    assert drop["storage_key"] == ".tributary/thumbnails/1/1.jpg"
    assert len(outbox_rows(catalog, "announce")) == 2


def test_overwrite_with_the_same_content_is_skipped(catalog, bucket_root):
    on_driver(catalog, bucket_root)
    upload(catalog, "ds", "a.txt", io.BytesIO(b"same"))

    result = upload(catalog, "ds", "a.txt", io.BytesIO(b"same"), overwrite=True)

    assert result["status"] == "skipped"
    assert files_under(bucket_root) == {"a.txt": b"same"}
    assert len(outbox_rows(catalog, "put")) == 1


def test_an_upload_to_a_deleted_items_path_brings_the_item_back(catalog, internal_root):
    internal(catalog)
    first = upload(catalog, "int", "a.txt", io.BytesIO(b"old"))
    with catalog.begin() as conn:
        conn.execute(items.update().values(state="deleted", deleted_at=dt.datetime.now(dt.UTC)))

    result = upload(catalog, "int", "a.txt", io.BytesIO(b"new content"))

    assert result["status"] == "created" and result["item"]["id"] == first["item"]["id"]
    (row,) = item_rows(catalog)
    assert row["state"] == "active" and row["deleted_at"] is None and row["downstream"] is None
    assert (internal_root / "int" / "a.txt").read_bytes() == b"new content"


# -- limits --------------------------------------------------------------------------------


def test_the_quota_is_checked_before_any_byte_is_written(catalog, bucket_root):
    on_driver(catalog, bucket_root, quota=1)
    upload(catalog, "ds", "one.txt", io.BytesIO(b"1"))

    with pytest.raises(QuotaExceeded, match="quota exceeded for dataset 'ds'"):
        upload(catalog, "ds", "two.txt", Untouchable(), size=1)

    assert files_under(bucket_root) == {"one.txt": b"1"}
    assert [r["path"] for r in item_rows(catalog)] == ["/one.txt"]
    # Replacing a file takes no new data point.
    assert upload(catalog, "ds", "one.txt", io.BytesIO(b"2"), overwrite=True)["status"] == (
        "replaced"
    )


@pytest.mark.parametrize(
    ("body", "kwargs", "error", "message"),
    [
        pytest.param(b"abc", {"size": 10}, InvalidInput, "ended after 3 of the 10", id="short"),
        pytest.param(b"abcdef", {"size": 2}, InvalidInput, "longer than the 2", id="long"),
        pytest.param(
            b"abc", {"sha256": "0" * 64}, InvalidInput, "SHA-256 is .* not the", id="bad hash"
        ),
        pytest.param(b"x" * 11, {}, TooLarge, "limit of 10 bytes", id="too large"),
        pytest.param(b"x", {"size": 11}, TooLarge, "upload limit is 10", id="declared large"),
    ],
)
@pytest.mark.parametrize("where", ["driver", "internal"])
def test_a_body_that_lies_leaves_nothing_behind(
    catalog, bucket_root, internal_root, monkeypatch, body, kwargs, error, message, where
):
    monkeypatch.setenv("TRIBUTARY_UPLOAD_MAX_BYTES", "10")
    on_driver(catalog, bucket_root)
    internal(catalog)

    with pytest.raises(error, match=message):
        upload(catalog, "ds" if where == "driver" else "int", "a.txt", io.BytesIO(body), **kwargs)

    assert files_under(bucket_root) == {} and files_under(internal_root) == {}
    assert item_rows(catalog) == [] and outbox_rows(catalog) == []


def test_a_failed_replacement_leaves_the_item_as_it_was(catalog, bucket_root):
    on_driver(catalog, bucket_root)
    upload(catalog, "ds", "a.txt", io.BytesIO(b"keep me"))
    before = item_rows(catalog)

    with pytest.raises(InvalidInput):
        upload(catalog, "ds", "a.txt", io.BytesIO(b"new"), size=99, overwrite=True)

    assert item_rows(catalog) == before
    assert files_under(bucket_root) == {"a.txt": b"keep me"}
    assert [r["op"] for r in outbox_rows(catalog)] == ["put", "announce"]


@pytest.mark.parametrize("bad", [["not", "a", "dict"], {"": 1}, {"k": object()}])
def test_metadata_must_be_a_json_object(catalog, bucket_root, bad):
    on_driver(catalog, bucket_root)

    with pytest.raises(InvalidInput, match="metadata"):
        upload(catalog, "ds", "a.txt", io.BytesIO(b"x"), metadata=bad)


def test_a_malformed_hash_is_refused(catalog, bucket_root):
    on_driver(catalog, bucket_root)

    with pytest.raises(InvalidInput, match="64 hexadecimal"):
        upload(catalog, "ds", "a.txt", io.BytesIO(b"x"), sha256="abc")


# -- an uploader that dies -----------------------------------------------------------------


class DiesMidway:
    """The uploading process dies mid-body: its own clean-up never runs."""

    def __init__(self, monkeypatch):
        monkeypatch.setattr(uploads, "_release", lambda *args, **kwargs: None)
        self.data = io.BytesIO(b"partial body" * 100)

    def read(self, n=-1):
        if self.data.tell() > 500:
            raise BodyUnreadable("the process died")
        return self.data.read(min(n, 100) if n > 0 else 100)


def later(catalog, minutes=20):
    """A drain as it runs after the reservation's lease (15 minutes) ran out."""
    return downstream.drain(catalog, now=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes))


@pytest.mark.parametrize("where", ["driver", "internal"])
def test_a_dead_uploaders_new_item_is_removed_once_its_lease_runs_out(
    catalog, bucket_root, internal_root, monkeypatch, where
):
    on_driver(catalog, bucket_root)
    internal(catalog)
    name = "ds" if where == "driver" else "int"

    with pytest.raises(BodyUnreadable):
        upload(catalog, name, "a.txt", DiesMidway(monkeypatch), size=1200)

    (row,) = item_rows(catalog)
    assert row["downstream"] == "put"  # visible as waiting, never as written
    (put,) = outbox_rows(catalog)
    assert put["error"] == downstream.RESERVED_NEW
    monkeypatch.undo()
    with pytest.raises(Conflict, match="being uploaded by another request"):
        upload(catalog, name, "a.txt", io.BytesIO(b"x"))
    assert downstream.drain(catalog).applied == 0  # the lease still runs: not touched

    report = later(catalog)

    assert report.applied == 1 and report.failed == 0
    assert item_rows(catalog) == [] and outbox_rows(catalog) == []
    assert files_under(bucket_root) == {} and files_under(internal_root) == {}
    assert upload(catalog, name, "a.txt", io.BytesIO(b"x"))["status"] == "created"


def test_a_dead_uploaders_replacement_leaves_the_item_as_it_was(catalog, bucket_root, monkeypatch):
    on_driver(catalog, bucket_root)
    upload(catalog, "ds", "a.txt", io.BytesIO(b"original"))
    before = item_rows(catalog)

    with pytest.raises(BodyUnreadable):
        upload(catalog, "ds", "a.txt", DiesMidway(monkeypatch), overwrite=True)
    later(catalog)

    assert item_rows(catalog) == before
    assert files_under(bucket_root) == {"a.txt": b"original"}
    assert [r["op"] for r in outbox_rows(catalog)] == ["put", "announce"]


def test_a_long_upload_keeps_its_reservation_alive(catalog, bucket_root, monkeypatch):
    from tributary.storage import streams

    monkeypatch.setattr(streams, "PROGRESS_EVERY", 0.0)
    on_driver(catalog, bucket_root)
    seen = []

    class Watched(io.BytesIO):
        def read(self, n=-1):
            with catalog.begin() as conn:
                seen.append(conn.execute(sa.select(outbox.c.next_attempt_at)).scalar())
            return super().read(min(n, 10) if n > 0 else 10)

    upload(catalog, "ds", "slow.txt", Watched(b"x" * 50))

    assert len(seen) >= 3 and seen[-1] > seen[0]
