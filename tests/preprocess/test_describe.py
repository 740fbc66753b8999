"""The corpus through ``describe``: right metadata and thumbnail, or the right reason."""

from __future__ import annotations

import io
import mimetypes
import struct
import zlib

import pytest
from PIL import Image

from tests.preprocess import corpus
from tributary.preprocess import sniff
from tributary.preprocess.describe import Outcome, describe
from tributary.preprocess.options import Limits, ThumbnailSpec
from tributary.storage.base import Unreachable

FILES = corpus.corpus()
LIMIT = 1_000_000  # pixels: huge.png (9 MP) is over it
DEFAULT_SPEC = ThumbnailSpec()


class InMemory:
    """A Source over bytes that counts what is read."""

    def __init__(self, name: str, data: bytes) -> None:
        self.name, self.data, self.size = name, data, len(data)
        self.extension_mimetype = mimetypes.guess_type(name)[0]
        self.bytes_read = 0

    def read(self, start: int, length: int) -> bytes:
        data = self.data[start : start + length]
        self.bytes_read += len(data)
        return data


def limits(pixels: int = LIMIT, **others) -> Limits:
    return Limits(pixels=pixels, **others)


def run(name: str, spec: ThumbnailSpec | None = DEFAULT_SPEC) -> Outcome:
    return describe(InMemory(name, FILES[name]), spec=spec, limits=limits())


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
    outcome = describe(InMemory("big.jpg", big), spec=spec, limits=limits(LIMIT * 10))
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
        ("huge.png", "decompression bomb: 9,000,000 pixels, over the limit of 1,000,000"),
    ],
)
def test_bad_files_fail_with_the_reason(name, reason):
    outcome = run(name)
    assert outcome.error.startswith(reason)
    assert outcome.thumbnail is None
    assert outcome.metadata["name"] == name and outcome.metadata["size"] == len(FILES[name])


def test_an_unsupported_image_fails_with_the_reason():
    fake = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64  # PNG magic, garbage after it
    outcome = describe(InMemory("fake.png", fake), spec=ThumbnailSpec(), limits=limits())
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
    outcome = describe(source, spec=None, limits=limits(LIMIT * 10))
    assert (outcome.metadata["width"], outcome.metadata["height"]) == (1500, 1500)
    assert outcome.thumbnail is None
    assert len(big) > 200_000 and source.bytes_read == 64 * 1024


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


