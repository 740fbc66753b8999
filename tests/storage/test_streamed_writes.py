"""Streamed writes and server-side copies on every adapter against its real emulator: the
returned facts are what a listing shows, large bodies go in parts, failures leave nothing."""

from __future__ import annotations

import hashlib
import io
import os

import pytest

from tests.storage.test_adapters import store_for
from tributary.errors import InvalidInput
from tributary.storage.base import ObjectNotFound
from tributary.storage.streams import BodyUnreadable

MIB = 1024 * 1024


class Trickle(io.RawIOBase):
    """A request body: short reads, no seek, no length."""

    def __init__(self, data: bytes, step: int = 64 * 1024) -> None:
        self.data = io.BytesIO(data)
        self.step = step

    def read(self, n: int = -1) -> bytes:
        return self.data.read(self.step if n < 0 else min(n, self.step))


class Breaks:
    """A body whose connection drops after ``after`` bytes."""

    def __init__(self, data: bytes, after: int) -> None:
        self.data = io.BytesIO(data)
        self.after = after

    def read(self, n: int = -1) -> bytes:
        if self.data.tell() >= self.after:
            raise ConnectionResetError("client went away")
        return self.data.read(min(n if n >= 0 else self.after, self.after - self.data.tell()))


def listed(store, key):
    (found,) = [o for page in store.list_pages("") for o in page if o.key == key]
    return found


def small_parts(monkeypatch):
    """Parts from 1 MiB up, 5 MiB parts (S3's minimum part size; s3transfer never goes
    lower), 256 KiB blocks on Azure and chunks on GCS would be rounded the same way."""
    monkeypatch.setenv("TRIBUTARY_UPLOAD_MULTIPART_THRESHOLD", str(1 * MIB))
    monkeypatch.setenv("TRIBUTARY_UPLOAD_PART_SIZE", str(5 * MIB))


@pytest.mark.parametrize("declared", [True, False], ids=["size given", "size unknown"])
def test_a_small_stream_lands_whole_with_the_listing_etag(bucket, declared):
    data = b"hello, streamed world" * 100
    store = store_for(bucket, "up")

    info = store.write_stream(
        "up/a/b.txt", Trickle(data), size=len(data) if declared else None, content_type="text/plain"
    )

    assert bucket.get("up/a/b.txt") == data
    assert info.key == "up/a/b.txt" and info.size == len(data)
    assert info.etag == listed(store, "up/a/b.txt").etag
    if bucket.provider != "local":
        assert info.etag == hashlib.md5(data).hexdigest()  # noqa: S324 - the content's MD5
        assert info.content_type == "text/plain"


def test_a_large_stream_goes_in_parts(bucket, monkeypatch):
    small_parts(monkeypatch)
    monkeypatch.setenv(
        "TRIBUTARY_UPLOAD_PART_SIZE", str(256 * 1024 if bucket.provider != "s3" else 5 * MIB)
    )
    data = os.urandom(6 * MIB + 123)
    store = store_for(bucket)
    chunks = spy_on_gcs_chunks(monkeypatch) if bucket.provider == "gcs" else []

    info = store.write_stream("big.bin", Trickle(data), size=len(data))

    assert bucket.get("big.bin") == data
    assert info.size == len(data)
    assert info.etag == listed(store, "big.bin").etag
    assert parts_of(bucket, "big.bin") >= 2 or bucket.provider in ("local", "gcs")
    if bucket.provider == "gcs":  # a resumable upload in 256 KiB chunks
        assert len(chunks) == 25 and set(chunks[:-1]) == {256 * 1024}
    if bucket.provider == "azure":  # blocks carry no MD5: Tributary records the content's
        assert info.etag == hashlib.md5(data).hexdigest()  # noqa: S324


def spy_on_gcs_chunks(monkeypatch) -> list[int]:
    """The sizes of the chunks a GCS resumable upload sends."""
    from google.cloud.storage._media.requests import ResumableUpload

    sizes = []
    original = ResumableUpload.transmit_next_chunk

    def transmit(self, *args, **kwargs):
        before = self.bytes_uploaded
        response = original(self, *args, **kwargs)
        sizes.append(self.bytes_uploaded - before)
        return response

    monkeypatch.setattr(ResumableUpload, "transmit_next_chunk", transmit)
    return sizes


