"""The URL form rule: http(s) with a host, no credential, no whitespace."""

from __future__ import annotations

import pytest

from tributary.ingest.urls import url_problem

GOOD = [
    "https://b.s3.amazonaws.com/k.jpg?X-Amz-Signature=abc%2F",
    "http://h:8080/x",
    "HTTPS://Example.COM",
    "http://[2606:4700::1111]:443/p",
    "http://é.example/ü.jpg",
    "https://h/a?b=c#d",
    "http://h:1/",
    "http://h:65535",
]
BAD = [
    ("", "empty URL"),
    ("example.com/x.jpg", "not a URL"),
    ("ftp://h/x", "scheme 'ftp' is not http or https"),
    ("file:///etc/passwd", "scheme 'file'"),
    ("javascript:alert(1)", "scheme 'javascript'"),
    ("data:image/png;base64,AAAA", "scheme 'data'"),
    ("http://h/a b", "space or control character"),
    ("http://h/a\nb", "space or control character"),
    ("http://u:secret@h/", "user:password@"),
    ("http:///x", "no host"),
    ("http://h:0/", "malformed"),
    ("http://h:70000/", "malformed"),
    ("http://h:65536/", "malformed"),
    ("http://h:080/", "malformed"),
    ("http://a\\@b/", "user:password@"),
    ("http://h" + "/x" * 5000, "longer than 8192"),
]


@pytest.mark.parametrize("url", GOOD)
def test_good_urls(url):
    assert url_problem(url) is None


@pytest.mark.parametrize(("url", "reason"), BAD, ids=[b[1] for b in BAD])
def test_bad_urls_say_why(url, reason):
    problem = url_problem(url)
    assert problem is not None and reason in problem
    assert "secret" not in problem
