"""AlertManager: filtering, targeting, throttling, concurrent fan-out, stats."""

import asyncio
import logging
import threading
import time
from typing import Any, List

import pytest

from kstalerts import (
    AlertConfigurationError,
    AlertLevel,
    AlertManager,
    AlertManagerClosedError,
    AlertMessage,
    AlertThrottle,
)
from kstalerts.channels import CallbackChannel
from tests import compat

INFO = AlertMessage("fyi")
WARN = AlertMessage("disk", level=AlertLevel.WARNING)
CRIT = AlertMessage("down", level=AlertLevel.CRITICAL)


def recorder(name: str) -> "tuple[CallbackChannel, List[AlertMessage]]":
    seen: List[AlertMessage] = []
    return CallbackChannel(seen.append, name=name), seen


def slow(name: str, seconds: float) -> CallbackChannel:
    return CallbackChannel(lambda alert: time.sleep(seconds), name=name)


def test_add_channel_is_fluent_and_keeps_order() -> None:
    a, _ = recorder("a")
    b, _ = recorder("b")
    manager = AlertManager()
    assert manager.add_channel(a).add_channel(b, key="second") is manager
    assert [e.key for e in manager.channels] == ["a", "second"]


def test_level_filter_per_channel() -> None:
    low, low_seen = recorder("low")
    high, high_seen = recorder("high")
    with AlertManager() as manager:
        manager.add_channel(low).add_channel(high, min_level="critical")
        results = manager.send([INFO, WARN, CRIT])
    assert [(r.channel, r.alert.title) for r in results] == [  # type: ignore[union-attr]
        ("low", "fyi"),
        ("low", "disk"),
        ("low", "down"),
        ("high", "down"),
    ]
    assert [a.title for a in high_seen] == ["down"]
    assert len(low_seen) == 3


def test_an_alert_below_every_level_gives_no_result() -> None:
    channel, seen = recorder("pager")
    with AlertManager() as manager:
        manager.add_channel(channel, min_level=AlertLevel.CRITICAL)
        assert manager.send(INFO) == []
    assert seen == []


def test_success_reaches_an_info_floor_not_a_warning_floor_over_loopback() -> None:
    from kstalerts.channels import SlackChannel
    from kstalerts.net.loopback import HTTPSink

    with HTTPSink() as info_sink, HTTPSink() as warning_sink, AlertManager() as manager:
        for key, sink, floor in (("info", info_sink, "info"), ("warn", warning_sink, "warning")):
            slack = SlackChannel(sink.url, allow_custom_url=True, max_retries=0, timeout=5)
            manager.add_channel(slack, key=key, min_level=floor)
        results = manager.send(AlertMessage("backup done", "3.1 GB", AlertLevel.SUCCESS))
        assert [(r.channel, r.success) for r in results] == [("info", True)]
        [post] = info_sink.posts
        assert post.payload["text"] == ":white_check_mark: [SUCCESS] backup done"
        assert post.payload["attachments"][0]["color"] == "#36A64F"
        assert warning_sink.posts == []
        # a WARNING still goes to both: SUCCESS sits between INFO and WARNING
        assert len(manager.send(AlertMessage("disk 91%", level=AlertLevel.WARNING))) == 2


def test_target_by_key_alias_or_name() -> None:
    a, a_seen = recorder("slack")
    b, b_seen = recorder("email")
    with AlertManager() as manager:
        manager.add_channel(a, key="ops", alias="team").add_channel(b)
        assert [r.channel for r in manager.send(CRIT, channel="ops")] == ["ops"]
        assert [r.channel for r in manager.send(CRIT, channel="team")] == ["ops"]
        assert [r.channel for r in manager.send(CRIT, channel="slack")] == ["ops"]
        assert [r.channel for r in manager.send(CRIT, channel="email")] == ["email"]
        with pytest.raises(AlertConfigurationError) as info:
            manager.send(CRIT, channel="pager")
    assert str(info.value) == "unknown channel 'pager'; known channels: email, ops"
    assert len(a_seen) == 3 and len(b_seen) == 1


