"""AlertHandler's budget per record (issue 27, item 9): a program that logs
an error is held up at most ``timeout`` seconds (10 by default), however
long the channels' own timeouts and retries would take.

The Slack host here is a real socket on loopback that accepts every
connection and never answers, the case that held ``log.error()`` 91 s.
"""

import logging
import socket
import threading
import time
from typing import Iterator, List

import pytest

from kstalerts import AlertHandler, AlertManager
from kstalerts.channels.slack import SlackChannel
from kstalerts.logging import DEFAULT_TIMEOUT


@pytest.fixture
def silent_host() -> Iterator[str]:
    """``http://127.0.0.1:PORT/...``: accepts, reads, never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)  # so the accept loop sees ``stop``
    held: List[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/services/T0/B0/silent"
    finally:
        stop.set()
        thread.join(5)
        listener.close()
        for conn in held:
            conn.close()


def handler_threads() -> List[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "kstalerts-alert-handler"]


@pytest.mark.slow(seconds=10)
def test_log_error_against_a_host_that_never_answers_returns_within_the_default_budget(
    silent_host: str,
) -> None:
    # The channel's defaults: 30 s a try, 2 retries (what held the caller 91 s).
    channel = SlackChannel(silent_host, allow_custom_url=True)
    assert (channel.timeout, channel.max_retries) == (30.0, 2)
    manager = AlertManager().add_channel(channel)
    handler = AlertHandler(manager)
    assert handler.timeout == DEFAULT_TIMEOUT == 10.0
    log = logging.getLogger("tests.logging_budget.default")
    log.propagate = False
    log.addHandler(handler)
    try:
        started = time.monotonic()
        log.error("disk full on db1")
        took = time.monotonic() - started
    finally:
        log.removeHandler(handler)
    assert 9.5 <= took < 15, took
    assert handler.late == 1


@pytest.mark.slow(seconds=3)
def test_the_budget_is_configurable_and_the_delivery_finishes_in_the_background(silent_host: str) -> None:
    manager = AlertManager().add_channel(
        SlackChannel(silent_host, allow_custom_url=True, timeout=3.0, max_retries=0)
    )
    handler = AlertHandler(manager, timeout=0.5)
    record = logging.LogRecord("app", logging.ERROR, __file__, 1, "boom", None, None)
    started = time.monotonic()
    handler.handle(record)
    assert time.monotonic() - started < 2.5
    assert handler.late == 1 and handler_threads()
    deadline = time.monotonic() + 10
    while handler_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not handler_threads(), "the background delivery did not end within the channel's own timeout"
    [result] = handler.last_results
    assert not result.success and "timed out" in (result.error or "")
    manager.close()


def test_none_waits_for_the_channels(silent_host: str) -> None:
    manager = AlertManager().add_channel(
        SlackChannel(silent_host, allow_custom_url=True, timeout=1.0, max_retries=0)
    )
    handler = AlertHandler(manager, timeout=None)
    record = logging.LogRecord("app", logging.ERROR, __file__, 1, "boom", None, None)
    handler.handle(record)
    assert handler.late == 0 and not handler_threads()
    [result] = handler.last_results
    assert not result.success
    manager.close()


@pytest.mark.parametrize("bad", [0, -1, float("inf"), float("nan")])
def test_a_budget_must_be_positive(bad: float) -> None:
    with pytest.raises(ValueError, match="timeout must be more than 0 seconds"):
        AlertHandler(AlertManager(), timeout=bad)
