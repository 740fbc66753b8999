"""Reconcile a sync's staged listing with the dataset's items: set-based SQL only.

``plan`` writes one ``sync_changes`` row per key that differs (unchanged keys cost one
index probe and no write); ``apply`` turns the plan into item updates. Both run inside
the caller's transaction, so a sync either applies its whole plan or none of it.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tributary.catalog import items as item_queries
from tributary.catalog.schema import item_purges, items, staging_listing, sync_changes

KINDS = ("new", "changed", "revived", "renamed", "vanished")
SAMPLE_SIZE = 5

changes = sync_changes.c
staged = staging_listing.c


def _in_scope(dataset_id: int, scope: str | None):
    condition = items.c.dataset_id == dataset_id
    if scope:
        condition &= sa.func.substr(items.c.storage_key, 1, len(scope)) == scope
    return condition


def plan(
    conn: Connection, *, dataset_id: int, sync_id: int, scope: str | None, complete: bool
) -> dict:
    """Compute the changes between the staged listing and the items in ``scope``.

    With an incomplete listing nothing is planned as vanished (never delete on doubt) and
    new keys that could be the far end of a rename are held back for the next sync.
    Returns counts per kind plus what the report needs.
    """
    conn.execute(sync_changes.delete().where(changes.sync_id == sync_id))
    _refresh_statistics(conn, "staging_listing")  # just bulk-loaded: the planner needs counts
    _plan_listed(conn, dataset_id, sync_id)
    _plan_vanished(conn, dataset_id, sync_id, scope)
    _refresh_statistics(conn, "sync_changes")
    held_back = 0
    if complete:
        _pair_renames(conn, sync_id)
    else:
        held_back = _hold_back_possible_renames(conn, sync_id)
        conn.execute(
            sync_changes.delete().where((changes.sync_id == sync_id) & (changes.kind == "vanished"))
        )
    return {
        "counts": counts(conn, sync_id),
        "ambiguous_renames": _ambiguous(conn, sync_id) if complete else {"keys": 0, "sample": []},
        "held_back": held_back,
        "samples": samples(conn, sync_id),
    }


def _refresh_statistics(conn: Connection, table: str) -> None:
    """PostgreSQL plans joins from table statistics, and a table filled a moment ago has
    none yet (autovacuum has not run): planned blind, it chose nested loops that made a
    million-item reconcile several times slower. SQLite plans from its indexes alone."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"ANALYZE {table}")


def _old_local_etag_of_listed():
    """The item's etag is the local one from before inodes (``<size>-<mtime ns>``) and the
    listed one is the same plus ``-<inode>``: the same file, not a change.

    Without this, the first sync after the etag grew its inode part would mark every local
    item changed and preprocess it again. Two dashes in neither the stored etag nor the part
    after it, so no provider's own etag (S3 multipart ``<md5>-<parts>``) is ever taken for
    an upgrade. (Etags are compared with substr, never used as a LIKE pattern.)
    """
    stored = items.c.etag
    length = sa.func.length(stored)
    rest = sa.func.substr(staged.etag, length + 2, type_=sa.String)
    return (
        (sa.func.substr(staged.etag, 1, length + 1, type_=sa.String) == stored + "-")
        & (sa.func.length(staged.etag) > length + 1)
        & stored.like("%-%")
        & ~stored.like("%-%-%")
        & ~rest.like("%-%")
    )


def content_differs() -> sa.ColumnElement[bool]:
    """The staged object's content differs from its item's (size, or etag not upgraded)."""
    return (items.c.size != staged.size) | (
        (sa.func.coalesce(items.c.etag, "") != sa.func.coalesce(staged.etag, ""))
        & ~sa.func.coalesce(_old_local_etag_of_listed(), sa.false())
    )


