"""Syncs: start an initial or upstream sync, and the summaries of sync runs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from tributary.airflow_rest import AirflowClient
from tributary.catalog import Catalog, item_edits
from tributary.catalog import datasets as dataset_queries
from tributary.catalog import syncs as sync_queries
from tributary.errors import NotFound, RuleRefused
from tributary.sync import upstream
from tributary.usecases.airflow_runs import TriggeredRun, trigger_dag

INITIAL_SYNC_DAG = "tributary_initial_sync"
UPSTREAM_SYNC_DAG = "tributary_upstream_sync"


@dataclass(frozen=True)
class SyncRunSummary:
    """What one line about a sync run shows: status, progress, counts, error, samples."""

    id: int
    kind: str
    status: str
    dry_run: bool
    partitions_done: int
    partitions_total: int
    objects_listed: int
    counts: dict[str, int]
    """Items per change kind, in report order: new, changed, renamed, ghosted, revived,
    purged. What was applied; for a dry run (``planned``), what its plan holds."""
    started_at: dt.datetime
    error: str | None
    samples: dict[str, list[str]]
    """A few paths per change kind, from the run's reconcile plan."""
    dataset: str | None = None
    planned: bool = False
    """The counts are of the plan, not of what was applied (a dry run applies nothing)."""

    @classmethod
    def from_record(cls, run: dict) -> SyncRunSummary:
        """The summary of a sync-run record (a row of ``sync_runs`` as a dict)."""
        report = run.get("report") or {}
        counts = {name.removeprefix("items_"): run[name] for name in sync_queries.COUNTS}
        planned = bool(run["dry_run"]) and "counts" in report
        if planned:
            counts = planned_counts(report["counts"])
        return cls(
            id=run["id"],
            kind=run["kind"],
            status=run["status"],
            dry_run=bool(run["dry_run"]),
            partitions_done=run["partitions_done"],
            partitions_total=run["partitions_total"],
            objects_listed=run["objects_listed"],
            counts=counts,
            started_at=run["started_at"],
            error=run["error"],
            samples=dict(report.get("samples") or {}),
            dataset=run.get("dataset"),
            planned=planned,
        )


# The plan's kinds under the names a run's counters use (a vanished file is ghosted).
PLANNED_AS = {"vanished": "ghosted"}


def planned_counts(plan: dict[str, int]) -> dict[str, int]:
    """A reconcile plan's counts (``report["counts"]``) under the run's counter names, in
    the run's order. Purges are decided when a plan is applied, so a plan has none."""
    named = {PLANNED_AS.get(kind, kind): n for kind, n in plan.items()}
    order = [name.removeprefix("items_") for name in sync_queries.COUNTS]
    return {name: named[name] for name in order if name in named}


def start_initial_sync(
    catalog: Catalog, dataset: str, *, client: AirflowClient | None = None
) -> TriggeredRun:
    """Start the initial sync (full indexing) of a dataset through Airflow."""
    check_syncable(catalog, dataset)
    return trigger_dag(INITIAL_SYNC_DAG, {"dataset": dataset}, client=client)


def start_upstream_sync(
    catalog: Catalog,
    dataset: str,
    *,
    dry_run: bool = False,
    allow_mass_delete: bool = False,
    client: AirflowClient | None = None,
) -> TriggeredRun:
    """Start an upstream sync of a dataset through Airflow (``dry_run``: plan only;
    ``allow_mass_delete``: apply even above the dataset's mass-delete threshold)."""
    check_syncable(catalog, dataset)
    conf = {"dataset": dataset, "dry_run": dry_run, "allow_mass_delete": allow_mass_delete}
    return trigger_dag(UPSTREAM_SYNC_DAG, conf, client=client)


def check_syncable(catalog: Catalog, dataset: str) -> None:
    """The dataset exists and may be synced (a clone may not: ``RuleRefused`` says why)."""
    with catalog.begin() as conn:
        found = dataset_queries.get(conn, dataset)
    if refusal := item_edits.sync_refusal(found):
        raise RuleRefused(refusal)


def sync_history(catalog: Catalog, dataset: str, limit: int = 50) -> list[dict]:
    """The newest sync runs of a dataset, newest first, as records (their JSON shape)."""
    with catalog.begin() as conn:
        dataset_queries.get(conn, dataset)
        return sync_queries.history(conn, dataset, limit=limit)


def get_sync(catalog: Catalog, dataset: str, sync_id: int) -> dict:
    """One sync run of a dataset as a record: its counts, error, and a dry run's plan."""
    with catalog.begin() as conn:
        found = dataset_queries.get(conn, dataset)
        run = sync_queries.get(conn, sync_id)
    if run["dataset_id"] != found.id:
        raise NotFound(f"no sync run {sync_id} of dataset {dataset!r}")
    return run


def syncs_of_run(catalog: Catalog, run: TriggeredRun) -> list[SyncRunSummary]:
    """The sync runs one Airflow run started (one per dataset it covered)."""
    records = upstream.outcomes(catalog, dag_id=run.dag_id, run_id=run.run_id)
    return [SyncRunSummary.from_record(record) for record in records]