def test_targets_names_the_channels_a_send_goes_to() -> None:
    """The public lookup ``send(channel=)``, ``send --dry-run`` and ``run`` share (issue 23 item 2)."""
    with AlertManager() as manager:
        manager.add_channel(recorder("slack")[0], key="ops", alias="team").add_channel(recorder("email")[0])
        assert [e.key for e in manager.targets()] == ["ops", "email"]
        assert [e.key for e in manager.targets("team")] == ["ops"]
        with pytest.raises(AlertConfigurationError, match="unknown channel 'pager'"):
            manager.targets("pager")


def test_duplicate_keys_are_refused() -> None:
    manager = AlertManager().add_channel(recorder("x")[0])
    with pytest.raises(AlertConfigurationError, match="a channel named 'x' is already registered; pass key="):
        manager.add_channel(recorder("x")[0])
    manager.add_channel(recorder("x")[0], key="x2")


@pytest.mark.parametrize("bad", ["text", b"x", 42, [INFO, "nope"]])
def test_send_rejects_what_is_not_an_alert(bad: object) -> None:
    with AlertManager() as manager:
        manager.add_channel(recorder("a")[0])
        with pytest.raises(AlertConfigurationError, match="send\\(\\) takes"):
            manager.send(bad)  # type: ignore[arg-type]


def test_throttle_limits_a_channel_and_counts() -> None:
    channel, seen = recorder("ops")
    # One worker delivers in alert order; with more, which three take the tokens, and whether a
    # later delivery carries the held-back summary instead of the digest on close, is the pool's.
    with AlertManager(max_workers=1) as manager:
        manager.add_channel(channel, throttle=AlertThrottle(rate=3, per=3600, burst=3))
        results = manager.send([AlertMessage(f"a{i}") for i in range(5)])
        stats = manager.stats
    assert [r.success for r in results] == [True, True, True, False, False]
    assert str(results[-1]).startswith("ops: throttled: channel limit reached")
    assert results[-1].throttled and results[-1].attempts == 0
    assert results[-1].error is not None and results[-1].error.startswith(
        "channel limit reached, next slot in "
    )
    assert len(seen) == 4  # three alerts, then close() sent the digest of the two held back
    assert seen[-1].title == "2 alerts held back on ops"
    assert (stats.total_sent, stats.total_throttled, stats.total_failed) == (3, 2, 0)
    assert stats.by_channel == {
        "ops": {"sent": 3, "failed": 0, "throttled": 2, "suppressed": 0, "digests": 0}
    }


def test_fan_out_is_concurrent() -> None:
    with AlertManager(max_workers=8) as manager:
        for i in range(8):
            manager.add_channel(slow(f"slow{i}", 0.5))
        manager.send(CRIT)  # warm the pool
        start = time.monotonic()
        results = manager.send(CRIT)
        elapsed = time.monotonic() - start
    assert all(r.success for r in results) and len(results) == 8
    assert elapsed < 0.9  # one wave: under 2 x 500 ms (0.4 s to spare on a loaded machine); serially 4 s


def test_a_raising_channel_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    def broken(alert: AlertMessage) -> None:
        raise RuntimeError("bug in a channel")

    good, seen = recorder("good")
    with AlertManager() as manager, caplog.at_level(logging.ERROR, logger="kstalerts"):
        manager.add_channel(CallbackChannel(broken, name="bad")).add_channel(good)
        results = manager.send(CRIT)
    assert [(r.channel, r.success) for r in results] == [("bad", False), ("good", True)]
    assert results[0].error == "internal error in channel: RuntimeError: bug in a channel"
    assert len(seen) == 1
    assert caplog.records[0].exc_info is not None
    assert "channel 'bad' raised RuntimeError" in caplog.records[0].getMessage()
    assert manager.stats.by_channel["bad"]["failed"] == 1