def _plan_listed(conn: Connection, dataset_id: int, sync_id: int) -> None:
    """New, changed and revived keys: one pass over staging with a join to the items."""
    joined = staging_listing.outerjoin(
        items, (items.c.dataset_id == dataset_id) & (items.c.storage_key == staged.storage_key)
    )
    differs = content_differs()
    # A ghost that is listed again is revived; so is an item deleted on the platform whose
    # file came back with other content (the same content stays deleted: DESIGN.md).
    kind = sa.case(
        (items.c.id.is_(None), "new"),
        (items.c.state.in_(("ghost", "deleted")), "revived"),
        else_="changed",
    )
    source = (
        sa.select(
            sa.literal(sync_id), staged.storage_key, kind, items.c.id, staged.size, staged.etag
        )
        .select_from(joined)
        .where(
            (staged.sync_id == sync_id)
            & (items.c.id.is_(None) | (items.c.state == "ghost") | differs)
            # An upload still on its way to this key is Tributary's own write, not a change.
            & ~_waiting_for_put()
        )
    )
    conn.execute(
        sync_changes.insert().from_select(
            ["sync_id", "storage_key", "kind", "item_id", "size", "etag"], source
        )
    )


def plan_events(
    conn: Connection, *, dataset_id: int, sync_id: int, deleted_keys: list[str]
) -> dict[str, int]:
    """Plan a batch of bucket events: the created objects are staged like a listing, the
    deleted keys are vanished (a copy + delete in one batch pairs up as a rename)."""
    conn.execute(sync_changes.delete().where(changes.sync_id == sync_id))
    _plan_listed(conn, dataset_id, sync_id)
    for start in range(0, len(deleted_keys), 500):
        chunk = deleted_keys[start : start + 500]
        _insert_vanished(
            conn,
            sync_id,
            (items.c.dataset_id == dataset_id)
            & (items.c.state == "active")
            & ~_waiting_for_put()
            & items.c.storage_key.in_(chunk),
        )
    _pair_renames(conn, sync_id)
    return counts(conn, sync_id)


def _waiting_for_put() -> sa.ColumnElement[bool]:
    """The item is an upload the outbox has not written to the bucket yet."""
    return sa.func.coalesce(items.c.downstream, "") == "put"


def _plan_vanished(conn: Connection, dataset_id: int, sync_id: int, scope: str | None) -> None:
    """Active items in scope whose key was not listed (an upload not yet written is not
    missing: it is on its way)."""
    listed = sa.exists().where(
        (staged.sync_id == sync_id) & (staged.storage_key == items.c.storage_key)
    )
    _insert_vanished(
        conn,
        sync_id,
        _in_scope(dataset_id, scope) & (items.c.state == "active") & ~_waiting_for_put() & ~listed,
    )


def _insert_vanished(conn: Connection, sync_id: int, which) -> None:
    source = sa.select(
        sa.literal(sync_id),
        items.c.storage_key,
        sa.literal("vanished"),
        items.c.id,
        items.c.size,
        items.c.etag,
    ).where(which)
    conn.execute(
        sync_changes.insert().from_select(
            ["sync_id", "storage_key", "kind", "item_id", "size", "etag"], source
        )
    )


def _content_of(sync_id: int, *kinds: str):
    """(size, etag) of this sync's plan rows of ``kinds`` (rows without an etag never match)."""
    return sa.select(changes.size, changes.etag).where(
        (changes.sync_id == sync_id) & changes.kind.in_(kinds) & changes.etag.is_not(None)
    )


def _same_content_as(rows) -> sa.ColumnElement[bool]:
    return sa.tuple_(changes.size, changes.etag).in_(rows)


