"""``tributary sync`` and ``tributary runs``: upstream syncs and their history."""

from __future__ import annotations

from typing import Annotated

import typer

from tributary.cli.output import JsonFlag, WaitFlag, follow, print_json, run_line
from tributary.cli.tables import header, nothing_found

RUN_HEADER = f"{'RUN':<6} {'KIND':<8} {'STATUS':<9} {'PROGRESS':<18} COUNTS"


def sync(
    dataset: str,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would change; apply nothing.")
    ] = False,
    allow_mass_delete: Annotated[
        bool,
        typer.Option(
            "--allow-mass-delete",
            help="Apply even when more files vanished than the dataset's threshold.",
        ),
    ] = False,
    wait: WaitFlag = False,
) -> None:
    """Start an upstream sync of a dataset through Airflow (new, changed, renamed and
    vanished files; vanished ones become tombstones)."""
    from tributary.usecases.catalog import open_catalog
    from tributary.usecases.syncs import start_upstream_sync

    catalog = open_catalog()
    run = start_upstream_sync(
        catalog, dataset, dry_run=dry_run, allow_mass_delete=allow_mass_delete
    )
    follow(catalog, run, wait=wait)


def runs(dataset: str, json_out: JsonFlag = False) -> None:
    """Sync history of a dataset, newest first, with progress of running syncs.
    (Preprocessing: ``tributary dataset show``; its runs are Airflow's.)"""
    from tributary.usecases.catalog import open_catalog
    from tributary.usecases.syncs import SyncRunSummary, sync_history

    records = sync_history(open_catalog(), dataset)
    if not records:
        nothing_found(
            f"no sync runs of dataset {dataset!r} yet (start one: tributary sync {dataset})"
        )
    elif not json_out:
        header(RUN_HEADER)
    for record in records:
        if json_out:
            print_json(record)
        else:
            typer.echo(run_line(SyncRunSummary.from_record(record), dataset))
