"""A loopback server that answers like the Resend API, for the email tests.

``resend_server()`` starts a threaded HTTP server on 127.0.0.1, port 0. It
records every request (headers with lower-case names, the JSON body) and
answers from a queue of scripted replies, then with 200 ``{"id": ...}``:
:func:`validation_error` (422), :func:`rate_limited` (429 with the
``ratelimit-*`` and ``retry-after`` headers), :func:`server_error` (500) and
any status with :func:`reply`. Bodies follow Resend's documented error shape
``{"statusCode", "name", "message"}``.
"""

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest

from tests.compat import ThreadingHTTPServer

Reply = Tuple[int, Dict[str, str], bytes]


def reply(status: int, name: str, message: str, headers: Optional[Dict[str, str]] = None) -> Reply:
    """An error answer in Resend's shape."""
    body = json.dumps({"statusCode": status, "name": name, "message": message}).encode()
    return status, dict(headers or {}), body


def validation_error(message: str = "Invalid `to` field.") -> Reply:
    return reply(422, "validation_error", message)


def rate_limited(retry_after: Optional[str] = "1", reset: str = "1") -> Reply:
    headers = {"ratelimit-limit": "2", "ratelimit-remaining": "0", "ratelimit-reset": reset}
    if retry_after is not None:
        headers["retry-after"] = retry_after
    return reply(
        429, "rate_limit_exceeded", "Too many requests. You can only make 2 requests per second.", headers
    )


def server_error() -> Reply:
    return reply(500, "application_error", "An unexpected error occurred.")


class ResendServer:
    """``url``, ``requests`` (list of dicts), ``replies`` (queue), ``stop()``."""

    def __init__(self) -> None:
        self.requests: List[Dict[str, Any]] = []
        self.replies: List[Reply] = []
        self.ids: List[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                record = {
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "json": json.loads(raw.decode("utf-8")) if raw else None,
                }
                server.requests.append(record)
                if server.replies:
                    status, headers, body = server.replies.pop(0)
                elif self.path != "/emails":
                    status, headers, body = reply(404, "not_found", "The requested endpoint does not exist.")
                else:
                    email_id = str(uuid.uuid4())
                    server.ids.append(email_id)
                    status, headers, body = 200, {}, json.dumps({"id": email_id}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="resend", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)


@pytest.fixture
def resend_server() -> Iterator[Callable[[], ResendServer]]:
    """Start Resend look-alikes for one test; all stop at teardown."""
    started: List[ResendServer] = []

    def start() -> ResendServer:
        server = ResendServer()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
