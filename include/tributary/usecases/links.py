"""Linked items: a small JSON file in the dataset pointing at a URL (the binary stays there).

``create_link`` writes the link file (``ingest.links.make_link``) at ``<to>/<name>.json``
through ``usecases.uploads.upload`` — so a dataset on a driver gets it in its bucket
through the outbox, like any upload — and marks the item ``kind='link'`` with its URL.
``recognise_links`` does the same for link files already in the storage (an upload of a
link JSON, an upstream sync of a bucket holding them). ``open_link_content`` streams what
a linked item points at, through the safe fetcher, for the API to serve.

The URL may be pre-signed: the catalog keeps it (``items.source_url``) to fetch it, and
everything that shows it — ``link_record``, logs, errors — shows ``redact_url(url)``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import posixpath
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import sqlalchemy as sa

from tributary.catalog import Catalog, link_items
from tributary.catalog import datasets as dataset_queries
from tributary.catalog.schema import items
from tributary.errors import InvalidInput, NotFound
from tributary.ingest.errors import HTTPStatus
from tributary.ingest.fetch import Fetcher, RemoteBody
from tributary.ingest.links import make_link, parse_link
from tributary.ingest.redact import redact_url
from tributary.sync import link_files
from tributary.usecases.items import dataset_and_row, item_record
from tributary.usecases.uploads import check_upload_path, upload

log = logging.getLogger(__name__)

LINK_SUFFIX = ".json"


def link_record(row: Mapping) -> dict:
    """``item_record`` of the row: for a linked item ``kind: link`` and ``url``, redacted."""
    return item_record(row)


def link_file_name(name: str) -> str:
    """The file name of the link to an item called ``name``: ``cat.jpg`` → ``cat.jpg.json``."""
    return name if name.lower().endswith(LINK_SUFFIX) else name + LINK_SUFFIX


def name_of_url(url: str) -> str:
    """The last path segment of ``url`` (``https://h/a/cat.jpg?sig=…`` → ``cat.jpg``)."""
    try:
        segment = posixpath.basename(unquote(urlsplit(url).path))
    except ValueError:
        segment = ""
    return segment.strip() or "link"


def create_link(
    catalog: Catalog,
    dataset: str,
    url: str,
    *,
    name: str | None = None,
    to: str = "/",
    mimetype: str | None = None,
    metadata: Mapping | None = None,
    description: str | None = None,
    overwrite: bool = False,
) -> dict:
    """A linked item in ``dataset`` pointing at ``url``: the link file at
    ``<to>/<name>.json`` (``name``: the URL's file name by default).

    Returns ``{"status": "created" | "skipped" | "replaced", "item": link_record}``. Raises
    ``InvalidLink`` (a URL we would not fetch, a bad mimetype), ``InvalidInput`` (name or
    folder), ``Conflict`` (a link to another URL at that path, without ``overwrite``),
    ``QuotaExceeded``. Reads nothing from the URL: a link is created even while its server
    is down (preprocessing reads it later).
    """
    name = name or name_of_url(url)
    if "/" in name:
        raise InvalidInput(f"a link's name is one file name, not a path: {name!r} (use --to)")
    path = check_upload_path(link_file_name(name), to)
    data = make_link(url, mimetype or "", name)
    result = upload(
        catalog,
        dataset,
        path,
        io.BytesIO(data),
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        content_type="application/json",
        metadata=metadata,
        overwrite=overwrite,
    )
    link = parse_link(data)
    with catalog.begin() as conn:
        item_id = result["item"]["id"]
        link_items.mark_link(conn, item_id, link)
        if description is not None:
            conn.execute(
                items.update().where(items.c.id == item_id).values(description=description)
            )
        row = conn.execute(sa.select(items).where(items.c.id == item_id)).mappings().one()
    log.info("Link %s → %s in dataset %s (%s)", path, redact_url(url), dataset, result["status"])
    return {"status": result["status"], "item": link_record(row)}


def recognise_links(catalog: Catalog, dataset: str, min_id: int, max_id: int) -> int:
    """Mark the dataset's ``.json`` items with ids in ``[min_id, max_id]`` that are link
    files as linked items (each file's first 64 KiB read); returns how many. A JSON file
    that is not a link stays a file; a broken link file too, with a warning."""
    with catalog.begin() as conn:
        found = dataset_queries.get(conn, dataset)
    return link_files.recognise(catalog, found, min_id, max_id)


# -- streaming a linked item ---------------------------------------------------------------


@dataclass
class LinkContent:
    """What a linked item's URL serves, ready to stream: iterate ``chunks`` once, and
    ``close()`` when done or abandoned (it holds the connection until then).

    ``status`` is 200 (the whole body) or 206 (the range asked, ``start``..``end``
    inclusive, of ``size`` bytes); ``length`` the bytes ``chunks`` yields (None when the
    server does not say). ``mimetype`` is the item's (what the link names), not the
    server's ``content_type``: a server answering ``text/html`` must not turn a linked
    image into a page of our origin. ``headers()`` gives the HTTP headers to send.
    """

    status: int
    mimetype: str
    size: int | None
    length: int | None
    start: int | None
    end: int | None
    name: str
    content_type: str | None
    etag: str | None
    chunks: Iterator[bytes]
    _closing: contextlib.ExitStack

    def close(self) -> None:
        """Close the connection to the URL's server (safe to call twice)."""
        self._closing.close()

    def __enter__(self) -> LinkContent:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def headers(self) -> dict[str, str]:
        """Content-Type, Content-Length, Content-Range (206) and Accept-Ranges."""
        found = {"Content-Type": self.mimetype, "Accept-Ranges": "bytes"}
        if self.length is not None:
            found["Content-Length"] = str(self.length)
        if self.status == 206:
            found["Content-Range"] = f"bytes {self.start}-{self.end}/{self.size or '*'}"
        if self.etag:
            found["ETag"] = self.etag
        return found


_fetcher: Fetcher | None = None
_fetcher_lock = threading.Lock()


def shared_fetcher() -> Fetcher:
    """The process's fetcher for streaming (pooled connections, shared by threads)."""
    global _fetcher
    with _fetcher_lock:
        if _fetcher is None:
            _fetcher = Fetcher()
        return _fetcher


def open_link_content(
    catalog: Catalog,
    dataset: str,
    item_id: int,
    start: int | None = None,
    end: int | None = None,
    *,
    fetcher: Fetcher | None = None,
) -> LinkContent:
    """Open what linked item ``item_id`` of ``dataset`` points at, through the safe fetcher
    (``shared_fetcher()`` unless given); ``start``/``end`` (inclusive, ``end`` None: to the
    last byte) ask for a range, passed on as ``Range``. A server that ignores ``Range`` is
    read from its first byte and the range cut out here, so the answer is a 206 either way.

    Raises ``NotFound`` (no such item, or not active), ``InvalidInput`` (a file item, or a
    bad range), ``HTTPStatus`` (the server's error; 416 for a range past the end) and the
    other ``FetchError``s — one line each, the URL redacted.
    """
    if (start is not None and start < 0) or (end is not None and end < (start or 0)):
        raise InvalidInput(f"bad byte range {start}-{end}")
    row = _linked_item(catalog, dataset, item_id)
    ranged = start is not None or end is not None
    closing = contextlib.ExitStack()
    try:
        body: RemoteBody = closing.enter_context(
            (fetcher or shared_fetcher()).stream(row["source_url"], start=start, end=end)
        )
        content = _content(row, body, closing, ranged, start or 0, end)
    except BaseException:
        closing.close()
        raise
    log.debug("Streaming item %d from %s", item_id, redact_url(row["source_url"]))
    return content


def _linked_item(catalog: Catalog, dataset: str, item_id: int) -> dict:
    row = dataset_and_row(catalog, dataset, item_id)[1]
    if row["state"] != "active":
        raise NotFound(f"no item {item_id} in dataset {dataset!r}")
    if row["kind"] != "link" or not row["source_url"]:
        raise InvalidInput(f"item {item_id} of dataset {dataset!r} is a file, not a link")
    return dict(row)


def _content(
    row: dict, body: RemoteBody, closing, ranged: bool, start: int, end: int | None
) -> LinkContent:
    info = body.info
    name = row["path"].rpartition("/")[2]
    name = name[: -len(LINK_SUFFIX)] if name.lower().endswith(LINK_SUFFIX) else name
    fields = {
        "mimetype": row["mimetype"] or "application/octet-stream",
        "name": name,
        "content_type": info.content_type,
        "etag": info.etag,
        "_closing": closing,
    }
    if body.content_range is not None:  # the server cut the range
        first, last = body.content_range
        return LinkContent(
            206,
            size=info.size,
            length=last - first + 1,
            start=first,
            end=last,
            chunks=_closed_after(iter(body), closing),
            **fields,
        )
    if not ranged:
        return LinkContent(
            200,
            size=info.size,
            length=info.size,
            start=None,
            end=None,
            chunks=_closed_after(iter(body), closing),
            **fields,
        )
    # The server ignored Range and sends the whole body: cut the range out of it.
    if info.size is not None:
        if start >= info.size:
            raise HTTPStatus(f"range {start}- is past the end ({info.size:,} bytes)", 416)
        end = info.size - 1 if end is None else min(end, info.size - 1)
    length = None if end is None else end - start + 1
    return LinkContent(
        206,
        size=info.size,
        length=length,
        start=start,
        end=end,
        chunks=_closed_after(_span(body, start, length), closing),
        **fields,
    )


def _span(body: RemoteBody, skip: int, length: int | None) -> Iterator[bytes]:
    """The chunks of ``body`` after its first ``skip`` bytes, at most ``length`` of them."""
    for chunk in body:
        if skip >= len(chunk):
            skip -= len(chunk)
            continue
        chunk, skip = chunk[skip:], 0
        if length is not None:
            chunk, length = chunk[:length], length - min(length, len(chunk))
        if chunk:
            yield chunk
        if length == 0:
            return


def _closed_after(chunks: Iterator[bytes], closing: contextlib.ExitStack) -> Iterator[bytes]:
    try:
        yield from chunks
    finally:
        closing.close()
