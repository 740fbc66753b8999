"""``tributary items`` and ``tributary thumbnail``: a dataset's items."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from tributary.cli.output import JsonFlag, print_json
from tributary.cli.tables import header, nothing_found

ITEM_COLUMNS = "{id:>8} {state:<7} {preprocess:<10} {mimetype:<24} {size:>12} {path}"


def items(
    dataset: str,
    state: Annotated[str, typer.Option(help="active, ghost, deleted or all")] = "active",
    preprocess_state: Annotated[
        str | None, typer.Option(help="Only items whose preprocessing is pending, done or failed.")
    ] = None,
    prefix: Annotated[
        str | None, typer.Option(help="Only paths starting with this (a folder: '/cam1/').")
    ] = None,
    mimetype: Annotated[
        str | None, typer.Option(help="Only this mimetype ('image/png') or family ('image/*').")
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="Only file names containing this (case-sensitive).")
    ] = None,
    meta: Annotated[
        list[str] | None,
        typer.Option(
            help="Only items whose user metadata has key=value (a JSON value: 3, true, "
            '"3"; else a string). Repeat for several.'
        ),
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """List a dataset's items (streamed): id, state, preprocessing, mimetype, size, path."""
    from tributary.usecases.catalog import open_catalog
    from tributary.usecases.items import iter_items, metadata_filter

    filters = {
        "state": state,
        "preprocess_state": preprocess_state,
        "prefix": prefix,
        "mimetype": mimetype,
        "name": name,
        "metadata": metadata_filter(meta or []),
    }
    listed = 0
    for item in iter_items(open_catalog(), dataset, **filters):
        if json_out:
            print_json(item)
        else:
            if not listed:
                header(
                    ITEM_COLUMNS.format(
                        id="ID", state="STATE", preprocess="PREPROCESS", mimetype="MIMETYPE",
                        size="SIZE", path="PATH",
                    )
                )  # fmt: skip
            typer.echo(
                ITEM_COLUMNS.format(
                    id=item["id"],
                    state=item["state"],
                    preprocess=item["preprocess_state"],
                    mimetype=item["mimetype"] or "-",
                    size=item["size"],
                    path=item["path"],
                )
            )
        listed += 1
    if not listed:
        which = ", ".join([state, *(f"{k} {v}" for k, v in filters.items() if k != "state" and v)])
        nothing_found(f"no items ({which}) in dataset {dataset!r}")


def thumbnail(
    dataset: str,
    path: str,
    output: Annotated[
        str, typer.Option("-o", "--output", help="File to write; '-' for stdout.")
    ] = "-",
) -> None:
    """Fetch one item's thumbnail from the dataset's storage."""
    from tributary.usecases.catalog import open_catalog
    from tributary.usecases.thumbnails import fetch_thumbnail

    if output != "-" and not Path(output).parent.is_dir():
        # Said before the fetch: a typo in the path must not cost a storage round trip.
        raise typer.BadParameter(
            f"folder {Path(output).parent} does not exist", param_hint="'--output'"
        )
    found = fetch_thumbnail(open_catalog(), dataset, path)
    if output == "-":
        sys.stdout.buffer.write(found.data)
    else:
        Path(output).write_bytes(found.data)
        typer.echo(f"{output}: {len(found.data)} bytes ({found.key})", err=True)
