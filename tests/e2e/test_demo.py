"""The README's demo command, for real: Airflow standalone, REST-triggered initial sync."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from tests.conftest import REPO
from tests.emulators import free_port

pytestmark = pytest.mark.e2e


def test_demo_brings_up_airflow_with_the_synced_dataset(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "TRIBUTARY"))}
    env.update(
        TRIBUTARY_DEMO_DIR=str(tmp_path / "demo"),
        TRIBUTARY_DEMO_PORT=str(free_port()),
        TRIBUTARY_DEMO_WORKER_LOG_PORT=str(free_port()),
        TRIBUTARY_DEMO_TRIGGER_LOG_PORT=str(free_port()),
    )
    try:
        result = subprocess.run(
            ["bash", "scripts/demo.sh"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        log = tmp_path / "demo" / "airflow.log"
        detail = result.stdout[-4000:] + result.stderr[-4000:]
        if log.exists():
            detail += log.read_text()[-4000:]
        assert result.returncode == 0, detail
        assert f"http://localhost:{env['TRIBUTARY_DEMO_PORT']}" in result.stdout
        assert "login: admin / admin" in result.stdout
        match = re.search(r"dataset    : demo, (\d+) items indexed", result.stdout)
        assert match, result.stdout
        files = [
            p
            for p in (tmp_path / "demo" / "bucket").rglob("*")
            if p.is_file() and ".tributary" not in p.parts
        ]
        assert int(match.group(1)) == len(files) > 100
        assert "success" in result.stdout
    finally:
        subprocess.run(["bash", "scripts/demo.sh", "stop"], cwd=REPO, env=env, check=False)
