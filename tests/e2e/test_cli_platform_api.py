"""The installed ``tributary`` platform commands and the Python client against a real
``airflow standalone`` (its API server mounts Tributary's API), with real Airflow logins:
uploads twice (all skipped), a conflict, --overwrite, --json, no progress bar when piped,
metadata, delete and restore, and a Viewer refused."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tributary.client import Client, Forbidden

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]
TRIBUTARY = Path(sys.executable).parent / "tributary"


def cli(server, *args: str, user: str = "admin") -> subprocess.CompletedProcess:
    """``tributary ARGS`` as ``user`` (password = name on the session's Airflow), piped."""
    env = {
        **os.environ,
        **server.env,
        "TRIBUTARY_AIRFLOW_USER": user,
        "TRIBUTARY_AIRFLOW_PASSWORD": user,
    }
    return subprocess.run(
        [str(TRIBUTARY), *args], capture_output=True, text=True, timeout=300, env=env,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


@contextlib.contextmanager
def downstream_paused(server):
    dag = f"{server}/api/v2/dags/tributary_downstream_sync"
    paused = httpx.patch(dag, json={"is_paused": True}, headers=server.headers(), timeout=60)
    assert paused.status_code == 200, paused.text
    try:
        yield
    finally:
        httpx.patch(dag, json={"is_paused": False}, headers=server.headers(), timeout=60)


@pytest.fixture(scope="module")
def inbox(airflow_server):
    """An internal dataset ``inbox``, created through the client."""
    with Client(airflow_server, user="admin", password="admin") as api:  # noqa: S106
        api.create_dataset("inbox", sync=False)
    return "inbox"


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = tmp_path / "shots"
    (folder / "cam1").mkdir(parents=True)
    for n in range(6):
        (folder / "cam1" / f"{n}.jpg").write_bytes(os.urandom(1000 + n))
    (folder / "notes.txt").write_text("night shift")
    return folder


def test_upload_a_folder_twice_then_a_conflict_then_overwrite(airflow_server, inbox, shots):
    first = cli(airflow_server, "upload", inbox, str(shots), "--to", "/e2e/", "--json")
    assert first.returncode == 0, first.stderr
    results = [json.loads(line) for line in first.stdout.splitlines()]
    assert sorted(r["path"] for r in results) == [
        *(f"/e2e/shots/cam1/{n}.jpg" for n in range(6)),
        "/e2e/shots/notes.txt",
    ]
    assert {r["status"] for r in results} == {"created"}
    assert "\r" not in first.stderr and "[#" not in first.stderr  # piped: no bar
    assert "7 files (7 created)" in first.stderr  # with --json the summary goes to stderr

    again = cli(airflow_server, "upload", inbox, str(shots), "--to", "/e2e/")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("7 files (7 skipped), 0 B sent")
    assert again.stderr == ""

    (shots / "notes.txt").write_text("day shift")
    conflict = cli(airflow_server, "upload", inbox, str(shots), "--to", "/e2e/")
    assert conflict.returncode == 1
    (line,) = conflict.stderr.splitlines()
    assert line.startswith(f"error: {shots / 'notes.txt'} -> /e2e/shots/notes.txt: conflict: ")
    assert "6 skipped, 1 conflict" in conflict.stdout

    with Client(airflow_server, user="admin", password="admin") as api:  # noqa: S106
        before = api.item_by_path(inbox, "/e2e/shots/notes.txt")
    replaced = cli(
        airflow_server, "upload", inbox, str(shots / "notes.txt"), "--to", "/e2e/shots/",
        "--overwrite", "--json",
    )  # fmt: skip
    assert replaced.returncode == 0, replaced.stderr
    (result,) = [json.loads(line) for line in replaced.stdout.splitlines()]
    assert (result["status"], result["item"]["id"]) == ("replaced", before["id"])


def test_metadata_delete_and_restore(airflow_server, inbox, tmp_path):
    (tmp_path / "gate.jpg").write_bytes(b"gate" * 100)
    assert cli(airflow_server, "upload", inbox, str(tmp_path / "gate.jpg")).returncode == 0

    set_meta = cli(airflow_server, "meta", inbox, "/gate.jpg", "camera=7", "area=north", "--json")
    assert set_meta.returncode == 0, set_meta.stderr
    assert json.loads(set_meta.stdout)["metadata"]["user"] == {"camera": 7, "area": "north"}

    bulk = tmp_path / "bulk.jsonl"
    bulk.write_text('{"path": "/gate.jpg", "metadata": {"lot": 1}}\n{"path": "/nope.jpg"}\n')
    applied = cli(airflow_server, "meta", inbox, "--file", str(bulk))
    assert applied.returncode == 1
    assert applied.stdout == "1 lines applied, 1 refused\n"
    assert applied.stderr.startswith(f"error: {bulk}: line 2: ")

    # A downstream run (asked for by earlier uploads) would apply the delete before the
    # restore: held paused meanwhile, so the restore finds the file still there.
    with downstream_paused(airflow_server):
        deleted = cli(airflow_server, "delete", inbox, "/gate.jpg", "--yes")
        assert deleted.returncode == 0, deleted.stderr
        assert "removed from the internal storage" in deleted.stdout
        restored = cli(airflow_server, "restore", inbox, "/gate.jpg")
        assert restored.returncode == 0, restored.stderr


def test_a_viewer_reads_and_cannot_upload(airflow_server, inbox, tmp_path):
    (tmp_path / "v.jpg").write_bytes(b"v")
    refused = cli(airflow_server, "upload", inbox, str(tmp_path / "v.jpg"), user="viewer")
    assert refused.returncode == 1
    (line,) = refused.stderr.splitlines()
    assert line.startswith(f"error: {tmp_path / 'v.jpg'} -> /v.jpg: failed: ")
    with Client(airflow_server, user="viewer", password="viewer") as viewer:  # noqa: S106
        assert any(d["name"] == inbox for d in viewer.datasets())
        with pytest.raises(Forbidden):
            viewer.upload_file(inbox, tmp_path / "v.jpg", "/v.jpg")
