"""Tributary's real REST API on a real HTTP server, in the test process.

uvicorn serves, on 127.0.0.1 in a thread, what Airflow's API server serves: the app of
``tributary.api.create_app`` mounted at ``/tributary`` over a real catalog and the real
internal storage, and a ``POST /auth/token`` login. Only Airflow is left out: a test
authorizer stands in for its auth manager (an ``admin`` writes, a ``viewer`` only reads),
and drain and DAG-run requests are recorded instead of sent to Airflow. The client and
the installed ``tributary`` command (a subprocess) talk to it over TCP as they would to
Airflow; the real-Airflow path is ``tests/e2e``.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from tributary.api import create_app
from tributary.api.auth import NotAuthenticated
from tributary.catalog import Catalog

# user -> (password, may write)
USERS = {"admin": ("admin-pw", True), "viewer": ("viewer-pw", False)}


class TokenAuthorizer:
    """Tokens ``token-<user>``, as the login below hands them out."""

    async def user(self, token: str) -> str:
        user = token.removeprefix("token-")
        if not token.startswith("token-") or user not in USERS:
            raise NotAuthenticated("InvalidTokenError")
        return user

    def allowed(self, user: str, access: str) -> bool:
        return access == "read" or USERS[user][1]


@dataclass
class RecordedDrains:
    """Drain requests, recorded instead of sent to Airflow."""

    requests: list[tuple[str, str]] = field(default_factory=list)

    def request(self, dataset: str, token: str) -> None:
        self.requests.append((dataset, token))


@dataclass
class RecordedRuns:
    """DAG runs asked for, recorded instead of triggered in Airflow."""

    requests: list[tuple[str, dict, str]] = field(default_factory=list)

    def trigger(self, dag_id: str, conf: dict, token: str) -> dict:
        self.requests.append((dag_id, conf, token))
        return {"dag_id": dag_id, "dag_run_id": f"manual__{len(self.requests)}"}


async def _login(request: Request) -> JSONResponse:
    body = await request.json()
    user, password = body.get("username"), body.get("password")
    if user not in USERS or USERS[user][0] != password:
        return JSONResponse({"detail": "Invalid credentials"}, status_code=401)
    return JSONResponse({"access_token": f"token-{user}"}, status_code=201)


@dataclass
class LiveApi:
    """A running server: its ``url`` (what ``TRIBUTARY_AIRFLOW_URL`` would be)."""

    url: str
    catalog: Catalog
    drains: RecordedDrains
    runs: RecordedRuns
    server: uvicorn.Server
    thread: threading.Thread
    app: object = None  # Tributary's FastAPI app, under /tributary

    def use(self, catalog: Catalog) -> None:
        """Serve ``catalog`` from now on, with nothing recorded yet (one server for many
        tests, each with a fresh catalog)."""
        self.catalog = catalog
        self.app.state.catalog = catalog
        self.drains.requests.clear()
        self.runs.requests.clear()

    def env(self, user: str = "admin") -> dict[str, str]:
        """The CLI's settings for this server and user."""
        return {
            "TRIBUTARY_AIRFLOW_URL": self.url,
            "TRIBUTARY_AIRFLOW_USER": user,
            "TRIBUTARY_AIRFLOW_PASSWORD": USERS[user][0],
        }

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start(catalog: Catalog) -> LiveApi:
    """Serve the API over ``catalog`` on a free port; returns once it answers."""
    drains, runs = RecordedDrains(), RecordedRuns()
    api = create_app(catalog=catalog, authorizer=TokenAuthorizer(), drains=drains, runs=runs)
    app = Starlette(
        routes=[Route("/auth/token", _login, methods=["POST"]), Mount("/tributary", app=api)]
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="live-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live API server did not start")
        time.sleep(0.02)
    return LiveApi(f"http://127.0.0.1:{port}", catalog, drains, runs, server, thread, api)
