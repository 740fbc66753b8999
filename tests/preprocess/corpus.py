"""A corpus of files the preprocessing tests generate: every format and failure they cover.

Images are drawn so that orientation can be checked: a red block marks the top-left
corner of the scene as it should be *displayed*; each EXIF orientation stores the pixels
turned so that applying the orientation brings the block back to the top-left.
"""

from __future__ import annotations

import io
import struct
import zlib
from fractions import Fraction

import av
import numpy
from PIL import Image, ImageDraw

# Scene as displayed: 120 wide, 80 high, red block top-left on a blue background.
SCENE_SIZE = (120, 80)

# How to store the displayed scene so that EXIF orientation N shows it upright again:
# the inverse of the transpose ImageOps.exif_transpose applies.
_STORE = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def scene() -> Image.Image:
    image = Image.new("RGB", SCENE_SIZE, (0, 0, 255))
    ImageDraw.Draw(image).rectangle((0, 0, 29, 19), fill=(255, 0, 0))
    return image


def jpeg_with_orientation(orientation: int) -> bytes:
    stored = scene()
    if _STORE[orientation] is not None:
        stored = stored.transpose(_STORE[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "TributaryCam"
    out = io.BytesIO()
    stored.save(out, "JPEG", quality=95, exif=exif.tobytes())
    return out.getvalue()


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def png_with_alpha() -> bytes:
    image = Image.new("RGBA", (64, 48), (0, 255, 0, 0))
    ImageDraw.Draw(image).ellipse((8, 8, 40, 40), fill=(255, 0, 0, 255))
    return encoded(image, "PNG")


def gif() -> bytes:
    colours = ((255, 0, 0), (0, 255, 0), (0, 0, 255))
    frames = [Image.new("RGB", (40, 30), colour).convert("P") for colour in colours]
    return encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)


def heic() -> bytes:
    import pillow_heif

    pillow_heif.register_heif_opener()
    return encoded(scene(), "HEIF", quality=80)


def cmyk_jpeg() -> bytes:
    return encoded(scene().convert("CMYK"), "JPEG", quality=90)


def truncated_jpeg() -> bytes:
    big = Image.effect_noise((800, 600), 64).convert("RGB")
    data = encoded(big, "JPEG", quality=90)
    return data[: len(data) // 2]


def oversized_png(width: int = 3000, height: int = 3000) -> bytes:
    """9 MP of one colour: a few KB on disk, over a test's 1 MP pixel limit."""
    return encoded(Image.new("L", (width, height), 7), "PNG")


def short_video(frames: int = 12, fps: int = 6, rotation: int = 0) -> bytes:
    """A 2-second 64x48 H.264 MP4 (PyAV encodes with the FFmpeg its wheel carries); the
    left half of each frame is light. ``rotation``: the display matrix a phone writes for
    a video it stored sideways (degrees counter-clockwise)."""
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.time_base = Fraction(1, fps)
        if rotation:
            stream.set_display_rotation(rotation)
        for index in range(frames):
            pixels = numpy.full((48, 64, 3), (index * 20) % 128, dtype=numpy.uint8)
            pixels[:, :32] = 230
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return out.getvalue()


def corpus() -> dict[str, bytes]:
    """File name → bytes for every case of the acceptance list."""
    files = {f"orientation-{n}.jpg": jpeg_with_orientation(n) for n in range(1, 9)}
    files.update(
        {
            "alpha.png": png_with_alpha(),
            "animated.gif": gif(),
            "photo.webp": encoded(scene(), "WEBP", quality=80),
            "scan.tiff": encoded(scene(), "TIFF"),
            "phone.heic": heic(),
            "print.jpg": cmyk_jpeg(),
            "truncated.jpg": truncated_jpeg(),
            "empty.jpg": b"",
            "notes.jpg": b"these are notes, not a photo\n",
            "huge.png": oversized_png(),
            "clip.mp4": short_video(),
            "portrait.mov": short_video(rotation=90),
        }
    )
    return files


def flat_png(width: int, height: int) -> bytes:
    """A ``width`` x ``height`` RGB PNG of one grey, made without holding its pixels.

    Deflate blocks ended by a full flush do not depend on what came before, so one block
    of a hundred rows is repeated as often as needed: a 100 Mpx PNG in about 0.3 MB and
    well under a second, where Pillow would need 400 MB to encode it.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    assert height % 100 == 0
    rows = (b"\x00" + b"\x07" * (width * 3)) * 100  # filter byte + pixels, per row
    raw = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = raw.compress(rows) + raw.flush(zlib.Z_FULL_FLUSH)
    adler = 1
    for _ in range(height // 100):
        adler = zlib.adler32(rows, adler)
    last = zlib.compressobj(9, zlib.DEFLATED, -15).flush()  # an empty final block
    idat = b"\x78\x01" + block * (height // 100) + last + struct.pack(">I", adler)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
