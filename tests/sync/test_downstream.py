"""The downstream sync on every storage kind: uploads reach the bucket (in parts when
large), the next upstream sync sees Tributary's own writes as unchanged, deletes follow
the driver's allow_delete, and the drain keeps order, retries and waits for syncs."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os

import pytest
import sqlalchemy as sa

from tests.sync.upstream_steps import upstream_sync
from tributary.catalog import datasets, drivers, outbox
from tributary.catalog.schema import dataset_locks, items, sync_runs
from tributary.catalog.schema import outbox as outbox_table
from tributary.storage import open_dataset_store
from tributary.sync import downstream
from tributary.usecases.uploads import upload

MIB = 1024 * 1024
ZERO = {"new": 0, "changed": 0, "revived": 0, "renamed": 0, "vanished": 0}


def make_dataset(catalog, bucket, *, allow_delete=False, path="data"):
    with catalog.begin() as conn:
        drivers.create(
            conn,
            name="d",
            provider=bucket.provider,
            bucket=bucket.name,
            conn_id=bucket.conn_id,
            path=path,
            allow_delete=allow_delete,
        )
        datasets.create(conn, name="ds", driver_name="d")


def rows(catalog, state=None) -> dict[str, dict]:
    query = sa.select(items)
    if state:
        query = query.where(items.c.state == state)
    with catalog.begin() as conn:
        return {r["path"]: dict(r) for r in conn.execute(query).mappings()}


def listing(catalog) -> dict[str, object]:
    with catalog.begin() as conn:
        dataset = datasets.get(conn, "ds")
    store = open_dataset_store(dataset)
    return {o.key: o for page in store.list_pages(store.prefix) for o in page}


def entries(catalog, op=None) -> list[dict]:
    query = sa.select(outbox_table).order_by(outbox_table.c.id)
    if op:
        query = query.where(outbox_table.c.op == op)
    with catalog.begin() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def small_parts(monkeypatch, bucket):
    """Thresholds low enough that a few MiB go in parts: S3 parts are 5 MiB at least."""
    monkeypatch.setenv("TRIBUTARY_UPLOAD_MULTIPART_THRESHOLD", str(256 * 1024))
    part = 5 * MIB if bucket.provider == "s3" else 256 * 1024
    monkeypatch.setenv("TRIBUTARY_UPLOAD_PART_SIZE", str(part))


def spy_on_s3_multipart_uploads(catalog) -> list[str]:
    """The keys of the multipart uploads the dataset's S3 client starts."""
    with catalog.begin() as conn:
        store = open_dataset_store(datasets.get(conn, "ds"))  # the one uploads use
    keys = []
    store.client.meta.events.register(
        "provide-client-params.s3.CreateMultipartUpload",
        lambda params, **_: keys.append(params["Key"]),
    )
    return keys


def test_uploads_reach_the_bucket_and_the_next_sync_changes_nothing(catalog, bucket, monkeypatch):
    small_parts(monkeypatch, bucket)
    make_dataset(catalog, bucket)
    bucket.put("data/seeded.txt", b"already in the bucket")
    upstream_sync(catalog, "ds")
    large = os.urandom(6 * MIB + 1)
    files = {
        "/a/small.txt": b"small file",
        "/a/b/large.bin": large,
        "/c d/ünïcode.json": b'{"k": 1}',
    }

    multipart = spy_on_s3_multipart_uploads(catalog) if bucket.provider == "s3" else []

    results = {}
    for i, (path, data) in enumerate(files.items()):
        results[path] = upload(
            catalog,
            "ds",
            path,
            io.BytesIO(data),
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            apply_now=i % 2 == 0,  # some written at once, some left for the drain
        )
    waiting = [p for p, r in rows(catalog).items() if r["downstream"] == "put"]
    assert waiting == ["/a/b/large.bin"]
    report = downstream.drain(catalog)

    assert report.failed == 0 and report.pending == 0
    (announced,) = report.announced
    ids = sorted(r["item"]["id"] for r in results.values())
    assert announced == {"dataset": "ds", "count": 3, "min_id": ids[0], "max_id": ids[-1]}
    for path, data in files.items():
        assert bucket.get(f"data{path}") == data
    listed = listing(catalog)
    assert set(listed) == {"data/seeded.txt", *(f"data{p}" for p in files)}  # no spool left
    items_now = rows(catalog)
    for path in files:
        assert items_now[path]["etag"] == listed[f"data{path}"].etag
        assert items_now[path]["downstream"] is None
    if bucket.provider == "s3":  # the large file went up in parts (into the spool)
        assert [key.startswith("data/.tributary/spool/") for key in multipart] == [True]

    sync = upstream_sync(catalog, "ds")

    assert sync["counts"] == ZERO
    assert rows(catalog) == items_now  # no duplicate, nothing touched
    assert {r["status"] for r in results.values()} == {"created"}


