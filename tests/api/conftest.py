"""Tributary's API on a real HTTP server (tests/live_api.py) over a fresh SQLite catalog
and internal storage, and raw HTTP clients logged in as an admin and as a viewer."""

from __future__ import annotations

import httpx
import pytest

from tributary.catalog import Catalog

API = "/tributary/api/v1"


@pytest.fixture
def live(live_api_server, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    monkeypatch.setenv("TRIBUTARY_CATALOG_URL", url)
    monkeypatch.setenv("TRIBUTARY_STORAGE_ROOT", str(tmp_path / "storage"))
    live_api_server.use(Catalog(url))
    return live_api_server


def _client(live, user: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer token-{user}"} if user else {}
    return httpx.Client(base_url=live.url + API, headers=headers, timeout=60)


@pytest.fixture
def admin(live):
    with _client(live, "admin") as client:
        yield client


@pytest.fixture
def viewer(live):
    with _client(live, "viewer") as client:
        yield client


@pytest.fixture
def anonymous(live):
    with _client(live, None) as client:
        yield client
