"""The API's answers over real HTTP: errors with their status as one JSON line, content
ranges, thumbnails with ETags, multipart uploads, triggers, links, imports, drivers."""

from __future__ import annotations

import io
import os

import pytest
from PIL import Image

from tests.preprocess.test_batch import run_all

pytestmark = pytest.mark.timeout(300)


def _upload(client, dataset: str, path: str, data: bytes, **params):
    return client.put(f"/datasets/{dataset}/files{path}", content=data, params=params)


@pytest.fixture
def inbox(admin):
    assert admin.post("/datasets", json={"name": "inbox"}).status_code == 201
    return "inbox"


def _jpeg(size=(64, 48), color=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG")
    return out.getvalue()


def test_errors_are_one_json_line_with_their_status(admin, inbox, monkeypatch):
    assert admin.get("/datasets/nope").status_code == 404
    assert admin.get("/datasets/nope/items").json()["detail"].count("\n") == 0
    assert _upload(admin, inbox, "/a.txt", b"one").json()["status"] == "created"
    conflict = _upload(admin, inbox, "/a.txt", b"two")
    assert (conflict.status_code, "a.txt" in conflict.json()["detail"]) == (409, True)
    hostile = admin.put(f"/datasets/{inbox}/files/.tributary/x.txt", content=b"x")
    assert hostile.status_code == 422
    monkeypatch.setenv("TRIBUTARY_UPLOAD_MAX_BYTES", "10")
    assert _upload(admin, inbox, "/big.txt", b"x" * 11).status_code == 413
    monkeypatch.delenv("TRIBUTARY_UPLOAD_MAX_BYTES")
    assert admin.put(f"/datasets/{inbox}/quota", json={"limit": 1}).status_code == 200
    quota = _upload(admin, inbox, "/b.txt", b"b")
    assert quota.status_code == 507
    assert [i["path"] for i in admin.get(f"/datasets/{inbox}/items").json()["items"]] == ["/a.txt"]
    invalid = admin.post("/datasets", json={"name": "x", "bogus": 1})
    assert invalid.status_code == 422
    assert "bogus" in invalid.json()["detail"]
    limit = admin.get(f"/datasets/{inbox}/items", params={"limit": 0})
    assert limit.status_code == 422


def test_content_ranges(admin, inbox):
    data = os.urandom(3 * 1024 * 1024 + 5)
    item = _upload(admin, inbox, "/blob.bin", data).json()["item"]
    route = f"/datasets/{inbox}/items/{item['id']}/content"
    whole = admin.get(route)
    assert (whole.status_code, whole.content) == (200, data)
    assert whole.headers["accept-ranges"] == "bytes"
    part = admin.get(route, headers={"Range": "bytes=1048570-1048585"})
    assert part.status_code == 206
    assert part.content == data[1048570:1048586]
    assert part.headers["content-range"] == f"bytes 1048570-1048585/{len(data)}"
    tail = admin.get(route, headers={"Range": "bytes=-7"})
    assert (tail.status_code, tail.content) == (206, data[-7:])
    past = admin.get(route, headers={"Range": f"bytes={len(data)}-"})
    assert past.status_code == 416
    assert past.headers["content-range"] == f"bytes */{len(data)}"


def test_a_deleted_items_content_is_not_served(admin, inbox):
    item = _upload(admin, inbox, "/gone.txt", b"bye").json()["item"]
    answer = admin.delete(f"/datasets/{inbox}/items/{item['id']}")
    assert answer.json()["bucket_file"] == "internal"
    assert admin.get(f"/datasets/{inbox}/items/{item['id']}/content").status_code == 404


def test_thumbnails_carry_an_etag_and_cache_by_version(live, admin, inbox):
    item = _upload(admin, inbox, "/red.jpg", _jpeg()).json()["item"]
    route = f"/datasets/{inbox}/items/{item['id']}/thumbnail"
    pending = admin.get(route)
    assert pending.status_code == 404
    assert "not preprocessed yet" in pending.json()["detail"]
    assert run_all(live.catalog)["done"] == 1
    first = admin.get(route)
    assert first.status_code == 200
    assert Image.open(io.BytesIO(first.content)).size[0] > 0
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "private, no-cache"
    assert admin.get(route, headers={"If-None-Match": etag}).status_code == 304
    versioned = admin.get(route, params={"v": etag.strip('"')})
    assert "immutable" in versioned.headers["cache-control"]

    # New content: a new thumbnail, under a new version.
    again = _upload(admin, inbox, "/red.jpg", _jpeg(color=(0, 0, 255)), overwrite="true")
    assert again.json()["status"] == "replaced"
    run_all(live.catalog)
    assert admin.get(route).headers["etag"] != etag


def test_a_multipart_form_uploads_each_file_and_reports_each(live, admin, inbox):
    _upload(admin, inbox, "/form/taken.txt", b"old")
    files = [
        ("file", ("cam1/a.jpg", b"aaa", "image/jpeg")),
        ("file", ("taken.txt", b"new", "text/plain")),
        ("file", ("../escape.txt", b"x", "text/plain")),
        ("file", ("b.bin", os.urandom(2 * 1024 * 1024), "application/octet-stream")),
    ]
    answer = admin.post(
        f"/datasets/{inbox}/uploads",
        params={"to": "/form/"},
        data={"metadata": '{"shift": "night"}'},
        files=files,
    )
    assert answer.status_code == 200, answer.text
    outcomes = answer.json()
    assert [(o["file"], o["status"]) for o in outcomes["files"]] == [
        ("cam1/a.jpg", "created"),
        ("taken.txt", "conflict"),
        ("../escape.txt", "error"),
        ("b.bin", "created"),
    ]
    assert outcomes["failed"] == 2
    assert outcomes["files"][2]["code"] == 422
    made = admin.get(f"/datasets/{inbox}/items/by-path", params={"path": "/form/cam1/a.jpg"})
    assert made.json()["metadata"]["user"] == {"shift": "night"}
    big = admin.get(f"/datasets/{inbox}/items/by-path", params={"path": "/form/b.bin"}).json()
    assert big["size"] == 2 * 1024 * 1024
    # A drain emits the uploads' items-created event (so preprocessing runs).
    assert set(live.drains.requests) == {(inbox, "token-admin")}


def test_a_multipart_body_cut_inside_a_file_keeps_nothing(admin, inbox):
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="cut.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n" + b"x" * 5000
    )
    answer = admin.post(
        f"/datasets/{inbox}/uploads",
        content=body,
        headers={"Content-Type": "multipart/form-data; boundary=XyZ"},
    )
    assert answer.json()["files"][0]["status"] == "error"
    assert admin.get(f"/datasets/{inbox}/items", params={"state": "all"}).json()["items"] == []


