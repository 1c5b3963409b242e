"""AlertHandler turns log records into alerts and never feeds on itself."""

import logging
import threading
from typing import Iterator, List

import pytest

from kstalerts import AlertHandler, AlertLevel, AlertManager, AlertMessage
from kstalerts.channels import CallbackChannel
from kstalerts.exceptions import AlertDeliveryError
from kstalerts.logging import level_for


@pytest.fixture
def seen() -> List[AlertMessage]:
    return []


@pytest.fixture
def manager(seen: List[AlertMessage]) -> Iterator[AlertManager]:
    with AlertManager() as m:
        m.add_channel(CallbackChannel(seen.append, name="memory", max_retries=0))
        yield m


@pytest.fixture
def logger(request: pytest.FixtureRequest) -> Iterator[logging.Logger]:
    log = logging.getLogger(f"test.alerthandler.{request.node.name}")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    yield log
    for handler in list(log.handlers):
        log.removeHandler(handler)


@pytest.mark.parametrize(
    ("levelno", "expected"),
    [
        (logging.DEBUG, AlertLevel.INFO),
        (logging.INFO, AlertLevel.INFO),
        (logging.WARNING, AlertLevel.WARNING),
        (logging.ERROR, AlertLevel.CRITICAL),
        (logging.CRITICAL, AlertLevel.CRITICAL),
        (logging.ERROR + 5, AlertLevel.CRITICAL),
    ],
)
def test_level_mapping(levelno: int, expected: AlertLevel) -> None:
    assert level_for(levelno) is expected


def test_records_below_the_handler_level_are_not_sent(
    manager: AlertManager, seen: List[AlertMessage], logger: logging.Logger
) -> None:
    logger.addHandler(AlertHandler(manager))  # ERROR by default
    logger.warning("just a warning")
    logger.error("Disk full on %s", "db1")
    logger.critical("on fire")
    assert [(a.title, a.level) for a in seen] == [
        ("Disk full on db1", AlertLevel.CRITICAL),
        ("on fire", AlertLevel.CRITICAL),
    ]
    assert seen[0].labels == {"logger": logger.name, "log_level": "ERROR"}


def test_every_level_with_a_low_handler_level(
    manager: AlertManager, seen: List[AlertMessage], logger: logging.Logger
) -> None:
    logger.addHandler(AlertHandler(manager, level="DEBUG"))
    logger.debug("d")
    logger.info("i")
    logger.warning("w")
    assert [a.level for a in seen] == [AlertLevel.INFO, AlertLevel.INFO, AlertLevel.WARNING]


def test_exception_text_goes_into_the_body(
    manager: AlertManager, seen: List[AlertMessage], logger: logging.Logger
) -> None:
    handler = AlertHandler(manager)
    logger.addHandler(handler)
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        logger.exception("nightly job crashed\nsecond line of the message")
    [alert] = seen
    assert alert.title == "nightly job crashed"
    assert f"ERROR [{logger.name}] nightly job crashed\nsecond line of the message" in alert.body
    assert "Traceback (most recent call last):" in alert.body
    assert alert.body.rstrip().endswith("ZeroDivisionError: division by zero")
    assert [r.success for r in handler.last_results] == [True]


def test_empty_and_long_messages_get_a_usable_title(
    manager: AlertManager, seen: List[AlertMessage], logger: logging.Logger
) -> None:
    logger.addHandler(AlertHandler(manager))
    logger.error("   ")
    logger.error("x" * 500)
    assert seen[0].title == "ERROR from " + logger.name
    assert seen[1].title == "x" * 197 + "..."


def test_channel_target(logger: logging.Logger) -> None:
    a: List[AlertMessage] = []
    b: List[AlertMessage] = []
    with AlertManager() as m:
        m.add_channel(CallbackChannel(a.append, name="a")).add_channel(CallbackChannel(b.append, name="b"))
        logger.addHandler(AlertHandler(m, channel="b"))
        logger.error("only b")
    assert (len(a), len(b)) == (0, 1)


def test_records_of_the_kstalerts_logger_tree_are_ignored(
    manager: AlertManager, seen: List[AlertMessage]
) -> None:
    handler = AlertHandler(manager)
    for name in ("kstalerts", "kstalerts.manager", "kstalerts.channels.slack"):
        handler.handle(logging.LogRecord(name, logging.ERROR, __file__, 1, "internal", None, None))
    handler.handle(logging.LogRecord("kstalertsfoo", logging.ERROR, __file__, 1, "not ours", None, None))
    assert [a.title for a in seen] == ["not ours"]


def test_a_channel_that_logs_does_not_recurse(logger: logging.Logger) -> None:
    """The channel logs an error to the same logger while delivering."""
    sent: List[str] = []

    def noisy(alert: AlertMessage) -> None:
        sent.append(alert.title)
        logger.error("delivering %s", alert.title)

    with AlertManager() as m:
        m.add_channel(CallbackChannel(noisy, name="noisy"))
        logger.addHandler(AlertHandler(m))
        logger.error("first")
        assert sent == ["first"]
        # With two channels the manager delivers on its worker threads.
        m.add_channel(CallbackChannel(noisy, name="noisy2"))
        logger.error("second")
    assert sorted(sent) == ["first", "second", "second"]


