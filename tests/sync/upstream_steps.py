"""The upstream sync's steps run in-process, without Airflow (as its tasks would run them)."""

from __future__ import annotations

from tributary.sync import guarded_reconcile, listing

_runs = iter(range(1, 1_000_000))


def upstream_sync(
    catalog, dataset: str, *, allow_mass_delete=False, dry_run=False, render=None, run_id=None
) -> dict:
    """One complete upstream sync of ``dataset``; returns the reconcile report."""
    sync_id = listing.start(
        catalog,
        dataset_name=dataset,
        kind="upstream",
        dag_id="test",
        run_id=run_id or f"run-{next(_runs)}",
        render=render,
        dry_run=dry_run,
    )
    for pointer in listing.plan(catalog, sync_id):
        listing.list_partition(catalog, sync_id, pointer["index"])
    return guarded_reconcile.reconcile(catalog, sync_id, allow_mass_delete=allow_mass_delete)
