"""AlertThrottle: a thread-safe token bucket that caps how fast alerts go out.

The bucket holds at most ``burst`` tokens and gains ``rate`` tokens every
``per`` seconds, measured on ``time.monotonic`` (so a wall-clock jump neither
floods nor starves it). Each alert takes one token. Over any interval of
``elapsed`` seconds it never admits more than ``burst + rate * elapsed / per``.
One lock guards the state; nothing blocks while holding it.

Unset parameters come from the active config (``alerts.throttle``, looked up
in :mod:`kstalerts._settings`, which the config layer fills), and every value
passes through :func:`kstalerts.limits.validate`.

With ``state_file=PATH`` the bucket lives in a small JSON file shared by
every process on the host (see :mod:`kstalerts.state.shared`): each take reads
the bucket, refills it and writes it back under an ``fcntl`` lock held only
for that read and write, so twenty cron jobs draw from one bucket. The
refill clock must then mean the same in every process: ``time.monotonic``
does on Linux (``CLOCK_MONOTONIC`` is system-wide; the file records the boot
it was written in, and a reboot starts from a full bucket). A stamp from the
future (another clock, or a clock injected in a test) counts as now. A
corrupt file resets to a full bucket with a warning.

When the shared bucket cannot be reached (its lock still taken after the
wait, under contention or because a holder is stuck; or the file cannot be
used), the process does not act as if alone: it draws from a fallback
bucket of its own that starts *empty* when the shared one is first missed
and refills at ``rate`` from then on, with a warning. Under contention an
alert that cannot get to the shared bucket is therefore refused (held:
throttled, so it goes to the digest or the spool as the channel says), and
the bound ``burst + rate * elapsed / per`` holds across processes; only a
shared file that stays unusable lets each process add its own ``rate``.
Without a state file nothing of this runs: the in-process path is unchanged.

CRITICAL alerts have a bucket of their own, with the same ``rate`` and
``burst``: a flood of INFO and WARNING alerts cannot take the tokens a
CRITICAL needs, and a CRITICAL flood is still limited. Each bucket keeps the
bound above, so a channel sends at most ``2 * (burst + rate * elapsed /
per)`` alerts over ``elapsed`` seconds, and at most ``burst + rate *
elapsed / per`` of them below CRITICAL (docs/throttling.md works it out).

>>> t = AlertThrottle(rate=2, per=60.0, burst=2)
>>> t.try_acquire(), t.try_acquire(), t.try_acquire()
(True, True, False)
>>> t.try_acquire(AlertLevel.CRITICAL)
True
"""

import os
import threading
import time

from . import _lifecycle
from ._lazy import TYPE_CHECKING
from ._log import logger
from ._settings import lookup
from ._typing import Any, Callable, Dict, Optional, Tuple, TypeVar, Union
from .exceptions import AlertThrottledError
from .limits import STATE_LOCK_TRY, STATE_LOCK_WAIT, finite_number, validate
from .models import AlertLevel

if TYPE_CHECKING:
    from .state.shared import StateFile

__all__ = ()

_log = logger("kstalerts.throttle")

#: The CRITICAL bucket's name in a state file is the throttle's key plus this.
_CRITICAL_SUFFIX = "/critical"

_T = TypeVar("_T")

# A float epsilon so that rounding in the refill never hides a whole token.
_EPSILON = 1e-9
_ONE = 1.0 - _EPSILON
_CRITICAL = AlertLevel.CRITICAL


class _Bucket:
    """One bucket's state: ``tokens`` as of the clock reading ``stamp``."""

    __slots__ = ("stamp", "tokens")

    def __init__(self, tokens: float, stamp: float) -> None:
        self.tokens = tokens
        self.stamp = stamp


