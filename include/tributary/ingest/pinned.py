"""Connections pinned to vetted addresses: the fetcher's defence against DNS rebinding.

A check of a host's addresses is worth nothing if the connection resolves the name again:
the second answer may differ (a rebinding DNS server answers a public address, then
127.0.0.1). So the resolution, the check and the connection are one step here:
``_PinnedBackend.connect_tcp`` asks ``AddressPolicy.vet`` (resolve once, check every
address) and connects to the vetted IP itself. Everything above the socket keeps the
host name: the Host header comes from the URL, and TLS sends SNI for the name and
verifies the certificate against it.
"""

from __future__ import annotations

import ssl
import time

import httpcore
import httpx

from tributary.ingest.addresses import AddressPolicy


class _PinnedBackend(httpcore.NetworkBackend):
    """Connects only to addresses the policy vetted, resolving each host once."""

    def __init__(self, policy: AddressPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self, host, port, timeout=None, local_address=None, socket_options=None
    ) -> httpcore.NetworkStream:
        failure: Exception | None = None
        for address in self._policy.vet(host, port):  # raises BlockedAddress
            try:  # an IP literal: the system resolver is not asked again
                return self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure or httpcore.ConnectError(f"no address for {host}")

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise httpcore.ConnectError("the fetcher does not use unix sockets")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class PinnedTransport(httpx.HTTPTransport):
    """``httpx.HTTPTransport`` whose connections go through ``_PinnedBackend``.

    httpx 0.28 takes no network backend, so the pool it builds is replaced by one with the
    same settings around ours (httpcore's public ``network_backend`` hook). TLS still gets
    the URL's host name: certificate checks and SNI are the host's, the socket the IP's.
    """

    def __init__(
        self, policy: AddressPolicy, *, limits: httpx.Limits, ssl_context: ssl.SSLContext
    ) -> None:
        super().__init__(verify=ssl_context, limits=limits, trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_PinnedBackend(policy),
        )
