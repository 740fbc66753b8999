"""
### Initial sync

Index every file of a dataset's storage as a catalog item.

**start** a sync run and take the dataset's lock → **plan** the listing: probe the
driver's permissions (a probe file in the hidden folder `.tributary/`), then cut the
listing into partitions (one when it ends within two pages; else by folders) → **list**
each partition in parallel (dynamic task mapping), streaming pages into the catalog's
staging table → **index**: check the data-point quota (fails before indexing anything
when the new items would exceed it), then index the new items in one set-based
statement → **announce** them with an `items-created` asset event that preprocessing
subscribes to. A small dataset is five task instances.

Progress (objects listed, partitions done) is visible while it runs with
`tributary runs DATASET`. Re-running or retrying any task leaves the same catalog.

Trigger: `tributary dataset create` does it; or the Trigger button with a dataset name;
or `airflow dags test tributary_initial_sync --conf '{"dataset": "NAME"}'`.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Metadata, Param, dag, task
from airflow.sdk.exceptions import AirflowSkipException

from tributary.assets import ITEMS_CREATED
from tributary.hooks.catalog import open_catalog
from tributary.sync import initial, listing
from tributary.tasks.callbacks import close_sync_on_failure
from tributary.tasks.errors import RETRY_POLICY, task_errors
from tributary.tasks.run_context import airflow_run_alive


@dag(
    dag_id="tributary_initial_sync",
    schedule=None,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=8,
    is_paused_upon_creation=False,  # on from installation: the CLI never unpauses a DAG
    tags=["tributary", "sync"],
    doc_md=__doc__,
    params={
        "dataset": Param(
            type="string",
            minLength=1,
            title="Dataset",
            description="Name of the dataset to index (see: tributary dataset list).",
        )
    },
    default_args={**RETRY_POLICY, "on_failure_callback": close_sync_on_failure},
)
def tributary_initial_sync():
    @task
    def start(params=None, dag_run=None) -> int:
        with task_errors():
            return listing.start(
                open_catalog(),
                dataset_name=params["dataset"],
                kind="initial",
                dag_id=dag_run.dag_id,
                run_id=dag_run.run_id,
                run_alive=airflow_run_alive,
            )

    # Probing and planning share a task: each task instance costs seconds of start-up,
    # which is most of a small sync's time.
    @task
    def plan_partitions(sync_id: int) -> list[dict]:
        with task_errors():
            catalog = open_catalog()
            listing.check_permissions(catalog, sync_id)
            return listing.plan(catalog, sync_id)

    @task(map_index_template="{{ task.op_kwargs['partition']['label'] }}")
    def list_partition(partition: dict) -> int:
        with task_errors():
            return listing.list_partition(open_catalog(), partition["sync_id"], partition["index"])

    @task
    def index_items(sync_id: int) -> dict:
        with task_errors():
            return initial.check_quota_and_index(open_catalog(), sync_id)

    @task(outlets=[ITEMS_CREATED])
    def announce(created: dict, params=None):
        if not created["count"]:
            raise AirflowSkipException("no new items: nothing to announce")
        yield Metadata(ITEMS_CREATED, {"dataset": params["dataset"], **created})

    sync_id = start()
    listed = list_partition.expand(partition=plan_partitions(sync_id))
    created = index_items(sync_id)
    listed >> created
    announce(created)


dag = tributary_initial_sync()

if __name__ == "__main__":
    dag.test()