def test_triggers_ask_airflow_with_the_callers_token(live, admin, tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.txt").write_text("x")
    from tributary.usecases.drivers import create_driver

    create_driver(live.catalog, name="d", provider="local", bucket=str(tmp_path / "b"))
    made = admin.post("/datasets", json={"name": "ext", "driver": "d"}).json()
    assert made["initial_sync"]["dag_id"] == "tributary_initial_sync"
    run = admin.post("/datasets/ext/sync", json={"dry_run": True}).json()
    assert run["dag_id"] == "tributary_upstream_sync"
    admin.post("/datasets/ext/preprocess", json={"force": True})
    assert [(dag, conf, token) for dag, conf, token in live.runs.requests] == [
        ("tributary_initial_sync", {"dataset": "ext"}, "token-admin"),
        (
            "tributary_upstream_sync",
            {"dataset": "ext", "dry_run": True, "allow_mass_delete": False},
            "token-admin",
        ),
        ("tributary_preprocess", {"dataset": "ext", "force": True}, "token-admin"),
    ]
    clone = admin.post("/datasets/ext/clone", json={"target": "copy", "driver": "d"})
    assert clone.status_code == 201, clone.text
    refused = admin.post("/datasets/copy/sync", json={})
    assert refused.status_code == 409
    assert "clone" in refused.json()["detail"]
    assert admin.get("/datasets/ext/syncs").json() == {"syncs": []}
    assert admin.get("/datasets/ext/syncs/99").status_code == 404


def test_a_driver_whose_probe_fails_is_not_kept_and_the_report_says_why(admin, tmp_path):
    answer = admin.post(
        "/drivers", json={"name": "gone", "provider": "local", "bucket": str(tmp_path / "none")}
    )
    assert answer.status_code == 422
    assert "not created" in answer.json()["detail"]
    assert "check" in answer.json()
    assert admin.get("/drivers").json() == {"drivers": []}
    (tmp_path / "ok").mkdir()
    made = admin.post(
        "/drivers", json={"name": "ok", "provider": "local", "bucket": str(tmp_path / "ok")}
    )
    assert (made.status_code, made.json()["check_ok"]) == (201, True)
    assert admin.get("/drivers/ok").json()["last_check"]["ok"] is True
    assert admin.post("/drivers/ok/check").json()["check_ok"] is True


def test_bulk_metadata_from_csv(admin, inbox):
    _upload(admin, inbox, "/a.txt", b"a")
    body = b'path,metadata\n/a.txt,"{""lot"": 4}"\n/missing.txt,{}\n'
    report = admin.post(
        f"/datasets/{inbox}/metadata", content=body, headers={"Content-Type": "text/csv"}
    ).json()
    assert report["applied"] == 1
    assert [e["line"] for e in report["errors"]] == [3]
    found = admin.get(f"/datasets/{inbox}/items", params=[("meta", "lot=4")]).json()["items"]
    assert [i["path"] for i in found] == ["/a.txt"]


def test_links_and_imports(live, admin, inbox):
    link = admin.post(
        f"/datasets/{inbox}/links", json={"url": "https://example.com/pics/cat.jpg", "to": "/l/"}
    )
    assert link.status_code == 201, link.text
    assert link.json()["item"]["kind"] == "link"
    started = admin.post(
        f"/datasets/{inbox}/imports",
        params={"name": "rows.csv"},
        content=b"ID,URL\n1,https://example.com/1.jpg\n",
    )
    assert started.status_code == 201, started.text
    record = started.json()
    assert record["run"]["dag_id"] == "tributary_csv_ingest"
    assert live.runs.requests[-1][1] == {"dataset": inbox, "import_id": record["id"]}
    listed = admin.get(f"/datasets/{inbox}/imports").json()["imports"]
    assert [i["id"] for i in listed] == [record["id"]]
    assert admin.get(f"/datasets/{inbox}/imports/{record['id']}").json()["id"] == record["id"]
    assert admin.get(f"/datasets/{inbox}/imports/{record['id']}/errors.csv").status_code == 404


def test_the_openapi_docs_answer(live):
    import httpx

    assert httpx.get(live.url + "/tributary/api/v1/docs").status_code == 200
    spec = httpx.get(live.url + "/tributary/api/v1/openapi.json").json()
    assert "/api/v1/datasets/{dataset}/items" in spec["paths"]
    assert spec["paths"]["/api/v1/datasets/{dataset}/files/{path}"]["put"]


def test_a_linked_items_content_streams_from_its_url(admin, inbox, monkeypatch):
    from tests.ingest.http_server import TestServer

    monkeypatch.setenv("TRIBUTARY_FETCH_ALLOW", "127.0.0.1")
    body = bytes(range(256)) * 100
    with TestServer() as server:
        server.files["clip.mp4"] = body
        made = admin.post(
            f"/datasets/{inbox}/links",
            json={"url": server.url("/files/clip.mp4"), "mimetype": "video"},
        ).json()["item"]
        gone = admin.post(
            f"/datasets/{inbox}/links",
            json={"url": server.url("/status/404?X-Amz-Signature=deadbeef"), "name": "gone"},
        ).json()["item"]
        route = f"/datasets/{inbox}/items/{made['id']}/content"
        whole = admin.get(route)
        assert (whole.status_code, whole.content) == (200, body)
        assert whole.headers["content-type"].startswith("video/")
        part = admin.get(route, headers={"Range": "bytes=10-19"})
        assert (part.status_code, part.content) == (206, body[10:20])
        failed = admin.get(f"/datasets/{inbox}/items/{gone['id']}/content")
        assert failed.status_code == 502
        assert "404" in failed.json()["detail"]
        assert "deadbeef" not in failed.text
