"""The local-folder adapter: a directory on the filesystem is the bucket.

Three rules keep a sync inside its folder and alive whatever the folder holds:

* **Symbolic links are never followed**, neither to files nor to folders, inside the folder
  or out of it. A link is not an item: the listing skips it and reports it. Every path is
  opened one component at a time relative to its parent (``O_NOFOLLOW``), so a link swapped
  in mid-sync, or a ``.tributary`` hidden folder that is a link, cannot redirect a read or a
  write outside the folder; such a write fails naming the link. Only the root itself (the
  driver's bucket, or the internal storage) may be reached through a link: it is the
  operator's choice, not the folder's content.
* **One bad entry never stops a listing.** An entry that cannot be listed (a link, an
  unreadable folder, a FIFO, a socket, a device) is skipped, counted and logged; an entry
  deleted while it is listed is simply not listed. Only a root that is missing or unreadable
  fails the listing. Walking relative to open folders also lists trees deeper than PATH_MAX.
* **But a gap is never taken for a deletion.** A link or a special file is not an item,
  whatever happens. An unreadable folder, or an entry whose type cannot be read, may hold
  items: the listing goes on to its end and then raises ``PartialListing`` naming them,
  so that a sync ghosts nothing on its strength.
* **A local driver stays inside ``TRIBUTARY_LOCAL_ROOTS``** (``config.local_roots``): its
  folder, resolved through any link, must be one of those folders or under one, when the
  driver is created and again each time its store is opened (a catalog row older than the
  setting, or a folder re-pointed since, fails then). The internal storage is the operator's
  own setting and is not checked.
* **Names that are not valid UTF-8 keep their bytes**: each undecodable byte becomes
  ``%XX`` (upper-case hex, 80–FF) and, in such a name only, ``%`` becomes ``%25``. Valid
  names are never escaped. A key segment maps back to the literal name when it exists, else
  to the bytes it escapes; an escaped name that equals a sibling's literal name is skipped
  and reported, so two files never share a key.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import errno
import logging
import os
import re
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

from tributary.config import listing_page_size, outside_local_roots
from tributary.storage.base import (
    AccessDenied,
    BucketNotFound,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    PartialListing,
    StorageError,
)

log = logging.getLogger(__name__)

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a FIFO swapped in for a file must not hang a read (no effect on regular files).
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# A link met with O_NOFOLLOW: ELOOP on Linux, ENOTDIR with O_DIRECTORY on some kernels.
_LINK_ERRNOS = (errno.ELOOP, errno.ENOTDIR, errno.EMLINK)
# Per listing, this many skipped entries are logged one by one; the rest only counted.
LOGGED_SKIPS = 20
# Parts that could not be listed, named in the PartialListing error (the rest counted).
NAMED_GAPS = 3

# Bytes per read when a body is streamed to a file.
STREAM_CHUNK = 1024 * 1024

_ESCAPE = re.compile(r"%(25|[89A-F][0-9A-F])")


class LinkRefused(StorageError):
    """A write or delete would go through a symbolic link, which Tributary never follows."""

    permanent = True


class OutsideLocalRoots(AccessDenied):
    """A local driver's folder is outside ``TRIBUTARY_LOCAL_ROOTS``: no retry can fix it."""

    permanent = True


def check_local_root(folder: str) -> None:
    """Raise ``OutsideLocalRoots`` unless a local driver may use ``folder``."""
    if reason := outside_local_roots(folder):
        raise OutsideLocalRoots(reason)


def escape_name(name: str) -> str:
    """A file name as a key segment: itself when valid UTF-8, else its bytes escaped.

    ``name`` comes from the OS with undecodable bytes as lone surrogates (PEP 383).
    """
    if name.isascii():
        return name
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        pass
    return "".join(
        f"%{ord(c) - 0xDC00:02X}" if "\udc80" <= c <= "\udcff" else "%25" if c == "%" else c
        for c in name
    )


def unescape_name(segment: str) -> str | None:
    """The OS name a key segment escapes, or None when it is not an escaped name."""
    if "%" not in segment:
        return None
    raw = _ESCAPE.sub(lambda m: "%" if m[1] == "25" else chr(0xDC00 + int(m[1], 16)), segment)
    # Only names with an undecodable byte are escaped: a result without one is literal.
    return raw if raw != segment and escape_name(raw) == segment else None


