"""One attempt over a kept-alive connection, for HTTP (``http.py``) and SMTP (``transports``).

Two parts, each written once for both protocols:

- :data:`STAGES`: where an attempt stands (a :class:`Stage`, as h11 keeps
  it) and, in one table, how an error text says it and what a failure
  there allows (a :class:`Resend` verdict). So "may this be sent again?"
  is a lookup, not a guess.
- :func:`attempt_pooled`: take an idle connection (or open one), try; a
  *reused* connection that failed at an ``IF_STALE`` stage with an error
  that says the peer had closed it is closed and the attempt runs once
  more on a fresh connection, before the same deadline. Any other failure
  closes the connection and goes to the caller's ``fail``, which words it.

Rules: nothing here knows HTTP or SMTP beyond the names of their stages;
which errors mean "the peer had closed it" and how a failure is worded are
the caller's. The attempt's :class:`Progress` is the one place its stage
is kept: the caller's code moves it on as the request goes out.
"""

import enum
import time
from typing import TYPE_CHECKING, Callable, Dict, Optional, Tuple, Type, TypeVar

from ._net import Pooled

if TYPE_CHECKING:
    import logging
    from typing import NoReturn

__all__ = ()


class Stage(enum.Enum):
    """Where one attempt stands."""

    # HTTP
    CONNECTING = 1
    TUNNELLING = 2  # the proxy's CONNECT
    HANDSHAKE = 3
    SENDING = 4
    WAITING = 5  # sent in full; not a byte of the answer yet
    ANSWERING = 6  # the answer began; its status line and headers are not all in
    READING = 7  # the body
    # SMTP (connecting, greeting, STARTTLS and login count as ENVELOPE)
    ENVELOPE = 8  # before DATA: nothing of the message was sent
    DATA = 9  # DATA was sent: the message may be on its way
    SENT = 10  # the final dot was written: only the server's reply is missing


class Resend(enum.Enum):
    """What a failure at a stage allows."""

    IF_STALE = "a reused connection the peer had closed may be replaced, and the request sent there"
    NEVER = "the peer may have acted on the request: the channel's retry decides"
    FATE_UNKNOWN = (
        "sent in full and not acknowledged: with no answer it may have been delivered, so it is"
        " never sent again (not even by the channel's retry)"
    )


#: stage -> (how an error text says where it failed, what a failure there
#: allows). A reused HTTP connection the server closed while idle fails
#: while sending or before a byte of an answer; a reused SMTP session, before
#: DATA. A reused connection is past connecting, so those stages never resend.
STAGES: Dict[Stage, Tuple[str, Resend]] = {
    Stage.CONNECTING: ("while connecting", Resend.NEVER),
    Stage.TUNNELLING: ("while opening the proxy tunnel", Resend.NEVER),
    Stage.HANDSHAKE: ("in the TLS handshake", Resend.NEVER),
    Stage.SENDING: ("while sending the request", Resend.IF_STALE),
    Stage.WAITING: ("while waiting for the response", Resend.IF_STALE),
    Stage.ANSWERING: ("while waiting for the response", Resend.NEVER),
    Stage.READING: ("while reading the response body", Resend.NEVER),
    Stage.ENVELOPE: ("before DATA", Resend.IF_STALE),
    Stage.DATA: ("after DATA", Resend.NEVER),
    Stage.SENT: ("after the final dot", Resend.FATE_UNKNOWN),
}


class Progress:
    """The stage one attempt has reached."""

    __slots__ = ("stage",)

    def __init__(self, stage: Stage) -> None:
        self.stage = stage


C = TypeVar("C", bound=Pooled)
R = TypeVar("R")


def attempt_pooled(
    take: Callable[[], Optional[C]],
    connect: Callable[[Progress], C],
    exchange: Callable[[C, Progress], R],
    *,
    first: Stage,
    errors: Tuple[Type[BaseException], ...],
    stale: Callable[[BaseException], bool],
    fail: "Callable[[BaseException, Stage], NoReturn]",
    deadline: float,
    log: "logging.Logger",
    peer: object,
    what: str,
) -> Tuple[C, R, bool]:
    """Run ``exchange`` on an idle connection from ``take()``, or on a new
    one from ``connect``; return ``(connection, result, reused)``.

    Each go starts a :class:`Progress` at ``first``. One of ``errors`` on a
    reused connection at an ``IF_STALE`` stage, that ``stale`` says was a
    closed peer, with time left before ``deadline`` (monotonic): logged at
    DEBUG ("``peer``: idle ``what`` was closed by the server"; ``peer`` is
    shown with ``%s``, so a :class:`Secret` URL stays masked), and a second
    go on a new connection. Every
    other one of ``errors`` goes to ``fail`` (which raises); the connection
    is closed on any failure. The caller keeps or closes a returned one.
    """
    for go in range(2):  # a second go only when a reused connection turned out stale
        connection = take() if go == 0 else None
        reused = connection is not None
        progress = Progress(first)
        try:
            if connection is None:
                connection = connect(progress)
            return connection, exchange(connection, progress), reused
        except errors as exc:
            if connection is not None:
                connection.close()
            if (
                reused
                and STAGES[progress.stage][1] is Resend.IF_STALE
                and stale(exc)
                and time.monotonic() < deadline
            ):
                log.debug("%s: idle %s was closed by the server; reconnecting", peer, what)
                continue
            fail(exc, progress.stage)
        except BaseException:
            if connection is not None:
                connection.close()
            raise
    raise AssertionError("unreachable")  # pragma: no cover - the second go never continues
