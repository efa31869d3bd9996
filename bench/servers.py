"""The benchmark's own HTTP servers on loopback: an image origin and a webhook receiver.

Plain `http.server` in a background thread (keep-alive, one thread per connection): both
serve from memory, so their CPU is small and counted with the benchmark process itself.
"""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from bench.corpus import CorpusImage


@dataclass
class Servers:
    """`/u/<n>/<name>` serves corpus image `name` made unique to n (a trailer after its end,
    which decoders ignore: other bytes, the same picture, so no URL's output is another's to
    reuse), with an ETag, answering 304 to a matching If-None-Match; while n is in `changed`,
    it is another version (other bytes, another ETag): an image replaced at the same URL.
    POST `/hook` records each webhook with the time it arrived."""

    images: dict[str, CorpusImage]
    base: str = ""
    hooks: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    served: int = 0
    not_modified: int = 0
    changed: set[int] = field(default_factory=set)

    def url(self, n: int, name: str) -> str:
        """Image `name` as URL number n: distinct bytes for every n, so every benchmark
        takes its own range of numbers."""
        return f"{self.base}/u/{n}/{name}"

    @property
    def hook_url(self) -> str:
        return f"{self.base}/hook"

    def hook_for(self, request_id: str) -> float | None:
        """When the webhook of `request_id` arrived (time.time()), if it has."""
        for at, body in self.hooks:
            if body.get("request_id") == request_id:
                return at
        return None


def _handler(servers: Servers) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real image hosts do

        def do_GET(self) -> None:
            parts = self.path.split("/")
            image = servers.images.get(parts[-1]) if len(parts) == 4 and parts[1] == "u" else None
            if image is None:
                self.send_error(404)
                return
            version = 2 if int(parts[2]) in servers.changed else 1
            data = image.data + f"\n{parts[2]}-{version}".encode()
            etag = f'"{parts[2]}-{version}"'
            if self.headers.get("If-None-Match") == etag:
                servers.not_modified += 1
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            servers.served += 1
            self.send_response(200)
            self.send_header("Content-Type", image.content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("ETag", etag)
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path == "/hook":
                servers.hooks.append((time.time(), orjson.loads(body)))
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # thousands of requests: no access log

    return Handler


@contextmanager
def serve(images: list[CorpusImage]) -> Iterator[Servers]:
    servers = Servers({image.name: image for image in images})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(servers))
    httpd.daemon_threads = True
    servers.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, name="bench-servers", daemon=True)
    thread.start()
    try:
        yield servers
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)
