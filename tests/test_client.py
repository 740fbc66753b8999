"""``tributary.client``: request shapes, errors, pages, streamed uploads (unit tests on
httpx's MockTransport; the client against the real API server is in
``tests/e2e/test_client_api.py``)."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading

import httpx
import pytest

from tributary import client as client_module
from tributary.client import (
    API_PREFIX,
    CHUNK,
    Client,
    ClientError,
    Conflict,
    FileChanged,
    Forbidden,
    Invalid,
    NotFound,
    QuotaExceeded,
    ServerUnreachable,
    TooLarge,
    Unauthorized,
    plan_upload,
)

SECRET = "s3cr3t-pw"  # noqa: S105 - a fake login, to find in messages

# Until the REST API (branch api) is merged here, the tests against it cannot run.


class StreamingTransport(httpx.BaseTransport):
    """httpx's MockTransport, except that a request's body reaches the handler unread (the
    MockTransport reads it whole first, which would hide a body read into memory)."""

    def __init__(self, handler) -> None:
        self.handler = handler

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self.handler(request)


class FakeServer:
    """A transport's handler: answers the login, records every request, and passes the
    others to ``route(request) -> httpx.Response``."""

    def __init__(self, route=None) -> None:
        self.route = route or (lambda request: httpx.Response(200, json={}))
        self.requests: list[httpx.Request] = []
        self.bodies: list[bytes] = []
        self.streamed: list[bool] = []  # whether each body came as a stream of chunks
        self.logins = 0
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/auth/token":
            with self.lock:
                self.logins += 1
                login = json.loads(request.read())
            if login["password"] != SECRET:
                return httpx.Response(401, json={"detail": "Invalid credentials"})
            return httpx.Response(201, json={"access_token": f"token-{self.logins}"})
        streamed = not isinstance(request.stream, httpx.ByteStream)
        body = b"".join(request.stream)  # read here, chunk by chunk
        with self.lock:
            self.streamed.append(streamed)
            self.requests.append(request)
            self.bodies.append(body)
        return self.route(request)

    def client(self, **kwargs) -> Client:
        url = kwargs.pop("url", f"http://admin:{SECRET}@api.test:8080")
        return Client(url, transport=StreamingTransport(self), **kwargs)


# -- logging in ----------------------------------------------------------------------------


def test_login_from_the_url_never_shows_the_password():
    server = FakeServer()
    api = server.client()
    api._json("GET", "/datasets")
    api._json("GET", "/drivers")

    assert api.url == "http://api.test:8080"
    assert SECRET not in repr(api) and SECRET not in api.url
    assert server.logins == 1  # one token for the client's lifetime
    assert all(r.headers["Authorization"] == "Bearer token-1" for r in server.requests)
    assert server.requests[0].url.path == f"{API_PREFIX}/datasets"


def test_a_given_token_is_used_without_logging_in():
    server = FakeServer()
    api = server.client(url="http://api.test", token="jwt-1")  # noqa: S106
    api._json("GET", "/datasets")
    assert server.logins == 0
    assert server.requests[0].headers["Authorization"] == "Bearer jwt-1"


def test_an_expired_token_logs_in_again_once():
    answers = iter([httpx.Response(401, json={"detail": "token expired"})])

    def route(request):
        return next(answers, httpx.Response(200, json={"datasets": []}))

    server = FakeServer(route)
    assert server.client().datasets() == []
    assert server.logins == 2
    assert [r.headers["Authorization"] for r in server.requests] == [
        "Bearer token-1",
        "Bearer token-2",
    ]


def test_a_refused_login_is_one_line_naming_the_user_not_the_password():
    server = FakeServer()
    api = server.client(url="http://api.test", user="alice", password="wrong-pw")  # noqa: S106
    with pytest.raises(Unauthorized) as raised:
        api.datasets()
    message = str(raised.value)
    assert "'alice'" in message and "http://api.test" in message
    assert "wrong-pw" not in message and "\n" not in message


def test_from_env_reads_the_cli_settings(monkeypatch):
    monkeypatch.setenv("TRIBUTARY_AIRFLOW_URL", f"http://bob:{SECRET}@remote:9999/")
    monkeypatch.delenv("TRIBUTARY_AIRFLOW_USER", raising=False)
    monkeypatch.delenv("TRIBUTARY_AIRFLOW_PASSWORD", raising=False)
    api = Client.from_env()
    assert (api.url, api.user, api._password) == ("http://remote:9999", "bob", SECRET)
    monkeypatch.setenv("TRIBUTARY_AIRFLOW_USER", "carol")
    monkeypatch.setenv("TRIBUTARY_AIRFLOW_PASSWORD", "other")
    api = Client.from_env()
    assert (api.user, api._password) == ("carol", "other")


# -- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        pytest.param(400, Invalid, id="400"),
        pytest.param(403, Forbidden, id="403"),
        pytest.param(404, NotFound, id="404"),
        pytest.param(409, Conflict, id="409"),
        pytest.param(413, TooLarge, id="413"),
        pytest.param(422, Invalid, id="422"),
        pytest.param(507, QuotaExceeded, id="507"),
        pytest.param(502, ServerUnreachable, id="502"),
        pytest.param(418, ClientError, id="other"),
    ],
)
def test_each_status_is_its_own_error_with_the_servers_line(status, kind):
    server = FakeServer(lambda r: httpx.Response(status, json={"detail": "what\nwent  wrong"}))
    with pytest.raises(kind) as raised:
        server.client().dataset("x")
    assert type(raised.value) is kind
    assert raised.value.status == status
    assert str(raised.value).endswith("what went wrong")
    assert "\n" not in str(raised.value)


def test_fastapis_validation_list_and_a_plain_text_answer_are_one_line():
    detail = [{"loc": ["query", "limit"], "msg": "too big"}, {"loc": ["body"], "msg": "missing"}]
    server = FakeServer(lambda r: httpx.Response(422, json={"detail": detail}))
    with pytest.raises(Invalid, match=r"^query.limit: too big; body: missing$"):
        server.client().items("x")
    server = FakeServer(lambda r: httpx.Response(500, text="<html>\nBad Gateway\n</html>"))
    with pytest.raises(ServerUnreachable, match=r"^HTTP 500: <html> Bad Gateway </html>$"):
        server.client().items("x")


def test_no_server_is_server_unreachable_naming_the_url_without_the_password():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api = Client(f"http://admin:{SECRET}@127.0.0.1:{port}", timeout=5)
    with pytest.raises(ServerUnreachable) as raised:
        api.datasets()
    assert f"http://127.0.0.1:{port}" in str(raised.value)
    assert SECRET not in str(raised.value)
    assert raised.value.status is None


# -- routes --------------------------------------------------------------------------------


def test_iter_items_follows_the_cursor_and_sends_the_filters():
    pages = {
        None: {"items": [{"id": 1}, {"id": 2}], "next": "c1"},
        "c1": {"items": [{"id": 3}], "next": "c2"},
        "c2": {"items": [], "next": None},
    }

    def route(request):
        return httpx.Response(200, json=pages[request.url.params.get("after")])

    server = FakeServer(route)
    found = server.client().iter_items(
        "my ds", prefix="/cam 1/", state="all", metadata={"camera": 7, "area": "north"}
    )
    assert [item["id"] for item in found] == [1, 2, 3]
    first = server.requests[0].url
    assert first.raw_path.decode().startswith(f"{API_PREFIX}/datasets/my%20ds/items?")
    assert first.params.get_list("meta") == ["camera=7", "area=north"]
    assert (first.params["prefix"], first.params["state"], first.params["limit"]) == (
        "/cam 1/",
        "all",
        "1000",
    )
    assert "after" not in first.params
    assert server.requests[2].url.params["after"] == "c2"


@pytest.mark.parametrize(
    ("call", "method", "path", "body"),
    [
        pytest.param(
            lambda c: c.edit_item("d", 5, metadata={"a": 1}, remove=["b"]),
            "PATCH",
            "/datasets/d/items/5",
            {"metadata": {"a": 1}, "remove": ["b"]},
            id="edit-merge",
        ),
        pytest.param(
            lambda c: c.edit_item("d", 5, description=None, replace=True, metadata={}),
            "PATCH",
            "/datasets/d/items/5",
            {"metadata": {}, "replace": True, "description": None},
            id="edit-replace-clear-description",
        ),
        pytest.param(
            lambda c: c.move_item("d", 5, "/new/p.jpg"),
            "POST",
            "/datasets/d/items/5/move",
            {"path": "/new/p.jpg"},
            id="move",
        ),
        pytest.param(
            lambda c: c.clone("a", "b"), "POST", "/datasets/a/clone", {"target": "b"}, id="clone"
        ),
        pytest.param(
            lambda c: c.trigger_sync("d", dry_run=True),
            "POST",
            "/datasets/d/sync",
            {"dry_run": True, "allow_mass_delete": False},
            id="sync",
        ),
        pytest.param(
            lambda c: c.set_quota("d", None),
            "PUT",
            "/datasets/d/quota",
            {"limit": None},
            id="quota",
        ),
        pytest.param(
            lambda c: c.delete_item("d", 5), "DELETE", "/datasets/d/items/5", None, id="del"
        ),
        pytest.param(
            lambda c: c.restore_item("d", 5),
            "POST",
            "/datasets/d/items/5/restore",
            None,
            id="restore",
        ),
    ],
)
def test_routes_and_bodies(call, method, path, body):
    server = FakeServer()
    call(server.client())
    (request,) = server.requests
    assert (request.method, request.url.path) == (method, API_PREFIX + path)
    assert (json.loads(server.bodies[0]) if server.bodies[0] else None) == body


def test_item_by_path_sends_the_path_as_a_query_value():
    server = FakeServer(lambda r: httpx.Response(200, json={"id": 9}))
    assert server.client().item_by_path("d", "/a b/c?.jpg") == {"id": 9}
    assert server.requests[0].url.path == f"{API_PREFIX}/datasets/d/items/by-path"
    assert server.requests[0].url.params["path"] == "/a b/c?.jpg"


def test_download_asks_for_a_range_and_streams_to_a_file(tmp_path):
    server = FakeServer(lambda r: httpx.Response(206, content=b"x" * 3_000_000))
    target = tmp_path / "out.bin"
    assert server.client().download("d", 4, target, start=10, end=3_000_009) == 3_000_000
    assert target.stat().st_size == 3_000_000
    assert server.requests[0].headers["Range"] == "bytes=10-3000009"
    assert server.requests[0].url.path == f"{API_PREFIX}/datasets/d/items/4/content"


def test_bulk_metadata_streams_the_file_with_its_type(tmp_path):
    bulk = tmp_path / "bulk.csv"
    bulk.write_text('path,metadata\n/a.jpg,"{""k"": 1}"\n')
    server = FakeServer(lambda r: httpx.Response(200, json={"applied": 1, "errors": []}))
    assert server.client().apply_metadata("d", bulk)["applied"] == 1
    request = server.requests[0]
    assert request.headers["Content-Type"] == "text/csv"
    assert server.bodies[0] == bulk.read_bytes()
    assert server.streamed == [True]  # streamed, not read whole


# -- uploads -------------------------------------------------------------------------------


def _upload_route(request: httpx.Request) -> httpx.Response:
    path = "/" + request.url.path.split("/files/", 1)[1]
    return httpx.Response(201, json={"status": "created", "item": {"path": path}})


def test_upload_file_streams_with_the_hash_first(tmp_path):
    data = os.urandom(2 * CHUNK + 123)
    local = tmp_path / "big photo.jpg"
    local.write_bytes(data)
    server = FakeServer(_upload_route)
    sent = []

    answer = server.client().upload_file(
        "d", local, "/in/big photo.jpg", metadata={"cam": "é"}, on_bytes=sent.append
    )

    assert answer == {"status": "created", "item": {"path": "/in/big photo.jpg"}}
    request = server.requests[0]
    assert request.method == "PUT"
    assert request.url.raw_path.decode() == f"{API_PREFIX}/datasets/d/files/in/big%20photo.jpg"
    assert request.headers["X-Tributary-SHA256"] == hashlib.sha256(data).hexdigest()
    assert request.headers["Content-Length"] == str(len(data))
    assert "Transfer-Encoding" not in request.headers
    assert request.headers["Content-Type"] == "image/jpeg"
    assert json.loads(request.headers["X-Tributary-Metadata"]) == {"cam": "é"}
    assert "overwrite" not in request.url.params
    assert server.bodies[0] == data
    assert server.streamed == [True]
    assert sent == [CHUNK, CHUNK, 123]  # chunk by chunk, never the file whole


def test_upload_file_overwrite_and_conflict(tmp_path):
    local = tmp_path / "a.txt"
    local.write_text("new")

    def route(request):
        if request.url.params.get("overwrite") == "true":
            return httpx.Response(200, json={"status": "replaced", "item": {}})
        return httpx.Response(409, json={"detail": "a different file is at /a.txt"})

    api = FakeServer(route).client()
    with pytest.raises(Conflict, match=r"a different file is at /a\.txt"):
        api.upload_file("d", local, "/a.txt")
    assert api.upload_file("d", local, "/a.txt", overwrite=True)["status"] == "replaced"


def test_a_file_that_changes_while_sent_is_cut_short(tmp_path):
    local = tmp_path / "moving.bin"
    local.write_bytes(b"a" * (3 * CHUNK))
    os.utime(local, (1_700_000_000, 1_700_000_000))  # so that a write now is a new mtime
    received = []

    def route_reading(request: httpx.Request) -> httpx.Response:
        for chunk in request.stream:
            received.append(len(chunk))
            if len(received) == 1:  # someone writes the file while it is sent
                with local.open("r+b") as file:
                    file.write(b"b")
        return httpx.Response(201, json={"status": "created", "item": {}})

    transport = StreamingTransport(route_reading)
    api = Client("http://api.test", token="t", transport=transport)  # noqa: S106
    with pytest.raises(FileChanged, match="changed while it was uploaded"):
        api.upload_file("d", local, "/moving.bin")
    assert received == [CHUNK, CHUNK]  # the last chunk was held back: never a whole body


def test_a_dropped_connection_is_retried_and_the_body_sent_again(tmp_path, monkeypatch):
    monkeypatch.setattr(client_module.time, "sleep", lambda s: None)
    local = tmp_path / "a.bin"
    local.write_bytes(b"abc" * 1000)
    attempts = []

    def route(request):
        attempts.append(b"".join(request.stream))
        if len(attempts) == 1:
            raise httpx.RemoteProtocolError("server disconnected")
        return httpx.Response(201, json={"status": "created", "item": {}})

    api = Client("http://api.test", token="t", transport=StreamingTransport(route))  # noqa: S106
    assert api.upload_file("d", local, "/a.bin")["status"] == "created"
    assert attempts == [b"abc" * 1000, b"abc" * 1000]


def _tree(root):
    (root / "photos" / "cam1").mkdir(parents=True)
    (root / "photos" / ".tributary").mkdir()
    (root / "photos" / "a.jpg").write_bytes(b"a")
    (root / "photos" / "cam1" / "b.jpg").write_bytes(b"bb")
    (root / "photos" / "cam1" / "c d.jpg").write_bytes(b"ccc")
    (root / "photos" / ".tributary" / "thumb.jpg").write_bytes(b"t")
    (root / "photos" / "link.jpg").symlink_to(root / "photos" / "a.jpg")
    (root / "photos" / "linked-folder").symlink_to(root / "photos" / "cam1")
    (root / "single.txt").write_text("s")


def test_plan_keeps_the_structure_and_leaves_out_links_and_the_hidden_folder(tmp_path):
    _tree(tmp_path)
    plan = plan_upload([tmp_path / "photos", tmp_path / "single.txt"], to="/up/")
    assert sorted(path for _, path, _ in plan.files) == [
        "/up/photos/a.jpg",
        "/up/photos/cam1/b.jpg",
        "/up/photos/cam1/c d.jpg",
        "/up/single.txt",
    ]
    assert plan.total_bytes == 1 + 2 + 3 + 1
    assert sorted(os.path.basename(link) for link in plan.skipped_links) == [
        "link.jpg",
        "linked-folder",
    ]


def test_plan_of_dot_is_the_folders_contents(tmp_path, monkeypatch):
    _tree(tmp_path)
    monkeypatch.chdir(tmp_path / "photos")
    assert sorted(path for _, path, _ in plan_upload(["."]).files) == [
        "/a.jpg",
        "/cam1/b.jpg",
        "/cam1/c d.jpg",
    ]


@pytest.mark.parametrize("to", ["/a/../b", "/.tributary/x"])
def test_plan_refuses_a_folder_outside_the_dataset(tmp_path, to):
    with pytest.raises(Invalid):
        plan_upload([tmp_path], to=to)


def test_plan_of_a_missing_path_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        plan_upload([tmp_path / "nope"])


def test_upload_tree_goes_on_after_a_conflict_and_a_failure(tmp_path):
    _tree(tmp_path)

    def route(request):
        if request.method == "GET":
            return httpx.Response(200, json={"name": "d"})
        path = request.url.path
        if path.endswith("/a.jpg"):
            return httpx.Response(409, json={"detail": "a different file is at /photos/a.jpg"})
        if path.endswith("/b.jpg"):
            return httpx.Response(507, json={"detail": "data-point quota exceeded"})
        if path.endswith("single.txt"):
            return httpx.Response(200, json={"status": "skipped", "item": {"id": 1}})
        return _upload_route(request)

    server = FakeServer(route)
    events = []
    results = server.client().upload_tree(
        "d", [tmp_path / "photos", tmp_path / "single.txt"], jobs=3, progress=events.append
    )
    by_path = {r.path: r for r in results}
    assert {p: r.status for p, r in by_path.items()} == {
        "/photos/a.jpg": "conflict",
        "/photos/cam1/b.jpg": "error",
        "/photos/cam1/c d.jpg": "created",
        "/single.txt": "skipped",
    }
    assert by_path["/photos/cam1/b.jpg"].error == "data-point quota exceeded"
    assert by_path["/photos/a.jpg"].failed and not by_path["/single.txt"].failed
    assert sorted(e.result.path for e in events if e.result) == sorted(by_path)
    assert sum(e.nbytes for e in events) == 1 + 2 + 3 + 1
    json.dumps([r.as_dict() for r in results])  # --json prints these


def test_upload_tree_stops_sending_once_writing_is_forbidden(tmp_path):
    for n in range(20):
        (tmp_path / f"{n:02d}.txt").write_text(str(n))

    def route(request):
        if request.method == "GET":
            return httpx.Response(200, json={"name": "d"})
        return httpx.Response(403, json={"detail": "viewer may not write"})

    server = FakeServer(route)
    results = server.client().upload_tree("d", [tmp_path], jobs=1)
    assert len(results) == 20 and all(r.status == "error" for r in results)
    assert sum(r.method == "PUT" for r in server.requests) == 1
    assert sum(r.error.startswith("not sent: viewer may not write") for r in results) == 19


def test_an_interrupted_upload_tree_stops_sending(tmp_path):
    for n in range(30):
        (tmp_path / f"{n:02d}.bin").write_bytes(b"x" * (3 * CHUNK))
    puts = []

    def route(request):
        if request.method == "GET":
            return httpx.Response(200, json={"name": "d"})
        puts.append(request.url.path)  # its body was read whole by FakeServer
        return httpx.Response(201, json={"status": "created", "item": {}})

    def progress(event):
        if event.result is not None:
            raise KeyboardInterrupt  # the user's Ctrl-C, after the first file

    with pytest.raises(KeyboardInterrupt):
        FakeServer(route).client().upload_tree("d", [tmp_path], jobs=2, progress=progress)
    assert len(puts) <= 3  # the files in flight, never the 30


def test_upload_tree_of_a_missing_dataset_is_one_error(tmp_path):
    (tmp_path / "a.txt").write_text("a")
    server = FakeServer(lambda r: httpx.Response(404, json={"detail": "no dataset 'zz'"}))
    with pytest.raises(NotFound, match="no dataset 'zz'"):
        server.client().upload_tree("zz", [tmp_path])
    assert [r.method for r in server.requests] == ["GET"]


def test_importing_the_client_imports_neither_airflow_nor_sqlalchemy():
    code = (
        "import sys, tributary.client; "
        "print(sorted(m for m in ('airflow', 'sqlalchemy', 'tributary.catalog') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- against the real API on a real HTTP server ----------------------------------------------


@pytest.fixture
def live(live_api_server, tmp_path, monkeypatch):
    """Tributary's API on uvicorn (tests/live_api.py) over a fresh SQLite catalog."""
    from tributary.catalog import Catalog

    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    monkeypatch.setenv("TRIBUTARY_CATALOG_URL", url)
    live_api_server.use(Catalog(url))
    return live_api_server


