"""AlertThrottle: a thread-safe token bucket that caps how fast alerts go out.

The bucket holds at most ``burst`` tokens and gains ``rate`` tokens every
``per`` seconds, measured on ``time.monotonic`` (so a wall-clock jump neither
floods nor starves it). Each alert takes one token. Over any interval of
``elapsed`` seconds it never admits more than ``burst + rate * elapsed / per``.
One lock guards the state; nothing blocks while holding it.

Unset parameters come from the config (``alerts.throttle``), and every value
passes through :func:`kstalerts.limits.validate`.

With ``state_file=PATH`` the bucket lives in a small JSON file shared by
every process on the host (see :mod:`kstalerts._statefile`): each take reads
the bucket, refills it and writes it back under an ``fcntl`` lock held only
for that read and write, so twenty cron jobs draw from one bucket. The
refill clock must then mean the same in every process: ``time.monotonic``
does on Linux (``CLOCK_MONOTONIC`` is system-wide; the file records the boot
it was written in, and a reboot starts from a full bucket). A stamp from the
future (another clock, or a clock injected in a test) counts as now. If the
file cannot be locked, the throttle falls back to its in-process bucket with
a warning; a corrupt file resets to a full bucket with a warning. Without a
state file nothing of this runs: the in-process path is unchanged.

>>> t = AlertThrottle(rate=2, per=60.0, burst=2)
>>> t.try_acquire(), t.try_acquire(), t.try_acquire()
(True, True, False)
"""

from __future__ import annotations

import os
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Tuple, Type, TypeVar, Union

from . import _lifecycle
from .config.defaults import get_default
from .exceptions import AlertThrottledError
from .limits import validate

if TYPE_CHECKING:
    from ._statefile import StateFile

__all__ = ("AlertThrottle",)

_T = TypeVar("_T")

# A float epsilon so that rounding in the refill never hides a whole token.
_EPSILON = 1e-9


class AlertThrottle:
    """A token bucket: ``rate`` alerts per ``per`` seconds, ``burst`` at once.

    Use :meth:`try_acquire` to ask without waiting, :meth:`acquire` (or
    ``with throttle:``) to wait up to a timeout, and :meth:`acquire_async`
    (or ``async with throttle:``) from a coroutine.

    ``state_file`` shares the bucket between processes; ``state_key`` names
    the bucket inside that file, so one file can hold the buckets of
    several channels (processes using the same key share one bucket).
    """

    def __init__(
        self,
        rate: Optional[float] = None,
        per: Optional[float] = None,
        *,
        burst: Optional[int] = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        state_file: Union[str, os.PathLike[str], None] = None,
        state_key: str = "default",
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
        self._lock = threading.RLock()  # RLock: a signal handler may re-enter (see manager)
        _lifecycle.on_fork(self, _lifecycle.renew_lock)
        self._tokens = float(self._burst)
        self._stamp = clock()
        self._state: Optional[StateFile] = None
        self._state_key = str(state_key)
        self._state_broken = False
        if state_file is not None:
            from ._statefile import StateFile

            self._state = StateFile(state_file)

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
        if self._state is not None:
            return self._shared(self._take_locked)
        with self._lock:
            return self._take_locked(self._clock())

    def _take_locked(self, now: float) -> Tuple[bool, float]:
        self._refill(now)
        if self._tokens >= 1.0 - _EPSILON:
            self._tokens = max(0.0, self._tokens - 1.0)
            return True, 0.0
        return False, self._wait_locked()

    def _shared(self, operation: Callable[[float], _T]) -> _T:
        """Run ``operation`` on the bucket stored in the state file.

        The bucket is loaded into ``_tokens``/``_stamp``, changed by the
        operation and stored back, all inside one file transaction. If the
        file cannot be locked, the operation runs on the in-process bucket.
        """
        assert self._state is not None
        with self._lock:
            try:
                with self._state.transaction() as data:
                    now = self._clock()
                    buckets = data.setdefault("throttle", {})
                    self._load(buckets.get(self._state_key), now)
                    result = operation(now)
                    buckets[self._state_key] = self._dump()
                    _prune(buckets, now, keep=self._state_key)
                    if self._state_broken:
                        self._state_broken = False
                        _warn("throttle state file %s usable again", self._state.path)
                    return result
            except OSError as exc:
                if not self._state_broken:
                    self._state_broken = True
                    _warn(
                        "throttle state file %s cannot be locked (%s); this process throttles on its own",
                        self._state.path,
                        exc,
                    )
                return operation(self._clock())

    def _load(self, stored: Any, now: float) -> None:
        tokens = _number(stored.get("tokens")) if isinstance(stored, dict) else None
        stamp = _number(stored.get("stamp")) if isinstance(stored, dict) else None
        if tokens is None or stamp is None:
            if stored is not None:
                _warn("throttle bucket %r in the state file is damaged; refilled", self._state_key)
            self._tokens, self._stamp = float(self._burst), now
            return
        self._tokens = min(max(tokens, 0.0), float(self._burst))
        self._stamp = min(stamp, now)

    def _dump(self) -> Dict[str, float]:
        missing = float(self._burst) - self._tokens
        full_at = self._stamp + max(0.0, missing) * self._per / self._rate
        return {"tokens": self._tokens, "stamp": self._stamp, "full_at": full_at}

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

    def _available_locked(self, now: float) -> float:
        self._refill(now)
        return self._tokens

    def _until_locked(self, now: float) -> float:
        self._refill(now)
        if self._tokens >= 1.0 - _EPSILON:
            return 0.0
        return self._wait_locked()

    def _reset_locked(self, now: float) -> None:
        self._tokens = float(self._burst)
        self._stamp = now

    @property
    def available(self) -> float:
        """Tokens in the bucket now (may be fractional)."""
        if self._state is not None:
            return self._shared(self._available_locked)
        with self._lock:
            return self._available_locked(self._clock())

    @property
    def time_until_available(self) -> float:
        """Seconds until a token is available; 0.0 if one is now."""
        if self._state is not None:
            return self._shared(self._until_locked)
        with self._lock:
            return self._until_locked(self._clock())

    @property
    def state_file(self) -> Optional[str]:
        """The shared state file's path, or ``None`` for an in-process bucket."""
        return None if self._state is None else self._state.path

    def reset(self) -> None:
        """Fill the bucket to ``burst`` (the shared one too, with a state file)."""
        if self._state is not None:
            self._shared(self._reset_locked)
            return
        with self._lock:
            self._reset_locked(self._clock())

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
        shared = "" if self._state is None else f", state_file={self._state.path!r}"
        return (
            f"AlertThrottle(rate={self._rate:g}, per={self._per:g}, "
            f"burst={self._burst}, available={self.available:.2f}{shared})"
        )


def _warn(message: str, *args: object) -> None:
    import logging  # only the shared-state path logs; keep import kstalerts light

    logging.getLogger("kstalerts.throttle").warning(message, *args)


def _number(value: Any) -> Optional[float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:
        return float(value)
    return None


def _prune(buckets: Dict[str, Any], now: float, *, keep: str) -> None:
    # A bucket that has refilled completely holds nothing worth keeping:
    # whoever uses it next starts from a full bucket anyway.
    for name in [n for n, b in buckets.items() if n != keep]:
        bucket = buckets[name]
        full_at = _number(bucket.get("full_at")) if isinstance(bucket, dict) else None
        if full_at is None or full_at <= now:
            del buckets[name]
