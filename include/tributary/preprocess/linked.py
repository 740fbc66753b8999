"""Preprocessing a linked item: its URL read through the safe fetcher, the way ``describe``
reads a file — the same rules, the same metadata and thumbnail, no second pipeline.

Only the ``Source`` differs. Where the server serves byte ranges (``Fetcher.info`` asks
with a one-byte range), ``UrlSource`` reads ranges: the head to sniff, an image's header
and pixels, a video's index where it lies (an MP4's ``moov`` at the end), so a linked video
gets its duration without its download. Where it does not, ``SpooledUrlSource`` reads the
body once, in order, into a spooled temporary file, never past the read limit
(``TRIBUTARY_PREPROCESS_MAX_BYTES``): an image decodes, a video whose index is beyond the
limit fails with a reason saying so.

Whatever goes wrong with the URL — a 404, a blocked address, a body over the cap, a page of
HTML where an image was linked — the item ends ``failed`` with a one-line reason, its URL
redacted (``ingest.redact``): a URL is not a bucket that may come back, and a batch that
retried for a dead link would never end. The next run with ``force`` tries again.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

from tributary.ingest.errors import FetchError, TooLarge, WrongContentType
from tributary.ingest.fetch import Fetcher, RemoteInfo, accepted_type
from tributary.ingest.redact import redact_url
from tributary.mimetype import mimetype_of_extension
from tributary.preprocess import sniff
from tributary.preprocess.describe import Outcome, describe
from tributary.preprocess.options import Limits, ThumbnailSpec
from tributary.storage.ranged import ReadLimitExceeded

log = logging.getLogger(__name__)

SPOOL_IN_MEMORY = 8 * 1024 * 1024  # above this a body without ranges goes to a temp file
LINK_SUFFIX = ".json"


class RangesNotServed(ReadLimitExceeded):
    """A decoder wanted bytes past the read limit of a server that serves no ranges."""

    permanent = True  # the same server, the same bytes: the same limit


@dataclass
class UrlSource:
    """A linked item's URL read by ranges (``describe``'s ``Source``)."""

    fetcher: Fetcher
    url: str
    name: str
    size: int
    extension_mimetype: str | None

    def read(self, start: int, length: int) -> bytes:
        return self.fetcher.read_range(self.url, start, length)


class SpooledUrlSource:
    """A URL whose server ignores ``Range``: its body read once, in order, as far as the
    reads need and never past ``cap`` bytes, kept in a spooled temporary file.

    ``size`` None (no Content-Length): ``load_all`` reads the whole body first (within the
    cap) so the size is known. Use it as a context manager: it holds the connection.
    """

    def __init__(
        self,
        fetcher: Fetcher,
        url: str,
        name: str,
        size: int | None,
        extension_mimetype: str | None,
        cap: int,
    ) -> None:
        self.fetcher, self.url, self.name, self.size = fetcher, url, name, size
        self.extension_mimetype, self.cap = extension_mimetype, cap
        self._stack = contextlib.ExitStack()
        self._spool = self._stack.enter_context(
            tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
        )
        self._chunks: Iterator[bytes] | None = None
        self._spooled, self._ended = 0, False

    def __enter__(self) -> SpooledUrlSource:
        return self

    def __exit__(self, *exc_info) -> None:
        self._stack.close()

    def load_all(self) -> None:
        """Read the whole body (within the cap); the size is then what came."""
        self._fill(self.cap + 1)
        if not self._ended:
            raise TooLarge(
                f"GET {redact_url(self.url)}: the server says no size and the body is above "
                f"{self.cap:,} bytes (TRIBUTARY_PREPROCESS_MAX_BYTES)"
            )
        self.size = self._spooled

    def read(self, start: int, length: int) -> bytes:
        end = start + length
        if self.size is not None:
            end = min(end, self.size)
        if end > self.cap and start >= self.cap:  # a read across the cap is cut at it
            raise RangesNotServed(
                f"the server of {redact_url(self.url)} serves no byte ranges and the "
                f"decoder wanted bytes past {self.cap:,}"
            )
        end = min(end, self.cap)
        self._fill(end)
        self._spool.seek(start)
        return self._spool.read(max(0, min(end, self._spooled) - start))

    def _fill(self, end: int) -> None:
        if self._chunks is None:
            body = self._stack.enter_context(self.fetcher.stream(self.url))
            self._chunks = iter(body)
        self._spool.seek(0, 2)
        while self._spooled < end and not self._ended:
            chunk = next(self._chunks, None)
            if chunk is None:
                self._ended = True
                break
            self._spool.write(chunk)
            self._spooled += len(chunk)


def link_name(path: str) -> str:
    """The linked item's own name: its link file's without ``.json`` (``cat.jpg.json`` →
    ``cat.jpg``), so its extension says what it links to."""
    name = path.rpartition("/")[2]
    if name.lower().endswith(LINK_SUFFIX) and len(name) > len(LINK_SUFFIX):
        return name[: -len(LINK_SUFFIX)]
    return name


def describe_link(
    fetcher: Fetcher,
    url: str,
    *,
    name: str,
    link_mimetype: str | None,
    spec: ThumbnailSpec | None,
    limits: Limits,
) -> Outcome:
    """``describe`` of what ``url`` serves; a URL that fails becomes ``Outcome.error``
    (one line, the URL redacted). ``link_mimetype``: what the link says it points at."""
    claimed = mimetype_of_extension(name) or link_mimetype
    try:
        info = fetcher.info(url)
        _check(fetcher, info, url, link_mimetype)
        if info.accepts_ranges and info.size is not None:
            source = UrlSource(fetcher, url, name, info.size, claimed)
            outcome = describe(source, spec=spec, limits=limits)
        else:
            with SpooledUrlSource(fetcher, url, name, info.size, claimed, limits.read_bytes) as s:
                if s.size is None:
                    s.load_all()
                outcome = describe(s, spec=spec, limits=limits)
    except FetchError as exc:
        reason = " ".join(str(exc).split())[:500]
        mimetype = link_mimetype or sniff.OCTET_STREAM
        return Outcome(mimetype, {"name": name, "link": {"error": reason}}, error=reason)
    outcome.metadata["link"] = {"content_type": info.content_type, "ranges": info.accepts_ranges}
    if outcome.mimetype in (sniff.OCTET_STREAM, sniff.EMPTY) and link_mimetype:
        outcome.mimetype = link_mimetype  # the content says nothing: the link's word stands
    return outcome


def _check(fetcher: Fetcher, info: RemoteInfo, url: str, link_mimetype: str | None) -> None:
    """Refuse before reading: a body over the fetcher's cap, or a page where media was
    linked (a login page, an error page served with 200)."""
    if info.size is not None and info.size > fetcher.settings.max_bytes:
        raise TooLarge(
            f"GET {redact_url(url)}: {info.size:,} bytes, above the cap of "
            f"{fetcher.settings.max_bytes:,} (TRIBUTARY_FETCH_MAX_BYTES)"
        )
    family = (link_mimetype or "").split("/", 1)[0]
    if family in ("image", "video") and not accepted_type(info.content_type, (family + "/",)):
        raise WrongContentType(
            f"GET {redact_url(url)}: the server sends {info.content_type!r}, not the "
            f"{link_mimetype} the link names"
        )
