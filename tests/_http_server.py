"""A real threaded HTTP server on 127.0.0.1 with fault injection, for the get_file tests and benchmark.

Each path is a `Route`: a body plus the faults to play (an error status, a
connection dropped mid-body, a lying Content-Length, Range ignored, a slow
body, a redirect). The server counts the GET requests and bytes sent per path
and remembers the Range headers it received. `TestServer(tls=True)` speaks
https with a self-signed certificate for 127.0.0.1 that no client trusts
unless told to (its `ca_bundle` file).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["Route", "TestServer"]

# A self-signed certificate for 127.0.0.1 and localhost (EC P-256, valid until 2126) and its key,
# made with: openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 36500
#   -subj "/CN=kutils test server" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost"
_TLS_CERTIFICATE = """\
-----BEGIN CERTIFICATE-----
MIIBrTCCAVOgAwIBAgIUcdhttMttP3uOIQx3y75L5VDnnzcwCgYIKoZIzj0EAwIw
HTEbMBkGA1UEAwwSa3V0aWxzIHRlc3Qgc2VydmVyMCAXDTI2MTEyNTE4MTA0MFoY
DzIxMjYxMTAxMTgxMDQwWjAdMRswGQYDVQQDDBJrdXRpbHMgdGVzdCBzZXJ2ZXIw
WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAASCyhWXBUXwZ48EJOxdW18zE0HvYutG
C7nrgBThQyjW80PR1xGciy6Ta1HjpOD65eMjuggPdtWQg73BjdO12cgyo28wbTAd
BgNVHQ4EFgQU2R5CIt1NE1UzhP1ty2tD3TFkq8MwHwYDVR0jBBgwFoAU2R5CIt1N
E1UzhP1ty2tD3TFkq8MwDwYDVR0TAQH/BAUwAwEB/zAaBgNVHREEEzARhwR/AAAB
gglsb2NhbGhvc3QwCgYIKoZIzj0EAwIDSAAwRQIgHKJhkvntA4mwWov8sRYLrAaH
k6EPJ8zKr/lSxmw1I/UCIQDm+DxmDj/DyYDJp4uHbND5josclk/ZxjeS/nya4cki
KQ==
-----END CERTIFICATE-----
"""
_TLS_KEY = """\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgUgGqqqlqJQq4BvVH
26ZlXyjeOrbJafUVtjPKUjEI9I+hRANCAASCyhWXBUXwZ48EJOxdW18zE0HvYutG
C7nrgBThQyjW80PR1xGciy6Ta1HjpOD65eMjuggPdtWQg73BjdO12cgy
-----END PRIVATE KEY-----
"""


@dataclass
class Route:
    """What the server answers on one path.

    Attributes:
        body: The file content.
        status: HTTP status to answer during the faulty requests (e.g. 500, 404).
        faults: How many first requests get the fault (status, drop, lie); None means all.
        drop_after: Close the connection after sending this many body bytes.
        content_length: Announce this Content-Length instead of the true one.
        ignore_range: Answer 200 with the whole body even when a Range is asked.
        delay: Seconds to sleep between chunks of the body.
        chunk_size: Bytes written per chunk.
        redirect_to: Answer 302 to this path instead of a body.
        later_body: The content served once the faulty requests are over, if it changes.
        chunked: Send the body with `Transfer-Encoding: chunked` instead of a Content-Length.
        validators: Which validators describe the body served: 'none', 'etag' (a strong ETag made
            from the body), 'weak-etag' (W/...), or 'last-modified' (a date that differs per body).
        honour_if_range: Answer 200 with the whole body when an If-Range does not match the body
            served (RFC 9110); False plays a server that ignores If-Range.
        hold: If set, each request waits (at most 60 s) for this event before sending the body.
        arrived: Set when a request arrives (before `hold`).
    """

    body: bytes = b""
    status: int = 200
    faults: int | None = None
    drop_after: int | None = None
    content_length: int | None = None
    ignore_range: bool = False
    delay: float = 0.0
    chunk_size: int = 64 * 1024
    redirect_to: str | None = None
    later_body: bytes | None = None
    chunked: bool = False
    validators: str = "none"
    honour_if_range: bool = True
    hold: threading.Event | None = None
    arrived: threading.Event = field(default_factory=threading.Event)
    requests: int = 0
    bytes_sent: int = 0
    ranges: list[str | None] = field(default_factory=list)
    if_ranges: list[str | None] = field(default_factory=list)


class TestServer:
    """The server, started in a daemon thread; use as a context manager.

    Attributes:
        ca_bundle: With `tls=True`, a PEM file of the server's certificate, to trust it
            (e.g. through $REQUESTS_CA_BUNDLE); None otherwise.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, *, tls: bool = False) -> None:
        self.routes: dict[str, Route] = {}
        self.lock = threading.Lock()
        self.progress = threading.Condition(self.lock)  # notified whenever body bytes are sent
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.httpd.daemon_threads = True
        self.scheme = "https" if tls else "http"
        self.ca_bundle: str | None = None
        self._tls_folder = tempfile.TemporaryDirectory(prefix="kutils-test-tls-") if tls else None
        if self._tls_folder is not None:
            self.ca_bundle = os.path.join(self._tls_folder.name, "certificate.pem")
            key = os.path.join(self._tls_folder.name, "key.pem")
            for path, text in ((self.ca_bundle, _TLS_CERTIFICATE), (key, _TLS_KEY)):
                with open(path, "w", encoding="ascii") as stream:
                    stream.write(text)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.ca_bundle, key)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05})
        self.thread.daemon = True

    def __enter__(self) -> TestServer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._tls_folder is not None:
            self._tls_folder.cleanup()

    def add(self, path: str, body: bytes = b"", **faults: object) -> str:
        """Serves `body` on `path` with the given `Route` faults; returns the full URL."""
        self.routes[path] = Route(body=body, **faults)  # type: ignore[arg-type]
        return self.url(path)

    def url(self, path: str) -> str:
        host, port = self.httpd.server_address[:2]
        return f"{self.scheme}://{host}:{port}{path}"

    def requests(self, path: str) -> int:
        """Number of GET requests received on `path`."""
        return self.routes[path].requests

    def bytes_sent(self, path: str) -> int:
        """Body bytes sent on `path` so far, all requests together."""
        return self.routes[path].bytes_sent

    def wait_for_bytes(self, path: str, count: int, timeout: float) -> bool:
        """Waits until `count` body bytes were sent on `path` (woken by each send); False after `timeout`."""
        with self.progress:
            return self.progress.wait_for(lambda: self.routes[path].bytes_sent >= count, timeout)


