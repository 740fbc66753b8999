"""
### Event-driven upstream sync

Applies bucket event notifications as they arrive, between nightly reconciles:
S3 event notifications through **SQS**, GCS notifications through **Pub/Sub**, Azure Blob
events (Event Grid schema) through an **Azure Storage queue**. Each queue is an Airflow
Asset with an `AssetWatcher` (configure them with `TRIBUTARY_EVENT_SOURCES`; see the
README), so the triggerer polls the queues and every batch of messages starts a run.

Created → the item is added or updated (a copy + delete in one batch is a rename that keeps
the item); deleted → the item becomes a tombstone. Events are deduplicated by (key, etag,
sequencer); for each object only the newest applies, and an event older than one already
applied is ignored. Keys in the hidden folder `.tributary/` are ignored, so Tributary's
own files never loop back. The nightly `tributary_upstream_sync` stays the safety net for
dropped events.

The `payloads` param replays trigger payloads by hand (the same JSON the watchers produce).
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Param, dag, task

from tributary.assets import ITEMS_CREATED, ITEMS_CREATED_EVENTS
from tributary.config import event_sources
from tributary.hooks.catalog import open_catalog
from tributary.sync import events
from tributary.tasks.callbacks import close_sync_on_failure
from tributary.tasks.errors import RETRY_POLICY, task_errors
from tributary.tasks.run_context import airflow_run_alive
from tributary.triggers.event_sources import event_assets, schedule_for


@dag(
    dag_id="tributary_event_sync",
    schedule=schedule_for(event_assets(event_sources())),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,  # batches apply in arrival order
    is_paused_upon_creation=False,  # on from installation: the CLI never unpauses a DAG
    tags=["tributary", "sync"],
    doc_md=__doc__,
    params={
        "payloads": Param(
            [],
            type="array",
            title="Payloads",
            description="Trigger payloads to apply by hand (SQS, Pub/Sub or Azure queue).",
        )
    },
    default_args={**RETRY_POLICY, "on_failure_callback": close_sync_on_failure},
)
def tributary_event_sync():
    @task(outlets=[ITEMS_CREATED_EVENTS])
    def apply_events(params=None, dag_run=None, triggering_asset_events=None, outlet_events=None):
        payloads = [
            event.extra["payload"]
            for asset_events in (triggering_asset_events or {}).values()
            for event in asset_events
            if "payload" in (event.extra or {})
        ]
        with task_errors():
            results = events.apply(
                open_catalog(),
                events.parse_payloads([*payloads, *params["payloads"]]),
                dag_id=dag_run.dag_id,
                run_id=dag_run.run_id,
                run_alive=airflow_run_alive,
            )
        for result in results:
            created = result.pop("created")
            if created["count"]:
                outlet_events[ITEMS_CREATED_EVENTS].add(
                    ITEMS_CREATED,
                    extra={"dataset": result["dataset"], "sync_id": result["sync_id"], **created},
                )
        return results

    apply_events()


dag = tributary_event_sync()

if __name__ == "__main__":
    dag.test()
