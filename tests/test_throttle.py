"""AlertThrottle: token-bucket maths, waiting, threads and asyncio."""

import asyncio
import threading
import time
from typing import List

import pytest

from kstalerts import AlertConfigurationError, AlertThrottle, AlertThrottledError
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
    assert repr(throttle) == "AlertThrottle(rate=10, per=60, burst=5, available=4.00)"


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
