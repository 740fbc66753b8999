"""A read-only, seekable file over ranged reads of one object, with a cap on what it reads.

Decoders (Pillow, FFmpeg) want a file; a bucket gives ranged GETs. ``RangedFile`` turns one
into the other so a decoder moves only the bytes it asks for — a video's index at the end,
an image's header — instead of the whole object. Preprocessing and the URL fetcher share it.

Three things a caller can rely on whatever the decoder does with the errors it sees:

- **a cap**: at most ``limit`` bytes are transferred in all (re-reads after a seek count
  again, so a decoder seeking in a loop is stopped too); past it, ``ReadLimitExceeded``;
- **a hook before every transfer** (``before_read``), e.g. a deadline check, so a decoder
  that keeps reading can be stopped between reads;
- **``failure``**: the first exception a read raised. Decoders sometimes catch an I/O error
  and raise their own ("image file is truncated"); the caller asks ``failure`` to learn
  that the real cause was the storage, the cap or the hook.
"""

from __future__ import annotations

import io
from collections.abc import Callable

from tributary.errors import TributaryError
from tributary.storage.base import ObjectStore

# One transfer per block: large enough that a photo is one or two requests to a bucket,
# small enough that four threads' buffers do not matter.
BLOCK_BYTES = 4 * 1024 * 1024

RangeReader = Callable[[int, int], bytes]


class ReadLimitExceeded(TributaryError):
    """A reader was asked for more bytes than its cap allows."""

    permanent = True  # the same bytes would be asked for again


class RangedFile(io.RawIOBase):
    """A read-only, seekable raw file of ``size`` bytes served by ``read(offset, length)``.

    ``prefix`` holds the object's first bytes when the caller already has them (a sniffed
    head): they are served without another transfer, and count towards ``limit``.
    """

    def __init__(
        self,
        read: RangeReader,
        size: int,
        *,
        limit: int | None = None,
        prefix: bytes = b"",
        before_read: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self._read, self.size, self.limit = read, size, limit
        self._prefix, self._before_read = prefix[:size], before_read
        self.position = 0
        self.transferred = len(self._prefix)
        self.failure: BaseException | None = None

    @classmethod
    def of_object(cls, store: ObjectStore, key: str, size: int, **options) -> RangedFile:
        """A ranged file over ``key`` of ``store`` (``options`` as for the constructor)."""
        return cls(lambda offset, length: store.read(key, offset, length), size, **options)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence not in (io.SEEK_SET, io.SEEK_CUR, io.SEEK_END):
            raise ValueError(f"invalid whence {whence}")
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def readinto(self, buffer) -> int:
        wanted = min(len(buffer), self.size - self.position)
        if wanted <= 0:
            return 0
        if self.position < len(self._prefix):
            data = self._prefix[self.position : self.position + wanted]
        else:
            data = self._transfer(self.position, wanted)
        buffer[: len(data)] = data
        self.position += len(data)
        return len(data)

    def readall(self) -> bytes:
        """The rest of the object in as few transfers as the cap allows (RawIOBase would
        ask in 8 KB requests, and ``read(n)`` would allocate ``n`` bytes up front)."""
        chunks = []
        while self.position < self.size:
            wanted = self.size - self.position
            if self.limit is not None and self.position >= len(self._prefix):
                wanted = min(wanted, max(1, self.limit - self.transferred))
            if not (chunk := self.read(wanted)):
                break
            chunks.append(chunk)
        return b"".join(chunks)

    def _transfer(self, offset: int, wanted: int) -> bytes:
        try:
            if self._before_read is not None:
                self._before_read()
            if self.limit is not None:
                allowed = self.limit - self.transferred
                if allowed <= 0:
                    raise ReadLimitExceeded(
                        f"needs more than {self.limit:,} bytes of its {self.size:,} "
                        "(the read limit)"
                    )
                wanted = min(wanted, allowed)
            data = self._read(offset, wanted)
        except BaseException as exc:
            if self.failure is None:
                self.failure = exc
            raise
        self.transferred += len(data)
        return data


def open_ranged(
    store: ObjectStore, key: str, size: int, *, buffer_size: int = BLOCK_BYTES, **options
) -> io.BufferedReader:
    """``key`` of ``store`` as a buffered, seekable file (``options`` as for RangedFile).

    The raw ``RangedFile`` stays reachable as the result's ``raw`` (for ``failure``).
    """
    return io.BufferedReader(RangedFile.of_object(store, key, size, **options), buffer_size)
