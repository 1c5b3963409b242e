"""SyslogChannel: alerts as syslog messages, to the local socket or a collector.

One alert is one message: RFC 5424 (``<PRI>1 TIMESTAMP HOST APP PROCID
MSGID [SD] MSG``; MSGID is the notification's state: ``firing``...) or,
as an option, the older BSD form of RFC 3164
(``<PRI>Mmm dd hh:mm:ss HOST APP[PID]: MSG``). The level gives the
severity (CRITICAL crit, WARNING warning, SUCCESS notice, INFO info); the
labels, the level and the dedup key travel as structured data
(``[kstalerts@32473 level="CRITICAL" host="db1"]``; in RFC 3164, at the
head of MSG). Transports: ``unix`` (a datagram socket, ``/dev/log`` by
default), ``udp``, ``tcp`` (octet-counted framing, RFC 6587) and ``tls``
(RFC 5425: the same framing over TLS, verified by :func:`kstalerts.net.wire.tls_context`).

Rules: text from the alert is inert. The header fields are printable
ASCII; SD-PARAM values escape ``"``, ``\\`` and ``]`` as RFC 5424 says and
carry no control character; the title is one line. A message is at most
``max_bytes`` (UDP 2048 by default, 8192 otherwise): the MSG is cut from
the middle with the count of bytes cut. Connect and send are bounded by
the attempt's timeout (a TCP or TLS connection per message; a datagram
socket is kept, connected, until an error or :meth:`close`); a collector that is down is a retryable failure.
UDP is fire and forget: a collector that is down is noticed only when the
host says so (ICMP port unreachable, as on the same host).
"""

import errno
import os
import re
import socket
import threading
import time

from .._text import cut, cut_bytes, one_line
from .._typing import Any, Dict, List, Optional, Tuple
from ..exceptions import AlertConfigurationError, AlertDeliveryError
from ..models import AlertMessage
from ..pipeline.notification import Notification
from ._local import SEVERITY, network_error, plain_text, resolved_alert
from ._options import Option
from .base import AlertChannel

__all__ = ()

#: The severity of a resolved message: notice (RFC 5424 6.2.1).
RESOLVED_SEVERITY = 5
#: RFC 5424 facility codes by name.
FACILITIES: Dict[str, int] = {
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
    "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11,
    **{f"local{n}": 16 + n for n in range(8)},
}  # fmt: skip
TRANSPORTS = ("unix", "udp", "tcp", "tls")
#: The structured-data id: a name at the IANA example enterprise number (RFC 5612).
SD_ID = "kstalerts@32473"
_DEFAULT_PORTS = {"udp": 514, "tcp": 514, "tls": 6514}
_DEFAULT_MAX = {"udp": 2048, "unix": 8192, "tcp": 8192, "tls": 8192}
_MIN_BYTES = 480  # RFC 5424 6.1: every receiver takes 480 bytes
_MAX_BYTES = 65507  # the largest UDP payload; TCP/TLS collectors rarely take more (rsyslog: 8 KiB)
_VALUE_CHARS = 256  # of one SD-PARAM value, escaped
_NOT_PRINTABLE = re.compile(r"[^\x21-\x7e]")
_NOT_SD_NAME = re.compile(r'[^\x21-\x7e]|[= \]"]')
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def sd_escape(value: str) -> str:
    """An SD-PARAM value: ``"``, ``\\`` and ``]`` escaped (RFC 5424 6.3.3), on one line.

    >>> sd_escape('] [evil@1 x="y"')
    '\\\\] [evil@1 x=\\\\"y\\\\"'
    """
    value = one_line(value, limit=len(value) + 1)
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _token(text: str, limit: int) -> str:
    """A header field: printable ASCII, at most ``limit`` characters, ``-`` when empty."""
    return _NOT_PRINTABLE.sub("_", text)[:limit] or "-"


