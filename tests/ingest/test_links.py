"""Link files: the spec's format written, ours and Dataloop's read, broken ones refused."""

from __future__ import annotations

import json

import pytest

from tributary.ingest.errors import InvalidLink
from tributary.ingest.links import MAX_LINK_BYTES, Link, link_file, make_link, parse_link

SIGNED = "https://b.s3.amazonaws.com/v/clip.mov?X-Amz-Signature=ab%2Fcd&X-Amz-Expires=60"


def test_the_format_is_the_specs():
    document = json.loads(make_link("https://cdn.example/cat.jpg", "", name="cat.jpg"))
    assert document == {
        "type": "link",
        "shebang": "tributary",
        "name": "cat.jpg",
        "metadata": {
            "dltype": "link",
            "linkInfo": {
                "type": "url",
                "ref": "https://cdn.example/cat.jpg",
                "mimetype": "image/jpeg",
            },
        },
    }


def test_round_trip_keeps_a_signed_url_byte_for_byte():
    link = parse_link(make_link(SIGNED, "video"))
    assert link == Link(SIGNED, "video/quicktime", None, "tributary")


def test_a_dataloop_link_is_read():
    data = json.dumps(
        {
            "type": "link",
            "shebang": "dataloop",
            "metadata": {
                "dltype": "link",
                "linkInfo": {"type": "url", "ref": "https://x.example/a.mp4", "mimetype": "video"},
            },
        }
    ).encode()
    assert parse_link(data) == Link("https://x.example/a.mp4", "video/mp4", None, "dataloop")


def test_a_bom_and_a_missing_link_type_are_tolerated():
    data = b'\xef\xbb\xbf{"type":"link","shebang":"dataloop","metadata":{"linkInfo":'
    data += b'{"ref":"http://x.example/i.png"}}}'
    assert parse_link(data) == Link("http://x.example/i.png", "image/jpeg", None, "dataloop")


@pytest.mark.parametrize(
    "data",
    [b'{"type": "dataset", "items": []}', b"[1, 2]", b'"link"', b"{}", b"null"],
)
def test_json_that_is_not_a_link_is_none(data):
    assert parse_link(data) is None


def test_big_json_is_data_not_a_link():
    big = json.dumps({"type": "link", "pad": "x" * MAX_LINK_BYTES}).encode()
    assert parse_link(big) is None


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(b'{"type": "link",', "invalid JSON", id="truncated"),
        pytest.param(b"\xff\xfe{}", "not UTF-8", id="binary"),
        pytest.param(b'{"type":"link","shebang":"other"}', "unknown shebang 'other'", id="shebang"),
        pytest.param(b'{"type":"link","shebang":"dataloop"}', "without metadata", id="no-info"),
        pytest.param(
            b'{"type":"link","shebang":"dataloop","metadata":{"linkInfo":{"ref":"file:///etc/x"}}}',
            "scheme 'file'",
            id="file-url",
        ),
        pytest.param(
            b'{"type":"link","shebang":"dataloop","metadata":{"linkInfo":{"ref":7}}}',
            "not a string",
            id="ref-number",
        ),
        pytest.param(
            b'{"type":"link","shebang":"dataloop","metadata":{"linkInfo":'
            b'{"type":"item","ref":"http://x.example/a"}}}',
            "only 'url' links",
            id="other-kind",
        ),
    ],
)
def test_broken_links_are_refused_in_one_line(data, reason):
    with pytest.raises(InvalidLink) as caught:
        parse_link(data)
    assert reason in str(caught.value) and "\n" not in str(caught.value)
    assert caught.value.permanent


def test_make_link_refuses_what_would_not_be_fetched():
    with pytest.raises(InvalidLink, match="scheme 'ftp'"):
        make_link("ftp://x.example/a.jpg")
    with pytest.raises(InvalidLink, match="not type/subtype"):
        make_link("https://x.example/a.jpg", "jpeg")
    with pytest.raises(InvalidLink, match="at most 65,536 bytes"):
        make_link("https://x.example/a.jpg", name="n" * MAX_LINK_BYTES)


@pytest.mark.parametrize(
    ("url", "mimetype", "name"),
    [
        pytest.param("https://h.example/a.jpg", "", None, id="plain"),
        pytest.param(
            'https://h.example/a.jpg?q="x"&b=\\', "video", 'ü 名\u2028\t"x".mp4', id="odd"
        ),
        pytest.param("https://h.example/a", "image/png", "", id="empty-name"),
    ],
)
def test_the_link_file_is_json_dumps_with_indent_2_and_parses_to_its_link(url, mimetype, name):
    link, data = link_file(url, mimetype, name)

    document = json.loads(data)
    assert data == json.dumps(document, ensure_ascii=False, indent=2).encode()
    assert data == make_link(url, mimetype, name)
    assert parse_link(data) == link
