"""Link files: the spec's small JSON that points an item at a URL instead of holding it.

::

    {"type": "link", "shebang": "tributary", "name": "cat.jpg",
     "metadata": {"dltype": "link",
                  "linkInfo": {"type": "url", "ref": "https://…/cat.jpg",
                               "mimetype": "image/jpeg"}}}

We write ``"shebang": "tributary"`` and read ours and ``"dataloop"`` (so users bring the
files they already have). A link file is small: above ``MAX_LINK_BYTES`` a JSON file is
data, not a link, and ``parse_link`` does not parse it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from json.encoder import py_encode_basestring

try:  # the C speedup json itself uses for strings when it can
    from _json import encode_basestring as _encode_string
except ImportError:  # pragma: no cover - CPython always has it
    _encode_string = py_encode_basestring

from tributary.ingest.errors import InvalidLink
from tributary.ingest.media_types import normalize_mimetype
from tributary.ingest.urls import url_problem

SHEBANG = "tributary"
SHEBANGS = frozenset({"tributary", "dataloop"})
MAX_LINK_BYTES = 64 * 1024


@dataclass(frozen=True)
class Link:
    """What a link file says: the URL, its mimetype, an optional item name."""

    url: str
    mimetype: str
    name: str | None = None
    shebang: str = SHEBANG


def make_link(url: str, mimetype: str = "", name: str | None = None) -> bytes:
    """The link file (UTF-8 JSON) for ``url``; ``InvalidLink`` for a URL we would not
    fetch, a bad mimetype, or a file above ``MAX_LINK_BYTES``."""
    return link_file(url, mimetype, name)[1]


def link_file(url: str, mimetype: str = "", name: str | None = None) -> tuple[Link, bytes]:
    """The ``Link`` and its file, at once (``make_link`` then ``parse_link`` would give the
    same ``Link``; a CSV import of a million rows saves the second JSON parse)."""
    if problem := url_problem(url):
        raise InvalidLink(f"cannot link {problem}")
    try:
        mimetype = normalize_mimetype(mimetype, name or url.split("?", 1)[0])
    except ValueError as exc:
        raise InvalidLink(str(exc)) from None
    data = _link_json(url, mimetype, name).encode()
    if len(data) > MAX_LINK_BYTES:
        raise InvalidLink(f"a link file is at most {MAX_LINK_BYTES:,} bytes")
    return Link(url, mimetype, name or None, SHEBANG), data


def _link_json(url: str, mimetype: str, name: str | None) -> str:
    """Exactly ``json.dumps(document, ensure_ascii=False, indent=2)`` of the link document,
    by a template: ``indent`` makes ``json`` fall back to its pure-Python encoder, ten times
    slower, and the bytes must not change (a re-import compares them to skip a link)."""
    quote = _encode_string
    named = f'  "name": {quote(name)},\n' if name else ""
    return (
        '{\n  "type": "link",\n'
        f'  "shebang": {quote(SHEBANG)},\n'
        f"{named}"
        '  "metadata": {\n    "dltype": "link",\n    "linkInfo": {\n'
        '      "type": "url",\n'
        f'      "ref": {quote(url)},\n'
        f'      "mimetype": {quote(mimetype)}\n'
        "    }\n  }\n}"
    )


def parse_link(data: bytes) -> Link | None:
    """The link ``data`` describes; None for a JSON file that is not a link (or is above
    ``MAX_LINK_BYTES``); ``InvalidLink`` for data that is not JSON, or a link that is
    broken (unknown shebang, no URL, a URL we would not fetch)."""
    if len(data) > MAX_LINK_BYTES:
        return None
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise InvalidLink("not a link file: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise InvalidLink(f"not a link file: invalid JSON ({exc})") from None
    if not isinstance(document, dict) or document.get("type") != "link":
        return None
    return _link_of(document)


def _link_of(document: dict) -> Link:
    shebang = document.get("shebang")
    if shebang not in SHEBANGS:
        raise InvalidLink(f"link file with unknown shebang {shebang!r} (tributary or dataloop)")
    metadata = document.get("metadata")
    info = metadata.get("linkInfo") if isinstance(metadata, dict) else None
    if not isinstance(info, dict) or metadata.get("dltype", "link") != "link":
        raise InvalidLink("link file without metadata.linkInfo")
    if info.get("type", "url") != "url":
        raise InvalidLink(f"link file of type {info.get('type')!r}: only 'url' links are read")
    url = info.get("ref")
    problem = url_problem(url) if isinstance(url, str) else "not a string"
    if problem:
        raise InvalidLink(f"link file with a bad ref: {problem}")
    name = document.get("name")
    name = name if isinstance(name, str) and name else None
    try:
        mimetype = normalize_mimetype(_string(info.get("mimetype")), name or url.split("?")[0])
    except ValueError as exc:
        raise InvalidLink(f"link file with a bad mimetype: {exc}") from None
    return Link(url, mimetype, name, shebang)


def _string(value) -> str:
    return value if isinstance(value, str) else ""
