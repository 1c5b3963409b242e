"""Loopback ntfy and Matrix servers that check the request shape each documents.

Each records every request and answers as the real service does when the
request is right (ntfy: the message as JSON; Matrix: an ``event_id``, the
same one for a transaction id it has seen, as the spec requires), and 400
with the reason when it is not. ``queue(status, body)`` makes the next
request get that answer instead (a 429, a 500...).

- ntfy: ``POST /<topic>``; ``Title``, ``Priority`` (1-5) and ``Tags`` are
  printable ASCII (a non-ASCII title as an RFC 2047 word); the body is UTF-8.
- Matrix: ``PUT /_matrix/client/v3/rooms/<room>/send/m.room.message/<txn>``
  with ``Authorization: Bearer <token>`` and JSON holding ``msgtype``,
  ``body``, and with ``format`` ``org.matrix.custom.html`` a ``formatted_body``.
"""

import collections
import http.server
import json
import re
import threading
import urllib.parse
from typing import Any, Deque, Dict, Iterator, List, NamedTuple, Optional, Tuple

import pytest

from tests.compat import ThreadingHTTPServer

MATRIX_TOKEN = "syt_TESTtoken123secret"
NTFY_TOKEN = "tk_ntfy123SECRETtoken"
_PRINTABLE = re.compile(r"^[\x20-\x7e]*$")
_MATRIX_PATH = re.compile(r"^/_matrix/client/v3/rooms/([^/]+)/send/m\.room\.message/([^/]+)$")


class Seen(NamedTuple):
    method: str
    path: str
    headers: Dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        owner = self.server.owner
        seen = Seen(self.command, self.path, dict(self.headers.items()), body)
        status, answer = owner.handle(seen)
        data = answer if isinstance(answer, bytes) else json.dumps(answer).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self) -> None:
        self.do_POST()


class _Server:
    def __init__(self) -> None:
        self.requests: List[Seen] = []
        self._queue: Deque[Tuple[int, Any]] = collections.deque()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self  # type: ignore[attr-defined]
        self.port = self._httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True
        self._thread.start()

    def queue(self, status: int, body: Any) -> None:
        with self._lock:
            self._queue.append((status, body))

    def handle(self, seen: Seen) -> Tuple[int, Any]:
        with self._lock:
            self.requests.append(seen)
            queued = self._queue.popleft() if self._queue else None
        problem = self.check(seen)
        if problem:
            return 400, {"error": problem}
        return queued if queued is not None else self.accept(seen)

    def check(self, seen: Seen) -> Optional[str]:
        raise NotImplementedError

    def accept(self, seen: Seen) -> Tuple[int, Any]:
        raise NotImplementedError

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)


class NtfyServer(_Server):
    def check(self, seen: Seen) -> Optional[str]:
        if seen.method != "POST" or not re.match(r"^/[\w-]{1,64}$", seen.path):
            return "want POST /<topic>"
        for name in ("Title", "Priority", "Tags"):
            value = seen.headers.get(name)
            if value is None or not _PRINTABLE.match(value):
                return f"header {name} missing or not printable ASCII"
        if seen.headers["Priority"] not in ("1", "2", "3", "4", "5"):
            return "bad priority"
        try:
            seen.body.decode("utf-8")
        except UnicodeDecodeError:
            return "body is not UTF-8"
        return None

    def accept(self, seen: Seen) -> Tuple[int, Any]:
        return 200, {"id": f"msg{len(self.requests)}", "event": "message", "topic": seen.path[1:]}


class MatrixServer(_Server):
    def __init__(self) -> None:
        super().__init__()
        self.events: Dict[str, str] = {}  # txn id -> event id

    def check(self, seen: Seen) -> Optional[str]:
        if seen.method != "PUT" or not _MATRIX_PATH.match(seen.path.split("?")[0]):
            return "want PUT /_matrix/client/v3/rooms/{room}/send/m.room.message/{txn}"
        if seen.headers.get("Authorization") != f"Bearer {MATRIX_TOKEN}":
            return "M_UNKNOWN_TOKEN"
        try:
            content = seen.json()
        except ValueError:
            return "M_NOT_JSON"
        if not isinstance(content.get("body"), str) or content.get("msgtype") not in ("m.text", "m.notice"):
            return "M_BAD_JSON: msgtype and body"
        if "formatted_body" in content and content.get("format") != "org.matrix.custom.html":
            return "M_BAD_JSON: formatted_body without format"
        return None

    def accept(self, seen: Seen) -> Tuple[int, Any]:
        match = _MATRIX_PATH.match(seen.path)
        assert match is not None
        txn = urllib.parse.unquote(match.group(2))
        with self._lock:
            event = self.events.setdefault(txn, f"$event{len(self.events) + 1}")
        return 200, {"event_id": event}


@pytest.fixture
def ntfy_server() -> Iterator[NtfyServer]:
    server = NtfyServer()
    yield server
    server.stop()


@pytest.fixture
def matrix_server() -> Iterator[MatrixServer]:
    server = MatrixServer()
    yield server
    server.stop()
