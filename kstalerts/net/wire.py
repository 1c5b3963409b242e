"""The network bottom layer shared by HTTP (``http.py``) and SMTP (``transports``).

Six small parts, each written once:

- :func:`ascii_host`: a host name as the resolver and the TLS layer take
  it, never through the ``idna`` codec for a name that is ASCII already
  (:func:`connect_tcp` connects with it).
- :func:`tls_context`: one TLS rule for every client. TLS 1.2 or later;
  the peer's certificate and host name verified unless ``verify=False``;
  ``ca_bundle`` is a PEM file *or* an OpenSSL-hashed directory of CA
  certificates to trust instead of the system's (``SSL_CERT_FILE`` is
  honoured when none is given). A bad bundle is an
  :class:`AlertConfigurationError` keyed ``ssl_ca_bundle``.
- :class:`Deadline`: one absolute point on the monotonic clock; every
  socket operation is armed with the time left, so a peer that trickles
  a byte at a time cannot stretch a call past it.
- :func:`is_dropped`: an idle connection that is readable was closed by
  its peer (or spoke out of turn), so it is not reused.
- :func:`tls_verify_failure`: why a peer's certificate was refused, the
  same on 3.6 and later (what a failure *is* is sorted by
  :mod:`kstalerts.net.fault`, loaded with the first one).
- :class:`IdlePool`: the kept-alive connections of one client. A
  connection is taken by one call at a time; the pool keeps at most
  ``size`` of them, retires those idle too long, and discards the ones
  found dropped. Fork: a child never uses a connection it inherited: the
  at-fork hook (:mod:`kstalerts._lifecycle`) and a pid check where one is
  taken make it :meth:`IdlePool.forget` them, closing only its own copy of
  the descriptor. The lock is an ``RLock`` held around list operations
  only: a signal handler that sends while its thread holds it goes
  through, and a forked child gets a new one.

Rules: nothing here knows HTTP or SMTP; errors other than the CA bundle's
are the callers' to translate. ``ssl`` is imported on first use.
"""

import _thread
import os
import select
import socket
import sys
import time

from .. import _lifecycle
from .._lazy import TYPE_CHECKING
from .._typing import Callable, Generic, List, Optional, Tuple, Type, TypeVar
from ..exceptions import AlertConfigurationError

if TYPE_CHECKING:
    import ssl

__all__ = ()


def tls_context(verify: bool, ca_bundle: Optional[str]) -> "ssl.SSLContext":
    """A client context: TLS >= 1.2, verified unless ``verify`` is false,
    trusting ``ca_bundle`` (a PEM file or a hashed directory) when given."""
    import ssl

    try:
        if ca_bundle is None:
            context = ssl.create_default_context()
        elif os.path.isdir(ca_bundle):
            context = ssl.create_default_context(capath=ca_bundle)
        else:
            context = ssl.create_default_context(cafile=ca_bundle)
    except ssl.SSLError:
        raise AlertConfigurationError("is not a PEM file of CA certificates", key="ssl_ca_bundle") from None
    except OSError as exc:
        raise AlertConfigurationError(
            f"cannot read the CA bundle: {exc.strerror or type(exc).__name__}", key="ssl_ca_bundle"
        ) from None
    if hasattr(ssl, "TLSVersion"):
        context.minimum_version = ssl.TLSVersion.TLSv1_2  # novermin (3.7+, checked above)
    else:  # pragma: no cover - Python 3.6
        context.options |= ssl.OP_NO_TLSv1 | ssl.OP_NO_TLSv1_1
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def ascii_host(host: str) -> bytes:
    """``host`` as ``getaddrinfo`` and a TLS ``server_hostname`` take it.

    Given a str, the socket and ssl modules encode the name with the
    ``idna`` codec, whose first use imports it with ``stringprep`` and the
    Unicode tables: 5.8 M instructions, about 3 % of a cold alert, for a
    name that is ASCII already, which the codec gives back unchanged. So an
    ASCII name goes as its bytes, a name with a label too long or empty
    reaches the resolver (which says it does not know it: a failed result,
    where the codec raised a ``UnicodeError`` out of the send), and an
    internationalised name is encoded here, as the codec would: one it
    cannot encode is a :class:`socket.gaierror`, like a name the resolver
    does not know.

    >>> ascii_host("hooks.slack.com"), ascii_host("bücher.example")
    (b'hooks.slack.com', b'xn--bcher-kva.example')
    """
    try:
        return host.encode("ascii")
    except UnicodeEncodeError:
        pass
    try:
        return host.encode("idna")
    except UnicodeError as exc:
        raise socket.gaierror(socket.EAI_NONAME, f"not a valid host name ({exc})") from None


def connect_tcp(host: str, port: int, timeout: float) -> socket.socket:
    """``socket.create_connection`` to ``host``, its name resolved as :func:`ascii_host` gives it."""
    address = (ascii_host(host), port)  # getaddrinfo takes bytes; typeshed says str
    return socket.create_connection(address, timeout=timeout)  # type: ignore[arg-type]


class _HostNameMismatchError(OSError):
    """A certificate for another host, on Python 3.6 (whose ``ssl.CertificateError``
    is a ``ValueError``; 3.7+ raises an ``OSError``)."""


def wrap_tls(context: "ssl.SSLContext", sock: socket.socket, host: str) -> socket.socket:
    """``context.wrap_socket(sock)``, which raises only ``OSError`` on every Python."""
    import ssl

    # 3.7+ take the name as bytes (ssl then skips the idna codec); 3.6 compares a
    # bytes name to the certificate's as if it were a packed address or a str.
    hostname = ascii_host(host) if sys.version_info >= (3, 7) else host
    try:
        return context.wrap_socket(sock, server_hostname=hostname)
    except ssl.CertificateError as exc:
        if isinstance(exc, OSError):  # pragma: no cover - Python 3.7+
            raise
        raise _HostNameMismatchError(str(exc)) from exc  # pragma: no cover - Python 3.6


