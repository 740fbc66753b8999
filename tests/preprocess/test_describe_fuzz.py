"""Seeded fuzzing of ``describe``: whatever a file's bytes, it returns an outcome.

Small JPEG/PNG/GIF/TIFF/WebP/BMP files made here with Pillow are mutated the ways a
damaged upload or a hostile file is: byte flips, 4-byte magic values (lengths, offsets,
counts), deletions, duplications and truncations. Every mutant must end with a thumbnail
or an error reason — never an exception — within the item's time limit. The seed is
fixed so a failure reproduces; ``TRIBUTARY_FUZZ_SEED``/``TRIBUTARY_FUZZ_CASES`` explore
further by hand.
"""

from __future__ import annotations

import os
import random
import struct
import time

import pytest
from PIL import Image, ImageDraw

from tests.preprocess import corpus
from tests.preprocess.test_describe import InMemory
from tributary.preprocess.describe import RASTER_IMAGES, describe
from tributary.preprocess.options import Limits, ThumbnailSpec

SEED = int(os.environ.get("TRIBUTARY_FUZZ_SEED", "20261125"))
CASES = int(os.environ.get("TRIBUTARY_FUZZ_CASES", "500"))  # per format
LIMITS = Limits(pixels=4_000_000, read_bytes=1_000_000, decode_bytes=16_000_000, seconds=5)

# Values that make parsers misbehave when written over a length, offset or count.
MAGIC = [0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]


def _picture() -> Image.Image:
    image = Image.new("RGB", (48, 32), (20, 90, 200))
    ImageDraw.Draw(image).ellipse((4, 4, 30, 28), fill=(250, 30, 30))
    return image


def seeds() -> dict[str, bytes]:
    picture = _picture()
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F], exif[0x0110] = "FuzzCam", "Model 1"
    exif.get_ifd(0x8769)[0x9003] = "2026:11:25 10:00:00"
    return {
        "jpg": corpus.encoded(picture, "JPEG", quality=80, exif=exif.tobytes()),
        "png": corpus.encoded(picture.convert("RGBA"), "PNG", exif=exif.tobytes()),
        "gif": corpus.gif(),
        "tiff": corpus.encoded(picture, "TIFF", compression="tiff_lzw"),
        "webp": corpus.encoded(picture, "WEBP", quality=70),
        "bmp": corpus.encoded(picture.convert("P"), "BMP"),
    }


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One to three random damages of ``data``; the first bytes stay most of the time so
    that the file is still sniffed as its format and reaches the decoder."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        kind = rng.choice(["flip", "magic", "delete", "duplicate", "truncate"])
        # Mostly in the headers (where lengths, offsets and EXIF live), past the magic.
        end = min(len(out), 512) if rng.random() < 0.7 else len(out)
        at = rng.randrange(8 if rng.random() < 0.9 else 0, max(9, end))
        if kind == "flip":
            for _ in range(rng.randint(1, 8)):
                out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        elif kind == "magic":
            out[at : at + 4] = struct.pack(rng.choice("<>") + "I", rng.choice(MAGIC))
        elif kind == "delete":
            del out[at : at + rng.randint(1, 64)]
        elif kind == "duplicate":
            out[at:at] = out[at : at + rng.randint(1, 256)]
        else:
            del out[rng.randrange(1, max(2, len(out))) :]
    return bytes(out)


# Pillow warns about some damage it skips; the outcome is what this test checks.
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("extension", ["jpg", "png", "gif", "tiff", "webp", "bmp"])
def test_any_mutant_ends_with_a_thumbnail_or_a_reason(extension):
    rng = random.Random(f"{SEED}-{extension}")
    original = seeds()[extension]
    for case in range(CASES):
        data = mutate(original, rng)
        spec = None if case % 4 == 0 else ThumbnailSpec(size=32)  # metadata only, or both
        started = time.monotonic()
        try:
            outcome = describe(InMemory(f"fuzz.{extension}", data), spec=spec, limits=LIMITS)
        except Exception as exc:
            pytest.fail(f"case {case} (seed {SEED}) raised {type(exc).__name__}: {exc}")
        if spec and outcome.mimetype in RASTER_IMAGES:  # else: metadata only, or not an image
            assert (outcome.thumbnail is None) == (outcome.error is not None), f"case {case}"
        assert outcome.metadata["size"] == len(data)
        # The limit is checked between steps; a step on a 4 MP image is far below a second.
        assert time.monotonic() - started < LIMITS.seconds + 5, f"case {case} ran away"
