"""The corpus through ``describe``: right metadata and thumbnail, or the right reason."""

from __future__ import annotations

import io
import mimetypes

import pytest
from PIL import Image

from tests.preprocess import corpus
from tributary.preprocess import sniff
from tributary.preprocess.describe import Outcome, describe
from tributary.preprocess.image import ThumbnailSpec

FILES = corpus.corpus()
LIMIT = 1_000_000  # pixels: huge.png (9 MP) is over it
DEFAULT_SPEC = ThumbnailSpec()


class InMemory:
    """A Source over bytes that counts what is read."""

    def __init__(self, name: str, data: bytes) -> None:
        self.name, self.data, self.size = name, data, len(data)
        self.extension_mimetype = mimetypes.guess_type(name)[0]
        self.read = 0

    def head(self, length: int) -> bytes:
        self.read += min(length, self.size)
        return self.data[:length]

    def whole(self) -> bytes:
        self.read += self.size
        return self.data

    def open(self):
        return io.BytesIO(self.data)


def run(name: str, spec: ThumbnailSpec | None = DEFAULT_SPEC) -> Outcome:
    return describe(InMemory(name, FILES[name]), spec=spec, max_pixels=LIMIT)


def thumbnail_image(outcome: Outcome) -> Image.Image:
    return Image.open(io.BytesIO(outcome.thumbnail.data)).convert("RGB")


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_gives_display_dimensions_and_an_upright_thumbnail(orientation):
    outcome = run(f"orientation-{orientation}.jpg")

    meta = outcome.metadata
    assert outcome.error is None and outcome.mimetype == "image/jpeg"
    assert meta["exif"]["orientation"] == orientation
    assert meta["exif"]["make"] == "TributaryCam"
    stored = (80, 120) if orientation >= 5 else (120, 80)
    assert (meta["width"], meta["height"]) == stored
    assert meta["dimensions"] == {"width": 120, "height": 80}
    assert meta["name"] == f"orientation-{orientation}.jpg" and meta["size"] > 0
    assert meta["encoding"] == "binary"
    image = thumbnail_image(outcome)
    assert image.size == (120, 80)
    red, _, blue = image.getpixel((5, 5))  # the red block is top-left once upright
    assert red > 200 and blue < 60
    red, _, blue = image.getpixel((110, 70))
    assert blue > 200 and red < 60


def test_thumbnails_fit_the_configured_size_and_format():
    big = corpus.encoded(Image.new("RGB", (1200, 900), (9, 99, 199)), "JPEG")
    spec = ThumbnailSpec(size=128, format="webp")
    outcome = describe(InMemory("big.jpg", big), spec=spec, max_pixels=LIMIT * 10)
    assert outcome.thumbnail.mimetype == "image/webp"
    assert (outcome.thumbnail.width, outcome.thumbnail.height) == (128, 96)
    assert Image.open(io.BytesIO(outcome.thumbnail.data)).format == "WEBP"


@pytest.mark.parametrize(
    ("name", "mimetype", "mode", "size"),
    [
        ("alpha.png", "image/png", "RGBA", (64, 48)),
        ("animated.gif", "image/gif", "P", (40, 30)),
        ("photo.webp", "image/webp", "RGB", (120, 80)),
        ("scan.tiff", "image/tiff", "RGB", (120, 80)),
        ("phone.heic", "image/heic", "RGB", (120, 80)),
        ("print.jpg", "image/jpeg", "CMYK", (120, 80)),
    ],
)
def test_each_image_format_is_described_and_thumbnailed(name, mimetype, mode, size):
    outcome = run(name)
    assert outcome.error is None
    assert outcome.mimetype == mimetype and outcome.metadata["mode"] == mode
    assert (outcome.metadata["width"], outcome.metadata["height"]) == size
    assert "extension_mimetype" not in outcome.metadata
    assert thumbnail_image(outcome).size == size


def test_alpha_is_flattened_on_white_in_a_jpeg_thumbnail():
    image = thumbnail_image(run("alpha.png"))
    assert image.getpixel((1, 1)) == pytest.approx((255, 255, 255), abs=3)  # was transparent
    assert image.getpixel((24, 24))[0] > 200  # the red disc


