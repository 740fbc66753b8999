"""Image metadata and thumbnails with Pillow (HEIC/HEIF through pillow-heif).

JPEGs take the fast path: ``draft()`` asks libjpeg to decode at 1/2, 1/4 or 1/8 scale
(DCT scaling) — the smallest that still covers the thumbnail — so a 12 MP photo is never
decoded at full size. The thumbnail is turned upright from the EXIF orientation after it is
shrunk, when the transpose costs almost nothing.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import pillow_heif
from PIL import ExifTags, Image, UnidentifiedImageError

pillow_heif.register_heif_opener()

# EXIF orientation → the transpose that shows the image upright (as ImageOps.exif_transpose).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SWAPS_SIDES = {5, 6, 7, 8}
_FORMATS = {"jpeg": ("JPEG", "image/jpeg", "jpg"), "webp": ("WEBP", "image/webp", "webp")}


class Unprocessable(Exception):
    """The file cannot be preprocessed; the message is the reason stored on the item."""


class NeedMoreBytes(Exception):
    """The header read was too short to describe the image; read the whole file."""


@dataclass(frozen=True)
class ThumbnailSpec:
    """How thumbnails are made: longest side in pixels, ``jpeg`` or ``webp``, quality."""

    size: int = 256
    format: str = "jpeg"
    quality: int = 80

    def __post_init__(self) -> None:
        if self.format not in _FORMATS:
            raise ValueError(f"thumbnail format must be one of {', '.join(_FORMATS)}")
        if not 16 <= self.size <= 4096:
            raise ValueError("thumbnail size must be from 16 to 4096 pixels")

    @property
    def mimetype(self) -> str:
        return _FORMATS[self.format][1]

    @property
    def extension(self) -> str:
        return _FORMATS[self.format][2]


@dataclass
class Thumbnail:
    data: bytes
    width: int
    height: int
    mimetype: str


def describe_image(
    data: bytes, *, spec: ThumbnailSpec | None, max_pixels: int, complete: bool = True
) -> tuple[dict, Thumbnail | None]:
    """Metadata of an image, and its thumbnail when ``spec`` is given.

    ``complete`` False means ``data`` is only the file's first bytes (metadata only):
    ``NeedMoreBytes`` when the header does not fit in them.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise Unprocessable(f"decompression bomb: {exc}") from None
    except UnidentifiedImageError:
        if not complete:
            raise NeedMoreBytes from None
        raise Unprocessable("unsupported image format: Pillow cannot identify it") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        if not complete:
            raise NeedMoreBytes from None
        raise Unprocessable(f"unreadable image header: {exc}") from None
    with image:
        metadata = _metadata(image)
        pixels = image.width * image.height
        if pixels > max_pixels:
            raise Unprocessable(
                f"decompression bomb: {image.width}x{image.height} = {pixels:,} pixels, "
                f"over the limit of {max_pixels:,} (TRIBUTARY_MAX_PIXELS)"
            )
        if spec is None:
            return metadata, None
        return metadata, thumbnail_of(image, metadata["exif"]["orientation"], spec)


def _metadata(image: Image.Image) -> dict:
    exif = image.getexif()
    orientation = exif.get(ExifTags.Base.Orientation, 1)
    if orientation not in range(1, 9):
        orientation = 1
    width, height = image.size
    display = (height, width) if orientation in _SWAPS_SIDES else (width, height)
    described_exif: dict = {"orientation": orientation}
    for name, tag in (("make", ExifTags.Base.Make), ("model", ExifTags.Base.Model)):
        if isinstance(value := exif.get(tag), str) and value.strip():
            described_exif[name] = value.strip("\x00 ")
    taken = exif.get_ifd(ExifTags.IFD.Exif).get(ExifTags.Base.DateTimeOriginal)
    if isinstance(taken, str) and taken.strip():
        described_exif["taken_at"] = taken.strip("\x00 ")
    metadata = {
        "format": image.format,
        "mode": image.mode,
        "width": width,
        "height": height,
        "exif": described_exif,
        "dimensions": {"width": display[0], "height": display[1]},
    }
    frames = getattr(image, "n_frames", 1)
    if frames > 1:
        metadata["frames"] = frames
    return metadata


def thumbnail_of(image: Image.Image, orientation: int, spec: ThumbnailSpec) -> Thumbnail:
    """Shrink ``image`` (in place) to fit ``spec``, turn it upright, encode it."""
    box = (spec.size, spec.size)
    try:
        if image.format == "JPEG":
            image.draft(image.mode, box)
        image.thumbnail(box, Image.Resampling.BICUBIC, reducing_gap=2.0)
    except (OSError, EOFError, ValueError, SyntaxError) as exc:
        message = str(exc)
        if "truncated" in message or "broken data stream" in message or isinstance(exc, EOFError):
            raise Unprocessable(f"truncated file: {message or 'unexpected end of data'}") from None
        raise Unprocessable(f"unreadable image: {message}") from None
    small = _displayable(image, spec)
    if orientation in _UPRIGHT:
        small = small.transpose(_UPRIGHT[orientation])
    out = io.BytesIO()
    small.save(out, _FORMATS[spec.format][0], quality=spec.quality)
    return Thumbnail(out.getvalue(), small.width, small.height, spec.mimetype)


def _displayable(image: Image.Image, spec: ThumbnailSpec) -> Image.Image:
    """The image in a mode the thumbnail format takes: RGB (RGBA for WebP), L for grey."""
    mode = image.mode
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        image = image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
        mode = "L"
    if mode in ("L", "RGB"):
        return image
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        mode == "P" and "transparency" in image.info
    )
    if not has_alpha:
        return image.convert("RGB")
    rgba = image.convert("RGBA")
    if spec.format == "webp":
        return rgba
    white = Image.new("RGB", rgba.size, (255, 255, 255))
    white.paste(rgba, mask=rgba.getchannel("A"))
    return white
