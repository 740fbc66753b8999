"""GCS paging with a fake client: the emulator ignores page sizes and tokens (TOOLCHAIN.md)."""

from __future__ import annotations

import base64
import hashlib
from types import SimpleNamespace

from tributary.storage.gcs import GCSStore


class FakeClient:
    """Records list_blobs calls and serves fixed pages of fake blobs."""

    def __init__(self, pages, prefixes=()):
        self.pages = pages
        self.prefixes = prefixes
        self.calls = []

    def list_blobs(self, bucket, **kwargs):
        self.calls.append((bucket, kwargs))
        return _Pages(self.pages, self.prefixes)


class _Page(list):
    prefixes: set


class _Pages:
    def __init__(self, pages, prefixes):
        self._pages, self._prefixes = pages, prefixes

    @property
    def pages(self):
        for blobs in self._pages:
            page = _Page(blobs)
            page.prefixes = set(self._prefixes)
            yield page


def blob(name, data=b"x"):
    md5 = base64.b64encode(hashlib.md5(data).digest()).decode()  # noqa: S324 - GCS's md5
    return SimpleNamespace(
        name=name, size=len(data), md5_hash=md5, etag="CJ", updated=None, content_type=None
    )


def store_with(client):
    store = GCSStore("bkt", "p/", conn_id="unused")
    store.__dict__["client"] = client  # skip GCSHook: this is a unit test of paging
    return store


def test_pages_stream_one_by_one_with_the_configured_size(monkeypatch):
    monkeypatch.setenv("TRIBUTARY_LISTING_PAGE_SIZE", "2")
    client = FakeClient([[blob("p/a"), blob("p/b")], [blob("p/c"), blob("p/.tributary/t")]])
    pages = list(store_with(client).list_pages("p/"))

    assert [[o.key for o in page] for page in pages] == [["p/a", "p/b"], ["p/c"]]
    assert client.calls == [("bkt", {"prefix": "p/", "delimiter": None, "page_size": 2})]
    assert pages[0][0].etag == hashlib.md5(b"x").hexdigest()  # noqa: S324


def test_subprefixes_are_gathered_from_every_page():
    client = FakeClient([[blob("p/top")], []], prefixes=["p/a/", "p/b/"])
    assert store_with(client).list_subprefixes("p/") == ["p/a/", "p/b/"]
    assert client.calls[0][1]["delimiter"] == "/"
