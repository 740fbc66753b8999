"""Names that become paths: each must be one safe path segment.

A dataset's name is its folder in the internal storage (``$TRIBUTARY_STORAGE_ROOT/<name>``)
and, like a driver's name, a segment of the REST API's URLs. A name that is ``..``, holds a
separator or a control character, or cannot be stored as UTF-8 would leave that folder or
break those URLs, so it is refused when the dataset or driver is created.
"""

from __future__ import annotations

from tributary.errors import InvalidInput

MAX_NAME_LENGTH = 200  # the catalog's column width


def check_name(kind: str, name: str) -> str:
    """``name`` unchanged when it is a safe single path segment; else ``InvalidInput`` with
    a one-line reason. ``kind`` ("dataset", "driver") is for the message."""
    if not name or not name.strip():
        raise InvalidInput(f"a {kind} needs a name")
    if name != name.strip():
        raise InvalidInput(f"a {kind} name may not start or end with a space: {name!r}")
    if name in (".", ".."):
        raise InvalidInput(f"a {kind} may not be named {name!r}: it is not a folder of its own")
    if "/" in name or "\\" in name:
        raise InvalidInput(f"a {kind} name may not contain '/' or '\\': {name!r}")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        raise InvalidInput(f"a {kind} name may not contain control characters: {name!r}")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"a {kind} name must be valid UTF-8: {name!r}") from None
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"a {kind} name is at most {MAX_NAME_LENGTH} characters")
    return name
