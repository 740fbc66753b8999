"""Linked items in the catalog: an item whose file is a link JSON (``kind='link'``).

The item keeps the link's URL in ``source_url`` (the real one, to fetch it: it may be
pre-signed) and the link's target mimetype (what the item *is*, not ``application/json``).
Whatever shows the URL passes it through ``tributary.ingest.redact.redact_url``.
"""

from __future__ import annotations

from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tributary.catalog.schema import items


class Link(Protocol):
    """What the catalog keeps of a link (``tributary.ingest.links.Link`` is one)."""

    url: str
    mimetype: str


def mark_link(conn: Connection, item_id: int, link: Link) -> None:
    """The item is the link ``link``: kind, URL and mimetype recorded."""
    conn.execute(
        items.update()
        .where(items.c.id == item_id)
        .values(kind="link", source_url=link.url, mimetype=link.mimetype)
    )


def mark_file(conn: Connection, item_id: int) -> None:
    """The item is a plain file again (its JSON was replaced by one that is no link)."""
    conn.execute(
        items.update()
        .where((items.c.id == item_id) & (items.c.kind == "link"))
        .values(kind="file", source_url=None)
    )


def settle_kind(conn: Connection, row: dict, link: Link | None) -> dict:
    """After a file was written at an item: a link file makes it a linked item, anything
    else a file (a link replaced by plain JSON stops being a link); the row as it is now."""
    if link is not None:
        mark_link(conn, row["id"], link)
    elif row["kind"] == "link":
        mark_file(conn, row["id"])
    else:
        return row
    return dict(conn.execute(sa.select(items).where(items.c.id == row["id"])).mappings().one())


def link_candidates(
    conn: Connection, dataset_id: int, min_id: int, max_id: int, *, max_bytes: int
) -> list[dict]:
    """Active ``.json`` items in an id range, of at most ``max_bytes`` (what a link file
    may be), not yet links."""
    rows = conn.execute(
        sa.select(items.c.id, items.c.storage_key, items.c.size)
        .where(
            (items.c.dataset_id == dataset_id)
            & items.c.id.between(min_id, max_id)
            & (items.c.state == "active")
            & (items.c.kind == "file")
            & (items.c.size <= max_bytes)
            & sa.func.lower(items.c.path).like("%.json")
        )
        .order_by(items.c.id)
    ).mappings()
    return [dict(row) for row in rows]


def link_urls(conn: Connection, item_ids: list[int]) -> dict[int, dict]:
    """The linked items among ``item_ids``: ``{id: {"url", "mimetype"}}`` (files absent)."""
    if not item_ids:
        return {}
    found: dict[int, dict] = {}
    for start in range(0, len(item_ids), 500):  # bound the IN list
        rows = conn.execute(
            sa.select(items.c.id, items.c.source_url, items.c.mimetype).where(
                items.c.id.in_(item_ids[start : start + 500])
                & (items.c.kind == "link")
                & items.c.source_url.is_not(None)
            )
        )
        found.update({i: {"url": url, "mimetype": mimetype} for i, url, mimetype in rows})
    return found
