"""What a failure below the protocol is: a timeout, a refused connection, a
certificate refused, a plain-text port reached with TLS...

:func:`classify` sorts an exception into a :class:`Fault` and its detail,
for each protocol (HTTP in ``http.py``, SMTP in ``transports/smtp.py``, the
local channels) to word in its own terms; :data:`PERMANENT` says which
faults trying again will not fix.

Rules: imported with the first failure, never by a delivery that goes
through (the enum and this module were 1.1 M instructions of a cold send,
half a percent of it); nothing here knows HTTP or SMTP. ``ssl`` is
imported on first use.
"""

import enum
import socket

from .._typing import Tuple
from .wire import tls_verify_failure

__all__ = ()


class Fault(enum.Enum):
    """A failure below the protocol (see :func:`classify`)."""

    NOT_TLS = "a TLS handshake answered in plain text (WRONG_VERSION_NUMBER)"
    CERTIFICATE = "the peer's certificate or host name was refused"
    TIMEOUT = "the deadline passed"
    TLS = "another TLS error"
    REFUSED = "the connection was refused"
    RESET = "the peer reset or closed the connection"
    UNRESOLVED = "the host name did not resolve"
    NETWORK = "another network error"


#: Faults that will not fix themselves in seconds: not retried.
PERMANENT = frozenset((Fault.NOT_TLS, Fault.CERTIFICATE))


def classify(exc: BaseException) -> Tuple[Fault, str]:
    """The fault ``exc`` is, and its detail: the certificate's complaint, the
    TLS reason, or the system's text (``strerror``, else the type's name).
    Protocol errors (``http.client``'s, ``smtplib``'s) are the caller's to
    sort out first."""
    import ssl

    if isinstance(exc, ssl.SSLError) and "WRONG_VERSION_NUMBER" in str(exc.reason or exc):
        return Fault.NOT_TLS, "WRONG_VERSION_NUMBER"
    refused = tls_verify_failure(exc)
    if refused is not None:
        return Fault.CERTIFICATE, refused
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return Fault.TIMEOUT, ""
    if isinstance(exc, ssl.SSLError):
        return Fault.TLS, str(exc.reason or type(exc).__name__)
    detail = (exc.strerror if isinstance(exc, OSError) else None) or type(exc).__name__
    if isinstance(exc, socket.gaierror):
        return Fault.UNRESOLVED, detail
    if isinstance(exc, ConnectionRefusedError):
        return Fault.REFUSED, detail
    if isinstance(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
        return Fault.RESET, detail
    return Fault.NETWORK, detail
