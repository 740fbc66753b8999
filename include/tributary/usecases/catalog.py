"""Opening the catalog: one way for every front end (CLI, REST API)."""

from __future__ import annotations

from tributary.catalog import Catalog
from tributary.config import catalog_url_from_env


def open_catalog() -> Catalog:
    """The catalog of this installation: ``TRIBUTARY_CATALOG_URL`` when it is set, else
    what Airflow's ``tributary_catalog`` connection (or the embedded default) names."""
    explicit = catalog_url_from_env()
    if explicit:
        # No need to ask Airflow for a connection: skip its ~4 s import.
        return Catalog(explicit)
    from tributary.hooks.catalog import open_catalog as open_through_airflow

    return open_through_airflow()


def upgrade_catalog() -> Catalog:
    """Create or migrate the catalog tables; returns the catalog brought up to date."""
    catalog = open_catalog()
    catalog.upgrade()
    return catalog
