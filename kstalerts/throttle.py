"""AlertThrottle: a thread-safe token bucket that caps how fast alerts go out.

The bucket holds at most ``burst`` tokens and gains ``rate`` tokens every
``per`` seconds, measured on ``time.monotonic`` (so a wall-clock jump neither
floods nor starves it). Each alert takes one token. Over any interval of
``elapsed`` seconds it never admits more than ``burst + rate * elapsed / per``.
One lock guards the state; nothing blocks while holding it.

Unset parameters come from the config (``alerts.throttle``), and every value
passes through :func:`kstalerts.limits.validate`.

>>> t = AlertThrottle(rate=2, per=60.0, burst=2)
>>> t.try_acquire(), t.try_acquire(), t.try_acquire()
(True, True, False)
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Callable, Optional, Tuple, Type

from .config.defaults import get_default
from .exceptions import AlertThrottledError
from .limits import validate

__all__ = ("AlertThrottle",)

# A float epsilon so that rounding in the refill never hides a whole token.
_EPSILON = 1e-9


class AlertThrottle:
    """A token bucket: ``rate`` alerts per ``per`` seconds, ``burst`` at once.

    Use :meth:`try_acquire` to ask without waiting, :meth:`acquire` (or
    ``with throttle:``) to wait up to a timeout, and :meth:`acquire_async`
    (or ``async with throttle:``) from a coroutine.
    """

    def __init__(
        self,
        rate: Optional[float] = None,
        per: Optional[float] = None,
        *,
        burst: Optional[int] = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._rate = float(validate("throttle.rate", get_default("throttle.rate") if rate is None else rate))
        self._per = float(validate("throttle.per", get_default("throttle.per") if per is None else per))
        if burst is None:
            burst = get_default("throttle.burst")
        if burst is None:
            burst = int(self._rate)
        self._burst = int(validate("throttle.burst", burst, upper=self._rate))
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(self._burst)
        self._stamp = clock()

    # -- read-only parameters -------------------------------------------
    @property
    def rate(self) -> float:
        """Tokens added every ``per`` seconds."""
        return self._rate

    @property
    def per(self) -> float:
        """The refill period, in seconds."""
        return self._per

    @property
    def burst(self) -> int:
        """The bucket's capacity."""
        return self._burst

    # -- the bucket -----------------------------------------------------
    def _refill(self, now: float) -> None:
        # Called with the lock held. A clock that goes backwards adds nothing.
        elapsed = max(0.0, now - self._stamp)
        self._tokens = min(float(self._burst), self._tokens + elapsed * self._rate / self._per)
        self._stamp = max(now, self._stamp)

    def _take(self) -> Tuple[bool, float]:
        """Take a token if there is one; else say how long until there is."""
        with self._lock:
            self._refill(self._clock())
            if self._tokens >= 1.0 - _EPSILON:
                self._tokens = max(0.0, self._tokens - 1.0)
                return True, 0.0
            return False, self._wait_locked()

    def _wait_locked(self) -> float:
        missing = max(0.0, 1.0 - self._tokens)
        return missing * self._per / self._rate

    def try_acquire(self) -> bool:
        """Take a token if one is available now; never waits."""
        return self._take()[0]

    def acquire(self, timeout: Optional[float] = None) -> None:
        """Take a token, waiting for a refill up to ``timeout`` seconds.

        ``timeout=None`` waits as long as the next refill takes (at most
        ``per / rate`` seconds per try). Raises :class:`AlertThrottledError`
        with ``retry_after`` when no token arrives in time; in that case it
        returns at once rather than sleeping for nothing.
        """
        deadline = None if timeout is None else self._clock() + max(0.0, timeout)
        while True:
            ok, wait = self._take()
            if ok:
                return
            if deadline is not None:
                remaining = deadline - self._clock()
                if wait > remaining + _EPSILON:
                    raise AlertThrottledError(
                        f"throttled: no token for {wait:.3f}s (waited up to {timeout}s)",
                        retry_after=wait,
                    )
            self._sleep(wait)

    async def acquire_async(self, timeout: Optional[float] = None) -> None:
        """Like :meth:`acquire`, but awaits with ``asyncio.sleep``."""
        import asyncio

        deadline = None if timeout is None else self._clock() + max(0.0, timeout)
        while True:
            ok, wait = self._take()
            if ok:
                return
            if deadline is not None and wait > deadline - self._clock() + _EPSILON:
                raise AlertThrottledError(
                    f"throttled: no token for {wait:.3f}s (waited up to {timeout}s)",
                    retry_after=wait,
                )
            await asyncio.sleep(wait)

    @property
    def available(self) -> float:
        """Tokens in the bucket now (may be fractional)."""
        with self._lock:
            self._refill(self._clock())
            return self._tokens

    @property
    def time_until_available(self) -> float:
        """Seconds until a token is available; 0.0 if one is now."""
        with self._lock:
            self._refill(self._clock())
            if self._tokens >= 1.0 - _EPSILON:
                return 0.0
            return self._wait_locked()

    def reset(self) -> None:
        """Fill the bucket to ``burst``."""
        with self._lock:
            self._tokens = float(self._burst)
            self._stamp = self._clock()

    # -- context managers -----------------------------------------------
    def __enter__(self) -> AlertThrottle:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        return None

    async def __aenter__(self) -> AlertThrottle:
        await self.acquire_async()
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        return None

    def __repr__(self) -> str:
        return (
            f"AlertThrottle(rate={self._rate:g}, per={self._per:g}, "
            f"burst={self._burst}, available={self.available:.2f})"
        )