def test_a_sync_during_a_waiting_upload_neither_ghosts_nor_duplicates_it(catalog, bucket):
    make_dataset(catalog, bucket)
    upload(catalog, "ds", "/new.txt", io.BytesIO(b"on its way"), apply_now=False)

    assert upstream_sync(catalog, "ds")["counts"] == ZERO  # the spool is not an item
    downstream.drain(catalog)

    assert upstream_sync(catalog, "ds")["counts"] == ZERO
    assert list(rows(catalog)) == ["/new.txt"]


@pytest.mark.parametrize("bucket", ["s3", "azure", "gcs"], indirect=True)
def test_uploading_a_file_the_bucket_already_holds_is_skipped(catalog, bucket):
    make_dataset(catalog, bucket)
    bucket.put("data/photo.jpg", b"the same bytes")
    upstream_sync(catalog, "ds")

    result = upload(catalog, "ds", "/photo.jpg", io.BytesIO(b"the same bytes"))

    assert result["status"] == "skipped"  # the bucket's etag is the content's MD5
    assert entries(catalog) == []
    assert rows(catalog)["/photo.jpg"]["sha256"] == hashlib.sha256(b"the same bytes").hexdigest()


def deleted_on_the_platform(catalog, path):
    """What the platform delete (the EDITS use case) leaves: a deleted item, a delete row."""
    with catalog.begin() as conn:
        item = conn.execute(sa.select(items).where(items.c.path == path)).mappings().one()
        conn.execute(
            items.update()
            .where(items.c.id == item["id"])
            .values(state="deleted", deleted_at=dt.datetime.now(dt.UTC), downstream="delete")
        )
        outbox.enqueue(
            conn,
            dataset_id=item["dataset_id"],
            op="delete",
            storage_key=item["storage_key"],
            item_id=item["id"],
        )


@pytest.mark.parametrize("allow_delete", [True, False], ids=["allow_delete", "no allow_delete"])
def test_a_platform_delete_reaches_the_bucket_only_with_allow_delete(catalog, bucket, allow_delete):
    make_dataset(catalog, bucket, allow_delete=allow_delete)
    bucket.put("data/keep.txt", b"keep")
    bucket.put("data/gone.txt", b"gone")
    upstream_sync(catalog, "ds")
    deleted_on_the_platform(catalog, "/gone.txt")

    report = downstream.drain(catalog)

    assert (report.applied, report.failed, report.pending) == (1, 0, 0)
    (row,) = entries(catalog, "delete")
    assert row["status"] == "done"
    in_bucket = {key.removeprefix("data/") for key in listing(catalog)}
    if allow_delete:
        assert in_bucket == {"keep.txt"} and row["error"] is None
    else:
        assert in_bucket == {"keep.txt", "gone.txt"}
        assert row["error"] == "kept: the driver does not allow deletes"
    assert rows(catalog)["/gone.txt"]["downstream"] is None
    # The next sync brings nothing back: the kept file has the same content.
    assert upstream_sync(catalog, "ds")["counts"] == ZERO
    assert rows(catalog)["/gone.txt"]["state"] == "deleted"


def test_a_delete_queued_before_a_reupload_never_removes_the_new_file(catalog, bucket):
    make_dataset(catalog, bucket, allow_delete=True)
    upload(catalog, "ds", "/a.txt", io.BytesIO(b"first"))
    deleted_on_the_platform(catalog, "/a.txt")

    result = upload(catalog, "ds", "/a.txt", io.BytesIO(b"second"))
    downstream.drain(catalog)

    assert result["status"] == "created"
    assert bucket.get("data/a.txt") == b"second"
    assert [(e["op"], e["status"]) for e in entries(catalog) if e["op"] != "announce"] == [
        ("put", "done"),
        ("delete", "done"),
        ("put", "done"),
    ]
    assert rows(catalog)["/a.txt"]["state"] == "active"
    assert upstream_sync(catalog, "ds")["counts"] == ZERO


