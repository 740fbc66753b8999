"""Errors of ingesting: fetching a URL, reading a link file, refusing a CSV import.

One line each, naming the problem; a URL in a message is always redacted
(``tributary.ingest.redact``) so a pre-signed URL's signature never reaches a log, an
error report or the UI. Every class declares ``permanent`` (see ``tributary.errors``).
"""

from __future__ import annotations

from tributary.errors import InvalidInput, TributaryError


class FetchError(TributaryError):
    """A URL could not be fetched."""

    permanent = False  # an unclassified network failure may pass


class BadURL(FetchError):
    """Not an http(s) URL with a host, or one we refuse to fetch (credentials in it)."""

    permanent = True


class BlockedAddress(FetchError):
    """The URL's host resolves to an address that is not public (loopback, private,
    link-local, cloud metadata, …) and ``TRIBUTARY_FETCH_ALLOW`` does not allow it."""

    permanent = True


class FetchUnreachable(FetchError):
    """The host could not be resolved or connected to."""

    permanent = False


class FetchTimeout(FetchError):
    """Connecting, or waiting for the next bytes, took longer than its timeout."""

    permanent = False


class HTTPStatus(FetchError):
    """The server answered with an error status (after the fetcher's own retries).

    ``permanent`` is decided per instance: a 404 stays a 404, a 503 may pass.
    """

    permanent = True

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status
        self.permanent = not (status in (408, 429) or status >= 500)


class CertificateRefused(FetchError):
    """The server's TLS certificate does not verify for the URL's host."""

    permanent = True  # retrying meets the same certificate


class TooLarge(FetchError):
    """The body is (or announces it is) bigger than the size cap."""

    permanent = True


class TooManyRedirects(FetchError):
    """More redirects than allowed (5), or a redirect without a usable Location."""

    permanent = True


class WrongContentType(FetchError):
    """The server's content type is not one the caller accepts."""

    permanent = True


class InvalidLink(InvalidInput):
    """A link file that says it is a link but cannot be read as one."""

    permanent = True


class CsvRefused(InvalidInput):
    """A CSV import refused as a whole (no ID column, not UTF-8, …): nothing was read."""

    permanent = True
