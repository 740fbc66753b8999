"""A ``multipart/form-data`` body read part by part as it arrives: each file part is
handed to blocking code as a reader while the rest of the body is still on its way.
Nothing is spooled (Starlette's ``request.form()`` would write files to disk first)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from tributary.errors import InvalidInput
from tributary.storage.streams import BodyUnreadable

MAX_FIELD = 64 * 1024  # bytes of a plain (non-file) field


@dataclass
class Part:
    """One part's name, file name (None: a plain field) and content type."""

    name: str
    filename: str | None
    content_type: str | None


@dataclass
class _Events:
    """What the push parser reported during one ``write``."""

    items: list[tuple[str, object]] = field(default_factory=list)
    header_field: bytes = b""
    header_value: bytes = b""
    headers: dict[bytes, bytes] = field(default_factory=dict)

    def callbacks(self) -> dict[str, Callable]:
        def header_field(data, start, end):
            self.header_field += data[start:end]

        def header_value(data, start, end):
            self.header_value += data[start:end]

        def header_end():
            self.headers[self.header_field.lower()] = self.header_value
            self.header_field = self.header_value = b""

        def headers_finished():
            self.items.append(("begin", _part(self.headers)))
            self.headers = {}

        return {
            "on_header_field": header_field,
            "on_header_value": header_value,
            "on_header_end": header_end,
            "on_headers_finished": headers_finished,
            "on_part_data": lambda data, start, end: self.items.append(
                ("data", bytes(data[start:end]))
            ),
            "on_part_end": lambda: self.items.append(("end", None)),
        }


def _part(headers: dict[bytes, bytes]) -> Part:
    _, options = parse_options_header(headers.get(b"content-disposition", b""))
    name = options.get(b"name", b"").decode("utf-8", "replace")
    filename = options.get(b"filename")
    content_type = headers.get(b"content-type")
    return Part(
        name,
        filename.decode("utf-8", "replace") if filename is not None else None,
        content_type.decode("latin-1") if content_type else None,
    )


class PartReader:
    """``read(n)`` over one file part, from any thread; a reader that stops early (the
    upload was skipped or refused) lets the rest of the part be dropped."""

    def __init__(self, receive: anyio.abc.ObjectReceiveStream[bytes]) -> None:
        self._receive = receive
        self._token = anyio.lowlevel.current_token()
        self._left = b""
        self._done = False
        self.complete = False  # set when the part's end arrived: a body cut short is no file

    async def _next(self) -> bytes:
        try:
            return await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            if not self.complete:
                raise BodyUnreadable("the body ended inside a file part") from None
            return b""

    def close(self) -> None:
        self._receive.close()

    def read(self, n: int = -1, /) -> bytes:
        if not self._left and not self._done:
            self._left = anyio.from_thread.run(self._next, token=self._token)
            self._done = not self._left
        if n is None or n < 0 or n >= len(self._left):
            data, self._left = self._left, b""
        else:
            data, self._left = self._left[:n], self._left[n:]
        return data


async def _chunks(request: Request) -> AsyncIterator[bytes]:
    async for chunk in request.stream():
        if chunk:
            yield chunk


Handler = Callable[[Part, "PartReader", dict[str, str]], object]


class _Form:
    """The parts of one form as the parser reports them: plain fields collected, each
    file part streamed to ``handle`` in a worker thread, one file at a time."""

    def __init__(self, handle: Handler, tasks: anyio.abc.TaskGroup) -> None:
        self.handle = handle
        self.tasks = tasks
        self.fields: dict[str, str] = {}
        self.results: list[object] = []
        self.part: Part | None = None
        self.value = b""
        self.send: anyio.abc.ObjectSendStream[bytes] | None = None
        self.reader: PartReader | None = None
        self.done: anyio.Event | None = None

    async def event(self, kind: str, payload: object) -> None:
        if kind == "begin":
            await self._begin(payload)
        elif self.part is None:
            return
        elif kind == "data":
            await self._data(payload)
        elif kind == "end":
            await self._end()

    async def _begin(self, part: Part) -> None:
        self.part, self.value = part, b""
        if part.filename is not None:
            self.send, receive = anyio.create_memory_object_stream[bytes](1)
            self.reader, self.done = PartReader(receive), anyio.Event()
            self.tasks.start_soon(self._run, part, self.reader, dict(self.fields), self.done)

    async def _data(self, data: bytes) -> None:
        if self.send is None:
            self.value += data
            if len(self.value) > MAX_FIELD:
                raise InvalidInput(f"form field {self.part.name!r} is too long")
            return
        # A handler that stopped reading (a skip, a refusal) closed its end: drop the rest.
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
            await self.send.send(data)

    async def _end(self) -> None:
        if self.send is None:
            self.fields[self.part.name] = self.value.decode("utf-8", "replace")
        else:
            self.reader.complete = True
            self.send.close()
            await self.done.wait()  # one file at a time, in the body's order
            self.send = self.reader = self.done = None
        self.part = None

    def cut(self) -> None:
        """The body ended inside a file part: its reader fails (no short file is kept)."""
        if self.send is not None:
            self.send.close()

    async def _run(self, part: Part, reader: PartReader, fields: dict, done) -> None:
        try:
            self.results.append(await anyio.to_thread.run_sync(self.handle, part, reader, fields))
        except Exception as exc:
            self.results.append(exc)
        finally:
            reader.close()
            done.set()


async def each_file(request: Request, handle: Handler) -> list[object]:
    """Call ``handle(part, reader, fields)`` in a worker thread for each file part, one
    after another as they arrive (``fields``: the plain fields seen before it); returns
    what each call returned (an exception it raised is returned, not raised)."""
    _, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if not boundary:
        raise InvalidInput("the body must be multipart/form-data with a boundary")
    events = _Events()
    parser = MultipartParser(boundary, events.callbacks())
    async with anyio.create_task_group() as tasks:
        form = _Form(handle, tasks)
        async for chunk in _chunks(request):
            parser.write(chunk)
            for kind, payload in events.items:
                await form.event(kind, payload)
            events.items.clear()
        parser.finalize()
        form.cut()
    return form.results
