"""One attempt over a kept-alive connection, for HTTP (``http.py``) and SMTP (``transports``).

Two parts, each written once for both protocols:

- :data:`STAGES`: where an attempt stands (a :class:`Stage`, as h11 keeps
  it), each stage one row that says how an error text words it and what a
  failure there allows (a :class:`Verdict`). So "may this be sent
  again?" is a lookup, not a guess.
- :func:`pooled_attempts`: take an idle connection (or open one), try; a
  *reused* connection that failed at an ``IF_STALE`` stage with an error
  that says the peer had closed it is closed and the request goes once
  more on a fresh connection, before the same deadline. Any other failure
  closes the connection and goes to the caller's ``fail``, which words it.
  Each go is a context manager whose body runs in the caller's own frame.

Rules: nothing here knows HTTP or SMTP beyond the names of their stages;
which errors mean "the peer had closed it" and how a failure is worded are
the caller's. The attempt's :class:`Progress` is the one place its stage
is kept: the caller's code moves it on as the request goes out.
"""

import time

from .._lazy import TYPE_CHECKING
from .._typing import Any, Callable, Generic, Iterator, NamedTuple, Optional, Tuple, Type, TypeVar
from .wire import Pooled

if TYPE_CHECKING:
    from typing import NoReturn

__all__ = ()


class Verdict(NamedTuple):
    """What a failure at a stage allows: one of the three rows below, told apart by ``is``."""

    name: str
    meaning: str


IF_STALE = Verdict(
    "if_stale", "a reused connection the peer had closed may be replaced, and the request sent there"
)
NEVER = Verdict("never", "the peer may have acted on the request: the channel's retry decides")
FATE_UNKNOWN = Verdict(
    "fate_unknown",
    "sent in full and not acknowledged: with no answer it may have been delivered, so it is"
    " never sent again (not even by the channel's retry)",
)


class Stage(NamedTuple):
    """Where one attempt stands: how an error text says it, and what a failure there allows.

    The stages are the constants below, one row each, told apart by ``is``.
    """

    name: str
    where: str  # how an error text says where it failed
    resend: Verdict  # what a failure there allows


# HTTP. A reused HTTP connection the server closed while idle fails while
# sending or before a byte of an answer; a reused SMTP session, before DATA.
# A reused connection is past connecting, so those stages never resend.
CONNECTING = Stage("connecting", "while connecting", NEVER)
TUNNELLING = Stage("tunnelling", "while opening the proxy tunnel", NEVER)  # the proxy's CONNECT
HANDSHAKE = Stage("handshake", "in the TLS handshake", NEVER)
SENDING = Stage("sending", "while sending the request", IF_STALE)
WAITING = Stage("waiting", "while waiting for the response", IF_STALE)  # sent; no byte of the answer
ANSWERING = Stage("answering", "while waiting for the response", NEVER)  # its head is not all in
READING = Stage("reading", "while reading the response body", NEVER)
# SMTP (connecting, greeting, STARTTLS and login count as ENVELOPE)
ENVELOPE = Stage("envelope", "before DATA", IF_STALE)  # nothing of the message was sent
DATA = Stage("data", "after DATA", NEVER)  # the message may be on its way
SENT = Stage("sent", "after the final dot", FATE_UNKNOWN)  # only the server's reply is missing

#: Every stage, in the order an attempt passes them.
STAGES = (CONNECTING, TUNNELLING, HANDSHAKE, SENDING, WAITING, ANSWERING, READING, ENVELOPE, DATA, SENT)


class Progress:
    """The stage one attempt has reached."""

    __slots__ = ("stage",)

    def __init__(self, stage: Stage) -> None:
        self.stage = stage


C = TypeVar("C", bound=Pooled)


class Attempt(Generic[C]):
    """One go of :func:`pooled_attempts`: the connection it holds (``None``
    until the caller opens one), whether it was reused, and its
    :class:`Progress`. As a context manager it judges a failure (see there)."""

    __slots__ = ("connection", "reused", "progress", "stale", "_rules")

    def __init__(self, rules: "Rules", connection: Optional[C]) -> None:
        self.connection = connection
        self.reused = connection is not None
        self.progress = Progress(rules.first)
        self.stale = False  # set when this go failed on a stale connection: one more go
        self._rules = rules

    def __enter__(self) -> "Attempt[C]":
        return self

    def __exit__(self, kind: Any, exc: Optional[BaseException], trace: Any) -> bool:
        if exc is None:
            return False
        if self.connection is not None:
            self.connection.close()
        rules = self._rules
        if not isinstance(exc, rules.errors):  # an interrupt, a bug: unchanged
            return False
        if (
            self.reused
            and self.progress.stage.resend is IF_STALE
            and rules.is_stale(exc)
            and time.monotonic() < rules.deadline
        ):
            rules.log.debug("%s: idle %s was closed by the server; reconnecting", rules.peer, rules.what)
            self.stale = True
            return True
        rules.fail(exc, self.progress.stage)  # raises the protocol's own error
        return False  # pragma: no cover - fail() always raises


class Rules(NamedTuple):
    """What the goes of one request share (see :func:`pooled_attempts`)."""

    first: Stage  # where a go starts
    errors: Tuple[Type[BaseException], ...]  # the protocol's failures (anything else propagates)
    is_stale: Callable[[BaseException], bool]  # whether one of them says the peer had closed it
    fail: "Callable[[BaseException, Stage], NoReturn]"  # raises the protocol's error for one
    deadline: float  # monotonic; no second go after it
    log: Any  # the protocol's logger (kstalerts._log.logger)
    peer: object  # shown with %s: a Secret URL stays masked
    what: str  # the word for a connection: "connection", "session"


def pooled_attempts(connection: Optional[C], rules: Rules) -> Iterator[Attempt[C]]:
    """The goes of one request: ``for go in pooled_attempts(pool.take(), rules): with go: ...``.

    The first go holds ``connection``, an idle one from the pool (or none:
    the body opens one into ``go.connection``); the body moves
    ``go.progress`` on as the request goes out. When the body fails, the
    connection is closed, and one of ``rules.errors`` on a *reused*
    connection at an ``IF_STALE`` stage that ``rules.is_stale`` says was a
    closed peer, with time left before ``rules.deadline``, is logged at
    DEBUG ("``peer``: idle ``what`` was closed by the server") and
    swallowed: a second go, on no connection. Any other of ``errors`` goes
    to ``rules.fail(exc, stage)``, which raises the protocol's error;
    anything else propagates unchanged. The loop ends after a go whose body
    finished. The body runs in the caller's frame: this adds no frame
    between a send and its socket.
    """
    go: Attempt[C] = Attempt(rules, connection)
    yield go
    if go.stale:  # a second go only when a reused connection turned out stale
        yield Attempt(rules, None)
