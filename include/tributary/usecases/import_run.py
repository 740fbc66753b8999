"""The steps of ``tributary_csv_ingest``: validate → (quota) → batches → report.

- ``validate`` reads the stored CSV once (streamed, chunk by chunk, ``open_csv_import``):
  a refused file fails the import in one line before anything is written. Valid rows go
  to chunk files beside the source (``chunks/<n>.rows.jsonl``), rejected ones to
  ``chunks/<n>.invalid.jsonl``; the quota is checked for the rows that will create items.
  It returns the batches to map: pointers (import id + a range of chunks + their lines),
  never rows; at most ``MAX_TASKS`` of them.
- ``run_batch`` turns its chunks' rows into items of the import's folder — a link row into a
  link file (``<name>.json``) and a linked item, an upload row into the file fetched from
  its URL (``ingest.fetch.Fetcher``) or decoded from ``image_bytes`` — through
  ``usecases.uploads.upload``, so quota, the outbox and ``items-created`` are the uploads'
  own. Idempotent: a retried batch or a re-import skips identical rows (same content, same
  URL), updates metadata and description, retries what failed.
- ``report`` writes ``errors.csv`` (line, ID, reason; formula-safe) in line order and the
  counts on the import record.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import heapq
import io
import json
import logging
import math
import os
import re
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import sqlalchemy as sa

from tributary.catalog import Catalog, link_items
from tributary.catalog import datasets as dataset_queries
from tributary.catalog import imports as import_queries
from tributary.catalog import items as item_queries
from tributary.catalog.datasets import Dataset
from tributary.catalog.schema import items
from tributary.errors import InvalidInput, QuotaExceeded, TributaryError
from tributary.ingest.csv_rows import CsvRow, RowError, open_csv_import
from tributary.ingest.errors import CsvRefused
from tributary.ingest.links import link_file
from tributary.ingest.report import ErrorReport
from tributary.storage import ObjectStore, open_dataset_store
from tributary.storage.ranged import open_ranged
from tributary.usecases import import_uploads
from tributary.usecases.import_uploads import ChunkReader
from tributary.usecases.imports import import_prefix, report_key, source_key
from tributary.usecases.links import link_file_name
from tributary.usecases.uploads import MAX_KEY_BYTES, check_upload_path, upload

log = logging.getLogger(__name__)

MAX_TASKS = 1024  # mapped batch tasks of one run
CHUNK_ROWS = 1000  # rows per chunk file
_WORD = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
# A file name every rule of ``check_upload_path`` accepts at a glance: printable ASCII,
# no separator, no drive colon, not starting with a dot (so neither ``..`` nor the hidden
# folder), at most 255 bytes. Anything else takes the full check.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.,;=+@()\[\]{}~!$&' -]{0,254}")
WRITE_THREADS = 8  # link files written at once by a bulk landing


@dataclass
class _Context:
    catalog: Catalog
    dataset: Dataset
    store: ObjectStore
    record: dict

    @property
    def prefix(self) -> str:
        return import_prefix(self.store, self.record["id"])

    def chunk_key(self, index: int, kind: str) -> str:
        return f"{self.prefix}chunks/{index:06d}.{kind}.jsonl"


def _open(catalog: Catalog, dataset: str, import_id: int) -> _Context:
    with catalog.begin() as conn:
        found = dataset_queries.get(conn, dataset)
        record = import_queries.get(conn, found.id, int(import_id))
    return _Context(catalog, found, open_dataset_store(found), record)


# -- validate ------------------------------------------------------------------------------


def validate(
    catalog: Catalog,
    dataset: str,
    import_id: int,
    *,
    dag_run_id: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
    max_tasks: int = MAX_TASKS,
) -> dict:
    """Check the stored CSV and cut it into chunk files; returns ``{"chunks": n,
    "batches": [pointer, …]}``. ``CsvRefused`` / ``QuotaExceeded`` fail the import (its
    record says why in one line) before any item is written."""
    ctx = _open(catalog, dataset, import_id)
    with catalog.begin() as conn:
        import_queries.start(conn, ctx.record["id"], dag_run_id=dag_run_id)
    try:
        return _validate(ctx, chunk_rows, max_tasks)
    except (CsvRefused, QuotaExceeded) as exc:
        with catalog.begin() as conn:
            import_queries.fail(conn, ctx.record["id"], str(exc))
        raise


def _validate(ctx: _Context, chunk_rows: int, max_tasks: int) -> dict:
    key = source_key(ctx.store, ctx.record["id"])
    size = ctx.store.head(key).size
    with open_ranged(ctx.store, key, size) as source:
        csv_import = open_csv_import(source, batch_rows=chunk_rows)
        lines: list[tuple[int, int]] = []
        needed = 0
        for index, batch in enumerate(csv_import.batches()):
            _write_lines(ctx.store, ctx.chunk_key(index, "rows"), map(_row_json, batch.rows))
            _write_lines(ctx.store, ctx.chunk_key(index, "invalid"), map(_error_json, batch.errors))
            numbers = [r.line for r in batch.rows] + [e.line for e in batch.errors]
            lines.append((min(numbers), max(numbers)))
            needed += _new_items(ctx, batch.rows)
    with ctx.catalog.begin() as conn:
        import_queries.set_values(
            conn,
            ctx.record["id"],
            rows=csv_import.rows,
            valid=csv_import.valid,
            failed=csv_import.failed,
            warnings="\n".join(csv_import.warnings) or None,
        )
        if needed:
            item_queries.check_quota(
                conn, dataset_id=ctx.dataset.id, dataset_name=ctx.dataset.name, needed=needed
            )
    per_task = max(1, math.ceil(len(lines) / max_tasks))
    batches = []
    for first in range(0, len(lines), per_task):
        last = min(first + per_task, len(lines)) - 1
        batches.append(
            {
                "dataset": ctx.dataset.name,
                "import_id": ctx.record["id"],
                "first": first,
                "last": last,
                "label": f"lines {lines[first][0]}-{lines[last][1]}",
            }
        )
    log.info(
        "CSV import %s: %d rows, %d valid, %d rejected, %d new items, %d batch(es)",
        ctx.record["id"],
        csv_import.rows,
        csv_import.valid,
        csv_import.failed,
        needed,
        len(batches),
    )
    return {"chunks": len(lines), "batches": batches}


def _target_path(folder: str, row: CsvRow) -> str:
    name = link_file_name(row.name) if row.action == "link" else row.name
    checked, size = _checked_folder(folder)
    if _PLAIN_NAME.fullmatch(name) and size + len(name) <= MAX_KEY_BYTES:
        return checked + name  # what check_upload_path returns, without its per-char walk
    return check_upload_path(name, folder)


@functools.lru_cache(maxsize=64)
def _checked_folder(folder: str) -> tuple[str, int]:
    """``folder`` as ``check_upload_path`` makes it (``/`` or ``/a/b/``), checked once,
    and its length in UTF-8 bytes."""
    checked = check_upload_path("x", folder)[:-1]
    return checked, len(checked.encode("utf-8"))


def _new_items(ctx: _Context, rows: list[CsvRow]) -> int:
    """How many of ``rows`` would create an item (no active item at their path yet)."""
    paths = set()
    for row in rows:
        with contextlib.suppress(InvalidInput):  # reported by its batch
            paths.add(_target_path(ctx.record["folder"], row))
    if not paths:
        return 0
    with ctx.catalog.begin() as conn:
        existing = conn.execute(
            sa.select(sa.func.count()).where(
                (items.c.dataset_id == ctx.dataset.id)
                & (items.c.state == "active")
                & items.c.path.in_(sorted(paths))
            )
        ).scalar_one()
    return len(paths) - existing


# -- batches -------------------------------------------------------------------------------


def run_batch(catalog: Catalog, dataset: str, import_id: int, first: int, last: int) -> dict:
    """Turn the rows of chunks ``first..last`` into items; returns counts (``created``,
    ``updated``, ``skipped``, ``failed``). Row failures go to ``chunks/<n>.failed.jsonl``;
    anything else (the catalog, the storage) raises, and the retried task does it again
    without duplicating."""
    ctx = _open(catalog, dataset, import_id)
    counts = dict.fromkeys(("created", "updated", "skipped", "failed"), 0)
    fetcher = None
    try:
        for index in range(first, last + 1):
            failed: list[RowError] = []
            rows = [_row_of(d) for d in _read_lines(ctx.store, ctx.chunk_key(index, "rows"))]
            if fetcher is None and any(r.action == "upload" and r.data is None for r in rows):
                from tributary.ingest.fetch import Fetcher

                fetcher = Fetcher()
            if ctx.dataset.driver is None:  # the internal storage: new rows in bulk
                links = [row for row in rows if row.action == "link"]
                rest = _land_links_in_bulk(ctx, links, counts, failed)
                uploads = [row for row in rows if row.action == "upload"]
                rows = rest + _land_uploads_in_bulk(ctx, uploads, fetcher, counts, failed)
            for outcome in _land_all(ctx, rows, fetcher):
                if isinstance(outcome, RowError):
                    counts["failed"] += 1
                    failed.append(outcome)
                else:
                    counts[outcome] += 1
            failed.sort(key=lambda error: error.line)
            _write_lines(ctx.store, ctx.chunk_key(index, "failed"), map(_error_json, failed))
    finally:
        if fetcher is not None:
            fetcher.close()
    return counts


def import_threads() -> int:
    """Rows landed at once by one batch task (``TRIBUTARY_IMPORT_THREADS``, default 8)."""
    return max(1, int(os.environ.get("TRIBUTARY_IMPORT_THREADS", "8")))


def _land_all(ctx: _Context, rows: list[CsvRow], fetcher) -> list[str | RowError]:
    """Each row's outcome, in order. Rows fetched from URLs wait on the network, so several
    land at a time (the fetcher pools connections, the catalog lends each transaction a
    connection; SQLite serialises the writes) — except on an in-memory SQLite catalog,
    which lives in one connection."""
    land = functools.partial(_try_land, ctx, fetcher=fetcher)
    single = isinstance(ctx.catalog.engine.pool, sa.pool.SingletonThreadPool)
    threads = 1 if single else min(import_threads(), len(rows))
    if threads <= 1:
        return [land(row) for row in rows]
    with ThreadPoolExecutor(threads, thread_name_prefix="import") as pool:
        return list(pool.map(land, rows))


def _try_land(ctx: _Context, row: CsvRow, fetcher) -> str | RowError:
    try:
        return _land(ctx, row, fetcher)
    except TributaryError as exc:
        return RowError(row.line, row.id, _code(exc), _reason(exc))


def _land(ctx: _Context, row: CsvRow, fetcher) -> str:
    """One row into its item; ``created``, ``updated`` or ``skipped``."""
    path = _target_path(ctx.record["folder"], row)
    if row.action == "link":
        link, data = link_file(row.url, row.mimetype, row.name)
        result = _upload_bytes(ctx, path, data, "application/json")
        with ctx.catalog.begin() as conn:
            link_items.mark_link(conn, result["item"]["id"], link)
        return _settle(ctx, result, row)
    if row.data is not None:
        return _settle(ctx, _upload_bytes(ctx, path, row.data, row.mimetype), row)
    existing = _active_item(ctx, path)
    if existing and existing["kind"] == "file" and existing["source_url"] == row.url:
        return _settle(ctx, {"status": "skipped", "item": existing}, row)
    family = row.mimetype.split("/", 1)[0] + "/"
    with fetcher.stream(row.url, accept=(family,)) as body:
        result = upload(
            ctx.catalog,
            ctx.dataset.name,
            path,
            ChunkReader(iter(body)),
            size=body.info.size,
            content_type=row.mimetype,
            overwrite=True,
        )
    return _settle(ctx, result, row, source_url=row.url)


def _land_links_in_bulk(
    ctx: _Context, rows: list[CsvRow], counts: dict, failed: list[RowError]
) -> list[CsvRow]:
    """Link rows on the internal storage, a chunk at a time: identical links skipped (their
    metadata settled), new ones written straight to their keys and indexed in one
    transaction with their ``announce`` rows. Returns the rows left for ``upload`` (an
    item to replace, a deleted one, one being uploaded, a race with another writer)."""
    prepared = []
    for row in rows:
        try:
            path = _target_path(ctx.record["folder"], row)
            link, data = link_file(row.url, row.mimetype, row.name)
        except TributaryError as exc:
            counts["failed"] += 1
            failed.append(RowError(row.line, row.id, _code(exc), _reason(exc)))
            continue
        prepared.append((row, path, data, hashlib.sha256(data).hexdigest(), link))
    if not prepared:
        return []
    with ctx.catalog.begin() as conn:
        existing = {
            found["path"]: dict(found)
            for found in conn.execute(
                sa.select(items).where(
                    (items.c.dataset_id == ctx.dataset.id)
                    & items.c.path.in_([p[1] for p in prepared])
                )
            ).mappings()
        }
    new, rest = [], []
    with ctx.catalog.begin() as conn:
        for row, path, data, sha, link in prepared:
            found = existing.get(path)
            if found is None:
                new.append((row, path, data, sha, link))
            elif (
                found["state"] == "active"
                and found["sha256"] == sha
                and found["downstream"] is None
                and found["kind"] == "link"
            ):
                counts[_settle_in(conn, found, row)] += 1
            else:
                rest.append(row)
    if new:
        rest += _index_new_links(ctx, new, counts, failed)
    return rest


def _land_uploads_in_bulk(
    ctx: _Context, rows: list[CsvRow], fetcher, counts: dict, failed: list[RowError]
) -> list[CsvRow]:
    """Upload rows on the internal storage: the new ones (no item at their path) land in
    bulk (``usecases.import_uploads``); returns the rest, for ``upload``."""
    new, rest, seen = [], [], set()
    for row in rows:
        try:
            path = _target_path(ctx.record["folder"], row)
        except TributaryError as exc:
            counts["failed"] += 1
            failed.append(_row_error(row, exc))
            continue
        if path in seen or not import_uploads.wanted(path):
            rest.append(row)
        else:
            seen.add(path)
            new.append((row, path))
    if not new:
        return rest
    with ctx.catalog.begin() as conn:
        taken = set(
            conn.execute(
                sa.select(items.c.path).where(
                    (items.c.dataset_id == ctx.dataset.id)
                    & items.c.path.in_([path for _row, path in new])
                )
            ).scalars()
        )
    rest += [row for row, path in new if path in taken]
    rest += import_uploads.land_uploads_in_bulk(
        ctx.catalog,
        ctx.dataset,
        ctx.store,
        [(row, path) for row, path in new if path not in taken],
        fetcher=fetcher,
        threads=import_threads(),
        counts=counts,
        failed=failed,
        row_failure=_row_error,
    )
    return rest


def _row_error(row: CsvRow, exc: BaseException) -> RowError:
    return RowError(row.line, row.id, _code(exc), _reason(exc))


def _settle_in(conn, found: dict, row: CsvRow) -> str:
    metadata = {**(found["user_metadata"] or {}), **(row.metadata or {})} or None
    changes = {}
    if metadata != found["user_metadata"]:
        changes["user_metadata"] = metadata
    if row.description is not None and row.description != found["description"]:
        changes["description"] = row.description
    if not changes:
        return "skipped"
    conn.execute(items.update().where(items.c.id == found["id"]).values(**changes))
    return "updated"


def _index_new_links(
    ctx: _Context, new: list, counts: dict, failed: list[RowError]
) -> list[CsvRow]:
    from sqlalchemy.exc import IntegrityError

    from tributary.catalog.schema import outbox as outbox_table
    from tributary.sync.downstream import now_utc
    from tributary.usecases.uploads import storage_key

    def write_all(entries: list) -> list:
        # A plain write (no fsync per file: a link file can be made again from its item's
        # URL), then its listing facts, so a later sync recognises the file as ours.
        heads = []
        for entry in entries:
            key = storage_key(ctx.store, ctx.dataset, entry[1])
            ctx.store.write(key, entry[2], content_type="application/json")
            heads.append((key, ctx.store.head(key)))
        return heads

    # The writes wait on the disk (or the provider): a slice of the chunk per thread.
    step = math.ceil(len(new) / WRITE_THREADS)
    slices = [new[i : i + step] for i in range(0, len(new), step)]
    with ThreadPoolExecutor(len(slices), thread_name_prefix="links") as pool:
        heads = [head for part in pool.map(write_all, slices) for head in part]
    values = []
    now = now_utc()
    for (row, path, data, sha, link), (key, written) in zip(new, heads, strict=True):
        values.append(
            {
                "dataset_id": ctx.dataset.id,
                "path": path,
                "storage_key": key,
                "size": len(data),
                "etag": written.etag,
                "mtime": written.last_modified,
                "mimetype": link.mimetype,
                "state": "active",
                "kind": "link",
                "source_url": link.url,
                "sha256": sha,
                "preprocess_state": "pending",
                "user_metadata": row.metadata or None,
                "description": row.description,
                "created_at": now,
                "updated_at": now,
            }
        )
    try:
        with ctx.catalog.begin() as conn:
            item_queries.check_quota(
                conn, dataset_id=ctx.dataset.id, dataset_name=ctx.dataset.name, needed=len(new)
            )
            ids = conn.execute(items.insert().returning(items.c.id), values).scalars().all()
            now = now_utc()
            conn.execute(
                outbox_table.insert(),
                [
                    {
                        "dataset_id": ctx.dataset.id,
                        "item_id": item_id,
                        "op": "announce",
                        "storage_key": value["storage_key"],
                        "status": "pending",
                        "next_attempt_at": now,
                        "created_at": now,
                    }
                    for item_id, value in zip(ids, values, strict=True)
                ],
            )
    except IntegrityError:  # another writer took a path meanwhile: one by one instead
        return [row for row, *_ in new]
    except QuotaExceeded as exc:
        for row, *_ in new:
            counts["failed"] += 1
            failed.append(RowError(row.line, row.id, _code(exc), _reason(exc)))
        return []
    counts["created"] += len(new)
    return []


def _upload_bytes(ctx: _Context, path: str, data: bytes, content_type: str) -> dict:
    return upload(
        ctx.catalog,
        ctx.dataset.name,
        path,
        io.BytesIO(data),
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        content_type=content_type,
        overwrite=True,
    )


def _settle(ctx: _Context, result: dict, row: CsvRow, **values) -> str:
    """Metadata and description as the row says; the row's outcome."""
    item_id = result["item"]["id"]
    with ctx.catalog.begin() as conn:
        current = conn.execute(
            sa.select(items.c.user_metadata, items.c.description).where(items.c.id == item_id)
        ).one()
        metadata = {**(current.user_metadata or {}), **(row.metadata or {})} or None
        changes = dict(values)
        if metadata != current.user_metadata:
            changes["user_metadata"] = metadata
        if row.description is not None and row.description != current.description:
            changes["description"] = row.description
        if changes:
            conn.execute(items.update().where(items.c.id == item_id).values(**changes))
    if result["status"] == "created":
        return "created"
    if result["status"] == "replaced" or set(changes) - set(values):
        return "updated"
    return "skipped"