@pytest.fixture
def synced(live, tmp_path):
    """Dataset ``photos`` on a local driver over five files, synced; a logged-in client."""
    from tests.sync.upstream_steps import upstream_sync
    from tributary.usecases.datasets import create_dataset
    from tributary.usecases.drivers import create_driver

    bucket = tmp_path / "bucket"
    for key in ("cam1/a.jpg", "cam1/b.jpg", "cam1/c.jpg", "cam2/d.jpg", "e.txt"):
        (bucket / key).parent.mkdir(parents=True, exist_ok=True)
        (bucket / key).write_bytes(key.encode() * 1000)
    create_driver(live.catalog, name="local", provider="local", bucket=str(bucket))
    create_dataset(live.catalog, name="photos", driver="local", start_sync=False)
    upstream_sync(live.catalog, "photos")
    with Client(live.url, user="admin", password="admin-pw") as api:  # noqa: S106
        yield api


def test_live_pages_filters_and_lookups(synced):
    everything = list(synced.iter_items("photos", page_size=2))
    assert [i["path"] for i in everything] == [
        "/cam1/a.jpg",
        "/cam1/b.jpg",
        "/cam1/c.jpg",
        "/cam2/d.jpg",
        "/e.txt",
    ]
    assert [i["path"] for i in synced.iter_items("photos", prefix="/cam1/", page_size=1)] == [
        "/cam1/a.jpg",
        "/cam1/b.jpg",
        "/cam1/c.jpg",
    ]
    found = synced.item_by_path("photos", "/cam2/d.jpg")
    assert synced.item("photos", found["id"]) == found
    with pytest.raises(NotFound):
        synced.item_by_path("photos", "/nope.jpg")
    with pytest.raises(NotFound):
        synced.items("no-such-dataset")
    assert [d["name"] for d in synced.datasets()] == ["photos"]
    assert synced.dataset("photos")["driver"] == "local"


