"""Upload rows of a CSV import on the internal storage, a chunk at a time.

``usecases.uploads.upload`` lands one file in about ten catalog transactions (reserve,
lease, finalise, announce, …): right for an API request, a bottleneck for ten thousand
rows. Here the new rows of a chunk take the same three steps *together*:

1. **reserve** (one transaction): the quota for all of them, their items (``downstream =
   'put'``, invisible to listings until whole) and their put rows marked as reservations,
   exactly as ``upload`` reserves one — so a crash mid-chunk leaves reservations that the
   downstream sync undoes when their lease ends (``TRIBUTARY_UPLOAD_LEASE_SECONDS``);
2. **write** (``TRIBUTARY_IMPORT_THREADS`` at a time): each body fetched through the safe
   fetcher (or decoded from ``image_bytes``) and streamed straight to its key — the item
   holds the key, no one else writes it — hashed and measured as it goes, the lease
   extended while a large body streams;
3. **finish** (one transaction): the written items take their size, hashes, etag and
   metadata, their put rows are done, ``announce`` rows queue ``items-created``; the rows
   that failed release their reservation (item and put row gone, the object deleted).

Only new paths come here: a row whose path has an item (to skip, update or replace), or a
``.json`` upload (which may be a link file), takes ``upload`` as before.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from tributary.catalog import Catalog, outbox
from tributary.catalog import items as item_queries
from tributary.catalog.datasets import Dataset
from tributary.catalog.schema import items
from tributary.catalog.schema import outbox as outbox_table
from tributary.config import upload_lease, upload_max_bytes
from tributary.errors import QuotaExceeded, TributaryError
from tributary.ingest.csv_rows import CsvRow, RowError
from tributary.mimetype import mimetype_of_extension
from tributary.storage import ObjectStore
from tributary.storage.streams import MeasuredReader
from tributary.sync import downstream

log = logging.getLogger(__name__)

RowFailure = Callable[[CsvRow, BaseException], RowError]


class ChunkReader:
    """``read(n)`` over an iterator of byte chunks (a fetched body)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks, self._buffer = chunks, b""

    def read(self, n: int = -1, /) -> bytes:
        while n < 0 or len(self._buffer) < n:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        if n < 0:
            n = len(self._buffer)
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out


def wanted(path: str) -> bool:
    """Whether a new upload row at ``path`` may land in bulk (a ``.json`` may be a link
    file, which ``upload`` recognises)."""
    return not path.lower().endswith(".json")


def land_uploads_in_bulk(
    catalog: Catalog,
    dataset: Dataset,
    store: ObjectStore,
    new: list[tuple[CsvRow, str]],
    *,
    fetcher,
    threads: int,
    counts: dict,
    failed: list[RowError],
    row_failure: RowFailure,
) -> list[CsvRow]:
    """Land ``new`` (rows with their item paths, none of which has an item yet); counts
    and row errors go to ``counts`` / ``failed``. Returns the rows left for ``upload`` (a
    race with another writer for a path). A storage or catalog failure that is not a
    row's own raises once every reservation of the chunk is settled."""
    if not new:
        return []
    try:
        reserved = _reserve(catalog, dataset, store, new)
    except IntegrityError:  # another writer took a path meanwhile: one by one instead
        return [row for row, _path in new]
    except QuotaExceeded as exc:
        for row, _path in new:
            counts["failed"] += 1
            failed.append(row_failure(row, exc))
        return []
    # Row by row to whichever thread is free: one slow URL holds up only itself.
    workers = max(1, min(threads, len(reserved)))
    with ThreadPoolExecutor(workers, thread_name_prefix="uploads") as pool:
        written = list(pool.map(lambda entry: _write(catalog, store, entry, fetcher), reserved))
    surprise = _finish(catalog, dataset, store, written)
    for entry in written:
        if entry["error"] is None:
            counts["created"] += 1
        elif isinstance(entry["error"], TributaryError):
            counts["failed"] += 1
            failed.append(row_failure(entry["row"], entry["error"]))
    if surprise is not None:
        raise surprise
    return []


