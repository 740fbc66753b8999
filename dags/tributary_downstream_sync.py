"""
### Downstream sync

Write what happened on the platform to the buckets: drain the **outbox**, every 5 minutes
(cron `TRIBUTARY_DOWNSTREAM_SCHEDULE`) and on demand (the REST API triggers it after
uploads, debounced).

**drain** applies the due outbox operations in order — an upload waiting in the hidden
folder (`.tributary/spool/`) is copied server-side to its key and the item records the
etag the bucket gave it (so the next upstream sync sees Tributary's own write: no
duplicate, nothing "changed"); a platform delete removes the file from the bucket only
when the driver has `allow_delete` (otherwise the file is kept and the row says so); a
removed item's thumbnail is deleted — then emits one `items-created` asset event per
dataset for the uploaded items, so preprocessing runs once per batch → **report** fails
the run when an operation was given up after its last attempt.

Each operation is applied exactly once, even when a worker is killed mid-way: operations
are idempotent on their target and marked done after they took effect. A failed attempt
is retried with exponential backoff (`TRIBUTARY_DOWNSTREAM_RETRY_SECONDS`, doubling, at
most hourly) and given up after `TRIBUTARY_DOWNSTREAM_MAX_ATTEMPTS`; `retry_failed`
queues the given-up ones again once their cause is fixed. An upload waits while a sync of
its dataset runs.

Trigger by hand with a `dataset` to drain just that one (empty: every dataset).
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag, task

from tributary.assets import ITEMS_CREATED, ITEMS_CREATED_EVENTS
from tributary.config import downstream_schedule
from tributary.hooks.catalog import open_catalog
from tributary.tasks.errors import RETRY_POLICY, fail_without_retry, task_errors
from tributary.usecases import downstream


@dag(
    dag_id="tributary_downstream_sync",
    schedule=downstream_schedule(),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,  # one drain at a time: rows are applied in order
    is_paused_upon_creation=False,  # "downstream sync is always active" (the spec)
    tags=["tributary", "sync", "downstream"],
    doc_md=__doc__,
    params={
        "dataset": Param(
            None,
            type=["null", "string"],
            title="Dataset",
            description="Drain one dataset's operations; empty: every dataset.",
        ),
        "retry_failed": Param(
            False,
            type=["boolean", "null"],
            title="Retry failed",
            description="Queue the operations given up after their last attempt again.",
        ),
    },
    default_args=RETRY_POLICY,
)
def tributary_downstream_sync():
    @task(outlets=[ITEMS_CREATED_EVENTS])
    def drain(params=None, outlet_events=None) -> dict:
        with task_errors():
            catalog = open_catalog()
            if params["retry_failed"]:
                downstream.retry_failed(catalog, dataset=params["dataset"])
            result = downstream.drain(catalog, dataset=params["dataset"])
        for extra in result["announced"]:
            outlet_events[ITEMS_CREATED_EVENTS].add(ITEMS_CREATED, extra=extra)
        counts = {key: result[key] for key in ("applied", "failed", "deferred", "pending")}
        # XCom holds a few names only, never a key list.
        return {**counts, "gave_up": len(result["gave_up"]), "some": result["gave_up"][:5]}

    @task
    def report(result: dict) -> dict:
        if result["gave_up"]:
            given_up = ", ".join(f"{g['op']} {g['key']}" for g in result["some"])
            fail_without_retry(
                f"{result['gave_up']} outbox operation(s) failed for good ({given_up}); "
                "see the drain's log, fix the cause, then trigger with retry_failed"
            )
        return result

    report(drain())


dag = tributary_downstream_sync()

if __name__ == "__main__":
    dag.test()
