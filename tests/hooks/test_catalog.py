"""Where ``CatalogHook`` finds the catalog: env URL, then the connection, then SQLite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tributary.hooks.catalog import CatalogHook


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    monkeypatch.delenv("TRIBUTARY_CATALOG_URL", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_TRIBUTARY_CATALOG", raising=False)


def test_the_embedded_default_is_sqlite_in_airflow_home(monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    assert CatalogHook().url == f"sqlite:///{tmp_path / 'tributary.db'}"


def test_the_airflow_connection_is_used_when_defined(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_TRIBUTARY_CATALOG", "postgres://cat:pw@db.internal:5432/tributary"
    )
    assert CatalogHook().url == "postgres://cat:pw@db.internal:5432/tributary"


def test_an_explicit_url_wins(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_TRIBUTARY_CATALOG", "postgres://cat:pw@db.internal:5432/x")
    monkeypatch.setenv("TRIBUTARY_CATALOG_URL", "sqlite:////tmp/explicit.db")
    assert CatalogHook().url == "sqlite:////tmp/explicit.db"


def test_a_failing_secrets_backend_is_not_mistaken_for_no_connection(monkeypatch):
    def broken(conn_id):
        raise RuntimeError("vault unreachable")

    monkeypatch.setattr(CatalogHook, "get_connection", classmethod(lambda cls, c: broken(c)))
    with pytest.raises(RuntimeError, match="vault unreachable"):
        _ = CatalogHook().url


def _airflow(*args: str) -> None:
    subprocess.run([str(Path(sys.executable).parent / "airflow"), *args], check=True)


def _catalog_url_seen_by_a_new_process(conn_id: str, *, like_the_cli: bool) -> str:
    """What a fresh process (as the ``tributary`` CLI is) resolves as the catalog."""
    code = (
        "from tributary.hooks.catalog import CatalogHook, read_connections_like_airflow_server\n"
        f"if {like_the_cli}: read_connections_like_airflow_server()\n"
        f"print(CatalogHook(catalog_conn_id={conn_id!r}).url)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIBUTARY_CATALOG")}
    env.pop("_AIRFLOW_PROCESS_CONTEXT", None)
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip().splitlines()[-1]


def test_a_connection_added_with_airflow_connections_add_is_seen_by_the_cli(airflow_db):
    """Issue 9, B10/B11: the CLI resolves the catalog as the tasks do, metadata DB included."""
    url = "postgresql://cat:pw@db.internal:5432/tributary"
    _airflow("connections", "add", "tributary_catalog_b11", "--conn-uri", url)

    # What the CLI saw before: only environment variables, so the wrong (embedded) catalog.
    before = _catalog_url_seen_by_a_new_process("tributary_catalog_b11", like_the_cli=False)
    assert before.startswith("sqlite:")
    seen = _catalog_url_seen_by_a_new_process("tributary_catalog_b11", like_the_cli=True)
    assert seen == url.replace("postgresql://", "postgres://")  # Airflow's spelling


def test_an_unreadable_metadata_db_is_not_taken_for_no_catalog_connection(monkeypatch):
    from tributary.hooks.catalog import CatalogUnresolved

    monkeypatch.setenv("_AIRFLOW_PROCESS_CONTEXT", "server")
    monkeypatch.setattr(
        "airflow.secrets.metastore.MetastoreBackend.get_connection",
        lambda self, conn_id: (_ for _ in ()).throw(RuntimeError("database is down")),
    )
    monkeypatch.setattr(CatalogHook, "get_connection", classmethod(lambda cls, c: _not_found(c)))
    with pytest.raises(CatalogUnresolved, match="metadata database did not answer"):
        _ = CatalogHook(catalog_conn_id="not_there").url


def _not_found(conn_id):
    from airflow.sdk.exceptions import AirflowNotFoundException

    raise AirflowNotFoundException(conn_id)


def test_a_task_started_by_a_server_process_never_asks_the_metadata_db(monkeypatch, tmp_path):
    """A task inherits ``_AIRFLOW_PROCESS_CONTEXT=server`` from the scheduler that starts it
    (LocalExecutor) but has no access to the metadata database: it must not ask it."""
    from airflow.sdk.execution_time import task_runner

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("_AIRFLOW_PROCESS_CONTEXT", "server")
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", object(), raising=False)
    monkeypatch.setattr(
        "airflow.secrets.metastore.MetastoreBackend.get_connection",
        lambda self, conn_id: pytest.fail("a task asked the metadata database"),
    )
    monkeypatch.setattr(CatalogHook, "get_connection", classmethod(lambda cls, c: _not_found(c)))

    assert CatalogHook().url == f"sqlite:///{tmp_path / 'tributary.db'}"
