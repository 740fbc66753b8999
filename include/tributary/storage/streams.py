"""A body on its way into storage: read in full chunks, counted, hashed, held to its size.

Every provider's SDK reads an upload with ``read(n)``, and each one assumes a short read
means the end (an S3 part shorter than 5 MiB that is not the last fails the upload, a GCS
chunk must be whole). A request body gives short reads whenever the network is slower
than the disk, so ``MeasuredReader`` fills each read up to ``n`` before returning it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Protocol

from tributary.errors import InvalidInput, TooLarge

# How often (seconds) ``on_progress`` hears about an upload that is still going.
PROGRESS_EVERY = 30.0


class BodyUnreadable(InvalidInput):
    """The upload body itself failed (the client went away mid-upload): not a storage
    error, and never mistaken for one by an adapter that maps OS errors."""

    permanent = True


class Reader(Protocol):
    """What an upload body is: ``read(n)`` gives at most ``n`` bytes, ``b""`` at the end."""

    def read(self, n: int = -1, /) -> bytes: ...


class MeasuredReader:
    """Reads ``reader`` for an SDK: whole chunks, a byte count (``tell``), hashes of what
    went through, and the declared ``size`` (or ``limit``) enforced as it goes.

    A body longer than declared, or one that ends before it, raises ``InvalidInput``; a
    body above ``limit`` raises ``TooLarge``; either aborts the SDK's upload, so no object
    is left behind. ``on_progress(bytes_read)`` is called at most every 30 seconds.
    """

    def __init__(
        self,
        reader: Reader,
        *,
        size: int | None = None,
        limit: int | None = None,
        hashes: tuple[str, ...] = (),
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        self._reader = reader
        self.size = size
        self.limit = limit
        self.position = 0
        self._hashes = {name: hashlib.new(name) for name in hashes}
        self.on_progress = on_progress
        self._reported_at = time.monotonic()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        # Not seekable: SDKs then read it front to back in chunks and never rewind.
        return False

    def tell(self) -> int:
        return self.position

    def hashes(self, name: str) -> bool:
        """Whether hash ``name`` is computed."""
        return name in self._hashes

    def hexdigest(self, name: str) -> str:
        """The hex digest of everything read so far with hash ``name``."""
        return self._hashes[name].hexdigest()

    def digest(self, name: str) -> bytes:
        """The raw digest of everything read so far with hash ``name``."""
        return self._hashes[name].digest()

    def read(self, n: int = -1, /) -> bytes:
        wanted = self._wanted(n)
        parts: list[bytes] = []
        got = 0
        while wanted is None or got < wanted:
            try:
                chunk = self._reader.read(-1 if wanted is None else wanted - got)
            except Exception as exc:
                raise BodyUnreadable(
                    f"the upload body could not be read after {self.position + got} bytes "
                    f"({type(exc).__name__}: {exc})"
                ) from exc
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
        data = b"".join(parts)
        self._account(data, ended=wanted is None or got < wanted)
        return data

    def _wanted(self, n: int) -> int | None:
        """How much to read: ``n``, or everything (None) for ``n < 0``; one byte past the
        declared size at most, so that a body longer than declared is noticed."""
        if n is None or n < 0:
            return None if self.size is None else self.size - self.position + 1
        if self.size is not None:
            return min(n, self.size - self.position + 1)
        return n

    def _account(self, data: bytes, *, ended: bool) -> None:
        self.position += len(data)
        if self.size is not None and self.position > self.size:
            raise InvalidInput(f"the body is longer than the {self.size} bytes declared")
        if self.limit is not None and self.position > self.limit:
            raise TooLarge(f"the file exceeds the upload limit of {self.limit} bytes")
        if ended and self.size is not None and self.position < self.size:
            raise InvalidInput(
                f"the body ended after {self.position} of the {self.size} bytes declared"
            )
        for hashed in self._hashes.values():
            hashed.update(data)
        if self.on_progress is not None and time.monotonic() - self._reported_at >= (
            PROGRESS_EVERY
        ):
            self._reported_at = time.monotonic()
            self.on_progress(self.position)

    def drain(self, chunk_size: int = 1024 * 1024) -> int:
        """Read to the end without keeping anything (to hash a body); returns its size."""
        while self.read(chunk_size):
            pass
        return self.position
