"""A real HTTP server on 127.0.0.1 (a thread) serving the cases the fetcher must survive.

Routes (the query string is free for the test's own use):

- ``/image.jpg``        a small JPEG, honours ``Range``
- ``/norange.bin``      ``BODY``, ignores ``Range`` (always 200 with the whole body)
- ``/empty``            an empty body (a Range on it gets 416)
- ``/dated/<key>``      503 with a Retry-After date in the past, then 200 ``ok``
- ``/html``             ``text/html`` (a login page where an image was expected)
- ``/echo``             200, the raw request target as the body
- ``/status/<code>``    that status, empty body
- ``/flaky/<key>/<n>``  500 for the first ``n`` requests of ``key``, then 200 ``ok``
- ``/throttled/<key>``  429 with ``Retry-After: 2`` the first time, then 200 ``ok``
- ``/slow``             waits 3 s before its headers
- ``/stall``            headers and 10 bytes, then waits 3 s
- ``/redirect?to=URL``  302 to ``URL`` (as given)
- ``/cookie``           sets a session cookie
- ``/chain/<n>``        302 to ``/chain/<n-1>``; ``/chain/0`` is 200 ``end``
- ``/big/<n>``          ``n`` bytes with Content-Length; ``/big-chunked/<n>`` without it
- ``/files/<name>``     ``server.files[name]`` (a test's own bytes), honours ``Range``
- ``/plain/<name>``     the same, ignoring ``Range`` (200, whole body, no Accept-Ranges)
"""

from __future__ import annotations

import collections
import io
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from PIL import Image

BODY = bytes(range(256)) * 64  # 16,384 bytes


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()


JPEG = _jpeg()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: TestServer

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self.server.requests.append((self.path, dict(self.headers)))
        path = urlsplit(self.path).path
        for pattern, method in ROUTES:
            if match := re.fullmatch(pattern, path):
                method(self, *match.groups())
                return
        self.send_body(404, b"")

    # -- helpers ----------------------------------------------------------------------------

    def send_body(self, status: int, body: bytes, content_type: str = "text/plain", **headers):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def send_ranged(self, body: bytes, content_type: str) -> None:
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if not match:
            self.send_body(200, body, content_type, Accept_Ranges="bytes")
            return
        start = int(match[1])
        end = min(int(match[2]) if match[2] else len(body) - 1, len(body) - 1)
        if start >= len(body):
            self.send_body(416, b"", content_type, Content_Range=f"bytes */{len(body)}")
            return
        self.send_body(
            206,
            body[start : end + 1],
            content_type,
            Content_Range=f"bytes {start}-{end}/{len(body)}",
        )

    # -- routes -----------------------------------------------------------------------------

    def files(self, name: str) -> None:
        if name not in self.server.files:
            self.send_body(404, b"")
            return
        self.send_ranged(self.server.files[name], self.server.types.get(name, "image/jpeg"))

    def plain(self, name: str) -> None:
        if name not in self.server.files:
            self.send_body(404, b"")
            return
        self.send_body(200, self.server.files[name], self.server.types.get(name, "image/jpeg"))

    def image(self) -> None:
        self.send_ranged(JPEG, "image/jpeg")

    def empty(self) -> None:
        self.send_ranged(b"", "image/png")

    def dated(self, key: str) -> None:
        self.server.counts[key] += 1
        if self.server.counts[key] == 1:
            self.send_body(503, b"", Retry_After="Wed, 21 Oct 2015 07:28:00 GMT")  # the past
        else:
            self.send_body(200, b"ok")

    def norange(self) -> None:
        self.send_body(200, BODY, "application/octet-stream")

    def html(self) -> None:
        self.send_body(200, b"<html>sign in</html>", "text/html; charset=utf-8")

    def echo(self) -> None:
        self.send_body(200, self.path.encode())

    def status(self, code: str) -> None:
        self.send_body(int(code), b"")

    def flaky(self, key: str, failures: str) -> None:
        self.server.counts[key] += 1
        if self.server.counts[key] <= int(failures):
            self.send_body(500, b"")
        else:
            self.send_body(200, b"ok")

    def throttled(self, key: str) -> None:
        self.server.counts[key] += 1
        if self.server.counts[key] == 1:
            self.send_body(429, b"", Retry_After="2")
        else:
            self.send_body(200, b"ok")

    def slow(self) -> None:
        time.sleep(3)
        self.send_body(200, b"late")

    def stall(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "100")
        self.end_headers()
        self.wfile.write(b"0123456789")
        self.wfile.flush()
        time.sleep(3)

    def cookie(self) -> None:
        self.send_body(200, b"set", Set_Cookie="session=secret-of-user-a; Path=/")

    def redirect(self) -> None:
        target = parse_qs(urlsplit(self.path).query)["to"][0]
        self.send_body(302, b"", Location=target)

    def chain(self, n: str) -> None:
        if int(n) == 0:
            self.send_body(200, b"end")
        else:
            self.send_body(302, b"", Location=f"/chain/{int(n) - 1}")

    def big(self, n: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", n)
        self.end_headers()
        self._write_zeros(int(n))

    def big_chunked(self, n: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        left = int(n)
        block = b"\0" * 65536
        try:
            while left > 0:
                size = min(left, len(block))
                self.wfile.write(b"%x\r\n" % size + block[:size] + b"\r\n")
                left -= size
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading: the cap worked

    def _write_zeros(self, n: int) -> None:
        block = b"\0" * 65536
        try:
            while n > 0:
                self.wfile.write(block[: min(n, len(block))])
                n -= len(block)
        except (BrokenPipeError, ConnectionResetError):
            pass


ROUTES = [
    (r"/image\.jpg", Handler.image),
    (r"/norange\.bin", Handler.norange),
    (r"/empty", Handler.empty),
    (r"/dated/(\w+)", Handler.dated),
    (r"/html", Handler.html),
    (r"/echo.*", Handler.echo),
    (r"/status/(\d+)", Handler.status),
    (r"/flaky/(\w+)/(\d+)", Handler.flaky),
    (r"/throttled/(\w+)", Handler.throttled),
    (r"/slow", Handler.slow),
    (r"/stall", Handler.stall),
    (r"/redirect", Handler.redirect),
    (r"/cookie", Handler.cookie),
    (r"/chain/(\d+)", Handler.chain),
    (r"/big/(\d+)", Handler.big),
    (r"/big-chunked/(\d+)", Handler.big_chunked),
    (r"/files/([\w.-]+)", Handler.files),
    (r"/plain/([\w.-]+)", Handler.plain),
]


class TestServer(ThreadingHTTPServer):
    """The server, its request log and per-key counters; ``url(path)`` builds a URL."""

    daemon_threads = True
    __test__ = False  # not a pytest class

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[tuple[str, dict]] = []
        self.counts: collections.Counter[str] = collections.Counter()
        self.files: dict[str, bytes] = {}  # served at /files/<name> and /plain/<name>
        self.types: dict[str, str] = {}  # their content types (image/jpeg by default)
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def handle_error(self, request, client_address) -> None:
        """Quiet: a client that gave up (a timeout, a cap) is what these tests provoke."""

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def __enter__(self) -> TestServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.shutdown()
        self.server_close()
