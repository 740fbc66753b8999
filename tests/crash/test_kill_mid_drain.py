"""Crash tests of the downstream sync: SIGKILL the drain at chosen points — between a copy
and its record, between a spool's delete and the mark, after a bucket delete, while
announcing — then run it again. Every outbox entry must take effect exactly once: the
bucket ends as the platform says, nothing is lost, no item is duplicated, and each new
item is announced."""

from __future__ import annotations

import datetime as dt
import io
import subprocess
import sys

import pytest
import sqlalchemy as sa

from tests.conftest import REPO
from tests.dags.runner import run_dag
from tests.dags.test_initial_sync import items_created_events
from tributary.catalog import datasets, drivers, outbox
from tributary.catalog.schema import items
from tributary.catalog.schema import outbox as outbox_table
from tributary.storage import open_dataset_store
from tributary.sync import downstream
from tributary.usecases.uploads import upload

RUNNER = REPO / "tests" / "crash" / "drain_kill_runner.py"

# Where to die: (kind, statement pattern or storage method, which occurrence). The drain
# applies, in id order: delete x, delete y (kept: y is back), put y, put a, put b, put c,
# put z, delete z, delete a thumbnail; then it announces.
KILL_POINTS = {
    "after the first copy, nothing recorded": ("storage", "copy", 1),
    "after a bucket delete, before its mark": ("storage", "delete", 1),
    "after a spool's delete, before the mark": ("storage", "delete", 4),
    "recording a put (item and mark in one transaction)": (
        "sql",
        r"^UPDATE items SET size=\S+ etag=",
        2,
    ),
    "marking the third operation done": ("sql", r"^UPDATE outbox SET status", 3),
    "after the put before a delete of the same key": ("storage", "delete", 6),
    "announcing (rows marked, not committed)": ("sql", r"count_1\s+FROM outbox", 1),
}
BASE_DATE = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)


def platform_delete(catalog, path):
    """What the platform delete leaves (the EDITS use case): a deleted item, a delete row."""
    with catalog.begin() as conn:
        item = conn.execute(sa.select(items).where(items.c.path == path)).mappings().one()
        conn.execute(
            items.update()
            .where(items.c.id == item["id"])
            .values(state="deleted", deleted_at=dt.datetime.now(dt.UTC), downstream="delete")
        )
        outbox.enqueue(
            conn,
            dataset_id=item["dataset_id"],
            op="delete",
            storage_key=item["storage_key"],
            item_id=item["id"],
        )


def seed_outbox(catalog, root) -> dict[str, int]:
    """Queue every kind of operation; returns the ids of the items to announce."""
    with catalog.begin() as conn:
        drivers.create(conn, name="d", provider="local", bucket=str(root), allow_delete=True)
        dataset = datasets.create(conn, name="ds", driver_name="d")
    upload(catalog, "ds", "/x.txt", io.BytesIO(b"x, deleted later"))
    upload(catalog, "ds", "/y.txt", io.BytesIO(b"y, first version"))
    platform_delete(catalog, "/x.txt")
    platform_delete(catalog, "/y.txt")
    ids = {}
    ids["y"] = upload(catalog, "ds", "/y.txt", io.BytesIO(b"y, uploaded again"), apply_now=False)[
        "item"
    ]["id"]
    for name in "abc":
        ids[name] = upload(
            catalog, "ds", f"/{name}.txt", io.BytesIO(name.encode() * 1000), apply_now=False
        )["item"]["id"]
    upload(
        catalog, "ds", "/z.txt", io.BytesIO(b"z, deleted before it was written"), apply_now=False
    )
    platform_delete(catalog, "/z.txt")
    (root / ".tributary" / "thumbnails" / "1").mkdir(parents=True)
    (root / ".tributary" / "thumbnails" / "1" / "9.jpg").write_bytes(b"stale thumbnail")
    with catalog.begin() as conn:
        outbox.enqueue(
            conn,
            dataset_id=dataset.id,
            op="delete_thumbnail",
            storage_key=".tributary/thumbnails/1/9.jpg",
        )
    return ids


def files(root) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_sigkill_then_rerun_applies_every_entry_exactly_once(airflow_db, catalog, tmp_path, point):
    root = tmp_path / "bucket"
    root.mkdir()
    ids = seed_outbox(catalog, root)
    kind, what, nth = KILL_POINTS[point]
    index = list(KILL_POINTS).index(point)
    killed_at = BASE_DATE + dt.timedelta(hours=2 * index)

    killed = subprocess.run(
        [sys.executable, str(RUNNER), kind, what, str(nth), killed_at.isoformat()],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -9, killed.stderr[-3000:]

    rerun = run_dag("tributary_downstream_sync", {}, logical_date=killed_at + dt.timedelta(hours=1))

    assert rerun.state == "success"
    assert files(root) == {
        "y.txt": b"y, uploaded again",
        "a.txt": b"a" * 1000,
        "b.txt": b"b" * 1000,
        "c.txt": b"c" * 1000,
    }  # x and z deleted, the spool and the stale thumbnail gone, no temporary file left
    with catalog.begin() as conn:
        rows = {r["path"]: dict(r) for r in conn.execute(sa.select(items)).mappings()}
        statuses = conn.execute(
            sa.select(outbox_table.c.op, outbox_table.c.status, outbox_table.c.attempts)
        ).all()
        store = open_dataset_store(datasets.get(conn, "ds"))
    assert sorted(rows) == ["/a.txt", "/b.txt", "/c.txt", "/x.txt", "/y.txt", "/z.txt"]
    assert {p: r["state"] for p, r in rows.items() if r["state"] != "active"} == {
        "/x.txt": "deleted",
        "/z.txt": "deleted",
    }
    assert all(r["downstream"] is None for r in rows.values())
    for path in ("/a.txt", "/b.txt", "/c.txt", "/y.txt"):
        assert rows[path]["etag"] == store.head(path[1:]).etag  # what a listing shows
    assert {(op, status) for op, status, _ in statuses} <= {
        (op, "done") for op in ("put", "delete", "delete_thumbnail", "announce")
    }
    assert all(attempts == 0 for *_, attempts in statuses)  # nothing failed on the way
    # Nothing was announced by the killed run; the rerun announces each new item once.
    assert items_created_events(rerun) == [
        {"dataset": "ds", "count": 4, "min_id": min(ids.values()), "max_id": max(ids.values())}
    ]
    assert downstream.drain(catalog).as_dict() == {
        "applied": 0,
        "failed": 0,
        "gave_up": [],
        "deferred": 0,
        "pending": 0,
        "announced": [],
    }
