"""alert_on_failure reports a failure as a CRITICAL alert and re-raises it."""

import asyncio
import logging
from typing import Iterator, List

import pytest

from kstalerts import AlertLevel, AlertManager, AlertMessage, alert_on_failure
from kstalerts.channels import CallbackChannel
from kstalerts.exceptions import AlertDeliveryError
from kstalerts.guard import describe
from tests import compat


@pytest.fixture
def seen() -> List[AlertMessage]:
    return []


@pytest.fixture
def manager(seen: List[AlertMessage]) -> Iterator[AlertManager]:
    with AlertManager() as m:
        m.add_channel(CallbackChannel(seen.append, name="memory", max_retries=0))
        yield m


def test_decorator_sends_critical_and_reraises_the_same_exception(
    manager: AlertManager, seen: List[AlertMessage]
) -> None:
    boom = OSError("disk full")

    @alert_on_failure(manager, title="nightly export")
    def export(path: str) -> str:
        """Export the data."""
        raise boom

    with pytest.raises(OSError) as info:
        export("/tmp/x")
    assert info.value is boom
    [alert] = seen
    assert alert.title == "nightly export failed"
    assert alert.level is AlertLevel.CRITICAL
    assert alert.body.startswith("OSError: disk full\n\nTraceback (most recent call last):\n")
    assert alert.body.rstrip().endswith("OSError: disk full")
    assert "in export\n    raise boom" in alert.body
    assert alert.labels == {"exception": "OSError"}
    assert (export.__name__, export.__doc__) == ("export", "Export the data.")


def test_decorator_passes_values_through_when_nothing_fails(
    manager: AlertManager, seen: List[AlertMessage]
) -> None:
    @alert_on_failure(manager)
    def add(a: int, b: int = 0) -> int:
        return a + b

    assert add(2, b=3) == 5
    assert seen == []


def test_default_title_is_the_function_name(manager: AlertManager, seen: List[AlertMessage]) -> None:
    @alert_on_failure(manager, level="warning")
    def flaky() -> None:
        raise ValueError("bad value")

    with pytest.raises(ValueError, match="bad value"):
        flaky()
    assert seen[0].title == ("test_default_title_is_the_function_name.<locals>.flaky failed")
    assert seen[0].level is AlertLevel.WARNING


def test_context_manager(manager: AlertManager, seen: List[AlertMessage]) -> None:
    with pytest.raises(KeyError):
        with alert_on_failure(manager, title="sync job"):
            {"present": 1}["missing"]
    with alert_on_failure(manager):
        pass
    with pytest.raises(RuntimeError):
        with alert_on_failure(manager):
            raise RuntimeError("x")
    assert [a.title for a in seen] == ["sync job failed", "guarded block failed"]
    assert seen[0].body.startswith("KeyError: 'missing'\n")


def test_only_the_chosen_exceptions_alert(manager: AlertManager, seen: List[AlertMessage]) -> None:
    guard = alert_on_failure(manager, title="job", exceptions=(OSError,))
    with pytest.raises(ValueError):
        with guard:
            raise ValueError("not an OSError")
    with pytest.raises(KeyboardInterrupt):
        with alert_on_failure(manager):
            raise KeyboardInterrupt
    with pytest.raises(FileNotFoundError):
        with guard:
            raise FileNotFoundError("gone")
    assert [a.labels["exception"] for a in seen] == ["FileNotFoundError"]


def test_async_function(manager: AlertManager, seen: List[AlertMessage]) -> None:
    @alert_on_failure(manager, title="async job")
    async def job(fail: bool) -> str:
        await asyncio.sleep(0)
        if fail:
            raise ConnectionError("peer gone")
        return "done"

    assert compat.run(job(False)) == "done"
    with pytest.raises(ConnectionError):
        compat.run(job(True))
    assert [(a.title, a.body.splitlines()[0]) for a in seen] == [
        ("async job failed", "ConnectionError: peer gone")
    ]


def test_a_failing_alert_never_hides_the_original_exception(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="kstalerts.guard")

    def down(alert: AlertMessage) -> None:
        raise AlertDeliveryError("service down")

    with AlertManager() as m:
        m.add_channel(CallbackChannel(down, name="down"))
        with pytest.raises(ZeroDivisionError):
            with alert_on_failure(m, title="job"):
                1 / 0  # noqa: B018
        # an unknown channel makes send() itself raise
        with pytest.raises(ZeroDivisionError):
            with alert_on_failure(m, title="job", channel="nope"):
                1 / 0  # noqa: B018

        @alert_on_failure(m, channel="nope")
        async def coro() -> None:
            raise ZeroDivisionError

        with pytest.raises(ZeroDivisionError):
            compat.run(coro())
    assert [r.getMessage() for r in caplog.records] == [
        "failure alert for guarded block not delivered: down: failed: service down",
        "could not send the failure alert for guarded block: unknown channel 'nope'; known channels: down",
        "could not send the failure alert for test_a_failing_alert_never_hides_the_original_exception"
        ".<locals>.coro: unknown channel 'nope'; known channels: down",
    ]


def test_describe_keeps_the_tail_of_a_deep_traceback() -> None:
    # two functions in turn, so the traceback does not fold repeated frames
    def ping(n: int) -> None:
        if n == 0:
            raise RecursionError("bottom")
        pong(n - 1)

    def pong(n: int) -> None:
        ping(n)

    try:
        ping(60)
    except RecursionError as exc:
        text = describe(exc)
    head, _, tail = text.partition("\n\n")
    assert head == "RecursionError: bottom"
    assert tail.startswith("... (")
    assert tail.endswith("RecursionError: bottom")
    assert len(tail.splitlines()) == 31


def test_describe_bounds_a_huge_message() -> None:
    text = describe(ValueError("y" * 10000))
    assert len(text.partition("\n\n")[2]) <= 4003


def test_repr(manager: AlertManager) -> None:
    assert repr(alert_on_failure(manager, title="t")) == (
        "alert_on_failure(AlertManager(channels=1, keys=['memory']), title='t', level=CRITICAL)"
    )
