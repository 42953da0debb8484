"""A static file server for the download benchmark, run as its own process: `python _file_server.py FILE`.

It answers every GET with FILE through `socket.sendfile` (the kernel copies the
page cache straight to the socket, as nginx or any production static server
does), so the benchmark measures the client, not a Python server sharing its
process and GIL. It prints its URL on one line, then serves until killed.
"""

from __future__ import annotations

import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _handler_for(path: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            """Silent: the benchmark prints its own table."""

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(os.path.getsize(path)))
            self.end_headers()
            with open(path, "rb") as stream:
                self.connection.sendfile(stream)

    return Handler


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(sys.argv[1]))
    print(f"http://127.0.0.1:{server.server_address[1]}/{os.path.basename(sys.argv[1])}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
