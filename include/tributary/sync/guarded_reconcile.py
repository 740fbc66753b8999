"""The upstream sync's own step, after the shared listing: reconcile and apply.

One transaction plans the changes (SQL over staging and items), checks the guards and
applies the plan, so a killed process leaves either the whole change or none of it.

Guards, in order:
- an incomplete listing (a partition failed, or could not list a folder) marks nothing as
  vanished: new, changed and revived items still land, then the sync fails with the reason;
- more tombstones than the dataset's threshold stop the sync before anything is applied,
  unless ``allow_mass_delete``;
- ``dry_run`` stores and returns the plan and applies nothing.
"""

from __future__ import annotations

import datetime as dt
import logging

from tributary.catalog import Catalog, change_plans
from tributary.catalog import datasets as dataset_queries
from tributary.catalog import items as item_queries
from tributary.catalog import syncs as sync_queries
from tributary.errors import ListingIncomplete, MassDeleteRefused, QuotaExceeded
from tributary.storage import StorageError, open_dataset_store

log = logging.getLogger(__name__)

PURGE_PAGE = 1000  # purged thumbnails looked up per catalog read


def reconcile(catalog: Catalog, sync_id: int, *, allow_mass_delete: bool = False) -> dict:
    """Reconcile one sync's listing with its dataset; returns the report.

    A refused plan (mass delete, quota) closes the sync as failed with the reason and
    the plan's counts, then raises.
    """
    try:
        return _reconcile(catalog, sync_id, allow_mass_delete)
    except (ListingIncomplete, MassDeleteRefused, QuotaExceeded) as exc:
        with catalog.begin() as conn:
            sync_queries.fail(conn, sync_id, str(exc))
        raise


def _reconcile(catalog: Catalog, sync_id: int, allow_mass_delete: bool) -> dict:
    now = dt.datetime.now(dt.UTC)
    with catalog.begin() as conn:
        run = sync_queries.get(conn, sync_id)
        dataset = dataset_queries.get_by_id(conn, run["dataset_id"])
        incomplete = sync_queries.incomplete_partitions(conn, sync_id)
        if not run["partitions_total"]:
            raise ListingIncomplete(
                f"sync {sync_id} has no listing plan (its planning step did not finish); "
                "nothing was reconciled"
            )
        plan = change_plans.plan(
            conn,
            dataset_id=dataset.id,
            sync_id=sync_id,
            scope=run["scope"],
            complete=not incomplete,
        )
        counts = plan["counts"]
        report = {"dataset": dataset.name, "scope": run["scope"], "dry_run": run["dry_run"], **plan}
        _log_plan(report)
        sync_queries.record_report(conn, sync_id, report)
        if run["dry_run"]:
            sync_queries.succeed(conn, sync_id)
            return {"sync_id": sync_id, "applied": False, **report}
        _check_mass_delete(conn, dataset, counts["vanished"], allow_mass_delete)
        item_queries.check_quota(
            conn, dataset_id=dataset.id, dataset_name=dataset.name, needed=counts["new"]
        )
        change_plans.apply(
            conn,
            dataset_id=dataset.id,
            sync_id=sync_id,
            last_seen_sync_id=sync_queries.last_complete_sync(conn, dataset.id, before=sync_id),
            now=now,
        )
        purged = 0
        if not incomplete:
            purged = change_plans.purge_tombstones(
                conn,
                dataset_id=dataset.id,
                sync_id=sync_id,
                older_than=now - dt.timedelta(days=dataset.ghost_grace_days),
                now=now,
            )
        created = item_queries.created_by(conn, sync_id)
        applied = {
            "items_new": counts["new"],
            "items_changed": counts["changed"],
            "items_renamed": counts["renamed"],
            "items_ghosted": counts["vanished"],
            "items_revived": counts["revived"],
            "items_purged": purged,
        }
        if incomplete:
            message = _incomplete_message(sync_queries.listing_gaps(conn, sync_id), counts)
            sync_queries.fail(conn, sync_id, message, **applied)
        else:
            sync_queries.succeed(conn, sync_id, **applied)
    if incomplete:
        raise ListingIncomplete(message)
    log.info("Applied: %s", ", ".join(f"{k[6:]} {v}" for k, v in applied.items()))
    if purged:
        delete_purged_thumbnails(catalog, dataset, sync_id)
    return {"sync_id": sync_id, "applied": True, **report, **applied, "created": created}


def delete_purged_thumbnails(
    catalog: Catalog, dataset: dataset_queries.Dataset, sync_id: int
) -> int:
    """Delete from the hidden folder the thumbnails of the tombstones a sync purged.

    Best effort, after the purge is committed: a thumbnail that cannot be deleted (no
    delete permission, storage down) is logged and left; its key stays in ``item_purges``.
    """
    store, deleted, after_id = open_dataset_store(dataset), 0, 0
    while True:
        with catalog.begin() as conn:
            page = change_plans.purged_thumbnails(
                conn, sync_id, after_id=after_id, limit=PURGE_PAGE
            )
        for row in page:
            try:
                store.delete(row["thumbnail_key"])
            except StorageError as exc:
                log.warning(
                    "Deleted %d thumbnails of purged items, then: %s. The others stay in the "
                    "hidden folder (their keys are in item_purges, sync %d)",
                    deleted,
                    exc,
                    sync_id,
                )
                return deleted
            deleted += 1
        if len(page) < PURGE_PAGE:
            log.info("Deleted %d thumbnails of purged items", deleted)
            return deleted
        after_id = page[-1]["id"]


def _check_mass_delete(conn, dataset, vanished: int, allow_mass_delete: bool) -> None:
    if not vanished or allow_mass_delete:
        return
    active = item_queries.count_active(conn, dataset.id)
    threshold = dataset.mass_delete_threshold
    if vanished > threshold * active:
        raise MassDeleteRefused(
            f"this sync would mark {vanished} of {active} items of dataset {dataset.name!r} "
            f"as ghosts ({vanished / max(active, 1):.0%}, threshold {threshold:.0%}); nothing "
            "was applied. If the files really are gone, set allow_mass_delete to apply "
            "anyway; a dry run lists them first"
        )


def _incomplete_message(gaps: str, counts: dict) -> str:
    return (
        f"listing incomplete: {gaps}, so nothing was marked as ghost; {counts['new']} new, "
        f"{counts['changed']} changed and {counts['revived']} revived items were applied. "
        "Run the sync again once the storage error is fixed"
    )


def _log_plan(report: dict) -> None:
    counts = report["counts"]
    log.info(
        "Plan for %s (%s): %s",
        report["dataset"],
        report["scope"],
        ", ".join(f"{kind} {n}" for kind, n in counts.items()),
    )
    for kind, paths in report["samples"].items():
        for path in paths:
            log.info("  %s: %s", kind, path)
    ambiguous = report["ambiguous_renames"]
    if ambiguous["keys"]:
        log.warning(
            "%d new keys share size and etag with several vanished items (or the reverse): "
            "kept as new items + ghosts, e.g. %s",
            ambiguous["keys"],
            ", ".join(ambiguous["sample"]),
        )
    if report["held_back"]:
        log.warning(
            "%d new keys may be renames of files in the unfinished partitions: held back "
            "for the next complete sync",
            report["held_back"],
        )
