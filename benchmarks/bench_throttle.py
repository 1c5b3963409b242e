"""``AlertThrottle.try_acquire``: operations per second and exactness under contention.

Speed: one thread, then 8 threads, calling ``try_acquire`` on one shared
bucket; the baseline is the floor of any correct bucket, one
``with lock: time.monotonic()`` per call, measured the same way in the same
round, and so is kstlib's ``AlertThrottle.try_acquire`` (the real kstlib
2.0 when it can be imported -- run this file with a Python that has kstlib
installed and this checkout on ``PYTHONPATH`` -- else a labelled
reimplementation of its algorithm, ``benchmarks/_kstlib_throttle.py``).
So is kstalerts' own ``try_acquire`` as it was before it was made faster
(``benchmarks/_throttle_before.py``, a copy of the old code). The four are
measured interleaved, round by round. Exactness: 8 threads
race for the tokens of a bucket of ``burst`` 1000 that refills 1000 per
day (so under a second of refill is far less than one token), with the
interpreter switching threads as often as it can;
exactly 1000 must be admitted, never more than ``burst + rate*elapsed/per``.
"""

import math
import sys
import threading
import time
from typing import Callable, List, Tuple

from kstalerts import AlertThrottle

from . import _throttle_before
from ._harness import Result, median, rounds

try:  # the real kstlib, when this Python has it (3.10+ and its dependencies)
    from kstlib.alerts.throttle import AlertThrottle as KstlibThrottle  # type: ignore[import-not-found]

    KSTLIB = "kstlib 2.0 (installed)"
except ImportError:
    from ._kstlib_throttle import AlertThrottle as KstlibThrottle

    KSTLIB = "kstlib 2.0's algorithm (reimplemented, benchmarks/_kstlib_throttle.py)"

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
        theirs: List[float] = []
        before: List[float] = []
        floor: List[float] = []
        for _ in range(n):
            throttle = AlertThrottle(rate=1000, per=1.0, burst=1000)
            ours.append(_ops_per_second(throttle.try_acquire, threads, calls // threads))
            kst = KstlibThrottle(rate=1000, per=1.0, burst=1000)
            theirs.append(_ops_per_second(kst.try_acquire, threads, calls // threads))
            old = _throttle_before.AlertThrottle(rate=1000, per=1.0, burst=1000)
            before.append(_ops_per_second(old.try_acquire, threads, calls // threads))
            floor.append(_ops_per_second(_floor_call(), threads, calls // threads))
        value, base, other, was = median(ours), median(floor), median(theirs), median(before)
        label = f"{threads} thread{'s' if threads > 1 else ''}"
        results.append(
            Result(
                NAME,
                f"try_acquire, {label}",
                value,
                "ops/s",
                baseline=base,
                baseline_label="lock + monotonic floor",
                ratio=base / value,
                target="at least kstlib's try_acquire, same run",
                met=value >= other,
                rounds=n,
                note=(
                    f"ratio = time per op vs the floor; kstlib {other / 1e6:.2f} M ops/s,"
                    f" before {was / 1e6:.2f} M ops/s"
                ),
                samples=ours,
                details={
                    "floor_samples": floor,
                    "kstlib_samples": theirs,
                    "before_samples": before,
                    "calls_per_round": calls,
                },
            )
        )
        results.append(
            Result(
                NAME,
                f"kstlib try_acquire, {label}",
                other,
                "ops/s",
                baseline=base,
                baseline_label="lock + monotonic floor",
                ratio=base / other,
                rounds=n,
                note=KSTLIB,
                samples=theirs,
            )
        )
        results.append(
            Result(
                NAME,
                f"try_acquire before (7e9813e), {label}",
                was,
                "ops/s",
                baseline=base,
                baseline_label="lock + monotonic floor",
                ratio=base / was,
                rounds=n,
                note="the old code, benchmarks/_throttle_before.py",
                samples=before,
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