class LocalStore(ObjectStore):
    """Keys are paths relative to the root directory, with ``/`` separators.

    The etag is ``<size>-<mtime ns>-<inode>`` in hex: a rename within the filesystem keeps
    all three, a rewrite changes the mtime or (write-and-rename saves) the inode, and two
    files that exist at once never share an inode, however coarse the clock. The device
    number is left out: it can change across reboots and remounts, and would then make
    every item look changed.
    """

    provider = "local"

    def __init__(self, bucket: str, prefix: str = "") -> None:
        super().__init__(bucket, prefix)
        self.root = Path(bucket)

    @property
    def location(self) -> str:
        return f"local folder {self.root / self.prefix}"

    @contextlib.contextmanager
    def _errors(self, action: str, key: str = "") -> Iterator[None]:
        target = f"{self.root}/{key}" if key else str(self.root)
        try:
            yield
        except FileNotFoundError as exc:
            raise ObjectNotFound(f"{target} does not exist") from exc
        except PermissionError as exc:
            raise AccessDenied(f"{action} denied on {target} ({exc.strerror})") from exc
        except OSError as exc:
            if exc.errno == errno.EROFS:
                raise AccessDenied(f"{action} denied on {target}: read-only filesystem") from exc
            raise StorageError(f"{action} failed on {target}: {exc.strerror}") from exc

    # -- walking without following links -------------------------------------------------

    def _open_root(self) -> int:
        try:
            return os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError as exc:
            raise BucketNotFound(f"local folder {self.root} does not exist") from exc
        except NotADirectoryError as exc:
            raise BucketNotFound(f"{self.root} is a file, not a folder") from exc
        except PermissionError as exc:
            raise AccessDenied(f"list denied on {self.root} ({exc.strerror})") from exc

    def _open_folder(self, segments: list[str], *, create: bool = False) -> int:
        """An fd of the folder at ``segments`` under the root, never through a link.

        Raises ``LinkRefused`` naming the first link on the way; with ``create``, missing
        folders are made (each inside the last one opened, so never outside the root).
        """
        fd = self._open_root()
        try:
            for depth, segment in enumerate(segments):
                name = _name_in(fd, segment)
                try:
                    child = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise
                    with contextlib.suppress(FileExistsError):  # a concurrent writer made it
                        os.mkdir(name, dir_fd=fd)
                    child = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    if exc.errno in _LINK_ERRNOS and _is_link(fd, name):
                        where = "/".join(segments[: depth + 1])
                        raise LinkRefused(
                            f"{self.root}/{where} is a symbolic link; Tributary does not follow "
                            "links (make it a real folder)"
                        ) from exc
                    raise
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _parent_of(self, key: str, *, create: bool = False) -> tuple[int, str]:
        """(fd of the key's folder, the on-disk name of its last segment)."""
        segments = _segments(key)
        if not segments:
            raise ObjectNotFound(f"{key!r} is not an object key")
        fd = self._open_folder(segments[:-1], create=create)
        return fd, _name_in(fd, segments[-1])

    # -- listing -------------------------------------------------------------------------

    def list_raw(self, prefix: str, *, recursive: bool = True) -> Iterator[list[ObjectInfo]]:
        os.close(self._open_root())  # a missing root is BucketNotFound, not an empty folder
        page_size = listing_page_size()
        page: list[ObjectInfo] = []
        skips = _Skips(f"{self.root}/{prefix}")
        pending = [prefix]
        try:
            while pending:
                folder = pending.pop()
                fd = self._open_listed(folder, prefix, skips)
                if fd is None:
                    continue
                try:
                    with self._errors("list", folder), os.scandir(fd) as entries:
                        for entry in entries:
                            info = self._listed(folder, fd, entry, skips, pending, recursive)
                            if info is None:
                                continue
                            page.append(info)
                            if len(page) >= page_size:
                                yield page
                                page = []
                finally:
                    os.close(fd)
            if page:
                yield page
        finally:
            skips.report()
        if skips.unlisted:
            raise PartialListing(self.location, skips.unlisted, skips.unlisted_count)

    def _open_listed(self, folder: str, prefix: str, skips: _Skips) -> int | None:
        """The folder to list, or None (skipped and reported, or vanished: nothing to list).

        Only the folder asked for at the driver's root may fail the listing: below it, one
        unreadable folder is one entry.
        """
        try:
            return self._open_folder(_segments(folder))
        except FileNotFoundError:
            return None  # not there (any more): nothing to list
        except (OSError, LinkRefused) as exc:
            if folder == prefix and prefix in ("", self.prefix):
                with self._errors("list", folder):
                    raise
            skips.add(folder, _reason(exc), unlisted=True)
            return None

    def _listed(
        self,
        folder: str,
        fd: int,
        entry: os.DirEntry,
        skips: _Skips,
        pending: list[str],
        recursive: bool,
    ) -> ObjectInfo | None:
        """One directory entry as an object, a folder to walk (None), or a reported skip."""
        name = escape_name(entry.name)
        key = f"{folder}{name}"
        try:
            if name is not entry.name and _exists(fd, name):
                skips.add(key, "escaped name equals a sibling's name")
                return None
            if entry.is_symlink():
                skips.add(key, "symbolic link (not followed)")
                return None
            if entry.is_dir(follow_symlinks=False):
                if recursive:
                    pending.append(f"{key}/")
                return None
            info = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            return None  # deleted while listed: simply not there
        except OSError as exc:
            skips.add(key, _reason(exc), unlisted=True)  # it may be an item: not known
            return None
        if not stat.S_ISREG(info.st_mode):
            skips.add(key, "not a regular file")
            return None
        return _info(key, info)

    def list_subprefixes(self, prefix: str) -> list[str]:
        try:
            fd = self._open_folder(_segments(prefix))
        except FileNotFoundError:
            return []
        except (OSError, LinkRefused):
            if prefix in ("", self.prefix):
                raise
            return []  # reported by the listing that walks into it
        try:
            with self._errors("list", prefix), os.scandir(fd) as entries:
                names = {e.name: escape_name(e.name) for e in entries if _is_real_dir(e)}
        finally:
            os.close(fd)
        # An escaped name that is also a sibling's literal name is the sibling's (see above).
        kept = {key for name, key in names.items() if key is name or key not in names}
        return [f"{prefix}{key}/" for key in kept]

    # -- objects -------------------------------------------------------------------------

    def head(self, key: str) -> ObjectInfo:
        with self._errors("get", key):
            fd, name = self._reading(key)
            try:
                info = os.stat(name, dir_fd=fd, follow_symlinks=False)
            finally:
                os.close(fd)
        if stat.S_ISLNK(info.st_mode):
            raise ObjectNotFound(f"{self.root}/{key} is a symbolic link (not followed)")
        if not stat.S_ISREG(info.st_mode):
            raise ObjectNotFound(f"{self.root}/{key} is not a file")
        return _info(key, info)

    def read(self, key: str, start: int = 0, length: int | None = None) -> bytes:
        with self._errors("get", key):
            parent, name = self._reading(key)
            try:
                fd = os.open(name, _READ_FLAGS, dir_fd=parent)
            except OSError as exc:
                if exc.errno in _LINK_ERRNOS and _is_link(parent, name):
                    raise ObjectNotFound(
                        f"{self.root}/{key} is a symbolic link (not followed)"
                    ) from exc
                raise
            finally:
                os.close(parent)
            with open(fd, "rb") as handle:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise ObjectNotFound(f"{self.root}/{key} is not a file")
                handle.seek(start)
                return handle.read() if length is None else handle.read(length)

    def _reading(self, key: str) -> tuple[int, str]:
        """The key's folder and name for a read: a link on the way means no such object."""
        try:
            return self._parent_of(key)
        except LinkRefused as exc:
            raise ObjectNotFound(str(exc)) from exc

    def write(self, key: str, data: bytes, content_type: str | None = None) -> None:
        with self._errors("put", key):
            parent, name = self._parent_of(key, create=True)
            try:
                # Write beside the target and rename, so readers never see half a file; the
                # rename replaces a link at the target itself, never what it points to.
                tmp = f".tributary-tmp-{uuid.uuid4().hex}"
                fd = os.open(tmp, _WRITE_FLAGS, 0o600, dir_fd=parent)
                try:
                    with open(fd, "wb") as handle:
                        handle.write(data)
                    os.replace(tmp, name, src_dir_fd=parent, dst_dir_fd=parent)
                except BaseException:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(tmp, dir_fd=parent)
                    raise
            finally:
                os.close(parent)

    def write_stream(
        self, key: str, reader, *, size: int | None = None, content_type: str | None = None
    ) -> ObjectInfo:
        body = self.measured(reader, size)
        with self._errors("put", key):
            parent, name = self._parent_of(key, create=True)
            try:
                with self._temporary(parent) as (folder, tmp):
                    fd = os.open(tmp, _WRITE_FLAGS, 0o666, dir_fd=folder)
                    with open(fd, "wb") as handle:
                        while chunk := body.read(STREAM_CHUNK):
                            handle.write(chunk)
                        handle.flush()
                        os.fsync(handle.fileno())
                    # The rename replaces a link at the target itself, never what it
                    # points to; readers see the old file or the new one, never half.
                    os.replace(tmp, name, src_dir_fd=folder, dst_dir_fd=parent)
                os.fsync(parent)  # the rename itself survives a power cut
                info = os.stat(name, dir_fd=parent, follow_symlinks=False)
            finally:
                os.close(parent)
        return _info(key, info)

    def copy(self, src_key: str, dst_key: str) -> ObjectInfo:
        if src_key == dst_key:
            return self.head(src_key)
        with self._errors("copy", src_key):
            source, source_name = self._reading(src_key)
            try:
                if not stat.S_ISREG(
                    os.stat(source_name, dir_fd=source, follow_symlinks=False).st_mode
                ):
                    raise ObjectNotFound(f"{self.root}/{src_key} is not a file")
                parent, name = self._parent_of(dst_key, create=True)
                try:
                    linked = self._link(source, source_name, parent, name)
                finally:
                    os.close(parent)
            finally:
                os.close(source)
        if not linked:  # a filesystem without hard links: copy the bytes
            fd = self._open_for_copy(src_key)
            with open(fd, "rb") as handle:
                return self.write_stream(dst_key, handle)
        return self.head(dst_key)

    def _link(self, source: int, source_name: str, parent: int, name: str) -> bool:
        """A hard link to the source renamed onto the target (a copy that costs no bytes:
        Tributary never writes a file in place, so the two never change together). False
        when the filesystem has no hard links here."""
        with self._temporary(parent) as (folder, tmp):
            try:
                os.link(
                    source_name, tmp, src_dir_fd=source, dst_dir_fd=folder, follow_symlinks=False
                )
            except OSError as exc:
                if exc.errno in (
                    errno.EPERM,
                    errno.EXDEV,
                    errno.ENOTSUP,
                    errno.EMLINK,
                    errno.ENOSYS,
                ):
                    return False
                raise
            os.replace(tmp, name, src_dir_fd=folder, dst_dir_fd=parent)
        os.fsync(parent)
        return True

    def _open_for_copy(self, key: str) -> int:
        with self._errors("copy", key):
            parent, name = self._reading(key)
            try:
                return os.open(name, _READ_FLAGS, dir_fd=parent)
            finally:
                os.close(parent)

    @contextlib.contextmanager
    def _temporary(self, parent: int) -> Iterator[tuple[int, str]]:
        """A fresh temporary name in the hidden folder's ``tmp/`` (beside the target when
        that folder is on another filesystem, where a rename cannot reach): yields (folder
        fd, name); the name is removed if it is still there at the end."""
        folder = self._open_folder(_segments(f"{self.hidden_prefix}tmp/"), create=True)
        if os.fstat(folder).st_dev != os.fstat(parent).st_dev:
            os.close(folder)
            folder = os.dup(parent)
        tmp = f".tributary-tmp-{uuid.uuid4().hex}"
        try:
            yield folder, tmp
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=folder)
            os.close(folder)

    def delete(self, key: str) -> None:
        with self._errors("delete", key):
            try:
                parent, name = self._parent_of(key)
            except FileNotFoundError:
                os.close(self._open_root())  # a missing root is still an error
                return
            try:
                # unlink never follows a link: a link at the key is removed, not its target.
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name, dir_fd=parent)
            finally:
                os.close(parent)


