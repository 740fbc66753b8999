"""The end-to-end tests' shared Airflow: one real ``airflow standalone`` per session, with
Tributary's DAGs and plugin, logins of every role, and a catalog and storage of its own.

Its own home, ports and databases in a temporary folder: it never meets another test's
Airflow (the demo's, the stack's), and nothing of the developer's environment reaches it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO
from tests.emulators import free_port

BIN = Path(sys.executable).parent
# Tributary's DAGs (dags/tributary_*.py): the server is ready once Airflow has parsed them.
TRIBUTARY_DAGS = sorted(path.stem for path in (REPO / "dags").glob("tributary_*.py"))
# SimpleAuthManager logins, one per role: user name = role = password.
ROLES = ("admin", "op", "user", "viewer")
START_TIMEOUT = 300.0


class AirflowServer(str):
    """The base URL of a running Airflow (``http://127.0.0.1:PORT``), with ``env``: what a
    ``tributary`` CLI subprocess needs to work against it (its URL, catalog, storage)."""

    env: dict[str, str]
    home: Path
    log: Path

    def token(self, user: str = "admin") -> str:
        """A fresh JWT for ``user`` (password = name), from Airflow's ``/auth/token``."""
        answer = httpx.post(
            f"{self}/auth/token", json={"username": user, "password": user}, timeout=120
        )
        answer.raise_for_status()
        return answer.json()["access_token"]

    def headers(self, user: str = "admin") -> dict[str, str]:
        """The Authorization header of ``user``."""
        return {"Authorization": f"Bearer {self.token(user)}"}


def _server_env(home: Path, port: int, extra: dict[str, str]) -> dict[str, str]:
    """The environment of every process of the server: the developer's AIRFLOW_* and
    TRIBUTARY_* settings (and the test session's) left out."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "TRIBUTARY"))}
    url = f"http://127.0.0.1:{port}"
    return {
        **base,
        "PATH": f"{BIN}{os.pathsep}{base.get('PATH', '')}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # As scripts/demo.sh: Airflow's CLI waits for the scheduler's SQLite writes.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": (
            "tributary.config.AIRFLOW_SQLITE_CONNECT_ARGS"
        ),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": url,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{r}:{r}" for r in ROLES),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        **extra,
    }


def _tail(log: Path, chars: int = 4000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else "(no log)"


def _stop(process: subprocess.Popen) -> None:
    """Stop the server and every process it started: its whole process group (the
    scheduler and triggerer outlive ``airflow standalone`` by seconds when asked nicely)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            break
        process.poll()  # reap the leader, so that an exited group stops answering
        time.sleep(0.5)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


def _wait_until_ready(url: str, process: subprocess.Popen, log: Path) -> None:
    """Until the API answers its health check and has parsed every Tributary DAG."""
    deadline = time.monotonic() + START_TIMEOUT
    token, missing = None, TRIBUTARY_DAGS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"airflow standalone exited ({process.returncode}):\n{_tail(log)}")
        try:
            if token is None:
                httpx.get(f"{url}/api/v2/monitor/health", timeout=5).raise_for_status()
                login = {"username": "admin", "password": "admin"}
                answer = httpx.post(f"{url}/auth/token", json=login, timeout=10)
                answer.raise_for_status()
                token = answer.json()["access_token"]
            answer = httpx.get(
                f"{url}/api/v2/dags",
                params={"dag_id_pattern": "tributary_", "limit": 100},
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )
            answer.raise_for_status()
            parsed = {dag["dag_id"] for dag in answer.json()["dags"]}
            missing = [dag_id for dag_id in TRIBUTARY_DAGS if dag_id not in parsed]
            if not missing:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise RuntimeError(
        f"airflow standalone not ready within {START_TIMEOUT:.0f}s (DAGs not parsed: "
        f"{missing}):\n{_tail(log)}"
    )


@pytest.fixture(scope="session")
def airflow_server(moto, tmp_path_factory):
    """One real ``airflow standalone`` for the session (api-server with Tributary's API
    mounted, scheduler, dag-processor, triggerer); logins admin, op, user, viewer with
    password = name. Storage connection ``test_s3`` reaches the session's moto server."""
    folder = tmp_path_factory.mktemp("airflow-server")
    home = folder / "airflow"
    home.mkdir()
    (home / "passwords.json").write_text(json.dumps({role: role for role in ROLES}))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    tributary_env = {
        "TRIBUTARY_AIRFLOW_URL": url,
        "TRIBUTARY_CATALOG_URL": f"sqlite:///{folder / 'catalog.db'}",
        "TRIBUTARY_STORAGE_ROOT": str(folder / "internal-storage"),
        # Tests make local drivers in pytest's tmp_path folders, under the system temp folder.
        "TRIBUTARY_LOCAL_ROOTS": tempfile.gettempdir(),
    }
    env = _server_env(home, port, {**tributary_env, **moto.env})
    log = folder / "airflow.log"
    migrate = subprocess.run(
        [str(BIN / "airflow"), "db", "migrate"],
        env=env, cwd=folder, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if migrate.returncode:
        raise RuntimeError(f"airflow db migrate failed:\n{migrate.stdout[-3000:]}{migrate.stderr}")
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(BIN / "airflow"), "standalone"],
            env=env, cwd=folder, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    try:
        _wait_until_ready(url, process, log)
        server = AirflowServer(url)
        server.env = {"AIRFLOW_HOME": str(home), **tributary_env}
        server.home, server.log = home, log
        yield server
    finally:
        _stop(process)