def test_an_animated_gif_counts_its_frames():
    assert run("animated.gif").metadata["frames"] == 3


def test_a_cmyk_jpeg_thumbnail_is_rgb_with_the_right_colours():
    image = thumbnail_image(run("print.jpg"))
    assert image.getpixel((5, 5))[0] > 200 and image.getpixel((110, 70))[2] > 200


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("truncated.jpg", "truncated file"),
        ("empty.jpg", "empty file (0 bytes)"),
        ("huge.png", "decompression bomb: 3000x3000 = 9,000,000 pixels"),
    ],
)
def test_bad_files_fail_with_the_reason(name, reason):
    outcome = run(name)
    assert outcome.error.startswith(reason)
    assert outcome.thumbnail is None
    assert outcome.metadata["name"] == name and outcome.metadata["size"] == len(FILES[name])


def test_an_unsupported_image_fails_with_the_reason():
    fake = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64  # PNG magic, garbage after it
    outcome = describe(InMemory("fake.png", fake), spec=ThumbnailSpec(), max_pixels=LIMIT)
    assert outcome.error.startswith(("unreadable image", "unsupported image format"))


def test_a_text_file_named_jpg_is_text_and_keeps_both_mimetypes():
    outcome = run("notes.jpg")
    assert outcome.error is None and outcome.thumbnail is None
    assert outcome.mimetype == "text/plain"
    assert outcome.metadata["extension_mimetype"] == "image/jpeg"
    assert outcome.metadata["encoding"] == "7bit"
    assert outcome.metadata["charset"] == "us-ascii"


def test_a_short_video_gives_duration_rate_codec_and_a_poster():
    outcome = run("clip.mp4")
    meta = outcome.metadata
    assert outcome.error is None and outcome.mimetype == "video/mp4"
    assert (meta["duration"], meta["fps"], meta["codec"]) == (2.0, 6.0, "h264")
    assert (meta["width"], meta["height"]) == (64, 48)
    assert "rotation" not in meta
    poster = thumbnail_image(outcome).convert("L")
    assert poster.size == (64, 48)
    assert poster.getpixel((8, 24)) > 200 > 100 > poster.getpixel((56, 24))  # light left


def test_a_video_stored_sideways_gets_display_dimensions_and_an_upright_poster():
    outcome = run("portrait.mov")
    meta = outcome.metadata
    assert outcome.error is None
    assert (meta["width"], meta["height"], meta["rotation"]) == (64, 48, 90)
    assert meta["dimensions"] == {"width": 48, "height": 64}
    poster = thumbnail_image(outcome).convert("L")
    assert poster.size == (48, 64)
    # Turned a quarter counter-clockwise: the light left half is now the bottom half.
    assert poster.getpixel((24, 56)) > 200 > 100 > poster.getpixel((24, 8))


def test_metadata_only_reads_just_the_head_of_a_large_image():
    big = corpus.encoded(Image.effect_noise((1500, 1500), 40).convert("RGB"), "JPEG")
    source = InMemory("big.jpg", big)
    outcome = describe(source, spec=None, max_pixels=LIMIT * 10)
    assert (outcome.metadata["width"], outcome.metadata["height"]) == (1500, 1500)
    assert outcome.thumbnail is None
    assert len(big) > 200_000 and source.read == 64 * 1024


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\xff\xd8\xff\xe0", "image/jpeg"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"\x00\x00\x00\x18ftypheic", "image/heic"),
        (b"\x00\x00\x00\x18ftypisom", "video/mp4"),
        (b"\x00\x00\x00\x14ftypqt  ", "video/quicktime"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01webm", "video/webm"),
        (b"%PDF-1.7", "application/pdf"),
        (b"<?xml version='1.0'?><svg xmlns='x'/>", "image/svg+xml"),
        ("héllo wörld".encode(), "text/plain"),
        (bytes(range(256)), "application/octet-stream"),
    ],
)
def test_sniffing(head, expected):
    assert sniff.sniff_mimetype(head) == expected


def test_a_utf8_head_cut_inside_a_character_is_still_text():
    text = ("é" * 10).encode()
    assert sniff.charset_of(text[:-1]) == "utf-8"
    assert sniff.transfer_encoding(text[:-1]) == "8bit"