def _pair_renames(conn: Connection, sync_id: int) -> None:
    """A vanished key and a new key with the same size and etag, one-to-one: a rename.

    The new key's row becomes ``renamed`` and points at the vanished item (the only one
    of its group), whose own row goes: the item is moved, not ghosted. Groups with several
    candidates on either side are ambiguous and stay new + vanished. Every step is a set
    operation (row-value IN over grouped subqueries, one UPDATE … FROM).
    """
    mine = changes.sync_id == sync_id
    if not conn.execute(
        sa.select(sa.func.count()).where(mine & (changes.kind == "vanished"))
    ).scalar_one():
        return
    one_to_one = (
        _content_of(sync_id, "new", "vanished")
        .group_by(changes.size, changes.etag)
        .having(sa.func.sum(sa.case((changes.kind == "new", 1), else_=0)) == 1)
        .having(sa.func.sum(sa.case((changes.kind == "vanished", 1), else_=0)) == 1)
    )
    conn.execute(
        sync_changes.update()
        .where(mine & (changes.kind == "new") & _same_content_as(one_to_one))
        .values(kind="renamed")
    )
    _refresh_statistics(conn, "sync_changes")  # "renamed" rows are new to the planner
    source = sync_changes.alias("source")
    conn.execute(
        sync_changes.update()
        .where(mine & (changes.kind == "renamed"))
        .where(
            (source.c.sync_id == sync_id)
            & (source.c.kind == "vanished")
            & (source.c.size == changes.size)
            & (source.c.etag == changes.etag)
        )
        .values(item_id=source.c.item_id, old_key=source.c.storage_key)
    )
    conn.execute(
        sync_changes.delete()
        .where(mine & (changes.kind == "vanished"))
        .where(_same_content_as(_content_of(sync_id, "renamed")))
    )


def _hold_back_possible_renames(conn: Connection, sync_id: int) -> int:
    """Drop new keys whose content matches a vanished candidate: a later complete sync
    decides whether they are renames (which keep the item) or new items."""
    result = conn.execute(
        sync_changes.delete()
        .where((changes.sync_id == sync_id) & (changes.kind == "new"))
        .where(_same_content_as(_content_of(sync_id, "vanished")))
    )
    return result.rowcount


def _ambiguous(conn: Connection, sync_id: int) -> dict:
    """New keys that share size and etag with a vanished item but not one-to-one."""
    query = (
        sa.select(changes.storage_key)
        .where((changes.sync_id == sync_id) & (changes.kind == "new"))
        .where(_same_content_as(_content_of(sync_id, "vanished")))
        .order_by(changes.storage_key)
    )
    keys = conn.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
    sample = list(conn.execute(query.limit(SAMPLE_SIZE)).scalars()) if keys else []
    return {"keys": keys, "sample": sample}


def counts(conn: Connection, sync_id: int) -> dict[str, int]:
    """Planned changes per kind."""
    rows = conn.execute(
        sa.select(changes.kind, sa.func.count())
        .where(changes.sync_id == sync_id)
        .group_by(changes.kind)
    )
    found = dict(rows.all())
    return {kind: found.get(kind, 0) for kind in KINDS}


def samples(conn: Connection, sync_id: int) -> dict[str, list[str]]:
    """A few item paths of each kind, for the report (a rename shows ``old -> new``).

    Paths, not storage keys: every listing shows ``/a/b.jpg`` (the key without the
    driver's folder, with a leading ``/``), so a report must too. A listed key's path is
    in staging, a vanished one's (and a rename's old one) on its item, not yet moved.
    """
    source = sync_changes.outerjoin(
        staging_listing,
        (staged.sync_id == changes.sync_id) & (staged.storage_key == changes.storage_key),
    ).outerjoin(items, items.c.id == changes.item_id)
    result = {}
    for kind in KINDS:
        rows = conn.execute(
            sa.select(sa.func.coalesce(staged.path, items.c.path), items.c.path)
            .select_from(source)
            .where((changes.sync_id == sync_id) & (changes.kind == kind))
            .order_by(changes.storage_key)
            .limit(SAMPLE_SIZE)
        ).all()
        result[kind] = [f"{old} -> {path}" if kind == "renamed" else path for path, old in rows]
    return result


def _from_staging(kind: str, sync_id: int):
    """Join condition: the plan rows of ``kind`` and their staged listing rows."""
    return (
        (changes.sync_id == sync_id)
        & (changes.kind == kind)
        & (staged.sync_id == sync_id)
        & (staged.storage_key == changes.storage_key)
        & (items.c.id == changes.item_id)
    )


