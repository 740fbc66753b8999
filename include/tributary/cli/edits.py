"""``tributary delete``, ``restore``, ``move``, ``clone``: platform edits through the API."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from tributary.cli.errors import UsageError
from tributary.cli.output import JsonFlag, print_json
from tributary.cli.remote import api, item_path, resolve

BUCKET_FILE = {
    "deleting": "its file is being deleted from the bucket (the driver allows deletes)",
    "kept": "its file stays in the bucket (the driver does not allow deletes)",
    "internal": "its file is removed from the internal storage",
}


def delete(
    dataset: str,
    path: Annotated[str, typer.Argument(help="The item's dataset path, e.g. /cam1/0001.jpg.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    json_out: JsonFlag = False,
) -> None:
    """Delete an item from DATASET. The next sync does not bring it back (unless its file
    changes); its bucket file is deleted only if the driver allows deletes."""
    if not yes and not sys.stdin.isatty():
        # Said before any request: a script must say --yes.
        raise UsageError("no terminal to confirm the delete on; add --yes")
    with api() as client:
        item = resolve(client, dataset, path)
        if item["state"] == "deleted":
            # Nothing to do, and nothing to confirm: said, and a success.
            if json_out:
                print_json({"item": item, "bucket_file": None})
            else:
                typer.echo(f"{item['path']} is already deleted from {dataset!r}")
            return
        if not yes:
            _confirm(client, dataset, item)
        answer = client.delete_item(dataset, item["id"])
    if json_out:
        print_json(answer)
        return
    fate = BUCKET_FILE.get(answer.get("bucket_file"), f"bucket file: {answer.get('bucket_file')}")
    typer.echo(f"deleted {item['path']} (item {item['id']}) from {dataset!r}: {fate}")
    typer.echo(f"undo with: tributary restore {dataset} {item['path']}")


def _confirm(client, dataset: str, item: dict) -> None:
    """Ask, saying what becomes of the bucket file."""
    shown = client.dataset(dataset)
    if shown.get("driver") is None:
        fate = BUCKET_FILE["internal"]
    else:
        allowed = client.driver(shown["driver"]).get("allow_delete")
        fate = BUCKET_FILE["deleting" if allowed else "kept"]
    typer.confirm(
        f"Delete {item['path']} from dataset {dataset!r}? {fate[0].upper()}{fate[1:]}",
        abort=True,
        err=True,
    )


def restore(
    dataset: str,
    path: Annotated[str, typer.Argument(help="The deleted item's dataset path.")],
    json_out: JsonFlag = False,
) -> None:
    """Bring a deleted item back into DATASET."""
    with api() as client:
        item = resolve(client, dataset, path, deleted=True)
        restored = client.restore_item(dataset, item["id"])
    if json_out:
        print_json(restored)
        return
    typer.echo(f"restored {restored['path']} (item {restored['id']}) in {dataset!r}")


def move(
    dataset: str,
    path: Annotated[str, typer.Argument(help="The item's dataset path.")],
    new_path: Annotated[str, typer.Argument(help="Its new dataset path.")],
    json_out: JsonFlag = False,
) -> None:
    """Move or rename an item of DATASET (internal datasets only: an external dataset
    follows its bucket)."""
    with api() as client:
        item = resolve(client, dataset, path)
        moved = client.move_item(dataset, item["id"], item_path(new_path))
    if json_out:
        print_json(moved)
        return
    typer.echo(f"moved {item['path']} -> {moved['path']} (item {moved['id']}) in {dataset!r}")


def clone(
    source: str,
    target: str,
    driver: Annotated[
        str | None,
        typer.Option(help="Driver of the new dataset (an external source's own driver)."),
    ] = None,
    json_out: JsonFlag = False,
) -> None:
    """Clone dataset SOURCE into a new dataset TARGET: its items, metadata and
    descriptions (binaries are not copied where the storage is the same)."""
    with api() as client:
        cloned = client.clone(source, target, driver=driver)
    if json_out:
        print_json(cloned)
        return
    items = cloned.get("items")
    count = items.get("active") if isinstance(items, dict) else items
    said = f" ({count} items)" if count is not None else ""
    typer.echo(f"cloned {source!r} into {cloned.get('name', target)!r}{said}")
