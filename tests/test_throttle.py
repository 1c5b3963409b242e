"""AlertThrottle: token-bucket maths, waiting, threads and asyncio."""

import asyncio
import json
import threading
import time
from typing import Any, List

import pytest

from kstalerts import (
    AlertConfigurationError,
    AlertLevel,
    AlertManager,
    AlertMessage,
    AlertThrottle,
    AlertThrottledError,
)
from kstalerts.channels import SlackChannel
from tests import compat
from tests.clock import FakeClock


def test_a_full_bucket_admits_burst_then_refuses() -> None:
    clock = FakeClock()
    throttle = AlertThrottle(rate=10, per=60.0, burst=3, clock=clock)
    assert [throttle.try_acquire() for _ in range(5)] == [True, True, True, False, False]


def test_tokens_refill_at_rate_per_period() -> None:
    clock = FakeClock()
    throttle = AlertThrottle(rate=10, per=60.0, burst=2, clock=clock)
    assert throttle.try_acquire() and throttle.try_acquire()
    clock.advance(5.9)  # one token takes 6 s
    assert not throttle.try_acquire()
    assert throttle.time_until_available == pytest.approx(0.1)
    clock.advance(0.1)
    assert throttle.try_acquire()
    clock.advance(600)  # refill never exceeds burst
    assert throttle.available == 2.0


def test_a_clock_going_backwards_adds_nothing() -> None:
    clock = FakeClock()
    throttle = AlertThrottle(rate=1, per=1.0, burst=1, clock=clock)
    assert throttle.try_acquire()
    clock.now -= 100
    assert not throttle.try_acquire()
    clock.now += 100.5
    assert not throttle.try_acquire()
    clock.now += 0.5
    assert throttle.try_acquire()


def test_never_admits_more_than_burst_plus_refill() -> None:
    clock = FakeClock()
    throttle = AlertThrottle(rate=7, per=10.0, burst=4, clock=clock)
    admitted = 0
    for _ in range(2000):
        admitted += throttle.try_acquire()
        clock.advance(0.013)
    elapsed = 2000 * 0.013
    assert admitted <= 4 + 7 * elapsed / 10.0
    assert admitted >= int(4 + 7 * elapsed / 10.0) - 1


def test_defaults_and_burst_defaulting_to_rate() -> None:
    throttle = AlertThrottle()
    assert (throttle.rate, throttle.per, throttle.burst) == (10.0, 60.0, 10)
    assert AlertThrottle(rate=4, per=1).burst == 4


def test_parameters_go_through_the_hard_limits() -> None:
    throttle = AlertThrottle(rate=5000, per=0.001, burst=10**6)
    assert (throttle.rate, throttle.per, throttle.burst) == (1000.0, 1.0, 1000)
    assert AlertThrottle(rate=5, per=60, burst=50).burst == 5
    with pytest.raises(AlertConfigurationError, match="throttle.rate: must be a number, got True"):
        AlertThrottle(rate=True)
    with pytest.raises(AlertConfigurationError, match="throttle.per: must be a number, not NaN"):
        AlertThrottle(rate=1, per=float("nan"))


def test_reset_fills_the_bucket() -> None:
    clock = FakeClock()
    throttle = AlertThrottle(rate=2, per=3600, burst=2, clock=clock)
    throttle.try_acquire(), throttle.try_acquire()
    assert throttle.available == 0.0
    throttle.reset()
    assert throttle.available == 2.0


def test_repr_shows_parameters_and_tokens() -> None:
    clock = FakeClock()
    throttle = AlertThrottle(rate=10, per=60.0, burst=5, clock=clock)
    throttle.try_acquire()
    assert repr(throttle) == "AlertThrottle(rate=10.0, per=60.0, burst=5, available=4.00)"


def test_acquire_waits_for_a_refill_on_the_fake_clock() -> None:
    clock = FakeClock()
    throttle = AlertThrottle(rate=2, per=1.0, burst=1, clock=clock, sleep=clock.sleep)
    throttle.acquire()
    throttle.acquire(timeout=1.0)
    assert clock.sleeps == [pytest.approx(0.5)]