class _Skips:
    """Entries one listing left out: counted by reason, the first few logged by name; the
    first few that could not be listed (``unlisted``: they may hold items) kept by name."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.reasons: collections.Counter[str] = collections.Counter()
        self.unlisted: list[tuple[str, str]] = []
        self.unlisted_count = 0

    def add(self, key: str, reason: str, *, unlisted: bool = False) -> None:
        if self.reasons.total() < LOGGED_SKIPS:
            log.warning("Skipped %r: %s", key, reason)
        self.reasons[reason] += 1
        if unlisted:
            self.unlisted_count += 1
            if len(self.unlisted) < NAMED_GAPS:
                self.unlisted.append((key, reason))

    def report(self) -> None:
        if self.reasons:
            counts = ", ".join(f"{n} {reason}" for reason, n in self.reasons.most_common())
            log.warning(
                "Skipped %d entries listing %s: %s", self.reasons.total(), self.where, counts
            )


def _segments(key: str) -> list[str]:
    """A key (or a prefix ending in '/') as path segments; refuses any way out of the root."""
    parts = key.removesuffix("/").split("/") if key else []
    if any(part in ("", ".", "..") or "\0" in part for part in parts):
        raise ObjectNotFound(f"{key!r} is not a path inside the folder")
    return parts


def _name_in(fd: int, segment: str) -> str:
    """The on-disk name of a key segment in the folder ``fd``: the literal name when it
    exists (or nothing does), else the undecodable bytes it escapes."""
    raw = unescape_name(segment)
    if raw is None or _exists(fd, segment) or not _exists(fd, raw):
        return segment
    return raw


def _exists(fd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _is_link(fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _is_real_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _reason(exc: BaseException) -> str:
    if isinstance(exc, LinkRefused):
        return "symbolic link (not followed)"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc)


def _info(key: str, info: os.stat_result) -> ObjectInfo:
    return ObjectInfo(
        key=key,
        size=info.st_size,
        etag=f"{info.st_size:x}-{info.st_mtime_ns:x}-{info.st_ino:x}",
        last_modified=dt.datetime.fromtimestamp(info.st_mtime, dt.UTC),
    )
