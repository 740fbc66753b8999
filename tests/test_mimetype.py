"""The extension's mimetype guess shared by the listing, bucket events and preprocessing."""

from __future__ import annotations

import pytest

from tributary.mimetype import mimetype_of_extension


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("cat.jpg", "image/jpeg", id="plain"),
        pytest.param("CAT.JPG", "image/jpeg", id="upper-case-extension"),
        pytest.param("clip.final.mp4", "video/mp4", id="last-extension-counts"),
        pytest.param("README", None, id="no-extension"),
        pytest.param(".env", None, id="dot-file-is-not-an-extension"),
        pytest.param("data.unknownext", None, id="unknown-extension"),
    ],
)
def test_the_extension_names_the_mimetype(name, expected):
    assert mimetype_of_extension(name) == expected
