"""Loopback sinks: a Slack-compatible HTTP endpoint and a small SMTP server.

They let the demo, the examples and the tests deliver real bytes over real
sockets without any account or network beyond 127.0.0.1. Both record what
they receive and answer like the service they stand in for: the HTTP sink
answers a JSON post with ``200 ok`` (and ``/status/<code>`` with that code,
to show a failure), the SMTP sink speaks enough SMTP (EHLO/HELO, MAIL, RCPT,
DATA, RSET, NOOP, QUIT) for :mod:`smtplib`.

Rules: standard library only; everything is bounded (request and message
sizes, line lengths, recipients, idle time), and a sink never keeps more
than ``max_records`` items. Sinks are not part of the public API; they are
private to the package's demo, examples and tests.

Run one from a shell (.ci/steps/20-examples.sh does)::

    python -m kstalerts.net.loopback http --lifetime 60   # prints the URL
"""

import json
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from .._typing import Any, List, NamedTuple, Optional, Tuple, TypeVar
from ..limits import MAX_RECIPIENTS, MAX_REQUEST_BYTES

__all__ = ()

LOOPBACK = "127.0.0.1"
#: the path a Slack incoming webhook has; any path is accepted
SLACK_PATH = "/services/T0000LOOP/B0000LOOP/loopbacksecret"

_MAX_RECORDS = 10000
_MAX_SMTP_LINE = 1000  # RFC 5321: 998 characters plus CRLF, with some slack
_MAX_MESSAGE_BYTES = MAX_REQUEST_BYTES
_IDLE_TIMEOUT = 30.0  # seconds a client may stay silent before being dropped

_S = TypeVar("_S", bound="_Sink")


class _Sink:
    """A server on a background thread: start, stop, ``with`` block."""

    _server: socketserver.TCPServer

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None

    @property
    def address(self) -> Tuple[str, int]:
        host, port = self._server.socket.getsockname()[:2]
        return str(host), int(port)

    @property
    def port(self) -> int:
        return self.address[1]

    def start(self: _S) -> _S:
        """Serve on a daemon thread; returns the sink."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"kstalerts-{type(self).__name__}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5.0)
            self._thread = None
        self._server.server_close()

    def __enter__(self: _S) -> _S:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# -- HTTP ------------------------------------------------------------------


class HTTPPost(NamedTuple):
    """One request the HTTP sink received; ``payload`` is the parsed JSON."""

    path: str
    payload: Any
    status: int
    content_type: str


class _HTTPServer(socketserver.ThreadingMixIn, HTTPServer):  # ThreadingHTTPServer is 3.7+
    daemon_threads = True
    sink: "HTTPSink"


class _HTTPHandler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"
    timeout = _IDLE_TIMEOUT
    server_version = "kstalerts-loopback"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the sink records requests instead of printing them."""

    def do_POST(self) -> None:
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._answer(411, "length_required")
            return
        if length < 0 or length > _MAX_MESSAGE_BYTES:
            self.close_connection = True
            self._answer(413, "payload_too_large")
            return
        body = self.rfile.read(length)
        status = self.server.sink.status_for(self.path)
        try:
            payload = json.loads(body.decode("utf-8"))
        except ValueError:
            self._answer(400, "invalid_payload")
            return
        self.server.sink.record(HTTPPost(self.path, payload, status, self.headers.get("Content-Type", "")))
        self._answer(status, "ok" if status < 300 else "loopback_failure")

    def do_GET(self) -> None:
        self._answer(405, "method_not_allowed")

    def _answer(self, status: int, text: str) -> None:
        body = text.encode("ascii")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class HTTPSink(_Sink):
    """A Slack-compatible incoming-webhook endpoint on loopback.

    A JSON POST is recorded in :attr:`posts` and answered ``200 ok``. A
    path ending in ``/status/<code>`` (or ``status=`` for every path)
    answers that code instead, so a failing channel can be shown. Bodies
    that are not JSON get ``400 invalid_payload`` and are not recorded.

    >>> with HTTPSink() as sink:
    ...     sink.url.startswith("http://127.0.0.1:")
    True
    """

    def __init__(self, host: str = LOOPBACK, port: int = 0, *, status: int = 200) -> None:
        super().__init__()
        self.status = status
        self.posts: List[HTTPPost] = []
        self._server = _HTTPServer((host, port), _HTTPHandler)
        self._server.sink = self

    @property
    def base_url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        """A URL shaped like a Slack incoming webhook."""
        return self.base_url + SLACK_PATH

    def failing_url(self, status: int) -> str:
        """A URL this sink answers with ``status``."""
        return f"{self.base_url}/status/{int(status)}"

    def status_for(self, path: str) -> int:
        _, _, code = path.rstrip("/").rpartition("/status/")
        if code.isdigit() and 100 <= int(code) <= 599:
            return int(code)
        return self.status

    def record(self, post: HTTPPost) -> None:
        with self._lock:
            if len(self.posts) < _MAX_RECORDS:
                self.posts.append(post)

    @property
    def delivered(self) -> List[HTTPPost]:
        """The posts answered with a 2xx status."""
        with self._lock:
            return [p for p in self.posts if 200 <= p.status < 300]


