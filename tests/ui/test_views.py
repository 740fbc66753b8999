"""What the pages read, without a browser: the folder tree's loose index scan (SQLite and
PostgreSQL), filters from a query string, and the escaping of every rendered value."""

from __future__ import annotations

import datetime as dt

import pytest
from starlette.datastructures import QueryParams

from tributary.api.ui import views
from tributary.api.ui.pages import templates
from tributary.catalog import datasets
from tributary.catalog.schema import items
from tributary.errors import InvalidInput

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def add(catalog, paths: list[str], state: str = "active") -> None:
    with catalog.begin() as conn:
        dataset_id = datasets.get(conn, "ds").id
        conn.execute(
            items.insert(),
            [
                {
                    "dataset_id": dataset_id,
                    "path": path,
                    "storage_key": f"{state}{path}",
                    "size": 1,
                    "state": state,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for path in paths
            ],
        )


def tree(catalog, folder: str, state: str = "active"):
    with catalog.begin() as conn:
        dataset_id = datasets.get(conn, "ds").id
        return views.child_folders(conn, dataset_id, folder, state=state)


@pytest.fixture
def ds(catalog):
    with catalog.begin() as conn:
        datasets.create(conn, name="ds", driver_name=None)
    return catalog


def test_folder_tree_one_level_in_order(ds):
    add(
        ds,
        [
            "/a.txt",
            "/a-b/x.jpg",
            "/a/x.jpg",
            "/a/deep/y.jpg",
            "/a0/z.jpg",
            "/b.txt",
            "/zz/é/ü.jpg",
            "/Été/1.jpg",
            "/.tributary/never.txt",
            "/z.txt",
        ],
    )
    # Found in path order ('-' < '/' < '0'), shown by name; the hidden folder never.
    assert tree(ds, "/") == (["a", "a-b", "a0", "zz", "Été"], False)
    assert tree(ds, "/a/") == (["deep"], False)
    assert tree(ds, "/zz/") == (["é"], False)
    assert tree(ds, "/a/deep/") == ([], False)
    assert tree(ds, "/nothing/") == ([], False)


def test_folder_tree_hides_folders_without_items_in_the_state(ds):
    add(ds, ["/kept/1.jpg"])
    add(ds, ["/gone/1.jpg", "/kept/2.jpg"], state="deleted")
    assert tree(ds, "/") == (["kept"], False)
    assert tree(ds, "/", state="deleted") == (["gone", "kept"], False)
    assert tree(ds, "/", state="all") == (["gone", "kept"], False)


def test_folder_tree_stops_at_its_limit(ds, monkeypatch):
    monkeypatch.setattr(views, "MAX_FOLDERS", 5)
    add(ds, [f"/f{i:02d}/x.jpg" for i in range(7)])
    assert tree(ds, "/") == ([f"f{i:02d}" for i in range(5)], True)


def test_filters_from_a_query_string():
    found = views.parse_filters(
        QueryParams("folder=a/b&state=ghost&meta=k%3Dv&meta=n%3D3&name=cat&mimetype=image/*")
    )
    assert found.folder == "/a/b/"
    assert found.meta == ["k=v", "n=3"]
    assert "meta=k%3Dv&meta=n%3D3" in found.query(after="CUR")
    assert found.query(after="CUR").endswith("after=CUR")
    with pytest.raises(InvalidInput):
        views.parse_filters(QueryParams("state=<script>"))


def test_every_value_is_escaped():
    class Links:
        ui, api, static, airflow = "/t/ui", "/t/api/v1", "/t/ui/static", ""

        def dataset(self, name):
            return f"/t/ui/datasets/{views.quoted(name)}"

        def api_dataset(self, name):
            return f"/t/api/v1/datasets/{views.quoted(name)}"

    evil = "<img src=x onerror=alert(1)>"
    record = views.card(
        {
            "id": 1,
            "path": f"/{evil}",
            "state": "active",
            "kind": "file",
            "size": 1,
            "etag": None,
            "mimetype": "image/jpeg",
            "mtime": None,
            "created_at": NOW,
            "metadata": {"system": {evil: evil}, "user": {evil: evil}},
            "description": evil,
            "preprocess_state": "failed",
            "preprocess_error": f'"{evil}',
            "preprocessed_at": None,
            "thumbnail": None,
            "downstream": None,
            "deleted_at": None,
            "url": None,
        },
        "/t/api/v1/datasets/ds/items",
    )
    record.update(delete_says="x", bucket_file="kept", move_rule=None)
    for may_write in (True, False):
        html = templates.get_template("item.html").render(
            links=Links(),
            title=evil,
            section="datasets",
            may_write=may_write,
            dataset=evil,
            item=record,
            fragment=False,
            user=evil,
        )
        assert evil not in html
        assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_folder_tree_under_a_linguistic_collation_reads_the_rows(ds, monkeypatch):
    """Where text does not compare by code point the seek cannot jump: the folder's rows
    are read instead, with the same answer."""
    if ds.engine.dialect.name != "postgresql":  # SQLite always compares by code point
        with ds.begin() as conn:
            assert views.item_pages._compares_by_code_point(conn)
        return
    add(ds, ["/a.txt", "/a-b/x.jpg", "/a/x.jpg", "/a/deep/y.jpg", "/.tributary/n.txt", "/Été/1"])
    monkeypatch.setattr(views.item_pages, "_compares_by_code_point", lambda conn: False)
    assert tree(ds, "/") == (["a", "a-b", "Été"], False)
    assert tree(ds, "/a/") == (["deep"], False)


def _page_routes() -> list[str]:
    from fastapi.routing import APIRoute

    from tributary.api import create_app

    app = create_app(catalog=object(), authorizer=object(), drains=object(), runs=object())
    example = {"dataset": "photos", "item_id": "1", "sync_id": "1", "name": "app.js"}
    return sorted(
        route.path.format(**example)
        for route in app.routes
        if isinstance(route, APIRoute) and route.path.startswith("/ui")
    )


def test_every_page_asks_who_calls(site):
    """No login: 401 on every page, fragment and asset (an HTML page says to log in);
    a viewer's cookie: the page."""
    import httpx

    routes = _page_routes()
    assert len(routes) == 11
    for path in routes:
        anonymous = httpx.get(f"{site.url}/tributary{path}")
        assert anonymous.status_code == 401, path
        viewer = httpx.get(f"{site.url}/tributary{path}", cookies={"_token": "token-viewer"})
        assert viewer.status_code == 200, (path, viewer.text[:300])
        if "/static/" not in path:
            assert "frame-ancestors 'self'" in viewer.headers["content-security-policy"]
            assert "Log in to Airflow" in anonymous.text
    forged = httpx.get(f"{site.url}/tributary/ui/", cookies={"_token": "forged"})
    assert forged.status_code == 401 and "refused" in forged.text


def test_the_vendored_htmx_is_the_pinned_one():
    """The committed copy is the version package.json pins (and, after `npm ci`, the very
    file npm installed): no CDN, no drift."""
    import json
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    pinned = json.loads((repo / "package.json").read_text())["dependencies"]["htmx.org"]
    vendored = repo / "include/tributary/api/ui/static/vendor/htmx.min.js"
    assert f'version:"{pinned}"' in vendored.read_text()
    installed = repo / "node_modules/htmx.org/dist/htmx.min.js"
    if installed.exists():
        assert installed.read_bytes() == vendored.read_bytes()
