"""The local-folder adapter: a directory on the filesystem is the bucket."""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tributary.config import listing_page_size
from tributary.storage.base import (
    AccessDenied,
    BucketNotFound,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    StorageError,
)


class LocalStore(ObjectStore):
    """Keys are paths relative to the root directory, with ``/`` separators.

    The etag is ``<size hex>-<mtime ns hex>``: it changes when the content is rewritten
    and survives a rename (which keeps size and mtime), at the cost of a stat, not a hash.
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
            if not self.root.is_dir():
                raise BucketNotFound(f"local folder {self.root} does not exist") from exc
            raise ObjectNotFound(f"{target} does not exist") from exc
        except PermissionError as exc:
            raise AccessDenied(f"{action} denied on {target} ({exc.strerror})") from exc
        except OSError as exc:
            if exc.errno == errno.EROFS:
                raise AccessDenied(f"{action} denied on {target}: read-only filesystem") from exc
            raise StorageError(f"{action} failed on {target}: {exc.strerror}") from exc

    def _check_root(self) -> None:
        if not self.root.is_dir():
            raise BucketNotFound(f"local folder {self.root} does not exist")

    def list_raw(self, prefix: str, *, recursive: bool = True) -> Iterator[list[ObjectInfo]]:
        self._check_root()
        page_size = listing_page_size()
        page: list[ObjectInfo] = []
        pending = [prefix]
        with self._errors("list", prefix):
            while pending:
                folder = pending.pop()
                directory = self.root / folder if folder else self.root
                if not directory.is_dir():
                    continue
                with os.scandir(directory) as entries:
                    for entry in entries:
                        key = f"{folder}{entry.name}"
                        if entry.is_dir(follow_symlinks=False):
                            if recursive:
                                pending.append(f"{key}/")
                            continue
                        stat = entry.stat()
                        page.append(_info(key, stat))
                        if len(page) >= page_size:
                            yield page
                            page = []
        if page:
            yield page

    def list_subprefixes(self, prefix: str) -> list[str]:
        self._check_root()
        directory = self.root / prefix if prefix else self.root
        if not directory.is_dir():
            return []
        with self._errors("list", prefix), os.scandir(directory) as entries:
            return [f"{prefix}{e.name}/" for e in entries if e.is_dir(follow_symlinks=False)]

    def head(self, key: str) -> ObjectInfo:
        with self._errors("get", key):
            return _info(key, (self.root / key).stat())

    def read(self, key: str, start: int = 0, length: int | None = None) -> bytes:
        with self._errors("get", key), open(self.root / key, "rb") as handle:
            handle.seek(start)
            return handle.read() if length is None else handle.read(length)

    def write(self, key: str, data: bytes, content_type: str | None = None) -> None:
        self._check_root()
        target = self.root / key
        with self._errors("put", key):
            target.parent.mkdir(parents=True, exist_ok=True)
            # Write beside the target and rename, so readers never see half a file.
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tributary-tmp-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                os.replace(tmp, target)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise

    def delete(self, key: str) -> None:
        self._check_root()
        with self._errors("delete", key), contextlib.suppress(FileNotFoundError):
            os.unlink(self.root / key)


def _info(key: str, stat: os.stat_result) -> ObjectInfo:
    return ObjectInfo(
        key=key,
        size=stat.st_size,
        etag=f"{stat.st_size:x}-{stat.st_mtime_ns:x}",
        last_modified=dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC),
    )
