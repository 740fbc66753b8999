"""Signed query strings never show: S3, GCS, Azure SAS, CloudFront, generic tokens."""

from __future__ import annotations

import pytest

from tributary.ingest.redact import redact_url

CASES = [
    pytest.param(
        "https://b.s3.amazonaws.com/a%20b.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAEXAMPLE%2F20261205%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Date=20261205T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host"
        "&X-Amz-Security-Token=FQoGZXIvYXdzEXAMPLE&X-Amz-Signature=0f1e2d3c4b5a",
        "https://b.s3.amazonaws.com/a%20b.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=REDACTED&X-Amz-Date=20261205T000000Z&X-Amz-Expires=3600"
        "&X-Amz-SignedHeaders=host&X-Amz-Security-Token=REDACTED&X-Amz-Signature=REDACTED",
        id="s3",
    ),
    pytest.param(
        "https://storage.googleapis.com/b/o.png?X-Goog-Algorithm=GOOG4-RSA-SHA256"
        "&X-Goog-Credential=sa%40p.iam.gserviceaccount.com%2F20261205&X-Goog-Signature=9a8b",
        "https://storage.googleapis.com/b/o.png?X-Goog-Algorithm=GOOG4-RSA-SHA256"
        "&X-Goog-Credential=REDACTED&X-Goog-Signature=REDACTED",
        id="gcs-v4",
    ),
    pytest.param(
        "https://storage.googleapis.com/b/o?GoogleAccessId=sa&Expires=1&Signature=abc%3D",
        "https://storage.googleapis.com/b/o?GoogleAccessId=REDACTED&Expires=1&Signature=REDACTED",
        id="gcs-v2",
    ),
    pytest.param(
        "https://acct.blob.core.windows.net/c/x.jpg?sv=2024-11-04&se=2026-12-06T00%3A00Z"
        "&sr=b&sp=r&sig=abcd%2Befgh%3D",
        "https://acct.blob.core.windows.net/c/x.jpg?sv=2024-11-04&se=2026-12-06T00%3A00Z"
        "&sr=b&sp=r&sig=REDACTED",
        id="azure-sas",
    ),
    pytest.param(
        "https://d.cloudfront.net/v.mp4?Expires=1&Signature=x~y&Key-Pair-Id=K1",
        "https://d.cloudfront.net/v.mp4?Expires=1&Signature=REDACTED&Key-Pair-Id=REDACTED",
        id="cloudfront",
    ),
    pytest.param(
        "http://api.example/f?id=7&access_token=t&api_key=k&apikey=k2&client_secret=s&page=2",
        "http://api.example/f?id=7&access_token=REDACTED&api_key=REDACTED&apikey=REDACTED"
        "&client_secret=REDACTED&page=2",
        id="generic",
    ),
    pytest.param("http://user:pw@host/x", "http://user:REDACTED@host/x", id="password"),
    pytest.param("https://h/x#token=abc", "https://h/x#token=REDACTED", id="fragment"),
    pytest.param("https://h/plain.jpg?w=10", "https://h/plain.jpg?w=10", id="nothing-secret"),
]


@pytest.mark.parametrize(("url", "shown"), CASES)
def test_secrets_are_redacted_and_the_rest_kept_as_is(url, shown):
    assert redact_url(url) == shown


def test_it_never_raises():
    assert redact_url("http://[::1/x?sig=1") == "http://[::1/x?…"
    assert redact_url(None) == "<NoneType>"
    assert redact_url("") == ""
