"""A Slack-compatible incoming-webhook server on 127.0.0.1, and its HTTPS twin.

HTTP/1.1 with keep-alive; it counts TCP connections and records every
request. A failure mode is chosen by the path (``server.url("hang")`` gives
``/mode/hang/services/...``) or queued for the next requests
(``server.queue("ratelimit=1", "status=500")``); without one it answers
``200 ok`` like Slack. Modes (``name`` or ``name=argument``):

- ``ok``, ``body=<text>`` (200 with that body), ``chunked`` (200 ``ok``, chunked),
  ``delay=<seconds>`` (200 ``ok`` after a wait),
  ``close_after`` (200 ``ok`` then ``Connection: close``)
- ``status=<code>[:<body>]``; Slack's own errors ``no_service`` (404),
  ``channel_not_found`` (404), ``invalid_payload`` (400), ``invalid_token``
  (403), ``channel_is_archived`` (410)
- ``fail=<n>:<code>``: the first n requests of this mode get the code, then ``ok``
- ``ratelimit=<Retry-After>``: 429 with that header (``none``: no header)
- ``hang``, ``trickle=status|headers|body`` (a byte every 0.25 s: never a gap a 1 s
  read timeout would catch, so only a deadline per call ends it), ``reset``
  (RST after reading the request), ``close`` (FIN, no answer)
- ``redirect`` (302 to ``/elsewhere``), ``huge`` (a 5 MB body),
  ``many_headers``, ``long_line``, ``bad_status``
- ``answer``: the next ``(status, body, headers)`` given to ``server.answer()``
"""

import collections
import http.server
import json
import os
import socket
import ssl
import struct
import threading
import urllib.parse
from typing import Any, Deque, Dict, Iterator, List, NamedTuple, Optional, Tuple

import pytest

from tests.compat import ThreadingHTTPServer
from tests.servers._require import unavailable

#: The secret part of every test webhook URL: a leak scan looks for it.
TOKEN = "zq8SECRETtokenXq7"
HOOK_PATH = f"/services/T0TEST1/B0TEST2/{TOKEN}"

_SLACK_ERRORS = {
    "no_service": (404, "no_service"),
    "channel_not_found": (404, "channel_not_found"),
    "invalid_payload": (400, "invalid_payload"),
    "invalid_token": (403, "invalid_token"),
    "channel_is_archived": (410, "channel_is_archived"),
}
_REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    302: "Found",
    401: "Unauthorized",
    408: "Request Timeout",
    422: "Unprocessable Entity",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    410: "Gone",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


