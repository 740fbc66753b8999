"""The FastAPI app: its services (catalog, authorizer, drains, runs), error answers and
routes. Airflow's API server mounts it through ``plugins/tributary_ui/``."""

from __future__ import annotations

import threading
from typing import Any

from fastapi import FastAPI

from tributary.api import errors
from tributary.api.routes import content, datasets, drivers, imports, items, syncs, uploads
from tributary.catalog import Catalog

API = "/api/v1"


class _LazyCatalog:
    """The installation's catalog, opened at the first request (not when Airflow's API
    server imports the plugin: a catalog that is down then must not stop Airflow)."""

    def __init__(self) -> None:
        self._catalog: Catalog | None = None
        self._lock = threading.Lock()

    def get(self) -> Catalog:
        with self._lock:
            if self._catalog is None:
                from tributary.usecases.catalog import open_catalog

                self._catalog = open_catalog()
            return self._catalog


def create_app(
    *,
    catalog: Catalog | None = None,
    authorizer: Any = None,
    drains: Any = None,
    runs: Any = None,
) -> FastAPI:
    """Tributary's API over ``catalog``; the Airflow parts (auth manager, DAG runs) are
    used where no stand-in is given."""
    if authorizer is None or drains is None or runs is None:
        from tributary.api import airflow

        authorizer = authorizer or airflow.AirflowAuthorizer()
        drains = drains or airflow.AirflowDrains()
        runs = runs or airflow.AirflowRuns()
    app = FastAPI(
        title="Tributary",
        summary="Datasets over cloud buckets: items, uploads, metadata, syncs.",
        version="1",
        docs_url=API + "/docs",
        openapi_url=API + "/openapi.json",
        redoc_url=None,
    )
    app.state.catalog = catalog if catalog is not None else _LazyCatalog()
    app.state.authorizer = authorizer
    app.state.drains = drains
    app.state.runs = runs
    errors.install(app)
    for module in (datasets, drivers, items, content, uploads, syncs, imports):
        app.include_router(module.router, prefix=API)
    return app
