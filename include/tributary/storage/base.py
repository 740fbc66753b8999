"""The one storage interface every adapter implements, and the errors it raises."""

from __future__ import annotations

import abc
import datetime as dt
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from tributary.config import HIDDEN_FOLDER
from tributary.errors import TributaryError
from tributary.hooks.connections import ConnectionNotFound as NoSuchConnection
from tributary.storage.streams import MeasuredReader, Reader

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One listed object. ``key`` is the full storage key, prefix included."""

    key: str
    size: int
    etag: str | None
    last_modified: dt.datetime | None
    content_type: str | None = None


class StorageError(TributaryError):
    """A storage operation failed; the message names the problem in one line."""

    permanent = False  # a throttled or dropped request: worth a retry


class BucketNotFound(StorageError):
    """The bucket, container or directory does not exist."""

    permanent = True


class AccessDenied(StorageError):
    """The credentials are valid but lack a permission."""

    permanent = True


class BadCredentials(StorageError):
    """The credentials are missing, malformed or rejected."""

    permanent = True


class ConnectionNotFound(BadCredentials, NoSuchConnection):
    """The driver's Airflow connection does not exist, as a storage adapter finds out (in
    a task, or for a caller that did not ask first). One error with the use cases' own
    check: fatal to the probe as bad credentials are, and the CLI's hint applies."""

    permanent = True  # a person must add it

    def __init__(self, conn_id: str) -> None:
        super().__init__(f"Airflow has no connection {conn_id!r}", conn_id)


class Unreachable(StorageError):
    """The storage endpoint could not be reached."""

    permanent = False


class ObjectNotFound(StorageError):
    """The key does not exist."""

    permanent = False  # a file may vanish mid-sync; the next listing decides


class PartialListing(StorageError):
    """A listing ended with parts it could not list (an unreadable folder, an entry whose
    type could not be read).

    Raised after the last page: every object yielded before it is real, but what lies in
    the parts named is unknown, not gone, so nothing may be marked as vanished on the
    strength of this listing. ``parts`` holds the first few ``(key, reason)`` pairs and
    ``count`` how many there were. A consumer that does not expect it fails, which is the
    safe default.
    """

    permanent = False  # a folder may be readable again, an I/O error pass: worth a retry

    def __init__(self, where: str, parts: list[tuple[str, str]], count: int) -> None:
        named = ", ".join(f"{key!r} ({reason})" for key, reason in parts)
        more = f" and {count - len(parts)} more" if count > len(parts) else ""
        super().__init__(f"could not list {named}{more} under {where}")
        self.parts = parts
        self.count = count