class Recorded(NamedTuple):
    """One request as the server saw it."""

    method: str
    path: str
    headers: Dict[str, str]
    body: bytes
    connection: int

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10  # an idle keep-alive connection ends eventually
    server: "_Server"

    def setup(self) -> None:
        self.connection_id = self.server.owner._opened(self.request)
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(10)
            self.request.do_handshake()
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.do_POST()

    def do_PUT(self) -> None:
        self.do_POST()

    def do_PATCH(self) -> None:
        self.do_POST()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        owner = self.server.owner
        owner._record(Recorded(self.command, self.path, dict(self.headers.items()), body, self.connection_id))
        mode = owner._next_mode(self.path)
        name, _, arg = mode.partition("=")
        getattr(self, f"_mode_{name}")(arg)

    # -- plain answers ------------------------------------------------------
    def _reply(self, status: int, body: bytes, headers: Tuple[Tuple[str, str], ...] = ()) -> None:
        head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", "Content-Type: text/plain"]
        head += [f"{k}: {v}" for k, v in headers]
        head.append(f"Content-Length: {len(body)}")
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        if any(k.lower() == "connection" and v.lower() == "close" for k, v in headers):
            self.close_connection = True

    def _mode_ok(self, arg: str) -> None:
        self._reply(200, b"ok")

    def _mode_body(self, arg: str) -> None:
        self._reply(200, arg.encode("utf-8"))

    def _mode_close_after(self, arg: str) -> None:
        self._reply(200, b"ok", (("Connection", "close"),))

    def _mode_delay(self, arg: str) -> None:
        self.server.owner.stopping.wait(float(arg))
        self._reply(200, b"ok")

    def _mode_chunked(self, arg: str) -> None:
        self.wfile.write(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\no\r\n1\r\nk\r\n0\r\n\r\n"
        )

    def _mode_status(self, arg: str) -> None:
        code, sep, text = arg.partition(":")
        if not sep:
            text = {500: "internal_error"}.get(int(code), "error")
        self._reply(int(code), text.encode())

    def _mode_fail(self, arg: str) -> None:
        count, _, code = arg.partition(":")
        seen = self.server.owner._count(f"fail={arg}")
        if seen <= int(count):
            self._mode_status(code)
        else:
            self._mode_ok("")

    def _mode_ratelimit(self, arg: str) -> None:
        headers = () if arg == "none" else (("Retry-After", arg),)
        self._reply(429, b"rate_limited", headers)

    def _mode_answer(self, arg: str) -> None:
        with self.server.owner._lock:
            status, body, headers = self.server.owner.answers.popleft()
        self._reply(status, body, headers)

    def _mode_redirect(self, arg: str) -> None:
        host, port = self.server.server_address[:2]
        assert isinstance(host, str)  # an AF_INET address: (host, port)
        self._reply(302, b"", (("Location", f"http://{host}:{port}/elsewhere"),))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_mode_") and name[6:] in _SLACK_ERRORS:
            status, text = _SLACK_ERRORS[name[6:]]
            return lambda arg: self._reply(status, text.encode())
        raise AttributeError(name)

    # -- misbehaving answers ----------------------------------------------
    def _mode_hang(self, arg: str) -> None:
        self.server.owner.stopping.wait(60)
        self.close_connection = True

    def _mode_trickle(self, arg: str) -> None:
        body = b"x" * 64
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Slow: " + b"y" * 16
        head += b"\r\nContent-Length: %d\r\n\r\n" % len(body)
        if arg == "status":
            fast, slow = b"", head + body
        elif arg == "headers":
            fast, slow = head[:17], head[17:] + body
        else:
            fast, slow = head, body
        self.close_connection = True
        try:
            self.wfile.write(fast)
            for i in range(len(slow)):
                self.wfile.write(slow[i : i + 1])
                if self.server.owner.stopping.wait(0.25):
                    return
        except OSError:
            return

    def _mode_reset(self, arg: str) -> None:
        # linger 0 and a real close of the descriptor send an RST; socketserver's
        # own shutdown(SHUT_WR) would send a polite FIN first
        self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        os.close(self.request.detach())
        self.close_connection = True

    def _mode_close(self, arg: str) -> None:
        self.close_connection = True

    def _mode_cut(self, arg: str) -> None:
        # the first bytes of an answer (part of the head, or the head and part
        # of the body), time for the client to read them, then a reset
        body = b"x" * 64
        head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
        self.wfile.write(head[:12] if arg == "head" else head + body[:8])
        self.wfile.flush()
        self.server.owner.stopping.wait(0.3)
        self._mode_reset(arg)

    def _mode_huge(self, arg: str) -> None:
        size = 5 * 1024 * 1024
        self.close_connection = True
        try:
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
            chunk = b"z" * 65536
            for _ in range(size // len(chunk)):
                self.wfile.write(chunk)
        except OSError:
            return

    def _mode_many_headers(self, arg: str) -> None:
        self._reply(200, b"ok", tuple((f"X-Filler-{i}", "x") for i in range(150)))

    def _mode_long_line(self, arg: str) -> None:
        self._reply(200, b"ok", (("X-Long", "l" * 70000),))

    def _mode_bad_status(self, arg: str) -> None:
        self.wfile.write(b"HTTX/1.1 two hundred\r\nContent-Length: 2\r\n\r\nok")
        self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins every handler thread
    block_on_close = True
    owner: "SlackServer"

    def get_request(self) -> Tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        if self.owner.tls is not None:
            sock = self.owner.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up or rejects our certificate is part of the tests


class SlackServer:
    """The server; ``url(mode)`` gives a webhook URL that answers in that mode."""

    def __init__(self, tls: Optional[ssl.SSLContext] = None) -> None:
        self.tls = tls
        self.requests: List[Recorded] = []
        self.connections = 0
        self.stopping = threading.Event()
        self._queue: Deque[str] = collections.deque()
        self.answers: Deque[Tuple[int, bytes, Tuple[Tuple[str, str], ...]]] = collections.deque()
        self._counts: Dict[str, int] = collections.Counter()
        self._sockets: List[socket.socket] = []
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True
        self._thread.start()

    @property
    def base_url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def url(self, mode: str = "ok", token: str = TOKEN) -> str:
        path = HOOK_PATH.replace(TOKEN, token)
        if mode != "ok":
            path = f"/mode/{urllib.parse.quote(mode, safe='=:')}{path}"
        return self.base_url + path

    def queue(self, *modes: str) -> None:
        """The next requests answer in these modes, in order, whatever their path."""
        with self._lock:
            self._queue.extend(modes)

    def answer(self, status: int, body: bytes, headers: Tuple[Tuple[str, str], ...] = ()) -> None:
        """The next request gets exactly this answer, whatever its path."""
        with self._lock:
            self.answers.append((status, body, headers))
            self._queue.append("answer")

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self.drop_connections()
        self._server.server_close()
        self._thread.join(5)

    def drop_connections(self) -> None:
        """Hang up every open connection, as servers do with idle keep-alive ones."""
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # -- called by the handler --------------------------------------------
    def _opened(self, sock: socket.socket) -> int:
        with self._lock:
            self.connections += 1
            self._sockets.append(sock)
            return self.connections

    def _record(self, request: Recorded) -> None:
        with self._lock:
            self.requests.append(request)

    def _count(self, key: str) -> int:
        with self._lock:
            self._counts[key] += 1
            return self._counts[key]

    def _next_mode(self, path: str) -> str:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        if path.startswith("/mode/"):
            return urllib.parse.unquote(path.split("/")[2])
        return "ok"


class TLSFiles(NamedTuple):
    """The trustme CA of the HTTPS server, as a PEM file a client can trust."""

    ca_path: str
    server_context: ssl.SSLContext


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    try:
        import trustme
    except ImportError:
        unavailable("trustme is not installed (pip install -e '.[test]')")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    path = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return TLSFiles(str(path), context)


@pytest.fixture
def slack_server() -> Iterator[SlackServer]:
    server = SlackServer()
    yield server
    server.stop()


@pytest.fixture
def slack_tls_server(tls_files: TLSFiles) -> Iterator[SlackServer]:
    server = SlackServer(tls=tls_files.server_context)
    yield server
    server.stop()
