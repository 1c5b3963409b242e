"""``AlertThrottle.try_acquire``: operations per second and exactness under contention.

Speed: one thread, then 8 threads, calling ``try_acquire`` on one shared
bucket; the baseline is the floor of any correct bucket, one
``with lock: time.monotonic()`` per call, measured the same way in the same
round. Exactness: 8 threads race for the tokens of a bucket of ``burst``
1000 that refills 1000 per day (so under a second of refill is far less
than one token), with the interpreter switching threads as often as it can;
exactly 1000 must be admitted, never more than ``burst + rate*elapsed/per``.
"""

import math
import sys
import threading
import time
from typing import Callable, List, Tuple

from kstalerts import AlertThrottle

from ._harness import Result, median, rounds

NAME = "throttle"
THREADS = 8


def _ops_per_second(call: Callable[[], object], threads: int, calls_per_thread: int) -> float:
    barrier = threading.Barrier(threads + 1)

    def worker() -> None:
        barrier.wait()
        for _ in range(calls_per_thread):
            call()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - start
    return threads * calls_per_thread / elapsed


def _floor_call() -> Callable[[], object]:
    lock = threading.Lock()
    clock = time.monotonic

    def call() -> float:
        with lock:
            return clock()

    return call


def _contended_admissions(attempts_per_thread: int) -> Tuple[int, float, float]:
    throttle = AlertThrottle(rate=1000, per=86400.0, burst=1000)
    admitted = [0] * THREADS
    barrier = threading.Barrier(THREADS + 1)

    def worker(slot: int) -> None:
        barrier.wait()
        got = 0
        for _ in range(attempts_per_thread):
            if throttle.try_acquire():
                got += 1
        admitted[slot] = got

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter allows
    try:
        pool = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
        start = time.monotonic()
        for t in pool:
            t.start()
        barrier.wait()
        for t in pool:
            t.join()
        elapsed = time.monotonic() - start
    finally:
        sys.setswitchinterval(old)
    bound = throttle.burst + throttle.rate * elapsed / throttle.per
    return sum(admitted), bound, elapsed


def run(quick: bool) -> List[Result]:
    n = rounds(quick, full=9, fast=2)
    calls = 20_000 if quick else 100_000
    results: List[Result] = []
    for threads in (1, THREADS):
        ours: List[float] = []
        floor: List[float] = []
        for _ in range(n):
            throttle = AlertThrottle(rate=1000, per=1.0, burst=1000)
            ours.append(_ops_per_second(throttle.try_acquire, threads, calls // threads))
            floor.append(_ops_per_second(_floor_call(), threads, calls // threads))
        value, base = median(ours), median(floor)
        results.append(
            Result(
                NAME,
                f"try_acquire, {threads} thread{'s' if threads > 1 else ''}",
                value,
                "ops/s",
                baseline=base,
                baseline_label="lock + monotonic floor",
                ratio=base / value,
                rounds=n,
                note="ratio = time per op vs the floor",
                samples=ours,
                details={"floor_samples": floor, "calls_per_round": calls},
            )
        )
    counts: List[int] = []
    bounds: List[float] = []
    for _ in range(n):
        admitted, bound, _elapsed = _contended_admissions(2_000 if quick else 5_000)
        counts.append(admitted)
        bounds.append(bound)
    exact = all(c == 1000 for c in counts) and all(c <= math.floor(b) for c, b in zip(counts, bounds))
    results.append(
        Result(
            NAME,
            f"admitted under contention ({THREADS} threads, burst 1000)",
            float(median(counts)),
            "alerts",
            target="exactly 1000 every round",
            met=exact,
            rounds=n,
            note=f"every round: {sorted(set(counts))}",
            samples=[float(c) for c in counts],
            details={"bounds": bounds},
        )
    )
    return results
