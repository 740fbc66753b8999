"""Streaming a linked item: ``open_link_content`` through the safe fetcher against a real
HTTP server on 127.0.0.1 — the whole body, a range passed on as ``Range`` (or cut out here
when the server ignores it), and one-line, redacted errors."""

from __future__ import annotations

import io

import pytest

from tests.ingest.http_server import JPEG, TestServer
from tributary.catalog import datasets
from tributary.errors import InvalidInput, NotFound
from tributary.ingest.addresses import AddressPolicy
from tributary.ingest.errors import BlockedAddress, HTTPStatus
from tributary.ingest.fetch import Fetcher, FetchSettings
from tributary.usecases.links import create_link, open_link_content
from tributary.usecases.uploads import upload

BODY = bytes(range(256)) * 1000  # 256,000 bytes: several chunks
SIGNATURE = "X-Amz-Signature=deadbeefcafe"


@pytest.fixture(scope="module")
def server():
    with TestServer() as running:
        running.files["clip.mp4"] = BODY
        running.types["clip.mp4"] = "text/html"  # what a hostile server could say
        yield running


@pytest.fixture
def fetcher(monkeypatch):
    monkeypatch.setenv("TRIBUTARY_FETCH_ALLOW", "127.0.0.1")
    settings = FetchSettings(connect_timeout=2, read_timeout=2, retries=0)
    with Fetcher(settings, AddressPolicy.from_env()) as fetching:
        yield fetching


@pytest.fixture
def linked(catalog, tmp_path, monkeypatch, server):
    """``{route name: item id}``: links to the server's routes, and a file item."""
    monkeypatch.setenv("TRIBUTARY_STORAGE_ROOT", str(tmp_path / "internal"))
    with catalog.begin() as conn:
        datasets.create(conn, name="ds")
    made = {
        name: create_link(catalog, "ds", server.url(path), name=name, mimetype="video")["item"][
            "id"
        ]
        for name, path in [
            ("ranged.mp4", "/files/clip.mp4"),
            ("plain.mp4", "/plain/clip.mp4"),
            ("gone.mp4", f"/status/404?{SIGNATURE}"),
        ]
    }
    made["image"] = create_link(catalog, "ds", server.url("/image.jpg"))["item"]["id"]
    made["file"] = upload(catalog, "ds", "/a.txt", io.BytesIO(b"text"))["item"]["id"]
    return made


def read(content) -> bytes:
    with content:
        return b"".join(content.chunks)


@pytest.mark.parametrize("name", ["ranged.mp4", "plain.mp4"])
def test_the_whole_body_streams_with_the_items_type(catalog, linked, fetcher, name):
    content = open_link_content(catalog, "ds", linked[name], fetcher=fetcher)

    assert (content.status, content.size, content.length) == (200, len(BODY), len(BODY))
    assert content.mimetype == "video/mp4" and content.content_type == "text/html"
    assert content.name == name
    assert read(content) == BODY
    assert content.headers()["Content-Type"] == "video/mp4"
    assert content.headers()["Content-Length"] == str(len(BODY))


@pytest.mark.parametrize("name", ["ranged.mp4", "plain.mp4"])
@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        pytest.param(1000, 1999, (1000, 1999), id="middle"),
        pytest.param(250_000, None, (250_000, len(BODY) - 1), id="open-ended"),
        pytest.param(0, 10**9, (0, len(BODY) - 1), id="past-the-end"),
        pytest.param(None, 99, (0, 99), id="first-bytes"),
    ],
)
def test_a_range_is_a_206_whether_the_server_cuts_it_or_not(
    catalog, linked, fetcher, server, name, start, end, expected
):
    before = len(server.requests)

    content = open_link_content(catalog, "ds", linked[name], start, end, fetcher=fetcher)

    first, last = expected
    assert (content.status, content.start, content.end) == (206, first, last)
    assert content.length == last - first + 1 and content.size == len(BODY)
    assert read(content) == BODY[first : last + 1]
    assert content.headers()["Content-Range"] == f"bytes {first}-{last}/{len(BODY)}"
    sent = [headers.get("Range") for _path, headers in server.requests[before:]]
    assert sent == [f"bytes={start or 0}-{'' if end is None else end}"]


@pytest.mark.parametrize("name", ["ranged.mp4", "plain.mp4"])
def test_a_range_past_the_end_is_a_416(catalog, linked, fetcher, name):
    with pytest.raises(HTTPStatus) as raised:
        open_link_content(catalog, "ds", linked[name], len(BODY) + 5, fetcher=fetcher)

    assert raised.value.status == 416


def test_an_image_link_streams_its_bytes(catalog, linked, fetcher):
    content = open_link_content(catalog, "ds", linked["image"], fetcher=fetcher)

    assert content.mimetype == "image/jpeg" and read(content) == JPEG


def test_a_failing_url_is_one_redacted_line(catalog, linked, fetcher):
    with pytest.raises(HTTPStatus) as raised:
        open_link_content(catalog, "ds", linked["gone.mp4"], fetcher=fetcher)

    message = str(raised.value)
    assert raised.value.status == 404 and "HTTP 404" in message
    assert "deadbeef" not in message and "REDACTED" in message and "\n" not in message


def test_a_blocked_address_is_refused_before_any_request(catalog, linked, server, monkeypatch):
    monkeypatch.delenv("TRIBUTARY_FETCH_ALLOW", raising=False)
    before = len(server.requests)

    fetching = Fetcher(FetchSettings(retries=0), AddressPolicy.from_env())
    with fetching, pytest.raises(BlockedAddress):
        open_link_content(catalog, "ds", linked["ranged.mp4"], fetcher=fetching)

    assert len(server.requests) == before


def test_what_is_not_a_link_or_not_there_is_refused(catalog, linked, fetcher):
    with pytest.raises(InvalidInput, match="is a file, not a link"):
        open_link_content(catalog, "ds", linked["file"], fetcher=fetcher)
    with pytest.raises(NotFound):
        open_link_content(catalog, "ds", 10**6, fetcher=fetcher)
    with pytest.raises(NotFound):
        open_link_content(catalog, "nope", linked["image"], fetcher=fetcher)
    with pytest.raises(InvalidInput, match="bad byte range"):
        open_link_content(catalog, "ds", linked["image"], 10, 5, fetcher=fetcher)


def test_closing_early_releases_the_connection(catalog, linked, fetcher):
    for _ in range(40):  # more than the pool holds, were any left open
        content = open_link_content(catalog, "ds", linked["ranged.mp4"], fetcher=fetcher)
        next(iter(content.chunks))
        content.close()
        content.close()
