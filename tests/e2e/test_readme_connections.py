"""The README's connection flow, literally: ``airflow connections add`` (the metadata
database), then the installed ``tributary`` uses those connections as the DAG tasks do —
for a bucket (issue 9, B10) and for the catalog itself (B11)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.buckets import new_bucket
from tributary.catalog import Catalog
from tributary.catalog import datasets as dataset_queries
from tributary.catalog import drivers as driver_queries

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent


def _env() -> dict:
    """The user's shell: Airflow's home, no connection or catalog given by environment."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW_CONN_", "TRIBUTARY_CATALOG"))
    }


def _run(*argv: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture
def airflow_connections(airflow_db):
    """``airflow connections add`` in the session's Airflow; each one deleted afterwards."""
    added = []

    def add(conn_id: str, *options: str) -> None:
        result = _run(str(BIN / "airflow"), "connections", "add", conn_id, *options, env=_env())
        assert result.returncode == 0, result.stdout + result.stderr
        added.append(conn_id)

    yield add
    for conn_id in added:
        _run(str(BIN / "airflow"), "connections", "delete", conn_id, env=_env())


def tributary(*args: str, env: dict) -> subprocess.CompletedProcess:
    return _run(str(BIN / "tributary"), *args, env=env)


def test_a_connection_added_with_airflow_makes_a_working_driver(
    airflow_connections, moto, tmp_path
):
    bucket = new_bucket("s3", moto, tmp_path)
    extra = {"region_name": "us-east-1", "endpoint_url": moto.endpoint}
    airflow_connections(
        "my_s3", "--conn-type", "aws", "--conn-login", "testing", "--conn-password", "testing",
        "--conn-extra", json.dumps(extra),
    )  # fmt: skip
    env = {**_env(), "TRIBUTARY_CATALOG_URL": f"sqlite:///{tmp_path / 'catalog.db'}"}

    created = tributary(
        "driver", "create", "cams", "--provider", "s3", "--conn-id", "my_s3",
        "--bucket", bucket.name, env=env,
    )  # fmt: skip
    checked = tributary("driver", "check", "cams", env=env)
    missing = tributary(
        "driver", "create", "other", "--provider", "s3", "--conn-id", "my_s4",
        "--bucket", bucket.name, env=env,
    )  # fmt: skip

    assert created.returncode == 0, created.stdout + created.stderr
    assert "driver 'cams' created on s3://" in created.stdout
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert missing.returncode == 1
    assert missing.stderr == (
        "error: driver 'other' not created: Airflow has no connection 'my_s4' "
        "(see: airflow connections list)\n"
    )
    for result in (created, checked, missing):
        assert "testing" not in result.stdout + result.stderr


@pytest.mark.parametrize("catalog_url", ["postgres"], indirect=True)
def test_the_catalog_connection_added_with_airflow_is_the_clis_catalog(
    airflow_connections, catalog_url, tmp_path
):
    airflow_connections("tributary_catalog", "--conn-uri", catalog_url)
    env = _env()

    created = tributary("dataset", "create", "photos", "--no-sync", env=env)
    listed = tributary("dataset", "list", "--json", env=env)

    assert created.returncode == 0, created.stdout + created.stderr
    assert listed.returncode == 0, listed.stderr
    assert [json.loads(line)["name"] for line in listed.stdout.splitlines()] == ["photos"]
    # The same catalog the tasks resolve (PostgreSQL), not the embedded SQLite file.
    with Catalog(catalog_url).begin() as conn:
        assert [d["name"] for d in dataset_queries.list_all(conn)] == ["photos"]
        assert driver_queries.list_all(conn) == []