def parts_of(bucket, key) -> int:
    """How many parts the provider says the object was written in (1: one request)."""
    if bucket.provider == "s3":
        from tests.buckets import s3_client

        etag = s3_client(bucket.emulator).head_object(Bucket=bucket.name, Key=key)["ETag"]
        return int(etag.strip('"').partition("-")[2] or 1)
    if bucket.provider == "azure":
        from tests.buckets import azure_service

        blob = azure_service(bucket.emulator).get_blob_client(bucket.name, key)
        return len(blob.get_block_list("committed")[0])
    return 1


def test_a_body_that_breaks_off_leaves_no_object(bucket, monkeypatch):
    small_parts(monkeypatch)
    monkeypatch.setenv(
        "TRIBUTARY_UPLOAD_PART_SIZE", str(256 * 1024 if bucket.provider != "s3" else 5 * MIB)
    )
    data = os.urandom(6 * MIB)
    store = store_for(bucket)

    with pytest.raises(BodyUnreadable, match="after 5242890 bytes"):
        store.write_stream("broken.bin", Breaks(data, 5 * MIB + 10), size=len(data))

    assert [o.key for page in store.list_raw("") for o in page] == []


def test_a_short_body_fails_and_leaves_no_object(bucket):
    store = store_for(bucket)

    with pytest.raises(InvalidInput, match="ended after 3 of the 10 bytes"):
        store.write_stream("short.bin", Trickle(b"abc"), size=10)

    assert [o.key for page in store.list_raw("") for o in page] == []


def test_a_stream_replaces_an_object(bucket):
    bucket.put("f.txt", b"old content")
    store = store_for(bucket)

    info = store.write_stream("f.txt", Trickle(b"new"), size=3)

    assert bucket.get("f.txt") == b"new"
    assert info.etag == listed(store, "f.txt").etag


def test_copy_is_server_side_and_keeps_the_content_etag(bucket):
    """Below the copy threshold: one request inside the storage."""
    data = b"copy me" * 1000
    bucket.put(".tributary/spool/x", data)
    store = store_for(bucket)
    source = store.head(".tributary/spool/x")

    info = store.copy(".tributary/spool/x", "dir/copied.bin")

    assert bucket.get("dir/copied.bin") == data
    assert bucket.get(".tributary/spool/x") == data  # a copy, not a move
    assert info.size == len(data)
    assert info.etag == listed(store, "dir/copied.bin").etag
    if bucket.provider != "azure":  # a local link shares the inode; S3/GCS keep the MD5
        assert info.etag == source.etag


def test_a_copy_of_a_multipart_object_reads_back_whole(bucket, monkeypatch):
    """One CopyObject of an object written in parts: its checksum is the copy's own (a
    copied multipart checksum failed every boto3 read of the copy)."""
    small_parts(monkeypatch)
    data = os.urandom(6 * MIB)
    store = store_for(bucket)
    store.write_stream(".tributary/spool/big", io.BytesIO(data), size=len(data))

    info = store.copy(".tributary/spool/big", "big.bin")

    assert bucket.get("big.bin") == data
    assert info.etag == listed(store, "big.bin").etag


def test_a_large_copy_is_a_multipart_copy_on_s3(bucket, monkeypatch):
    small_parts(monkeypatch)
    monkeypatch.setenv("TRIBUTARY_COPY_MULTIPART_THRESHOLD", str(1 * MIB))
    data = os.urandom(6 * MIB)
    store = store_for(bucket)
    store.write_stream(".tributary/spool/big", io.BytesIO(data), size=len(data))

    info = store.copy(".tributary/spool/big", "big.bin")

    assert bucket.get("big.bin") == data  # reads checksummed by boto3 where S3 has one
    assert info.etag == listed(store, "big.bin").etag
    if bucket.provider == "s3":  # a multipart copy: S3's etag ends in "-<parts>"
        assert "-" in info.etag and info.etag != store.head(".tributary/spool/big").etag


def test_copy_replaces_the_target(bucket):
    bucket.put("src", b"new")
    bucket.put("dst", b"old old")
    store = store_for(bucket)

    info = store.copy("src", "dst")

    assert bucket.get("dst") == b"new" and info.size == 3


def test_copy_of_a_missing_source_is_object_not_found(bucket):
    bucket.put("other", b"x")
    with pytest.raises(ObjectNotFound):
        store_for(bucket).copy("missing", "dst")
