"""One item's metadata and thumbnail, from its bytes: the rules, without I/O of its own.

The caller hands a ``Source`` that reads ranges of the file. What is read depends on what
the file *is*, never on its name: a ranged read of its head (``HEAD_BYTES``) to sniff the
type; then, for an image or a video only, a capped, seekable reader over the rest, so the
decoder moves only the parts it asks for (a header, a video's index, the pixels when a
thumbnail is wanted).

Whatever a file's bytes, ``describe`` returns: a decoder's exception of any type, the read
limit and the time limit all become ``Outcome.error``. Only an exception raised by the
source's own reads propagates (the item stays pending and is tried again) — recognised by
the reader itself, even when a decoder caught it and raised something else instead.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from tributary.preprocess import sniff
from tributary.preprocess.options import (
    Deadline,
    Limits,
    Thumbnail,
    ThumbnailSpec,
    TimeLimitExceeded,
    Unprocessable,
)
from tributary.storage.ranged import BLOCK_BYTES, RangedFile, ReadLimitExceeded

log = logging.getLogger(__name__)

HEAD_BYTES = 64 * 1024

# What Pillow (with pillow-heif) decodes; SVG is an image but not a raster one.
RASTER_IMAGES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "image/tiff",
        "image/bmp",
        "image/heic",
        "image/heif",
        "image/avif",
    }
)

# Limits of our own: the item's bytes asked for them, so they are the item's reason.
_LIMITS = (ReadLimitExceeded, TimeLimitExceeded)


class Source(Protocol):
    """An item's file: its name, size, the type its extension claims, and ranged reads."""

    name: str
    size: int
    extension_mimetype: str | None

    def read(self, start: int, length: int) -> bytes:
        """``length`` bytes from ``start`` (fewer at the end of the file)."""
        ...


@dataclass
class Outcome:
    """What preprocessing learned: metadata always; a thumbnail, or an error reason."""

    mimetype: str
    metadata: dict
    thumbnail: Thumbnail | None = None
    error: str | None = None


def describe(
    source: Source,
    *,
    spec: ThumbnailSpec | None,
    limits: Limits,
    clock: Callable[[], float] = time.monotonic,
) -> Outcome:
    """Describe one file within ``limits``. Problems with the file become
    ``Outcome.error``; errors raised by ``source.read`` propagate."""
    deadline = Deadline(limits.seconds, clock)
    read = _untimed(source.read, deadline, clock)
    head = read(0, HEAD_BYTES) if source.size else b""
    sniffed = sniff.sniff_mimetype(head)
    claimed = source.extension_mimetype
    if sniff.is_textual(sniffed) and sniff.is_textual(claimed):
        sniffed = claimed  # text/plain by content; the extension says which text (csv, json…)
    metadata = {"name": source.name, "size": source.size, "mimetype": sniffed}
    metadata["encoding"] = sniff.transfer_encoding(head)
    if charset := sniff.charset_of(head) if head else None:
        metadata["charset"] = charset
    if claimed and claimed != sniffed:
        metadata["extension_mimetype"] = claimed
    outcome = Outcome(mimetype=sniffed, metadata=metadata)
    if source.size == 0:
        outcome.error = "empty file (0 bytes)"
        return outcome
    kind = _decodable_kind(sniffed)
    if kind is None:
        return outcome
    too_big = kind == "image" and spec is not None and source.size > limits.read_bytes
    raw = RangedFile(
        read, source.size, limit=limits.read_bytes, prefix=head, before_read=deadline.check
    )
    try:
        file = io.BufferedReader(raw, BLOCK_BYTES)
        thumbnail_spec = None if too_big else spec
        outcome.thumbnail = _decode(kind, file, metadata, thumbnail_spec, limits, deadline)
    except Exception as exc:  # whatever the bytes, the item gets a reason
        outcome.error = _reason(raw.failure or exc, kind)
    else:
        if raw.failure is not None:  # a decoder swallowed a failed read and went on
            outcome.thumbnail, outcome.error = None, _reason(raw.failure, kind)
    if raw.failure is not None and not isinstance(raw.failure, _LIMITS):
        raise raw.failure  # the storage failed, not the file: the item stays pending
    if too_big and outcome.error is None:
        outcome.error = (
            f"read limit: the image is {source.size:,} bytes, over the "
            f"{limits.read_bytes:,} of TRIBUTARY_PREPROCESS_MAX_BYTES; metadata only"
        )
    return outcome


def _decodable_kind(mimetype: str) -> str | None:
    if mimetype in RASTER_IMAGES:
        return "image"
    return "video" if mimetype.startswith("video/") else None


def _decode(kind, file, metadata, spec, limits: Limits, deadline: Deadline):
    # Decoders load on demand: describing a CSV never imports Pillow or FFmpeg.
    options = {
        "spec": spec,
        "max_pixels": limits.pixels,
        "max_decode_bytes": limits.decode_bytes,
        "check": deadline.check,
    }
    if kind == "image":
        from tributary.preprocess.image import describe_image

        return describe_image(file, metadata, **options)
    from tributary.preprocess.video import describe_video

    return describe_video(file, metadata, **options)


def _untimed(read, deadline: Deadline, clock):
    """``read`` whose time does not count against the item's time limit: a slow bucket
    is the storage's problem (retried), not a reason to fail the file."""

    def timed_out_of_the_deadline(start: int, length: int) -> bytes:
        began = clock()
        try:
            return read(start, length)
        finally:
            deadline.extend(clock() - began)

    return timed_out_of_the_deadline


def _reason(exc: BaseException, kind: str) -> str:
    """The one-line reason an item failed, from whatever its decoder raised."""
    if isinstance(exc, Unprocessable | TimeLimitExceeded):
        return str(exc)
    if isinstance(exc, ReadLimitExceeded):
        return f"read limit: {exc} (TRIBUTARY_PREPROCESS_MAX_BYTES)"
    message = str(exc) or type(exc).__name__
    if isinstance(exc, EOFError) or "truncated" in message or "broken data stream" in message:
        return f"truncated file: {message}"
    if not isinstance(exc, OSError | SyntaxError | ValueError | EOFError):
        # Not a decoder's usual complaint: keep the trace for whoever reads the task log.
        log.info("Unexpected %s from the %s decoder", type(exc).__name__, kind, exc_info=exc)
    return f"unreadable {kind}: {type(exc).__name__}: {message}"[:500]
