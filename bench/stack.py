"""The initial sync of a 50,000-object bucket on the production topology (scripts/stack.sh:
CeleryExecutor, Redis, PostgreSQL), with two workers and with one, in the same session.

Starts moto (S3) and the stack, fills the bucket while the stack starts, then creates one
dataset per round over the same 50,000 objects (`tributary dataset create --wait`), the
lane worker running or stopped as the round asks (default order: 2, 1, 2 workers, so that
drift in the machine's load shows). For each round: wall time, the run's time in Airflow,
the listing partitions and how they spread over the workers, and per mapped task the time
queued (scheduler → worker start) and run (start → end). Then Airflow's own overhead per
mapped task: the median partition task's run time minus the same partition's work, timed
in this process (the very listing code, same catalog, no Airflow). Preprocessing is paused
throughout (50,000 non-images); the batches a preprocessing run would make of them come from
the planner itself.

    .venv/bin/python bench/stack.py                  # about 12 minutes on 2 cores
    .venv/bin/python bench/stack.py --objects 10000 --order 2,1
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import platform
import shutil
import signal
import statistics
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tests import emulators  # noqa: E402
from tests.stack import (  # noqa: E402
    Stack,
    bulk_objects,
    put_objects,
    s3_client,
    wait_for,
)

BUCKET = "bench-stack"
FOLDERS = 50


def seconds(start: str, end: str) -> float:
    return (dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start)).total_seconds()


def set_workers(stack: Stack, count: int) -> None:
    """Two workers: the lane worker runs (it serves the default queue too); one: stopped."""
    lane_up = (stack.folder / "pids" / "worker-lane.pid").exists()
    if count == 2 and not lane_up:
        stack.restart("worker-lane")
        wait_for(lambda: "ready" in stack.log("worker-lane", 100_000), "the lane worker", 120)
    elif count == 1 and lane_up:
        stack.kill("worker-lane", signal.SIGTERM)
        wait_for(lambda: not alive(stack.pgid("worker-lane")), "the lane worker to stop", 60)
        (stack.folder / "pids" / "worker-lane.pid").unlink()


def alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def one_round(stack: Stack, n: int, workers: int) -> dict:
    set_workers(stack, workers)
    started = time.monotonic()
    out = stack.tributary("dataset", "create", f"bulk-{n}", "--driver", "bench", "--wait")
    wall = time.monotonic() - started
    if ": success" not in out:
        raise SystemExit(f"round {n} failed:\n{out}")
    runs = [
        r for r in stack.dag_runs("tributary_initial_sync") if r["conf"]["dataset"] == f"bulk-{n}"
    ]
    run = runs[-1]
    tis = stack.task_instances("tributary_initial_sync", run["dag_run_id"])
    parts = [ti for ti in tis if ti["task_id"] == "list_partition"]
    return {
        "round": n,
        "workers": workers,
        "wall": wall,
        "airflow": seconds(run["queued_at"], run["end_date"]),
        "listing_phase": seconds(
            min(ti["queued_when"] for ti in parts), max(ti["end_date"] for ti in parts)
        ),
        "task_instances": len(tis),
        "partitions": len(parts),
        "by_worker": dict(collections.Counter(ti["hostname"].split(".")[0] for ti in parts)),
        "queued_median": statistics.median(
            seconds(t["queued_when"], t["start_date"]) for t in parts
        ),
        "run_median": statistics.median(seconds(t["start_date"], t["end_date"]) for t in parts),
        "run_by_index": {t["map_index"]: seconds(t["start_date"], t["end_date"]) for t in parts},
        "sync_run_id": run["dag_run_id"],
    }


def partition_work(stack: Stack, dataset: str, indexes: list[int]) -> dict[int, float]:
    """The same partitions listed again in this process (no Airflow): the work alone.
    A partition's listing is idempotent (its staged rows are replaced)."""
    os.environ.update(
        {k: v for k, v in stack.env.items() if k.startswith(("AIRFLOW", "TRIBUTARY_"))}
    )
    os.environ.pop("AIRFLOW__CORE__HOSTNAME_CALLABLE", None)
    from tributary.catalog import Catalog, syncs
    from tributary.sync import listing

    catalog = Catalog(stack.catalog_url)
    with catalog.begin() as conn:
        (sync_id,) = [r["id"] for r in syncs.history(conn, dataset) if r["kind"] == "initial"]
    listing.list_partition(catalog, sync_id, indexes[0])  # warm: imports, connections
    work = {}
    for index in indexes:
        started = time.monotonic()
        listing.list_partition(catalog, sync_id, index)
        work[index] = time.monotonic() - started
    return work


