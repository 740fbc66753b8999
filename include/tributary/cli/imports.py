"""``tributary link``, ``import``, ``imports`` and ``import-report``: linked items and CSV bulk
link/upload imports (the CSV stored in the dataset's hidden folder, ``tributary_csv_ingest``
started through Airflow), their counts and their per-row error reports."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from tributary.cli.output import JsonFlag, WaitFlag, print_json
from tributary.cli.tables import header, nothing_found

IMPORT_HEADER = (
    f"{'IMPORT':<7} {'STATUS':<10} {'ROWS':>8} {'CREATED':>8} {'UPDATED':>8} "
    f"{'SKIPPED':>8} {'FAILED':>8}  FILE → FOLDER"
)


def import_line(record: dict) -> str:
    """One import as a table row."""
    line = (
        f"{record['id']:<7} {record['status']:<10} {record['rows']:>8} {record['created']:>8} "
        f"{record['updated']:>8} {record['skipped']:>8} {record['failed']:>8}  "
        f"{record['file_name']} → {record['folder']}"
    )
    return line + (f"  ({record['error']})" if record["error"] else "")


def import_csv(
    dataset: str,
    csv_file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The CSV file.")
    ],
    wait: WaitFlag = False,
) -> None:
    """Import a CSV of links or uploads (columns ID, URL, image_bytes, name, action,
    mimetype, item_metadata, item_description) into a folder named after the file."""
    from tributary.usecases.airflow_runs import RunFailed, TriggeredRun, wait_for_run
    from tributary.usecases.catalog import open_catalog
    from tributary.usecases.imports import get_import, start_import, trigger_import

    catalog = open_catalog()
    with csv_file.open("rb") as source:
        record = start_import(catalog, dataset, source, csv_file.name)
    typer.echo(
        f"import {record['id']} of {dataset!r} stored: {record['file_name']} → {record['folder']}"
    )
    run = trigger_import(catalog, dataset, record["id"])
    typer.echo(f"tributary_csv_ingest triggered: run {run['dag_run_id']}")
    typer.echo(f"follow it with: tributary imports {dataset}")
    if not wait:
        return
    state = wait_for_run(TriggeredRun(run["dag_id"], run["dag_run_id"], dataset, ""))
    done = get_import(catalog, dataset, record["id"])
    typer.echo(import_line(done))
    if done["failed"]:
        typer.echo(f"rejected rows: tributary import-report {dataset} {record['id']}")
    if state != "success" or done["status"] != "succeeded":
        raise RunFailed(done["error"] or f"run {run['dag_run_id']} ended {state}")


def imports(dataset: str, json_out: JsonFlag = False) -> None:
    """A dataset's CSV imports, newest first, with their counts."""
    from tributary.usecases.catalog import open_catalog
    from tributary.usecases.imports import list_imports

    records = list_imports(open_catalog(), dataset)["imports"]
    if not records:
        nothing_found(f"no imports into {dataset!r} yet (tributary import {dataset} FILE.csv)")
    elif not json_out:
        header(IMPORT_HEADER)
    for record in records:
        if json_out:
            print_json(record)
        else:
            typer.echo(import_line(record))


def import_report(
    dataset: str,
    import_id: int,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file (default: stdout).")
    ] = None,
) -> None:
    """The rejected rows of an import as CSV (line, ID, reason)."""
    from tributary.usecases.catalog import open_catalog
    from tributary.usecases.imports import error_report

    chunks = error_report(open_catalog(), dataset, import_id)
    if output is None:
        for chunk in chunks:
            sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
        return
    with output.open("wb") as target:
        for chunk in chunks:
            target.write(chunk)


def link(
    dataset: str,
    url: str,
    name: Annotated[
        str | None, typer.Option("--name", help="The item's name (default: the URL's).")
    ] = None,
    to: Annotated[str, typer.Option("--to", help="The folder to put the link in.")] = "/",
    mimetype: Annotated[
        str | None, typer.Option("--mimetype", help="What the URL serves (image/jpeg, video).")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace a link to another URL at that path.")
    ] = False,
    json_out: JsonFlag = False,
) -> None:
    """Add a linked item: a link file in the dataset pointing at URL (the file stays there)."""
    from tributary.usecases.catalog import open_catalog
    from tributary.usecases.links import create_link

    made = create_link(
        open_catalog(), dataset, url, name=name, to=to, mimetype=mimetype, overwrite=overwrite
    )
    item = made["item"]
    if json_out:
        print_json(made)
    else:
        typer.echo(f"{made['status']}: {item['path']} → {item['url']} ({item['mimetype']})")


def register(app: typer.Typer) -> None:
    """Add the import commands to the ``tributary`` command."""
    app.command("link")(link)
    app.command("import")(import_csv)
    app.command("imports")(imports)
    app.command("import-report")(import_report)