def _handler_for(server: TestServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            """Keeps the test output quiet."""

        def do_GET(self) -> None:
            route = server.routes.get(self.path.split("?")[0])
            if route is None:
                self._answer_status(404, "Not Found")
                return
            with server.lock:
                route.requests += 1
                route.ranges.append(self.headers.get("Range"))
                route.if_ranges.append(self.headers.get("If-Range"))
                faulty = route.faults is None or route.requests <= route.faults
            route.arrived.set()
            if route.hold is not None:
                route.hold.wait(60)
            if route.redirect_to is not None:
                self.send_response(302)
                self.send_header("Location", route.redirect_to)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if faulty and route.status >= 400:
                self._answer_status(route.status, "Injected error")
                return
            with contextlib.suppress(OSError):
                self._send_body(route, faulty)

        def _answer_status(self, status: int, text: str) -> None:
            payload = text.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _send_body(self, route: Route, faulty: bool) -> None:
            start = _range_start(self.headers.get("Range"))
            served = route.body if faulty or route.later_body is None else route.later_body
            body = memoryview(served)
            validator = _validators(route.validators, served)
            if_range = self.headers.get("If-Range")
            stale = if_range not in validator.values() or route.validators == "weak-etag"
            if start is not None and if_range is not None and route.honour_if_range and stale:
                start = None  # the file changed (or a weak validator): the whole body
            if start is not None and not route.ignore_range and start >= len(body):
                self._answer_status(416, "Range Not Satisfiable")
                return
            if start is not None and not route.ignore_range:
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                body = body[start:]
            else:
                self.send_response(200)
            self.send_header("Accept-Ranges", "none" if route.ignore_range else "bytes")
            for header, value in validator.items():
                self.send_header(header, value)
            announced = route.content_length if faulty and route.content_length is not None else len(body)
            if route.chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(announced))
            self.end_headers()
            limit = route.drop_after if faulty and route.drop_after is not None else len(body)
            sent = 0
            while sent < min(limit, len(body)):
                piece = body[sent : min(sent + route.chunk_size, limit)]
                if route.chunked:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                else:
                    self.wfile.write(piece)
                sent += len(piece)
                with server.progress:
                    route.bytes_sent += len(piece)
                    server.progress.notify_all()
                if route.delay:
                    time.sleep(route.delay)
            if sent < announced:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
            elif route.chunked:
                self.wfile.write(b"0\r\n\r\n")

    return Handler


def _validators(kind: str, body: bytes) -> dict[str, str]:
    """The validator headers of `body` for `Route.validators`."""
    tag = hashlib.sha256(body).hexdigest()[:16]
    if kind == "etag":
        return {"ETag": f'"{tag}"'}
    if kind == "weak-etag":
        return {"ETag": f'W/"{tag}"'}
    if kind == "last-modified":
        day = 1 + int(tag, 16) % 28
        return {"Last-Modified": f"Mon, {day:02d} Jan 2024 10:00:00 GMT"}
    return {}


def _range_start(header: str | None) -> int | None:
    if not header or not header.startswith("bytes="):
        return None
    first = header[len("bytes=") :].partition("-")[0]
    return int(first) if first.isdigit() else None
