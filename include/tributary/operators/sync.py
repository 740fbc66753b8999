"""``TributarySyncOperator``: one dataset's upstream sync, inline in the task.

Inline rather than trigger-and-defer: see ``tributary.operators``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

from tributary.assets import ITEMS_CREATED, ITEMS_CREATED_EVENTS
from tributary.catalog import Catalog
from tributary.tasks.errors import describe_failure, task_errors


def sync_inline(
    catalog: Catalog,
    dataset: str,
    context: Any,
    *,
    dry_run: bool = False,
    allow_mass_delete: bool = False,
) -> dict:
    """Run the upstream sync's steps one after the other and return the closed sync run.

    The same steps as ``tributary_upstream_sync`` (start and lock → probe → plan → list
    every partition → reconcile), sequentially. A failure closes the sync run with the
    reason and releases the lock before it propagates.
    """
    from tributary.catalog import syncs as sync_queries
    from tributary.sync import listing, upstream
    from tributary.tasks.run_context import airflow_run_alive, folder_renderer

    dag_run = context["dag_run"]
    sync_id = listing.start(
        catalog,
        dataset_name=dataset,
        kind="upstream",
        dag_id=dag_run.dag_id,
        run_id=dag_run.run_id,
        render=folder_renderer(context),
        dry_run=dry_run,
        run_alive=airflow_run_alive,
    )
    try:
        listing.check_permissions(catalog, sync_id)
        for partition in listing.plan(catalog, sync_id):
            listing.list_partition(catalog, sync_id, partition["index"])
        upstream.reconcile_if_running(catalog, sync_id, allow_mass_delete=allow_mass_delete)
    except BaseException as exc:
        with catalog.begin() as conn:
            if sync_queries.get(conn, sync_id)["status"] == "running":
                sync_queries.fail(conn, sync_id, describe_failure(exc, context["ti"].task_id))
        raise
    with catalog.begin() as conn:
        return sync_queries.get(conn, sync_id)


def announce(catalog: Catalog, dataset: str, run: dict, outlet_events) -> dict | None:
    """Emit the items-created event of a sync that indexed new items (None: it did not)."""
    from tributary.catalog import items as item_queries

    if run["status"] != "succeeded" or run["dry_run"] or not run["items_new"]:
        return None
    with catalog.begin() as conn:
        created = item_queries.created_by(conn, run["id"])
    extra = {"dataset": dataset, "sync_id": run["id"], **created}
    outlet_events[ITEMS_CREATED_EVENTS].add(ITEMS_CREATED, extra=extra)
    return extra


def summary(dataset: str, run: dict) -> dict:
    """The sync run as the task's return value (XCom): status and counts, no paths."""
    from tributary.catalog.syncs import COUNTS

    return {
        "dataset": dataset,
        "sync_id": run["id"],
        "status": run["status"],
        "dry_run": run["dry_run"],
        **{name.removeprefix("items_"): run[name] for name in COUNTS},
    }


class TributarySyncOperator(BaseOperator):
    """Bring one dataset in step with its bucket: new, changed, renamed and vanished files.

    Runs the upstream sync inline in this task (see ``tributary.operators`` for why) and
    emits an ``items-created`` asset event when new items were indexed, so
    ``tributary_preprocess`` and any DAG scheduled on ``tributary.assets.ITEMS_CREATED``
    follow.

    :param dataset: the dataset to sync (templated).
    :param dry_run: compute and record the plan, apply nothing.
    :param allow_mass_delete: apply even when more items vanished than the dataset's
        threshold (otherwise the task fails at once, without retries, naming the counts).
    """

    template_fields: Sequence[str] = ("dataset",)
    ui_color = "#c9e4de"

    def __init__(
        self,
        *,
        dataset: str,
        dry_run: bool = False,
        allow_mass_delete: bool = False,
        **kwargs,
    ) -> None:
        kwargs.setdefault("outlets", [ITEMS_CREATED_EVENTS])
        super().__init__(**kwargs)
        self.dataset = dataset
        self.dry_run = dry_run
        self.allow_mass_delete = allow_mass_delete

    def execute(self, context) -> dict:
        from tributary.hooks.catalog import open_catalog

        catalog = open_catalog()
        with task_errors():
            run = sync_inline(
                catalog,
                self.dataset,
                context,
                dry_run=self.dry_run,
                allow_mass_delete=self.allow_mass_delete,
            )
        announce(catalog, self.dataset, run, context["outlet_events"])
        self.log.info("Dataset %s synced: %s", self.dataset, summary(self.dataset, run))
        return summary(self.dataset, run)
