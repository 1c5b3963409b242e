"""JournaldChannel: alerts into the systemd journal, by its native protocol.

One alert is one journal entry, sent as one datagram to
``/run/systemd/journal/socket`` (no ``python-systemd`` needed). Fields:
``MESSAGE`` (the title, then the body and the digest), ``PRIORITY`` (the
syslog severity: CRITICAL 2, WARNING 4, SUCCESS 5, INFO 6),
``SYSLOG_IDENTIFIER``, ``SYSLOG_FACILITY``, ``KSTALERTS_LEVEL``, ``KSTALERTS_STATE``,
``KSTALERTS_TITLE``, ``KSTALERTS_DEDUP_KEY``, ``KSTALERTS_HELD_BACK`` (a
digest's count) and one field per label, its name upper-cased and
sanitised as journald requires (``A-Z``, ``0-9``, ``_``; not starting with
a digit or ``_``; at most 64 characters; a name that would overwrite one of
ours gets a ``LABEL_`` prefix).

Rules: a value with a line break is written in the binary-safe form (name,
newline, 64-bit little-endian length, bytes), so a multi-line body arrives
whole and a label cannot forge a field. An entry too large for a datagram
goes through a sealed memfd passed with ``SCM_RIGHTS``, as
``sd_journal_send`` does; where ``os.memfd_create`` is missing (Python
before 3.8, non-Linux) it is refused, saying so. No socket: a retryable
failure saying journald is not running.
"""

import errno
import os
import re
import socket
import struct

from .._text import one_line
from .._typing import Any, List, Tuple
from ..exceptions import AlertConfigurationError, AlertDeliveryError
from ..models import AlertMessage
from ..pipeline.notification import Notification
from ._local import SEVERITY, network_error, plain_text, title_line
from ._options import Option
from .base import AlertChannel
from .syslog import FACILITIES

__all__ = ()

SOCKET_PATH = "/run/systemd/journal/socket"
_OURS = frozenset(("MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "SYSLOG_FACILITY", "SYSLOG_PID", "MESSAGE_ID"))
_NOT_NAME = re.compile(r"[^A-Z0-9_]")


def field_name(label: str) -> str:
    """A label's journal field name (see the module docstring).

    >>> field_name("host"), field_name("9-lives"), field_name("_SYSTEMD_UNIT"), field_name("message")
    ('HOST', 'L9_LIVES', 'SYSTEMD_UNIT', 'LABEL_MESSAGE')
    """
    name = _NOT_NAME.sub("_", label.upper()).lstrip("_") or "LABEL"
    if name[0].isdigit():
        name = "L" + name
    if name in _OURS or name.startswith("KSTALERTS_"):
        name = "LABEL_" + name
    return name[:64]


def encode_fields(fields: List[Tuple[str, str]]) -> bytes:
    """The native protocol's bytes for ``fields``: ``NAME=value\\n``, or the
    binary-safe form for a value holding a newline."""
    out = bytearray()
    for name, value in fields:
        data = value.encode("utf-8")
        if b"\n" in data:
            out += name.encode("ascii") + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
        else:
            out += name.encode("ascii") + b"=" + data + b"\n"
    return bytes(out)


class JournaldChannel(AlertChannel):
    """Write alerts to the systemd journal.

    - ``identifier``: ``SYSLOG_IDENTIFIER`` (``kstalerts``); ``facility``:
      ``SYSLOG_FACILITY`` (``user``).
    - ``socket_path``: the journal's socket (tests point it elsewhere).
    """

    kind = "journald"
    options = (
        Option("identifier", "text", "the SYSLOG_IDENTIFIER of every entry", default="kstalerts"),
        Option(
            "facility",
            "choice",
            "the SYSLOG_FACILITY of every entry",
            default="user",
            choices=tuple(FACILITIES),
        ),
        Option("socket_path", "text", "the journal's native socket", default=SOCKET_PATH),
    )

    def __init__(
        self,
        *,
        identifier: str = "kstalerts",
        facility: str = "user",
        socket_path: str = SOCKET_PATH,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        if facility not in FACILITIES:
            raise AlertConfigurationError(
                f"journald: facility must be one of {', '.join(FACILITIES)}", key="facility"
            )
        self.identifier = one_line(str(identifier), limit=64) or "kstalerts"
        self.facility = facility
        self.socket_path = str(socket_path)

    # -- formatting -------------------------------------------------------
    def render(self, notification: Notification) -> List[Tuple[str, str]]:
        """The entry's fields, in order; override to change them."""
        alert, held_back = notification.alert, notification.held_back
        fields = [
            ("MESSAGE", plain_text(alert, held_back)),
            ("PRIORITY", str(SEVERITY[alert.level])),
            ("SYSLOG_IDENTIFIER", self.identifier),
            ("SYSLOG_FACILITY", str(FACILITIES[self.facility])),
            ("KSTALERTS_LEVEL", alert.level.name),
            ("KSTALERTS_STATE", notification.state),
            ("KSTALERTS_TITLE", title_line(alert)),
        ]
        if alert.dedup_key:
            fields.append(("KSTALERTS_DEDUP_KEY", alert.dedup_key))
        if held_back is not None:
            fields.append(("KSTALERTS_HELD_BACK", str(held_back.total)))
        fields += [(field_name(k), v) for k, v in alert.labels.items()]
        return fields

    def preview(self, alert: AlertMessage) -> str:
        lines = [
            f"{name}={value!r}" if "\n" in value else f"{name}={value}"
            for name, value in self.render(Notification(alert))
        ]
        return f"journald {self.socket_path}\n" + "\n".join(lines)

    # -- delivery ---------------------------------------------------------
    def _transmit(self, notification: Notification, *, timeout: float) -> None:
        data = encode_fields(self.render(notification))
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout)
            try:
                try:
                    sock.sendto(data, self.socket_path)
                except OSError as exc:
                    if exc.errno not in (errno.EMSGSIZE, errno.ENOBUFS):
                        raise
                    self._send_memfd(sock, data)
            except (FileNotFoundError, ConnectionRefusedError):
                raise AlertDeliveryError(
                    f"journald: journald is not running (no journal socket at {self.socket_path})",
                    retryable=True,
                ) from None
            except OSError as exc:
                raise network_error("journald", self.socket_path, exc) from None

    def _send_memfd(self, sock: socket.socket, data: bytes) -> None:
        """A large entry: in a sealed memfd whose descriptor travels with ``SCM_RIGHTS``."""
        create = getattr(os, "memfd_create", None)
        if create is None:
            raise AlertDeliveryError(
                f"journald: the entry is {len(data)} bytes, too large for one datagram, and this Python"
                " has no os.memfd_create (3.8+ on Linux) to pass it as a file"
            )
        import fcntl

        fd = create("kstalerts-journal", getattr(os, "MFD_CLOEXEC", 1) | getattr(os, "MFD_ALLOW_SEALING", 2))
        try:
            os.write(fd, data)
            seals = getattr(fcntl, "F_SEAL_SHRINK", 2) | getattr(fcntl, "F_SEAL_GROW", 4)
            seals |= getattr(fcntl, "F_SEAL_WRITE", 8) | getattr(fcntl, "F_SEAL_SEAL", 1)
            fcntl.fcntl(fd, getattr(fcntl, "F_ADD_SEALS", 1033), seals)  # journald takes sealed memfds only
            sock.sendmsg(
                [], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", fd))], 0, self.socket_path
            )
        finally:
            os.close(fd)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, socket_path={self.socket_path!r})"