def test_live_metadata_edits_and_the_metadata_filter(synced):
    item = synced.item_by_path("photos", "/cam1/b.jpg")
    edited = synced.edit_item(
        "photos", item["id"], metadata={"camera": 7, "area": "north"}, description="gate"
    )
    assert edited["metadata"]["user"] == {"camera": 7, "area": "north"}
    assert edited["description"] == "gate"
    edited = synced.edit_item("photos", item["id"], remove=["area"], description=None)
    assert (edited["metadata"]["user"], edited["description"]) == ({"camera": 7}, None)
    matching = synced.iter_items("photos", metadata={"camera": 7})
    assert [i["path"] for i in matching] == ["/cam1/b.jpg"]

    report = synced.apply_metadata(
        "photos",
        b'{"path": "/cam1/a.jpg", "metadata": {"lot": 3}}\nnot json\n'
        b'{"path": "/missing.jpg", "metadata": {}}\n',
    )
    assert report["applied"] == 1
    assert [e["line"] for e in report["errors"]] == [2, 3]
    assert synced.item_by_path("photos", "/cam1/a.jpg")["metadata"]["user"] == {"lot": 3}


def test_live_delete_restore_and_the_external_move_rule(synced):
    item = synced.item_by_path("photos", "/e.txt")
    answer = synced.delete_item("photos", item["id"])
    assert answer["bucket_file"] == "kept"  # the driver does not allow deletes
    assert "/e.txt" not in [i["path"] for i in synced.iter_items("photos")]
    assert synced.restore_item("photos", item["id"])["state"] == "active"
    with pytest.raises(Conflict, match="moved"):
        synced.move_item("photos", item["id"], "/elsewhere/e.txt")


