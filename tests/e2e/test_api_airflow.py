"""Tributary's REST API inside a real Airflow API server (the session's ``airflow
standalone``), over real HTTP with Airflow's own logins: no token, a forged one, a Viewer
refused every write, an Admin's datasets and uploads (one of 9 MB into S3 on moto, in
parts), runs Airflow knows, a downstream sync requested after an upload."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import httpx
import jwt
import pytest

from tests.buckets import new_bucket
from tributary.catalog import Catalog
from tributary.client import Client
from tributary.usecases.drivers import create_driver

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

API = "/tributary/api/v1"
WAIT = 240  # seconds for Airflow to start or finish a run (LocalExecutor, SQLite)


class Http:
    """Raw requests to the session's Airflow as one user (or none)."""

    def __init__(self, server: str, user: str | None) -> None:
        self.server = server
        self.headers = {} if user is None else server.headers(user)

    def __call__(self, method: str, route: str, **kwargs) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        url = f"{self.server}{route if route.startswith('/api/v2') else API + route}"
        return httpx.request(method, url, headers=headers, timeout=120, **kwargs)


def runs_of(admin: Http, dag_id: str, dataset: str) -> list[dict]:
    """The runs of ``dag_id`` Airflow knows whose conf names ``dataset``."""
    answer = admin("GET", f"/api/v2/dags/{dag_id}/dagRuns", params={"limit": 100})
    assert answer.status_code == 200, answer.text
    return [r for r in answer.json()["dag_runs"] if (r.get("conf") or {}).get("dataset") == dataset]


