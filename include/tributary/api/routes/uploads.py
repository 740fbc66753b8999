"""Uploads: one file per ``PUT`` of its raw bytes at its dataset path, streamed to the
dataset's storage (never held whole, never spooled on the API server's disk)."""

from __future__ import annotations

import contextlib
import json
import logging

import anyio.to_thread
from fastapi import APIRouter, Request

from tributary.api.auth import Writer
from tributary.api.deps import CatalogDep, DrainsDep
from tributary.api.streams import BodyReader
from tributary.errors import InvalidInput
from tributary.usecases import uploads

log = logging.getLogger(__name__)
router = APIRouter(tags=["uploads"])


def _size(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    if not raw.isdigit():
        raise InvalidInput(f"Content-Length {raw!r} is not a number of bytes")
    return int(raw)


def _metadata(request: Request) -> dict | None:
    raw = request.headers.get("x-tributary-metadata")
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        raise InvalidInput("X-Tributary-Metadata is not JSON") from None
    if not isinstance(value, dict):
        raise InvalidInput("X-Tributary-Metadata must be a JSON object")
    return value


@router.put("/datasets/{dataset}/files/{path:path}")
async def upload_file(
    dataset: str,
    path: str,
    request: Request,
    catalog: CatalogDep,
    drains: DrainsDep,
    caller: Writer,
    overwrite: bool = False,
) -> dict:
    """Upload the request body as the file at ``/{path}``: ``{"status": created | skipped
    | replaced, "item"}``. ``X-Tributary-SHA256`` lets an identical file be skipped and is
    checked against the bytes; ``X-Tributary-Metadata`` (a JSON object) sets user
    metadata. Another file at the path is a 409 unless ``overwrite``; the quota is checked
    before any byte is written (507)."""
    body = BodyReader(request)
    try:
        result = await anyio.to_thread.run_sync(
            lambda: uploads.upload(
                catalog,
                dataset,
                "/" + path,
                body,
                size=_size(request),
                sha256=request.headers.get("x-tributary-sha256"),
                content_type=request.headers.get("content-type"),
                metadata=_metadata(request),
                overwrite=overwrite,
            )
        )
    finally:
        # What was not read (a skip, a refusal) is read and dropped: the client sends its
        # whole body before it reads the answer, and must get the answer.
        with contextlib.suppress(Exception):
            await body.drain()
    if result["status"] != "skipped":
        drains.request(dataset, caller.token)
    return result
