"""The safe URL fetcher: one for links, CSV uploads and streaming linked items.

A URL comes from a user, so fetching it must not reach what the user cannot: every
address is vetted by ``AddressPolicy`` *inside the connection* (``pinned.PinnedTransport``
resolves the host once, checks every address, and connects to the checked address while
TLS still verifies and sends SNI for the host name), so neither a redirect nor a DNS answer
that changes between check and connect (rebinding) gets past it. Around that:

- ``http``/``https`` only (``urls.url_problem``); the query string is sent exactly as given,
  so pre-signed S3/GCS/Azure SAS URLs keep their signature valid;
- redirects followed by hand, each target checked again, at most ``max_redirects`` (5);
- connect and read timeouts; a size cap (``TRIBUTARY_FETCH_MAX_BYTES``) checked against
  Content-Length before the body and against the bytes while streaming;
- retries with exponential backoff on 408/429/5xx and connection failures, honouring
  ``Retry-After`` up to ``max_retry_wait``;
- one pooled ``httpx.Client`` per fetcher, safe to share between threads; no proxy or
  certificate settings from the environment, no cookie jar (one user's cookie never rides
  along with another user's row);
- streamed: ``stream()`` yields chunks, ``read_range()`` a byte range (a server that ignores
  ``Range`` is read up to the range and closed), ``info()`` size, type and range support.

Errors are one line, their URL redacted (``redact.redact_url``); see ``ingest.errors``.
"""

from __future__ import annotations

import contextlib
import email.utils
import http.cookiejar
import io
import logging
import os
import random
import re
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import httpx

from tributary.ingest.addresses import AddressPolicy
from tributary.ingest.errors import (
    BadURL,
    CertificateRefused,
    FetchError,
    FetchTimeout,
    FetchUnreachable,
    HTTPStatus,
    TooLarge,
    TooManyRedirects,
    WrongContentType,
)
from tributary.ingest.pinned import PinnedTransport
from tributary.ingest.redact import redact_url
from tributary.ingest.urls import url_problem
from tributary.storage.ranged import BLOCK_BYTES, RangedFile

log = logging.getLogger(__name__)

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Content types that say nothing about the content: buckets serve objects uploaded without
# a type this way, so a caller's ``accept`` lets them through (the content is sniffed later).
GENERIC_TYPES = frozenset({"application/octet-stream", "binary/octet-stream"})
USER_AGENT = "tributary-fetcher/1"


@dataclass(frozen=True)
class FetchSettings:
    """Limits of one fetcher; ``from_env`` reads the ``TRIBUTARY_FETCH_*`` variables."""

    connect_timeout: float = 10.0
    read_timeout: float = 30.0  # between two reads, not for the whole body
    max_bytes: int = 1024**3
    max_redirects: int = 5
    retries: int = 3
    backoff: float = 0.5  # the first retry's wait; doubled each time, with jitter
    max_retry_wait: float = 30.0  # cap on backoff and on a server's Retry-After
    max_connections: int = 32

    @classmethod
    def from_env(cls) -> FetchSettings:
        """``TRIBUTARY_FETCH_MAX_BYTES`` (1 GiB), ``…_CONNECT_TIMEOUT`` (10 s),
        ``…_READ_TIMEOUT`` (30 s), ``…_RETRIES`` (3), ``…_MAX_CONNECTIONS`` (32)."""
        env = os.environ.get
        return cls(
            connect_timeout=float(env("TRIBUTARY_FETCH_CONNECT_TIMEOUT", cls.connect_timeout)),
            read_timeout=float(env("TRIBUTARY_FETCH_READ_TIMEOUT", cls.read_timeout)),
            max_bytes=int(env("TRIBUTARY_FETCH_MAX_BYTES", cls.max_bytes)),
            retries=int(env("TRIBUTARY_FETCH_RETRIES", cls.retries)),
            max_connections=int(env("TRIBUTARY_FETCH_MAX_CONNECTIONS", cls.max_connections)),
        )


@dataclass(frozen=True)
class RemoteInfo:
    """What a server says about a URL before its body: the URL after redirects, the size
    (None when unknown), the content type (without parameters) and range support."""

    url: str
    size: int | None
    content_type: str | None
    accepts_ranges: bool
    etag: str | None = None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    if value.isdigit():
        return float(value)
    with contextlib.suppress(TypeError, ValueError, IndexError):
        moment = email.utils.parsedate_to_datetime(value)
        return max(0.0, moment.timestamp() - time.time())
    return None


