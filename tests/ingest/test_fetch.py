"""The safe fetcher against a real HTTP server on 127.0.0.1 (allowed through
TRIBUTARY_FETCH_ALLOW); every other address is refused before any connection, and the
tripwire fixture fails a test that would send a packet anywhere else."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import ssl
import tracemalloc

import pytest

from tests.ingest.http_server import BODY, JPEG, TestServer
from tributary.ingest.addresses import AddressPolicy
from tributary.ingest.errors import (
    BadURL,
    BlockedAddress,
    CertificateRefused,
    FetchTimeout,
    HTTPStatus,
    TooLarge,
    TooManyRedirects,
    WrongContentType,
)
from tributary.ingest.fetch import Fetcher, FetchSettings, open_ranged_url

SIGNED = (
    "/echo/k%20x/a+b.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIAEXAMPLE%2F20261205%2Fus-east-1%2Fs3%2Faws4_request"
    "&X-Amz-Signature=0f1e2d3c&x=a+b%3D&sig=ab%2Bc%3D&y=%7e"
)


def body_of(fetcher: Fetcher, url: str, **options) -> bytes:
    with fetcher.stream(url, **options) as body:
        return b"".join(body)


def test_an_image_streams_with_its_metadata(fetcher, server):
    with fetcher.stream(server.url("/image.jpg"), accept=("image/",)) as body:
        assert body.info.content_type == "image/jpeg"
        assert body.info.size == len(JPEG)
        assert body.info.accepts_ranges
        assert b"".join(body) == JPEG
        assert body.bytes_read == len(JPEG)


def test_info_reads_size_and_range_support_without_the_body(fetcher, server):
    info = fetcher.info(server.url("/image.jpg"))
    assert (info.size, info.content_type, info.accepts_ranges) == (len(JPEG), "image/jpeg", True)
    ignored = fetcher.info(server.url("/norange.bin"))
    assert (ignored.size, ignored.accepts_ranges) == (len(BODY), False)


def test_info_of_an_empty_object(fetcher, server):
    info = fetcher.info(server.url("/empty"))
    assert (info.size, info.accepts_ranges, info.content_type) == (0, True, "image/png")


def test_ranged_reads(fetcher, server):
    url = server.url("/image.jpg")
    assert fetcher.read_range(url, 0, 10) == JPEG[:10]
    assert fetcher.read_range(url, 100, 50) == JPEG[100:150]
    assert fetcher.read_range(url, len(JPEG) - 5, 100) == JPEG[-5:]  # past the end: fewer
    assert fetcher.read_range(url, len(JPEG) + 10, 5) == b""  # 416
    assert fetcher.read_range(url, 5, 0) == b""
    assert server.requests[-1][1]["Range"] == f"bytes={len(JPEG) + 10}-{len(JPEG) + 14}"


def test_a_url_as_a_seekable_file_moves_only_what_is_read(fetcher, server):
    with open_ranged_url(fetcher, server.url("/image.jpg"), buffer_size=16) as file:
        assert file.read(4) == JPEG[:4]
        file.seek(-8, 2)
        assert file.read() == JPEG[-8:]
        assert file.raw.transferred < len(JPEG)
    ranges = [headers["Range"] for path, headers in server.requests[-3:]]
    assert ranges == ["bytes=0-0", "bytes=0-15", f"bytes={len(JPEG) - 8}-{len(JPEG) - 1}"]


def test_a_server_that_ignores_range_gives_the_same_bytes(fetcher, server):
    url = server.url("/norange.bin")
    assert fetcher.read_range(url, 0, 10) == BODY[:10]
    assert fetcher.read_range(url, 70_000 % len(BODY), 3000) == BODY[70_000 % len(BODY) :][:3000]
    assert fetcher.read_range(url, len(BODY) - 4, 100) == BODY[-4:]


def test_a_pre_signed_query_is_sent_exactly_as_given(fetcher, server):
    assert body_of(fetcher, server.url(SIGNED)).decode() == SIGNED
    # ... through a redirect too (an API answering with a signed bucket URL)
    redirect = server.url("/redirect?to=" + SIGNED.replace("%", "%25").replace("&", "%26"))
    redirect = redirect.replace("+", "%2B")
    assert body_of(fetcher, redirect).decode() == SIGNED


def test_errors_are_one_line_and_redact_signatures(fetcher, server):
    signed = server.url("/status/403?X-Amz-Signature=topsecret&X-Goog-Signature=gsecret&sig=s1")
    with pytest.raises(HTTPStatus) as caught:
        body_of(fetcher, signed)
    message = str(caught.value)
    assert "HTTP 403" in message and "\n" not in message
    assert "secret" not in message and "s1" not in message
    assert "X-Amz-Signature=REDACTED" in message


def test_404_is_permanent_and_not_retried(fetcher, server, sleeps):
    with pytest.raises(HTTPStatus, match="HTTP 404") as caught:
        body_of(fetcher, server.url("/status/404"))
    assert caught.value.permanent and caught.value.status == 404
    assert sleeps == []


def test_a_status_that_is_neither_success_nor_redirect_is_an_error(fetcher, server):
    with pytest.raises(HTTPStatus, match="HTTP 300"):
        body_of(fetcher, server.url("/status/300"))


def test_500_then_200_is_retried(fetcher, server, sleeps):
    assert body_of(fetcher, server.url("/flaky/once/1")) == b"ok"
    assert server.counts["once"] == 2 and len(sleeps) == 1


def test_a_lasting_500_fails_after_the_retries_and_may_pass_later(fetcher, server, sleeps):
    with pytest.raises(HTTPStatus, match="HTTP 500") as caught:
        body_of(fetcher, server.url("/flaky/always/99"))
    assert not caught.value.permanent
    assert server.counts["always"] == 3  # the first try and 2 retries
    assert len(sleeps) == 2 and sleeps[0] < sleeps[1]  # backoff grows


def test_429_honours_retry_after(fetcher, server, sleeps):
    assert body_of(fetcher, server.url("/throttled/t429")) == b"ok"
    assert sleeps == [2.0]


def test_retry_after_as_a_date(fetcher, server, sleeps):
    assert body_of(fetcher, server.url("/dated/d503")) == b"ok"
    assert sleeps == [0.0]  # a date already past: no wait


def test_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("TRIBUTARY_FETCH_MAX_BYTES", "12345")
    monkeypatch.setenv("TRIBUTARY_FETCH_READ_TIMEOUT", "2.5")
    monkeypatch.setenv("TRIBUTARY_FETCH_RETRIES", "0")
    settings = FetchSettings.from_env()
    assert (settings.max_bytes, settings.read_timeout, settings.retries) == (12345, 2.5, 0)
    assert settings.connect_timeout == FetchSettings.connect_timeout


def test_retry_after_is_capped(server, resolver, sleeps):
    policy = AddressPolicy.parse(["127.0.0.1"], resolver)
    with Fetcher(FetchSettings(max_retry_wait=0.5), policy, sleep=sleeps.append) as fetcher:
        assert body_of(fetcher, server.url("/throttled/capped")) == b"ok"
    assert sleeps == [0.5]


def test_a_slow_response_times_out(fetcher, server, sleeps):
    settings = FetchSettings(connect_timeout=1, read_timeout=0.2, retries=0)
    with Fetcher(settings, fetcher.policy) as impatient:
        with pytest.raises(FetchTimeout, match="read timeout") as caught:
            body_of(impatient, server.url("/slow"))
        assert not caught.value.permanent
        with pytest.raises(FetchTimeout, match="read timeout after 10 bytes"):
            body_of(impatient, server.url("/stall"))


def test_a_redirect_to_a_refused_address_is_stopped_before_connecting(fetcher, server, tripwire):
    for target in ("http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "http://[::1]/"):
        with pytest.raises(BlockedAddress):
            body_of(fetcher, server.url(f"/redirect?to={target}"))
    assert all(address[0] == "127.0.0.1" for address in tripwire)


def test_a_redirect_to_a_name_is_resolved_and_checked(fetcher, server, resolver, tripwire):
    resolver.table["metadata.internal"] = ["169.254.169.254"]
    with pytest.raises(BlockedAddress, match=r"metadata.internal \(169.254.169.254\)"):
        body_of(fetcher, server.url("/redirect?to=http://metadata.internal/latest/"))
    assert resolver.lookups == ["metadata.internal"]
    assert all(address[0] == "127.0.0.1" for address in tripwire)


def test_a_redirect_to_another_scheme_is_refused(fetcher, server):
    with pytest.raises(BadURL, match="scheme 'file'"):
        body_of(fetcher, server.url("/redirect?to=file:///etc/passwd"))


def test_redirects_are_followed_up_to_five(fetcher, server):
    assert body_of(fetcher, server.url("/chain/5")) == b"end"
    with pytest.raises(TooManyRedirects, match="more than 5 redirects"):
        body_of(fetcher, server.url("/chain/6"))


def test_a_name_is_resolved_once_and_the_connection_pinned(server, resolver, tripwire):
    """DNS rebinding: the name's second answer (a refused address) is never asked for,
    and the connection goes to the address that was checked, keeping the Host header."""
    answers = iter([["127.0.0.1"], ["10.0.0.1"]])
    policy = AddressPolicy.parse(["127.0.0.1"], lambda host, port: next(answers))
    port = server.server_address[1]
    with Fetcher(FetchSettings(retries=0), policy) as fetcher:
        assert body_of(fetcher, f"http://images.example:{port}/echo") == b"/echo"
        assert body_of(fetcher, f"http://images.example:{port}/echo") == b"/echo"  # pooled
    assert server.requests[-1][1]["Host"] == f"images.example:{port}"
    assert tripwire == [("127.0.0.1", port)]  # one connection, to the vetted address


def test_without_the_allow_list_loopback_is_refused(server, resolver, tripwire, monkeypatch):
    monkeypatch.delenv("TRIBUTARY_FETCH_ALLOW", raising=False)
    fetcher = Fetcher(FetchSettings(), AddressPolicy.from_env(resolver))
    with fetcher, pytest.raises(BlockedAddress, match="loopback"):
        body_of(fetcher, server.url("/image.jpg"))
    assert tripwire == []


@pytest.mark.parametrize(
    "url",
    ["ftp://127.0.0.1/x", "file:///etc/passwd", "http://u:p@127.0.0.1/", "not a url", ""],
)
def test_bad_urls_are_refused_before_any_request(fetcher, url, tripwire):
    with pytest.raises(BadURL) as caught:
        body_of(fetcher, url)
    assert caught.value.permanent and "p@" not in str(caught.value)
    assert tripwire == []


def test_a_too_large_body_is_refused_by_its_content_length(fetcher, server):
    with (
        pytest.raises(TooLarge, match="announces 2,000,000 bytes") as caught,
        fetcher.stream(server.url("/big/2000000")),
    ):
        pytest.fail("no body should be offered")
    assert caught.value.permanent
    assert "TRIBUTARY_FETCH_MAX_BYTES" in str(caught.value)


def test_a_too_large_body_without_content_length_is_cut(fetcher, server):
    received = 0
    with (
        pytest.raises(TooLarge, match="the body grows"),
        fetcher.stream(server.url("/big-chunked/5000000")) as body,
    ):
        for chunk in body:
            received += len(chunk)
    assert received <= 1_000_000


def test_a_wrong_content_type_is_refused(fetcher, server):
    with pytest.raises(WrongContentType, match="'text/html' is not image/ or video/"):
        body_of(fetcher, server.url("/html"), accept=("image/", "video/"))
    # an unnamed or generic type passes: buckets serve untyped objects that way
    assert body_of(fetcher, server.url("/norange.bin"), accept=("image/",)) == BODY


def test_streaming_a_large_body_never_holds_it(server, resolver):
    size = 64 * 1024 * 1024
    policy = AddressPolicy.parse(["127.0.0.1"], resolver)
    with Fetcher(FetchSettings(max_bytes=size), policy) as fetcher:
        tracemalloc.start()
        try:
            received = 0
            with fetcher.stream(server.url(f"/big-chunked/{size}")) as body:
                for chunk in body:
                    received += len(chunk)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert received == size
    assert peak < 2 * 1024 * 1024, f"peak {peak:,} bytes while streaming {size:,}"


def test_no_cookie_travels_from_one_request_to_the_next(fetcher, server):
    body_of(fetcher, server.url("/cookie"))
    body_of(fetcher, server.url("/echo"))
    assert "Cookie" not in server.requests[-1][1]


def test_one_fetcher_serves_threads_at_once(fetcher, server):
    urls = [server.url("/image.jpg")] * 16 + [server.url("/norange.bin")] * 16
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        bodies = list(pool.map(lambda url: body_of(fetcher, url), urls))
    assert bodies == [JPEG] * 16 + [BODY] * 16


def _self_signed(tmp_path, host: str) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_file), str(key_file)


def test_https_to_a_pinned_address_verifies_the_host_name(tmp_path, resolver, tripwire):
    """The socket goes to the vetted IP, while TLS sends SNI for and verifies the name."""
    cert, key = _self_signed(tmp_path, "images.example")
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cafile=cert)
    resolver.table.update({"images.example": ["127.0.0.1"], "other.example": ["127.0.0.1"]})
    policy = AddressPolicy.parse(["127.0.0.1"], resolver)
    with TestServer() as server:
        server.socket = server_context.wrap_socket(server.socket, server_side=True)
        port = server.server_address[1]
        with Fetcher(FetchSettings(retries=0), policy, ssl_context=client_context) as fetcher:
            assert body_of(fetcher, f"https://images.example:{port}/echo?a=1") == b"/echo?a=1"
            with pytest.raises(CertificateRefused, match=r"(?i)certificate|hostname") as caught:
                body_of(fetcher, f"https://other.example:{port}/echo")
            assert caught.value.permanent
    assert {address for address in tripwire} == {("127.0.0.1", port)}