def wait_for(condition, what: str, timeout: float = WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := condition():
            return found
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def admin(airflow_server) -> Http:
    return Http(airflow_server, "admin")


@pytest.fixture(scope="module")
def viewer(airflow_server) -> Http:
    return Http(airflow_server, "viewer")


@pytest.fixture(scope="module")
def inbox(admin) -> dict:
    """An internal dataset with one uploaded item."""
    name = f"inbox-{uuid.uuid4().hex[:6]}"
    created = admin("POST", "/datasets", json={"name": name, "sync": False})
    assert created.status_code in (200, 201), created.text
    put = admin("PUT", f"/datasets/{name}/files/docs/a.txt", content=b"first file")
    assert put.status_code in (200, 201), put.text
    return {"name": name, "item": put.json()["item"]}


@pytest.fixture(scope="module")
def local(admin, airflow_server, tmp_path_factory) -> dict:
    """A dataset on a local driver (a folder with one file), its initial sync over."""
    folder = tmp_path_factory.mktemp("local-bucket")
    (folder / "seed.txt").write_text("seed")
    driver = f"local-{uuid.uuid4().hex[:6]}"
    create_driver(
        Catalog(airflow_server.env["TRIBUTARY_CATALOG_URL"]),
        name=driver,
        provider="local",
        bucket=str(folder),
    )
    name = f"ds-{driver}"
    created = admin("POST", "/datasets", json={"name": name, "driver": driver})
    assert created.status_code in (200, 201), created.text
    initial = wait_for(lambda: runs_of(admin, "tributary_initial_sync", name), "initial sync")
    wait_for(
        lambda: all(r["state"] in ("success", "failed") for r in runs_of(
            admin, "tributary_initial_sync", name)),
        "the initial sync's end",
    )  # fmt: skip
    return {"name": name, "driver": driver, "folder": folder, "initial": initial}


def test_the_session_airflow_answers_and_logs_a_viewer_in(airflow_server):
    assert httpx.get(f"{airflow_server}/api/v2/monitor/health", timeout=10).status_code == 200
    token = airflow_server.token("viewer")
    dag = httpx.get(
        f"{airflow_server}/api/v2/dags/tributary_downstream_sync",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert dag.status_code == 200, dag.text
    assert airflow_server.env["TRIBUTARY_AIRFLOW_URL"] == airflow_server


# -- who may come in ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "route"),
    [pytest.param("GET", "/datasets", id="read"), pytest.param("POST", "/datasets", id="write")],
)
def test_no_token_is_401(airflow_server, method, route):
    answer = Http(airflow_server, None)(method, route, json={"name": "nobody"})
    assert answer.status_code == 401, answer.text
    assert set(answer.json()) == {"detail"}


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(
            jwt.encode(
                {"sub": "admin", "role": "admin", "exp": int(time.time()) + 3600},
                "not-airflows-secret-" * 4,
                algorithm="HS512",
            ),
            id="signed-with-another-key",
        ),
        pytest.param("not-a-jwt", id="garbage"),
    ],
)
def test_a_forged_token_is_401_and_not_repeated(airflow_server, token):
    answer = httpx.get(
        f"{airflow_server}{API}/datasets",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert answer.status_code == 401, answer.text
    assert token not in answer.text


def test_the_airflow_ui_cookie_authenticates(airflow_server):
    token = airflow_server.token("viewer")
    answer = httpx.get(f"{airflow_server}{API}/datasets", cookies={"_token": token}, timeout=30)
    assert answer.status_code == 200, answer.text


def test_a_viewer_reads(viewer, inbox):
    name, item = inbox["name"], inbox["item"]["id"]
    for route in (
        "/datasets",
        f"/datasets/{name}",
        f"/datasets/{name}/quota",
        "/drivers",
        f"/datasets/{name}/items",
        f"/datasets/{name}/items/{item}",
        f"/datasets/{name}/items/{item}/content",
        f"/datasets/{name}/syncs",
    ):
        answer = viewer("GET", route)
        assert answer.status_code == 200, (route, answer.text)
    by_path = viewer("GET", f"/datasets/{name}/items/by-path", params={"path": "/docs/a.txt"})
    assert by_path.json()["id"] == item


# Every write route of the contract, with a body it would accept from an Admin.
WRITES = [
    ("POST", "/datasets", {"json": {"name": "made-by-a-viewer"}}),
    ("PATCH", "/datasets/{ds}", {"json": {"ghost_grace_days": 3}}),
    ("PUT", "/datasets/{ds}/quota", {"json": {"limit": 10}}),
    ("POST", "/datasets/{ds}/clone", {"json": {"target": "cloned-by-a-viewer"}}),
    ("POST", "/drivers/{driver}/check", {}),
    ("PATCH", "/datasets/{ds}/items/{item}", {"json": {"description": "a viewer's"}}),
    ("DELETE", "/datasets/{ds}/items/{item}", {}),
    ("POST", "/datasets/{ds}/items/{item}/restore", {}),
    ("POST", "/datasets/{ds}/items/{item}/move", {"json": {"path": "/moved.txt"}}),
    ("PUT", "/datasets/{ds}/files/viewer.txt", {"content": b"a viewer's file"}),
    ("POST", "/datasets/{ds}/uploads", {"files": {"file": ("v.txt", b"a viewer's file")}}),
    (
        "POST",
        "/datasets/{ds}/metadata",
        {
            "content": b'{"path": "/docs/a.txt", "metadata": {"by": "viewer"}}\n',
            "headers": {"Content-Type": "application/x-ndjson"},
        },
    ),
    ("POST", "/datasets/{ds}/sync", {"json": {"dry_run": True}}),
    ("POST", "/datasets/{ds}/preprocess", {"json": {"force": True}}),
    ("POST", "/datasets/{ds}/links", {"json": {"url": "https://example.com/a.jpg"}}),
    (
        "POST",
        "/datasets/{ds}/imports",
        {"content": b"url\nhttps://example.com/a.jpg\n", "headers": {"Content-Type": "text/csv"}},
    ),
]


@pytest.mark.parametrize(
    ("method", "route", "body"),
    [pytest.param(m, r, b, id=f"{m} {r}") for m, r, b in WRITES],
)
def test_a_viewer_writes_nothing(viewer, admin, inbox, local, method, route, body):
    filled = route.format(ds=inbox["name"], item=inbox["item"]["id"], driver=local["driver"])
    if "/sync" in route:
        filled = route.format(ds=local["name"])  # a dataset that can sync

    answer = viewer(method, filled, **body)

    assert answer.status_code == 403, answer.text
    assert set(answer.json()) == {"detail"}
    names = {d["name"] for d in admin("GET", "/datasets").json()["datasets"]}
    assert not names & {"made-by-a-viewer", "cloned-by-a-viewer"}
    item = admin("GET", f"/datasets/{inbox['name']}/items/{inbox['item']['id']}").json()
    assert (item["path"], item["state"], item.get("description")) == (
        inbox["item"]["path"],
        inbox["item"]["state"],
        inbox["item"].get("description"),
    )


# -- what an Admin does ---------------------------------------------------------------------


def test_an_admin_creates_lists_uploads_and_reads_back(admin):
    name = f"made-{uuid.uuid4().hex[:6]}"
    created = admin("POST", "/datasets", json={"name": name, "sync": False})
    assert created.status_code in (200, 201), created.text
    listed = admin("GET", "/datasets").json()["datasets"]
    assert name in {d["name"] for d in listed}

    body = os.urandom(300_000)
    put = admin(
        "PUT", f"/datasets/{name}/files/cam 1/ü.bin", content=body,
        headers={"Content-Type": "application/octet-stream"},
    )  # fmt: skip
    assert put.status_code in (200, 201), put.text
    assert put.json()["status"] == "created"
    item = put.json()["item"]
    assert item["path"] == "/cam 1/ü.bin"

    content = admin("GET", f"/datasets/{name}/items/{item['id']}/content")
    assert content.status_code == 200
    assert content.content == body
    part = admin(
        "GET", f"/datasets/{name}/items/{item['id']}/content", headers={"Range": "bytes=10-19"}
    )
    assert (part.status_code, part.content) == (206, body[10:20])
    again = admin("PUT", f"/datasets/{name}/files/cam 1/ü.bin", content=body)
    assert again.json()["status"] == "skipped"


def test_the_openapi_docs_answer_under_the_mount(admin):
    docs = admin("GET", "/docs")
    assert docs.status_code == 200, docs.text
    assert f"{API}/openapi.json" in docs.text  # the page finds its schema under the mount
    schema = admin("GET", "/openapi.json")
    assert schema.status_code == 200, schema.text
    paths = schema.json()["paths"]
    assert "/api/v1/datasets" in paths
    assert any(p.startswith("/api/v1/datasets/") and "/files/" in p for p in paths), paths


@pytest.mark.parametrize(
    ("route", "body", "dag_id", "conf"),
    [
        pytest.param(
            "sync", {"dry_run": True}, "tributary_upstream_sync", {"dry_run": True}, id="sync"
        ),
        pytest.param(
            "preprocess", {"force": True}, "tributary_preprocess", {"force": True}, id="preprocess"
        ),
    ],
)
def test_an_admin_triggers_runs_airflow_knows(admin, local, route, body, dag_id, conf):
    answer = admin("POST", f"/datasets/{local['name']}/{route}", json=body)
    assert answer.status_code in (200, 201, 202), answer.text
    run = answer.json()
    assert run["dag_id"] == dag_id

    known = admin("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run['dag_run_id']}")
    assert known.status_code == 200, known.text
    started = known.json()["conf"]
    assert started == started | {"dataset": local["name"], **conf}


def test_a_paused_dag_is_said_plainly_and_left_paused(admin, local):
    dag = "/api/v2/dags/tributary_preprocess"
    assert admin("PATCH", dag, json={"is_paused": True}).status_code == 200
    try:
        answer = admin("POST", f"/datasets/{local['name']}/preprocess", json={"force": True})
        assert answer.status_code == 409, answer.text
        assert answer.json()["detail"].startswith(
            "tributary_preprocess is paused in Airflow, so nothing was started: unpause it"
        )
        assert admin("GET", dag).json()["is_paused"] is True  # Tributary never unpauses
    finally:
        admin("PATCH", dag, json={"is_paused": False})


def test_an_upload_asks_for_a_downstream_sync(admin, local):
    put = admin("PUT", f"/datasets/{local['name']}/files/up/new.txt", content=b"from the API")
    assert put.status_code in (200, 201), put.text

    def requested() -> list[dict]:
        # A run for the dataset; none is asked for while a scheduled one (every dataset,
        # no conf) waits to start, as that one drains the upload too.
        answer = admin("GET", "/api/v2/dags/tributary_downstream_sync/dagRuns",
                       params={"limit": 100, "order_by": "-id"})  # fmt: skip
        return [
            r for r in answer.json()["dag_runs"]
            if (r.get("conf") or {}).get("dataset") == local["name"]
            or (r["run_type"] == "scheduled" and r["start_date"] is None)
        ]  # fmt: skip

    wait_for(requested, "a downstream sync run of the dataset", timeout=60)
    # The run drains the outbox: the file reaches the bucket.
    wait_for(lambda: (local["folder"] / "up" / "new.txt").exists(), "the file in the bucket")
    assert (local["folder"] / "up" / "new.txt").read_bytes() == b"from the API"


def test_a_9_mb_upload_into_s3_goes_in_parts(airflow_server, admin, moto, tmp_path):
    bucket = new_bucket("s3", moto, tmp_path)
    driver = f"s3-{uuid.uuid4().hex[:6]}"
    create_driver(
        Catalog(airflow_server.env["TRIBUTARY_CATALOG_URL"]),
        name=driver,
        provider="s3",
        bucket=bucket.name,
        conn_id="test_s3",
    )
    name = f"ds-{driver}"
    created = admin("POST", "/datasets", json={"name": name, "driver": driver, "sync": False})
    assert created.status_code in (200, 201), created.text
    body = os.urandom(9 * 1024 * 1024 + 4321)  # above the 8 MiB multipart threshold
    local_file = tmp_path / "big.bin"
    local_file.write_bytes(body)

    with Client(airflow_server, user="admin", password="admin") as api:  # noqa: S106
        result = api.upload_file(name, local_file, "/big/big.bin")
        assert result["status"] == "created", result
        out = tmp_path / "back.bin"
        assert api.download(name, result["item"]["id"], out) == len(body)
    assert out.read_bytes() == body
    # It reached moto in parts: moto's request log (tests/conftest.py keeps emulator logs in
    # the session's Airflow home) has the multipart upload into the bucket.
    log = Path(os.environ["AIRFLOW_HOME"]) / "emulator-logs" / "moto.log"
    requests = [line for line in log.read_text().splitlines() if f"/{bucket.name}/" in line]
    assert any("?uploads " in line and '"POST ' in line for line in requests), requests
    parts = {line.split("partNumber=")[1].split()[0] for line in requests if "partNumber=" in line}
    assert parts == {"1", "2"}, requests