class ObjectStore(abc.ABC):
    """A bucket (or container, or directory) seen as a flat key space.

    Adapters implement the raw operations; the listing rules shared by every provider
    (skip the hidden folder, skip folder markers, report data under a folder-like key) live
    here so no adapter can forget them.
    """

    provider: str = ""

    def __init__(self, bucket: str, prefix: str = "") -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.hidden_prefix = f"{prefix}{HIDDEN_FOLDER}/"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.bucket!r}, prefix={self.prefix!r})"

    @property
    def location(self) -> str:
        """Human-readable address of the store, for messages."""
        return f"{self.provider}://{self.bucket}/{self.prefix}"

    # -- listing -------------------------------------------------------------------------

    def list_pages(
        self,
        prefix: str,
        *,
        recursive: bool = True,
        on_skip: Callable[[ObjectInfo], None] | None = None,
    ) -> Iterator[list[ObjectInfo]]:
        """Stream the objects under ``prefix`` page by page, as items would be indexed.

        Keys in the hidden folder and zero-byte folder markers (keys ending in ``/``) are
        left out: they are never items. A key ending in ``/`` that holds data is left out
        too, but never silently: it is logged as a warning and passed to ``on_skip`` (the
        sync counts it on its run). Indexing it would give an item path ending in ``/``,
        which is a folder on the local provider and in every path a user types, so such an
        object could be neither downloaded by its name nor written back to a folder.
        Non-recursive listing returns only the objects directly under ``prefix``.

        Raises ``PartialListing`` after the last page when parts of the listing could not
        be listed (local folders: an unreadable sub-folder); a cloud listing either
        finishes or fails.
        """
        hidden = self.hidden_prefix
        for page in self.list_raw(prefix, recursive=recursive):
            kept = []
            for obj in page:
                if obj.key.startswith(hidden):
                    continue
                if obj.key.endswith("/"):
                    if obj.size:
                        self._skipped(obj, on_skip)
                    continue
                kept.append(obj)
            if kept:
                yield kept

    def _skipped(self, obj: ObjectInfo, on_skip: Callable[[ObjectInfo], None] | None) -> None:
        log.warning(
            "Not indexed: %s://%s/%s holds %d bytes but its key ends in '/', which no item "
            "path can; rename it to index it",
            self.provider,
            self.bucket,
            obj.key,
            obj.size,
        )
        if on_skip is not None:
            on_skip(obj)

    def list_folders(self, prefix: str) -> list[str]:
        """The sub-folders directly under ``prefix`` (full prefixes ending in ``/``).

        The hidden folder is not among them.
        """
        return sorted(p for p in self.list_subprefixes(prefix) if p != self.hidden_prefix)

    @abc.abstractmethod
    def list_raw(self, prefix: str, *, recursive: bool = True) -> Iterator[list[ObjectInfo]]:
        """Every object under ``prefix``, hidden folder and markers included, paged."""

    @abc.abstractmethod
    def list_subprefixes(self, prefix: str) -> list[str]:
        """Delimiter listing: the common prefixes one level below ``prefix``."""

    # -- objects -------------------------------------------------------------------------

    @abc.abstractmethod
    def head(self, key: str) -> ObjectInfo:
        """One object's listing facts (size, etag, …); ObjectNotFound when it is gone."""

    @abc.abstractmethod
    def read(self, key: str, start: int = 0, length: int | None = None) -> bytes:
        """The bytes of ``key`` from ``start``; ``length`` None reads to the end."""

    @abc.abstractmethod
    def write(self, key: str, data: bytes, content_type: str | None = None) -> None:
        """Create or replace ``key`` with ``data``."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Delete ``key``; deleting a missing key is not an error."""

    # -- streamed writes and copies (uploads, the downstream sync) ------------------------

    def write_stream(
        self,
        key: str,
        reader: Reader,
        *,
        size: int | None = None,
        content_type: str | None = None,
    ) -> ObjectInfo:
        """Create or replace ``key`` with the bytes ``reader`` gives, never holding the whole
        body: parts, blocks or resumable chunks above ``TRIBUTARY_UPLOAD_MULTIPART_THRESHOLD``
        (a temporary file renamed into place for local folders). The object appears whole
        or not at all. ``size``, when given, is enforced (a shorter or longer body fails).

        Returns the object's facts as a later listing shows them (the same etag), so a sync
        recognises the write as Tributary's own.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot stream writes")

    def copy(self, src_key: str, dst_key: str) -> ObjectInfo:
        """Copy ``src_key`` to ``dst_key`` inside the store, server-side (no bytes through
        this process), replacing ``dst_key``; returns ``dst_key``'s listing facts.
        ``ObjectNotFound`` when the source is missing."""
        raise NotImplementedError(f"{type(self).__name__} cannot copy")

    def measured(self, reader: Reader, size: int | None, hashes: tuple[str, ...] = ()):
        """``reader`` wrapped for an SDK (whole chunks, size enforced, ``hashes`` computed),
        unless it already is."""
        if isinstance(reader, MeasuredReader) and all(map(reader.hashes, hashes)):
            return reader
        return MeasuredReader(reader, size=size, hashes=hashes)


class CloudStore(ObjectStore):
    """A store reached through an Airflow connection (S3, Azure, GCS)."""

    def __init__(
        self, bucket: str, prefix: str = "", *, conn_id: str, storage_class: str = "standard"
    ) -> None:
        super().__init__(bucket, prefix)
        self.conn_id = conn_id
        self.storage_class = storage_class

    def connection_missing(self) -> bool:
        """True only when Airflow says the connection is defined nowhere; a lookup that
        fails otherwise (a secrets backend down) is no proof, so False."""
        from tributary.hooks.connections import connection_exists

        try:
            return not connection_exists(self.conn_id)
        except Exception:
            return False
