"""Preprocessing linked items: the URL read through the safe fetcher from a real HTTP server
on 127.0.0.1 — ranged where the server serves ranges, once in order where it does not —
with the same metadata and thumbnail as a file item, and a one-line, redacted reason for a
URL that fails."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from tests.ingest.http_server import TestServer
from tests.preprocess import corpus
from tests.preprocess.test_batch import run_all
from tributary.catalog import items as item_queries
from tributary.catalog.schema import items
from tributary.ingest.addresses import AddressPolicy
from tributary.ingest.fetch import Fetcher, FetchSettings
from tributary.preprocess.linked import describe_link, link_name
from tributary.preprocess.options import Limits, ThumbnailSpec
from tributary.usecases.links import create_link

SIGNATURE = "X-Amz-Signature=deadbeefcafe"


@pytest.fixture(scope="module")
def server():
    with TestServer() as running:
        running.files.update(
            {
                "turned.jpg": corpus.jpeg_with_orientation(6),
                "clip.mp4": corpus.short_video(),
                "page.jpg": b"<html>sign in</html>",
            }
        )
        running.types.update({"clip.mp4": "video/mp4", "page.jpg": "text/html"})
        yield running


@pytest.fixture
def allowed(monkeypatch):
    monkeypatch.setenv("TRIBUTARY_FETCH_ALLOW", "127.0.0.1")


@pytest.fixture
def fetcher(allowed):
    settings = FetchSettings(connect_timeout=2, read_timeout=2, max_bytes=1_000_000, retries=0)
    with Fetcher(settings, AddressPolicy.from_env()) as fetching:
        yield fetching


def described(fetcher, url, mimetype="image/jpeg", **limits):
    name = url.rpartition("/")[2].split("?")[0]
    return describe_link(
        fetcher,
        url,
        name=name,
        link_mimetype=mimetype,
        spec=ThumbnailSpec(size=32),
        limits=Limits(**limits),
    )


def ranges_asked(server, path) -> list[str]:
    return [h.get("Range") for p, h in server.requests if p.startswith(path)]


@pytest.mark.parametrize("route", ["/files/", "/plain/"], ids=["ranges", "no-ranges"])
def test_a_linked_image_gets_the_metadata_and_thumbnail_of_a_file(server, fetcher, route):
    outcome = described(fetcher, server.url(f"{route}turned.jpg"))

    assert outcome.error is None and outcome.mimetype == "image/jpeg"
    meta = outcome.metadata
    assert meta["exif"]["orientation"] == 6
    assert meta["dimensions"] == {"width": meta["height"], "height": meta["width"]}
    assert meta["size"] == len(server.files["turned.jpg"]) and meta["encoding"] == "binary"
    assert meta["link"]["ranges"] is (route == "/files/")
    thumbnail = Image.open(io.BytesIO(outcome.thumbnail.data))
    assert max(thumbnail.size) == 32
    shown = meta["dimensions"]  # turned upright as the EXIF says
    assert (thumbnail.size[0] > thumbnail.size[1]) == (shown["width"] > shown["height"])
    assert meta["width"] != shown["width"]


def test_a_linked_video_gets_its_duration_by_ranged_reads(server, fetcher):
    before = len(server.requests)

    outcome = described(fetcher, server.url("/files/clip.mp4"), "video/mp4")

    assert outcome.error is None and outcome.mimetype == "video/mp4"
    assert outcome.metadata["duration"] == pytest.approx(2.0, abs=0.2)
    assert outcome.thumbnail is not None
    asked = [h.get("Range") for _p, h in server.requests[before:]]
    assert asked and all(a and a.startswith("bytes=") for a in asked)


def test_a_server_without_ranges_is_read_once_and_never_past_the_read_limit(server, fetcher):
    size = len(server.files["clip.mp4"])
    before = len(server.requests)

    small = described(fetcher, server.url("/plain/clip.mp4"), "video/mp4", read_bytes=size // 2)

    assert small.error.startswith("read limit:") and "\n" not in small.error
    assert small.thumbnail is None and small.metadata["size"] == size
    body_requests = [h for _p, h in server.requests[before:] if "Range" not in h]
    assert len(body_requests) <= 1  # the body once (info asked with a range)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("/status/404", "HTTP 404", id="404"),
        pytest.param("/big/2000000", "above the cap", id="too-large"),
        pytest.param("/files/page.jpg", "'text/html', not the image/jpeg", id="a-page"),
        pytest.param("/files/missing.jpg", "HTTP 404", id="missing"),
    ],
)
def test_a_url_that_fails_is_a_one_line_redacted_reason(server, fetcher, path, expected):
    outcome = described(fetcher, server.url(f"{path}?{SIGNATURE}"))

    assert expected in outcome.error
    assert "deadbeef" not in outcome.error and "X-Amz-Signature=REDACTED" in outcome.error
    assert "\n" not in outcome.error and outcome.thumbnail is None
    assert "deadbeef" not in json.dumps(outcome.metadata)


def test_a_blocked_address_is_refused_without_a_request(server, monkeypatch):
    monkeypatch.delenv("TRIBUTARY_FETCH_ALLOW", raising=False)
    before = len(server.requests)
    with Fetcher(FetchSettings(retries=0), AddressPolicy.from_env()) as fetching:
        outcome = described(fetching, server.url(f"/files/turned.jpg?{SIGNATURE}"))

    assert "127.0.0.1" in outcome.error and "deadbeef" not in outcome.error
    assert len(server.requests) == before


def test_link_names_drop_the_json_suffix():
    assert link_name("/a/cat.jpg.json") == "cat.jpg"
    assert link_name("/a/.json") == ".json"
    assert link_name("/a/clip.MP4.JSON") == "clip.MP4"


def test_a_batch_preprocesses_linked_items_into_the_hidden_folder(
    catalog, tmp_path, server, allowed, monkeypatch
):
    root = tmp_path / "internal"
    monkeypatch.setenv("TRIBUTARY_STORAGE_ROOT", str(root))
    from tributary.catalog import datasets

    with catalog.begin() as conn:
        datasets.create(conn, name="ds")
    good = create_link(catalog, "ds", server.url(f"/files/turned.jpg?{SIGNATURE}"))
    video = create_link(catalog, "ds", server.url("/files/clip.mp4"), mimetype="video")
    gone = create_link(catalog, "ds", server.url(f"/status/404?{SIGNATURE}"), name="gone.jpg")

    result = run_all(catalog)

    assert (result["done"], result["failed"], result["deferred"]) == (2, 1, 0)
    with catalog.begin() as conn:
        rows = {row["id"]: row for row in item_queries.iterate(conn, "ds", "active", None)}
        kinds = {row.kind for row in conn.execute(items.select())}
    image = rows[good["item"]["id"]]
    assert image["preprocess_state"] == "done" and image["mimetype"] == "image/jpeg"
    assert image["system_metadata"]["exif"]["orientation"] == 6
    assert (root / "ds" / image["thumbnail_key"]).is_file()
    assert image["thumbnail_key"].startswith(".tributary/thumbnails/")
    clip = rows[video["item"]["id"]]
    assert clip["system_metadata"]["duration"] == pytest.approx(2.0, abs=0.2)
    assert clip["thumbnail_key"] and clip["mimetype"] == "video/mp4"
    failed = rows[gone["item"]["id"]]
    assert failed["preprocess_state"] == "failed" and "HTTP 404" in failed["preprocess_error"]
    assert "deadbeef" not in failed["preprocess_error"]
    assert kinds == {"link"}