def test_a_keyboard_interrupt_is_not_swallowed() -> None:
    def interrupted(alert: AlertMessage) -> None:
        raise KeyboardInterrupt

    with AlertManager() as manager:
        manager.add_channel(CallbackChannel(interrupted, name="k"))
        with pytest.raises(KeyboardInterrupt):
            manager.send(CRIT)


def test_stats_are_exact_under_concurrent_sends() -> None:
    with AlertManager(max_workers=8) as manager:
        manager.add_channel(recorder("a")[0]).add_channel(recorder("b")[0])
        manager.add_channel(recorder("t")[0], throttle=AlertThrottle(rate=10, per=86400, burst=10))

        def worker() -> None:
            for _ in range(50):
                manager.send(CRIT)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        stats = manager.stats
    assert stats.by_channel["a"]["sent"] == 400 and stats.by_channel["b"]["sent"] == 400
    assert stats.by_channel["t"] == {
        "sent": 10,
        "failed": 0,
        "throttled": 390,
        "suppressed": 0,
        "digests": 0,
    }
    assert (stats.total_sent, stats.total_throttled) == (810, 390)


def test_reset_stats() -> None:
    with AlertManager() as manager:
        manager.add_channel(recorder("a")[0])
        manager.send(CRIT)
        manager.reset_stats()
        assert manager.stats.total_sent == 0


def test_asend_keeps_the_event_loop_ticking() -> None:
    async def main() -> "tuple[int, List[AlertResult]]":
        ticks = 0
        with AlertManager() as manager:
            manager.add_channel(slow("s1", 0.5)).add_channel(slow("s2", 0.5))

            async def ticker() -> None:
                nonlocal ticks
                while True:
                    ticks += 1
                    await asyncio.sleep(0.01)

            task = asyncio.ensure_future(ticker())
            results = await manager.asend(CRIT)
            task.cancel()
        return ticks, results

    ticks, results = compat.run(main())
    assert [r.success for r in results] == [True, True]
    assert ticks >= 3  # a blocked loop would have ticked once; about 50 here, 5 seen on a loaded machine


def test_a_closed_manager_returns_failed_results_and_refuses_channels() -> None:
    manager = AlertManager()
    manager.add_channel(recorder("a")[0]).add_channel(recorder("b")[0])
    manager.send(CRIT)
    manager.close()
    results = manager.send(CRIT)
    assert [(r.channel, r.success, r.error, r.attempts) for r in results] == [
        ("a", False, "not sent: this AlertManager is closed", 0),
        ("b", False, "not sent: this AlertManager is closed", 0),
    ]
    single = manager.send(CRIT, channel="a")  # one delivery runs inline: still refused
    assert [(r.success, r.error) for r in single] == [(False, "not sent: this AlertManager is closed")]
    assert manager.stats.by_channel["a"] == {"sent": 1, "failed": 2, "throttled": 0, "suppressed": 0, "digests": 0}
    with pytest.raises(
        AlertManagerClosedError, match="this AlertManager is closed; channels cannot be added"
    ):
        manager.add_channel(recorder("c")[0])
    assert issubclass(AlertManagerClosedError, AlertConfigurationError)


def test_close_survives_a_channel_that_fails_to_close(caplog: pytest.LogCaptureFixture) -> None:
    class Sticky(CallbackChannel):
        def close(self) -> None:
            raise OSError("stuck")

    manager = AlertManager().add_channel(Sticky(print, name="sticky"))
    with caplog.at_level(logging.WARNING, logger="kstalerts"):
        manager.close()
    assert "channel 'sticky' failed to close" in caplog.text


def test_too_many_alerts_in_one_send() -> None:
    from kstalerts.limits import MAX_ALERTS_PER_SEND

    with AlertManager() as manager:
        manager.add_channel(recorder("a")[0])
        with pytest.raises(AlertConfigurationError, match=f"the limit is {MAX_ALERTS_PER_SEND}"):
            manager.send([INFO] * (MAX_ALERTS_PER_SEND + 1))


