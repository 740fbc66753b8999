"""What the browser's pages show, read from the catalog: datasets with their counts and
running syncs, one level of a dataset's folder tree, a keyset page of item cards, an item
with what may be done to it, drivers and sync runs.

Everything here is plain data for the templates (which escape every value): no HTML.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import asdict, dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tributary.catalog import Catalog, item_pages
from tributary.catalog import datasets as dataset_queries
from tributary.catalog import syncs as sync_queries
from tributary.catalog.schema import items, quotas
from tributary.config import HIDDEN_FOLDER
from tributary.errors import InvalidInput
from tributary.usecases import drivers as driver_usecase
from tributary.usecases import items as item_usecase
from tributary.usecases import syncs as sync_usecase
from tributary.usecases.content import thumbnail_version
from tributary.usecases.edits import MOVE_RULE, bucket_file_fate
from tributary.usecases.items import dataset_and_row
from tributary.usecases.links import link_record

PAGE_SIZE = 60
MAX_FOLDERS = 200
COUNT_NAMES = ("new", "changed", "renamed", "ghosted", "revived", "purged")


def quoted(text: str) -> str:
    """A path segment for a URL (a dataset name may hold anything a URL would misread)."""
    return urllib.parse.quote(text, safe="")


# -- datasets ----------------------------------------------------------------------------


def counts(conn: Connection, dataset_id: int) -> dict:
    """Items per state, active items per preprocessing state, and the quota, in one
    grouped pass over the dataset's rows (the usecase's report reads them four times)."""
    query = (
        sa.select(items.c.state, items.c.preprocess_state, sa.func.count())
        .where(items.c.dataset_id == dataset_id)
        .group_by(items.c.state, items.c.preprocess_state)
    )
    states = dict.fromkeys(("active", "ghost", "deleted"), 0)
    preprocessing = dict.fromkeys(("pending", "done", "failed"), 0)
    for state, preprocess_state, count in conn.execute(query):
        states[state] = states.get(state, 0) + count
        if state == "active":
            preprocessing[preprocess_state] = preprocessing.get(preprocess_state, 0) + count
    limit = conn.execute(
        sa.select(quotas.c.max_data_points).where(
            quotas.c.scope == dataset_queries.quota_scope(dataset_id)
        )
    ).scalar()
    used = sum(count for state, count in states.items() if state != "deleted")
    quota = dataset_queries.QuotaUsage(dataset_queries.quota_scope(dataset_id), limit, used)
    return {"items": states, "preprocessing": preprocessing, "quota": quota.as_dict()}


def dataset_header(catalog: Catalog, name: str) -> dict:
    """What every page of a dataset shows at its top, without counting its items (a
    count reads every row of a 10M-item dataset: the counts come in their own request,
    ``dataset_summary``): storage, what it allows, and its last sync."""
    with catalog.begin() as conn:
        found = dataset_queries.get(conn, name)
        last = sync_queries.history(conn, name, limit=1)
    run = sync_usecase.SyncRunSummary.from_record(last[0]) if last else None
    return {
        "name": found.name,
        "driver": found.driver.name if found.driver else None,
        "storage": dataset_queries.storage_of(found.driver),
        "bucket_file": bucket_file_fate(found),
        "movable": found.driver is None,
        "syncable": found.driver is not None and found.origin is None,
        "last_run": asdict(run) if run else None,
        "running": bool(run and run.status == "running"),
    }


def dataset_summary(catalog: Catalog, name: str) -> dict:
    """One dataset with its counts: items per state, preprocessing states, quota."""
    header = dataset_header(catalog, name)
    with catalog.begin() as conn:
        return {**header, **counts(conn, dataset_queries.get(conn, name).id)}


def dataset_headers(catalog: Catalog) -> list[dict]:
    """Every dataset's header, by name (their counts come one request per dataset)."""
    with catalog.begin() as conn:
        names = sorted(found.name for found in dataset_queries.all_datasets(conn))
    return [dataset_header(catalog, name) for name in names]


# -- the folder tree ---------------------------------------------------------------------


def normal_folder(prefix: str | None) -> str:
    """``a/b`` → ``/a/b/``; empty → ``/``."""
    cleaned = (prefix or "").strip("/")
    return f"/{cleaned}/" if cleaned else "/"


