"""kstalerts.net.attempt: the stage/resend table and the pooled-attempt loop HTTP and SMTP share.

The loop runs here on real socket pairs held in a real :class:`IdlePool`;
the protocols' own use of it (a stale kept-alive HTTP connection, a dead
SMTP session, the SMTP "fate unknown" rule) is pinned in test_http.py and
test_transports.py against loopback servers.
"""

import logging
import socket
import time
from typing import Any, Dict, List, Tuple

import pytest

from kstalerts.net.attempt import (
    ANSWERING,
    CONNECTING,
    FATE_UNKNOWN,
    IF_STALE,
    NEVER,
    SENDING,
    SENT,
    STAGES,
    WAITING,
    Progress,
    Rules,
    Stage,
    pooled_attempts,
)
from kstalerts.net.wire import IdlePool, Pooled


def test_every_stage_has_one_wording_one_verdict_and_its_own_name() -> None:
    from kstalerts.net import attempt

    constants = [value for value in vars(attempt).values() if isinstance(value, Stage)]
    assert len(STAGES) == 10 and set(map(id, constants)) == set(map(id, STAGES))  # each listed once
    assert all(isinstance(stage.where, str) and stage.where for stage in STAGES)
    assert all(stage.resend in (IF_STALE, NEVER, FATE_UNKNOWN) for stage in STAGES)
    assert len({stage.name for stage in STAGES}) == len(STAGES)  # told apart in a log line
    assert [getattr(attempt, stage.name.upper()) for stage in STAGES] == list(STAGES)


def test_only_stages_before_the_peer_can_have_acted_may_resend() -> None:
    resendable = [stage.name for stage in STAGES if stage.resend is IF_STALE]
    assert resendable == ["sending", "waiting", "envelope"]
    assert SENT.resend is FATE_UNKNOWN  # a whole message, unanswered: never again
    assert [stage for stage in STAGES if stage.resend is FATE_UNKNOWN] == [SENT]


class _Conn(Pooled):
    """One end of a socket pair."""

    def __init__(self) -> None:
        self.sock, self.peer = socket.socketpair()
        self.closed = False

    def dropped(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True
        self.sock.close()
        self.peer.close()

    def forget(self) -> None:
        self.close()


class _FailedError(Exception):
    def __init__(self, exc: BaseException, stage: Stage) -> None:
        super().__init__(f"{type(exc).__name__} at {stage.name}")
        self.stage = stage


def _fail(exc: BaseException, stage: Stage) -> Any:
    raise _FailedError(exc, stage) from exc


def _run(
    pool: "IdlePool[_Conn]", exchange: Any, opened: List[_Conn], **options: Any
) -> Tuple[Any, Any, bool]:
    """The loop as the protocols write it: open a connection when the go has none, then exchange."""
    settings: Dict[str, Any] = {
        "first": CONNECTING,
        "errors": (OSError,),
        "is_stale": lambda exc: isinstance(exc, ConnectionResetError),
        "fail": _fail,
        "deadline": time.monotonic() + 5,
        "log": logging.getLogger("test.attempt"),
        "peer": "peer:1",
        "what": "connection",
    }
    settings.update(options)
    for go in pooled_attempts(pool.take(), Rules(**settings)):
        with go:
            if go.connection is None:
                opened.append(_Conn())
                go.connection = opened[-1]
            result = exchange(go.connection, go.progress)
    return go.connection, result, go.reused


def test_a_stale_reused_connection_is_closed_and_the_exchange_runs_once_more_on_a_new_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pool: IdlePool[_Conn] = IdlePool(2)
    idle = _Conn()
    pool.put(idle)
    opened: List[_Conn] = []
    seen: List[Tuple[_Conn, Stage]] = []

    def exchange(conn: _Conn, progress: Progress) -> str:
        seen.append((conn, progress.stage))
        progress.stage = SENDING
        if conn is idle:
            raise ConnectionResetError("reset")
        return "answer"

    with caplog.at_level(logging.DEBUG, logger="test.attempt"):
        conn, result, reused = _run(pool, exchange, opened)
    assert (conn, result, reused) == (opened[0], "answer", False)
    assert idle.closed and not opened[0].closed
    assert [stage for _, stage in seen] == [CONNECTING, CONNECTING]  # each go starts afresh
    assert "peer:1: idle connection was closed by the server; reconnecting" in caplog.text


@pytest.mark.parametrize(
    ("stage", "error", "reused"),
    [
        (ANSWERING, ConnectionResetError("reset"), True),  # the peer began to answer
        (SENDING, TimeoutError("slow"), True),  # not a hang-up: it may be reading
        (SENDING, ConnectionResetError("reset"), False),  # a new connection is not stale
        (SENT, ConnectionResetError("reset"), True),  # fate unknown
    ],
)
def test_other_failures_close_the_connection_and_go_to_fail_once(
    stage: Stage, error: OSError, reused: bool
) -> None:
    pool: IdlePool[_Conn] = IdlePool(2)
    opened: List[_Conn] = []
    if reused:
        pool.put(_Conn())
        opened.append(pool.idle[0])
    calls: List[Stage] = []

    def exchange(conn: _Conn, progress: Progress) -> str:
        calls.append(progress.stage)
        progress.stage = stage
        raise error

    with pytest.raises(_FailedError) as caught:
        _run(pool, exchange, opened)
    assert caught.value.stage is stage
    assert caught.value.__cause__ is error
    assert len(calls) == 1 and len(opened) == 1 and opened[0].closed


def test_no_second_go_once_the_deadline_has_passed() -> None:
    pool: IdlePool[_Conn] = IdlePool(2)
    idle = _Conn()
    pool.put(idle)
    opened: List[_Conn] = []

    def exchange(conn: _Conn, progress: Progress) -> str:
        progress.stage = WAITING
        raise ConnectionResetError("reset")

    with pytest.raises(_FailedError):
        _run(pool, exchange, opened, deadline=time.monotonic() - 1)
    assert idle.closed and opened == []


def test_an_interrupt_closes_the_connection_and_propagates_unchanged() -> None:
    pool: IdlePool[_Conn] = IdlePool(2)
    opened: List[_Conn] = []

    def exchange(conn: _Conn, progress: Progress) -> str:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _run(pool, exchange, opened)
    assert opened[0].closed
