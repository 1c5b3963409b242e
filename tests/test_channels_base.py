"""The channel base class: the retry loop, the budget and the result shape."""

import io
from typing import Any, Callable, List, Optional, Tuple, Union

import pytest

from kstalerts import AlertDeliveryError, AlertLevel, AlertMessage, Delivery, Outcome, RetryPolicy
from kstalerts.channels import CallbackChannel, ConsoleChannel
from kstalerts.channels.base import AlertChannel
from tests.clock import FakeClock

ALERT = AlertMessage("Disk full", "/var at 97%", AlertLevel.WARNING)


def scripted(*outcomes: Optional[AlertDeliveryError]) -> Tuple[Callable[[AlertMessage], str], List[AlertMessage]]:
    """A callback that raises each given error in turn, then succeeds."""
    calls: List[AlertMessage] = []
    queue = list(outcomes)

    def callback(alert: AlertMessage) -> str:
        calls.append(alert)
        if queue:
            error = queue.pop(0)
            if error is not None:
                raise error
        return f"id-{len(calls)}"

    return callback, calls


def channel_with(callback: object, clock: FakeClock, **policy: object) -> CallbackChannel:
    retry = RetryPolicy(**{"base_delay": 1.0, "jitter": False, **policy})  # type: ignore[arg-type]
    return CallbackChannel(callback, name="test", retry=retry, clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]


def test_success_on_first_attempt() -> None:
    clock = FakeClock()
    callback, calls = scripted()
    result = channel_with(callback, clock).send(ALERT)
    assert (result.success, result.attempts, result.message_id, result.channel) == (True, 1, "id-1", "test")
    assert result.alert is ALERT and clock.sleeps == []


def test_retryable_errors_are_retried_with_backoff() -> None:
    clock = FakeClock()
    error = AlertDeliveryError("HTTP 503: service unavailable", retryable=True, status=503)
    callback, calls = scripted(error, error)
    result = channel_with(callback, clock, max_retries=2).send(ALERT)
    assert (result.success, result.attempts) == (True, 3)
    assert clock.sleeps == [1.0, 2.0]


def test_permanent_errors_stop_at_once() -> None:
    clock = FakeClock()
    callback, calls = scripted(AlertDeliveryError("HTTP 404: no_service", status=404))
    result = channel_with(callback, clock).send(ALERT)
    assert (result.success, result.attempts, result.error, result.status, result.retryable) == (
        False,
        1,
        "HTTP 404: no_service",
        404,
        False,
    )
    assert len(calls) == 1 and clock.sleeps == []


def test_gives_up_after_max_retries_and_says_so() -> None:
    clock = FakeClock()
    error = AlertDeliveryError("connection refused", retryable=True)
    callback, calls = scripted(*[error] * 10)
    result = channel_with(callback, clock, max_retries=2).send(ALERT)
    assert (result.success, result.attempts, result.retryable) == (False, 3, True)
    assert result.error == "connection refused (gave up after 3 attempts)"


def test_zero_retries_means_one_attempt() -> None:
    clock = FakeClock()
    callback, calls = scripted(AlertDeliveryError("timed out", retryable=True))
    result = channel_with(callback, clock, max_retries=0).send(ALERT)
    assert (result.success, result.attempts, result.error) == (False, 1, "timed out")


def test_retry_after_is_honoured() -> None:
    clock = FakeClock()
    callback, calls = scripted(AlertDeliveryError("HTTP 429", retryable=True, retry_after=7.0, status=429))
    result = channel_with(callback, clock).send(ALERT)
    assert result.success and clock.sleeps == [7.0]


def test_retry_after_beyond_the_budget_ends_throttled_without_sleeping() -> None:
    clock = FakeClock()
    callback, calls = scripted(AlertDeliveryError("HTTP 429", retryable=True, retry_after=100.0, status=429))
    result = channel_with(callback, clock, budget=30.0, max_retry_after=300.0).send(ALERT)
    assert (result.success, result.throttled, result.attempts, result.status) == (False, True, 1, 429)
    assert result.error == (
        "rate limited: the service asked to wait 100s, more than the 30.0s left of this send's budget"
    )
    assert clock.sleeps == []


