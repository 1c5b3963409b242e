"""An smtplib client that keeps one deadline and never traces a secret.

:class:`DeadlineSMTP` is :class:`smtplib.SMTP` with its socket I/O replaced:
before every read and write the socket's timeout is set to the time left
until the attempt's deadline, so a server that trickles a byte at a time
cannot stretch an attempt past it; TLS (on connect or after STARTTLS) always
uses the verified context it is given. Replies are read with caps on line
length (8192 bytes, as smtplib) and on size (``MAX_RESPONSE_BYTES``). The
conversation can be traced to the ``kstalerts.transports.smtp`` logger at
DEBUG level; AUTH exchanges (whose base64 lines carry the password) and
message contents never are, and smtplib's own ``set_debuglevel`` output is
switched off.

A client can carry several messages: :meth:`DeadlineSMTP.begin` gives it
the next attempt's deadline and progress, and its own
:meth:`DeadlineSMTP.data` moves the attempt's :class:`kstalerts.net.attempt.Stage`
on (DATA sent, then the final dot written), from which the transport
decides whether a failure may be resent.

This module imports :mod:`smtplib`, :mod:`socket` and :mod:`ssl`; it is only
loaded when a mail is sent.
"""

import re
import smtplib
import socket
import ssl
import time

from .._log import logger
from .._typing import Any, List, Optional, Sequence, Tuple, Union
from ..limits import MAX_RESPONSE_BYTES
from . import attempt
from .attempt import Progress
from .wire import Deadline, Pooled, ascii_host, is_dropped, wrap_tls

__all__ = ()

_log = logger("kstalerts.transports.smtp")
_DEBUG = 10  # logging.DEBUG, without importing logging

_MAX_LINE = 8192  # bytes of one reply line, as smtplib
_CHUNK = 65536  # bytes handed to the socket per write


class DeadlineExceeded(socket.timeout):
    """The attempt's deadline passed before the server answered."""


class StartTLSMissing(smtplib.SMTPException):
    """The server does not offer STARTTLS, and clear text was not allowed."""


class NoGreeting(DeadlineExceeded):
    """The server accepted the connection but sent no greeting in time.

    Typically a port that expects TLS from the first byte (465) reached
    in plain text: both sides wait for the other.
    """

    def __init__(self, wait: float) -> None:
        self.wait = wait
        super().__init__(f"no greeting within {wait:g}s")


#: AUTH mechanisms in smtplib's order of preference; one is tried per login.
_AUTH_PREFERENCE = ("CRAM-MD5", "PLAIN", "LOGIN")


