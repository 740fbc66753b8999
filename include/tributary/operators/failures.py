"""How domain errors become task outcomes, and failed tasks close their sync run."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterator

from airflow.sdk.exceptions import AirflowFailException

from tributary.catalog import syncs as sync_queries
from tributary.errors import (
    InvalidInput,
    ListingIncomplete,
    MassDeleteRefused,
    NotFound,
    QuotaExceeded,
    SyncLocked,
    TributaryError,
)
from tributary.hooks.catalog import open_catalog
from tributary.storage.base import AccessDenied, BadCredentials, BucketNotFound

log = logging.getLogger(__name__)

# Every Tributary task: transient errors (network, throttling) get two more tries, spaced out.
RETRY_POLICY = {
    "retries": 2,
    "retry_delay": dt.timedelta(seconds=10),
    "retry_exponential_backoff": True,
}

# Errors a retry cannot fix: fail the task at once instead of retrying.
PERMANENT = (
    InvalidInput,
    NotFound,
    QuotaExceeded,
    SyncLocked,
    MassDeleteRefused,
    ListingIncomplete,
    AccessDenied,
    BadCredentials,
    BucketNotFound,
)


@contextlib.contextmanager
def task_errors() -> Iterator[None]:
    """Turn permanent domain errors into ``AirflowFailException`` (no pointless retries)."""
    try:
        yield
    except PERMANENT as exc:
        raise AirflowFailException(str(exc)) from exc


def describe_failure(exception: BaseException | None, task_id: str) -> str:
    """A one-line reason safe to store: our own messages, or only the type of a surprise."""
    cause = exception.__cause__ if isinstance(exception, AirflowFailException) else exception
    if isinstance(cause, TributaryError):
        return str(cause)
    kind = type(cause).__name__ if cause is not None else "error"
    return f"task {task_id} failed with {kind}; see its log in Airflow"


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
