"""``Deduplicator``: the cost of one send (claim + done) as the remembered keys grow.

Steady state, as in a long-running process: the deduplicator is filled to
``keys`` keys (its ``max_keys``), then every send is a new key with a
~900-character title, so every send also forgets the oldest key. The issue's
goal (issue 24, finding 3): the cost per send at 10,000 keys within 2x the
cost at 10 keys (before, ``_trim`` scanned every record on every send:
1.2-2.4 ms past 10,000 keys, against 0.03 ms). Also measured, as
information: the same with a shared state file on tmpfs, whose cost grows
with the file (each transaction reads and writes the whole JSON document).
"""

import os
import shutil
import tempfile
import time
from typing import List

from kstalerts.dedup import Deduplicator

from ._harness import Result, median, rounds

NAME = "dedup"
_LONG = "t" * 900


def _per_send(dedup: Deduplicator, keys: int, sends: int) -> float:
    """Microseconds per send once ``dedup`` holds ``keys`` keys."""
    for number in range(keys):
        claim = dedup.claim("ops", f"WARNING:{number:06d} {_LONG}")
        dedup.done("ops", f"WARNING:{number:06d} {_LONG}", claim, delivered=True)
    names = [f"WARNING:{keys + number:06d} {_LONG}" for number in range(sends)]
    start = time.perf_counter()
    for name in names:
        claim = dedup.claim("ops", name)
        dedup.done("ops", name, claim, delivered=True)
    return (time.perf_counter() - start) / sends * 1e6


def run(quick: bool) -> List[Result]:
    n = rounds(quick, full=5, fast=1)
    sends = 2_000 if quick else 20_000
    results: List[Result] = []
    small: List[float] = []
    large: List[float] = []
    for _ in range(n):
        small.append(_per_send(Deduplicator(3600.0, max_keys=10), 10, sends))
        large.append(_per_send(Deduplicator(3600.0, max_keys=10_000), 10_000, sends))
    at_10, at_10k = median(small), median(large)
    results.append(
        Result(
            NAME,
            "send (claim + done), in memory, 10,000 keys",
            at_10k,
            "us/send",
            baseline=at_10,
            baseline_label="the same at 10 keys",
            ratio=at_10k / at_10,
            target="within 2x the cost at 10 keys",
            met=at_10k <= 2 * at_10,
            rounds=n,
            note=f"{at_10:.1f} us/send at 10 keys; {sends} sends a round, each a new ~900-character key",
            samples=large,
            details={"samples_at_10": small},
        )
    )
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    folder = tempfile.mkdtemp(prefix="kstalerts-bench-", dir=base)
    try:
        file_sends = 100 if quick else 500
        filed = {}
        for keys in (10, 2_000):
            dedup = Deduplicator(3600.0, state_file=os.path.join(folder, f"d{keys}.json"), max_keys=keys)
            filed[keys] = _per_send(dedup, keys, file_sends)
        results.append(
            Result(
                NAME,
                "send (claim + done), shared state file on tmpfs, 2,000 keys",
                filed[2_000],
                "us/send",
                baseline=filed[10],
                baseline_label="the same at 10 keys",
                ratio=filed[2_000] / filed[10],
                rounds=1,
                note=(
                    f"{filed[10]:.0f} us at 10 keys: a shared file is read and written whole per"
                    " transaction (two per send, one fsynced), so its cost grows with the keys"
                ),
            )
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return results