def _whole(key: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise AlertConfigurationError(f"syslog: {key} must be a whole number from {low} to {high}", key=key)
    return value


def _sd_name(name: str) -> str:
    return _NOT_SD_NAME.sub("_", name)[:32] or "_"


class SyslogChannel(AlertChannel):
    """Send alerts as syslog messages.

    - ``transport``: ``unix`` (``socket_path``, default ``/dev/log``),
      ``udp``, ``tcp`` or ``tls`` (``host``, ``port``: 514, or 6514 for TLS).
    - ``format``: ``rfc5424`` (default) or ``rfc3164``.
    - ``facility`` (``user``), ``app_name`` (``kstalerts``), ``hostname``
      (this host's name).
    - ``max_bytes``: the largest message (UDP 2048, others 8192).
    - ``ssl_verify``, ``ssl_ca_bundle``: the TLS transport's checks.
    """

    kind = "syslog"
    options = (
        Option("transport", "choice", "how messages travel", default="unix", choices=TRANSPORTS),
        Option("socket_path", "text", "the local datagram socket (transport unix)", default="/dev/log"),
        Option("host", "text", "the collector's host (udp, tcp, tls)"),
        Option("port", "any", "the collector's port (default 514; 6514 for tls)"),
        Option("format", "choice", "the message format", default="rfc5424", choices=("rfc5424", "rfc3164")),
        Option("facility", "choice", "the syslog facility", default="user", choices=tuple(FACILITIES)),
        Option("app_name", "text", "the APP-NAME (tag) of every message", default="kstalerts"),
        Option("hostname", "text", "the HOSTNAME field (default: this host's name)"),
        Option("max_bytes", "any", "the largest message in bytes (default: udp 2048, others 8192)"),
        Option("ssl_verify", "bool", "verify the collector's certificate (tls)", default=True),
        Option("ssl_ca_bundle", "text", "a CA bundle file (PEM) to verify with (tls)"),
    )

    def __init__(
        self,
        *,
        transport: str = "unix",
        socket_path: str = "/dev/log",
        host: Optional[str] = None,
        port: Optional[int] = None,
        format: str = "rfc5424",
        facility: str = "user",
        app_name: str = "kstalerts",
        hostname: Optional[str] = None,
        max_bytes: Optional[int] = None,
        ssl_verify: bool = True,
        ssl_ca_bundle: Optional[str] = None,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        for key, value, allowed in (
            ("transport", transport, TRANSPORTS),
            ("format", format, ("rfc5424", "rfc3164")),
            ("facility", facility, tuple(FACILITIES)),
        ):
            if value not in allowed:
                raise AlertConfigurationError(f"syslog: {key} must be one of {', '.join(allowed)}", key=key)
        if transport != "unix" and not (isinstance(host, str) and host.strip()):
            raise AlertConfigurationError(f"syslog: transport {transport} needs a host", key="host")
        self.transport = transport
        self.socket_path = str(socket_path)
        self.host = host.strip() if isinstance(host, str) else None
        self.port = _DEFAULT_PORTS.get(transport, 0) if port is None else _whole("port", port, 1, 65535)
        self.format = format
        self.facility = facility
        self.app_name = _token(str(app_name), 48)
        self.hostname = _token(hostname or socket.gethostname(), 255)
        given = _DEFAULT_MAX[transport] if max_bytes is None else max_bytes
        self.max_bytes = _whole("max_bytes", given, _MIN_BYTES, _MAX_BYTES)
        self._socket: Optional[socket.socket] = None  # the kept datagram socket (unix, udp)
        self._lock = threading.Lock()
        self._tls = None
        if transport == "tls":
            from ..net.wire import tls_context

            self._tls = tls_context(bool(ssl_verify), ssl_ca_bundle)

    @property
    def peer(self) -> str:
        """Where messages go, for errors and ``repr``."""
        if self.transport == "unix":
            return f"unix:{self.socket_path}"
        return f"{self.transport}://{self.host}:{self.port}"

    # -- formatting -------------------------------------------------------
    def render(self, notification: Notification) -> bytes:
        """The syslog message for ``alert``, at most ``max_bytes``; override to change it."""
        alert, held_back = notification.alert, notification.held_back
        severity = SEVERITY[alert.level]
        if notification.state == "resolved":  # MSGID resolved (RFC 5424), severity notice
            alert, severity = resolved_alert(alert), RESOLVED_SEVERITY
        pri = FACILITIES[self.facility] * 8 + severity
        params: List[Tuple[str, str]] = [("level", alert.level.name)]
        if alert.dedup_key:
            params.append(("dedup_key", alert.dedup_key))
        if held_back is not None:
            params.append(("held_back", str(held_back.total)))
        params += [(_sd_name(k), v) for k, v in alert.labels.items()]
        sd = self._structured_data(params)
        text = plain_text(alert, held_back)
        if self.format == "rfc3164":
            stamp = time.localtime(alert.created_at)
            when = f"{_MONTHS[stamp.tm_mon - 1]} {stamp.tm_mday:2d} {time.strftime('%H:%M:%S', stamp)}"
            head = f"<{pri}>{when} {self.hostname} {self.app_name[:32]}[{os.getpid()}]: ".encode("ascii")
            msg = cut_bytes(sd + " " + text, self.max_bytes - len(head)).encode("utf-8")
        else:
            from ._jsonhttp import iso_time

            msgid = notification.state  # firing, resolved or reminder
            stamp_5424 = iso_time(alert.created_at)
            fields = (f"<{pri}>1", stamp_5424, self.hostname, self.app_name, str(os.getpid()), msgid)
            head = (" ".join(fields) + " " + sd + " ").encode("utf-8")
            bom = b"\xef\xbb\xbf"  # MSG is UTF-8 (RFC 5424 6.4)
            msg = bom + cut_bytes(text, self.max_bytes - len(head) - len(bom)).encode("utf-8")
        return head + msg

    def _structured_data(self, params: List[Tuple[str, str]]) -> str:
        """``[kstalerts@32473 name="value" ...]``, kept under half the message size."""
        budget = self.max_bytes // 2
        out = "[" + SD_ID
        for index, (name, value) in enumerate(params):
            param = f' {name}="{cut(value, _VALUE_CHARS, escape=sd_escape)}"'
            if len((out + param).encode("utf-8")) + 24 > budget:
                out += f' labels_cut="{len(params) - index}"'
                break
            out += param
        return out + "]"

    def preview(self, alert: AlertMessage) -> str:
        return f"{self.peer}\n{self.render(Notification(alert)).decode('utf-8', 'replace')}"

    # -- delivery ---------------------------------------------------------
    def _transmit(self, notification: Notification, *, timeout: float) -> None:
        message = self.render(notification)
        try:
            if self.transport == "unix":
                self._send_unix(message, timeout)
            elif self.transport == "udp":
                self._send_udp(message, timeout)
            else:
                self._send_stream(message, timeout)
        except OSError as exc:
            raise self._error(exc) from None

    def _error(self, exc: OSError) -> AlertDeliveryError:
        if self.transport == "unix" and isinstance(exc, (FileNotFoundError, ConnectionRefusedError)):
            return AlertDeliveryError(
                f"syslog: {self.peer}: no syslog daemon listens there ({exc.strerror})", retryable=True
            )
        if exc.errno == errno.EMSGSIZE:
            return AlertDeliveryError(
                f"syslog: {self.peer}: the message is too large for the socket (lower max_bytes)"
            )
        return network_error("syslog", self.peer, exc)

    def _send_unix(self, message: bytes, timeout: float) -> None:
        self._datagram(message, timeout)

    def _send_udp(self, message: bytes, timeout: float) -> None:
        sock = self._datagram(message, timeout)
        try:  # a port unreachable the host already knows of comes back here
            sock.settimeout(0)
            sock.recv(1)
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self._forget(sock)
            raise

    def _datagram(self, message: bytes, timeout: float) -> socket.socket:
        """Send ``message`` on the kept datagram socket (made and connected on first use,
        dropped after an error, so the next send resolves and connects again)."""
        with self._lock:
            sock = self._socket
            if sock is None:
                address: Any
                if self.transport == "unix":
                    sock, address = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM), self.socket_path
                else:
                    from ..net.wire import ascii_host

                    family, kind, proto, _, address = socket.getaddrinfo(
                        ascii_host(str(self.host)), self.port, 0, socket.SOCK_DGRAM
                    )[0]
                    sock = socket.socket(family, kind, proto)
                try:
                    sock.settimeout(timeout)
                    sock.connect(address)
                except OSError:
                    sock.close()
                    raise
                self._socket = sock
        try:
            sock.settimeout(timeout)
            sock.send(message)
        except OSError:
            self._forget(sock)
            raise
        return sock

    def _forget(self, sock: socket.socket) -> None:
        with self._lock:
            if self._socket is sock:
                self._socket = None
        sock.close()

    def close(self) -> None:
        with self._lock:
            sock, self._socket = self._socket, None
        if sock is not None:
            sock.close()

    def _send_stream(self, message: bytes, timeout: float) -> None:
        from ..net.wire import Deadline, connect_tcp, wrap_tls

        deadline = Deadline(time.monotonic() + timeout)
        sock = connect_tcp(str(self.host), self.port, timeout)
        try:
            if self._tls is not None:
                deadline.arm(sock)
                sock = wrap_tls(self._tls, sock, str(self.host))
            frame = str(len(message)).encode("ascii") + b" " + message  # octet counting (RFC 6587 3.4.1)
            deadline.send_all(sock, frame)
            if self._tls is not None:
                _close_notify(sock, deadline)
        finally:
            sock.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, peer={self.peer!r})"


def _close_notify(sock: socket.socket, deadline: Any) -> None:
    """End TLS cleanly, so the collector logs no error; the message went out already,
    so a peer that hangs up without its own close_notify is no failure."""
    try:
        deadline.arm(sock)
        sock.unwrap()  # type: ignore[attr-defined]
    except OSError:
        pass
