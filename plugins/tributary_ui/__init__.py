"""Tributary inside Airflow: its REST API (and the dataset browser) served by Airflow's own
API server at ``/tributary``; no extra process. Airflow loads this folder through
``AIRFLOW__CORE__PLUGINS_FOLDER`` (``scripts/demo.sh``, ``scripts/stack.sh`` and
docker-compose set it)."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from tributary.api import create_app


class TributaryPlugin(AirflowPlugin):
    """Mounts Tributary's FastAPI app; every route checks Airflow's token itself."""

    name = "tributary"
    fastapi_apps = [
        {"app": create_app(), "url_prefix": "/tributary", "name": "Tributary"},
    ]
