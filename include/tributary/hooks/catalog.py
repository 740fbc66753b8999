"""``CatalogHook``: where the catalog lives, resolved the Airflow way."""

from __future__ import annotations

import os
from functools import cached_property

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from tributary.catalog import Catalog
from tributary.config import CATALOG_CONN_ID, catalog_url_from_env, default_catalog_url
from tributary.errors import TributaryError
from tributary.hooks.connections import PROCESS_CONTEXT as _PROCESS_CONTEXT

# Still importable from here; it lives in hooks.connections, which the CLI imports
# before every command without paying for an Airflow import.
from tributary.hooks.connections import read_connections_like_airflow_server  # noqa: F401

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
            _check_metadata_db_answered(self.catalog_conn_id)
            return default_catalog_url()
        return conn.get_uri()

    def get_conn(self) -> Catalog:
        """The catalog, migrated to the newest schema; one per URL per process."""
        url = self.url
        if url not in _catalogs:
            _catalogs[url] = Catalog(url)
        return _catalogs[url]


class CatalogUnresolved(TributaryError):
    """Airflow could not say whether the catalog connection exists."""

    permanent = True


def _check_metadata_db_answered(conn_id: str) -> None:
    """In a server-side process, trust "not defined" only once the metadata database has
    answered: a database that cannot be read must not send the CLI to the wrong catalog."""
    # A task inherits the variable from the scheduler or worker that started it, but asks
    # its supervisor, never the metadata database (Airflow 3 tasks have no access to it).
    if os.environ.get(_PROCESS_CONTEXT) != "server" or _in_a_task():
        return
    from airflow.secrets.metastore import MetastoreBackend

    try:
        MetastoreBackend().get_connection(conn_id)
    except Exception as exc:
        raise CatalogUnresolved(
            f"cannot tell where the catalog is: Airflow's metadata database did not answer "
            f"({type(exc).__name__}) when asked for the connection {conn_id!r}; check Airflow's "
            "[database] sql_alchemy_conn (or run `airflow db migrate`), or set "
            "TRIBUTARY_CATALOG_URL"
        ) from None


def _in_a_task() -> bool:
    """Whether this process runs an Airflow task (it talks to a supervisor)."""
    from airflow.sdk.execution_time import task_runner

    return getattr(task_runner, "SUPERVISOR_COMMS", None) is not None


def open_catalog() -> Catalog:
    """Shorthand for ``CatalogHook().get_conn()``."""
    return CatalogHook().get_conn()