def _active_item(ctx: _Context, path: str) -> dict | None:
    with ctx.catalog.begin() as conn:
        row = (
            conn.execute(
                sa.select(items).where(
                    (items.c.dataset_id == ctx.dataset.id)
                    & (items.c.path == path)
                    & (items.c.state == "active")
                )
            )
            .mappings()
            .first()
        )
    return dict(row) if row else None


def _code(exc: BaseException) -> str:
    return _WORD.sub("_", type(exc).__name__).lower()


def _reason(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


# -- report --------------------------------------------------------------------------------


def report(catalog: Catalog, dataset: str, import_id: int, chunks: int, results: list) -> dict:
    """``errors.csv`` beside the source (every rejected row, in line order) and the final
    counts on the import record; returns the import's counts."""
    ctx = _open(catalog, dataset, import_id)
    totals = dict.fromkeys(("created", "updated", "skipped", "failed"), 0)
    for result in results:
        for name in totals:
            totals[name] += result[name]
    text = io.StringIO(newline="")
    errors = ErrorReport(text)
    for index in range(chunks):
        invalid = map(_error_of, _read_lines(ctx.store, ctx.chunk_key(index, "invalid")))
        failed = map(_error_of, _read_lines(ctx.store, ctx.chunk_key(index, "failed")))
        errors.add_all(heapq.merge(invalid, failed, key=lambda e: e.line))
    data = text.getvalue().encode()
    ctx.store.write_stream(
        report_key(ctx.store, ctx.record["id"]),
        io.BytesIO(data),
        size=len(data),
        content_type="text/csv",
    )
    with catalog.begin() as conn:
        row = import_queries.get(conn, ctx.dataset.id, ctx.record["id"])
        counts = {
            "created": totals["created"],
            "updated": totals["updated"],
            "skipped": totals["skipped"],
            "failed": row["failed"] + totals["failed"],
        }
        import_queries.finish(conn, ctx.record["id"], **counts)
    log.info("CSV import %s done: %s; errors by kind: %s", import_id, counts, dict(errors.counts))
    return {**counts, "rows": row["rows"], "errors": dict(errors.counts)}


def fail(catalog: Catalog, dataset: str, import_id: int, reason: str) -> None:
    """Mark a running import failed (a task gave up)."""
    with catalog.begin() as conn:
        found = dataset_queries.get(conn, dataset)
        if import_queries.get(conn, found.id, int(import_id))["status"] != "failed":
            import_queries.fail(conn, int(import_id), reason)


# -- chunk files ---------------------------------------------------------------------------


def _row_json(row: CsvRow) -> str:
    document = row._asdict()
    if row.data is not None:
        document["data"] = base64.b64encode(row.data).decode()
    return json.dumps(document, ensure_ascii=False)


def _row_of(document: dict) -> CsvRow:
    if document["data"] is not None:
        document["data"] = base64.b64decode(document["data"])
    return CsvRow(**document)


def _error_json(error: RowError) -> str:
    return json.dumps(error._asdict(), ensure_ascii=False)


def _error_of(document: dict) -> RowError:
    return RowError(**document)


def _write_lines(store: ObjectStore, key: str, lines: Iterable[str]) -> None:
    data = "".join(line + "\n" for line in lines).encode()
    store.write_stream(key, io.BytesIO(data), size=len(data), content_type="application/json")


def _read_lines(store: ObjectStore, key: str) -> Iterator[dict]:
    for line in store.read(key).decode().splitlines():
        if line:
            yield json.loads(line)