def test_backoff_beyond_the_budget_gives_up() -> None:
    clock = FakeClock()
    error = AlertDeliveryError("timed out", retryable=True)
    callback, calls = scripted(error, error, error)
    result = channel_with(callback, clock, budget=1.5, max_retries=5).send(ALERT)
    assert (result.success, result.attempts) == (False, 2)
    assert clock.sleeps == [1.0]


def test_timeout_and_retries_come_through_the_limits() -> None:
    channel = CallbackChannel(print, timeout=500, max_retries=9)
    assert (channel.timeout, channel.max_retries) == (120.0, 5)
    assert CallbackChannel(print).timeout == 30.0 and CallbackChannel(print).max_retries == 2
    replaced = CallbackChannel(print, retry=RetryPolicy(max_retries=1), max_retries=3)
    assert replaced.max_retries == 3


def test_each_attempt_gets_at_most_the_channel_timeout() -> None:
    seen: List[float] = []

    class Probe(AlertChannel):
        def _deliver(self, alert: AlertMessage, *, timeout: float) -> Optional[str]:
            seen.append(timeout)
            return None

    Probe(timeout=5).send(ALERT)
    assert 0 < seen[0] <= 5.0


def test_other_exceptions_propagate_to_the_manager() -> None:
    def broken(alert: AlertMessage) -> None:
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        CallbackChannel(broken).send(ALERT)


def test_console_channel_writes_a_block() -> None:
    stream = io.StringIO()
    result = ConsoleChannel(stream).send(ALERT)
    assert result.success
    assert stream.getvalue() == "[WARNING] Disk full\n/var at 97%\n"


def test_console_channel_shows_success() -> None:
    stream = io.StringIO()
    assert ConsoleChannel(stream).send(AlertMessage("job done", level=AlertLevel.SUCCESS)).success
    assert stream.getvalue() == "[SUCCESS] job done\n\n"


def test_console_from_config() -> None:
    channel = ConsoleChannel.from_config({"stream": "stdout", "name": "out", "timeout": 3})
    assert channel.name == "out" and channel.timeout == 3.0


def test_base_from_config_is_not_available() -> None:
    with pytest.raises(NotImplementedError, match="CallbackChannel cannot be built from config"):
        CallbackChannel.from_config({})


def test_repr_names_the_channel() -> None:
    assert repr(CallbackChannel(print, name="mem")) == "CallbackChannel(name='mem')"


def test_console_config_keys_are_checked() -> None:
    from kstalerts import AlertConfigurationError, AlertManager

    config = {"alerts": {"channels": {"out": {"type": "console", "strem": "stdout"}}}}
    with pytest.raises(AlertConfigurationError) as info:
        AlertManager.from_config(config)
    assert str(info.value) == "alerts.channels.out.strem: unknown key; did you mean 'stream'?"


