"""
### CSV ingest

Turn a CSV of links or uploads into items of a dataset: `tributary import DATASET file.csv`
stores the CSV in the dataset's hidden folder (`.tributary/imports/<id>/source.csv`) and
triggers this DAG with the dataset and the import id.

**validate** reads the CSV streamed, chunk by chunk: a file that is not UTF-8, has no `ID`
column or neither `URL` nor `image_bytes` fails the import in one line before anything
is written; each row is checked (URL, base64, metadata a JSON object, duplicate IDs, …)
and the quota is checked for the rows that will create items → **land** the rows in
parallel (dynamic task mapping over ranges of lines, at most 1024 tasks, each given a
pointer, never rows): a `link` row becomes a link JSON file and a linked item, an `upload`
row the file fetched from its URL (safe fetcher: public addresses only unless
`TRIBUTARY_FETCH_ALLOW`) or decoded from `image_bytes`, all in a folder named after the
CSV file → **report**: `errors.csv` beside the source (line, ID, reason for every rejected
row) and the counts on the import (`tributary imports DATASET`) → **announce** the new
items (`items-created`, so preprocessing runs).

Idempotent: importing the same or a corrected CSV again skips identical rows, updates
metadata and descriptions, and retries only the rows that failed; a retried task never
duplicates an item.

Trigger: `tributary import DATASET file.csv`, or the Trigger button with a dataset and an
import id of a stored CSV.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag, task

from tributary.assets import ITEMS_CREATED, ITEMS_CREATED_EVENTS
from tributary.hooks.catalog import open_catalog
from tributary.tasks.errors import RETRY_POLICY, task_errors
from tributary.tasks.imports import fail_import_on_failure
from tributary.usecases import downstream, import_run


@dag(
    dag_id="tributary_csv_ingest",
    schedule=None,
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=4,
    is_paused_upon_creation=False,  # on from installation: the CLI never unpauses a DAG
    tags=["tributary", "ingest"],
    doc_md=__doc__,
    params={
        "dataset": Param(
            type="string",
            minLength=1,
            title="Dataset",
            description="Name of the dataset the CSV was imported into.",
        ),
        "import_id": Param(
            type="integer",
            minimum=1,
            title="Import id",
            description="The stored CSV's import (see: tributary imports DATASET).",
        ),
    },
    default_args={**RETRY_POLICY, "on_failure_callback": fail_import_on_failure},
)
def tributary_csv_ingest():
    @task
    def validate(params=None, dag_run=None) -> list[dict]:
        with task_errors():
            return import_run.validate(
                open_catalog(), params["dataset"], params["import_id"], dag_run_id=dag_run.run_id
            )["batches"]

    @task(map_index_template="{{ task.op_kwargs['batch']['label'] }}", max_active_tis_per_dagrun=8)
    def land(batch: dict) -> dict:
        with task_errors():
            return import_run.run_batch(
                open_catalog(), batch["dataset"], batch["import_id"], batch["first"], batch["last"]
            )

    @task(trigger_rule="none_failed")
    def report(batches: list, results: list, params=None) -> dict:
        chunks = batches[-1]["last"] + 1 if batches else 0
        with task_errors():
            return import_run.report(
                open_catalog(), params["dataset"], params["import_id"], chunks, list(results or [])
            )

    @task(outlets=[ITEMS_CREATED_EVENTS])
    def announce(counts: dict, params=None, outlet_events=None) -> dict:
        with task_errors():
            result = downstream.drain(open_catalog(), dataset=params["dataset"])
        for extra in result["announced"]:
            outlet_events[ITEMS_CREATED_EVENTS].add(ITEMS_CREATED, extra=extra)
        return {"created": counts["created"], "announced": len(result["announced"])}

    batches = validate()
    landed = land.expand(batch=batches)
    announce(report(batches, landed))


dag = tributary_csv_ingest()

if __name__ == "__main__":
    dag.test()
