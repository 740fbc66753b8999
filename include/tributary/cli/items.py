"""``tributary items`` and ``tributary thumbnail``: a dataset's items."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from tributary.cli.output import JsonFlag, print_json


def items(
    dataset: str,
    state: Annotated[str, typer.Option(help="active, ghost or all")] = "active",
    json_out: JsonFlag = False,
) -> None:
    """List a dataset's items (streamed)."""
    from tributary.usecases.catalog import open_catalog
    from tributary.usecases.items import iter_item_records

    for item in iter_item_records(open_catalog(), dataset, state):
        if json_out:
            print_json(item)
        else:
            typer.echo(f"{item['id']:>8} {item['state']:<6} {item['size']:>12} {item['path']}")


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
