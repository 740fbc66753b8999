"""Failure callbacks: a failed task closes its sync runs in the catalog with the reason."""

from __future__ import annotations

import logging

from tributary.catalog import syncs as sync_queries
from tributary.hooks.catalog import open_catalog
from tributary.tasks.errors import describe_failure

log = logging.getLogger(__name__)


def close_sync_on_failure(context) -> None:
    """``on_failure_callback``: mark the Airflow run's sync runs failed with the reason."""
    dag_run = context["dag_run"]
    task_id = context["task_instance"].task_id
    reason = describe_failure(context.get("exception"), task_id)
    try:
        catalog = open_catalog()
        with catalog.begin() as conn:
            for sync_id in sync_queries.find(conn, dag_id=dag_run.dag_id, run_id=dag_run.run_id):
                if sync_queries.get(conn, sync_id)["status"] == "running":
                    sync_queries.fail(conn, sync_id, reason)
    except Exception:
        log.exception("Could not record the failure of run %s in the catalog", dag_run.run_id)


def close_mapped_sync_on_failure(context) -> None:
    """``on_failure_callback`` of a task mapped over sync ids: close only that task's sync.

    (When Airflow itself fails a task whose process died, the argument may be unknown
    here; the dataset lock then expires through the heartbeat check instead.)
    """
    sync_id = getattr(context["task"], "op_kwargs", {}).get("sync_id")
    if not isinstance(sync_id, int):
        log.warning("No sync id on failed task %s", context["task_instance"].task_id)
        return
    reason = describe_failure(context.get("exception"), context["task_instance"].task_id)
    try:
        with open_catalog().begin() as conn:
            if sync_queries.get(conn, sync_id)["status"] == "running":
                sync_queries.fail(conn, sync_id, reason)
    except Exception:
        log.exception("Could not record the failure of sync %s in the catalog", sync_id)
