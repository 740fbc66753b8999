"""Settings read from the environment; every value has a sane embedded default."""

from __future__ import annotations

import os
from pathlib import Path

HIDDEN_FOLDER = ".tributary"
CATALOG_CONN_ID = "tributary_catalog"


def airflow_home() -> Path:
    """Airflow's home folder, where the embedded catalog and internal storage live."""
    return Path(os.environ.get("AIRFLOW_HOME", Path.home() / "airflow"))


def catalog_url_from_env() -> str | None:
    """An explicit catalog URL (``TRIBUTARY_CATALOG_URL``), if one is set."""
    return os.environ.get("TRIBUTARY_CATALOG_URL") or None


def default_catalog_url() -> str:
    """The embedded default: SQLite at ``$AIRFLOW_HOME/tributary.db``."""
    return f"sqlite:///{airflow_home() / 'tributary.db'}"


def internal_storage_root() -> Path:
    """Where datasets without a driver keep their files (the internal storage)."""
    return Path(os.environ.get("TRIBUTARY_STORAGE_ROOT", airflow_home() / "tributary-storage"))


def listing_page_size() -> int:
    """Objects per listing page: one bulk insert and one progress update each."""
    return int(os.environ.get("TRIBUTARY_LISTING_PAGE_SIZE", "1000"))


def max_partitions() -> int:
    """Upper bound on mapped listing tasks per sync (Airflow caps a map at 1024)."""
    return int(os.environ.get("TRIBUTARY_MAX_PARTITIONS", "64"))
