"""Every adapter against its real emulator: listing rules, paging, reads, writes, deletes."""

from __future__ import annotations

import logging

import pytest

from tributary.catalog.drivers import build
from tributary.storage import open_store
from tributary.storage.base import ObjectNotFound

TREE = {
    "root.bin": b"0123456789",
    "a/x.jpg": b"x" * 7,
    "a/b/y z.png": b"yz",
    "ü/ñ (1).txt": b"unicode",
    "a/marker/": b"",
    ".tributary/thumbnails/t.jpg": b"hidden",
}


def store_for(bucket, path=""):
    driver = build(
        name="t", provider=bucket.provider, bucket=bucket.name, conn_id=bucket.conn_id, path=path
    )
    return open_store(driver)


def listed_keys(store, prefix=None, recursive=True):
    prefix = store.prefix if prefix is None else prefix
    return sorted(o.key for page in store.list_pages(prefix, recursive=recursive) for o in page)


def test_listing_skips_hidden_folder_and_folder_markers(bucket):
    for key, data in TREE.items():
        bucket.put(key, data)
    store = store_for(bucket)

    assert listed_keys(store) == sorted(["root.bin", "a/x.jpg", "a/b/y z.png", "ü/ñ (1).txt"])
    assert listed_keys(store, recursive=False) == ["root.bin"]
    assert store.list_folders("") == ["a/", "ü/"]
    assert store.list_folders("a/") == ["a/b/", "a/marker/"] or store.list_folders("a/") == ["a/b/"]


# Not on local folders: a file name cannot end in '/' there.
@pytest.mark.parametrize("bucket", ["s3", "azure", "gcs"], indirect=True)
def test_data_under_a_key_ending_in_a_slash_is_reported_never_dropped_silently(bucket, caplog):
    bucket.put("a/x.jpg", b"x")
    bucket.put("a/marker/", b"")  # a folder marker: not data, left out quietly
    bucket.put("a/data/", b"payload")  # data no item path can hold
    skipped = []

    with caplog.at_level(logging.WARNING, logger="tributary.storage.base"):
        keys = [
            o.key for page in store_for(bucket).list_pages("", on_skip=skipped.append) for o in page
        ]

    assert keys == ["a/x.jpg"]
    assert [(o.key, o.size) for o in skipped] == [("a/data/", 7)]
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "tributary.storage.base"]
    assert f"{bucket.provider}://{bucket.name}/a/data/ holds 7 bytes" in warning


def test_listing_streams_in_pages(bucket, monkeypatch):
    monkeypatch.setenv("TRIBUTARY_LISTING_PAGE_SIZE", "2")
    for i in range(5):
        bucket.put(f"p/{i}.bin", b"%d" % i)
    store = store_for(bucket)

    pages = list(store.list_pages("p/"))

    assert sorted(o.key for page in pages for o in page) == [f"p/{i}.bin" for i in range(5)]
    if bucket.provider != "gcs":  # the GCS emulator ignores page sizes (TOOLCHAIN.md)
        assert [len(p) for p in pages] == [2, 2, 1] or len(pages) >= 3


def test_listing_reports_size_etag_and_time(bucket):
    bucket.put("f.bin", b"hello world")
    (obj,) = [o for page in store_for(bucket).list_pages("") for o in page]

    assert obj.size == 11
    assert obj.etag
    assert obj.last_modified is not None
    if bucket.provider in ("s3", "gcs"):
        assert obj.etag == "5eb63bbbe01eeed093cb22bb8f5acdc3"


def test_prefix_is_respected(bucket):
    for key, data in TREE.items():
        bucket.put(key, data)
    store = store_for(bucket, path="a")

    assert store.prefix == "a/"
    assert listed_keys(store) == ["a/b/y z.png", "a/x.jpg"]


def test_read_write_delete_roundtrip(bucket):
    store = store_for(bucket)
    store.write(".tributary/probe/k.txt", b"0123456789", content_type="text/plain")

    assert store.read(".tributary/probe/k.txt") == b"0123456789"
    assert store.read(".tributary/probe/k.txt", 3, 4) == b"3456"
    assert store.read(".tributary/probe/k.txt", 8) == b"89"
    store.delete(".tributary/probe/k.txt")
    store.delete(".tributary/probe/k.txt")  # deleting twice is fine
    with pytest.raises(ObjectNotFound):
        store.read(".tributary/probe/k.txt")
