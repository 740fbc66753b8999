"""Failure callback of ``tributary_csv_ingest``: a task that gave up fails its import."""

from __future__ import annotations

import logging

from tributary.hooks.catalog import open_catalog
from tributary.tasks.errors import describe_failure
from tributary.usecases import import_run

log = logging.getLogger(__name__)


def fail_import_on_failure(context) -> None:
    """``on_failure_callback``: the run's import is failed with the reason (one line)."""
    params = context.get("params") or {}
    reason = describe_failure(context.get("exception"), context["task_instance"].task_id)
    try:
        import_run.fail(open_catalog(), params["dataset"], params["import_id"], reason)
    except Exception:
        log.exception("Could not record the failure of import %s", params.get("import_id"))