def tls_verify_failure(exc: BaseException) -> Optional[str]:
    """Why the peer's certificate was refused, or ``None`` when ``exc`` is something else.

    Python 3.7+ raises ``ssl.SSLCertVerificationError`` (also named
    ``CertificateError``); 3.6 raises ``CertificateError`` for a wrong host
    name and a plain ``SSLError`` with reason ``CERTIFICATE_VERIFY_FAILED``
    for the rest.
    """
    import ssl

    if isinstance(exc, (ssl.CertificateError, _HostNameMismatchError)):
        return str(getattr(exc, "verify_message", None) or exc)
    if isinstance(exc, ssl.SSLError) and exc.reason == "CERTIFICATE_VERIFY_FAILED":
        return "certificate verify failed"
    return None


class Deadline:
    """An absolute deadline ``at`` (``time.monotonic()`` seconds).

    :meth:`arm` sets a socket's timeout to the time left, or raises
    ``expired`` (a ``socket.timeout`` subclass) once it has passed.
    """

    __slots__ = ("at", "expired")

    def __init__(self, at: float, expired: Type[socket.timeout] = socket.timeout) -> None:
        self.at = at
        self.expired = expired

    def left(self) -> float:
        """Seconds left (negative once passed)."""
        return self.at - time.monotonic()

    def arm(self, sock: socket.socket) -> float:
        """Give ``sock`` the time left as its timeout; raise when none is."""
        left = self.at - time.monotonic()
        if left <= 0:
            raise self.expired("timed out")
        sock.settimeout(left)
        return left

    def send_all(self, sock: socket.socket, data: bytes, chunk: int = 1 << 20) -> None:
        """Write all of ``data`` before the deadline.

        ``send()`` in a loop, not ``sendall()``: an SSL socket's sendall
        gives each chunk a fresh timeout, so a slow reader could stretch it.
        """
        view = memoryview(data)
        while view:
            self.arm(sock)
            view = view[sock.send(view[:chunk]) :]


#: ``select.poll`` where there is one (not on Windows): ``select()`` fails on descriptors
#: above ``FD_SETSIZE``. Looked up once: :func:`is_dropped` runs before every reuse.
_POLL = getattr(select, "poll", None)


def is_dropped(sock: socket.socket) -> bool:
    """Whether an idle connection is readable: closed by the peer, or it spoke out of turn."""
    try:
        pending = getattr(sock, "pending", None)
        if pending is not None and pending():  # TLS bytes already decrypted
            return True
        if _POLL is not None:
            poller = _POLL()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        readable, _, _ = select.select([sock], [], [], 0)  # pragma: no cover - Windows
    except (OSError, ValueError):  # pragma: no cover - a socket closed under us
        return True
    return bool(readable)  # pragma: no cover - Windows


class Pooled:
    """What :class:`IdlePool` needs of a connection."""

    def dropped(self) -> bool:
        """Whether the peer closed it (or spoke) while it sat idle."""
        raise NotImplementedError

    def close(self) -> None:
        """Close it (this process owns it)."""
        raise NotImplementedError

    def forget(self) -> None:
        """Drop it in a forked child: only this process's descriptor is closed."""
        raise NotImplementedError


C = TypeVar("C", bound=Pooled)


class IdlePool(Generic[C]):
    """At most ``size`` idle connections, newest reused first (see the module docs)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._idle: List[Tuple[float, C]] = []  # (idle since, connection)
        self._lock = _thread.RLock()
        self._pid = os.getpid()
        _lifecycle.on_fork(self, IdlePool.forget)

    @property
    def idle(self) -> List[C]:
        """The idle connections, oldest first (a copy)."""
        return [connection for _, connection in self._idle]

    def __len__(self) -> int:
        return len(self._idle)

    def take(
        self, max_idle: Optional[float] = None, retire: Optional[Callable[[C], None]] = None
    ) -> Optional[C]:
        """An idle connection that is still usable, or ``None``.

        One idle for more than ``max_idle`` seconds is given to ``retire``
        (``close`` by default); one found dropped is closed.
        """
        if self._pid != os.getpid():  # a fork the at-fork hook did not see
            self.forget()
        while True:
            with self._lock:
                if not self._idle:
                    return None
                since, connection = self._idle.pop()
            if max_idle is not None and time.monotonic() - since > max_idle:
                (retire or type(connection).close)(connection)
            elif connection.dropped():
                connection.close()
            else:
                return connection

    def put(self, connection: C) -> bool:
        """Keep ``connection`` for reuse; ``False`` when the pool is full
        (the caller closes it)."""
        if self._pid != os.getpid():  # a fork the at-fork hook did not see
            self.forget()
        with self._lock:
            if len(self._idle) < self.size:
                self._idle.append((time.monotonic(), connection))
                return True
        return False

    def drain(self) -> List[C]:
        """Take every idle connection, for the caller to close; in a forked
        child they are the parent's: forgotten here, and none returned."""
        if self._pid != os.getpid():
            self.forget()
            return []
        with self._lock:
            idle, self._idle = self._idle, []
        return [connection for _, connection in idle]

    def forget(self) -> None:
        """In a forked child: a new lock, and the inherited connections forgotten."""
        self._lock = _thread.RLock()
        idle, self._idle = self._idle, []
        self._pid = os.getpid()
        for _, connection in idle:
            connection.forget()

    def __del__(self) -> None:
        # A pool dropped without drain() must not leave sockets to the GC
        # (nor ResourceWarnings); closing an inherited descriptor sends nothing.
        for _, connection in getattr(self, "_idle", ()):
            connection.close()
