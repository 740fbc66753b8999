"""Crash tests: SIGKILL the process running an upstream sync at several points, then run
it again. The catalog must end equal to the bucket, with no duplicates and no lost ids."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest
import sqlalchemy as sa

from tests.conftest import REPO
from tests.dags.runner import run_dag
from tributary.catalog import datasets, drivers, syncs
from tributary.catalog import items as item_queries
from tributary.catalog.schema import items

RUNNER = REPO / "tests" / "crash" / "kill_runner.py"
LOGICAL_DATE = "2026-11-20T02:00:00+00:00"

# Where to die: (statement pattern on the catalog, which occurrence).
KILL_POINTS = {
    "mid-listing": (r"^UPDATE sync_partitions", 3),
    "planning": (r"^INSERT INTO sync_changes", 1),
    "mid-apply, after the renames": (r"^UPDATE items SET", 2),
    "mid-apply, inserting new items": (r"^INSERT INTO items", 1),
    "closing the sync": (r"^DELETE FROM dataset_locks", 1),
}


def seed(root):
    for folder in "abcd":
        for i in range(6):
            path = root / folder / f"{i}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(f"{folder}{i}".encode() * (i + 1))


def change(root):
    (root / "a" / "0.jpg").rename(root / "a" / "zero.jpg")
    (root / "b" / "1.jpg").rename(root / "d" / "moved.jpg")
    (root / "c" / "2.jpg").unlink()
    (root / "d" / "3.jpg").write_bytes(b"rewritten")
    (root / "e").mkdir()
    (root / "e" / "new.jpg").write_bytes(b"new")


def bucket_files(root) -> set[str]:
    return {
        "/" + str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and ".tributary" not in p.parts
    }


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_sigkill_then_rerun_leaves_the_catalog_equal_to_the_bucket(
    airflow_db, catalog, catalog_url, tmp_path, point, monkeypatch
):
    monkeypatch.setenv("TRIBUTARY_LISTING_PAGE_SIZE", "3")
    # The killed run never releases its lock: the next run takes it over once the dead
    # sync's heartbeat is this old (an hour by default; Airflow failing the dead run
    # frees it sooner in a real deployment).
    monkeypatch.setenv("TRIBUTARY_LOCK_STALE_SECONDS", "2")
    monkeypatch.setenv("TRIBUTARY_LOCK_WAIT_SECONDS", "60")
    root = tmp_path / "bucket"
    seed(root)
    with catalog.begin() as conn:
        drivers.create(conn, name="d", provider="local", bucket=str(root))
        datasets.create(conn, name="ds", driver_name="d", mass_delete_threshold=0.5)
    assert run_dag("tributary_upstream_sync", {"dataset": "ds"}).state == "success"
    with catalog.begin() as conn:
        ids_before = {i["path"]: i["id"] for i in item_queries.iterate(conn, "ds")}
    change(root)

    pattern, nth = KILL_POINTS[point]
    killed = subprocess.run(
        [sys.executable, str(RUNNER), "ds", LOGICAL_DATE, pattern, str(nth)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -9, killed.stderr[-3000:]
    with catalog.begin() as conn:
        dead = syncs.history(conn, "ds", limit=1)[0]
    assert dead["status"] == "running"  # died mid-way, lock held

    rerun = run_dag(
        "tributary_upstream_sync",
        {"dataset": "ds"},
        logical_date=dt.datetime.fromisoformat(LOGICAL_DATE),
    )

    assert rerun.state == "success"
    with catalog.begin() as conn:
        active = {i["path"]: i for i in item_queries.iterate(conn, "ds")}
        ghosts = {i["path"] for i in item_queries.iterate(conn, "ds", "ghost")}
        total = conn.execute(sa.select(sa.func.count()).select_from(items)).scalar_one()
        newest = syncs.history(conn, "ds", limit=1)[0]
    assert set(active) == bucket_files(root)
    assert ghosts == {"/c/2.jpg"}
    assert total == len(active) + len(ghosts)  # no duplicates
    assert active["/a/zero.jpg"]["id"] == ids_before["/a/0.jpg"]
    assert active["/d/moved.jpg"]["id"] == ids_before["/b/1.jpg"]
    assert active["/d/3.jpg"]["id"] == ids_before["/d/3.jpg"]
    assert newest["status"] == "succeeded"
    with catalog.begin() as conn:
        assert "interrupted" in syncs.get(conn, dead["id"])["error"]
    assert (newest["items_new"], newest["items_renamed"], newest["items_ghosted"]) == (1, 2, 1)
