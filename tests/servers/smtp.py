"""Real SMTP servers on 127.0.0.1, port 0, for the email tests.

``smtp_server(**options)`` starts an aiosmtpd server in a thread with its
own event loop and stops it at teardown. Options pick the scenario:
``starttls=True`` (offers STARTTLS with a certificate from a test CA made
by ``trustme``), ``implicit_tls=True`` (TLS from the first byte),
``auth=True`` (AUTH LOGIN/PLAIN against :data:`USERS`; ``mechanisms``
limits them), ``auth_require_tls``, and a :class:`ScriptedHandler` whose
queued replies make MAIL or DATA answer 421/451/550 before succeeding and
whose ``refuse`` set rejects some recipients; ``mail_hangups`` makes the
next MAIL commands hang up without an answer; ``data_delay`` keeps the
message but answers the final "." that many seconds late. Everything the server saw
(MAIL, RCPT, DATA, AUTH, QUIT) is recorded on the handler; the server counts
the connections it accepted and closed, and ``drop_sessions()`` hangs up on
every open one (as a server timing out idle sessions does).

``script_server`` is a raw TCP peer that plays a list of replies, a byte
at a time if asked, for the deadline and protocol-error tests.
"""

import asyncio
import socket
import sys
import threading
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest
import trustme
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

USERS = {"alerts": "s3cret-Pa55", "alertes-été": "mot-de-passe-€-ü"}


class ScriptedHandler:
    """Records the conversation; answers from queues, then with success."""

    def __init__(self) -> None:
        self.mail_replies: List[str] = []
        self.data_replies: List[str] = []
        self.refuse: Dict[str, str] = {}
        self.mail_from: List[str] = []
        self.rcpt: List[str] = []
        self.messages: List[Tuple[str, List[str], bytes]] = []
        self.tls: List[bool] = []  # per received message: was the session encrypted
        self.data_commands = 0
        self.logins: List[Tuple[str, str]] = []
        self.ehlo: List[str] = []
        self.quits = 0
        self.mail_hangups = 0
        self.data_delay = 0.0

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: List[str]
    ) -> List[str]:
        self.ehlo.append(hostname)
        session.host_name = hostname
        return responses

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: List[str]
    ) -> str:
        self.mail_from.append(address)
        if self.mail_hangups > 0:  # gone without a word: the client reads EOF
            self.mail_hangups -= 1
            server.transport.close()
            return "421 closing"
        if self.mail_replies:
            return self.mail_replies.pop(0)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: List[str]
    ) -> str:
        self.rcpt.append(address)
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.data_commands += 1
        if self.data_replies:
            return self.data_replies.pop(0)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        self.tls.append(bool(server.transport.get_extra_info("sslcontext") or server._tls_protocol))
        if self.data_delay > 0:  # taken, but the answer comes too late
            await asyncio.sleep(self.data_delay)
        return "250 2.0.0 Ok: queued"

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        self.quits += 1
        return "221 Bye"

    # -- helpers for tests ----------------------------------------------------
    def parsed(self, index: int = -1) -> EmailMessage:
        """A received message, parsed back with email.policy.default."""
        parsed: EmailMessage = message_from_bytes(self.messages[index][2], policy=policy.default)
        return parsed


class _Authenticator:
    def __init__(self, handler: ScriptedHandler) -> None:
        self.handler = handler

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user, password = data.login.decode(), data.password.decode()
        self.handler.logins.append((mechanism, user))
        return AuthResult(success=USERS.get(user) == password, handled=False)


