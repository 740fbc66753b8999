"""``tributary dataset``: datasets, their sync policy, lanes and quotas; show and delete."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from tributary.cli.errors import UsageError
from tributary.cli.output import JsonFlag, follow, print_json, run_line
from tributary.cli.tables import header, nothing_found

app = typer.Typer(no_args_is_help=True, help="Datasets.")

LaneOption = Annotated[
    str | None,
    typer.Option(
        help="Preprocessing lane (TRIBUTARY_LANES: its own Airflow pool and Celery queue); "
        "'' for the shared lane."
    ),
]


@app.command("create")
def dataset_create(
    name: str,
    driver: Annotated[
        str | None, typer.Option(help="Driver name; none = internal storage.")
    ] = None,
    quota: Annotated[int | None, typer.Option(help="Data-point quota (max items).")] = None,
    no_sync: Annotated[
        bool, typer.Option("--no-sync", help="Do not start the initial sync.")
    ] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the initial sync.")] = False,
    folder: Annotated[
        str,
        typer.Option(
            help="Folder under the driver's path; may hold Airflow date templates, e.g. "
            "'camera-7/{{ ds }}/' (each scheduled or backfill run syncs its own day)."
        ),
    ] = "",
    ghost_grace_days: Annotated[
        int, typer.Option(help="Days a tombstone is kept before it is purged.")
    ] = 7,
    mass_delete_threshold: Annotated[
        float,
        typer.Option(help="Share of items a sync may mark as ghosts without --allow-mass-delete."),
    ] = 0.1,
    lane: LaneOption = None,
) -> None:
    """Create a dataset and start its initial sync through Airflow."""
    from tributary.usecases.catalog import open_catalog
    from tributary.usecases.datasets import InitialSyncNotStarted, create_dataset

    catalog = open_catalog()
    try:
        created = create_dataset(
            catalog,
            name=name,
            driver=driver,
            quota=quota,
            sync_enabled=not no_sync,
            folder=folder,
            ghost_grace_days=ghost_grace_days,
            mass_delete_threshold=mass_delete_threshold,
            lane=lane,
            start_sync=not no_sync,
        )
    except InitialSyncNotStarted:
        typer.echo(f"dataset {name!r} created")
        raise
    typer.echo(f"dataset {name!r} created")
    if created.initial_sync is not None:
        follow(catalog, created.initial_sync, wait=wait)


@app.command("set")
def dataset_set(
    name: str,
    ghost_grace_days: Annotated[
        int | None, typer.Option(help="Days a tombstone is kept before it is purged.")
    ] = None,
    mass_delete_threshold: Annotated[
        float | None,
        typer.Option(help="Share of items a sync may mark as ghosts without --allow-mass-delete."),
    ] = None,
    sync_enabled: Annotated[
        bool | None,
        typer.Option("--sync/--no-sync", help="Include the dataset in the nightly sync."),
    ] = None,
    lane: LaneOption = None,
) -> None:
    """Change a dataset's sync policy or preprocessing lane."""
    from tributary.usecases.catalog import open_catalog
    from tributary.usecases.datasets import update_dataset

    dataset = update_dataset(
        open_catalog(),
        name,
        ghost_grace_days=ghost_grace_days,
        mass_delete_threshold=mass_delete_threshold,
        sync_enabled=sync_enabled,
        lane=lane,
    )
    typer.echo(
        f"dataset {name!r}: nightly sync {'on' if dataset.sync_enabled else 'off'}, "
        f"tombstones kept {dataset.ghost_grace_days} days, "
        f"mass-delete threshold {dataset.mass_delete_threshold:.0%}, "
        f"lane {dataset.lane or 'shared'}"
    )


DATASET_COLUMNS = "{name:<20} {storage:<50} {active:>8} {ghost:>8} {quota:>10}"


@app.command("list")
def dataset_list(json_out: JsonFlag = False) -> None:
    """List datasets with their storage, active items, tombstones (ghosts) and quota."""
    from tributary.usecases.catalog import open_catalog
    from tributary.usecases.datasets import list_datasets

    rows = list_datasets(open_catalog())
    if not rows:
        nothing_found("no datasets yet (create one: tributary dataset create NAME)")
    elif not json_out:
        header(
            DATASET_COLUMNS.format(
                name="NAME", storage="STORAGE", active="ACTIVE", ghost="GHOSTS", quota="QUOTA"
            )
        )
    for row in rows:
        if json_out:
            print_json(row)
            continue
        quota = row["quota"] if row["quota"] is not None else "-"
        line = DATASET_COLUMNS.format(
            name=row["name"], storage=row["storage"], quota=quota, **row["items"]
        )
        typer.echo(line)


