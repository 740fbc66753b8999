"""Platform edits with the seed's rules: delete, restore, move/rename, clone.

* **Delete** takes the item out of the dataset but keeps its record (state ``deleted``,
  the key remembered), so an upstream sync does not bring the same file back; a file with
  new content at that key revives it. The thumbnail goes (outbox ``delete_thumbnail``).
  The file goes too only where Tributary may delete it: a driver with ``allow_delete``
  (outbox ``delete``: ``"deleting"``) or the internal storage (``"internal"``); otherwise
  it stays in the bucket (``"kept"``). A clone on a driver shares its source's files, so
  it never deletes one (``"kept"``), and no delete removes a file that a live item of
  another dataset (a clone, an overlapping folder) still names.
* **Restore** brings a deleted item back while its file is still there: a delete still
  waiting in the outbox is withdrawn; one already applied cannot be undone.
* **Move/rename**: items of the internal storage only. A dataset on a driver mirrors its
  bucket: renaming there is the bucket's business (the next sync keeps the item, by
  content). The file is renamed in the internal storage (a hard link, then the catalog,
  then the old name goes: a crash leaves at most a stray file, never an item without one).
* **Clone**: internal → internal (the binaries are copied: each internal dataset is a
  folder of its own, so the clone cannot share them; on one filesystem the copy is a hard
  link, no bytes are copied), a dataset on a driver → a dataset on the same driver (the
  records only: "clone copies metadata, not binaries, where the storage is the same").
  Anything else is refused with the rule. A clone is never synced (``origin`` 'clone').
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from tributary.catalog import Catalog, item_edits
from tributary.catalog import datasets as dataset_queries
from tributary.catalog.datasets import CATALOG_SCOPE, Dataset
from tributary.errors import Conflict, DatasetNotFound, InvalidInput, QuotaExceeded, RuleRefused
from tributary.mimetype import mimetype_of_extension
from tributary.storage import ObjectStore, StorageError, open_dataset_store
from tributary.storage.base import ObjectNotFound
from tributary.storage.local import LocalStore
from tributary.usecases.datasets import describe_dataset
from tributary.usecases.items import item_record
from tributary.usecases.uploads import check_upload_path

MOVE_RULE = (
    "items of a dataset on a driver cannot be moved or renamed on the platform: rename the "
    "file in the bucket and the next sync keeps the item"
)
CLONE_PAGE = 1000


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# -- delete and restore --------------------------------------------------------------------


def bucket_file_fate(dataset: Dataset) -> str:
    """What deleting an item does to its file: ``deleting`` (queued for the bucket),
    ``kept`` (the driver does not allow deletes, or a clone shares the file) or
    ``internal`` (queued for the internal storage)."""
    if dataset.driver is None:
        return "internal"
    if dataset.driver.allow_delete and dataset.origin is None:
        return "deleting"
    return "kept"


def delete_item(catalog: Catalog, dataset: str, item_id: int) -> dict:
    """Delete an item on the platform: ``{"item": record, "bucket_file": fate}`` (see
    ``bucket_file_fate``). Deleting a deleted item changes nothing and says the same."""
    with catalog.begin() as conn:
        found = dataset_queries.get(conn, dataset)
        item = item_edits.item_row(conn, found.id, item_id, lock=True)
        fate = bucket_file_fate(found)
        if fate == "deleting" and item_edits.shared_elsewhere(conn, item, found.driver.id):
            fate = "kept"  # another dataset's item still names this file: never delete it
        if item["state"] != "deleted":
            if item["downstream"] == "put":
                raise Conflict(
                    f"{item['path']!r} is still being written to the bucket; delete it once "
                    "its upload is done"
                )
            item = item_edits.mark_deleted(
                conn, item, delete_key=fate in ("deleting", "internal"), now=_now()
            )
    return {"item": item_record(item), "bucket_file": fate}


def restore_item(catalog: Catalog, dataset: str, item_id: int) -> dict:
    """Bring a deleted item back (active, preprocessed again). Refused (``Conflict``) when
    its file is gone: deleted by the outbox, or no longer in the bucket."""
    with catalog.begin() as conn:
        found = dataset_queries.get(conn, dataset)
        item = item_edits.item_row(conn, found.id, item_id, lock=True)
        if item["state"] != "deleted":
            raise Conflict(f"{item['path']!r} is not deleted (it is {item['state']})")
        applied = item_edits.deletes_of(conn, item_id, item["deleted_at"]).get("done", 0)
        if applied:
            raise Conflict(_file_gone(found, item, "deleted"))
        # Withdrawn first, checked after: a delete the drain applies meanwhile is seen.
        withdrawn = item_edits.cancel_pending(conn, item_id, ("delete",))
    try:
        open_dataset_store(found).head(item["storage_key"])
    except BaseException as exc:
        with catalog.begin() as conn:  # no restore: the delete goes ahead as it was
            item_edits.requeue(conn, withdrawn)
        if isinstance(exc, ObjectNotFound):
            raise Conflict(_file_gone(found, item, "missing")) from None
        raise
    with catalog.begin() as conn:
        item = item_edits.item_row(conn, found.id, item_id, lock=True)
        if item["state"] != "deleted":  # restored (or revived by a sync) meanwhile
            return item_record(item)
        _check_quota(conn, found, needed=1, what=f"restoring {item['path']!r}")
        # Its thumbnail is made again: a removal not applied yet must not delete the new one.
        item_edits.cancel_pending(conn, item_id, ("delete_thumbnail",))
        return item_record(item_edits.mark_restored(conn, item, now=_now()))


def _file_gone(dataset: Dataset, item: dict, how: str) -> str:
    where = "the internal storage" if dataset.driver is None else "the bucket"
    if how == "deleted":
        return (
            f"{item['path']!r} cannot be restored: its file was deleted from {where}; "
            "upload it again"
        )
    return f"{item['path']!r} cannot be restored: its file is no longer in {where}"


def _check_quota(conn, dataset: Dataset | None, *, needed: int, what: str) -> None:
    """The catalog's and the dataset's (None: a new one) data-point quotas must hold
    ``needed`` more."""
    scopes = [CATALOG_SCOPE] + ([dataset_queries.quota_scope(dataset.id)] if dataset else [])
    for scope in scopes:
        usage = dataset_queries.quota_usage(conn, scope)
        if usage.available is not None and needed > usage.available:
            where = f"dataset {dataset.name!r}" if scope != CATALOG_SCOPE else "the catalog"
            raise QuotaExceeded(
                f"data-point quota exceeded for {where}: {what} needs {needed} data points, "
                f"{usage.available} available (quota {usage.limit}, {usage.used} in use); "
                "nothing was changed"
            )


# -- move / rename -------------------------------------------------------------------------


def move_item(catalog: Catalog, dataset: str, item_id: int, new_path: str) -> dict:
    """Move or rename an item of an internal dataset to ``new_path`` (``/a/b.jpg``; a
    path ending in ``/`` keeps the file name). ``RuleRefused`` on a driver's dataset,
    ``Conflict`` when the target path is taken."""
    with catalog.begin() as conn:
        found = dataset_queries.get(conn, dataset)
        if found.driver is not None:
            raise RuleRefused(MOVE_RULE)
        item = item_edits.item_row(conn, found.id, item_id)
    if item["state"] != "active":
        raise Conflict(f"{item['path']!r} is {item['state']}; only active items move")
    path = item_path(new_path, keep_name=item["path"].rpartition("/")[2])
    if path == item["path"]:
        return item_record(item)
    store = open_dataset_store(found)
    key = f"{store.prefix}{path[1:]}"
    with catalog.begin() as conn:
        _check_free(conn, found, path, key)
    _link(store, item["storage_key"], key, path)
    try:
        with catalog.begin() as conn:
            current = item_edits.item_row(conn, found.id, item_id, lock=True)
            if (current["storage_key"], current["state"]) != (item["storage_key"], "active"):
                raise Conflict(f"{item['path']!r} changed meanwhile; nothing was moved")
            _check_free(conn, found, path, key)
            mimetype = mimetype_of_extension(path.rpartition("/")[2]) or item["mimetype"]
            moved = item_edits.move(
                conn, current, path=path, storage_key=key, mimetype=mimetype, now=_now()
            )
    except BaseException:
        _remove(store, key)
        raise
    _remove(store, item["storage_key"])
    return item_record(moved)


def item_path(path: str, *, keep_name: str | None = None) -> str:
    """A checked item path ``/a/b.jpg``, by the rules uploads follow (``check_upload_path``:
    no ``..``, no empty segment, no control character, not in the hidden folder, …). A
    path ending in ``/`` is a folder: ``keep_name`` is appended (else refused)."""
    if not isinstance(path, str) or not path.strip():
        raise InvalidInput("give a path such as /folder/name.jpg")
    if path.endswith("/") and keep_name:
        path += keep_name
    return check_upload_path(path if path.startswith("/") else f"/{path}")


def _check_free(conn, dataset: Dataset, path: str, key: str) -> None:
    holder = item_edits.holder_of(conn, dataset.id, path=path, storage_key=key)
    if holder is not None:
        state = "" if holder["state"] == "active" else f" ({holder['state']})"
        raise Conflict(f"{path!r} is taken by item {holder['id']}{state} in {dataset.name!r}")


def _link(store: ObjectStore, old: str, new: str, path: str) -> None:
    """Give the file a second name ``new`` (never replacing one): a hard link in a local
    internal storage, else a copy."""
    if isinstance(store, LocalStore):
        source, target = _local_path(store, old), _local_path(store, new)
        target.parent.mkdir(parents=True, exist_ok=True)
        _local_path(store, new)  # the folders made must not have led outside either
        try:
            os.link(source, target, follow_symlinks=False)
        except FileExistsError:
            raise Conflict(f"{path!r}: a file is already there in the internal storage") from None
        except FileNotFoundError:
            raise Conflict(f"{old!r} is missing from the internal storage; not moved") from None
        return
    with contextlib.suppress(ObjectNotFound):
        store.head(new)
        raise Conflict(f"{path!r}: a file is already there in the internal storage")
    try:
        store.copy(old, new)  # server-side: no bytes through this process
    except ObjectNotFound:
        raise Conflict(f"{old!r} is missing from the internal storage; not moved") from None


def _remove(store: ObjectStore, key: str) -> None:
    with contextlib.suppress(ObjectNotFound):
        store.delete(key)


def _local_path(store: LocalStore, key: str) -> Path:
    """The file of ``key`` under the store's root, refusing a way out (a link on the way,
    a ``..``) and a file that is not a regular one."""
    root = store.root.resolve()
    path = root / key
    if ".." in key.split("/") or not path.parent.resolve().is_relative_to(root):
        raise InvalidInput(f"{key!r} leads outside the internal storage")
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISREG(os.lstat(path).st_mode):
            raise Conflict(f"{key!r} is not a regular file in the internal storage")
    return path


# -- clone ---------------------------------------------------------------------------------


def clone_dataset(catalog: Catalog, source: str, target: str, *, driver: str | None = None):
    """Clone ``source`` into a new dataset ``target``: its active items with their
    metadata and descriptions. Returns the new dataset (``describe_dataset``'s shape, with
    ``origin``). The quotas are checked before anything is copied."""
    with catalog.begin() as conn:
        origin = dataset_queries.get(conn, source)
        _check_clone_rule(origin, driver)
        if _exists(conn, target):
            raise Conflict(f"dataset {target!r} already exists")
        needed = item_edits.active_count(conn, origin.id)
        _check_quota(conn, None, needed=needed, what=f"cloning {source!r}")
    copied = _copy_internal_files(catalog, origin, target) if origin.driver is None else None
    try:
        with catalog.begin() as conn:
            made = dataset_queries.create(
                conn,
                name=target,
                driver_name=origin.driver.name if origin.driver else None,
                sync_enabled=False,
                folder=origin.folder,
                ghost_grace_days=origin.ghost_grace_days,
                mass_delete_threshold=origin.mass_delete_threshold,
                lane=origin.lane,
            )
            item_edits.set_origin(conn, made.id, origin="clone", detail=f"clone of {source!r}")
            _check_quota(conn, None, needed=needed, what=f"cloning {source!r}")
            item_edits.clone_items(
                conn,
                source_id=origin.id,
                target_id=made.id,
                now=_now(),
                max_id=copied.last_id if copied else None,
                keys=(copied.source_prefix, copied.target_prefix) if copied else None,
            )
    except BaseException:
        if copied:
            copied.undo()
        raise
    report = describe_dataset(catalog, target).as_dict()
    return {**report, "origin": "clone", "origin_detail": f"clone of {source!r}"}


def _check_clone_rule(origin: Dataset, driver: str | None) -> None:
    if origin.driver is None and driver is not None:
        raise RuleRefused(
            f"dataset {origin.name!r} is in the internal storage: it clones into the "
            f"internal storage only, not onto driver {driver!r}"
        )
    if origin.driver is not None and driver not in (None, origin.driver.name):
        raise RuleRefused(
            f"dataset {origin.name!r} is on driver {origin.driver.name!r}: it clones onto "
            f"that driver only (a clone copies metadata, not binaries, so the storage must "
            f"be the same), not onto {driver!r}"
        )


def _exists(conn, name: str) -> bool:
    try:
        dataset_queries.get(conn, name)
    except DatasetNotFound:
        return False
    return True


@dataclass
class _InternalCopy:
    """The files an internal clone was given: the last source item id copied, and the key
    prefixes of the two datasets (one folder each in the internal storage)."""

    store: ObjectStore
    source_prefix: str
    target_prefix: str
    last_id: int = 0

    def target_key(self, key: str) -> str:
        return self.target_prefix + key[len(self.source_prefix) :]

    def undo(self) -> None:
        """Remove what was copied (best effort: the clone failed, nothing refers to it)."""
        if isinstance(self.store, LocalStore):
            # The clone's own folder: the store's root is the whole internal storage when
            # that is a local driver (TRIBUTARY_STORAGE_DRIVER).
            shutil.rmtree(self.store.root / self.target_prefix, ignore_errors=True)
            return
        with contextlib.suppress(StorageError):
            for page in self.store.list_raw(self.target_prefix):
                for obj in page:
                    if obj.key.startswith(self.target_prefix):
                        self.store.delete(obj.key)


def _copy_internal_files(catalog: Catalog, origin: Dataset, target: str) -> _InternalCopy:
    """Give the clone's internal folder the source's files, page by page: hard links in a
    local internal storage (copies where the filesystem cannot link), server-side copies
    in a bucket. Refused when the target folder already holds files."""
    source = open_dataset_store(origin)
    store = open_dataset_store(Dataset(id=0, name=target, driver=None, sync_enabled=False))
    copied = _InternalCopy(store, source.prefix, store.prefix)
    if next(iter(store.list_raw(store.prefix)), None):
        raise Conflict(f"the internal folder of {target!r} already holds files ({store.location})")
    try:
        while True:
            with catalog.begin() as conn:
                page = item_edits.active_keys(
                    conn, origin.id, after_id=copied.last_id, limit=CLONE_PAGE
                )
            for item_id, key in page:
                _copy_file(source, key, store, copied.target_key(key))
                copied.last_id = item_id
            if len(page) < CLONE_PAGE:
                return copied
    except BaseException:
        copied.undo()
        raise


def _copy_file(source: ObjectStore, key: str, target: ObjectStore, target_key: str) -> None:
    if isinstance(source, LocalStore) and isinstance(target, LocalStore):
        _copy_local(_local_path(source, key), _local_path(target, target_key))
        return
    try:
        source.copy(key, target_key)  # server-side, in the internal storage's one bucket
    except ObjectNotFound:
        raise Conflict(f"{key!r} is missing from the internal storage; nothing cloned") from None


def _copy_local(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target, follow_symlinks=False)
    except FileNotFoundError:
        raise Conflict(f"{source} is missing from the internal storage; nothing cloned") from None
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
            raise
        shutil.copyfile(source, target, follow_symlinks=False)
