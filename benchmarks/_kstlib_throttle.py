"""A REIMPLEMENTATION of kstlib 2.0's ``AlertThrottle.try_acquire`` algorithm.

Used by ``bench_throttle`` only when the real kstlib cannot be imported
(it needs Python >= 3.10 and a dozen packages). It follows kstlib 2.0.0's
published source (``kstlib/alerts/throttle.py`` and
``kstlib/resilience/rate_limiter.py``) step for step: ``try_acquire`` calls
``acquire(blocking=False)``, which reads the clock for a start time and
deadline, takes the lock, refills on ``time.monotonic``, takes a token and
records it in a stats object. It is not kstlib, and not part of kstalerts.
"""

import threading
import time
from typing import Optional


class _Stats:
    def __init__(self) -> None:
        self.total_acquired = 0
        self.total_rejected = 0
        self.total_waited = 0.0

    def record_acquired(self) -> None:
        self.total_acquired += 1

    def record_rejected(self) -> None:
        self.total_rejected += 1

    def record_wait(self, seconds: float) -> None:
        self.total_waited += seconds


class _RateLimiter:
    def __init__(self, rate: float, per: float = 1.0, *, burst: Optional[float] = None) -> None:
        self._rate = float(rate)
        self._per = float(per)
        self._tokens = float(burst) if burst is not None else self._rate
        self._max_tokens = self._rate
        self._refill_rate = self._rate / self._per
        self._last_refill = time.monotonic()
        self._lock = threading.Lock()
        self._stats = _Stats()

    def _refill(self) -> None:
        now = time.monotonic()
        elapsed = now - self._last_refill
        self._tokens = min(self._max_tokens, self._tokens + elapsed * self._refill_rate)
        self._last_refill = now

    def acquire(self, *, blocking: bool = True, timeout: Optional[float] = None) -> bool:
        start_time = time.monotonic()
        deadline = start_time + timeout if timeout is not None else None
        while True:
            with self._lock:
                self._refill()
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    wait_time = time.monotonic() - start_time
                    if wait_time > 0.001:
                        self._stats.record_wait(wait_time)
                    self._stats.record_acquired()
                    return True
                if not blocking:
                    self._stats.record_rejected()
                    return False
                wait_time = self._refill_rate and (1.0 - self._tokens) / self._refill_rate
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    wait_time = min(wait_time, remaining)
            time.sleep(min(wait_time, 0.1))

    def try_acquire(self) -> bool:
        return self.acquire(blocking=False)


class AlertThrottle:
    """kstlib's AlertThrottle shape: a thin wrapper whose try_acquire delegates."""

    def __init__(self, rate: float, per: float, *, burst: Optional[int] = None) -> None:
        self._limiter = _RateLimiter(rate, per, burst=burst)

    def try_acquire(self) -> bool:
        return self._limiter.try_acquire()
