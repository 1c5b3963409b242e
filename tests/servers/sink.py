"""An HTTP sink on 127.0.0.1 that records every POST, and can be stopped and restarted.

The spool's network-down test stops it (connections are refused, as when the
network is down), sends, starts it again on the same port, and flushes. It
answers ``200 ok`` to every request, keeps the bodies in arrival order, and
is shared by every thread (and, being a real socket, every process).
"""

import http.server
import json
import socketserver
import threading
from typing import Any, Iterator, List, Optional

import pytest


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10
    server: "_Server"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.owner._record(self.path, body)
        # One write: headers and body in separate small packets meet Nagle
        # and delayed ACK, and each request would take 40 ms.
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: "StoppableHTTPSink"


class StoppableHTTPSink:
    """Records POST bodies; :meth:`stop` and :meth:`start` keep the port."""

    def __init__(self) -> None:
        self.port = 0
        self.bodies: List[bytes] = []
        self.paths: List[str] = []
        self._lock = threading.Lock()
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        server = _Server(("127.0.0.1", self.port), _Handler)
        server.owner = self
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Close the listening socket: new connections are refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _record(self, path: str, body: bytes) -> None:
        with self._lock:
            self.paths.append(path)
            self.bodies.append(body)

    def json_bodies(self) -> List[Any]:
        with self._lock:
            return [json.loads(body.decode("utf-8")) for body in self.bodies]


@pytest.fixture
def http_sink() -> Iterator[StoppableHTTPSink]:
    """A started :class:`StoppableHTTPSink`, stopped after the test."""
    sink = StoppableHTTPSink()
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()