def test_from_config_mapping_builds_console_channels() -> None:
    config = {"alerts": {"channels": {"out": {"type": "console", "min_level": "warning"}}}}
    with AlertManager.from_config(config) as manager:
        (entry,) = manager.channels
    assert (entry.key, entry.min_level) == ("out", AlertLevel.WARNING)


def test_repr() -> None:
    assert repr(AlertManager().add_channel(recorder("a")[0])) == "AlertManager(channels=1, keys=['a'])"


def test_default_pool_fans_out_ten_slow_channels_in_one_wave() -> None:
    with AlertManager() as manager:
        for i in range(10):
            manager.add_channel(slow(f"slow{i}", 0.5))
        manager.send(CRIT)  # warm the pool
        start = time.monotonic()
        results = manager.send(CRIT)
        elapsed = time.monotonic() - start
    assert all(r.success for r in results) and len(results) == 10
    assert elapsed < 0.9  # two waves of 8 + 2 would take 1 s


def test_max_workers_is_bounded() -> None:
    from kstalerts.limits import MAX_WORKERS

    assert AlertManager(max_workers=10_000)._max_workers == MAX_WORKERS
    assert AlertManager(max_workers=0)._max_workers == 1


# -- a misused API is refused at the moment of the mistake --------------------
from typing import Optional  # noqa: E402

from kstalerts import AlertResult, AlertThrottledError  # noqa: E402
from kstalerts._secret import Secret  # noqa: E402
from kstalerts.channels import AlertChannel  # noqa: E402


class _AsyncSend(AlertChannel):
    kind = "asyncsend"

    async def send(self, alert: AlertMessage) -> AlertResult:  # type: ignore[override]
        return AlertResult(self.name, True)


class _AsyncDeliver(AlertChannel):
    kind = "asyncdeliver"

    async def _deliver(self, alert: AlertMessage, *, timeout: float) -> Optional[str]:  # type: ignore[override]
        return None


@pytest.mark.parametrize(("cls", "method"), [(_AsyncSend, "send"), (_AsyncDeliver, "_deliver")])
def test_an_async_channel_is_refused_when_added(cls: type, method: str) -> None:
    with AlertManager() as manager:
        with pytest.raises(AlertConfigurationError) as info:
            manager.add_channel(cls())
        assert manager.channels == ()
    assert f"{cls.__name__}.{method} is a coroutine function (async def)" in str(info.value)
    assert "manager.asend" in str(info.value)


class _NamedByProperty(AlertChannel):
    """kstlib's channels define name as a read-only property."""

    kind = "prop"

    def __init__(self) -> None:
        super().__init__()
        self.seen: List[AlertMessage] = []

    @property
    def name(self) -> str:  # type: ignore[override]
        return "pager"

    def _deliver(self, alert: AlertMessage, *, timeout: float) -> Optional[str]:
        self.seen.append(alert)
        return "id-1"


def test_a_name_property_on_a_subclass_works() -> None:
    channel = _NamedByProperty()
    assert channel.name == "pager"
    with AlertManager() as manager:
        manager.add_channel(channel)
        manager.add_channel(_NamedByProperty(), key="second")
        results = manager.send(CRIT)
    assert [(r.channel, r.success) for r in results] == [("pager", True), ("second", True)]
    assert len(channel.seen) == 1


class _Raising(AlertChannel):
    kind = "raising"

    def __init__(self, exc: BaseException) -> None:
        super().__init__()
        self.exc = exc
        self.token = Secret("hunter2-token-value")

    def send(self, alert: AlertMessage) -> AlertResult:
        raise self.exc


def test_alert_throttled_error_from_a_channel_is_a_throttled_result() -> None:
    with AlertManager() as manager:
        manager.add_channel(_Raising(AlertThrottledError("kstlib rate limit", retry_after=3.0)), key="ops")
        [result] = manager.send(CRIT)
        assert (result.success, result.throttled, result.retryable) == (False, True, True)
        assert result.error == "throttled by the channel: kstlib rate limit"
        assert manager.stats.by_channel["ops"]["throttled"] == 1
        assert manager.stats.total_failed == 0


