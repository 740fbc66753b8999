"""``CatalogHook``: where the catalog lives, resolved the Airflow way."""

from __future__ import annotations

from functools import cached_property

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from tributary.catalog import Catalog
from tributary.config import CATALOG_CONN_ID, catalog_url_from_env, default_catalog_url

_catalogs: dict[str, Catalog] = {}


class CatalogHook(BaseHook):
    """Owns the catalog connection.

    Resolution order: ``TRIBUTARY_CATALOG_URL``; else the Airflow connection
    ``tributary_catalog`` (a Postgres connection, from any secrets backend); else the
    embedded SQLite file ``$AIRFLOW_HOME/tributary.db``.
    """

    conn_name_attr = "catalog_conn_id"
    default_conn_name = CATALOG_CONN_ID
    conn_type = "postgres"
    hook_name = "Tributary catalog"

    def __init__(self, catalog_conn_id: str = CATALOG_CONN_ID) -> None:
        super().__init__()
        self.catalog_conn_id = catalog_conn_id

    @cached_property
    def url(self) -> str:
        """The catalog's SQLAlchemy URL (holds a password: never log it)."""
        explicit = catalog_url_from_env()
        if explicit:
            return explicit
        try:
            conn = self.get_connection(self.catalog_conn_id)
        except AirflowNotFoundException:
            # Only a connection that is not defined means "embedded default"; a secrets
            # backend that fails must not send a sync to the wrong catalog.
            return default_catalog_url()
        return conn.get_uri()

    def get_conn(self) -> Catalog:
        """The catalog, migrated to the newest schema; one per URL per process."""
        url = self.url
        if url not in _catalogs:
            _catalogs[url] = Catalog(url)
        return _catalogs[url]


def open_catalog() -> Catalog:
    """Shorthand for ``CatalogHook().get_conn()``."""
    return CatalogHook().get_conn()
