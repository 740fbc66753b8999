"""``tributary meta``: user metadata and descriptions of items, one item or in bulk."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tributary.cli.errors import UsageError
from tributary.cli.output import JsonFlag, print_json
from tributary.cli.remote import api, json_or_text, resolve


def meta(
    dataset: str,
    path: Annotated[
        str | None, typer.Argument(help="The item's dataset path, e.g. /cam1/0001.jpg.")
    ] = None,
    pairs: Annotated[
        list[str] | None,
        typer.Argument(help="key=value to set; a value is JSON when it parses (7, true, [1,2])."),
    ] = None,
    remove: Annotated[
        list[str] | None, typer.Option("--remove", help="A key to remove (repeatable).")
    ] = None,
    description: Annotated[
        str | None, typer.Option(help="The item's description; '' clears it.")
    ] = None,
    replace: Annotated[
        bool, typer.Option(help="The given keys become all of the item's metadata.")
    ] = False,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            help="Bulk: a JSONL or CSV file (path or id, metadata, description per line).",
        ),
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Set, merge or remove an item's user metadata and its description; or, with --file,
    apply a JSONL or CSV file of them (good lines are applied, bad ones reported)."""
    if file is not None:
        if path is not None or pairs or remove or description is not None or replace:
            raise UsageError("--file takes no item path, key=value, --remove, --description")
        _bulk(dataset, file, json_out=json_out)
        return
    if path is None:
        raise UsageError("missing the item's path (or --file for bulk metadata)")
    values = _pairs(pairs or [])
    if not values and not remove and description is None and not replace:
        raise UsageError("nothing to change: give key=value, --remove KEY or --description")
    with api() as client:
        item = resolve(client, dataset, path)
        kwargs = {} if description is None else {"description": description or None}
        edited = client.edit_item(
            dataset,
            item["id"],
            metadata=values if values or replace else None,
            remove=remove or (),
            replace=replace,
            **kwargs,
        )
    if json_out:
        print_json(edited)
        return
    typer.echo(f"{edited['path']}: {_shown((edited.get('metadata') or {}).get('user'))}")
    if edited.get("description"):
        typer.echo(f"  description: {edited['description']}")


def _pairs(pairs: list[str]) -> dict:
    values = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise UsageError(f"{pair!r} is not key=value")
        values[key] = json_or_text(value)
    return values


def _shown(metadata: dict | None) -> str:
    import json

    return json.dumps(metadata or {}, ensure_ascii=False, sort_keys=True)


def _bulk(dataset: str, file: Path, *, json_out: bool) -> None:
    if file.suffix.lower() not in (".jsonl", ".ndjson", ".csv", ".json"):
        raise UsageError(f"{file}: give a .jsonl or .csv file")
    if not file.is_file():
        raise UsageError(f"{file}: no such file")
    with api() as client:
        report = client.apply_metadata(dataset, file)
    errors = report.get("errors", [])
    if json_out:
        print_json(report)
    else:
        typer.echo(f"{report['applied']} lines applied, {len(errors)} refused")
    for error in errors:
        typer.echo(f"error: {file}: line {error['line']}: {error['error']}", err=True)
    if errors:
        raise typer.Exit(1)
