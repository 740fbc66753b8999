"""Linked items: a small JSON file in the dataset pointing at a URL (the binary stays there).

``create_link`` writes the link file (``ingest.links.make_link``) at ``<to>/<name>.json``
through ``usecases.uploads.upload`` — so a dataset on a driver gets it in its bucket
through the outbox, like any upload — and marks the item ``kind='link'`` with its URL.
``recognise_links`` does the same for link files already in the storage (an upload of a
link JSON, an upstream sync of a bucket holding them).

The URL may be pre-signed: the catalog keeps it (``items.source_url``) to fetch it, and
everything that shows it — ``link_record``, logs, errors — shows ``redact_url(url)``.
"""

from __future__ import annotations

import hashlib
import io
import logging
import posixpath
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

import sqlalchemy as sa

from tributary.catalog import Catalog, link_items
from tributary.catalog import datasets as dataset_queries
from tributary.catalog.schema import items
from tributary.errors import InvalidInput
from tributary.ingest.links import make_link, parse_link
from tributary.ingest.redact import redact_url
from tributary.sync import link_files
from tributary.usecases.items import item_record
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
