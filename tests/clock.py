"""A fake monotonic clock whose sleep advances time, for tests without real waits."""

import threading
from typing import List


class FakeClock:
    """``clock()`` returns the fake time; ``sleep(s)`` advances it by ``s``."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: List[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds
