"""``MeasuredReader``: whole chunks from a trickling body, hashes, the declared size held."""

from __future__ import annotations

import hashlib
import io

import pytest

from tributary.errors import InvalidInput, TooLarge
from tributary.storage import streams
from tributary.storage.streams import MeasuredReader


class Trickle:
    """A body that gives at most 3 bytes per read, like a slow socket."""

    def __init__(self, data: bytes) -> None:
        self.data = io.BytesIO(data)

    def read(self, n: int = -1) -> bytes:
        return self.data.read(3 if n < 0 else min(n, 3))


def test_reads_are_filled_to_the_size_asked_and_hashed():
    data = bytes(range(256)) * 40
    reader = MeasuredReader(Trickle(data), size=len(data), hashes=("sha256", "md5"))

    chunks = []
    while chunk := reader.read(1000):
        chunks.append(chunk)

    assert [len(c) for c in chunks] == [1000] * 10 + [240]
    assert b"".join(chunks) == data
    assert reader.tell() == len(data)
    assert reader.hexdigest("sha256") == hashlib.sha256(data).hexdigest()
    assert reader.digest("md5") == hashlib.md5(data).digest()  # noqa: S324
    assert not reader.seekable()


def test_read_all_without_a_size():
    reader = MeasuredReader(Trickle(b"hello world"))

    assert reader.read() == b"hello world"
    assert reader.read() == b""


@pytest.mark.parametrize(
    ("data", "size", "message"),
    [
        pytest.param(b"12345", 3, "longer than the 3 bytes declared", id="longer"),
        pytest.param(b"12", 5, "ended after 2 of the 5 bytes declared", id="shorter"),
    ],
)
def test_a_body_that_disagrees_with_its_size_fails(data, size, message):
    reader = MeasuredReader(Trickle(data), size=size)

    with pytest.raises(InvalidInput, match=message):
        reader.drain()


def test_a_body_above_the_limit_is_too_large():
    reader = MeasuredReader(io.BytesIO(b"x" * 11), limit=10)

    with pytest.raises(TooLarge, match="limit of 10 bytes"):
        reader.drain(4)


def test_progress_is_reported_at_most_every_interval(monkeypatch):
    clock = iter(range(0, 1000, 20))  # each read is 20 "seconds" later
    monkeypatch.setattr(streams.time, "monotonic", lambda: next(clock))
    seen = []
    reader = MeasuredReader(io.BytesIO(b"x" * 10), on_progress=seen.append)

    reader.drain(1)

    assert seen and len(seen) < 11
    assert seen == sorted(seen)
