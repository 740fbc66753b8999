"""Image metadata and thumbnails with Pillow (HEIC/HEIF through pillow-heif).

The image is read from a seekable file (a ranged reader over storage), so Pillow moves
only what it asks for: the header for metadata, the rest only for a thumbnail.

Limits, in the order they apply:

- **pixels** (``TRIBUTARY_MAX_PIXELS``) — the one decompression-bomb limit. Pillow's own
  ``MAX_IMAGE_PIXELS`` is set from it (Pillow refuses at twice its value while opening, we
  refuse above it right after), so raising ours is never overruled by Pillow's default.
- **decode memory** (``TRIBUTARY_PREPROCESS_MAX_DECODE_BYTES``) — what the decoded pixels
  would take. JPEGs first ask libjpeg for a 1/2, 1/4 or 1/8 scale decode (``draft()``,
  DCT scaling), the smallest that still covers the thumbnail, so a 200 MP photo decodes to
  about 3 MP; every other format (PNG, TIFF, WebP, GIF, BMP, HEIF) decodes at full size
  only, so above the budget it gets metadata but no thumbnail. This bounds a thread's
  memory whatever the pixel limit is raised to.

Nothing here decodes pixels before both limits are checked: in particular a PNG's EXIF
that comes after its pixel data is read only once the pixels are decoded for the thumbnail
(Pillow's ``getexif()`` would otherwise decode the whole image just to find it).
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Callable
from typing import BinaryIO

import pillow_heif
from PIL import ExifTags, Image, UnidentifiedImageError

from tributary.preprocess.options import FORMATS, Thumbnail, ThumbnailSpec, Unprocessable

pillow_heif.register_heif_opener()

# Pillow warns between its limit and twice it; our own check refuses those images right
# after with a reason, so the warning would only be noise in the task log. A filter set
# once (warnings.catch_warnings is not thread-safe, and items run in threads).
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

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

__all__ = ["Thumbnail", "ThumbnailSpec", "Unprocessable", "describe_image", "thumbnail_of"]

Check = Callable[[str], None]


def describe_image(
    file: BinaryIO,
    metadata: dict,
    *,
    spec: ThumbnailSpec | None,
    max_pixels: int,
    max_decode_bytes: int,
    check: Check = lambda step: None,
) -> Thumbnail | None:
    """Add an image's metadata to ``metadata``; its thumbnail when ``spec`` is given.

    ``metadata`` is filled as the steps go, so what was learned before a failure is kept.
    Any exception means the file could not be processed (the caller decides the reason);
    ``check(step)`` is called between steps (a deadline).
    """
    Image.MAX_IMAGE_PIXELS = max_pixels
    image = _open(file, max_pixels)
    with image:
        check("reading the header")
        metadata.update(_header(image))
        pixels = image.width * image.height
        if pixels > max_pixels:
            raise Unprocessable(
                f"decompression bomb: {image.width}x{image.height} = {pixels:,} pixels, "
                f"over the limit of {max_pixels:,} (TRIBUTARY_MAX_PIXELS)"
            )
        exif_in_header = image.format != "PNG" or "exif" in image.info
        if exif_in_header:
            metadata.update(_orientation_metadata(image))
        if spec is None:
            return None
        _decode_within_budget(image, spec, max_decode_bytes)
        check("decoding")
        image.load()
        check("decoding")
        if not exif_in_header:
            metadata.update(_orientation_metadata(image))  # decoded now: no extra cost
        return thumbnail_of(image, metadata["exif"]["orientation"], spec, check)


def thumbnail_of(
    image: Image.Image, orientation: int, spec: ThumbnailSpec, check: Check = lambda step: None
) -> Thumbnail:
    """Shrink ``image`` (in place) to fit ``spec``, turn it upright, encode it."""
    image.thumbnail((spec.size, spec.size), Image.Resampling.BICUBIC, reducing_gap=2.0)
    check("shrinking")
    small = _displayable(image, spec)
    check("converting")
    if orientation in _UPRIGHT:
        small = small.transpose(_UPRIGHT[orientation])
    out = io.BytesIO()
    small.save(out, FORMATS[spec.format][0], quality=spec.quality)
    check("encoding the thumbnail")
    return Thumbnail(out.getvalue(), small.width, small.height, spec.mimetype)


def _open(file: BinaryIO, max_pixels: int) -> Image.Image:
    try:
        return Image.open(file)
    except Image.DecompressionBombError as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(found.group(1)):,} pixels" if found else str(exc)
        raise Unprocessable(
            f"decompression bomb: {size}, over the limit of {max_pixels:,} (TRIBUTARY_MAX_PIXELS)"
        ) from None
    except UnidentifiedImageError:
        raise Unprocessable("unsupported image format: Pillow cannot identify it") from None


def _header(image: Image.Image) -> dict:
    """What the header says: no pixel is decoded."""
    width, height = image.size
    metadata = {
        "format": image.format,
        "mode": image.mode,
        "width": width,
        "height": height,
        "exif": {"orientation": 1},
        "dimensions": {"width": width, "height": height},
    }
    try:
        frames = getattr(image, "n_frames", 1)
    except Exception:  # a damaged later frame must not cost the first one
        frames = 1
        image.seek(0)
    if isinstance(frames, int) and frames > 1:
        metadata["frames"] = frames
    return metadata


def _orientation_metadata(image: Image.Image) -> dict:
    """EXIF orientation, camera and date, and the dimensions as displayed.

    A damaged EXIF block costs the image its orientation, not its thumbnail: it is noted
    as ``exif.unreadable`` and the image is shown as stored.
    """
    described: dict = {"orientation": 1}
    try:
        exif = image.getexif()
        orientation = exif.get(ExifTags.Base.Orientation, 1)
        described["orientation"] = orientation if orientation in range(1, 9) else 1
        for name, tag in (("make", ExifTags.Base.Make), ("model", ExifTags.Base.Model)):
            if isinstance(value := exif.get(tag), str) and value.strip():
                described[name] = value.strip("\x00 ")
        taken = exif.get_ifd(ExifTags.IFD.Exif).get(ExifTags.Base.DateTimeOriginal)
        if isinstance(taken, str) and taken.strip():
            described["taken_at"] = taken.strip("\x00 ")
    except Exception as exc:  # any parser error of the EXIF bytes
        described = {"orientation": 1, "unreadable": f"{type(exc).__name__}: {exc}"[:200]}
    width, height = image.size
    swapped = described["orientation"] in _SWAPS_SIDES
    display = (height, width) if swapped else (width, height)
    return {"exif": described, "dimensions": {"width": display[0], "height": display[1]}}


# Bytes per pixel as Pillow stores a mode (RGB takes 4, as RGBA).
_ONE_BYTE = {"1", "L", "P"}


def _decode_within_budget(image: Image.Image, spec: ThumbnailSpec, max_decode_bytes: int) -> None:
    """Ask for a reduced-scale decode where the format has one, then refuse a decode that
    would still take more memory than ``max_decode_bytes``."""
    full = image.size
    if image.format == "JPEG":
        image.draft(image.mode, (spec.size, spec.size))
    per_pixel = 1 if image.mode in _ONE_BYTE else 2 if image.mode.startswith("I;16") else 4
    needed = image.width * image.height * per_pixel
    if needed > max_decode_bytes:
        raise Unprocessable(
            f"too large to decode: a {full[0]}x{full[1]} {image.format} decodes to about "
            f"{needed / 2**20:,.0f} MiB, over the {max_decode_bytes / 2**20:,.0f} MiB budget "
            "(TRIBUTARY_PREPROCESS_MAX_DECODE_BYTES); metadata only"
        )


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