def planned_batches(stack: Stack, dataset: str) -> tuple[int, int]:
    """(pending items, batches) of a preprocessing run over ``dataset``, from the planner."""
    from tributary import config
    from tributary.catalog import Catalog
    from tributary.catalog.preprocessing import Selection
    from tributary.preprocess import planning

    planned = planning.plan(
        Catalog(stack.catalog_url),
        dataset_names=[dataset],
        selection=Selection("pending"),
        lanes=config.lanes(),
        max_batches=config.preprocess_batches(),
        min_batch=config.preprocess_min_batch(),
    )
    return planned["datasets"][dataset], sum(len(b) for b in planned["lanes"].values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=50_000)
    parser.add_argument("--order", default="2,1,2", help="workers per round")
    args = parser.parse_args()
    work = HERE / ".work" / "stack"
    shutil.rmtree(work, ignore_errors=True)
    moto = emulators.start_moto(work / "logs")
    stack = None
    try:
        client = s3_client(moto.endpoint)
        client.create_bucket(Bucket=BUCKET)
        objects = bulk_objects("bulk/", FOLDERS, args.objects // FOLDERS)
        upload: dict = {}
        filler = threading.Thread(
            target=lambda: upload.update(s=put_objects(client, BUCKET, objects))
        )
        filler.start()
        stack = Stack(work / "stack", {"AIRFLOW_CONN_TEST_S3": moto.env["AIRFLOW_CONN_TEST_S3"]})
        started = time.monotonic()
        stack.start()
        print(f"stack up in {time.monotonic() - started:.0f} s", flush=True)
        filler.join()
        print(f"{len(objects)} objects uploaded in {upload['s']:.0f} s (during the start)")

        def settled() -> bool:
            dags = ("tributary_upstream_sync", "tributary_preprocess", "tributary_permission_check")
            runs = [r for d in dags for r in stack.dag_runs(d)]
            return bool(runs) and all(r["state"] in ("success", "failed") for r in runs)

        wait_for(settled, "the first scheduled runs", 300, 3)
        stack.set_paused("tributary_preprocess", True)
        stack.set_paused("tributary_upstream_sync", True)  # no nightly run in the middle
        stack.tributary(
            "driver", "create", "bench", "--provider", "s3", "--conn-id", "test_s3",
            "--bucket", BUCKET, "--path", "bulk/",
        )  # fmt: skip
        rounds = []
        for n, workers in enumerate(int(w) for w in args.order.split(",")):
            rounds.append(one_round(stack, n, workers))
            r = rounds[-1]
            print(
                f"round {n}: {workers} worker(s): {r['wall']:.1f} s wall "
                f"({r['airflow']:.1f} s in Airflow, listing phase {r['listing_phase']:.1f} s), "
                f"{r['partitions']} partitions {r['by_worker']}, {r['task_instances']} task "
                f"instances; per partition task: queued {r['queued_median']:.1f} s, "
                f"run {r['run_median']:.1f} s (medians)",
                flush=True,
            )
        last = rounds[-1]
        indexes = sorted(last["run_by_index"])[1:9]  # partition 0 lists the root's files only
        work_s = partition_work(stack, f"bulk-{last['round']}", indexes)
        overhead = [last["run_by_index"][i] - work_s[i] for i in indexes]
        print(
            f"partitions {indexes}: work alone {statistics.median(work_s.values()):.2f} s, "
            f"in Airflow {statistics.median(last['run_by_index'][i] for i in indexes):.2f} s "
            f"→ Airflow's own overhead per mapped task {statistics.median(overhead):.2f} s "
            f"(median; plus {last['queued_median']:.1f} s queued)"
        )
        pending, batches = planned_batches(stack, f"bulk-{last['round']}")
        print(f"preprocessing {pending} pending items would run as {batches} mapped batches")
        load = os.getloadavg()
        print(
            f"machine: {platform.node()}, {os.cpu_count()} cores, load average "
            f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
        )
        (work / "results.json").write_text(json.dumps(rounds, indent=1))
    finally:
        if stack is not None:
            stack.stop(drop=True)
        moto.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
