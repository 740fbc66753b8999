"""Fixtures of the ingest tests: a tripwire on every socket connection and name lookup
(nothing but loopback, ever), the local HTTP server and a fetcher allowed to reach it."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from tests.ingest.http_server import TestServer
from tributary.ingest.addresses import AddressPolicy
from tributary.ingest.fetch import Fetcher, FetchSettings

_create_connection = socket.create_connection
_getaddrinfo = socket.getaddrinfo


def _loopback(host) -> bool:
    try:
        return ipaddress.ip_address(str(host).strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


@pytest.fixture(autouse=True)
def tripwire(monkeypatch):
    """Fail any test that would connect to, or look up, anything but loopback."""
    attempts: list[tuple] = []

    def create_connection(address, *args, **kwargs):
        attempts.append(address)
        if not _loopback(address[0]):
            raise AssertionError(f"the test tried to connect to {address}")
        return _create_connection(address, *args, **kwargs)

    def getaddrinfo(host, *args, **kwargs):
        if not _loopback(host):
            raise AssertionError(f"the test tried to resolve {host!r}")
        return _getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", create_connection)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return attempts


@pytest.fixture(scope="module")
def server():
    with TestServer() as running:
        yield running


class FakeResolver:
    """Host names → addresses from a dict; records every lookup."""

    def __init__(self, table: dict[str, list[str]] | None = None) -> None:
        self.table = dict(table or {})
        self.lookups: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        key = host.lower().rstrip(".")
        if key not in self.table:
            raise socket.gaierror(f"[Errno -2] Name or service not known: {host}")
        return self.table[key]


@pytest.fixture
def resolver() -> FakeResolver:
    return FakeResolver()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def settings() -> FetchSettings:
    return FetchSettings(
        connect_timeout=2, read_timeout=0.5, max_bytes=1_000_000, retries=2, backoff=0.01
    )


@pytest.fixture
def fetcher(monkeypatch, resolver, settings, sleeps):
    """A fetcher allowed to reach 127.0.0.1 through TRIBUTARY_FETCH_ALLOW, as in the docs."""
    monkeypatch.setenv("TRIBUTARY_FETCH_ALLOW", "127.0.0.1")
    with Fetcher(settings, AddressPolicy.from_env(resolver), sleep=sleeps.append) as fetching:
        yield fetching
