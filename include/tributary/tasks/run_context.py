"""What domain code needs from the running Airflow task, as plain callables."""

from __future__ import annotations

import logging

from tributary.folder_templates import Render, date_renderer

log = logging.getLogger(__name__)

LIVE_STATES = ("queued", "running")


def folder_renderer(context) -> Render | None:
    """Render a dataset folder template with this run's dates (``{{ ds }}`` …) and nothing
    else: never Airflow's full context, which reaches connections and variables.

    None for a run without a logical date (a manual trigger): it syncs the whole folder.
    """
    if context.get("logical_date") is None:
        return None
    return date_renderer(context)


def airflow_run_alive(dag_id: str, run_id: str) -> bool | None:
    """Ask Airflow whether a DAG run is still going (None when it cannot say)."""
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    try:
        return RuntimeTaskInstance.get_dagrun_state(dag_id=dag_id, run_id=run_id) in LIVE_STATES
    except Exception as exc:  # no such run, or no supervisor to ask (a plain script)
        log.debug("Could not ask Airflow about run %s of %s: %s", run_id, dag_id, exc)
        return None


def preprocess_selection(context, force: bool):
    """Which items a preprocessing run takes, from how the run came to be.

    A backfill run reprocesses the items created in its data interval (thumbnails made
    again, e.g. after the thumbnail settings changed); ``force`` reprocesses every item;
    any other run (items-created event, schedule, manual) takes the pending items.
    """
    from tributary.catalog.preprocessing import Selection

    run_type = getattr(context["dag_run"].run_type, "value", context["dag_run"].run_type)
    if run_type == "backfill":
        return Selection("created", context["data_interval_start"], context["data_interval_end"])
    return Selection("all" if force else "pending")


def event_datasets(context) -> list[str] | None:
    """The datasets named by the items-created events that triggered this run (None: the
    run was not triggered by events)."""
    events = context.get("triggering_asset_events") or {}
    names = {
        event.extra.get("dataset")
        for asset_events in events.values()
        for event in asset_events
        if event.extra and event.extra.get("dataset")
    }
    return sorted(names) if names else None


def failed_tasks(ti, dag_run) -> int:
    """How many task instances of this DAG run failed or could not run because an upstream
    failed. A run's closing task (trigger rule ``all_done``) fails the run when this is not
    zero: Airflow judges a run by its leaves, so an all_done leaf that succeeds would
    otherwise turn a run with failed steps green."""
    return ti.get_ti_count(
        dag_id=dag_run.dag_id,
        run_ids=[dag_run.run_id],
        states=["failed", "upstream_failed"],
    )
