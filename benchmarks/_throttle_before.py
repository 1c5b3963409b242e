"""kstalerts' ``AlertThrottle.try_acquire`` as it was before issue 14 item 5.

A copy of the in-process path of ``kstalerts/throttle.py`` at commit
7e9813e (construction simplified: no config lookup or validation, which
``try_acquire`` never runs), kept only so that ``bench_throttle`` can show
the figure before and after in the same run. Not part of the package.
"""

import threading
import time
from typing import Callable, Optional, Tuple

_EPSILON = 1e-9


class AlertThrottle:
    """The old bucket: try_acquire -> _take -> _take_locked -> _refill, one lock."""

    def __init__(
        self, rate: float, per: float, *, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = float(rate)
        self._per = float(per)
        self._burst = int(burst)
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = float(self._burst)
        self._stamp = clock()
        self._state: Optional[object] = None

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._stamp)
        self._tokens = min(float(self._burst), self._tokens + elapsed * self._rate / self._per)
        self._stamp = max(now, self._stamp)

    def _take(self) -> Tuple[bool, float]:
        if self._state is not None:
            raise NotImplementedError("the shared-state path is not copied")
        with self._lock:
            return self._take_locked(self._clock())

    def _take_locked(self, now: float) -> Tuple[bool, float]:
        self._refill(now)
        if self._tokens >= 1.0 - _EPSILON:
            self._tokens = max(0.0, self._tokens - 1.0)
            return True, 0.0
        return False, self._wait_locked()

    def _wait_locked(self) -> float:
        missing = max(0.0, 1.0 - self._tokens)
        return missing * self._per / self._rate

    def try_acquire(self) -> bool:
        return self._take()[0]
