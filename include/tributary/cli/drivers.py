"""``tributary driver``: storage drivers (a bucket + a connection)."""

from __future__ import annotations

from typing import Annotated

import typer

from tributary.cli.output import JsonFlag, print_json, print_probe
from tributary.cli.tables import header, nothing_found

app = typer.Typer(no_args_is_help=True, help="Storage drivers (a bucket + a connection).")


@app.command("create")
def driver_create(
    name: str,
    provider: Annotated[str, typer.Option(help="local, s3, azure or gcs")],
    bucket: Annotated[str, typer.Option(help="Bucket or container (a directory for local).")],
    conn_id: Annotated[str | None, typer.Option(help="Airflow connection id.")] = None,
    path: Annotated[str, typer.Option(help="Folder path inside the bucket.")] = "",
    storage_class: Annotated[str, typer.Option()] = "standard",
    region: Annotated[str | None, typer.Option()] = None,
    allow_delete: Annotated[bool, typer.Option(help="Let Tributary delete files.")] = False,
    json_out: JsonFlag = False,
) -> None:
    """Create a driver and probe its permissions; nothing is kept if the probe fails."""
    from tributary.usecases.catalog import open_catalog
    from tributary.usecases.drivers import DriverNotCreated, create_driver

    try:
        created = create_driver(
            open_catalog(),
            name=name,
            provider=provider,
            bucket=bucket,
            conn_id=conn_id,
            path=path,
            storage_class=storage_class,
            region=region,
            allow_delete=allow_delete,
        )
    except DriverNotCreated as exc:
        _show_probe(exc.driver.as_dict(), exc.check, json_out)
        raise
    _show_probe(created.driver.as_dict(), created.check, json_out)
    if not json_out:
        typer.echo(f"driver {name!r} created on {created.check['location']}")


def _show_probe(driver: dict, check: dict, json_out: bool) -> None:
    if json_out:
        print_json({**driver, "check": check})
    else:
        print_probe(check)


@app.command("check")
def driver_check(name: str, json_out: JsonFlag = False) -> None:
    """Probe a driver's permissions again; exit 0 when List, Get and Put hold."""
    from tributary.usecases.catalog import open_catalog
    from tributary.usecases.drivers import check_driver

    checked = check_driver(open_catalog(), name)
    if json_out:
        print_json({"driver": name, **checked.check})
    else:
        print_probe(checked.check)
    raise typer.Exit(0 if checked.ok else 1)


DRIVER_COLUMNS = "{name:<20} {where:<50} {conn:<20} {check}"


@app.command("list")
def driver_list(json_out: JsonFlag = False) -> None:
    """List drivers with their last probe result (and since when a failing one fails)."""
    from tributary.usecases.catalog import open_catalog
    from tributary.usecases.drivers import list_drivers

    statuses = list_drivers(open_catalog())
    if not statuses:
        nothing_found("no drivers yet (create one: tributary driver create NAME --provider …)")
    elif not json_out:
        header(DRIVER_COLUMNS.format(name="NAME", where="LOCATION", conn="CONN", check="CHECK"))
    for status in statuses:
        if json_out:
            print_json(status.as_dict())
            continue
        driver = status.driver
        state = {True: "ok", False: "FAILED", None: "never checked"}[status.check_ok]
        if status.failing_since:
            state += f" since {status.failing_since:%Y-%m-%d %H:%M} UTC"
        where = f"{driver.provider}://{driver.bucket}/{driver.prefix}"
        typer.echo(
            DRIVER_COLUMNS.format(
                name=driver.name, where=where, conn=driver.conn_id or "-", check=state
            )
        )


@app.command("delete")
def driver_delete(name: str) -> None:
    """Delete a driver (refused while a dataset uses it). Its Airflow connection and its
    bucket stay as they are."""
    from tributary.usecases.catalog import open_catalog
    from tributary.usecases.drivers import delete_driver

    delete_driver(open_catalog(), name)
    typer.echo(f"driver {name!r} deleted")
