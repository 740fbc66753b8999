"""Linked items: the link file in the dataset's storage (straight, or to a driver's bucket
through the outbox), kind 'link' with its URL kept but shown redacted, idempotent, and link
files already in a storage recognised."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from tributary.catalog import datasets, drivers
from tributary.catalog.schema import items
from tributary.errors import Conflict, InvalidInput
from tributary.ingest.errors import InvalidLink
from tributary.ingest.links import parse_link
from tributary.usecases.downstream import drain
from tributary.usecases.links import create_link, link_file_name, name_of_url, recognise_links
from tributary.usecases.uploads import upload

SIGNED = (
    "https://bucket.s3.amazonaws.com/cams/cat.jpg"
    "?X-Amz-Credential=AKIAEXAMPLE%2F20261205&X-Amz-Expires=3600&X-Amz-Signature=deadbeef"
)


@pytest.fixture(autouse=True)
def internal_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "internal"
    monkeypatch.setenv("TRIBUTARY_STORAGE_ROOT", str(root))
    return root


@pytest.fixture
def bucket_root(tmp_path) -> Path:
    root = tmp_path / "bucket"
    root.mkdir()
    with_driver = root
    return with_driver


def make_datasets(catalog, bucket_root):
    with catalog.begin() as conn:
        drivers.create(conn, name="d", provider="local", bucket=str(bucket_root))
        datasets.create(conn, name="cams", driver_name="d")
        datasets.create(conn, name="notes")


def item_row(catalog, item_id) -> dict:
    with catalog.begin() as conn:
        return dict(conn.execute(sa.select(items).where(items.c.id == item_id)).mappings().one())


def test_names():
    assert link_file_name("cat.jpg") == "cat.jpg.json"
    assert link_file_name("cat.JSON") == "cat.JSON"
    assert name_of_url(SIGNED) == "cat.jpg"
    assert name_of_url("https://h/") == "link"
    assert name_of_url("https://h/a%20b.png?x=1") == "a b.png"


def test_a_link_on_the_internal_storage_is_a_linked_item_with_its_url_redacted(
    catalog, bucket_root, internal_root
):
    make_datasets(catalog, bucket_root)

    made = create_link(
        catalog, "notes", SIGNED, to="/cams/", metadata={"cam": 3}, description="a cat"
    )

    record = made["item"]
    assert made["status"] == "created"
    assert record["path"] == "/cams/cat.jpg.json"
    assert record["kind"] == "link" and record["mimetype"] == "image/jpeg"
    assert record["url"].startswith("https://bucket.s3.amazonaws.com/cams/cat.jpg?")
    assert "deadbeef" not in json.dumps(record, default=str)
    assert "AKIAEXAMPLE" not in record["url"]
    assert record["metadata"]["user"] == {"cam": 3} and record["description"] == "a cat"
    assert item_row(catalog, record["id"])["source_url"] == SIGNED  # kept, to fetch it
    stored = (internal_root / "notes" / "cams" / "cat.jpg.json").read_bytes()
    assert parse_link(stored).url == SIGNED


def test_a_link_on_a_driver_reaches_the_bucket_through_the_outbox(catalog, bucket_root):
    make_datasets(catalog, bucket_root)

    made = create_link(catalog, "cams", "https://example.com/v/clip.mp4", mimetype="video")
    drain(catalog)

    assert made["item"]["path"] == "/clip.mp4.json"
    assert made["item"]["mimetype"] == "video/mp4"
    link = parse_link((bucket_root / "clip.mp4.json").read_bytes())
    assert link.url == "https://example.com/v/clip.mp4" and link.name == "clip.mp4"
    assert item_row(catalog, made["item"]["id"])["downstream"] is None


def test_the_same_link_again_is_skipped_another_url_a_conflict_unless_overwrite(
    catalog, bucket_root
):
    make_datasets(catalog, bucket_root)
    first = create_link(catalog, "notes", "https://example.com/a.jpg")

    again = create_link(catalog, "notes", "https://example.com/a.jpg")
    with pytest.raises(Conflict):
        create_link(catalog, "notes", "https://example.com/b.jpg", name="a.jpg")
    replaced = create_link(
        catalog, "notes", "https://example.com/b.jpg", name="a.jpg", overwrite=True
    )

    assert again["status"] == "skipped" and again["item"]["id"] == first["item"]["id"]
    assert replaced["status"] == "replaced" and replaced["item"]["id"] == first["item"]["id"]
    assert replaced["item"]["url"] == "https://example.com/b.jpg"
    with catalog.begin() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(items)).scalar() == 1


@pytest.mark.parametrize(
    ("url", "kwargs", "error"),
    [
        ("ftp://example.com/a.jpg", {}, InvalidLink),
        ("https://user:pw@example.com/a.jpg", {}, InvalidLink),
        ("https://example.com/a.jpg", {"mimetype": "not a type"}, InvalidLink),
        ("https://example.com/a.jpg", {"name": "a/b.jpg"}, InvalidInput),
        ("https://example.com/a.jpg", {"to": "/.tributary/"}, InvalidInput),
    ],
)
def test_bad_links_are_refused_and_nothing_is_written(catalog, bucket_root, url, kwargs, error):
    make_datasets(catalog, bucket_root)

    with pytest.raises(error) as raised:
        create_link(catalog, "notes", url, **kwargs)

    assert "\n" not in str(raised.value) and "pw" not in str(raised.value)
    with catalog.begin() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(items)).scalar() == 0


def test_link_files_already_in_the_storage_are_recognised(catalog, bucket_root):
    make_datasets(catalog, bucket_root)
    theirs = json.dumps(
        {
            "type": "link",
            "shebang": "dataloop",
            "metadata": {
                "dltype": "link",
                "linkInfo": {"type": "url", "ref": "https://example.com/x.png"},
            },
        }
    ).encode()
    made = [
        upload(catalog, "notes", path, io.BytesIO(body))["item"]["id"]
        for path, body in [
            ("/x.png.json", theirs),
            ("/data.json", b'{"rows": [1, 2]}'),
            ("/broken.json", b'{"type": "link", "shebang": "other"}'),
            ("/y.jpg", b"jpeg"),
        ]
    ]

    assert recognise_links(catalog, "notes", min(made), max(made)) == 0  # the upload did
    with catalog.begin() as conn:  # as a sync indexes it: a file
        conn.execute(items.update().values(kind="file", source_url=None))
    assert recognise_links(catalog, "notes", min(made), max(made)) == 1
    kinds = [item_row(catalog, i)["kind"] for i in made]
    assert kinds == ["link", "file", "file", "file"]
    link = item_row(catalog, made[0])
    assert (
        link["source_url"] == "https://example.com/x.png" and link["mimetype"] == "image/jpeg"
    )  # the spec default


def test_uploading_a_link_file_makes_a_linked_item(catalog, bucket_root):
    make_datasets(catalog, bucket_root)
    theirs = json.dumps(
        {
            "type": "link",
            "shebang": "dataloop",
            "metadata": {
                "dltype": "link",
                "linkInfo": {"type": "url", "ref": SIGNED, "mimetype": "image/png"},
            },
        }
    ).encode()

    linked = upload(catalog, "cams", "/x.json", io.BytesIO(theirs))["item"]
    plain = upload(catalog, "cams", "/y.json", io.BytesIO(b'{"type": "other"}'))["item"]
    big = upload(catalog, "cams", "/z.json", io.BytesIO(theirs + b" " * 70_000))["item"]

    assert (linked["kind"], linked["mimetype"]) == ("link", "image/png")
    assert item_row(catalog, linked["id"])["source_url"] == SIGNED
    assert "deadbeef" not in json.dumps(linked, default=str)
    assert plain["kind"] == "file" and big["kind"] == "file"
    replaced = upload(catalog, "cams", "/x.json", io.BytesIO(b'{"rows": []}'), overwrite=True)[
        "item"
    ]
    assert replaced["id"] == linked["id"] and replaced["kind"] == "file"
    assert replaced["mimetype"] == "application/json"
    assert item_row(catalog, linked["id"])["source_url"] is None


def test_items_json_shows_the_kind_and_the_redacted_url(catalog, bucket_root, capsys, monkeypatch):
    from tests.test_cli import json_lines, tributary

    make_datasets(catalog, bucket_root)
    create_link(catalog, "notes", SIGNED)
    upload(catalog, "notes", "/plain.txt", io.BytesIO(b"text"))

    code, out, _ = tributary(capsys, monkeypatch, "items", "notes", "--json")

    assert code == 0 and "deadbeef" not in out and "AKIAEXAMPLE" not in out
    found = {record["path"]: record for record in json_lines(out)}
    assert found["/cat.jpg.json"]["kind"] == "link"
    assert found["/cat.jpg.json"]["url"].startswith("https://bucket.s3.amazonaws.com/cams/")
    assert "X-Amz-Signature=REDACTED" in found["/cat.jpg.json"]["url"]
    assert (found["/plain.txt"]["kind"], found["/plain.txt"]["url"]) == ("file", None)