def test_an_overwrite_reaches_the_bucket_and_the_sync_sees_no_change(catalog, bucket):
    make_dataset(catalog, bucket)
    bucket.put("data/a.txt", b"from the bucket")
    upstream_sync(catalog, "ds")
    before = rows(catalog)["/a.txt"]

    result = upload(catalog, "ds", "/a.txt", io.BytesIO(b"from the platform"), overwrite=True)

    assert result["status"] == "replaced" and result["item"]["id"] == before["id"]
    assert bucket.get("data/a.txt") == b"from the platform"
    assert upstream_sync(catalog, "ds")["counts"] == ZERO


# -- the drain's own rules (local folders) -----------------------------------------------


@pytest.fixture
def local(tmp_path):
    from tests.buckets import new_bucket

    return new_bucket("local", None, tmp_path)


def test_a_failing_put_is_retried_with_backoff_then_given_up(catalog, local, monkeypatch):
    monkeypatch.setenv("TRIBUTARY_DOWNSTREAM_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("TRIBUTARY_DOWNSTREAM_RETRY_SECONDS", "60")
    make_dataset(catalog, local)
    upload(catalog, "ds", "/a.txt", io.BytesIO(b"x"), apply_now=False)
    (put,) = entries(catalog, "put")
    local.delete(put["spool_key"])  # lost: nothing can write it
    start = dt.datetime.now(dt.UTC)

    first = downstream.drain(catalog)
    (put,) = entries(catalog, "put")
    assert first.failed == 1 and first.announced == []  # preprocessing would find no file
    assert put["attempts"] == 1 and "upload lost" in put["error"]
    retry_at = put["next_attempt_at"].replace(tzinfo=dt.UTC)
    assert start + dt.timedelta(seconds=59) < retry_at < start + dt.timedelta(seconds=70)
    assert downstream.drain(catalog).failed == 0  # not due yet

    second = downstream.drain(catalog, now=start + dt.timedelta(minutes=2))
    (put,) = entries(catalog, "put")
    delay = put["next_attempt_at"].replace(tzinfo=dt.UTC) - dt.datetime.now(dt.UTC)
    assert second.failed == 1 and dt.timedelta(seconds=100) < delay <= dt.timedelta(seconds=120)

    third = downstream.drain(catalog, now=start + dt.timedelta(minutes=10))
    (put,) = entries(catalog, "put")
    assert put["status"] == "failed" and put["attempts"] == 3
    assert third.gave_up == [{"id": put["id"], "op": "put", "key": "data/a.txt"}]
    assert rows(catalog)["/a.txt"]["downstream"] == "put"  # honest: still not written

    assert downstream.retry_failed(catalog) == 1
    (put,) = entries(catalog, "put")
    assert (put["status"], put["attempts"]) == ("pending", 0)


def test_a_put_waits_while_a_sync_of_its_dataset_runs(catalog, local):
    make_dataset(catalog, local)
    upload(catalog, "ds", "/a.txt", io.BytesIO(b"x"), apply_now=False)
    now = dt.datetime.now(dt.UTC)
    with catalog.begin() as conn:
        dataset_id = datasets.get(conn, "ds").id
        sync_id = conn.execute(
            sync_runs.insert()
            .values(
                dataset_id=dataset_id,
                kind="upstream",
                status="running",
                dag_id="x",
                run_id="r",
                started_at=now,
                heartbeat_at=now,
            )
            .returning(sync_runs.c.id)
        ).scalar_one()
        conn.execute(
            dataset_locks.insert().values(dataset_id=dataset_id, sync_id=sync_id, acquired_at=now)
        )

    waiting = downstream.drain(catalog)

    assert (waiting.applied, waiting.deferred, waiting.failed) == (0, 1, 0)
    assert rows(catalog)["/a.txt"]["downstream"] == "put"
    with catalog.begin() as conn:
        conn.execute(dataset_locks.delete())
    assert downstream.drain(catalog).applied == 1
    assert local.get("data/a.txt") == b"x"


def test_a_thumbnail_is_deleted_unless_an_item_uses_it_again(catalog, local):
    make_dataset(catalog, local)
    local.put("data/.tributary/thumbnails/1/1.jpg", b"old")
    local.put("data/.tributary/thumbnails/1/2.jpg", b"in use")
    upload(catalog, "ds", "/x.txt", io.BytesIO(b"x"))
    with catalog.begin() as conn:
        dataset_id = datasets.get(conn, "ds").id
        conn.execute(items.update().values(thumbnail_key="data/.tributary/thumbnails/1/2.jpg"))
        for name in ("1.jpg", "2.jpg"):
            outbox.enqueue(
                conn,
                dataset_id=dataset_id,
                op="delete_thumbnail",
                storage_key=f"data/.tributary/thumbnails/1/{name}",
            )

    downstream.drain(catalog)

    with pytest.raises(FileNotFoundError):
        local.get("data/.tributary/thumbnails/1/1.jpg")
    assert local.get("data/.tributary/thumbnails/1/2.jpg") == b"in use"
    assert [e["error"] for e in entries(catalog, "delete_thumbnail")] == [
        None,
        "kept: an item uses it again",
    ]


def test_a_put_finished_meanwhile_by_another_drain_leaves_the_item_alone(catalog, local):
    make_dataset(catalog, local)
    upload(catalog, "ds", "/a.txt", io.BytesIO(b"one"), apply_now=False)
    (stale,) = entries(catalog, "put")  # what a slow drain read before the others ran
    downstream.drain(catalog)
    upload(catalog, "ds", "/a.txt", io.BytesIO(b"two"), overwrite=True, apply_now=False)

    outcome = downstream.apply_entry(catalog, stale)

    assert outcome == "applied"
    row = rows(catalog)["/a.txt"]
    assert row["downstream"] == "put"  # still waiting for the second upload's put
    assert local.get("data/a.txt") == b"one"
    downstream.drain(catalog)
    assert local.get("data/a.txt") == b"two" and rows(catalog)["/a.txt"]["downstream"] is None


# -- new files straight to their key -------------------------------------------------------


def no_copies(monkeypatch, catalog) -> None:
    """A server-side copy (spool → key) fails the test."""
    with catalog.begin() as conn:
        store = open_dataset_store(datasets.get(conn, "ds"))

    def refuse(*args, **kwargs):
        raise AssertionError("a new file was copied into place")

    monkeypatch.setattr(store, "copy", refuse)


def test_a_new_file_goes_straight_to_its_key_without_spool_or_copy(catalog, bucket, monkeypatch):
    small_parts(monkeypatch, bucket)
    make_dataset(catalog, bucket)
    no_copies(monkeypatch, catalog)
    multipart = spy_on_s3_multipart_uploads(catalog) if bucket.provider == "s3" else []
    files = {"/small.txt": b"small file", "/a/large.bin": os.urandom(6 * MIB + 1)}

    for path, data in files.items():
        assert upload(catalog, "ds", path, io.BytesIO(data))["status"] == "created"

    listed = listing(catalog)
    assert set(listed) == {f"data{p}" for p in files}
    for path, data in files.items():
        assert bucket.get(f"data{path}") == data
        item = rows(catalog)[path]
        assert item["downstream"] is None and item["etag"] == listed[f"data{path}"].etag
        assert item["size"] == len(data)
    assert [(e["op"], e["status"], e["spool_key"]) for e in entries(catalog, "put")] == [
        ("put", "done", None),
        ("put", "done", None),
    ]
    if bucket.provider == "s3":  # the large file went up in parts, to its own key
        assert multipart == ["data/a/large.bin"]
    assert upstream_sync(catalog, "ds")["counts"] == ZERO


@pytest.mark.parametrize("when", ["mid-body", "written"])
def test_an_upstream_sync_between_reservation_and_finalise_changes_nothing(
    catalog, bucket, monkeypatch, when
):
    """The reservation is committed before any byte: a sync that lists the key while the
    body streams, or once it is written but not yet finalised, sees a waiting upload."""
    small_parts(monkeypatch, bucket)
    make_dataset(catalog, bucket)
    data = os.urandom(6 * MIB + 1)
    during = []

    class SyncsMidway(io.BytesIO):
        def read(self, n=-1):
            if when == "mid-body" and self.tell() and not during:
                during.append(upstream_sync(catalog, "ds"))
            return super().read(n)

    if when == "written":
        with catalog.begin() as conn:
            store = open_dataset_store(datasets.get(conn, "ds"))
        write_stream = store.write_stream

        def written_then_synced(*args, **kwargs):
            info = write_stream(*args, **kwargs)
            during.append(upstream_sync(catalog, "ds"))
            return info

        monkeypatch.setattr(store, "write_stream", written_then_synced)

    result = upload(catalog, "ds", "/big.bin", SyncsMidway(data), size=len(data))

    (sync,) = during
    assert sync["counts"] == ZERO  # neither new (a duplicate) nor vanished
    assert result["status"] == "created"
    (item,) = rows(catalog).values()
    assert item["state"] == "active" and item["downstream"] is None
    assert item["etag"] == listing(catalog)["data/big.bin"].etag
    assert bucket.get("data/big.bin") == data
    assert upstream_sync(catalog, "ds")["counts"] == ZERO
    assert list(rows(catalog)) == ["/big.bin"]


def hold_sync_lock(catalog) -> None:
    """A running upstream sync of "ds" (its lock held, its heartbeat fresh)."""
    now = dt.datetime.now(dt.UTC)
    with catalog.begin() as conn:
        dataset_id = datasets.get(conn, "ds").id
        sync_id = conn.execute(
            sync_runs.insert()
            .values(
                dataset_id=dataset_id,
                kind="upstream",
                status="running",
                dag_id="x",
                run_id="r",
                started_at=now,
                heartbeat_at=now,
            )
            .returning(sync_runs.c.id)
        ).scalar_one()
        conn.execute(
            dataset_locks.insert().values(dataset_id=dataset_id, sync_id=sync_id, acquired_at=now)
        )


def test_a_new_file_finalised_during_a_sync_waits_for_the_drain(catalog, local, monkeypatch):
    make_dataset(catalog, local)
    no_copies(monkeypatch, catalog)
    hold_sync_lock(catalog)

    upload(catalog, "ds", "/a.txt", io.BytesIO(b"x"))

    assert local.get("data/a.txt") == b"x"  # written: only its record waits
    item = rows(catalog)["/a.txt"]
    assert item["downstream"] == "put" and item["sha256"] and item["etag"]
    (put,) = entries(catalog, "put")
    assert (put["status"], put["spool_key"], put["error"]) == ("pending", None, None)
    assert downstream.drain(catalog).deferred == 1
    with catalog.begin() as conn:
        conn.execute(dataset_locks.delete())
    report = downstream.drain(catalog)
    assert (report.applied, report.failed, len(report.announced)) == (1, 0, 1)
    after = rows(catalog)["/a.txt"]
    assert after["downstream"] is None and after["etag"] == listing(catalog)["data/a.txt"].etag


@pytest.mark.parametrize("bucket", ["s3", "local"], indirect=True)
def test_a_failed_new_body_leaves_no_object_nor_parts_nor_reservation(catalog, bucket, monkeypatch):
    small_parts(monkeypatch, bucket)
    make_dataset(catalog, bucket)
    bucket.put("data/other.txt", b"not touched")

    class Dies(io.BytesIO):
        def read(self, n=-1):
            if self.tell() > 5 * MIB:
                raise OSError("the client went away")
            return super().read(n)

    with pytest.raises(Exception, match="client went away"):
        upload(catalog, "ds", "/big.bin", Dies(os.urandom(12 * MIB)), size=12 * MIB)

    assert rows(catalog) == {} and entries(catalog) == []
    assert set(listing(catalog)) == {"data/other.txt"}
    if bucket.provider == "s3":
        from tests.buckets import s3_client

        uploads_left = s3_client(bucket.emulator).list_multipart_uploads(Bucket=bucket.name)
        assert uploads_left.get("Uploads", []) == []  # the multipart upload was aborted
    else:
        hidden = [p for p in os.listdir(bucket.name) if p == ".tributary"]
        assert not hidden or not any(
            files for _, _, files in os.walk(os.path.join(bucket.name, hidden[0]))
        )