def child_folders(
    conn: Connection, dataset_id: int, folder: str, *, state: str = "active"
) -> tuple[list[str], bool]:
    """The sub-folders of ``folder`` (``/a/``) that hold at least one item in ``state``,
    by name, and whether there were more than ``MAX_FOLDERS``. The hidden folder is
    never shown (no item lives there anyway).

    A loose index scan on ``ix_items_dataset_path``, in one statement: a recursive query
    whose every step seeks to the first path after the last folder found (``<folder><name>0``,
    '0' being the character after '/'), so its cost is one index seek per folder, whatever
    the number of items (files directly in ``folder`` are read past in the index only),
    then one seek per folder for an item in ``state``. That
    jump needs text compared by code point (SQLite; PostgreSQL with a C collation); under
    a linguistic collation the folder's rows are read instead (correct, slower)."""
    if not item_pages._compares_by_code_point(conn):
        return _child_folders_by_reading(conn, dataset_id, folder, state=state)
    postgres = conn.dialect.name == "postgresql"
    find = "strpos" if postgres else "instr"
    rest = "substr(path, :start)"
    name = f"substr(path, :start, {find}({rest}, '/') - 1)"

    def first_after(bound: str) -> str:
        # Only columns of the index: the files read past are never fetched from the table.
        return (
            f"SELECT {name} AS name FROM items WHERE dataset_id = :dataset AND {bound} "
            f"AND path < :upper AND {find}({rest}, '/') > 0 ORDER BY path LIMIT 1"
        )

    if postgres:  # the recursive reference may not be inside a subquery: a lateral join
        step = (
            f"SELECT t.n + 1, nxt.name FROM tree t CROSS JOIN LATERAL "
            f"({first_after('path >= :folder || t.name || :after')}) nxt WHERE t.n < :most"
        )
        first = f"SELECT 0, f.name FROM ({first_after('path > :folder')}) f"
    else:
        step = (
            f"SELECT n + 1, ({first_after('path >= :folder || tree.name || :after')}) "
            "FROM tree WHERE tree.name IS NOT NULL AND n < :most"
        )
        first = f"SELECT 0, ({first_after('path > :folder')})"
    # Then, per folder found, one seek for an item in the state (most often its first).
    in_state = "TRUE"
    if state != "all":
        in_state = (
            "EXISTS (SELECT 1 FROM items WHERE dataset_id = :dataset "
            "AND path > :folder || tree.name || '/' AND path < :folder || tree.name || :after "
            "AND state = :state)"
        )
    query = sa.text(
        f"WITH RECURSIVE tree(n, name) AS ({first} UNION ALL {step}) "
        f"SELECT name, {in_state} FROM tree WHERE name IS NOT NULL ORDER BY n"
    )
    names = conn.execute(
        query,
        {
            "dataset": dataset_id,
            "folder": folder,
            "upper": item_pages.next_prefix(folder),
            "start": len(folder) + 1,
            "state": state,
            "after": chr(ord("/") + 1),
            "most": MAX_FOLDERS,
        },
    ).all()
    more = len(names) > MAX_FOLDERS
    found = [name for name, holds in names[:MAX_FOLDERS] if holds and name != HIDDEN_FOLDER]
    # Shown by name ("a" before "a-b"), which path order ("/a-b/" < "/a/") is not.
    return sorted(found), more


def _child_folders_by_reading(
    conn: Connection, dataset_id: int, folder: str, *, state: str
) -> tuple[list[str], bool]:
    depth = len(folder)
    rest = sa.func.substr(items.c.path, depth + 1)
    name = sa.func.split_part(rest, "/", 1)
    where = [
        items.c.dataset_id == dataset_id,
        sa.func.substr(items.c.path, 1, depth) == folder,
        sa.func.strpos(rest, "/") > 0,
    ]
    if state != "all":
        where.append(items.c.state == state)
    names = sa.select(name.label("name")).where(*where).distinct().subquery()
    query = sa.select(names.c.name).order_by(names.c.name.collate("C")).limit(MAX_FOLDERS + 2)
    found = [n for n in conn.execute(query).scalars() if n != HIDDEN_FOLDER]
    return found[:MAX_FOLDERS], len(found) > MAX_FOLDERS


def breadcrumbs(folder: str) -> list[tuple[str, str]]:
    """``/a/b/`` → ``[("/", "/"), ("a", "/a/"), ("b", "/a/b/")]``."""
    crumbs = [("/", "/")]
    path = "/"
    for part in folder.strip("/").split("/") if folder != "/" else []:
        path = f"{path}{part}/"
        crumbs.append((part, path))
    return crumbs


# -- item cards --------------------------------------------------------------------------


@dataclass
class Filters:
    """The browser's filters, as the query string gives them."""

    folder: str = "/"
    state: str = "active"
    mimetype: str = ""
    name: str = ""
    meta: list[str] = field(default_factory=list)
    preprocess_state: str = ""

    def query(self, **changes) -> str:
        """The query string of these filters (with ``changes``), for links."""
        values = {
            "folder": self.folder,
            "state": self.state,
            "mimetype": self.mimetype,
            "name": self.name,
            "meta": self.meta,
            "preprocess_state": self.preprocess_state,
            **changes,
        }
        pairs = [
            (key, item)
            for key, value in values.items()
            for item in (value if isinstance(value, list) else [value])
            if item
            and not (key == "folder" and item == "/")
            and not (key == "state" and item == "active")
        ]
        return urllib.parse.urlencode(pairs)


