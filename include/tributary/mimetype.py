"""The mimetype a file name's extension suggests, shared by every step that names a file's
type before reading it: the listing (staged rows), bucket events and preprocessing."""

from __future__ import annotations

import functools
import mimetypes


@functools.lru_cache(maxsize=4096)
def _mimetype_of_suffix(suffix: str) -> str | None:
    return mimetypes.guess_type(f"x{suffix}", strict=False)[0]


def mimetype_of_extension(name: str) -> str | None:
    """The mimetype an extension suggests (cached per extension: listings repeat them).

    ``name`` is a file name, not a path; a name with no extension, or a dot file such as
    ``.env``, suggests nothing.
    """
    stem, dot, suffix = name.rpartition(".")
    return _mimetype_of_suffix(f".{suffix.lower()}") if dot and stem else None