def _content_type(response: httpx.Response) -> str | None:
    value = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return value or None


def accepted_type(content_type: str | None, accept: Sequence[str]) -> bool:
    """Whether a server's ``content_type`` is one of ``accept`` (``image/jpeg``, a family
    ``image/`` or ``image/*``); an unnamed or octet-stream type passes (sniffed later)."""
    if content_type is None or content_type in GENERIC_TYPES:
        return True
    family = content_type.split("/", 1)[0] + "/"
    return any(a in (content_type, family, family + "*") for a in accept)


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.I)


class Fetcher:
    """Fetches http(s) URLs safely; one instance per process or task, shared by threads.

    ``policy`` decides which addresses may be reached (``AddressPolicy.from_env()`` by
    default: ``TRIBUTARY_FETCH_ALLOW``); ``settings`` the limits; ``sleep`` waits between
    retries (tests pass a recorder); ``ssl_context`` the trusted CAs (certifi's by default).
    Use it as a context manager, or ``close()`` it, to close its pooled connections.
    """

    def __init__(
        self,
        settings: FetchSettings | None = None,
        policy: AddressPolicy | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.settings = settings or FetchSettings.from_env()
        self.policy = policy or AddressPolicy.from_env()
        self._sleep = sleep
        limits = httpx.Limits(
            max_connections=self.settings.max_connections,
            max_keepalive_connections=self.settings.max_connections,
        )
        context = ssl_context or httpx.create_ssl_context(trust_env=False)
        self._client = httpx.Client(
            transport=PinnedTransport(self.policy, limits=limits, ssl_context=context),
            timeout=httpx.Timeout(
                connect=self.settings.connect_timeout,
                read=self.settings.read_timeout,
                write=self.settings.read_timeout,
                pool=max(60.0, self.settings.read_timeout),
            ),
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment: it would skip the checks
            # no cookie jar: one fetcher serves many users' rows, and a cookie one URL set
            # must not travel with another user's request
            cookies=http.cookiejar.CookieJar(
                http.cookiejar.DefaultCookiePolicy(allowed_domains=[])
            ),
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
        )

    def close(self) -> None:
        """Close the pooled connections."""
        self._client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @contextlib.contextmanager
    def stream(
        self,
        url: str,
        *,
        accept: Sequence[str] = (),
        start: int | None = None,
        end: int | None = None,
    ) -> Iterator[RemoteBody]:
        """The body of ``url`` as an iterable of chunks (``RemoteBody``, with ``info``).

        ``accept`` (e.g. ``("image/", "video/")``) refuses another content type with
        ``WrongContentType`` (an unnamed or octet-stream type passes). A Content-Length
        above the cap is refused before the body; a body growing past it while streaming
        too (``TooLarge``).

        ``start``/``end`` (inclusive; ``end`` None: to the last byte) ask for a byte range
        (``Range: bytes=start-end``). The server may answer 206 with the range
        (``body.status``, ``body.content_range``), 200 with the whole body (it ignores
        ``Range``: the caller skips what it did not want), or 416 (``HTTPStatus``). The
        cap then applies to the bytes sent, so a part of a large video streams.
        """
        headers = {}
        if start is not None or end is not None:
            first = start or 0
            headers["Range"] = f"bytes={first}-{'' if end is None else end}"
        with self._opened(url, headers) as (response, final_url):
            info = _info_of(response, final_url, asked_range=bool(headers))
            if accept and not accepted_type(info.content_type, accept):
                raise WrongContentType(
                    f"GET {redact_url(final_url)}: content type {info.content_type!r} "
                    f"is not {' or '.join(accept)}"
                )
            sent = info.size
            if response.status_code == 206:
                length = response.headers.get("content-length", "")
                sent = int(length) if length.isdigit() else None
            if sent is not None and sent > self.settings.max_bytes:
                raise self._too_large(final_url, f"announces {sent:,} bytes")
            yield RemoteBody(self, response, info)

    def info(self, url: str) -> RemoteInfo:
        """Size, content type and range support of ``url``, reading no body.

        Asks with a one-byte ranged GET rather than HEAD: a pre-signed URL is signed for
        GET only, and the ``Content-Range`` of the answer tells both size and support.
        """
        with self._opened(url, {"Range": "bytes=0-0"}, allow=(416,)) as (response, final):
            info = _info_of(response, final, asked_range=True)
            if response.status_code == 416:  # an empty object has no byte 0
                return RemoteInfo(final, 0, info.content_type, True, info.etag)
            return info

    def read_range(self, url: str, start: int, length: int) -> bytes:
        """Bytes ``start`` to ``start + length`` of ``url`` (fewer at the end of the body).

        A server that ignores ``Range`` answers 200 with the whole body: it is read up to
        the range's end and the connection closed, so the result is the same (at the cost
        of the bytes before ``start``, which count against the size cap).
        """
        if length <= 0:
            return b""
        end = start + length - 1
        with self._opened(url, {"Range": f"bytes={start}-{end}"}, allow=(416,)) as opened:
            response, final_url = opened
            if response.status_code == 416:
                return b""
            skip = 0
            if response.status_code == 206:
                match = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
                if match is None or int(match[1]) != start:
                    raise FetchError(f"GET {redact_url(final_url)}: the server sent another range")
            else:
                skip = start
            body = RemoteBody(self, response, _info_of(response, final_url))
            return body.read_span(skip, length)

    # -- the request loop ------------------------------------------------------------------

    @contextlib.contextmanager
    def _opened(
        self, url: str, headers: dict[str, str], *, allow: Sequence[int] = ()
    ) -> Iterator[tuple[httpx.Response, str]]:
        """A streamed 2xx (or ``allow``ed) response of ``url`` after redirects; closed after."""
        if not isinstance(url, str) or (problem := url_problem(url)):
            raise BadURL(problem or "a URL must be a string")
        current = url
        for _hop in range(self.settings.max_redirects + 1):
            response = self._send(current, headers)
            if response.status_code in REDIRECT_STATUSES:
                current = self._redirect_target(response, current)
                continue
            try:
                ok = 200 <= response.status_code < 300 or response.status_code in allow
                if not ok:  # an error, or a 1xx/3xx we do not follow (300, 304, …)
                    raise HTTPStatus(
                        f"GET {redact_url(current)}: HTTP {response.status_code}",
                        response.status_code,
                    )
                yield response, current
            finally:
                response.close()
            return
        raise TooManyRedirects(
            f"GET {redact_url(url)}: more than {self.settings.max_redirects} redirects"
        )

    def _redirect_target(self, response: httpx.Response, current: str) -> str:
        location = response.headers.get("location", "")
        response.close()
        if not location:
            raise TooManyRedirects(f"GET {redact_url(current)}: a redirect without Location")
        try:
            target = str(httpx.URL(current).join(location))
        except httpx.InvalidURL:
            raise BadURL(f"GET {redact_url(current)}: redirected to a malformed URL") from None
        if problem := url_problem(target):
            raise BadURL(f"GET {redact_url(current)}: redirected to {problem}")
        log.debug("Redirected from %s to %s", redact_url(current), redact_url(target))
        return target

    def _send(self, url: str, headers: dict[str, str]) -> httpx.Response:
        """One request with the retries: 408/429/5xx and connection failures."""
        for attempt in range(max(0, self.settings.retries) + 1):
            wait = None
            try:
                request = self._client.build_request("GET", url, headers=headers)
                response = self._client.send(request, stream=True)
            except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
                raise BadURL(f"GET {redact_url(url)}: {type(exc).__name__}") from None
            except httpx.TimeoutException as exc:
                failure: FetchError = FetchTimeout(f"GET {redact_url(url)}: {_timeout(exc)}")
            except httpx.TransportError as exc:
                if _certificate_failure(exc):
                    raise CertificateRefused(f"GET {redact_url(url)}: {_cause(exc)}") from None
                failure = FetchUnreachable(f"GET {redact_url(url)}: {_cause(exc)}")
            else:
                if response.status_code not in RETRY_STATUSES:
                    return response
                wait = _retry_after(response)
                response.close()
                failure = HTTPStatus(
                    f"GET {redact_url(url)}: HTTP {response.status_code}", response.status_code
                )
            if attempt == self.settings.retries:
                break
            self._pause(attempt, wait, url, failure)
        raise failure

    def _pause(self, attempt: int, retry_after: float | None, url: str, failure) -> None:
        backoff = self.settings.backoff * 2**attempt * random.uniform(0.5, 1.0)
        wait = min(self.settings.max_retry_wait, backoff if retry_after is None else retry_after)
        log.info("Retrying in %.1f s (%s)", wait, failure)
        self._sleep(wait)

    def _too_large(self, url: str, what: str) -> TooLarge:
        return TooLarge(
            f"GET {redact_url(url)}: {what}, above the cap of {self.settings.max_bytes:,} "
            "(TRIBUTARY_FETCH_MAX_BYTES)"
        )


class RemoteBody:
    """The chunks of one response body, the size cap enforced as they arrive.

    Iterate it once; ``info`` is what the headers said, ``bytes_read`` what came so far.
    """

    def __init__(self, fetcher: Fetcher, response: httpx.Response, info: RemoteInfo) -> None:
        self._fetcher, self._response, self.info = fetcher, response, info
        self.bytes_read = 0

    @property
    def status(self) -> int:
        """The HTTP status: 200, or 206 for a range."""
        return self._response.status_code

    @property
    def content_range(self) -> tuple[int, int] | None:
        """``(first, last)`` byte of a 206 answer (None for a 200)."""
        match = _CONTENT_RANGE.match(self._response.headers.get("content-range", ""))
        if self.status != 206 or match is None:
            return None
        return int(match[1]), int(match[2])

    def __iter__(self) -> Iterator[bytes]:
        cap = self._fetcher.settings.max_bytes
        shown = redact_url(self.info.url)
        try:
            # as the network delivers (at most 64 KiB a read): no re-chunking buffer
            for chunk in self._response.iter_bytes():
                self.bytes_read += len(chunk)
                if self.bytes_read > cap:
                    raise self._fetcher._too_large(self.info.url, "the body grows")
                yield chunk
        except httpx.TimeoutException as exc:
            raise FetchTimeout(
                f"GET {shown}: {_timeout(exc)} after {self.bytes_read:,} bytes"
            ) from None
        except httpx.TransportError as exc:
            raise FetchUnreachable(
                f"GET {shown}: connection lost after {self.bytes_read:,} bytes ({_cause(exc)})"
            ) from None

    def read_span(self, skip: int, length: int) -> bytes:
        """``length`` bytes after the first ``skip`` (fewer if the body ends first)."""
        out = bytearray()
        for chunk in self:
            if skip >= len(chunk):
                skip -= len(chunk)
                continue
            out += chunk[skip : skip + length - len(out)]
            skip = 0
            if len(out) >= length:
                break
        return bytes(out)


def open_ranged_url(
    fetcher: Fetcher,
    url: str,
    *,
    info: RemoteInfo | None = None,
    buffer_size: int = BLOCK_BYTES,
    **options,
) -> io.BufferedReader:
    """``url`` as a buffered, seekable file over ranged reads, for decoders that want a
    file (Pillow, PyAV): only the bytes they ask for move. ``options`` as for
    ``storage.ranged.RangedFile`` (``limit``, ``prefix``, ``before_read``).

    Check ``info.accepts_ranges`` first: on a server that ignores ``Range`` every read
    starts again from the first byte. The raw ``RangedFile`` is the result's ``raw``.
    """
    info = info or fetcher.info(url)
    if info.size is None:
        raise FetchError(f"GET {redact_url(url)}: the server does not say the size")
    raw = RangedFile(
        lambda offset, length: fetcher.read_range(url, offset, length), info.size, **options
    )
    return io.BufferedReader(raw, buffer_size)


def _info_of(response: httpx.Response, url: str, *, asked_range: bool = False) -> RemoteInfo:
    """What the headers say; a server that answered a ranged request with 200 ignored the
    range, whatever its Accept-Ranges claims."""
    headers = response.headers
    size: int | None = None
    ranged = response.status_code == 206
    if ranged and (match := _CONTENT_RANGE.match(headers.get("content-range", ""))):
        size = None if match[3] == "*" else int(match[3])
    elif not ranged and headers.get("content-length", "").isdigit():
        size = int(headers["content-length"])
    claims = headers.get("accept-ranges", "").strip().lower() == "bytes"
    accepts = ranged or (claims and not asked_range)
    return RemoteInfo(url, size, _content_type(response), accepts, headers.get("etag"))


def _timeout(exc: httpx.TimeoutException) -> str:
    kind = {
        httpx.ConnectTimeout: "connect",
        httpx.ReadTimeout: "read",
        httpx.WriteTimeout: "write",
        httpx.PoolTimeout: "pool",
    }.get(type(exc), "")
    return f"{kind} timeout".strip()


def _certificate_failure(exc: BaseException) -> bool:
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, ssl.SSLCertVerificationError):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def _cause(exc: Exception) -> str:
    # httpx messages carry no URL; keep them short and on one line
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]
