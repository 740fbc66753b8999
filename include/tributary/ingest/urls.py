"""Which strings are URLs we fetch: ``http``/``https`` with a host, nothing else.

``url_problem`` is the one rule, shared by the CSV validator (a million rows: the fast path
is one precompiled regex, about a microsecond), link files and the fetcher. It checks the
form only; whether the host's addresses may be reached is ``addresses``' question, asked
when connecting.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from tributary.ingest.redact import redact_url

MAX_URL_LENGTH = 8192

# scheme :// host (a name, or an IPv6 literal in brackets) [:port 1-65535] [path/query/fragment];
# no user:password@ (a credential would be stored in the link file) and no whitespace or
# control character anywhere.
_PORT = r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
GOOD_URL = re.compile(
    r"(?i:https?)://(?:[^\x00-\x20\x7f/?#@\[\]:\\]+|\[[0-9A-Fa-f:.]+\])"
    rf"(?::{_PORT})?(?:[/?#][^\x00-\x20\x7f]*)?"
)


def is_good_url(url: str) -> bool:
    """The fast check alone: True when ``url_problem`` would find nothing."""
    return len(url) <= MAX_URL_LENGTH and GOOD_URL.fullmatch(url) is not None


def url_problem(url: str) -> str | None:
    """None when ``url`` is an http(s) URL we may fetch; else a short reason (the URL in it
    redacted)."""
    return None if is_good_url(url) else _explain(url)


def _explain(url: str) -> str:
    if not url:
        return "empty URL"
    if len(url) > MAX_URL_LENGTH:
        return f"URL longer than {MAX_URL_LENGTH} characters"
    shown = redact_url(url)
    if len(shown) > 200:  # a reason is one line of a report, not the rest of the file
        shown = shown[:200] + "…"
    scheme, colon, _ = url.partition(":")
    if not colon or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme):
        return f"not a URL: {shown!r}"
    if scheme.lower() not in ("http", "https"):
        return f"scheme {scheme.lower()!r} is not http or https: {shown!r}"
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        return f"URL contains a space or control character: {shown!r}"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return f"malformed URL: {shown!r}"
    if "@" in parts.netloc:
        return f"URL with user:password@ is not accepted (put no credential in a link): {shown!r}"
    if not parts.hostname:
        return f"URL has no host: {shown!r}"
    return f"malformed URL: {shown!r}"