def test_acquire_timeout_raises_at_once_with_retry_after() -> None:
    clock = FakeClock()
    throttle = AlertThrottle(rate=1, per=10.0, burst=1, clock=clock, sleep=clock.sleep)
    throttle.acquire()
    with pytest.raises(AlertThrottledError) as info:
        throttle.acquire(timeout=2.0)
    assert info.value.retry_after == pytest.approx(10.0)
    assert clock.sleeps == []  # it did not sleep for nothing


def test_acquire_really_waits_about_the_refill_time() -> None:
    throttle = AlertThrottle(rate=5, per=1.0, burst=1)  # a token every 0.2 s
    throttle.acquire()
    start = time.monotonic()
    throttle.acquire(timeout=2.0)
    waited = time.monotonic() - start
    assert 0.15 <= waited < 1.0


def test_context_manager_takes_a_token() -> None:
    clock = FakeClock()
    throttle = AlertThrottle(rate=2, per=60.0, burst=2, clock=clock, sleep=clock.sleep)
    with throttle as entered:
        assert entered is throttle
    assert throttle.available == 1.0


def test_sixteen_threads_get_exactly_burst_tokens() -> None:
    throttle = AlertThrottle(rate=100, per=86400.0, burst=100)  # refill is negligible
    admitted: List[int] = []
    start = threading.Barrier(16)

    def hammer() -> None:
        start.wait()
        admitted.append(sum(throttle.try_acquire() for _ in range(1000)))

    threads = [threading.Thread(target=hammer) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(admitted) == 100


def test_threads_never_exceed_the_bound_over_time() -> None:
    throttle = AlertThrottle(rate=50, per=1.0, burst=5)
    counts: List[int] = []
    began = time.monotonic()

    def hammer() -> None:
        n = 0
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline:
            n += throttle.try_acquire()
        counts.append(n)

    threads = [threading.Thread(target=hammer) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    assert sum(counts) <= 5 + 50 * elapsed + 1e-9
    assert sum(counts) >= 5


def test_acquire_async_does_not_block_the_loop() -> None:
    throttle = AlertThrottle(rate=5, per=1.0, burst=1)

    async def main() -> int:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        task = asyncio.ensure_future(ticker())
        await throttle.acquire_async()
        async with throttle:  # waits ~0.2 s for the refill
            pass
        task.cancel()
        return ticks

    assert compat.run(main()) >= 5


def test_acquire_async_timeout_raises() -> None:
    throttle = AlertThrottle(rate=1, per=60.0, burst=1)
    throttle.try_acquire()
    with pytest.raises(AlertThrottledError) as info:
        compat.run(throttle.acquire_async(timeout=0.1))
    assert info.value.retry_after > 50


# -- levels do not starve each other (issue 15) -------------------------------------


def _slack_manager(slack_server: Any, throttle: AlertThrottle) -> AlertManager:
    channel = SlackChannel(slack_server.url(), allow_custom_url=True, timeout=5, max_retries=0)
    # One worker: a batch is delivered in order, so the first alerts take the tokens and the
    # held-back ones go out as the digest on close (with more, a later delivery may carry them).
    return AlertManager(max_workers=1).add_channel(channel, key="ops", throttle=throttle)


def _disk_titles(count: int) -> List[str]:
    return [f"disk {90 + round(i * 829 / (count - 1))}%" for i in range(count)]  # disk 90% ... disk 919%


def test_twenty_warnings_do_not_starve_the_critical_which_says_17_were_held_back(slack_server: Any) -> None:
    manager = _slack_manager(slack_server, AlertThrottle(rate=10, per=60, burst=3, clock=FakeClock()))
    titles = _disk_titles(20)
    with manager:
        results = [manager.send(AlertMessage(t, level=AlertLevel.WARNING))[0] for t in titles]
        [critical] = manager.send(AlertMessage("DATABASE DOWN", "primary unreachable", AlertLevel.CRITICAL))
        stats = manager.stats
    assert [r.success for r in results] == [True] * 3 + [False] * 17
    assert all(r.throttled and r.attempts == 0 for r in results[3:])
    assert critical.success and not critical.throttled
    received = [r.json() for r in slack_server.requests]
    assert len(received) == 4  # three warnings, the critical; close() had nothing left to send
    last = received[-1]
    assert "DATABASE DOWN" in last["attachments"][0]["title"]
    held = last["attachments"][-1]
    assert held["text"].startswith("+17 held back by the throttle since ")
    assert "17 \u00d7 WARNING" in held["text"].splitlines()[0]
    assert all(f"1 \u00d7 {title}" in held["text"] for title in titles[3:])  # disk 221% ... disk 919%
    assert titles[-1] == "disk 919%" and "disk 90%" not in held["text"]  # that one was delivered
    assert (stats.total_sent, stats.total_throttled, stats.total_digests) == (4, 17, 1)


def test_thirty_criticals_are_still_limited(slack_server: Any) -> None:
    manager = _slack_manager(slack_server, AlertThrottle(rate=10, per=60, burst=3, clock=FakeClock()))
    with manager:
        results = manager.send([AlertMessage(f"db down {i}", level=AlertLevel.CRITICAL) for i in range(30)])
        during = len(slack_server.requests)
    assert [r.success for r in results].count(True) == 3
    assert during == 3
    received = [r.json() for r in slack_server.requests]
    assert len(received) <= 6  # the bound; here 3 and the digest sent on close
    assert len(received) == 4
    assert received[-1]["attachments"][0]["title"].endswith("27 alerts held back on ops")


def test_a_critical_bucket_of_its_own_with_the_same_rate_and_burst() -> None:
    clock = FakeClock()
    throttle = AlertThrottle(rate=10, per=60.0, burst=3, clock=clock)
    assert [throttle.try_acquire(AlertLevel.WARNING) for _ in range(4)] == [True, True, True, False]
    assert [throttle.try_acquire(AlertLevel.CRITICAL) for _ in range(4)] == [True, True, True, False]
    assert not throttle.try_acquire() and not throttle.try_acquire(AlertLevel.INFO)
    assert throttle.time_until(AlertLevel.CRITICAL) == pytest.approx(6.0)
    clock.advance(6.0)  # each bucket gains one token
    assert throttle.try_acquire(AlertLevel.CRITICAL) and throttle.try_acquire(AlertLevel.INFO)
    assert not throttle.try_acquire(AlertLevel.CRITICAL) and not throttle.try_acquire()
    throttle.reset()
    assert throttle.available == 3.0 and throttle.time_until(AlertLevel.CRITICAL) == 0.0


def test_the_most_a_channel_admits_is_twice_burst_plus_refill() -> None:
    clock = FakeClock()
    throttle = AlertThrottle(rate=10, per=60.0, burst=3, clock=clock)
    admitted = 0
    for _ in range(61):  # 0 to 60 s in 1 s steps, every level asking every step
        for level in AlertLevel:
            admitted += throttle.try_acquire(level)
        clock.advance(1.0)
    # per bucket: burst + rate * elapsed / per = 3 + 10 = 13; two buckets: 26
    assert admitted == 26


def test_a_shared_state_file_keeps_the_critical_bucket_too(tmp_path: Any) -> None:
    clock = FakeClock()
    path = tmp_path / "t.json"
    a = AlertThrottle(rate=6, per=60.0, burst=1, clock=clock, state_file=path, state_key="ops")
    b = AlertThrottle(rate=6, per=60.0, burst=1, clock=clock, state_file=path, state_key="ops")
    assert a.try_acquire(AlertLevel.WARNING) and not b.try_acquire(AlertLevel.WARNING)
    assert b.try_acquire(AlertLevel.CRITICAL) and not a.try_acquire(AlertLevel.CRITICAL)
    assert sorted(json.loads(path.read_text())["throttle"]) == ["ops", "ops/critical"]


def test_try_take_says_how_long_when_it_refuses() -> None:
    throttle = AlertThrottle(rate=1, per=60.0, burst=1)
    assert throttle.try_take() == (True, 0.0)
    taken, wait = throttle.try_take()
    assert not taken and 59.0 < wait <= 60.0
    assert throttle.try_take(AlertLevel.CRITICAL) == (True, 0.0)  # its own bucket