# -- hardening (issue 9): whatever the bytes, an outcome; bounded reads, memory and time ---


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` RGB pixels in a few dozen bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def noise_jpeg(width: int = 800, height: int = 600) -> bytes:
    return corpus.encoded(Image.effect_noise((width, height), 64).convert("RGB"), "JPEG")


@pytest.mark.parametrize("spec", [DEFAULT_SPEC, None], ids=["thumbnail", "metadata-only"])
def test_b13_a_png_cut_to_60_percent_gets_an_outcome(spec):
    whole = corpus.encoded(Image.effect_noise((300, 200), 64).convert("RGB"), "PNG")
    cut = whole[: len(whole) * 6 // 10]
    outcome = describe(InMemory("a.png", cut), spec=spec, limits=limits())
    assert (outcome.metadata["width"], outcome.metadata["height"]) == (300, 200)
    if spec is None:  # the header is whole: metadata needs no pixel
        assert outcome.error is None
    else:
        assert outcome.error.startswith("truncated file") and outcome.thumbnail is None


def test_b16_a_raised_pixel_limit_is_the_one_limit():
    """Pillow's own limit (178,956,970 at twice its default) no longer fires first."""
    claim = png_header(20_000, 10_000)  # 200 Mpx
    raised = limits(400_000_000)
    outcome = describe(InMemory("big.png", claim), spec=None, limits=raised)
    assert outcome.error is None
    assert (outcome.metadata["width"], outcome.metadata["height"]) == (20_000, 10_000)
    lowered = describe(InMemory("big.png", claim), spec=None, limits=limits(150_000_000))
    assert lowered.error.startswith("decompression bomb: 20000x10000 = 200,000,000 pixels")


def test_b16_a_full_size_decode_over_the_memory_budget_is_refused_before_decoding():
    claim = png_header(20_000, 10_000)
    outcome = describe(InMemory("big.png", claim), spec=DEFAULT_SPEC, limits=limits(400_000_000))
    assert outcome.error.startswith("too large to decode: a 20000x10000 PNG decodes to")
    assert "TRIBUTARY_PREPROCESS_MAX_DECODE_BYTES" in outcome.error
    assert outcome.metadata["width"] == 20_000  # metadata survives


def test_b16_a_jpeg_is_measured_at_its_reduced_decode_scale():
    budget = limits(LIMIT * 20, decode_bytes=2_000_000)  # 12 MP would be 48 MB at full size
    jpeg = corpus.encoded(Image.new("RGB", (4000, 3000), (9, 99, 199)), "JPEG")
    png = corpus.encoded(Image.new("RGB", (4000, 3000), (9, 99, 199)), "PNG")
    assert describe(InMemory("a.jpg", jpeg), spec=DEFAULT_SPEC, limits=budget).error is None
    refused = describe(InMemory("a.png", png), spec=DEFAULT_SPEC, limits=budget).error
    assert refused.startswith("too large to decode")


def test_b15_a_large_non_image_named_jpg_is_read_only_as_far_as_its_head():
    source = InMemory("big.jpg", b"\x00" * 5_000_000)
    outcome = describe(source, spec=DEFAULT_SPEC, limits=limits())
    assert outcome.error is None and outcome.mimetype == "application/octet-stream"
    assert source.bytes_read == 64 * 1024


def test_b15_what_an_item_may_read_is_capped():
    junk = b"\xff\xd8\xff" + b"\x00" * 3_000_000  # a JPEG start, then no marker ever
    source = InMemory("junk.jpg", junk)
    outcome = describe(source, spec=None, limits=limits(read_bytes=500_000))
    assert outcome.error.startswith("read limit:")
    assert "TRIBUTARY_PREPROCESS_MAX_BYTES" in outcome.error
    assert source.bytes_read <= 500_000


def test_b15_an_image_over_the_read_cap_keeps_its_metadata_without_a_thumbnail():
    big = noise_jpeg()
    source = InMemory("big.jpg", big)
    outcome = describe(source, spec=DEFAULT_SPEC, limits=limits(read_bytes=len(big) // 2))
    assert outcome.error.startswith("read limit: the image is") and outcome.thumbnail is None
    assert outcome.metadata["width"] == 800 and source.bytes_read < len(big) // 2


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0  # every look at the clock: a second of decoding
        return self.now


def test_b14_an_item_over_its_time_limit_fails_with_the_reason():
    outcome = describe(
        InMemory("a.jpg", FILES["orientation-6.jpg"]),
        spec=DEFAULT_SPEC,
        limits=limits(seconds=2.5),
        clock=FakeClock(),
    )
    assert outcome.error.startswith("time limit: took longer than 2.5 s")
    assert "TRIBUTARY_PREPROCESS_ITEM_SECONDS" in outcome.error and outcome.thumbnail is None


def test_waiting_for_storage_does_not_count_against_the_time_limit():
    clock = FakeClock()

    class SlowStorage(InMemory):
        def read(self, start, length):
            clock.now += 1000  # a very slow bucket
            return super().read(start, length)

    source = SlowStorage("a.jpg", noise_jpeg())
    outcome = describe(source, spec=DEFAULT_SPEC, limits=limits(seconds=60), clock=clock)
    assert outcome.error is None and outcome.thumbnail is not None


def test_a_storage_error_a_decoder_swallows_still_reaches_the_caller():
    big = noise_jpeg()

    class Flaky(InMemory):
        def read(self, start, length):
            if start > 0:
                raise Unreachable("connection reset")
            return super().read(start, length)

    with pytest.raises(Unreachable):
        describe(Flaky("a.jpg", big), spec=DEFAULT_SPEC, limits=limits())


def test_a_damaged_exif_block_costs_the_orientation_not_the_thumbnail(monkeypatch):
    def broken(self):
        raise SyntaxError("not a TIFF file")

    monkeypatch.setattr(Image.Image, "getexif", broken)
    outcome = run("orientation-6.jpg")
    assert outcome.error is None and outcome.thumbnail is not None
    assert outcome.metadata["exif"]["orientation"] == 1
    assert outcome.metadata["exif"]["unreadable"] == "SyntaxError: not a TIFF file"


@pytest.mark.parametrize(
    "error", [KeyError(5), TypeError("bad"), IndexError("x"), MemoryError(), AssertionError()]
)
def test_any_decoder_exception_becomes_a_reason(monkeypatch, error):
    def explode(*args, **kwargs):
        raise error

    monkeypatch.setattr(Image.Image, "thumbnail", explode)
    outcome = run("alpha.png")
    assert outcome.error.startswith(f"unreadable image: {type(error).__name__}")
    assert outcome.metadata["width"] == 64