# -- SMTP ------------------------------------------------------------------


class ReceivedMail(NamedTuple):
    """One message the SMTP sink accepted."""

    sender: str
    recipients: Tuple[str, ...]
    data: bytes

    @property
    def subject(self) -> str:
        """The decoded Subject header (empty when there is none)."""
        return str(self.message().get("Subject", ""))

    def message(self) -> Any:
        """The message parsed by :mod:`email` (imported on first use)."""
        import email
        import email.policy

        return email.message_from_bytes(self.data, policy=email.policy.default)

    def text(self) -> str:
        """The plain-text body, or an empty string."""
        msg = self.message()
        part = msg.get_body(preferencelist=("plain",))
        return "" if part is None else str(part.get_content()).replace("\r\n", "\n")


class _SMTPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    sink: "SMTPSink"


class _SMTPHandler(socketserver.StreamRequestHandler):
    server: _SMTPServer
    timeout = _IDLE_TIMEOUT

    def _reply(self, text: str) -> None:
        self.wfile.write(text.encode("ascii") + b"\r\n")
        self.wfile.flush()

    def _line(self) -> Optional[bytes]:
        """One line without its CRLF; ``None`` at EOF; raises on overlong."""
        raw = self.rfile.readline(_MAX_SMTP_LINE + 1)
        if not raw:
            return None
        if len(raw) > _MAX_SMTP_LINE and not raw.endswith(b"\n"):
            raise _LineTooLongError
        return raw.rstrip(b"\r\n")

    def handle(self) -> None:
        try:
            self._session()
        except (OSError, _LineTooLongError):
            # A dropped, idle or misbehaving client ends its own session only.
            return

    def _session(self) -> None:
        sink = self.server.sink
        self._reply(f"220 {sink.hostname} kstalerts loopback SMTP ready")
        sender: Optional[str] = None
        recipients: List[str] = []
        greeted = False
        while True:
            try:
                raw = self._line()
            except _LineTooLongError:
                self._reply("500 5.5.2 line too long")
                return
            if raw is None:
                return
            line = raw.decode("utf-8", "replace")
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            if verb == "EHLO":
                greeted, sender, recipients = True, None, []
                self._reply(f"250-{sink.hostname}")
                self._reply(f"250-SIZE {_MAX_MESSAGE_BYTES}")
                self._reply("250-8BITMIME")
                self._reply("250 SMTPUTF8")
            elif verb == "HELO":
                greeted, sender, recipients = True, None, []
                self._reply(f"250 {sink.hostname}")
            elif verb == "NOOP":
                self._reply("250 2.0.0 ok")
            elif verb == "RSET":
                sender, recipients = None, []
                self._reply("250 2.0.0 ok")
            elif verb == "QUIT":
                self._reply("221 2.0.0 bye")
                return
            elif verb == "MAIL":
                address = _address(arg, "FROM:")
                if not greeted:
                    self._reply("503 5.5.1 say EHLO first")
                elif sender is not None:
                    self._reply("503 5.5.1 sender already given")
                elif address is None:
                    self._reply("501 5.5.4 syntax: MAIL FROM:<address>")
                else:
                    sender = address
                    self._reply("250 2.1.0 sender ok")
            elif verb == "RCPT":
                address = _address(arg, "TO:")
                if sender is None:
                    self._reply("503 5.5.1 need MAIL first")
                elif not address:
                    self._reply("501 5.5.4 syntax: RCPT TO:<address>")
                elif len(recipients) >= MAX_RECIPIENTS:
                    self._reply("452 4.5.3 too many recipients")
                elif address in sink.reject:
                    self._reply("550 5.1.1 mailbox unavailable")
                else:
                    recipients.append(address)
                    self._reply("250 2.1.5 recipient ok")
            elif verb == "DATA":
                if sender is None or not recipients:
                    self._reply("503 5.5.1 need MAIL and RCPT first")
                    continue
                self._reply("354 end data with <CR><LF>.<CR><LF>")
                data = self._data()
                if data is None:
                    self._reply("552 5.3.4 message too big")
                else:
                    sink.record(ReceivedMail(sender, tuple(recipients), data))
                    self._reply("250 2.0.0 queued")
                sender, recipients = None, []
            else:
                self._reply("502 5.5.1 command not implemented")

    def _data(self) -> Optional[bytes]:
        """Read the message up to the lone dot; ``None`` when it was too big."""
        chunks: List[bytes] = []
        size = 0
        too_big = False
        while True:
            raw = self._line()
            if raw is None:
                raise _LineTooLongError  # the client went away mid-message
            if raw == b".":
                break
            if raw.startswith(b"."):
                raw = raw[1:]
            size += len(raw) + 2
            if size > _MAX_MESSAGE_BYTES:
                too_big = True
                chunks = []
            if not too_big:
                chunks.append(raw)
        return None if too_big else b"\r\n".join(chunks) + b"\r\n"


