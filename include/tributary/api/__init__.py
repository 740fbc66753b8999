"""Tributary's REST API: a FastAPI app that Airflow's API server mounts (the plugin in
``plugins/tributary_ui/``) at ``/tributary``; every route under ``/api/v1``."""

from tributary.api.app import create_app

__all__ = ["create_app"]
