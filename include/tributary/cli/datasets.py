"""``tributary dataset``: datasets, their sync policy, lanes and quotas."""

from __future__ import annotations

from typing import Annotated

import typer

from tributary.cli.output import JsonFlag, follow, print_json

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


@app.command("list")
def dataset_list(json_out: JsonFlag = False) -> None:
    """List datasets with their storage, item count and quota."""
    from tributary.usecases.catalog import open_catalog
    from tributary.usecases.datasets import list_datasets

    for row in list_datasets(open_catalog()):
        if json_out:
            print_json(row)
        else:
            quota = row["quota"] if row["quota"] is not None else "-"
            typer.echo(f"{row['name']:<20} {row['storage']:<50} items={row['items']} quota={quota}")


@app.command("quota")
def dataset_quota(
    name: Annotated[str, typer.Argument(help="Dataset name, or 'catalog' for the whole catalog.")],
    max_data_points: Annotated[int | None, typer.Argument(help="Omit to remove the quota.")] = None,
) -> None:
    """Set or remove a data-point quota."""
    from tributary.usecases.catalog import open_catalog
    from tributary.usecases.datasets import set_quota

    set_quota(open_catalog(), name, max_data_points)
    typer.echo(f"quota of {name}: {max_data_points if max_data_points is not None else 'none'}")


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
