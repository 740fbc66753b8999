"""Shared fixtures: an isolated Airflow home, catalogs on SQLite and PostgreSQL, emulators.

Airflow reads its configuration at import time, so the environment is set here, before
any test module imports Airflow or Tributary.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
_HOME = Path(tempfile.mkdtemp(prefix="tributary-test-airflow-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "TRIBUTARY_STORAGE_ROOT": str(_HOME / "internal-storage"),
        # Tests make local drivers in pytest's tmp_path folders, all under the system temp
        # folder: let local drivers use it (TRIBUTARY_LOCAL_ROOTS confines them).
        "TRIBUTARY_LOCAL_ROOTS": tempfile.gettempdir(),
        # Never trigger a real Airflow by accident from a test.
        "TRIBUTARY_AIRFLOW_URL": "http://127.0.0.1:9",
    }
)
os.environ.pop("TRIBUTARY_CATALOG_URL", None)

# Airflow configures logging handlers on import: do it now, bound to the real stderr, not
# to a test's captured stream that is closed when the test ends.
import airflow  # noqa: E402, F401

from tests import emulators  # noqa: E402

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_ADMIN_URL = os.environ.get(
    "TRIBUTARY_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def missing(reason: str):
    """Skip on a developer laptop without the service; fail loudly in CI."""
    if IN_CI:
        pytest.fail(f"{reason} (required in CI)")
    pytest.skip(reason)


# -- markers: fixtures that need a service mark their tests ---------------------------------

# Fixtures that start a storage emulator (directly or through another fixture).
_EMULATOR_FIXTURES = {"moto", "azurite", "azurite_queue", "gcs", "moto_with_iam", "container"}


def pytest_collection_modifyitems(items) -> None:
    """Mark each test by the services its fixtures start, so that the quick lane
    (``-m "not emulator and not postgres and not airflow and not e2e"``) needs no marks
    written by hand and cannot miss one."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        params = getattr(getattr(item, "callspec", None), "params", {})
        if fixtures & _EMULATOR_FIXTURES or params.get("bucket", "local") != "local":
            item.add_marker(pytest.mark.emulator)
        if "airflow_db" in fixtures:
            item.add_marker(pytest.mark.airflow)
        if params.get("catalog_url") == "postgres":
            item.add_marker(pytest.mark.postgres)


# -- Airflow -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated Airflow metadata database (SQLite) in the session's Airflow home."""
    subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
        check=True,
        capture_output=True,
    )
    return _HOME


# -- catalogs ------------------------------------------------------------------------------


def _postgres_database():
    import psycopg

    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        missing(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
    name = f"tributary_test_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    return admin, name


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def catalog_url(request, tmp_path) -> str:
    """A fresh, empty catalog database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.db'}"
        return
    admin, name = _postgres_database()
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    from tributary.hooks import catalog as catalog_hook

    for cached in catalog_hook._catalogs.values():
        cached.engine.dispose()
    catalog_hook._catalogs.clear()
    admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture
def catalog(catalog_url, monkeypatch):
    """The catalog every Tributary entry point will use in this test."""
    from tributary.catalog import Catalog

    monkeypatch.setenv("TRIBUTARY_CATALOG_URL", catalog_url)
    return Catalog(catalog_url)


# -- emulators -----------------------------------------------------------------------------


def _emulator(request, start) -> emulators.Emulator:
    try:
        emulator = start(_HOME / "emulator-logs")
    except (RuntimeError, FileNotFoundError) as exc:
        missing(str(exc))
    request.addfinalizer(emulator.stop)
    os.environ.update(emulator.env)
    return emulator


@pytest.fixture(scope="session")
def moto(request) -> emulators.Emulator:
    return _emulator(request, emulators.start_moto)


@pytest.fixture(scope="session")
def azurite(request) -> emulators.Emulator:
    return _emulator(request, emulators.start_azurite)


@pytest.fixture(scope="session")
def azurite_queue(request) -> emulators.Emulator:
    return _emulator(request, emulators.start_azurite_queue)


@pytest.fixture(scope="session")
def gcs(request) -> emulators.Emulator:
    return _emulator(request, emulators.start_gcs)


PROVIDERS = ["local", "s3", "azure", "gcs"]
_EMULATOR_OF = {"s3": "moto", "azure": "azurite", "gcs": "gcs"}


@pytest.fixture(params=PROVIDERS)
def bucket(request, tmp_path):
    """A fresh, empty bucket on each storage kind (emulators started on first use)."""
    from tests.buckets import new_bucket

    provider = request.param
    emulator = request.getfixturevalue(_EMULATOR_OF[provider]) if provider != "local" else None
    return new_bucket(provider, emulator, tmp_path)


# -- the REST API on a real HTTP server ------------------------------------------------------


@pytest.fixture(scope="session")
def live_api_server(tmp_path_factory):
    """Tributary's API on uvicorn (tests/live_api.py), one for the session: a test gives
    it its own catalog with ``live_api_server.use(catalog)``."""
    from tests import live_api
    from tributary.catalog import Catalog

    first = tmp_path_factory.mktemp("live-api") / "catalog.db"
    server = live_api.start(Catalog(f"sqlite:///{first}"))
    yield server
    server.stop()