def test_live_content_ranges(synced, tmp_path):
    item = synced.item_by_path("photos", "/cam1/a.jpg")
    whole = tmp_path / "whole"
    assert synced.download("photos", item["id"], whole) == len(b"cam1/a.jpg") * 1000
    assert whole.read_bytes() == b"cam1/a.jpg" * 1000
    part = tmp_path / "part"
    assert synced.download("photos", item["id"], part, start=10, end=29) == 20
    assert part.read_bytes() == (b"cam1/a.jpg" * 1000)[10:30]


def test_live_a_viewer_reads_and_may_not_write(live, synced):
    with Client(live.url, user="viewer", password="viewer-pw") as viewer:  # noqa: S106
        item = viewer.item_by_path("photos", "/cam1/a.jpg")
        with pytest.raises(Forbidden):
            viewer.edit_item("photos", item["id"], metadata={"x": 1})
        with pytest.raises(Forbidden):
            viewer.delete_item("photos", item["id"])
    with pytest.raises(Unauthorized, match="refused the login of user 'viewer'"):
        Client(live.url, user="viewer", password="wrong").datasets()  # noqa: S106
    with pytest.raises(Unauthorized):
        Client(live.url, token="forged").datasets()  # noqa: S106


@pytest.fixture
def inbox(live):
    """An internal dataset ``inbox`` made through the API; a logged-in client."""
    with Client(live.url, user="admin", password="admin-pw") as api:  # noqa: S106
        api.create_dataset("inbox", sync=False)
        yield api


