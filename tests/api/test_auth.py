"""Every route asks who calls: no token 401, a forged one 401, a viewer reads and is
refused every write (403) before anything happens."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute

from tests.api.conftest import API
from tributary.api import create_app

WRITES = [
    ("POST", "/datasets"),
    ("PATCH", "/datasets/d"),
    ("PUT", "/datasets/d/quota"),
    ("POST", "/datasets/d/clone"),
    ("POST", "/drivers"),
    ("POST", "/drivers/x/check"),
    ("PATCH", "/datasets/d/items/1"),
    ("DELETE", "/datasets/d/items/1"),
    ("POST", "/datasets/d/items/1/restore"),
    ("POST", "/datasets/d/items/1/move"),
    ("POST", "/datasets/d/metadata"),
    ("PUT", "/datasets/d/files/a.jpg"),
    ("POST", "/datasets/d/uploads"),
    ("POST", "/datasets/d/sync"),
    ("POST", "/datasets/d/preprocess"),
    ("POST", "/datasets/d/links"),
    ("POST", "/datasets/d/imports"),
]
READS = [
    "/datasets",
    "/datasets/d",
    "/datasets/d/quota",
    "/drivers",
    "/drivers/x",
    "/datasets/d/items",
    "/datasets/d/items/by-path?path=/a",
    "/datasets/d/items/1",
    "/datasets/d/items/1/content",
    "/datasets/d/items/1/thumbnail",
    "/datasets/d/syncs",
    "/datasets/d/syncs/1",
    "/datasets/d/imports",
    "/datasets/d/imports/1",
    "/datasets/d/imports/1/errors.csv",
]


def _api_routes() -> set[tuple[str, str]]:
    app = create_app(catalog=object(), authorizer=object(), drains=object(), runs=object())
    return {
        (method, route.path.removeprefix("/api/v1"))
        for route in app.routes
        if isinstance(route, APIRoute)
        for method in route.methods - {"HEAD"}
    }


def test_the_lists_here_cover_every_route():
    covered = {(m, p.split("?")[0]) for m, p in WRITES} | {("GET", p.split("?")[0]) for p in READS}
    example = {"dataset": "d", "item_id": "1", "sync_id": "1", "import_id": "1", "name": "x"}
    routes = {
        (method, path.replace("{path:path}", "a.jpg").format(**example))
        for method, path in _api_routes()
    }
    assert routes == covered


@pytest.mark.parametrize(("method", "path"), [("GET", p) for p in READS] + WRITES)
def test_no_token_is_401_with_one_json_line(anonymous, method, path):
    answer = anonymous.request(method, path)
    assert answer.status_code == 401
    assert "not authenticated" in answer.json()["detail"]


@pytest.mark.parametrize(("method", "path"), [("GET", "/datasets"), ("POST", "/datasets")])
def test_a_forged_token_is_401(live, method, path):
    import httpx

    answer = httpx.request(
        method, live.url + API + path, headers={"Authorization": "Bearer forged"}, json={}
    )
    assert answer.status_code == 401
    assert "refused" in answer.json()["detail"]


@pytest.mark.parametrize(("method", "path"), WRITES)
def test_a_viewer_is_refused_every_write(viewer, admin, method, path):
    answer = viewer.request(method, path, json={})
    assert answer.status_code == 403, answer.text
    assert "may not change" in answer.json()["detail"]
    assert admin.get("/datasets").json() == {"datasets": []}  # nothing was made


def test_the_ui_cookie_authenticates_too(live):
    import httpx

    answer = httpx.get(live.url + API + "/datasets", cookies={"_token": "token-viewer"})
    assert answer.status_code == 200
    assert answer.json() == {"datasets": []}


def test_a_viewer_reads(viewer, admin):
    assert admin.post("/datasets", json={"name": "inbox"}).status_code == 201
    assert viewer.get("/datasets/inbox").json()["name"] == "inbox"
    assert viewer.get("/datasets/inbox/items").json() == {"items": [], "next": None}
