"""The catalog: drivers, datasets, items and sync runs in SQLite or PostgreSQL.

Plain SQLAlchemy Core; no Airflow imports here. ``Catalog`` is the entry point.
"""

from tributary.catalog.engine import Catalog

__all__ = ["Catalog"]