# -- the one channel contract: an attempt returns a Delivery -------------------------
class Scripted(AlertChannel):
    """A user-style subclass: each attempt returns (or raises) the next scripted value."""

    kind = "scripted"

    def __init__(self, *answers: object, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.answers = list(answers)
        self.attempts = 0

    def _deliver(self, alert: AlertMessage, *, timeout: float) -> Union[Delivery, Optional[str]]:
        self.attempts += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[return-value]


def scripted_channel(*answers: object, clock: FakeClock, **policy: object) -> Scripted:
    retry = RetryPolicy(**{"base_delay": 1.0, "jitter": False, **policy})  # type: ignore[arg-type]
    return Scripted(*answers, retry=retry, clock=clock, sleep=clock.sleep)


def test_a_plain_message_id_or_none_is_still_a_delivery() -> None:
    for answer in ("msg-7", None):
        result = scripted_channel(answer, clock=FakeClock()).send(ALERT)
        assert (result.outcome, result.message_id, result.error, result.attempts) == (
            Outcome.DELIVERED,
            answer,
            None,
            1,
        )


@pytest.mark.parametrize("outcome", list(Outcome))
def test_every_outcome_of_an_attempt_comes_back_as_itself(outcome: Outcome) -> None:
    delivery = Delivery(outcome, message_id="m", status=299, note="why")
    result = scripted_channel(delivery, clock=FakeClock(), max_retries=0).send(ALERT)
    assert result.outcome is outcome
    row = outcome.meaning
    assert (result.success, result.throttled, result.suppressed, result.retryable) == (
        row.success,
        row.throttled,
        row.suppressed,
        row.retryable,
    )
    assert (result.message_id, result.status, result.alert) == ("m", 299, ALERT)
    assert result.error == (None if outcome is Outcome.DELIVERED else "why")


def test_a_partly_delivered_attempt_is_not_retried_and_keeps_its_id() -> None:
    clock = FakeClock()
    channel = scripted_channel(
        Delivery(Outcome.PARTLY_DELIVERED, message_id="<x@y>", note="2 of 3 members"),
        clock=clock,
        max_retries=3,
    )
    result = channel.send(ALERT)
    assert (result.success, result.message_id, result.error, result.attempts) == (
        True,
        "<x@y>",
        "2 of 3 members",
        1,
    )
    assert result.outcome is Outcome.PARTLY_DELIVERED and channel.attempts == 1 and clock.sleeps == []


def test_a_returned_failure_is_retried_like_a_raised_one() -> None:
    clock = FakeClock()
    busy = Delivery(Outcome.RATE_LIMITED, status=429, retry_after=3.0, note="HTTP 429")
    channel = scripted_channel(
        Delivery(Outcome.FAILED, status=503, note="HTTP 503"), busy, "ok-3", clock=clock, max_retries=2
    )
    result = channel.send(ALERT)
    assert (result.outcome, result.attempts, result.message_id) == (Outcome.DELIVERED, 3, "ok-3")
    assert clock.sleeps == [1.0, 3.0]


def test_a_long_retry_after_in_a_returned_delivery_is_rate_limited() -> None:
    clock = FakeClock()
    busy = Delivery(Outcome.FAILED, status=429, retry_after=100.0, note="HTTP 429")
    result = scripted_channel(busy, clock=clock, max_retries=2, budget=30.0, max_retry_after=300.0).send(
        ALERT
    )
    assert (result.outcome, result.status, result.attempts, clock.sleeps) == (
        Outcome.RATE_LIMITED,
        429,
        1,
        [],
    )
    assert result.error is not None and result.error.startswith(
        "rate limited: the service asked to wait 100s"
    )


def test_a_returned_refusal_is_not_retried() -> None:
    channel = scripted_channel(Delivery(Outcome.REFUSED, status=404, note="HTTP 404"), clock=FakeClock())
    result = channel.send(ALERT)
    assert (result.outcome, result.error, result.attempts, channel.attempts) == (
        Outcome.REFUSED,
        "HTTP 404",
        1,
        1,
    )


def test_a_partly_delivered_result_is_counted_sent_and_not_spooled(tmp_path: Any) -> None:
    from kstalerts import AlertManager

    part = Delivery(Outcome.PARTLY_DELIVERED, note="1 of 2 members")
    with AlertManager(spool=str(tmp_path / "spool")) as manager:
        manager.add_channel(scripted_channel(part, clock=FakeClock()))
        (result,) = manager.send(ALERT)
        stats = manager.stats
    assert (result.outcome, result.spooled, stats.total_sent, stats.total_failed) == (
        Outcome.PARTLY_DELIVERED,
        False,
        1,
        0,
    )
