"""A request body read by blocking code: the use cases and the providers' SDKs call
``read(n)`` from worker threads (boto3 from its own transfer threads), while the body
arrives on the event loop."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio.from_thread
import anyio.lowlevel
from starlette.requests import ClientDisconnect, Request

from tributary.storage.streams import BodyUnreadable

MAX_GATHER = 1024 * 1024  # bytes gathered on the loop for one read from a thread


class BodyReader:
    """``read(n)`` over a request's streamed body, callable from any thread.

    Made on the event loop (in an ``async`` route); the loop's token lets threads that
    anyio did not start (an SDK's transfer pool) reach it too. Never holds more than one
    received chunk: a 5 GB upload passes through, it never sits here.
    """

    def __init__(self, request: Request) -> None:
        self._chunks: AsyncIterator[bytes] = request.stream().__aiter__()
        self._token = anyio.lowlevel.current_token()
        self._left = b""
        self._done = False
        self.received = 0

    async def _next(self, want: int = 1) -> bytes:
        """At least ``want`` bytes as the chunks come (fewer only at the end of the body,
        ``b""`` there): one trip from a worker thread to the loop per read, however small
        the chunks the socket gives."""
        pieces: list[bytes] = []
        have = 0
        try:
            while have < want:
                chunk = await self._chunks.__anext__()
                pieces.append(chunk)
                have += len(chunk)
        except StopAsyncIteration:
            pass
        except ClientDisconnect:
            raise BodyUnreadable("the client went away before the whole body arrived") from None
        return b"".join(pieces)

    def read(self, n: int = -1, /) -> bytes:
        if not self._left and not self._done:
            want = n if n is not None and 0 < n <= MAX_GATHER else MAX_GATHER
            self._left = anyio.from_thread.run(self._next, want, token=self._token)
            self._done = not self._left
        if n is None or n < 0 or n >= len(self._left):
            data, self._left = self._left, b""
        else:
            data, self._left = self._left[:n], self._left[n:]
        self.received += len(data)
        return data

    async def drain(self) -> None:
        """Read and drop what is left (a skipped upload): the connection stays usable."""
        self._left = b""
        while not self._done:
            if not await self._next(MAX_GATHER):
                self._done = True


def lines_of(reader: BodyReader, chunk: int = 64 * 1024):
    """The body's lines (bytes, each with its ``\\n``), read ``chunk`` bytes at a time."""
    rest = b""
    while data := reader.read(chunk):
        rest += data
        *whole, rest = rest.split(b"\n")
        for line in whole:
            yield line + b"\n"
    if rest:
        yield rest
