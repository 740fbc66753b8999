"""A real ``airflow dags test`` process, configured only by environment and Connections."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.buckets import new_bucket
from tests.conftest import REPO
from tributary.catalog import Catalog, datasets, drivers, items, syncs

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("catalog_url", ["postgres"], indirect=True)
def test_airflow_dags_test_with_connections_only(airflow_db, catalog_url, moto, tmp_path):
    bucket = new_bucket("s3", moto, tmp_path)
    for key in ("a/1.jpg", "a/b/2.jpg", "c d/ü.png", ".tributary/probe/old.txt"):
        bucket.put(key, b"data " + key.encode())
    catalog = Catalog(catalog_url)
    with catalog.begin() as conn:
        drivers.create(conn, name="s3", provider="s3", bucket=bucket.name, conn_id="test_s3")
        datasets.create(conn, name="from-env", driver_name="s3")

    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIBUTARY_CATALOG")}
    env["AIRFLOW_CONN_TRIBUTARY_CATALOG"] = catalog_url  # the catalog, as a Connection
    env["AIRFLOW_CONN_TEST_S3"] = moto.env["AIRFLOW_CONN_TEST_S3"]
    airflow = str(Path(sys.executable).parent / "airflow")
    result = subprocess.run(
        [
            airflow,
            "dags",
            "test",
            "tributary_initial_sync",
            "--conf",
            json.dumps({"dataset": "from-env"}),
        ],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    with catalog.begin() as conn:
        paths = sorted(i["path"] for i in items.iterate(conn, "from-env"))
        (sync_run,) = syncs.history(conn, "from-env")
    assert paths == ["/a/1.jpg", "/a/b/2.jpg", "/c d/ü.png"]
    assert sync_run["status"] == "succeeded"
    assert "testing" not in result.stdout.replace("/testing", "")
