"""The mimetype of a link or a CSV row, from what a user writes in a ``mimetype`` cell.

The spec's CSV takes ``image/jpg`` as its default and ``video`` for videos; users also write
``Image/JPG`` or ``image``. ``normalize_mimetype`` turns each into a real ``type/subtype``:
a bare family (``video``, ``image``) takes the type the name's extension suggests when it is
of that family, else the family's common type (``video/mp4``, ``image/jpeg``). Preprocessing
sniffs the content later; this is what the item says until then.
"""

from __future__ import annotations

import functools
import re

from tributary.mimetype import mimetype_of_extension

DEFAULT_MIMETYPE = "image/jpeg"
_FAMILY_DEFAULTS = {"image": "image/jpeg", "video": "video/mp4", "audio": "audio/mpeg"}
_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "video/mov": "video/quicktime"}
_MIMETYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")


def normalize_mimetype(value: str | None, name: str = "") -> str:
    """``value`` as a lower-case ``type/subtype``; empty → ``image/jpeg`` (the spec's
    default); ``video``/``image``/``audio`` → guessed from ``name``'s extension within
    that family. Raises ``ValueError`` with a short reason for anything else."""
    value = (value or "").strip().lower()
    if not value:
        return DEFAULT_MIMETYPE
    if value in _FAMILY_DEFAULTS:
        return _family_type(value, name.rpartition(".")[2].lower() if "." in name else "")
    return _checked(value)


@functools.lru_cache(maxsize=1024)
def _family_type(family: str, suffix: str) -> str:
    guessed = mimetype_of_extension(f"x.{suffix}") if suffix else None
    return guessed if guessed and guessed.startswith(family + "/") else _FAMILY_DEFAULTS[family]


@functools.lru_cache(maxsize=1024)
def _checked(value: str) -> str:
    if not _MIMETYPE.fullmatch(value):
        raise ValueError(f"mimetype {value!r} is not type/subtype (or image, video)")
    return _ALIASES.get(value, value)
