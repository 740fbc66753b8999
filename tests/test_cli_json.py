"""Every ``--json`` output of the installed ``tributary`` parses, line by line, even when
Airflow, its providers and boto log while the command runs (a cloud driver)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.buckets import new_bucket

TRIBUTARY = Path(sys.executable).parent / "tributary"


def installed(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the installed ``tributary ARGS`` (its logging configured as a user's would be)."""
    return subprocess.run(
        [str(TRIBUTARY), *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=env or dict(os.environ),
    )


def json_output(*args: str, env: dict | None = None) -> list[dict]:
    """The records a ``--json`` command printed; every stdout line must be one."""
    result = installed(*args, env=env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.parametrize("catalog_url", ["sqlite"], indirect=True)
def test_every_json_output_parses_with_a_cloud_driver(catalog, catalog_url, moto, tmp_path):
    from tests.sync.upstream_steps import upstream_sync

    bucket = new_bucket("s3", moto, tmp_path)
    bucket.put("cams/a.jpg", b"jpeg")

    (created,) = json_output(
        "driver", "create", "s3d", "--provider", "s3", "--bucket", bucket.name,
        "--conn-id", bucket.conn_id, "--json",
    )  # fmt: skip
    assert created["check"]["ok"] is True
    (listed,) = json_output("driver", "list", "--json")
    assert listed["name"] == "s3d"
    (checked,) = json_output("driver", "check", "s3d", "--json")
    assert checked["permissions"]["put"]["ok"] is True
    assert installed("dataset", "create", "ds", "--driver", "s3d", "--no-sync").returncode == 0
    upstream_sync(catalog, "ds")
    assert [d["name"] for d in json_output("dataset", "list", "--json")] == ["ds"]
    assert [i["path"] for i in json_output("items", "ds", "--json")] == ["/cams/a.jpg"]
    assert [r["status"] for r in json_output("runs", "ds", "--json")] == ["succeeded"]

    # The catalog found through Airflow's connection: Airflow itself is imported to find it.
    env = {k: v for k, v in os.environ.items() if k != "TRIBUTARY_CATALOG_URL"}
    env["AIRFLOW_CONN_TRIBUTARY_CATALOG"] = catalog_url
    assert [d["name"] for d in json_output("dataset", "list", "--json", env=env)] == ["ds"]


@pytest.mark.parametrize("catalog_url", ["sqlite"], indirect=True)
def test_logs_go_to_stderr_and_only_with_v(catalog, moto, tmp_path):
    bucket = new_bucket("s3", moto, tmp_path)
    args = ("driver", "create", "s3d", "--provider", "s3", "--bucket", bucket.name)
    assert installed(*args, "--conn-id", bucket.conn_id).returncode == 0

    quiet = installed("driver", "check", "s3d", "--json")
    verbose = installed("-v", "driver", "check", "s3d", "--json")

    assert quiet.stderr == ""  # quiet on success
    assert "credentials retrieved" in verbose.stderr  # the provider's INFO line, on stderr
    for result in (quiet, verbose):
        assert result.returncode == 0
        (record,) = [json.loads(line) for line in result.stdout.splitlines()]
        assert record["ok"] is True
