"""Opening the catalog that the CLI and the API share."""

from __future__ import annotations

import sqlalchemy as sa

from tributary.usecases.catalog import open_catalog, upgrade_catalog


def test_the_catalog_url_from_the_environment_is_the_one_opened(catalog):
    opened = open_catalog()

    assert opened.url == catalog.url
    with opened.begin() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM datasets")).scalar() == 0


def test_upgrade_leaves_a_migrated_catalog(catalog):
    upgraded = upgrade_catalog()

    assert upgraded.url == catalog.url
    assert "datasets" in sa.inspect(upgraded.engine).get_table_names()


def test_without_a_url_the_catalog_comes_from_airflow(monkeypatch, tmp_path):
    monkeypatch.delenv("TRIBUTARY_CATALOG_URL", raising=False)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))

    assert open_catalog().url == f"sqlite:///{tmp_path / 'tributary.db'}"
