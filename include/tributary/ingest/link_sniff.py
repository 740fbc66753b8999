"""``LinkSniffer``: a reader that keeps the first bytes of a ``.json`` upload, so that the
upload can tell afterwards whether it was a link file (``parse_link``) without reading
the stored file again. Holds at most ``MAX_LINK_BYTES + 1`` bytes whatever the body's size.
"""

from __future__ import annotations

import logging

from tributary.errors import TributaryError
from tributary.ingest.links import MAX_LINK_BYTES, Link, parse_link

log = logging.getLogger(__name__)


class LinkSniffer:
    """Wraps a reader (``read(n)``); ``link()`` is the link its bytes were, or None."""

    def __init__(self, reader) -> None:
        self._reader = reader
        self._head = bytearray()
        self._total = 0

    @staticmethod
    def wanted(path: str) -> bool:
        """Whether a file at ``path`` may be a link file (its name ends in ``.json``)."""
        return path.lower().endswith(".json")

    def read(self, n: int = -1, /) -> bytes:
        data = self._reader.read(n)
        self._total += len(data)
        if len(self._head) <= MAX_LINK_BYTES:
            self._head += data[: MAX_LINK_BYTES + 1 - len(self._head)]
        return data

    def link(self) -> Link | None:
        """The link the whole body was; None for other JSON, a body above 64 KiB, or a
        broken link file (logged)."""
        if self._total > MAX_LINK_BYTES:
            return None
        try:
            return parse_link(bytes(self._head))
        except TributaryError as exc:
            log.warning("An uploaded .json file is not a usable link: %s", exc)
            return None