def test_live_upload_tree_twice_then_conflict_then_overwrite(live, inbox, tmp_path):
    _tree(tmp_path)
    first = inbox.upload_tree("inbox", [tmp_path / "photos"], to="/up/", jobs=3)
    assert sorted((r.path, r.status) for r in first) == [
        ("/up/photos/a.jpg", "created"),
        ("/up/photos/cam1/b.jpg", "created"),
        ("/up/photos/cam1/c d.jpg", "created"),
    ]
    # The API asked for a drain after the writes: it emits their items-created event.
    assert set(live.drains.requests) == {("inbox", "token-admin")}
    again = inbox.upload_tree("inbox", [tmp_path / "photos"], to="/up/", jobs=3)
    assert {r.status for r in again} == {"skipped"}
    item = inbox.item_by_path("inbox", "/up/photos/cam1/c d.jpg")
    assert item["size"] == 3

    (tmp_path / "photos" / "cam1" / "c d.jpg").write_bytes(b"changed")
    changed = {r.path: r for r in inbox.upload_tree("inbox", [tmp_path / "photos"], to="/up/")}
    assert changed["/up/photos/cam1/c d.jpg"].status == "conflict"
    assert "/up/photos/cam1/c d.jpg" in changed["/up/photos/cam1/c d.jpg"].error
    assert changed["/up/photos/a.jpg"].status == "skipped"

    answer = inbox.upload_file(
        "inbox",
        tmp_path / "photos" / "cam1" / "c d.jpg",
        "/up/photos/cam1/c d.jpg",
        overwrite=True,
        metadata={"camera": 1},
    )
    assert answer["status"] == "replaced"
    assert answer["item"]["id"] == item["id"]  # same item, new content
    assert answer["item"]["metadata"]["user"] == {"camera": 1}
    target = tmp_path / "back"
    inbox.download("inbox", item["id"], target)
    assert target.read_bytes() == b"changed"