def test_a_thread_named_like_ours_is_not_ignored(
    logger: logging.Logger, manager: AlertManager, seen: List[AlertMessage]
) -> None:
    """The re-entry rule is a mark the library sets, not a thread name."""
    logger.addHandler(AlertHandler(manager))
    thread = threading.Thread(target=logger.error, args=("from my worker",), name="kstalerts-my-worker")
    thread.start()
    thread.join(10)
    assert [a.title for a in seen] == ["from my worker"]


def test_what_the_pool_workers_log_while_delivering_is_not_sent(logger: logging.Logger) -> None:
    sent: List[str] = []
    workers: List[str] = []

    def noisy(alert: AlertMessage) -> None:
        sent.append(alert.title)
        workers.append(threading.current_thread().name)
        logger.error("delivering %s", alert.title)

    with AlertManager() as m:
        for name in ("a", "b", "c"):
            m.add_channel(CallbackChannel(noisy, name=name))
        handler = AlertHandler(m)
        logger.addHandler(handler)
        results = m.send(AlertMessage("direct"))  # not through the handler: fanned out on the pool
    assert sent == ["direct"] * 3 and all(r.success for r in results)
    assert threading.current_thread().name not in workers  # it did run on the pool
    assert handler.last_results == []  # the workers' records were dropped


def test_a_channel_bug_logged_by_the_manager_is_not_resent(logger: logging.Logger) -> None:
    calls: List[str] = []

    def broken(alert: AlertMessage) -> None:
        calls.append(alert.title)
        raise RuntimeError("bug in channel")

    root = logging.getLogger()
    with AlertManager() as m:
        m.add_channel(CallbackChannel(broken, name="broken"))
        handler = AlertHandler(m)
        root.addHandler(handler)  # sees the manager's own ERROR record too
        try:
            logging.getLogger("app").error("boom")
        finally:
            root.removeHandler(handler)
    assert calls == ["boom"]
    assert not handler.last_results[0].success


class _RecordingHandler(AlertHandler):
    def __init__(self, manager: AlertManager) -> None:
        super().__init__(manager)
        self.errors: List[str] = []

    def handleError(self, record: logging.LogRecord) -> None:
        self.errors.append(record.getMessage())


def test_emit_never_raises(logger: logging.Logger) -> None:
    m = AlertManager()
    m.add_channel(CallbackChannel(print, name="a")).add_channel(CallbackChannel(print, name="b"))
    handler = _RecordingHandler(m)
    handler.channel = "nowhere"  # an unknown target makes send() raise AlertConfigurationError
    logger.addHandler(handler)
    logger.error("unknown target")
    assert handler.errors == ["unknown target"]
    m.close()


def test_a_record_after_close_gets_closed_results(logger: logging.Logger) -> None:
    m = AlertManager()
    m.add_channel(CallbackChannel(print, name="a")).add_channel(CallbackChannel(print, name="b"))
    m.close()
    handler = _RecordingHandler(m)
    logger.addHandler(handler)
    logger.error("after close")
    assert handler.errors == []
    assert [(r.channel, r.error) for r in handler.last_results] == [
        ("a", "not sent: this AlertManager is closed"),
        ("b", "not sent: this AlertManager is closed"),
    ]


def test_a_failed_delivery_is_a_result_not_an_exception(logger: logging.Logger) -> None:
    def down(alert: AlertMessage) -> None:
        raise AlertDeliveryError("service down", retryable=False)

    with AlertManager() as m:
        m.add_channel(CallbackChannel(down, name="down"))
        handler = _RecordingHandler(m)
        logger.addHandler(handler)
        logger.error("x")
    assert handler.errors == []
    assert [r.error for r in handler.last_results] == ["service down"]


def test_handler_works_from_many_threads(
    manager: AlertManager, seen: List[AlertMessage], logger: logging.Logger
) -> None:
    handler = AlertHandler(manager)
    logger.addHandler(handler)
    threads = [threading.Thread(target=logger.error, args=(f"t{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(a.title for a in seen) == sorted(f"t{i}" for i in range(8))
    assert repr(handler) == "<AlertHandler ERROR -> AlertManager(channels=1, keys=['memory'])>"


def test_import_kstalerts_loads_the_handler_and_guard_lazily() -> None:
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys, kstalerts; before = [m in sys.modules for m in ('kstalerts.logging', 'kstalerts.guard')];"
        " from kstalerts import AlertHandler, alert_on_failure;"
        " print(before, AlertHandler.__module__, alert_on_failure.__module__)"
    )
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=30,
    )
    assert proc.stdout.split() == ["[False,", "False]", "kstalerts.logging", "kstalerts.guard"]
