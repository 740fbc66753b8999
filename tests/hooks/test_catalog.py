"""Where ``CatalogHook`` finds the catalog: env URL, then the connection, then SQLite."""

from __future__ import annotations

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