@app.command("quota")
def dataset_quota(
    name: Annotated[str, typer.Argument(help="Dataset name, or 'catalog' for the whole catalog.")],
    max_data_points: Annotated[
        int | None, typer.Argument(help="The new quota; omit to show the quota and its use.")
    ] = None,
    remove: Annotated[bool, typer.Option("--none", help="Remove the quota.")] = False,
    json_out: JsonFlag = False,
) -> None:
    """Show, set or (--none) remove a data-point quota: one data point per item,
    tombstones included until they are purged."""
    from tributary.usecases.catalog import open_catalog
    from tributary.usecases.datasets import quota_usage, set_quota

    if remove and max_data_points is not None:
        raise UsageError("give a quota or --none, not both")
    catalog = open_catalog()
    if remove or max_data_points is not None:
        usage = set_quota(catalog, name, None if remove else max_data_points)
    else:
        usage = quota_usage(catalog, name)
    if json_out:
        print_json({"name": name, **usage.as_dict()})
        return
    where = "the catalog" if name == "catalog" else f"dataset {name!r}"
    if usage.limit is None:
        typer.echo(f"{where}: no quota ({usage.used} data points used)")
    else:
        typer.echo(
            f"{where}: quota {usage.limit} data points, {usage.used} used, "
            f"{usage.available} available"
        )


@app.command("unlock")
def dataset_unlock(name: str) -> None:
    """Free a dataset's sync lock left by a sync that died (refused while Airflow says its
    run is still going)."""
    from tributary.usecases.catalog import open_catalog
    from tributary.usecases.locks import unlock_dataset

    freed = unlock_dataset(open_catalog(), name)
    if freed is None:
        typer.echo(f"dataset {name!r} was not locked")
    else:
        typer.echo(f"dataset {name!r} unlocked: sync #{freed} closed as interrupted")


@app.command("show")
def dataset_show(name: str, json_out: JsonFlag = False) -> None:
    """Everything known about one dataset: storage, policy, quota, items per state and
    per preprocessing state, lock, last sync runs."""
    from tributary.usecases.catalog import open_catalog
    from tributary.usecases.datasets import describe_dataset

    report = describe_dataset(open_catalog(), name)
    if json_out:
        print_json(report.as_dict())
        return
    for line in _report_lines(report.as_dict()):
        typer.echo(line)
    if not report.last_runs:
        typer.echo(f"  (none yet: tributary sync {name})")
    for run in report.last_runs:
        typer.echo("  " + run_line(run, name).replace("\n", "\n  "))


def _per_state(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {state}" for state, n in counts.items())


def _report_lines(shown: dict) -> list[str]:
    quota = shown["quota"]
    sync = shown["sync"]
    limit = "none" if quota["limit"] is None else quota["limit"]
    available = "-" if quota["available"] is None else quota["available"]
    return [
        f"dataset:        {shown['name']}",
        f"driver:         {shown['driver'] or '- (internal storage)'}",
        f"storage:        {shown['storage']}",
        f"folder:         {shown['folder'] or '- (the whole driver path)'}",
        f"quota:          {limit} (used {quota['used']}, available {available})",
        f"items:          {_per_state(shown['items'])}",
        f"preprocessing:  {_per_state(shown['preprocessing'])} (active items)",
        f"lane:           {shown['lane']}",
        f"nightly sync:   {'on' if sync['enabled'] else 'off'}, tombstones kept "
        f"{sync['ghost_grace_days']} days, mass-delete threshold "
        f"{sync['mass_delete_threshold']:.0%}",
        f"locked by sync: {shown['locked_by_sync'] or '-'}",
        "last runs:",
    ]


@app.command("delete")
def dataset_delete(
    name: str,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a dataset from the catalog: its items, sync history and thumbnails. The
    files in its bucket or folder are never touched."""
    from tributary.usecases.catalog import open_catalog
    from tributary.usecases.datasets import delete_dataset, describe_dataset

    catalog = open_catalog()
    if not yes:
        _confirm_delete(describe_dataset(catalog, name, runs=0).as_dict())
    deleted = delete_dataset(catalog, name)
    typer.echo(
        f"dataset {name!r} deleted: {deleted.items} items, {deleted.sync_runs} sync runs, "
        f"{deleted.thumbnails_deleted} thumbnails"
    )
    if deleted.thumbnails_left:
        typer.echo(
            f"warning: some thumbnails stay in the hidden folder: {deleted.thumbnails_left}",
            err=True,
        )


def _confirm_delete(shown: dict) -> None:
    """Ask on a terminal; refuse without one (a script must say --yes)."""
    name = shown["name"]
    if not sys.stdin.isatty():
        raise UsageError("no terminal to confirm the delete on; add --yes")
    items = shown["items"]
    typer.confirm(
        f"Delete dataset {name!r} ({items['active']} items, {items['ghost']} ghosts), its sync "
        f"history and thumbnails? The files in {shown['storage']} stay",
        abort=True,
        err=True,
    )
