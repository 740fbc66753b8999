"""An item's bytes (HTTP ``Range`` honoured) and its thumbnail (cached by ETag)."""

from __future__ import annotations

import re
import urllib.parse

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from tributary.api.auth import Reader
from tributary.api.deps import CatalogDep
from tributary.api.errors import error
from tributary.ingest.errors import HTTPStatus
from tributary.usecases.content import item_thumbnail, open_content
from tributary.usecases.items import get_item
from tributary.usecases.links import LinkContent, open_link_content

router = APIRouter(tags=["items"])

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
# A thumbnail asked for with its version (``?v=``, see usecases.content.thumbnail_version)
# never changes at that address: cached for a year. Without it: revalidated (ETag, 304).
VERSIONED_CACHE = "private, max-age=31536000, immutable"
UNVERSIONED_CACHE = "private, no-cache"


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte range that a ``Range`` header asks of ``size`` bytes; None for
    the whole (no header, or one we do not serve: several ranges). ``ValueError`` when the
    range cannot be satisfied."""
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        length = int(last)
        if length == 0:
            raise ValueError(header)
        return max(size - length, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise ValueError(header)
    return start, end


def asked_range(header: str | None) -> tuple[int, int | None] | None:
    """``bytes=a-b`` or ``bytes=a-`` as (start, end or None), for a body whose size is not
    known yet (a linked item's); None for the whole (no header, a suffix or several)."""
    match = _RANGE.fullmatch((header or "").strip())
    if match is None or not match.group(1):
        return None
    first, last = match.groups()
    return int(first), int(last) if last else None


def _disposition(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return f"inline; filename*=UTF-8''{urllib.parse.quote(name, safe='')}"


@router.get("/datasets/{dataset}/items/{item_id}/content")
def content(dataset: str, item_id: int, request: Request, catalog: CatalogDep, _: Reader):
    """The item's bytes, streamed; a ``Range: bytes=a-b`` asks for part of them (206). A
    linked item's are fetched from its URL through the safe fetcher."""
    if get_item(catalog, dataset, item_id)["kind"] == "link":
        return _linked(catalog, dataset, item_id, request.headers.get("range"))
    found = open_content(catalog, dataset, item_id)
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Disposition": _disposition(found.item["path"]),
        "X-Content-Type-Options": "nosniff",
    }
    if found.item["etag"]:
        headers["ETag"] = f'"{found.item["etag"].strip(chr(34))}"'
    try:
        wanted = byte_range(request.headers.get("range"), found.size)
    except ValueError:
        answer = error(416, f"range {request.headers.get('range')} is outside the item's bytes")
        answer.headers["Content-Range"] = f"bytes */{found.size}"
        return answer
    media_type = found.item["mimetype"] or "application/octet-stream"
    if wanted is None:
        headers["Content-Length"] = str(found.size)
        return StreamingResponse(found.chunks(), media_type=media_type, headers=headers)
    start, end = wanted
    headers["Content-Range"] = f"bytes {start}-{end}/{found.size}"
    headers["Content-Length"] = str(end - start + 1)
    return StreamingResponse(
        found.chunks(start, end), status_code=206, media_type=media_type, headers=headers
    )


def _linked(catalog, dataset: str, item_id: int, range_header: str | None):
    start, end = asked_range(range_header) or (None, None)
    try:
        link = open_link_content(catalog, dataset, item_id, start, end)
    except HTTPStatus as exc:
        if exc.status == 416:
            return error(416, exc)
        raise
    headers = {
        **link.headers(),
        "Content-Disposition": _disposition(link.name),
        "X-Content-Type-Options": "nosniff",
    }
    return StreamingResponse(
        _closed_after(link), status_code=link.status, media_type=link.mimetype, headers=headers
    )


def _closed_after(link: LinkContent):
    try:
        yield from link.chunks
    finally:
        link.close()


@router.get("/datasets/{dataset}/items/{item_id}/thumbnail")
def thumbnail(
    dataset: str,
    item_id: int,
    request: Request,
    catalog: CatalogDep,
    _: Reader,
    v: str | None = None,
):
    """The item's thumbnail with an ``ETag`` (its version). Asked for with ``?v=`` the
    current version, it is cached for a year: a new content makes a new version, so the
    address of a stale one is never asked again."""
    found = item_thumbnail(catalog, dataset, item_id)
    etag = f'"{found.version}"'
    cache = VERSIONED_CACHE if v == found.version else UNVERSIONED_CACHE
    headers = {"ETag": etag, "Cache-Control": cache, "X-Content-Type-Options": "nosniff"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(found.data, media_type=found.mimetype, headers=headers)
