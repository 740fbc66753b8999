"""The ranged-read file: seekable, reads only what is asked, stops at its cap, and
remembers the first failure of a read whatever a decoder makes of it."""

from __future__ import annotations

import contextlib
import io

import pytest

from tributary.storage.base import Unreachable
from tributary.storage.local import LocalStore
from tributary.storage.ranged import RangedFile, ReadLimitExceeded, open_ranged

DATA = bytes(range(256)) * 40  # 10,240 bytes


class Recorder:
    """A range reader over DATA that records every transfer."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.calls: list[tuple[int, int]] = []
        self.fail_at = fail_at

    def __call__(self, offset: int, length: int) -> bytes:
        self.calls.append((offset, length))
        if self.fail_at is not None and offset <= self.fail_at < offset + length:
            raise Unreachable("connection reset")
        return DATA[offset : offset + length]


def test_reads_seeks_and_tells_like_a_file():
    raw = RangedFile(Recorder(), len(DATA))
    file = io.BufferedReader(raw, 1024)
    assert file.read(4) == DATA[:4]
    assert file.seek(-10, io.SEEK_END) == len(DATA) - 10
    assert file.read() == DATA[-10:]
    file.seek(5000)
    assert file.tell() == 5000 and file.read(3) == DATA[5000:5003]
    assert file.seekable() and file.readable()
    with pytest.raises(ValueError):
        raw.seek(0, 7)


def test_the_prefix_is_served_without_a_transfer():
    reader = Recorder()
    file = io.BufferedReader(RangedFile(reader, len(DATA), prefix=DATA[:100]), 1024)
    assert file.read(50) == DATA[:50]
    assert reader.calls == []
    assert file.read(100) == DATA[50:150]
    assert reader.calls == [(100, 1024)]


def test_read_all_is_one_transfer_not_8_kb_requests():
    reader = Recorder()
    assert RangedFile(reader, len(DATA)).readall() == DATA
    assert reader.calls == [(0, len(DATA))]


def test_the_cap_counts_every_transfer_and_stops_at_it():
    reader = Recorder()
    raw = RangedFile(reader, len(DATA), limit=3000)
    file = io.BufferedReader(raw, 1024)
    assert file.read(2000) == DATA[:2000]
    file.seek(0)  # a re-read counts again: a decoder seeking in a loop is stopped too
    with pytest.raises(ReadLimitExceeded, match="more than 3,000 bytes of its 10,240"):
        file.read(2000)
    assert raw.transferred == 3000 and isinstance(raw.failure, ReadLimitExceeded)


def test_exactly_the_cap_is_allowed():
    assert RangedFile(Recorder(), len(DATA), limit=len(DATA)).readall() == DATA


def test_read_all_past_the_cap_fails_without_allocating_the_rest():
    raw = RangedFile(Recorder(), 10**12, limit=100)  # a terabyte: never allocated
    with pytest.raises(ReadLimitExceeded):
        raw.readall()


def test_a_failed_read_is_remembered_even_if_the_caller_swallows_it():
    raw = RangedFile(Recorder(fail_at=5000), len(DATA))
    file = io.BufferedReader(raw, 1024)
    file.seek(4900)
    with contextlib.suppress(Unreachable):  # as a decoder might, raising its own instead
        file.read(200)
    assert isinstance(raw.failure, Unreachable)


def test_the_hook_runs_before_every_transfer_and_can_stop_it():
    calls = []

    def hook():
        calls.append(1)
        if len(calls) > 1:
            raise TimeoutError("time is up")

    reader = Recorder()
    raw = RangedFile(reader, len(DATA), before_read=hook)
    raw.read(1024)
    with pytest.raises(TimeoutError):
        raw.read(1024)
    assert len(reader.calls) == 1 and isinstance(raw.failure, TimeoutError)


def test_over_a_store(tmp_path):
    (tmp_path / "a.bin").write_bytes(DATA)
    file = open_ranged(LocalStore(str(tmp_path)), "a.bin", len(DATA), limit=len(DATA))
    file.seek(1000)
    assert file.read(10) == DATA[1000:1010]
    assert file.raw.transferred <= len(DATA)