class DeadlineSMTP(smtplib.SMTP, Pooled):
    """smtplib's client bound to one absolute ``deadline`` (monotonic clock).

    ``tls_context`` makes the connection TLS from the first byte (implicit
    TLS, port 465); :meth:`start_tls` upgrades a plain one. ``secrets`` are
    masked out of any server text the trace shows.
    """

    debuglevel = 0
    sock: Optional[socket.socket] = None  # smtplib 3.6 sets it only on connect

    def __init__(
        self,
        deadline: float,
        *,
        local_hostname: Optional[str],
        tls_context: Optional[ssl.SSLContext] = None,
        secrets: Sequence[str] = (),
    ) -> None:
        self._deadline = Deadline(deadline, DeadlineExceeded)
        self._implicit_tls = tls_context
        self._secrets = tuple(secrets)
        self._buffer = b""
        self._hide_sends = False
        self._name_from_socket = local_hostname is None
        self.progress = Progress(attempt.ENVELOPE)  # moved on by data(), never by the trace
        self.messages = 0  # messages this session has carried
        # A placeholder stops smtplib's getfqdn(), a DNS query that no
        # deadline bounds; open() puts the real name in.
        super().__init__(local_hostname=local_hostname or "localhost", timeout=max(0.001, self._left()))

    # -- the deadline -------------------------------------------------------
    def begin(self, deadline: float, progress: Progress) -> None:
        """Start an attempt on this session: a new deadline, and the
        attempt's ``progress`` (at ENVELOPE: no DATA yet) to move on."""
        self._deadline = Deadline(deadline, DeadlineExceeded)
        self.progress = progress

    def _left(self) -> float:
        return self._deadline.left()

    def _arm(self, sock: socket.socket) -> None:
        self._deadline.arm(sock)

    def set_debuglevel(self, debuglevel: Any) -> None:
        """Ignored: smtplib's trace would print the AUTH lines."""

    # -- connecting -----------------------------------------------------------
    def _get_socket(self, host: str, port: int, timeout: Optional[float]) -> socket.socket:
        last: Optional[OSError] = None
        found = socket.getaddrinfo(ascii_host(host), port, 0, socket.SOCK_STREAM)
        for family, kind, proto, _, address in found:
            sock = socket.socket(family, kind, proto)
            try:
                self._arm(sock)
                if self.source_address:
                    sock.bind(self.source_address)
                sock.connect(address)
            except DeadlineExceeded:
                sock.close()
                raise
            except OSError as exc:
                sock.close()
                last = exc
                continue
            if self._implicit_tls is not None:
                sock = self._wrap(sock, self._implicit_tls, host)
            return sock
        raise last if last is not None else OSError(f"no address found for {host}")

    def _wrap(self, sock: socket.socket, context: ssl.SSLContext, host: str) -> socket.socket:
        try:
            self._arm(sock)  # the handshake keeps this as one deadline
            return wrap_tls(context, sock, host)
        except BaseException:
            sock.close()
            raise

    def open(self, host: str, port: int, *, greeting_wait: Optional[float] = None) -> None:
        """Connect and read the greeting; a non-220 greeting raises.

        ``greeting_wait`` bounds connecting and the greeting on its own (a
        port that expects TLS first never greets): :class:`NoGreeting`.
        """
        self._host = host
        full = self._deadline
        if greeting_wait is not None:
            self._deadline = Deadline(min(full.at, time.monotonic() + greeting_wait), DeadlineExceeded)
        waited = max(0.0, self._deadline.left())
        try:
            code, text = self.connect(host, port)
        except socket.timeout:
            if self.sock is not None and greeting_wait is not None and not self._buffer:  # not a byte
                self.close()
                raise NoGreeting(round(waited, 1)) from None
            raise
        finally:
            self._deadline = full
        if code != 220:
            raise smtplib.SMTPConnectError(code, text)
        if self._name_from_socket and self.sock is not None:
            self.local_hostname = _local_name(self.sock)

    def start_tls(self, context: ssl.SSLContext) -> None:
        """Upgrade to TLS, or raise :class:`StartTLSMissing` without sending more."""
        self.ehlo_or_helo_if_needed()
        if not self.has_extn("starttls"):
            raise StartTLSMissing("the server does not offer STARTTLS")
        code, text = self.docmd("STARTTLS")
        if code != 220:
            raise smtplib.SMTPResponseException(code, text)
        assert self.sock is not None
        # Anything the server sent after its 220 came in clear text, possibly
        # injected by a man in the middle: drop it (RFC 3207, section 6).
        self._buffer = b""
        self.sock = self._wrap(self.sock, context, self._host)
        self.file = None
        self.helo_resp = None
        self.ehlo_resp = None
        self.esmtp_features = {}
        self.does_esmtp = False

    # -- I/O ------------------------------------------------------------------
    def send(self, s: Union[bytes, str]) -> None:  # type: ignore[override]
        """Write all of ``s`` before the deadline."""
        data = s.encode(self.command_encoding) if isinstance(s, str) else bytes(s)
        self._trace_send(data)
        self._write(data)

    def _write(self, data: bytes) -> None:
        sock = self.sock
        if sock is None:
            raise smtplib.SMTPServerDisconnected("not connected")
        self._deadline.send_all(sock, data, _CHUNK)

    def data(self, msg: Any) -> Tuple[int, bytes]:
        """smtplib's DATA, moving the attempt's :attr:`progress` on: DATA before the command
        goes out (the message must not be sent again on a new session), SENT
        once the final dot is written (a silence may hide a delivery)."""
        self.progress.stage = attempt.DATA
        self.putcmd("data")
        code, reply = self.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        if isinstance(msg, str):
            msg = re.sub(r"(?:\r\n|\n|\r(?!\n))", "\r\n", msg).encode("ascii")
        quoted = re.sub(rb"(?m)^\.", b"..", bytes(msg))
        if quoted[-2:] != b"\r\n":
            quoted += b"\r\n"
        quoted += b".\r\n"
        self._trace("send", f"[message, {len(quoted)} bytes]")
        self._write(quoted)
        self.progress.stage = attempt.SENT
        return self.getreply()

    def getreply(self) -> Tuple[int, bytes]:
        """Read one (possibly multi-line) reply before the deadline."""
        lines: List[bytes] = []
        code = -1
        size = 0
        while True:
            line = self._readline()
            size += len(line)
            if size > MAX_RESPONSE_BYTES:
                self.close()
                raise smtplib.SMTPResponseException(
                    -1, f"reply longer than {MAX_RESPONSE_BYTES} bytes".encode()
                )
            lines.append(line[4:].strip(b" \t\r\n"))
            try:
                code = int(line[:3])
            except ValueError:
                code = -1
                lines[-1] = line.strip(b" \t\r\n")  # no code to cut off: show it all
                break
            if line[3:4] != b"-":
                break
        text = b"\n".join(lines)
        self._trace("reply", f"{code} {text.decode('utf-8', 'replace')}")
        return code, text

    def _readline(self) -> bytes:
        sock = self.sock
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line, self._buffer = self._buffer[: end + 1], self._buffer[end + 1 :]
                return line
            if len(self._buffer) > _MAX_LINE:
                self.close()
                raise smtplib.SMTPResponseException(-1, b"reply line too long")
            if sock is None:
                raise smtplib.SMTPServerDisconnected("not connected")
            self._arm(sock)
            chunk = sock.recv(_CHUNK)
            if not chunk:
                self.close()
                raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
            self._buffer += chunk

    def login(self, user: str, password: str, *, initial_response_ok: bool = True) -> Tuple[int, bytes]:
        """One AUTH exchange, with the first mechanism both sides know.

        smtplib's own login tries the next mechanism after a refusal, so a
        wrong password costs two or three failed logins on the server (and
        locks accounts sooner); a refusal (535) ends the login here.
        """
        self.ehlo_or_helo_if_needed()
        if not self.has_extn("auth"):
            raise smtplib.SMTPNotSupportedError("SMTP AUTH extension not supported by server.")
        advertised = self.esmtp_features["auth"].upper().split()
        usable = [name for name in _AUTH_PREFERENCE if name in advertised]
        if not usable:
            raise smtplib.SMTPException("No suitable authentication method found.")
        mechanism = usable[0]
        self.user, self.password = user, password
        method = getattr(self, "auth_" + mechanism.lower().replace("-", "_"))
        return self.auth(mechanism, method, initial_response_ok=initial_response_ok)

    def auth(self, mechanism: str, authobject: Any, *, initial_response_ok: bool = True) -> Tuple[int, bytes]:
        """smtplib's AUTH, with every line it sends kept out of the trace."""
        self._hide_sends = True
        try:
            return super().auth(mechanism, authobject, initial_response_ok=initial_response_ok)
        finally:
            self._hide_sends = False

    def login_utf8(self, user: str, password: str) -> None:
        """AUTH PLAIN with UTF-8 credentials (RFC 4616); smtplib encodes
        AUTH as ASCII. Raises when the server does not offer PLAIN."""
        import base64

        self.ehlo_or_helo_if_needed()
        offered = self.esmtp_features.get("auth", "").upper().split() if self.has_extn("auth") else []
        if "PLAIN" not in offered:
            raise smtplib.SMTPNotSupportedError(
                "the server does not offer AUTH PLAIN, the only way to send a non-ASCII user name"
                " or password (RFC 4616)"
            )
        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode("ascii")
        self._hide_sends = True
        try:
            code, text = self.docmd("AUTH", "PLAIN " + token)
            if code == 334:  # an empty challenge first: the response goes on its own line
                code, text = self.docmd(token)
        finally:
            self._hide_sends = False
        if code not in (235, 503):
            raise smtplib.SMTPAuthenticationError(code, text)

    def dropped(self) -> bool:
        """An idle session the server closed, or spoke on (a 421 notice)."""
        sock = self.sock
        return sock is None or bool(self._buffer) or is_dropped(sock)

    def retire(self, wait: float) -> None:
        """Say QUIT without waiting for the answer (best effort), then close."""
        self._deadline = Deadline(time.monotonic() + wait, DeadlineExceeded)
        try:
            if self.sock is not None:
                self.send("QUIT\r\n")
        except (OSError, smtplib.SMTPException):
            pass
        self.close()

    def forget(self) -> None:
        """Drop a session inherited from the parent process: no QUIT, no TLS
        close; only this process's copy of the descriptor is closed."""
        from .. import _lifecycle

        sock, self.sock, self.file = self.sock, None, None
        self._buffer = b""
        if sock is not None:
            _lifecycle.forget_socket(sock)

    # -- the trace ------------------------------------------------------------
    def _trace_send(self, data: bytes) -> None:
        if self._hide_sends:
            words = data.split(b" ", 2)
            shown = b" ".join(words[:2]).decode("ascii", "replace") if words[0].upper() == b"AUTH" else ""
            self._trace("send", f"{shown} [credentials hidden]".lstrip())
        else:
            self._trace("send", data.decode("utf-8", "replace").rstrip())

    def _trace(self, what: str, text: str) -> None:
        if _log.isEnabledFor(_DEBUG):
            from ..transports.base import clean_reply

            _log.debug("smtp %s %s: %s", self._host, what, clean_reply(text, secrets=self._secrets))


def _local_name(sock: socket.socket) -> str:
    """This host's name if fully qualified, else the address literal of
    the connection's local end (RFC 5321, 4.1.4); no DNS query either way."""
    name = socket.gethostname()
    if "." in name and all(c.isalnum() or c in "-." for c in name):
        return name
    address = str(sock.getsockname()[0])
    return f"[IPv6:{address}]" if ":" in address else f"[{address}]"
