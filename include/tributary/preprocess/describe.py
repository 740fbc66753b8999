"""One item's metadata and thumbnail, from its bytes: the rules, without I/O of its own.

The caller hands a ``Source`` that reads the file; what is read depends on what the file
is. An image whose thumbnail is wanted is read whole in one request; anything else first
gets a ranged read of its head (``HEAD_BYTES``), enough to sniff the type and, for images,
the header; a video is opened as a seekable file so only the parts FFmpeg asks for move.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Protocol

from tributary.preprocess import sniff
from tributary.preprocess.image import (
    NeedMoreBytes,
    Thumbnail,
    ThumbnailSpec,
    Unprocessable,
    describe_image,
)
from tributary.preprocess.video import describe_video

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


class Source(Protocol):
    """An item's file: its name, size, the type its extension claims, and ways to read it."""

    name: str
    size: int
    extension_mimetype: str | None

    def head(self, length: int) -> bytes: ...

    def whole(self) -> bytes: ...

    def open(self) -> BinaryIO: ...


@dataclass
class Outcome:
    """What preprocessing learned: metadata always; a thumbnail, or an error reason."""

    mimetype: str
    metadata: dict
    thumbnail: Thumbnail | None = None
    error: str | None = None


def describe(source: Source, *, spec: ThumbnailSpec | None, max_pixels: int) -> Outcome:
    """Describe one file. Problems with the file become ``Outcome.error``; storage errors
    raised by ``source`` propagate (the item stays pending and is tried again)."""
    claimed = source.extension_mimetype
    wants_whole = spec is not None and claimed in RASTER_IMAGES
    data = source.whole() if wants_whole and source.size else None
    if data is not None:
        head = data[:HEAD_BYTES]
    else:
        head = source.head(HEAD_BYTES) if source.size else b""
    sniffed = sniff.sniff_mimetype(head)
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
    try:
        if sniffed in RASTER_IMAGES:
            details, outcome.thumbnail = _image(source, head, data, spec, max_pixels)
        elif sniffed.startswith("video/"):
            details, outcome.thumbnail = describe_video(
                source.open(), spec=spec, max_pixels=max_pixels
            )
        else:
            details = {}
    except Unprocessable as exc:
        outcome.error = str(exc)
        return outcome
    metadata.update(details)
    return outcome


def _image(source: Source, head: bytes, data: bytes | None, spec, max_pixels: int):
    if spec is None:
        try:
            complete = len(head) >= source.size
            return describe_image(head, spec=None, max_pixels=max_pixels, complete=complete)
        except NeedMoreBytes:
            pass
    if data is None:
        data = source.whole()
    return describe_image(data, spec=spec, max_pixels=max_pixels)
