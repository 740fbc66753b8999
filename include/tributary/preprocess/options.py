"""How preprocessing is configured: the thumbnail wanted and the limits on each item.

Light on purpose (no Pillow, no PyAV): the DAG and the batch planner build these without
loading a decoder.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from tributary import config
from tributary.errors import TributaryError

# Thumbnail format → (Pillow's format name, mimetype, file extension).
FORMATS = {"jpeg": ("JPEG", "image/jpeg", "jpg"), "webp": ("WEBP", "image/webp", "webp")}


@dataclass(frozen=True)
class ThumbnailSpec:
    """How thumbnails are made: longest side in pixels, ``jpeg`` or ``webp``, quality."""

    size: int = 256
    format: str = "jpeg"
    quality: int = 80

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"thumbnail format must be one of {', '.join(FORMATS)}")
        if not 16 <= self.size <= 4096:
            raise ValueError("thumbnail size must be from 16 to 4096 pixels")

    @property
    def mimetype(self) -> str:
        return FORMATS[self.format][1]

    @property
    def extension(self) -> str:
        return FORMATS[self.format][2]


@dataclass
class Thumbnail:
    """An encoded thumbnail and its size."""

    data: bytes
    width: int
    height: int
    mimetype: str


@dataclass(frozen=True)
class Limits:
    """What one item may cost, whatever its bytes say.

    ``pixels``: an image (or video frame) above it is a decompression bomb and refused.
    ``read_bytes``: bytes read from storage for one item. ``decode_bytes``: memory one
    decoded image may take (formats that cannot decode at a reduced scale are refused
    above it; JPEGs decode at 1/2–1/8 scale first). ``seconds``: the item's time limit.
    """

    pixels: int = 200_000_000
    read_bytes: int = 256 * 1024 * 1024
    decode_bytes: int = 256 * 1024 * 1024
    seconds: float = 60.0

    @classmethod
    def from_config(cls, **overrides) -> Limits:
        """The limits set in the environment (``overrides`` win)."""
        configured = {
            "pixels": config.max_pixels(),
            "read_bytes": config.preprocess_max_bytes(),
            "decode_bytes": config.preprocess_max_decode_bytes(),
            "seconds": config.preprocess_item_seconds(),
        }
        return cls(**{**configured, **{k: v for k, v in overrides.items() if v is not None}})


class Unprocessable(Exception):
    """The file cannot be preprocessed; the message is the reason stored on the item."""


class TimeLimitExceeded(TributaryError):
    """An item took longer than its time limit."""

    permanent = True  # the same bytes would take as long again


class Deadline:
    """An item's time limit, checked between steps and before every read.

    Pillow and FFmpeg decode in C and cannot be interrupted from another thread; what they
    do between two checks is bounded by the pixel, decode-memory and read limits instead.
    """

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds, self._clock = seconds, clock
        self._ends = clock() + seconds

    def extend(self, seconds: float) -> None:
        """Give back time spent elsewhere (waiting for storage)."""
        self._ends += seconds

    def check(self, step: str = "reading") -> None:
        """Raise ``TimeLimitExceeded`` once the time is up, naming the step reached."""
        if self._clock() > self._ends:
            raise TimeLimitExceeded(
                f"time limit: took longer than {self.seconds:g} s "
                f"(TRIBUTARY_PREPROCESS_ITEM_SECONDS), stopped at {step}"
            )