def card(record: dict, api_items: str) -> dict:
    """An item record as a card of the grid: its thumbnail address (versioned, so the
    browser caches it for good), its file name and its badges."""
    version = thumbnail_version(
        {
            "thumbnail_key": record["thumbnail"],
            "etag": record["etag"],
            "size": record["size"],
            "preprocessed_at": record["preprocessed_at"],
        }
    )
    record["name"] = record["path"].rsplit("/", 1)[-1]
    record["thumbnail_url"] = (
        f"{api_items}/{record['id']}/thumbnail?v={version}" if version else None
    )
    record["content_url"] = f"{api_items}/{record['id']}/content"
    badges = []
    if record["kind"] == "link":
        badges.append(("link", "⇗ link", f"linked: {record.get('url') or 'an external URL'}"))
    if record["state"] == "ghost":
        badges.append(("ghost", "ghost", "gone from the bucket; kept for the grace period"))
    if record["state"] == "deleted":
        badges.append(("deleted", "deleted", "deleted on the platform"))
    if record["preprocess_state"] == "failed":
        reason = record["preprocess_error"] or "no reason recorded"
        badges.append(("failed", "failed", f"preprocessing failed: {reason}"))
    elif record["preprocess_state"] == "pending":
        badges.append(("pending", "pending", "waiting for preprocessing"))
    if record["downstream"]:
        badges.append(("syncing", "↑", f"on its way to the bucket ({record['downstream']})"))
    record["badges"] = badges
    record["kind_label"] = (record["mimetype"] or "file").split("/")[-1][:8].upper()
    return record


def item_page(catalog: Catalog, dataset: str, filters: Filters, after: str | None, api_items):
    """One keyset page of the grid: ``(cards, next cursor)``."""
    position = item_pages.decode_cursor(after) if after else None
    meta = item_usecase.metadata_filter(filters.meta) if filters.meta else None
    with catalog.begin() as conn:
        found = dataset_queries.get(conn, dataset)
        rows, last = item_pages.page(
            conn,
            found.id,
            after=position,
            limit=PAGE_SIZE,
            state=filters.state,
            preprocess_state=filters.preprocess_state or None,
            mimetype=filters.mimetype or None,
            prefix=filters.folder if filters.folder != "/" else None,
            name=filters.name or None,
            metadata=meta,
        )
    cards = [card(link_record(row), api_items) for row in rows]
    cursor = item_pages.encode_cursor(*last) if last else None
    return cards, cursor


def folders_of(catalog: Catalog, dataset: str, filters: Filters) -> tuple[list[str], bool]:
    """The sub-folders of the filters' folder holding items in the filters' state."""
    with catalog.begin() as conn:
        found = dataset_queries.get(conn, dataset)
        return child_folders(conn, found.id, filters.folder, state=filters.state)


def parse_filters(params) -> Filters:
    """Filters from a query string; ``InvalidInput`` names a bad one."""
    state = params.get("state") or "active"
    if state not in ("active", "ghost", "deleted", "all"):
        raise InvalidInput("state must be one of active, ghost, deleted, all")
    return Filters(
        folder=normal_folder(params.get("folder")),
        state=state,
        mimetype=(params.get("mimetype") or "").strip(),
        name=(params.get("name") or "").strip(),
        meta=[m for m in params.getlist("meta") if m.strip()],
        preprocess_state=(params.get("preprocess_state") or "").strip(),
    )


# -- one item ----------------------------------------------------------------------------


def item_detail(catalog: Catalog, dataset: str, item_id: int, api_items: str) -> dict:
    """An item for its panel: the record, its card fields, and what its dataset allows."""
    found, row = dataset_and_row(catalog, dataset, item_id)
    record = card(link_record(row), api_items)
    fate = bucket_file_fate(found)
    record["delete_says"] = {
        "deleting": "The file in the bucket will be deleted too (the driver allows deletes).",
        "kept": "The file stays in the bucket (the driver does not allow deletes, or the "
        "dataset is a clone sharing it); the next sync will not bring the item back.",
        "internal": "The file is deleted from Tributary's internal storage.",
    }[fate]
    record["bucket_file"] = fate
    record["move_rule"] = None if found.driver is None else MOVE_RULE
    return record


# -- drivers and syncs -------------------------------------------------------------------


def drivers(catalog: Catalog) -> list[dict]:
    found = []
    for status in driver_usecase.list_drivers(catalog):
        row = status.as_dict()
        row["last_check"] = status.last_check
        with catalog.begin() as conn:
            row["datasets"] = dataset_queries.names_using_driver(conn, status.driver.id)
        found.append(row)
    return found


def sync_runs(catalog: Catalog, dataset: str) -> list[dict]:
    runs = []
    for record in sync_usecase.sync_history(catalog, dataset, limit=100):
        summary = sync_usecase.SyncRunSummary.from_record(record)
        runs.append({**record, "counts": summary.counts, "planned": summary.planned})
    return runs


def sync_run(catalog: Catalog, dataset: str, sync_id: int) -> dict:
    record = sync_usecase.get_sync(catalog, dataset, sync_id)
    summary = sync_usecase.SyncRunSummary.from_record(record)
    return {
        **record,
        "counts": summary.counts,
        "planned": summary.planned,
        "samples": summary.samples,
    }