def apply(
    conn: Connection,
    *,
    dataset_id: int,
    sync_id: int,
    last_seen_sync_id: int | None,
    now: dt.datetime,
) -> dict[str, int]:
    """Carry out the plan: move renamed items, refresh changed ones, revive returning
    ghosts, insert new items and tombstone vanished ones. Returns the applied counts."""
    listed_values = {
        "size": staged.size,
        "etag": staged.etag,
        "mtime": staged.mtime,
        "mimetype": staged.mimetype,
        "updated_at": now,
    }
    content_changed = content_differs()
    applied = counts(conn, sync_id)
    _upgrade_local_etags(conn, dataset_id, sync_id)
    conn.execute(
        items.update()
        .where(_from_staging("renamed", sync_id))
        .values(
            storage_key=staged.storage_key,
            path=staged.path,
            state="active",
            vanished_at=None,
            **listed_values,
        )
    )
    conn.execute(
        items.update()
        .where(_from_staging("changed", sync_id))
        .values(preprocess_state="pending", **listed_values)
    )
    conn.execute(
        items.update()
        .where(_from_staging("revived", sync_id))
        .values(
            state="active",
            vanished_at=None,
            deleted_at=None,
            preprocess_state=sa.case((content_changed, "pending"), else_=items.c.preprocess_state),
            **listed_values,
        )
    )
    _insert_new(conn, dataset_id, sync_id, now)
    vanished = sa.select(changes.item_id).where(
        (changes.sync_id == sync_id) & (changes.kind == "vanished")
    )
    conn.execute(
        items.update()
        .where(items.c.id.in_(vanished))
        .values(
            state="ghost",
            vanished_at=now,
            updated_at=now,
            last_seen_sync_id=sa.func.coalesce(
                sa.literal(last_seen_sync_id, sa.Integer), items.c.last_seen_sync_id
            ),
        )
    )
    return applied


def _upgrade_local_etags(conn: Connection, dataset_id: int, sync_id: int) -> None:
    """Store the listed etag of active items whose old local etag it only extends: they
    are unchanged (not in the plan), and the next sync compares like with like."""
    conn.execute(
        items.update()
        .where(
            (items.c.dataset_id == dataset_id)
            & (items.c.state == "active")
            & (staged.sync_id == sync_id)
            & (staged.storage_key == items.c.storage_key)
            & (items.c.size == staged.size)
            & _old_local_etag_of_listed()
        )
        .values(etag=staged.etag)
    )


def _insert_new(conn: Connection, dataset_id: int, sync_id: int, now: dt.datetime) -> None:
    planned_new = sa.exists().where(
        (changes.sync_id == sync_id)
        & (changes.kind == "new")
        & (changes.storage_key == staged.storage_key)
    )
    item_queries.insert_staged(
        conn, dataset_id=dataset_id, sync_id=sync_id, which=planned_new, now=now
    )


PURGE_RECORD = [
    "sync_id", "dataset_id", "item_id", "path", "storage_key", "vanished_at", "purged_at",
    "thumbnail_key",
]  # fmt: skip


def purge_tombstones(
    conn: Connection, *, dataset_id: int, sync_id: int, older_than: dt.datetime, now: dt.datetime
) -> int:
    """Delete tombstones that vanished before ``older_than``, recording each purge."""
    expired = (
        (items.c.dataset_id == dataset_id)
        & (items.c.state == "ghost")
        & (items.c.vanished_at < older_than)
    )
    conn.execute(
        item_purges.insert().from_select(
            PURGE_RECORD,
            sa.select(
                sa.literal(sync_id),
                items.c.dataset_id,
                items.c.id,
                items.c.path,
                items.c.storage_key,
                items.c.vanished_at,
                sa.literal(now, item_purges.c.purged_at.type),
                items.c.thumbnail_key,
            ).where(expired),
        )
    )
    return conn.execute(items.delete().where(expired)).rowcount


def purged_thumbnails(conn: Connection, sync_id: int, *, after_id: int, limit: int) -> list[dict]:
    """A page of the thumbnails of the items a sync purged: ``[{id, thumbnail_key}]`` in
    id order, from ``after_id`` on."""
    query = (
        sa.select(item_purges.c.id, item_purges.c.thumbnail_key)
        .where(
            (item_purges.c.sync_id == sync_id)
            & (item_purges.c.id > after_id)
            & item_purges.c.thumbnail_key.is_not(None)
        )
        .order_by(item_purges.c.id)
        .limit(limit)
    )
    return [dict(row) for row in conn.execute(query).mappings()]
