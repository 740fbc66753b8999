"""
### Upstream sync

Bring datasets in step with their buckets, nightly (cron `TRIBUTARY_UPSTREAM_SCHEDULE`,
default 02:00 UTC) or on demand.

**start** a sync run per dataset (the `dataset` param, or every sync-enabled dataset) and
take each dataset's lock → **prepare** (probe permissions, plan listing partitions) →
**list** every partition of every dataset in parallel into staging → **reconcile** each
dataset with set-based SQL and apply in one transaction:

- a **new** key → a new item;
- same key, new size or etag → the item is **changed**: updated, preprocessed again;
- a key gone and a new key with the same size and etag, one-to-one → a **rename**: the
  item moves and keeps its id, user metadata and description;
- a key gone → a **tombstone** (state `ghost`, with when it vanished), purged after the
  dataset's grace period (default 7 days), each purge recorded;
- a tombstone's key back → the item is **revived** with its id.

**Guards**: a failed or unfinished listing marks nothing as ghost (new items still land)
and fails the run with the reason; more ghosts than the dataset's threshold (10% of its
items) stops the run before anything is applied — re-run with `allow_mass_delete`;
`dry_run` only reports the plan (task log and `tributary runs DATASET --json`).

**Backfill**: a dataset whose folder holds a date template (`camera-7/{{ ds }}/`) is
reconciled one interval at a time, so `airflow backfill create --dag-id
tributary_upstream_sync --from-date 2026-11-01 --to-date 2026-11-04` loads its history
day by day. For a plain folder a backfill run is a full reconcile.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowSkipException

from tributary.assets import ITEMS_CREATED, ITEMS_CREATED_EVENTS
from tributary.config import upstream_schedule
from tributary.hooks.catalog import open_catalog
from tributary.sync import listing, upstream
from tributary.tasks.callbacks import close_mapped_sync_on_failure, close_sync_on_failure
from tributary.tasks.errors import RETRY_POLICY, fail_without_retry, task_errors
from tributary.tasks.run_context import airflow_run_alive, failed_tasks, folder_renderer


@dag(
    dag_id="tributary_upstream_sync",
    schedule=upstream_schedule(),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=4,
    is_paused_upon_creation=False,  # nightly from installation (README: Schedules)
    tags=["tributary", "sync"],
    doc_md=__doc__,
    # The form marks a field required unless its type allows null (Airflow 3.3's
    # FlexibleForm), and sends an emptied text field as null: "null" makes each optional.
    params={
        "dataset": Param(
            None,
            type=["null", "string"],
            title="Dataset",
            description="The dataset to sync; empty syncs every sync-enabled dataset.",
        ),
        "dry_run": Param(
            False,
            type=["boolean", "null"],
            title="Dry run",
            description="Compute and report the plan (counts and sample paths); apply nothing.",
        ),
        "allow_mass_delete": Param(
            False,
            type=["boolean", "null"],
            title="Allow mass delete",
            description="Apply even when more items vanished than the dataset's threshold.",
        ),
    },
    default_args=RETRY_POLICY,
)
def tributary_upstream_sync():
    @task(on_failure_callback=close_sync_on_failure)
    def start(params=None, dag_run=None) -> list[int]:
        with task_errors():
            catalog = open_catalog()
            return upstream.start_all(
                catalog,
                upstream.select_datasets(catalog, params["dataset"]),
                dag_id=dag_run.dag_id,
                run_id=dag_run.run_id,
                render=folder_renderer(get_current_context()),
                dry_run=bool(params["dry_run"]),
                run_alive=airflow_run_alive,
            )

    @task(on_failure_callback=close_mapped_sync_on_failure)
    def prepare(sync_id: int) -> int:
        with task_errors():
            catalog = open_catalog()
            listing.check_permissions(catalog, sync_id)
            return len(listing.plan(catalog, sync_id))

    # Runs when some datasets' prepare failed (the others still sync), not when start did.
    @task(trigger_rule="all_done_min_one_success")
    def gather_partitions(sync_ids: list[int]) -> list[dict]:
        return upstream.pending_partitions(open_catalog(), sync_ids)

    @task(map_index_template="{{ task.op_kwargs['partition']['label'] }}")
    def list_partition(partition: dict) -> int:
        with task_errors():
            return listing.list_partition(open_catalog(), partition["sync_id"], partition["index"])

    @task(trigger_rule="all_done", on_failure_callback=close_mapped_sync_on_failure)
    def reconcile(sync_id: int, params=None) -> dict:
        with task_errors():
            report = upstream.reconcile_if_running(
                open_catalog(), sync_id, allow_mass_delete=bool(params["allow_mass_delete"])
            )
        return {k: report[k] for k in ("sync_id", "applied") if k in report}

    @task(trigger_rule="all_done", outlets=[ITEMS_CREATED_EVENTS])
    def announce(dag_run=None, outlet_events=None):
        extras = upstream.created_events(
            open_catalog(), dag_id=dag_run.dag_id, run_id=dag_run.run_id
        )
        if not extras:
            raise AirflowSkipException("no new items: nothing to announce")
        for extra in extras:
            outlet_events[ITEMS_CREATED_EVENTS].add(ITEMS_CREATED, extra=extra)

    @task(trigger_rule="all_done")
    def report(ti=None, dag_run=None) -> list[dict]:
        summary = upstream.summaries(open_catalog(), dag_id=dag_run.dag_id, run_id=dag_run.run_id)
        if failed := upstream.failures(summary):
            fail_without_retry(failed)
        if steps := failed_tasks(ti, dag_run):
            fail_without_retry(f"{steps} task(s) of this run failed: see their logs")
        return summary

    sync_ids = start()
    prepared = prepare.expand(sync_id=sync_ids)
    partitions = gather_partitions(sync_ids)
    prepared >> partitions
    listed = list_partition.expand(partition=partitions)
    reconciled = reconcile.expand(sync_id=sync_ids)
    listed >> reconciled
    reconciled >> announce() >> report()


dag = tributary_upstream_sync()

if __name__ == "__main__":
    dag.test()
