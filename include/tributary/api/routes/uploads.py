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
from tributary.api.errors import one_line, status_of
from tributary.api.multipart import Part, PartReader, each_file
from tributary.api.streams import BodyReader
from tributary.errors import InvalidInput, TributaryError
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


def _json_object(raw: str | None, shown: str) -> dict | None:
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        raise InvalidInput(f"{shown} is not JSON") from None
    if not isinstance(value, dict):
        raise InvalidInput(f"{shown} must be a JSON object")
    return value


def _metadata(request: Request) -> dict | None:
    return _json_object(request.headers.get("x-tributary-metadata"), "X-Tributary-Metadata")


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
    if result["status"] != "skipped":  # an announcement (items-created) at least waits
        drains.request(dataset, caller.token)
    return result


def _outcome(part: Part, result: object) -> dict:
    if isinstance(result, dict):
        return {"file": part.filename, **result}
    if isinstance(result, TributaryError):
        code = status_of(result)
        status = "conflict" if code == 409 else "error"
        return {"file": part.filename, "status": status, "code": code, "error": one_line(result)}
    log.error("upload of %r failed: %r", part.filename, result)
    return {"file": part.filename, "status": "error", "code": 500, "error": "internal error"}


@router.post("/datasets/{dataset}/uploads")
async def upload_form(
    dataset: str,
    request: Request,
    catalog: CatalogDep,
    drains: DrainsDep,
    caller: Writer,
    to: str = "/",
    overwrite: bool = False,
) -> dict:
    """Upload the file parts of a ``multipart/form-data`` body (a browser's form), each
    at ``to`` + its file name (which may hold folders: ``cam1/a.jpg``), streamed one after
    another. Plain fields before the files may give ``to``, ``overwrite`` (true) and
    ``metadata`` (a JSON object for every file). One outcome per file, in order: a
    conflict or a refusal of one file never stops the others."""
    parts: list[Part] = []

    def one(part: Part, reader: PartReader, fields: dict[str, str]) -> dict:
        parts.append(part)
        folder = fields.get("to", to)
        return uploads.upload(
            catalog,
            dataset,
            uploads.check_upload_path(part.filename or "", folder),
            reader,
            content_type=part.content_type,
            metadata=_json_object(fields.get("metadata"), "the metadata field"),
            overwrite=overwrite or fields.get("overwrite", "").lower() in ("1", "true", "on"),
        )

    results = await each_file(request, one)
    outcomes = [_outcome(part, result) for part, result in zip(parts, results, strict=True)]
    if any(o["status"] in ("created", "replaced") for o in outcomes):
        drains.request(dataset, caller.token)
    failed = sum(o["status"] in ("conflict", "error") for o in outcomes)
    return {"files": outcomes, "failed": failed}
