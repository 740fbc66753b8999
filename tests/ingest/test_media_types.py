"""What a mimetype cell becomes."""

from __future__ import annotations

import pytest

from tributary.ingest.media_types import normalize_mimetype


@pytest.mark.parametrize(
    ("value", "name", "expected"),
    [
        ("", "a.png", "image/jpeg"),  # the spec's default, whatever the name
        (None, "", "image/jpeg"),
        ("Image/JPG", "", "image/jpeg"),
        ("image/png", "", "image/png"),
        ("video", "clip.webm", "video/webm"),
        ("Video", "clip.MOV", "video/quicktime"),
        ("video", "clip", "video/mp4"),
        ("video", "photo.jpg", "video/mp4"),  # not a video extension: the family's default
        ("image", "photo.png", "image/png"),
        ("application/vnd.api+json", "", "application/vnd.api+json"),
    ],
)
def test_normalized(value, name, expected):
    assert normalize_mimetype(value, name) == expected


@pytest.mark.parametrize("value", ["jpeg", "image/", "/png", "image/jpeg; q=1", "a/b/c"])
def test_refused(value):
    with pytest.raises(ValueError, match="not type/subtype"):
        normalize_mimetype(value)
