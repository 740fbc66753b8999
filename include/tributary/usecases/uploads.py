"""Uploads: a file streamed into a dataset, idempotent, quota-checked, never half-written.

One upload, whatever the front end (REST API, client, CLI):

1. **Decide** from the item at the path (in one transaction with 2.): the same content
   (SHA-256 given by the client and recorded on the item) is ``skipped`` without reading
   the body; other content is a ``Conflict`` unless ``overwrite``; without a recorded hash
   the body is read and hashed (not written) to tell.
2. **Reserve** (the same transaction): the quota is checked before any byte is written,
   the item is created (or an existing one flagged ``downstream='put'``) and the outbox
   ``put`` row reserved. The reservation is due only when its lease runs out: if this
   process dies, the downstream sync removes it (the new item goes) — nothing half-made
   stays. Committed before the body is read, so a sync listing the key meanwhile sees a
   waiting upload (never a new, changed or vanished file).
3. **Write** the body: a new file straight to its key (one PutObject up to the multipart
   threshold; whole or not at all on every store); a file replacing content to a spool in
   the hidden folder (``.tributary/spool/``), to be copied to its key server-side, so the
   old bytes stay until the new ones are whole. A failed write undoes the reservation.
4. **Finalise** (one transaction): the item takes the new content's size, SHA-256,
   mimetype and (written straight) the bucket's etag, its preprocessing starts over (old
   thumbnail dropped through the outbox), an ``announce`` row is queued (the drain emits
   ``items-created``). The put row is done — or due, for a spooled body (then tried at
   once; what fails is left to ``tributary_downstream_sync``) and for a new file on a
   driver finalised while a sync of its dataset runs (the drain records it after).
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from tributary.catalog import Catalog, link_items, outbox
from tributary.catalog import datasets as dataset_queries
from tributary.catalog import items as item_queries
from tributary.catalog.datasets import Dataset
from tributary.catalog.schema import items
from tributary.catalog.schema import outbox as outbox_table
from tributary.config import HIDDEN_FOLDER, upload_lease, upload_max_bytes
from tributary.errors import Conflict, InvalidInput, TooLarge
from tributary.ingest.link_sniff import LinkSniffer
from tributary.mimetype import mimetype_of_extension
from tributary.storage import ObjectInfo, ObjectStore, open_dataset_store
from tributary.storage.streams import MeasuredReader, Reader
from tributary.sync import downstream
from tributary.sync.scope import static_root
from tributary.usecases.items import item_record

log = logging.getLogger(__name__)

# S3's limit on a key (bytes of UTF-8); the others allow as much or more.
MAX_KEY_BYTES = 1024
# A file or folder name: most filesystems stop at 255 bytes.
MAX_NAME_BYTES = 255
_SHA256 = re.compile(r"[0-9a-f]{64}")
_MD5 = re.compile(r"[0-9a-f]{32}")
_DRIVE = re.compile(r"[A-Za-z]:")


# -- paths ---------------------------------------------------------------------------------


def check_upload_path(path: str, to: str = "/") -> str:
    """The item path (``/a/b.jpg``) of a file uploaded as ``path`` into the folder ``to``.

    ``path`` is relative to ``to`` (a leading ``/`` means the dataset's root, allowed only
    when ``to`` is the root). Refused with ``InvalidInput`` naming the problem: ``..`` or
    ``.`` segments, empty segments (``a//b``), a path ending in ``/``, backslashes, a drive
    (``C:``), NUL and control characters, text that is not UTF-8, the hidden folder
    ``.tributary`` at any level, names above 255 bytes, paths above 1024 bytes.
    """
    if not isinstance(path, str) or not path:
        raise InvalidInput("an upload needs a file path")
    folder = _check_folder(to)
    if path.startswith("/"):
        if folder != "/":
            raise InvalidInput(
                f"{path!r} is an absolute path: give it relative to the folder {folder!r}"
            )
        path = path[1:]
    full = folder + path
    segments = _check_text(full, path)[1:]
    if not segments or segments[-1] == "":
        raise InvalidInput(f"{path!r} names a folder, not a file")
    _check_segments(segments, path)
    return full


def _check_folder(to: str) -> str:
    """The folder an upload goes to as ``/`` or ``/a/b/``."""
    if not isinstance(to, str):
        raise InvalidInput("the target folder must be text")
    stripped = to.strip("/")
    if not stripped:
        return "/"
    folder = f"/{stripped}/"
    _check_segments(_check_text(folder, to)[1:-1], to)
    return folder


def _check_text(text: str, shown: str) -> list[str]:
    if "\\" in text:
        raise InvalidInput(f"{shown!r} contains '\\': separate folders with '/'")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text):
        raise InvalidInput(f"{shown!r} contains NUL or control characters")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidInput(f"{shown!r} is not valid UTF-8") from None
    if size > MAX_KEY_BYTES:
        raise InvalidInput(f"the path is {size} bytes long; at most {MAX_KEY_BYTES} are allowed")
    return text.split("/")


def _check_segments(segments: list[str], shown: str) -> None:
    if segments and _DRIVE.fullmatch(segments[0]):
        raise InvalidInput(f"{shown!r} is a Windows path: give the path inside the dataset")
    for segment in segments:
        if segment == "":
            raise InvalidInput(f"{shown!r} has an empty folder name ('//')")
        if segment in (".", ".."):
            raise InvalidInput(f"{shown!r} contains {segment!r}: paths stay inside the dataset")
        if segment.casefold() == HIDDEN_FOLDER:
            raise InvalidInput(
                f"{shown!r} is in the hidden folder {HIDDEN_FOLDER}, which is Tributary's"
            )
        if len(segment.encode("utf-8")) > MAX_NAME_BYTES:
            raise InvalidInput(f"a name in {shown!r} is longer than {MAX_NAME_BYTES} bytes")


def storage_key(store: ObjectStore, dataset: Dataset, item_path: str) -> str:
    """The key of an item path in the dataset's storage, inside the dataset's folder."""
    relative = item_path[1:]
    root = static_root(dataset.folder)
    if root and not relative.startswith(root):
        raise InvalidInput(
            f"dataset {dataset.name!r} holds the folder /{root} only: upload under it"
        )
    key = store.prefix + relative
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidInput(f"the storage key of {item_path!r} is longer than {MAX_KEY_BYTES} bytes")
    return key


# -- statements built once (an upload runs a dozen: building and keying each anew cost more
# CPU than SQLite spent executing them) --------------------------------------------------

_NEW_ITEM = (
    items.insert()
    .values(
        {
            name: sa.bindparam(name)
            for name in (
                "dataset_id", "path", "storage_key", "size", "mimetype", "created_at", "updated_at"
            )
        }
    )
    .values(state="active", kind="file", downstream="put", preprocess_state="pending")
    .returning(items.c.id)
)  # fmt: skip
_NEW_PUT = (
    outbox_table.insert()
    .values(
        {
            name: sa.bindparam(name)
            for name in (
                "dataset_id", "item_id", "storage_key", "spool_key", "next_attempt_at", "error",
                "created_at",
            )
        }
    )
    .values(op="put", status="pending")
    .returning(outbox_table.c.id)
)  # fmt: skip
_NEW_ANNOUNCE = (
    outbox_table.insert()
    .values({name: sa.bindparam(name) for name in ("dataset_id", "item_id", "storage_key")})
    .values(
        op="announce",
        status="pending",
        next_attempt_at=sa.bindparam("now"),
        created_at=sa.bindparam("now"),
    )
)
_CLAIMED = (
    (outbox_table.c.id == sa.bindparam("entry_id"))
    & (outbox_table.c.status == "pending")
    & outbox_table.c.error.in_(downstream.RESERVED)
)
_PUT_DONE = (
    outbox_table.update()
    .where(_CLAIMED)
    .values(
        next_attempt_at=sa.bindparam("now"),
        error=None,
        status="done",
        applied_at=sa.bindparam("now"),
    )
)
_PUT_DUE = (
    outbox_table.update().where(_CLAIMED).values(next_attempt_at=sa.bindparam("now"), error=None)
)
_FINAL_VALUES = (
    "size", "sha256", "mimetype", "user_metadata", "mtime", "updated_at", "etag", "downstream",
)  # fmt: skip
_FINAL_ITEM = (
    items.update()
    .where(items.c.id == sa.bindparam("item_id"))
    .values({name: sa.bindparam(name) for name in _FINAL_VALUES})
    .values(
        state="active",
        deleted_at=None,
        vanished_at=None,
        preprocess_state="pending",
        preprocess_error=None,
        preprocessed_at=None,
        thumbnail_key=None,
        system_metadata=None,
    )
    .returning(items)
)


# -- the upload ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Reservation:
    """An upload's claim on its item and its put row, before the body arrives."""

    entry: dict  # the put row: id, item_id, storage_key, spool_key, error (the mark)
    previous: Mapping | None  # the item as it was before (None: new)
    dataset: Dataset

    @property
    def straight(self) -> bool:
        """Written straight to its key (a new file), not to a spool."""
        return self.entry["spool_key"] is None

    @property
    def owned(self) -> bool:
        """The key is Tributary's alone (the internal storage): whatever is there after a
        failed straight write is this upload's. In a driver's bucket only an object this
        upload is known to have written is."""
        return self.dataset.driver is None


def upload(
    catalog: Catalog,
    dataset: str,
    path: str,
    reader: Reader,
    *,
    size: int | None = None,
    sha256: str | None = None,
    content_type: str | None = None,
    metadata: Mapping | None = None,
    overwrite: bool = False,
    apply_now: bool = True,
) -> dict:
    """Upload one file to ``path`` (an item path, see ``check_upload_path``) of
    ``dataset``, streaming ``reader`` (``read(n)``, ``b""`` at the end).

    Returns ``{"status": "created" | "skipped" | "replaced", "item": record}``. Raises
    ``Conflict`` (other content at the path, no ``overwrite``), ``QuotaExceeded`` (before
    any byte is written), ``TooLarge``, ``InvalidInput`` (path, a body that disagrees with
    its ``size`` or ``sha256``). ``apply_now`` False leaves the bucket write to the drain
    (the body waits in the spool, a new file of the internal storage excepted).
    """
    item_path = check_upload_path(path)
    sha256 = _check_sha256(sha256)
    metadata = _check_metadata(metadata)
    limit = upload_max_bytes()
    if size is not None and size < 0:
        raise InvalidInput("the size of an upload is a number of bytes, zero or more")
    if size is not None and limit is not None and size > limit:
        raise TooLarge(f"{item_path} is {size} bytes; the upload limit is {limit} bytes")
    with catalog.begin() as conn:
        found = dataset_queries.get(conn, dataset)
    # Outside any transaction: the internal storage's driver is read in one of its own.
    store = open_dataset_store(found)
    key = storage_key(store, found, item_path)
    mimetype = mimetype_of_extension(item_path.rpartition("/")[2]) or _bare(content_type)
    with catalog.begin() as conn:
        existing = _item_at(conn, found.id, key)
        decision = _decide(conn, existing, sha256, overwrite, item_path)
        if decision == "skip":
            return _result("skipped", existing)
        if decision == "write":
            reservation = _reserve(
                conn,
                found,
                store,
                key,
                item_path,
                existing,
                size,
                mimetype,
                for_drain=not apply_now,
            )
    # A link JSON becomes a linked item (issue 11): its first bytes are kept to tell.
    sniffer = LinkSniffer(reader) if LinkSniffer.wanted(item_path) else None
    # MD5 only where it can tell the same content: an item without a SHA-256 whose etag
    # may be its MD5. A new file needs its SHA-256 alone.
    md5 = existing is not None and existing["state"] == "active" and not existing["sha256"]
    hashes = ("sha256", "md5") if md5 else ("sha256",)
    body = MeasuredReader(sniffer or reader, size=size, limit=limit, hashes=hashes)
    if decision == "hash":
        return _compare_only(catalog, existing, body, sha256, item_path)

    written = _write(catalog, store, reservation, body, size, content_type or mimetype)
    replacing = reservation.previous is not None and reservation.previous["state"] == "active"
    try:
        _check_hash(body, sha256)
        if replacing and _same_content(reservation.previous, body):  # overwrite, same file
            _release(catalog, store, reservation)
            return _compare_only(catalog, reservation.previous, body, sha256, item_path)
        with catalog.begin() as conn:
            row, due = _finalise(conn, reservation, body, written, mimetype, metadata)
            if sniffer is not None:
                row = link_items.settle_kind(conn, row, sniffer.link())
    except BaseException:
        _release(catalog, store, reservation)
        raise
    if due and apply_now:
        _apply_at_once(catalog, reservation.entry["id"])
        with catalog.begin() as conn:
            row = _item_by_id(conn, row["id"])
    status = "replaced" if replacing else "created"
    # Debug only: the access log has a line per request already, and a formatted line per
    # file cost more CPU than the catalog's part of a small upload.
    log.debug("Uploaded %s to dataset %s (%s, %d bytes)", item_path, dataset, status, body.position)
    return _result(status, row)


def _decide(
    conn: Connection, existing: Mapping | None, sha256: str | None, overwrite: bool, path: str
) -> str:
    """``write``, ``skip``, ``hash`` (read the body to compare, write nothing) — or raise
    ``Conflict``."""
    if existing is None or existing["state"] != "active":
        if existing is not None and existing["downstream"] == "put":
            raise Conflict(f"{path} is being uploaded by another request; try again shortly")
        return "write"  # new, or back after a delete or a vanished file
    if existing["downstream"] == "put":
        # Another upload of this path: still streaming (reserved), or finished and on its
        # way to the bucket — then the same content is the same file.
        if _reserved(conn, existing["id"]):
            raise Conflict(f"{path} is being uploaded by another request; try again shortly")
        if sha256 and existing["sha256"] == sha256:
            return "skip"
        raise Conflict(
            f"{path} is still being written to the bucket by an earlier upload; try again "
            "after the downstream sync"
        )
    if sha256 and existing["sha256"] == sha256:
        return "skip"
    if overwrite:
        return "write"
    if sha256 and existing["sha256"]:
        raise _conflict(path)
    return "hash"


def _conflict(path: str) -> Conflict:
    return Conflict(
        f"{path} already exists with other content; upload with overwrite to replace it"
    )


def _reserved(conn: Connection, item_id: int) -> bool:
    return (
        conn.execute(
            sa.select(outbox_table.c.id).where(
                (outbox_table.c.item_id == item_id)
                & (outbox_table.c.op == "put")
                & (outbox_table.c.status == "pending")
                & outbox_table.c.error.in_(downstream.RESERVED)
            )
        ).first()
        is not None
    )


def _compare_only(
    catalog: Catalog, existing: Mapping, body: MeasuredReader, sha256: str | None, path: str
) -> dict:
    """Hash the body (writing nothing): the same content is skipped (its SHA-256 recorded
    on the item, so the next upload skips without reading), other content a conflict."""
    body.drain()  # nothing read yet, or (after a write) already at its end
    _check_hash(body, sha256)
    if not _same_content(existing, body):
        raise _conflict(path)
    with catalog.begin() as conn:
        if existing["sha256"] is None:
            conn.execute(
                items.update()
                .where((items.c.id == existing["id"]) & items.c.sha256.is_(None))
                .values(sha256=body.hexdigest("sha256"))
            )
        return _result("skipped", _item_by_id(conn, existing["id"]))


def _same_content(item: Mapping, body: MeasuredReader) -> bool:
    """The body is the item's content: by SHA-256 when the item has one, else by size and
    MD5 where the bucket's etag is the content's MD5 (S3, GCS, Azure with Content-MD5)."""
    if item["sha256"]:
        return item["sha256"] == body.hexdigest("sha256")
    etag = (item["etag"] or "").lower()
    return (
        bool(_MD5.fullmatch(etag))
        and item["size"] == body.position
        and etag == body.hexdigest("md5")
    )


def _check_hash(body: MeasuredReader, sha256: str | None) -> None:
    if sha256 and body.hexdigest("sha256") != sha256:
        raise InvalidInput(
            f"the body's SHA-256 is {body.hexdigest('sha256')}, not the {sha256} given: "
            "the file changed or was damaged on the way"
        )


def _reserve(
    conn: Connection,
    dataset: Dataset,
    store: ObjectStore,
    key: str,
    item_path: str,
    existing: Mapping | None,
    size: int | None,
    mimetype: str | None,
    *,
    for_drain: bool = False,
) -> Reservation:
    """Claim the item and its put row; the quota is checked here, before any byte.
    ``for_drain``: a new file on a driver goes to the spool too (the drain writes it)."""
    if existing is None or existing["state"] == "deleted":  # a deleted item holds no point
        item_queries.check_quota(conn, dataset_id=dataset.id, dataset_name=dataset.name, needed=1)
    now = downstream.now_utc()
    if existing is None:
        # A concurrent upload of the same new path fails here (the path is unique): the
        # whole transaction is undone, nothing else was written in it yet.
        try:
            item_id = conn.execute(
                _NEW_ITEM,
                {
                    "dataset_id": dataset.id,
                    "path": item_path,
                    "storage_key": key,
                    "size": size or 0,
                    "mimetype": mimetype,
                    "created_at": now,
                    "updated_at": now,
                },
            ).scalar_one()
        except IntegrityError:
            raise Conflict(
                f"{item_path} is being uploaded by another request; try again shortly"
            ) from None
    else:
        item_id = existing["id"]
        conn.execute(items.update().where(items.c.id == item_id).values(downstream="put"))
    # A new file goes straight to its key: the item, committed before any byte, holds the
    # key (no other upload may write it) and shows it as waiting (a sync that lists the
    # key meanwhile changes nothing), and every store writes an object whole or not at all.
    # A file replacing content waits in the spool, so that the old bytes stay until the
    # whole body is there, and are replaced in outbox order.
    straight = existing is None and not (for_drain and dataset.driver is not None)
    spool = None if straight else downstream.spool_key(store, uuid.uuid4().hex)
    mark = downstream.RESERVED_NEW if existing is None else downstream.RESERVED_EXISTING
    # The put row, due only when the lease runs out (an uploader that died).
    entry_id = conn.execute(
        _NEW_PUT,
        {
            "dataset_id": dataset.id,
            "item_id": item_id,
            "storage_key": key,
            "spool_key": spool,
            "next_attempt_at": now + upload_lease(),
            "error": mark,
            "created_at": now,
        },
    ).scalar_one()
    entry = {
        "id": entry_id,
        "item_id": item_id,
        "storage_key": key,
        "spool_key": spool,
        "error": mark,
    }
    return Reservation(entry, previous=existing, dataset=dataset)


def _write(
    catalog: Catalog,
    store: ObjectStore,
    reservation: Reservation,
    body: MeasuredReader,
    size: int | None,
    content_type: str | None,
) -> ObjectInfo:
    """Stream the body to the spool (or straight to its key), keeping the lease alive."""
    entry = reservation.entry

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

    body.on_progress = extend_lease
    target = entry["storage_key"] if reservation.straight else entry["spool_key"]
    try:
        return store.write_stream(target, body, size=size, content_type=content_type)
    except BaseException:
        # The store wrote nothing (an aborted multipart upload, a temporary file removed);
        # on the internal storage the key is removed anyway, in case the write landed.
        _release(catalog, store, reservation, landed=False)
        raise


def _release(
    catalog: Catalog, store: ObjectStore, reservation: Reservation, *, landed: bool = True
) -> None:
    """Undo a reservation (the write failed, or the content was already there): the
    written object first, then the rows. A crash in between leaves the reservation to
    expire; the drain then finishes the undo. ``landed`` False: the write failed, so the
    object at a straight key in a driver's bucket is not this upload's to delete."""
    entry = reservation.entry
    if reservation.straight:
        with catalog.begin() as conn:
            if not downstream.still_reserved(conn, entry["id"]):
                return  # the drain undid it (lease over): the key may be another upload's
    try:
        # A spool's name is this upload's alone; a straight key is held by its new item.
        if not reservation.straight:
            store.delete(entry["spool_key"])
        elif landed or reservation.owned:
            store.delete(entry["storage_key"])
    except Exception:
        log.warning(
            "Could not delete the unfinished upload of %s", entry["storage_key"], exc_info=True
        )
        return  # the reservation expires and the drain deletes it
    with catalog.begin() as conn:
        downstream.release_reservation(conn, entry)


def _finalise(
    conn: Connection,
    reservation: Reservation,
    body: MeasuredReader,
    written: ObjectInfo,
    mimetype: str | None,
    metadata: dict | None,
) -> tuple[dict, bool]:
    """The upload is whole: the item takes its content; the put row is done (a new file,
    in place) or becomes due (a spooled one). Returns the item and whether the put is due.

    A file written straight to a driver's key while a sync of the dataset runs stays
    waiting, its put due: the sync may have listed the bucket before the file was there,
    and must not take the item for vanished. The drain finishes it after the sync."""
    entry = reservation.entry
    now = downstream.now_utc()
    dataset = reservation.dataset
    due = not reservation.straight or (
        dataset.driver is not None and downstream.sync_running(conn, dataset.id)
    )
    # Still this upload's (not abandoned by the drain for a lapsed lease): claimed here.
    claimed = conn.execute(_PUT_DUE if due else _PUT_DONE, {"entry_id": entry["id"], "now": now})
    if claimed.rowcount != 1:
        raise Conflict(
            "the upload made no progress for longer than TRIBUTARY_UPLOAD_LEASE_SECONDS and "
            "was abandoned; upload it again"
        )
    previous = reservation.previous or {}
    user_metadata = {**(previous.get("user_metadata") or {}), **(metadata or {})} or None
    row = dict(
        conn.execute(
            _FINAL_ITEM,
            {
                "item_id": entry["item_id"],
                "size": body.position,
                "sha256": body.hexdigest("sha256"),
                "mimetype": mimetype,
                "user_metadata": user_metadata,
                "mtime": written.last_modified,
                "updated_at": now,
                # A straight write: the etag the bucket gave the file (a later listing
                # shows the same one). A spooled one: the drain records it.
                "etag": written.etag if reservation.straight else None,
                "downstream": "put" if due else None,
            },
        )
        .mappings()
        .one()
    )
    if previous.get("thumbnail_key"):
        outbox.enqueue(
            conn,
            dataset_id=previous["dataset_id"],
            op="delete_thumbnail",
            storage_key=previous["thumbnail_key"],
            item_id=entry["item_id"],
            now=now,
        )
    conn.execute(
        _NEW_ANNOUNCE,
        {
            "dataset_id": row["dataset_id"],
            "item_id": row["id"],
            "storage_key": row["storage_key"],
            "now": now,
        },
    )
    return row, due


def _apply_at_once(catalog: Catalog, entry_id: int) -> None:
    """Try the put now (the drain retries whatever fails here)."""
    with catalog.begin() as conn:
        entry = (
            conn.execute(sa.select(outbox_table).where(outbox_table.c.id == entry_id))
            .mappings()
            .first()
        )
    if entry is None or entry["status"] != "pending":
        return
    try:
        outcome = downstream.apply_entry(catalog, dict(entry))
    except Exception:  # the upload itself is safe in the spool: never fail it here
        log.warning(
            "Writing %s now failed; the downstream sync retries it",
            entry["storage_key"],
            exc_info=True,
        )
        return
    if outcome != "applied":
        log.info("%s waits for the downstream sync (%s)", entry["storage_key"], outcome)


# -- small parts ---------------------------------------------------------------------------


def _item_at(conn: Connection, dataset_id: int, key: str) -> dict | None:
    query = sa.select(items).where(
        (items.c.dataset_id == dataset_id) & (items.c.storage_key == key)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    return dict(row) if row else None


def _item_by_id(conn: Connection, item_id: int) -> dict:
    return dict(conn.execute(sa.select(items).where(items.c.id == item_id)).mappings().one())


def _result(status: str, row: Mapping) -> dict:
    return {"status": status, "item": item_record(row)}


def _bare(content_type: str | None) -> str | None:
    """``text/plain; charset=utf-8`` → ``text/plain``."""
    if not content_type:
        return None
    return content_type.split(";", 1)[0].strip().lower() or None


def _check_sha256(sha256: str | None) -> str | None:
    if sha256 is None or sha256 == "":
        return None
    value = sha256.strip().lower()
    if not _SHA256.fullmatch(value):
        raise InvalidInput("a SHA-256 is 64 hexadecimal characters")
    return value


def _check_metadata(metadata: Mapping | None) -> dict | None:
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping):
        raise InvalidInput("user metadata is a JSON object (key → value)")
    try:
        checked = json.loads(json.dumps(dict(metadata)))
    except (TypeError, ValueError):
        raise InvalidInput("user metadata must be JSON (text keys, JSON values)") from None
    if any(not key for key in checked):
        raise InvalidInput("a user metadata key may not be empty")
    return checked or None
