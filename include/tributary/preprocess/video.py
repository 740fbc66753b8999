"""Video metadata and a poster thumbnail with PyAV (its wheels carry FFmpeg)."""

from __future__ import annotations

from collections.abc import Callable
from typing import BinaryIO

import av

from tributary.preprocess.image import Thumbnail, ThumbnailSpec, Unprocessable, thumbnail_of


def describe_video(
    source: BinaryIO,
    metadata: dict,
    *,
    spec: ThumbnailSpec | None,
    max_pixels: int,
    max_decode_bytes: int,
    check: Callable[[str], None] = lambda step: None,
) -> Thumbnail | None:
    """Add duration (s), frame rate, width, height, codec and display rotation to
    ``metadata``; return the first frame, turned upright, as the poster thumbnail.

    ``source`` is a seekable file: for cloud storage a ranged reader, so the container's
    index is read where it lies (an MP4's ``moov`` box is often at the end) without
    downloading the whole video. Any exception means the file could not be processed.
    """
    try:
        container = av.open(source, mode="r")
    except (av.error.FFmpegError, ValueError) as exc:
        raise Unprocessable(f"unreadable video: {exc}") from None
    with container:
        check("reading the container")
        if not container.streams.video:
            raise Unprocessable("no video stream in the file")
        stream = container.streams.video[0]
        codec = stream.codec_context
        metadata |= {
            "format": container.format.name,
            "codec": codec.name,
            "width": codec.width,
            "height": codec.height,
            "dimensions": {"width": codec.width, "height": codec.height},
            "duration": _duration(container, stream),
            "fps": round(float(stream.average_rate), 3) if stream.average_rate else None,
        }
        if codec.width * codec.height > max_pixels:
            raise Unprocessable(
                f"video frames of {codec.width}x{codec.height} are over the pixel limit "
                f"of {max_pixels:,} (TRIBUTARY_MAX_PIXELS)"
            )
        if codec.width * codec.height * 4 > max_decode_bytes:
            raise Unprocessable(
                f"too large to decode: {codec.width}x{codec.height} frames are over the "
                "decode budget (TRIBUTARY_PREPROCESS_MAX_DECODE_BYTES); metadata only"
            )
        frame = _first_frame(container, stream)
        check("decoding the first frame")
        # Phone videos are stored sideways with a display matrix saying how to turn them.
        rotation = frame.rotation % 360
        if rotation:
            metadata["rotation"] = rotation
        if rotation in (90, 270):
            metadata["dimensions"] = {"width": codec.height, "height": codec.width}
        if spec is None:
            return None
        poster = frame.to_image()
        if rotation:
            poster = poster.rotate(rotation, expand=True)  # counter-clockwise, as stored
        return thumbnail_of(poster, 1, spec, check)


def _duration(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return round(float(stream.duration * stream.time_base), 3)
    if container.duration is not None:
        return round(container.duration / av.time_base, 3)
    return None


def _first_frame(container, stream) -> av.VideoFrame:
    """The first decodable frame: the poster, and the carrier of the display matrix."""
    try:
        frame = next(container.decode(stream), None)
    except av.error.FFmpegError as exc:
        raise Unprocessable(f"cannot decode a frame: {exc}") from None
    if frame is None:
        raise Unprocessable("no decodable frame in the video")
    return frame