class _LineTooLongError(Exception):
    """A line longer than SMTP allows, or the client left mid-message."""


def _address(arg: str, prefix: str) -> Optional[str]:
    """The address in ``FROM:<a@b> SIZE=1``; ``None`` when malformed."""
    if not arg.upper().startswith(prefix):
        return None
    rest = arg[len(prefix) :].strip()
    if not rest.startswith("<"):
        return None
    end = rest.find(">")
    if end < 0:
        return None
    return rest[1:end]


class SMTPSink(_Sink):
    """A minimal SMTP server on loopback that keeps what it receives.

    No TLS and no AUTH: point an ``SMTPTransport(security="none")`` at it.
    ``reject`` lists recipient addresses answered ``550``, to show a
    failure. Accepted messages are in :attr:`messages`.
    """

    hostname = "loopback.kstalerts.invalid"

    def __init__(self, host: str = LOOPBACK, port: int = 0, *, reject: Tuple[str, ...] = ()) -> None:
        super().__init__()
        self.reject = frozenset(reject)
        self.messages: List[ReceivedMail] = []
        self._server = _SMTPServer((host, port), _SMTPHandler)
        self._server.sink = self

    def record(self, mail: ReceivedMail) -> None:
        with self._lock:
            if len(self.messages) < _MAX_RECORDS:
                self.messages.append(mail)


def _main(argv: Optional[List[str]] = None) -> int:
    """Run one sink in the foreground for the examples' shell scripts."""
    import argparse
    import sys
    import time

    parser = argparse.ArgumentParser(prog="python -m kstalerts.net.loopback")
    parser.add_argument("kind", choices=("http", "smtp"))
    parser.add_argument("--lifetime", type=float, default=60.0, help="seconds before exiting (max 600)")
    args = parser.parse_args(argv)
    http_sink: Optional[HTTPSink] = None
    smtp_sink: Optional[SMTPSink] = None
    if args.kind == "http":
        http_sink = HTTPSink()
        sink: _Sink = http_sink
        where = http_sink.url
    else:
        smtp_sink = SMTPSink()
        sink = smtp_sink
        where = f"{LOOPBACK}:{smtp_sink.port}"
    with sink:
        print(where, flush=True)
        deadline = time.monotonic() + min(max(args.lifetime, 0.0), 600.0)
        try:
            while time.monotonic() < deadline:
                time.sleep(0.1)
        except KeyboardInterrupt:
            pass
    count = len(http_sink.posts) if http_sink is not None else len(smtp_sink.messages if smtp_sink else [])
    print(f"received {count}", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