class AlertThrottle:
    """A token bucket: ``rate`` alerts per ``per`` seconds, ``burst`` at once.

    Use :meth:`try_acquire` to ask without waiting, :meth:`acquire` (or
    ``with throttle:``) to wait up to a timeout, and :meth:`acquire_async`
    (or ``async with throttle:``) from a coroutine.

    Pass ``level=AlertLevel.CRITICAL`` (the manager passes each alert's
    level) to draw from the CRITICAL bucket: a second bucket with the same
    ``rate`` and ``burst`` that only CRITICAL alerts use, so a flood of
    lower levels never starves a CRITICAL and a CRITICAL flood is still
    limited. Every other level, and no level, uses the main bucket.

    ``state_file`` shares the buckets between processes; ``state_key`` names
    them inside that file, so one file can hold the buckets of several
    channels (processes using the same key share them).
    """

    def __init__(
        self,
        rate: Optional[float] = None,
        per: Optional[float] = None,
        *,
        burst: Optional[int] = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        state_file: Union[str, "os.PathLike[str]", None] = None,
        state_key: str = "default",
    ) -> None:
        self._rate = float(validate("throttle.rate", lookup("throttle.rate") if rate is None else rate))
        self._per = float(validate("throttle.per", lookup("throttle.per") if per is None else per))
        if burst is None:
            burst = lookup("throttle.burst")
        if burst is None:
            burst = int(self._rate)
        self._burst = int(validate("throttle.burst", burst, upper=self._rate))
        self._fill = self._rate / self._per  # tokens per second
        self._cap = float(self._burst)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.RLock()  # RLock: a signal handler may re-enter (see manager)
        _lifecycle.on_fork(self, _lifecycle.renew_lock)
        now = clock()
        self._main = _Bucket(self._cap, now)
        self._critical = _Bucket(self._cap, now)
        self._state: Optional[StateFile] = None  # noqa: F823 (an annotation; never evaluated)
        self._state_key = str(state_key)
        self._state_broken = False
        self._fallbacks: Dict[int, _Bucket] = {}  # id(bucket) -> its fallback, empty at first
        self._seen: Dict[int, _Bucket] = {}  # id(bucket) -> the shared bucket as last seen
        self._reentered = False
        if state_file is not None:
            from .state.shared import StateFile

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
    def try_acquire(self, level: Optional[AlertLevel] = None) -> bool:
        """Take a token if one is available now; never waits.

        ``level=AlertLevel.CRITICAL`` takes it from the CRITICAL bucket.
        """
        if self._state is None and (level is None or level < _CRITICAL):
            # The hot path, inlined: one lock, one clock read, no calls.
            bucket = self._main
            with self._lock:
                now = self._clock()
                tokens = bucket.tokens
                if now > bucket.stamp:  # a clock that goes backwards adds nothing
                    tokens += (now - bucket.stamp) * self._fill
                    if tokens > self._cap:
                        tokens = self._cap
                    bucket.stamp = now
                if tokens >= _ONE:
                    bucket.tokens = tokens - 1.0 if tokens > 1.0 else 0.0
                    return True
                bucket.tokens = tokens
                return False
        return self._take(level, STATE_LOCK_TRY)[0]

    def try_take(self, level: Optional[AlertLevel] = None) -> Tuple[bool, float]:
        """:meth:`try_acquire`, and when refused the seconds until a token.

        With a state file both come from one file transaction (a refused
        alert in a flood costs one short lock attempt, not two).
        """
        if self._state is None:
            if self.try_acquire(level):
                return True, 0.0
            return False, self.time_until(level)
        return self._take(level, STATE_LOCK_TRY)

    def _bucket(self, level: Optional[AlertLevel]) -> _Bucket:
        return self._critical if level is not None and level >= _CRITICAL else self._main

    def _refill(self, bucket: _Bucket, now: float) -> None:
        # Called with the lock held. A clock that goes backwards adds nothing.
        if now > bucket.stamp:
            bucket.tokens = min(self._cap, bucket.tokens + (now - bucket.stamp) * self._fill)
            bucket.stamp = now

    def _take(
        self, level: Optional[AlertLevel] = None, wait: float = STATE_LOCK_WAIT
    ) -> Tuple[bool, float]:
        """Take a token if there is one; else say how long until there is."""
        bucket = self._bucket(level)
        if self._state is not None:
            return self._shared(bucket, self._take_locked, wait)
        with self._lock:
            return self._take_locked(bucket, self._clock())

    def _take_locked(self, bucket: _Bucket, now: float) -> Tuple[bool, float]:
        self._refill(bucket, now)
        if bucket.tokens >= _ONE:
            bucket.tokens = max(0.0, bucket.tokens - 1.0)
            return True, 0.0
        return False, self._wait_locked(bucket)

    def _shared(
        self,
        bucket: _Bucket,
        operation: Callable[[_Bucket, float], _T],
        wait: float = STATE_LOCK_WAIT,
    ) -> _T:
        """Run ``operation`` on ``bucket`` as stored in the state file.

        The bucket is loaded, changed by the operation and stored back, all
        inside one file transaction. If the file cannot be locked within
        ``wait`` seconds (one short attempt once it has failed, until it
        works again), the operation runs on the in-process bucket. ``_lock``
        is never held while waiting for the file.
        """
        assert self._state is not None
        key = self._state_key if bucket is self._main else self._state_key + _CRITICAL_SUFFIX
        try:
            with self._state.transaction(
                min(wait, STATE_LOCK_TRY) if self._state_broken else wait
            ) as data, self._lock:
                now = self._clock()
                buckets = data.setdefault("throttle", {})
                self._load(bucket, key, buckets.get(key), now)
                result = operation(bucket, now)
                buckets[key] = self._dump(bucket)
                self._seen[id(bucket)] = _Bucket(bucket.tokens, bucket.stamp)
                _prune(buckets, now, keep=key)
                if self._state_broken:
                    self._state_broken = False
                    _warn("throttle state file %s usable again", self._state.path)
                return result
        except BlockingIOError:
            # This thread holds the file's lock (a signal handler interrupted a
            # take): no other process can change the shared bucket meanwhile,
            # so the bucket as this process last saw it answers.
            stored = None if id(bucket) in self._seen else self._state.peek().get("throttle", {})
            with self._lock:
                now = self._clock()
                seen = self._seen.get(id(bucket))
                if seen is None:
                    seen = self._seen[id(bucket)] = _Bucket(0.0, now)
                    self._load(seen, key, stored.get(key) if isinstance(stored, dict) else None, now)
                if not self._reentered:
                    self._reentered = True
                    _warn(
                        "throttle state file %s cannot be used by a signal handler while its thread holds"
                        " the lock; the bucket as last saved answers",
                        self._state.path,
                    )
                return operation(seen, now)
        except OSError as exc:
            with self._lock:
                now = self._clock()
                if not self._state_broken:
                    self._state_broken = True
                    _warn(
                        "throttle state file %s cannot be used (%s); this process throttles on its own,"
                        " from an empty bucket",
                        self._state.path,
                        exc,
                    )
                fallback = self._fallbacks.get(id(bucket))
                if fallback is None:  # never a fresh full bucket: that would admit a burst per process
                    fallback = self._fallbacks[id(bucket)] = _Bucket(0.0, now)
                return operation(fallback, now)

    def _load(self, bucket: _Bucket, key: str, stored: Any, now: float) -> None:
        tokens = finite_number(stored.get("tokens")) if isinstance(stored, dict) else None
        stamp = finite_number(stored.get("stamp")) if isinstance(stored, dict) else None
        if tokens is None or stamp is None:
            if stored is not None:
                _warn("throttle bucket %r in the state file is damaged; refilled", key)
            bucket.tokens, bucket.stamp = self._cap, now
            return
        bucket.tokens = min(max(tokens, 0.0), self._cap)
        bucket.stamp = min(stamp, now)

    def _dump(self, bucket: _Bucket) -> Dict[str, float]:
        missing = self._cap - bucket.tokens
        full_at = bucket.stamp + max(0.0, missing) / self._fill
        return {"tokens": bucket.tokens, "stamp": bucket.stamp, "full_at": full_at}

    def _wait_locked(self, bucket: _Bucket) -> float:
        missing = max(0.0, 1.0 - bucket.tokens)
        return missing * self._per / self._rate

    def acquire(self, timeout: Optional[float] = None, *, level: Optional[AlertLevel] = None) -> None:
        """Take a token, waiting for a refill up to ``timeout`` seconds.

        ``timeout=None`` waits as long as the next refill takes (at most
        ``per / rate`` seconds per try). Raises :class:`AlertThrottledError`
        with ``retry_after`` when no token arrives in time; in that case it
        returns at once rather than sleeping for nothing.
        """
        deadline = None if timeout is None else self._clock() + max(0.0, timeout)
        while True:
            ok, wait = self._take(level)
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

    async def acquire_async(
        self, timeout: Optional[float] = None, *, level: Optional[AlertLevel] = None
    ) -> None:
        """Like :meth:`acquire`, but awaits with ``asyncio.sleep``."""
        import asyncio

        deadline = None if timeout is None else self._clock() + max(0.0, timeout)
        while True:
            ok, wait = self._take(level)
            if ok:
                return
            if deadline is not None and wait > deadline - self._clock() + _EPSILON:
                raise AlertThrottledError(
                    f"throttled: no token for {wait:.3f}s (waited up to {timeout}s)",
                    retry_after=wait,
                )
            await asyncio.sleep(wait)

    def _available_locked(self, bucket: _Bucket, now: float) -> float:
        self._refill(bucket, now)
        return bucket.tokens

    def _until_locked(self, bucket: _Bucket, now: float) -> float:
        self._refill(bucket, now)
        if bucket.tokens >= _ONE:
            return 0.0
        return self._wait_locked(bucket)

    def _reset_locked(self, bucket: _Bucket, now: float) -> None:
        bucket.tokens = self._cap
        bucket.stamp = now

    def _run(
        self, bucket: _Bucket, operation: Callable[[_Bucket, float], _T], wait: float = STATE_LOCK_WAIT
    ) -> _T:
        if self._state is not None:
            return self._shared(bucket, operation, wait)
        with self._lock:
            return operation(bucket, self._clock())

    @property
    def available(self) -> float:
        """Tokens in the main bucket now (may be fractional)."""
        return self._run(self._main, self._available_locked, STATE_LOCK_TRY)

    @property
    def time_until_available(self) -> float:
        """Seconds until the main bucket has a token; 0.0 if it has one now."""
        return self._run(self._main, self._until_locked)

    def time_until(self, level: Optional[AlertLevel] = None) -> float:
        """Seconds until the bucket ``level`` draws from has a token."""
        return self._run(self._bucket(level), self._until_locked)

    @property
    def state_file(self) -> Optional[str]:
        """The shared state file's path, or ``None`` for an in-process bucket."""
        return None if self._state is None else self._state.path

    @property
    def state_key(self) -> str:
        """The name of this throttle's buckets inside the state file."""
        return self._state_key

    def reset(self) -> None:
        """Fill both buckets to ``burst`` (the shared ones too, with a state file)."""
        for bucket in (self._main, self._critical):
            self._run(bucket, self._reset_locked)

    # -- context managers -----------------------------------------------
    def __enter__(self) -> "AlertThrottle":
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    async def __aenter__(self) -> "AlertThrottle":
        await self.acquire_async()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    def __repr__(self) -> str:
        # No I/O: a shared bucket's tokens live in the file, so they are not shown.
        if self._state is not None:
            shown = f"state_file={self._state.path!r}"
        else:
            shown = f"available={self.available:.2f}"
        return f"AlertThrottle(rate={self._rate!r}, per={self._per!r}, burst={self._burst}, {shown})"


def _warn(message: str, *args: object) -> None:
    _log.warning(message, *args)


def _prune(buckets: Dict[str, Any], now: float, *, keep: str) -> None:
    # A bucket that has refilled completely holds nothing worth keeping:
    # whoever uses it next starts from a full bucket anyway.
    for name in [n for n, b in buckets.items() if n != keep]:
        bucket = buckets[name]
        full_at = finite_number(bucket.get("full_at")) if isinstance(bucket, dict) else None
        if full_at is None or full_at <= now:
            del buckets[name]
