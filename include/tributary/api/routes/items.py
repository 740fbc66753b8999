"""Items: keyset pages with filters, one item by id or path, edits (user metadata and
description, delete, restore, move) and bulk metadata."""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from tributary.api.auth import Reader, Writer
from tributary.api.deps import CatalogDep
from tributary.api.streams import BodyReader, lines_of
from tributary.usecases import edits, items, metadata

router = APIRouter(tags=["items"])

Item = "/datasets/{dataset}/items/{item_id}"


class ItemEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metadata: dict[str, Any] | None = Field(None, description="user metadata keys to set")
    remove: list[str] = Field(default_factory=list, description="user metadata keys to drop")
    replace: bool = Field(False, description="the metadata becomes `metadata` exactly")
    description: str | None = None


class Move(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(..., description="the new item path, /folder/name.ext")


@router.get("/datasets/{dataset}/items")
def list_items(
    dataset: str,
    catalog: CatalogDep,
    _: Reader,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    state: str = "active",
    preprocess_state: str | None = None,
    mimetype: str | None = None,
    prefix: str | None = None,
    name: str | None = None,
    meta: Annotated[list[str], Query(description="user metadata key=value")] = (),
) -> dict:
    """One keyset page of items in path order; pass ``next`` back as ``after``."""
    return items.list_items(
        catalog,
        dataset,
        after=after,
        limit=limit,
        state=state,
        preprocess_state=preprocess_state,
        mimetype=mimetype,
        prefix=prefix,
        name=name,
        metadata=items.metadata_filter(meta) if meta else None,
    )


@router.get("/datasets/{dataset}/items/by-path")
def item_by_path(dataset: str, path: str, catalog: CatalogDep, _: Reader) -> dict:
    """The item at a dataset path (``/a/b.jpg``)."""
    return items.find_item(catalog, dataset, path)


@router.get(Item)
def get_item(dataset: str, item_id: int, catalog: CatalogDep, _: Reader) -> dict:
    """One item, whatever its state."""
    return items.get_item(catalog, dataset, item_id)


@router.patch(Item)
def edit_item(dataset: str, item_id: int, body: ItemEdit, catalog: CatalogDep, _: Writer) -> dict:
    """Set, merge or remove user metadata keys; set or clear the description."""
    given = body.model_dump(exclude_unset=True)
    return metadata.edit_item(
        catalog,
        dataset,
        item_id,
        set=body.metadata,
        remove=body.remove,
        replace=body.replace,
        description=given.get("description", metadata.UNSET),
    )


@router.delete(Item)
def delete_item(dataset: str, item_id: int, catalog: CatalogDep, _: Writer) -> dict:
    """Take the item out of the dataset (its key is remembered: a sync does not bring it
    back). ``bucket_file`` says what happens to the file: deleting, kept or internal."""
    return edits.delete_item(catalog, dataset, item_id)


@router.post(Item + "/restore")
def restore_item(dataset: str, item_id: int, catalog: CatalogDep, _: Writer) -> dict:
    """Bring a deleted item back."""
    return edits.restore_item(catalog, dataset, item_id)


@router.post(Item + "/move")
def move_item(dataset: str, item_id: int, body: Move, catalog: CatalogDep, _: Writer) -> dict:
    """Move or rename an item of an internal dataset (an external one's cannot be)."""
    return edits.move_item(catalog, dataset, item_id, body.path)


@router.post("/datasets/{dataset}/metadata")
async def bulk_metadata(dataset: str, request: Request, catalog: CatalogDep, _: Writer) -> dict:
    """User metadata from a JSONL body (or CSV, ``Content-Type: text/csv``), streamed:
    ``{"applied", "errors": [{"line", "error"}]}``; the good lines are applied."""
    fmt = "csv" if "csv" in request.headers.get("content-type", "") else "jsonl"
    body = BodyReader(request)
    return await anyio.to_thread.run_sync(
        lambda: metadata.apply_bulk_metadata(catalog, dataset, lines_of(body), fmt=fmt)
    )
