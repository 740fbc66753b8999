"""The production topology for real (issue 13): ``scripts/stack.sh`` — CeleryExecutor,
Redis, PostgreSQL, api-server, scheduler, dag-processor, triggerer and two Celery workers as
separate processes — over a moto bucket of 50,000 objects plus 2,000 real images.

One test, in phases that build on each other: the initial sync's partitions run on both
workers and the catalog holds exactly the bucket; a dataset in a private lane has its
images preprocessed only by the lane's worker; a churn (new, changed, renamed, deleted) and
an upstream sync with the right counts; then a worker is SIGKILLed while a sync's partitions
run and the scheduler is killed and restarted: the run still finishes, the lost task
instances retried, the catalog equal to the bucket with no duplicate and no ghost.

Needs PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379): skipped without them on a
laptop, failed in CI. ``TRIBUTARY_STACK_TEST_OBJECTS`` shrinks the bucket for a quick try.
"""

from __future__ import annotations

import collections
import json
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import PG_ADMIN_URL, missing
from tests.stack import (
    Stack,
    bucket_keys,
    bulk_objects,
    jpeg_images,
    put_objects,
    s3_client,
    wait_for,
)
from tributary.catalog import Catalog
from tributary.catalog import items as item_queries
from tributary.catalog.schema import datasets as datasets_table
from tributary.catalog.schema import items as items_table

pytestmark = [pytest.mark.e2e, pytest.mark.stack, pytest.mark.slow]

OBJECTS = int(os.environ.get("TRIBUTARY_STACK_TEST_OBJECTS", "50000"))
FOLDERS = 50
IMAGES = int(os.environ.get("TRIBUTARY_STACK_TEST_IMAGES", "2000"))
BUCKET = "tributary-stack"
REDIS_URL = os.environ.get("TRIBUTARY_STACK_REDIS_URL", "redis://127.0.0.1:6379/1")
# The DAGs scheduled from installation run their latest interval when first parsed.
SCHEDULED_DAGS = ("tributary_upstream_sync", "tributary_preprocess", "tributary_permission_check")