def _reserve(
    catalog: Catalog, dataset: Dataset, store: ObjectStore, new: list[tuple[CsvRow, str]]
) -> list[dict]:
    from tributary.usecases.uploads import storage_key

    now = downstream.now_utc()
    keys = [storage_key(store, dataset, path) for _row, path in new]
    with catalog.begin() as conn:
        item_queries.check_quota(
            conn, dataset_id=dataset.id, dataset_name=dataset.name, needed=len(new)
        )
        item_ids = (
            conn.execute(
                items.insert().returning(items.c.id, sort_by_parameter_order=True),
                [
                    {
                        "dataset_id": dataset.id,
                        "path": path,
                        "storage_key": key,
                        "size": 0,
                        "mimetype": _mimetype(row, path),
                        "state": "active",
                        "kind": "file",
                        "downstream": "put",
                        "preprocess_state": "pending",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for (row, path), key in zip(new, keys, strict=True)
                ],
            )
            .scalars()
            .all()
        )
        entry_ids = (
            conn.execute(
                outbox_table.insert().returning(outbox_table.c.id, sort_by_parameter_order=True),
                [
                    {
                        "dataset_id": dataset.id,
                        "item_id": item_id,
                        "op": "put",
                        "storage_key": key,
                        "status": "pending",
                        "next_attempt_at": now + upload_lease(),
                        "error": downstream.RESERVED_NEW,
                        "created_at": now,
                    }
                    for item_id, key in zip(item_ids, keys, strict=True)
                ],
            )
            .scalars()
            .all()
        )
    return [
        {"row": row, "path": path, "key": key, "item_id": item_id, "id": entry_id, "error": None}
        for (row, path), key, item_id, entry_id in zip(new, keys, item_ids, entry_ids, strict=True)
    ]


def _mimetype(row: CsvRow, path: str) -> str | None:
    return mimetype_of_extension(path.rpartition("/")[2]) or row.mimetype


def _write(catalog: Catalog, store: ObjectStore, entry: dict, fetcher) -> dict:
    """One reserved row's body to its key; the entry with ``info``/``body`` or ``error``."""
    row = entry["row"]

    def extend_lease(_position: int) -> None:
        with catalog.begin() as conn:
            conn.execute(
                outbox_table.update()
                .where(
                    (outbox_table.c.id == entry["id"])
                    & outbox_table.c.error.in_(downstream.RESERVED)
                )
                .values(next_attempt_at=downstream.now_utc() + upload_lease())
            )

    limit = upload_max_bytes()
    try:
        if row.data is not None:
            body = MeasuredReader(
                io.BytesIO(row.data), size=len(row.data), limit=limit, hashes=("sha256",)
            )
            entry["info"] = store.write_stream(
                entry["key"], body, size=len(row.data), content_type=row.mimetype
            )
        else:
            family = row.mimetype.split("/", 1)[0] + "/"
            with fetcher.stream(row.url, accept=(family,)) as remote:
                size = remote.info.size
                body = MeasuredReader(
                    ChunkReader(iter(remote)), size=size, limit=limit, hashes=("sha256",)
                )
                body.on_progress = extend_lease
                entry["info"] = store.write_stream(
                    entry["key"], body, size=size, content_type=row.mimetype
                )
        entry["body"] = body
    except Exception as exc:  # the row's own failure, or a surprise raised after settling
        entry["error"] = exc
        with contextlib.suppress(Exception):
            store.delete(entry["key"])  # the write may have landed before the failure
    return entry


def _finish(
    catalog: Catalog, dataset: Dataset, store: ObjectStore, written: list[dict]
) -> BaseException | None:
    """Make the written items whole and release the failed ones, in one transaction;
    returns the first failure that is no row's own (to raise), if any."""
    now = downstream.now_utc()
    done = [e for e in written if e["error"] is None]
    surprise = next(
        (e["error"] for e in written if not isinstance(e["error"], TributaryError | None)),
        None,
    )
    with catalog.begin() as conn:
        if done:
            conn.execute(
                items.update()
                .where(items.c.id == sa.bindparam("b_id"))
                .values(
                    size=sa.bindparam("b_size"),
                    sha256=sa.bindparam("b_sha256"),
                    etag=sa.bindparam("b_etag"),
                    mtime=sa.bindparam("b_mtime"),
                    source_url=sa.bindparam("b_url"),
                    user_metadata=sa.bindparam("b_metadata"),
                    description=sa.bindparam("b_description"),
                    downstream=None,
                    updated_at=now,
                ),
                [
                    {
                        "b_id": e["item_id"],
                        "b_size": e["body"].position,
                        "b_sha256": e["body"].hexdigest("sha256"),
                        "b_etag": e["info"].etag,
                        "b_mtime": e["info"].last_modified,
                        "b_url": e["row"].url if e["row"].data is None else None,
                        "b_metadata": e["row"].metadata or None,
                        "b_description": e["row"].description,
                    }
                    for e in done
                ],
            )
            outbox.mark_done(conn, [e["id"] for e in done], now=now)
            conn.execute(
                outbox_table.insert(),
                [
                    {
                        "dataset_id": dataset.id,
                        "item_id": e["item_id"],
                        "op": "announce",
                        "storage_key": e["key"],
                        "status": "pending",
                        "next_attempt_at": now,
                        "created_at": now,
                    }
                    for e in done
                ],
            )
        for entry in written:
            if entry["error"] is not None:
                reservation = {"id": entry["id"], "item_id": entry["item_id"]}
                downstream.release_reservation(conn, reservation)
    if surprise is not None:
        log.warning("A bulk upload of dataset %s failed: %s", dataset.name, surprise)
    return surprise
