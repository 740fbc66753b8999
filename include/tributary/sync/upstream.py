"""The upstream sync over one or many datasets: the per-run glue around listing and
reconcile that the ``tributary_upstream_sync`` DAG calls."""

from __future__ import annotations

import logging

from tributary.catalog import Catalog
from tributary.catalog import datasets as dataset_queries
from tributary.catalog import items as item_queries
from tributary.catalog import syncs as sync_queries
from tributary.errors import SyncLocked
from tributary.sync import guarded_reconcile, link_files, listing, partitions

log = logging.getLogger(__name__)


def select_datasets(catalog: Catalog, dataset: str | None) -> list[str]:
    """The named dataset, or (empty name) every sync-enabled dataset."""
    with catalog.begin() as conn:
        if dataset:
            return [dataset_queries.get(conn, dataset).name]
        names = dataset_queries.sync_enabled_names(conn)
        # A clone is never synced, even if someone turned its nightly sync on.
        copies = [n for n in names if dataset_queries.get(conn, n).origin is not None]
    if copies:
        log.warning("Not syncing %s: made on the platform (clone/merge)", ", ".join(copies))
        names = [n for n in names if n not in copies]
    log.info("Syncing %d sync-enabled datasets: %s", len(names), ", ".join(names) or "none")
    return names


def start_all(catalog: Catalog, names: list[str], **start_args) -> list[int]:
    """Start a sync run per dataset. A dataset whose lock stays taken is recorded as a
    failed sync and left out; the others go on."""
    started, locked = [], []
    for name in names:
        try:
            started.append(listing.start(catalog, dataset_name=name, kind="upstream", **start_args))
        except SyncLocked as exc:
            log.error("Dataset %s not synced: %s", name, exc)
            locked.append(f"{name}: {exc}")
    if locked and not started:
        raise SyncLocked("; ".join(locked))
    return started


def pending_partitions(catalog: Catalog, sync_ids: list[int]) -> list[dict]:
    """Pointers to the planned partitions of the syncs that are still running, each
    labelled with its dataset for the Airflow UI."""
    pointers = []
    with catalog.begin() as conn:
        running = {}
        for sync_id in sync_ids:
            run = sync_queries.get(conn, sync_id)
            if run["status"] == "running":
                running[sync_id] = dataset_queries.get_by_id(conn, run["dataset_id"]).name
        for sync_id, index in sync_queries.planned_partitions(conn, list(running)):
            descriptor = sync_queries.descriptor(conn, sync_id, index)
            pointers.append(partitions.pointer(sync_id, descriptor, running[sync_id]))
    return pointers


def reconcile_if_running(catalog: Catalog, sync_id: int, *, allow_mass_delete: bool) -> dict:
    """Reconcile a sync unless an earlier step already closed it (then report why)."""
    with catalog.begin() as conn:
        run = sync_queries.get(conn, sync_id)
    if run["status"] != "running":
        log.warning(
            "Sync %d is %s (%s): nothing to reconcile", sync_id, run["status"], run["error"]
        )
        return {"sync_id": sync_id, "applied": False, "status": run["status"]}
    report = guarded_reconcile.reconcile(catalog, sync_id, allow_mass_delete=allow_mass_delete)
    link_files.recognise_created(catalog, sync_id)  # link JSON files become linked items
    return report


def outcomes(catalog: Catalog, *, dag_id: str, run_id: str) -> list[dict]:
    """Every sync run this Airflow run started, with its dataset name."""
    with catalog.begin() as conn:
        runs = [
            sync_queries.get(conn, s) for s in sync_queries.find(conn, dag_id=dag_id, run_id=run_id)
        ]
        for run in runs:
            run["dataset"] = dataset_queries.get_by_id(conn, run["dataset_id"]).name
    return runs


def created_events(catalog: Catalog, *, dag_id: str, run_id: str) -> list[dict]:
    """The items-created event extras of an Airflow run: one per dataset with new items."""
    applied = [
        run
        for run in outcomes(catalog, dag_id=dag_id, run_id=run_id)
        if run["status"] == "succeeded" and not run["dry_run"] and run["items_new"]
    ]
    with catalog.begin() as conn:
        return [
            {
                "dataset": run["dataset"],
                "sync_id": run["id"],
                **item_queries.created_by(conn, run["id"]),
            }
            for run in applied
        ]


def summaries(catalog: Catalog, *, dag_id: str, run_id: str) -> list[dict]:
    """One line per dataset of an Airflow run: status, error and the counts per kind."""
    return [
        {
            "dataset": run["dataset"],
            "sync_id": run["id"],
            "status": run["status"],
            "dry_run": run["dry_run"],
            "error": run["error"],
            **{name.removeprefix("items_"): run[name] for name in sync_queries.COUNTS},
        }
        for run in outcomes(catalog, dag_id=dag_id, run_id=run_id)
    ]


def failures(summary: list[dict]) -> str | None:
    """What failed in a run, one clause per dataset; None when every dataset succeeded."""
    failed = [f"{s['dataset']}: {s['error']}" for s in summary if s["status"] != "succeeded"]
    return "; ".join(failed) or None