def require_services() -> None:
    """PostgreSQL and Redis, the machine's own: skip without them, fail in CI."""
    import psycopg
    import redis

    try:
        psycopg.connect(PG_ADMIN_URL, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        missing(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        missing(f"Redis not reachable at {REDIS_URL}: {exc}")


@pytest.fixture(scope="module")
def stack(moto):
    """The stack, started while the bucket fills (both take minutes; they overlap)."""
    require_services()
    client = s3_client(moto.endpoint)
    client.create_bucket(Bucket=BUCKET)
    uploaded: dict = {}

    def fill() -> None:
        try:
            objects = bulk_objects("bulk/", FOLDERS, OBJECTS // FOLDERS)
            uploaded["seconds"] = put_objects(client, BUCKET, objects)
        except Exception as exc:  # reported by the test below, not lost in the thread
            uploaded["error"] = exc

    filler = threading.Thread(target=fill)
    filler.start()
    # Not under pytest's basetemp: other pytest sessions on the machine prune old ones.
    folder = Path(tempfile.mkdtemp(prefix="tributary-stack-"))
    pg_server = PG_ADMIN_URL.rsplit("/", 1)[0]
    running = Stack(
        folder,
        {
            "AIRFLOW_CONN_TEST_S3": moto.env["AIRFLOW_CONN_TEST_S3"],
            "TRIBUTARY_STACK_PG_URL": pg_server,
            "TRIBUTARY_STACK_REDIS_URL": REDIS_URL,
        },
    )
    try:
        started = time.monotonic()
        running.start()
        print(f"stack started in {time.monotonic() - started:.0f} s")
        filler.join()
        assert "error" not in uploaded, uploaded.get("error")
        print(f"uploaded {OBJECTS} objects in {uploaded['seconds']:.0f} s")
        yield running
    finally:
        filler.join()
        running.stop(drop=True)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.timeout(2400)
def test_stack_syncs_preprocesses_and_survives_losing_a_worker(stack, moto):
    client = s3_client(moto.endpoint)
    catalog = Catalog(stack.catalog_url)
    try:
        settle_first_scheduled_runs(stack)
        lane_preprocessing(stack, client, catalog)
        # Preprocessing off from here: the bulk data is 50,000 tiny non-images, and an
        # items-created event reaches a later run even when it came while paused.
        stack.set_paused("tributary_preprocess", True)
        initial_sync_on_both_workers(stack, client, catalog)
        deleted = churn_and_upstream_sync(stack, client, catalog)
        worker_and_scheduler_killed_mid_sync(stack, client, catalog, deleted)
    except BaseException:
        for component in ("scheduler", "worker-default", "worker-lane", "api-server"):
            print(f"--- {component} log (end) ---\n{stack.log(component)}")
        raise


# -- phases ----------------------------------------------------------------------------------


def settle_first_scheduled_runs(stack: Stack) -> None:
    """Let the runs Airflow makes at first parse (nothing to do yet) end, so that none of
    them picks up the datasets made below."""

    def settled() -> bool:
        for dag_id in SCHEDULED_DAGS:
            runs = stack.dag_runs(dag_id)
            if not runs or any(r["state"] not in ("success", "failed") for r in runs):
                return False
        return True

    wait_for(settled, "the first scheduled runs", timeout=300, every=3)


def initial_sync_on_both_workers(stack: Stack, client, catalog: Catalog) -> None:
    stack.tributary(
        "driver", "create", "bulk-drv", "--provider", "s3", "--conn-id", "test_s3",
        "--bucket", BUCKET, "--path", "bulk/",
    )  # fmt: skip
    started = time.monotonic()
    out = stack.tributary("dataset", "create", "bulk", "--driver", "bulk-drv", "--wait")
    print(f"initial sync of {OBJECTS} objects: {time.monotonic() - started:.0f} s")
    assert ": success" in out, out

    run_id = run_id_in(out)
    partitions = [
        ti
        for ti in stack.task_instances("tributary_initial_sync", run_id)
        if ti["task_id"] == "list_partition"
    ]
    ran_on = collections.Counter(worker_of(ti) for ti in partitions)
    print(f"{len(partitions)} listing partitions, by worker: {dict(ran_on)}")
    assert set(ran_on) == {"worker-default", "worker-lane"}, ran_on
    assert all(ti["state"] == "success" for ti in partitions)
    assert_catalog_is_bucket(catalog, client, "bulk", "bulk/")


def lane_preprocessing(stack: Stack, client, catalog: Catalog) -> None:
    """A dataset in the ``acme`` lane: its batches run on the lane's queue, which only the
    lane worker serves."""
    images = jpeg_images("images/", IMAGES)
    put_objects(client, BUCKET, images)
    stack.tributary(
        "driver", "create", "photos-drv", "--provider", "s3", "--conn-id", "test_s3",
        "--bucket", BUCKET, "--path", "images/",
    )  # fmt: skip
    before = {r["dag_run_id"] for r in stack.dag_runs("tributary_preprocess")}
    out = stack.tributary(
        "dataset", "create", "photos", "--driver", "photos-drv", "--lane", "acme", "--wait"
    )
    assert ": success" in out, out

    # The initial sync's items-created event starts preprocessing.
    def new_run() -> dict | None:
        runs = [r for r in stack.dag_runs("tributary_preprocess") if r["dag_run_id"] not in before]
        return runs[0] if runs else None

    triggered = wait_for(new_run, "preprocessing started by the items-created event")
    run = stack.wait_for_run("tributary_preprocess", triggered["dag_run_id"])
    tis = stack.task_instances("tributary_preprocess", run["dag_run_id"])
    assert run["state"] == "success", [(t["task_id"], t["map_index"], t["state"]) for t in tis]
    lane_batches = [ti for ti in tis if ti["task_id"] == "preprocess_acme"]
    print(f"{len(lane_batches)} preprocessing batches in the lane, on {worker_set(lane_batches)}")
    assert lane_batches and all(ti["state"] == "success" for ti in lane_batches)
    assert worker_set(lane_batches) == {"worker-lane"}
    shared_ran = [ti for ti in tis if ti["task_id"] == "preprocess_shared" and ti["hostname"]]
    assert shared_ran == []
    with catalog.begin() as conn:
        found = list(item_queries.iterate(conn, "photos"))
    assert len(found) == IMAGES
    assert collections.Counter(i["preprocess_state"] for i in found) == {"done": IMAGES}
    assert all(i["thumbnail_key"] for i in found)


def churn_and_upstream_sync(stack: Stack, client, catalog: Catalog) -> set[str]:
    """New, changed, renamed and deleted objects; one upstream sync counts each right.
    Returns the deleted keys (their items are now ghosts)."""
    keys = sorted(bucket_keys(client, BUCKET, "bulk/"))
    changed, renamed, deleted = keys[0:50], keys[100:130], keys[200:220]
    new = {f"bulk/f{n % FOLDERS:02d}/new-{n:04d}.bin": f"new {n}".encode() for n in range(100)}
    put_objects(client, BUCKET, new)
    put_objects(client, BUCKET, {key: b"changed " + key.encode() for key in changed})
    for key in renamed:
        client.copy_object(
            Bucket=BUCKET, Key=f"{key}.moved", CopySource={"Bucket": BUCKET, "Key": key}
        )
        client.delete_object(Bucket=BUCKET, Key=key)
    for key in deleted:
        client.delete_object(Bucket=BUCKET, Key=key)

    started = time.monotonic()
    out = stack.tributary("sync", "bulk", "--wait")
    print(f"upstream sync with churn: {time.monotonic() - started:.0f} s")
    assert ": success" in out, out
    latest = json.loads(stack.tributary("runs", "bulk", "--json").splitlines()[0])
    counts = {k: latest[f"items_{k}"] for k in ("new", "changed", "renamed", "ghosted", "revived")}
    assert counts == {"new": 100, "changed": 50, "renamed": 30, "ghosted": 20, "revived": 0}
    assert latest["status"] == "succeeded"
    assert_catalog_is_bucket(catalog, client, "bulk", "bulk/", ghosts={*deleted})
    return set(deleted)


def worker_and_scheduler_killed_mid_sync(
    stack: Stack, client, catalog: Catalog, deleted: set[str]
) -> None:
    """SIGKILL the lane worker (it serves the default queue too) while the sync's
    partitions run on it, then kill the scheduler and start it again. The run finishes:
    the task instances the worker took down are retried on the other worker."""
    put_objects(client, BUCKET, {f"bulk/f07/late-{n:03d}.bin": b"late %d" % n for n in range(40)})
    out = stack.tributary("sync", "bulk")
    run_id = run_id_in(out)
    dag_id = "tributary_upstream_sync"

    def partitions_running_on_lane_worker() -> list[dict]:
        return [
            ti
            for ti in stack.task_instances(dag_id, run_id)
            if ti["task_id"] == "list_partition"
            and ti["state"] == "running"
            and worker_of(ti) == "worker-lane"
        ]

    wait_for(partitions_running_on_lane_worker, "a partition running on the lane worker", 300, 0.5)
    stack.kill("worker-lane", signal.SIGKILL)
    killed_at = time.monotonic()
    victims = {(ti["task_id"], ti["map_index"]) for ti in partitions_running_on_lane_worker()}
    print(f"SIGKILLed worker-lane while it ran partitions {sorted(v[1] for v in victims)}")
    assert victims

    time.sleep(3)
    stack.kill("scheduler", signal.SIGKILL)
    time.sleep(5)
    stack.restart("scheduler")

    run = stack.wait_for_run(dag_id, run_id, timeout=1200)
    print(f"run ended {time.monotonic() - killed_at:.0f} s after the kill: {run['state']}")
    tis = stack.task_instances(dag_id, run_id)
    assert run["state"] == "success", [(t["task_id"], t["map_index"], t["state"]) for t in tis]
    by_key = {(ti["task_id"], ti["map_index"]): ti for ti in tis}
    for victim in victims:
        ti = by_key[victim]
        assert ti["state"] == "success" and ti["try_number"] >= 2, ti
        assert worker_of(ti) == "worker-default", ti
    latest = json.loads(stack.tributary("runs", "bulk", "--json").splitlines()[0])
    assert latest["run_id"] == run_id
    assert latest["status"] == "succeeded"
    assert (latest["items_new"], latest["items_ghosted"], latest["items_changed"]) == (40, 0, 0)
    assert_catalog_is_bucket(catalog, client, "bulk", "bulk/", ghosts=deleted)
    stack.restart("worker-lane")


# -- checks ----------------------------------------------------------------------------------


def assert_catalog_is_bucket(
    catalog: Catalog, client, dataset: str, prefix: str, ghosts: set[str] = frozenset()
) -> None:
    """Active items are exactly the bucket's keys under ``prefix``, ghosts exactly
    ``ghosts``, and no path appears twice whatever its state."""
    expected = {"/" + key[len(prefix) :] for key in bucket_keys(client, BUCKET, prefix)}
    with catalog.begin() as conn:
        rows = conn.execute(
            sa.select(items_table.c.path, items_table.c.state)
            .join(datasets_table, datasets_table.c.id == items_table.c.dataset_id)
            .where(datasets_table.c.name == dataset)
        ).all()
    paths = [row.path for row in rows]
    duplicates = [p for p, n in collections.Counter(paths).items() if n > 1]
    assert duplicates == []
    active = {row.path for row in rows if row.state == "active"}
    assert len(active) == len(expected)
    assert active == expected, (sorted(active - expected)[:5], sorted(expected - active)[:5])
    ghost_paths = {row.path for row in rows if row.state == "ghost"}
    assert ghost_paths == {"/" + key[len(prefix) :] for key in ghosts}
    assert {row.state for row in rows} <= {"active", "ghost"}


def run_id_in(cli_output: str) -> str:
    """The Airflow run id that ``tributary`` printed when it triggered a run."""
    match = re.search(r": run (\S+)", cli_output)
    assert match, cli_output
    return match.group(1)


def worker_of(ti: dict) -> str:
    """Which stack worker ran a task instance: the hostname it recorded
    (``worker-default.<machine>`` / ``worker-lane.<machine>``, see stack.sh)."""
    return (ti.get("hostname") or "").split(".", 1)[0]


def worker_set(tis: list[dict]) -> set[str]:
    return {worker_of(ti) for ti in tis}