def test_an_unexpected_exception_keeps_its_type_and_message_with_secrets_masked() -> None:
    exc = RuntimeError(
        "Connection failed to https://hooks.slack.com/services/T0/B0/SECRETTOKEN with hunter2-token-value"
    )
    with AlertManager() as manager:
        manager.add_channel(_Raising(exc), key="ops")
        [result] = manager.send(CRIT)
    assert result.error is not None
    assert result.error.startswith("internal error in channel: RuntimeError: Connection failed to https://hooks")
    assert "SECRETTOKEN" not in result.error and "hunter2" not in result.error


def test_one_name_per_channel_in_repr_results_and_stats() -> None:
    channel, _ = recorder("callback")
    with AlertManager() as manager:
        manager.add_channel(channel, key="ops", alias="team")
        [result] = manager.send(CRIT)
        assert (result.channel, channel.name, list(manager.stats.by_channel)) == ("ops", "ops", ["ops"])
        assert "name='ops'" in repr(channel)
        assert [r.channel for r in manager.send(CRIT, channel="callback")] == ["ops"]  # the former name


def test_close_from_a_channel_on_the_pool_neither_raises_nor_hangs() -> None:
    manager = AlertManager()
    closer = CallbackChannel(lambda alert: manager.close(), name="closer")
    manager.add_channel(closer).add_channel(recorder("other")[0])
    results = manager.send(CRIT)  # two channels: "closer" runs on the pool and closes it
    assert [(r.channel, r.success) for r in results] == [("closer", True), ("other", True)]
    assert [r.error for r in manager.send(CRIT)] == ["not sent: this AlertManager is closed"] * 2
    deadline = time.monotonic() + 5
    while any(t.name.startswith("kstalerts") for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not [t.name for t in threading.enumerate() if t.name.startswith("kstalerts")]


def test_a_send_from_inside_a_delivery_runs_inline() -> None:
    manager = AlertManager()
    threads: List[str] = []

    def nested(alert: AlertMessage) -> None:
        threads.append(threading.current_thread().name)
        if alert.title == "outer":
            manager.send(AlertMessage("inner"))

    def other(alert: AlertMessage) -> None:
        if alert.title == "inner":
            threads.append(threading.current_thread().name)

    with manager:
        manager.add_channel(CallbackChannel(nested, name="a")).add_channel(CallbackChannel(other, name="b"))
        assert [r.success for r in manager.send(AlertMessage("outer"))] == [True, True]
    # outer on a pool thread; inner to "a" and "b" on that same thread, not via the pool
    assert len(threads) == 3 and len(set(threads)) == 1 and threads[0].startswith("kstalerts")


# -- a send from inside a send nests at most once ------------------------------
def test_signals_during_a_nested_send_wait_for_the_outermost_send() -> None:
    """Each delivery raises a signal whose handler sends: without the rule the
    sends pile up (depth 1, 2, 3...: a storm ends in RecursionError)."""
    import os
    import signal

    from kstalerts import _reentry

    depths: List[int] = []

    def deliver(alert: AlertMessage) -> None:
        depths.append(_reentry.depth())
        if len(depths) < 6:
            os.kill(os.getpid(), signal.SIGUSR1)
            for _ in range(1000):  # bytecodes: the handler runs here unless it is held
                pass

    manager = AlertManager().add_channel(CallbackChannel(deliver, name="ops"))

    def on_usr1(signum: int, frame: Any) -> None:
        manager.send(AlertMessage("from the handler"))

    before = signal.signal(signal.SIGUSR1, on_usr1)
    try:
        manager.send(AlertMessage("main"))
    finally:
        signal.signal(signal.SIGUSR1, before)
        manager.close()
    assert len(depths) == 6  # every handler's send was delivered
    assert max(depths) <= 2  # the main send (1) and one nested send inside it (2)
    assert signal.getsignal(signal.SIGUSR1) is before  # the handler was given back