class _CountedSMTP(SMTP):
    """aiosmtpd's protocol, telling its server when the connection ends."""

    def __init__(self, owner: "SMTPServer", *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._owner = owner

    def connection_lost(self, error: Optional[Exception]) -> None:
        self._owner.closed += 1
        if self in self._owner.sessions:
            self._owner.sessions.remove(self)
        super().connection_lost(error)


def _quiet_cancelled(loop: asyncio.AbstractEventLoop, context: Dict[str, Any]) -> None:
    """The loop's error handler: a session task that ended cancelled, when the
    server hung up on it, is no error. On 3.6 aiosmtpd's ``_handle_client``
    ends *with* ``CancelledError``, and the task, collected later, logged
    "Task exception was never retrieved" into whatever test ran then."""
    if isinstance(context.get("exception"), asyncio.CancelledError):
        return
    loop.default_exception_handler(context)


class SMTPServer:
    """One aiosmtpd server in a thread; ``port``, ``handler``, ``stop()``;
    ``connections`` accepted and ``closed`` so far, ``drop_sessions()``."""

    def __init__(self, handler: ScriptedHandler, *, server_ssl: Any = None, **smtp_kwargs: Any) -> None:
        self.handler = handler
        self.host = "127.0.0.1"
        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(_quiet_cancelled)
        self._ready = threading.Event()
        self._server: Optional[asyncio.AbstractServer] = None
        self.connections = 0
        self.closed = 0
        self.sessions: List[SMTP] = []

        def factory() -> SMTP:
            self.connections += 1
            protocol = _CountedSMTP(self, handler, hostname="test.localhost", loop=self._loop, **smtp_kwargs)
            self.sessions.append(protocol)
            return protocol

        async def start() -> None:
            self._server = await self._loop.create_server(factory, self.host, 0, ssl=server_ssl)

        self._thread = threading.Thread(target=self._loop.run_forever, name="smtp-server", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(start(), self._loop).result(5)
        assert self._server is not None
        self.port: int = self._server.sockets[0].getsockname()[1]

    def drop_sessions(self) -> None:
        """Hang up on every open session, and wait until they are gone."""

        async def drop() -> None:
            for protocol in list(self.sessions):
                if protocol.transport is not None:
                    protocol.transport.close()

        asyncio.run_coroutine_threadsafe(drop(), self._loop).result(5)
        assert wait_for(lambda: not self.sessions)

    def stop(self) -> None:
        async def shutdown() -> None:
            assert self._server is not None
            self._server.close()
            for protocol in list(self.sessions):  # a client may keep its session open;
                if protocol.transport is not None:  # 3.12+ wait_closed() waits for it
                    protocol.transport.close()
            await self._server.wait_closed()
            if sys.version_info >= (3, 7):
                current, tasks = asyncio.current_task(), asyncio.all_tasks()  # novermin
            else:  # 3.6 has them on Task
                current, tasks = asyncio.Task.current_task(), asyncio.Task.all_tasks()
            tasks = {t for t in tasks if t is not current and not t.done()}
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(5)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._loop.close()


@pytest.fixture(scope="session")
def smtp_ca(tmp_path_factory: pytest.TempPathFactory) -> Tuple[trustme.CA, str]:
    """A test CA and the path of its PEM file (for ``ssl_ca_bundle``)."""
    ca = trustme.CA()
    path = tmp_path_factory.mktemp("smtp-ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return ca, str(path)


@pytest.fixture
def smtp_server(smtp_ca: Tuple[trustme.CA, str]) -> Iterator[Callable[..., SMTPServer]]:
    """Start SMTP servers for one test; all stop at teardown."""
    import ssl

    started: List[SMTPServer] = []
    ca = smtp_ca[0]

    def server_context(names: Tuple[str, ...] = ("localhost", "127.0.0.1")) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(*names).configure_cert(context)
        return context

    def start(
        *,
        handler: Optional[ScriptedHandler] = None,
        starttls: bool = False,
        implicit_tls: bool = False,
        auth: bool = False,
        auth_require_tls: bool = True,
        mechanisms: Tuple[str, ...] = ("LOGIN", "PLAIN"),
        cert_names: Tuple[str, ...] = ("localhost", "127.0.0.1"),
    ) -> SMTPServer:
        handler = handler or ScriptedHandler()
        kwargs: Dict[str, Any] = {"auth_require_tls": auth_require_tls, "enable_SMTPUTF8": True}
        if starttls:
            kwargs["tls_context"] = server_context(cert_names)
        if auth:
            kwargs["authenticator"] = _Authenticator(handler)
            kwargs["auth_exclude_mechanism"] = [m for m in ("LOGIN", "PLAIN") if m not in mechanisms]
        server_ssl = None
        if implicit_tls:  # the whole session is TLS, which aiosmtpd cannot see
            server_ssl = server_context(cert_names)
            kwargs["auth_require_tls"] = False
        server = SMTPServer(handler, server_ssl=server_ssl, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


class ScriptServer:
    """A raw TCP server that plays ``replies``: the first on connect, each
    next one after reading a line from the client. ``interval`` drips every
    byte with a pause; ``hold`` keeps the connection open (silent) after the
    script; otherwise the server hangs up when the next command arrives.
    ``received`` holds the client's lines."""

    def __init__(self, replies: List[bytes], interval: float = 0.0, hold: bool = False) -> None:
        self._sock = socket.socket()  # socket.create_server is 3.8+
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen()
        self.port: int = self._sock.getsockname()[1]
        self.received: List[bytes] = []
        self._replies = replies
        self._interval = interval
        self._hold = hold
        self._pending = b""  # one connection at a time in these tests
        self._stop = threading.Event()
        self._threads: List[threading.Thread] = []
        self._accept = threading.Thread(target=self._serve, name="smtp-script", daemon=True)
        self._accept.start()

    def _serve(self) -> None:
        self._sock.settimeout(0.05)
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            thread = threading.Thread(target=self._play, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _play(self, conn: socket.socket) -> None:
        conn.settimeout(0.05)
        self._pending = b""
        with conn:
            for index, reply in enumerate(self._replies):
                if index and not self._read_line(conn):
                    return
                if not self._send(conn, reply):
                    return
            if self._hold:
                while not self._stop.wait(0.05):
                    pass
            else:  # hang up on the next command, after reading it: a clean close
                self._read_line(conn)

    def _read_line(self, conn: socket.socket) -> bool:
        while b"\n" not in self._pending:
            if self._stop.is_set():
                return False
            try:
                chunk = conn.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return False
            if not chunk:
                return False
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        self.received.append(line.rstrip(b"\r"))
        return True

    def _send(self, conn: socket.socket, reply: bytes) -> bool:
        try:
            if self._interval <= 0:
                conn.sendall(reply)
                return True
            for byte in reply:
                if self._stop.wait(self._interval):
                    return False
                conn.sendall(bytes([byte]))
        except OSError:
            return False
        return True

    def stop(self) -> None:
        self._stop.set()
        self._accept.join(5)
        for thread in self._threads:
            thread.join(5)
        self._sock.close()


@pytest.fixture
def script_server() -> Iterator[Callable[..., ScriptServer]]:
    """``script_server(replies, interval=0.0, hold=False)``: a scripted raw SMTP peer."""
    started: List[ScriptServer] = []

    def start(replies: List[bytes], interval: float = 0.0, hold: bool = False) -> ScriptServer:
        server = ScriptServer(replies, interval, hold)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def wait_for(predicate: Callable[[], bool], timeout: float = 2.0) -> bool:
    """Poll ``predicate`` until true or ``timeout`` passes (server threads lag)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()