def test_live_a_big_file_streams_both_ways(inbox, tmp_path):
    big = tmp_path / "big.bin"
    data = os.urandom(3 * CHUNK + 7)
    big.write_bytes(data)
    answer = inbox.upload_file("inbox", big, "/big.bin")
    assert (answer["status"], answer["item"]["size"]) == ("created", len(data))
    part = tmp_path / "part"
    assert (
        inbox.download("inbox", answer["item"]["id"], part, start=CHUNK - 3)
        == len(data) - CHUNK + 3
    )
    assert part.read_bytes() == data[CHUNK - 3 :]


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/a/../../x.jpg", id="dot-dot"),
        pytest.param("/.tributary/x.jpg", id="hidden-folder"),
        pytest.param("/a\x01b.jpg", id="control-character"),
        pytest.param("/a//b.jpg", id="empty-folder-name"),
    ],
)
def test_live_hostile_upload_paths_are_refused_and_nothing_is_written(inbox, tmp_path, path):
    local = tmp_path / "x.jpg"
    local.write_bytes(b"x")
    with pytest.raises(Invalid):
        inbox.upload_file("inbox", local, path)
    assert list(inbox.iter_items("inbox", state="all")) == []


def test_live_the_quota_refuses_before_any_byte(inbox, tmp_path):
    inbox.set_quota("inbox", 1)
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "b.txt").write_text("b")
    assert inbox.upload_file("inbox", tmp_path / "a.txt", "/a.txt")["status"] == "created"
    with pytest.raises(QuotaExceeded):
        inbox.upload_file("inbox", tmp_path / "b.txt", "/b.txt")
    assert [i["path"] for i in inbox.iter_items("inbox")] == ["/a.txt"]


def test_live_a_viewer_cannot_upload(live, inbox, tmp_path):
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "b.txt").write_text("b")
    with Client(live.url, user="viewer", password="viewer-pw") as viewer:  # noqa: S106
        results = viewer.upload_tree("inbox", [tmp_path / "a.txt", tmp_path / "b.txt"], jobs=1)
    assert [r.status for r in results] == ["error", "error"]
    assert list(inbox.iter_items("inbox")) == []


def test_dot_segments_never_reach_httpx_which_would_resolve_them(tmp_path):
    local = tmp_path / "x"
    local.write_text("x")
    server = FakeServer()
    api = server.client()
    with pytest.raises(Invalid, match=r"'\.\.' are not allowed"):
        api.upload_file("a", local, "/x/../../../b/files/y")  # would be dataset b's route
    assert server.requests == []
    api.dataset("..")  # a dataset named '..' stays one segment of its own route
    assert server.requests[0].url.raw_path == f"{API_PREFIX}/datasets/%2E%2E".encode()
