"""Child processes for the multi-process tests of the spool, dedup and shared throttle.

Run as ``python -m tests.spool_children <command> ...`` from the repository
root; each command prints what the parent test checks, one line per fact,
and flushes at once (the crash test kills children at random points).
"""

import json
import os
import sys
import time
from typing import Callable, Dict, List

import kstalerts
from kstalerts import AlertDeliveryError, AlertManager, AlertMessage, AlertThrottle
from kstalerts.channels import CallbackChannel
from kstalerts.dedup import Deduplicator


def _wait_for(path: str, limit: float = 20.0) -> None:
    deadline = time.monotonic() + limit
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise SystemExit(f"no {path} within {limit}s")
        time.sleep(0.002)


def throttle(state_file: str, go_file: str, tries: str) -> None:
    """Wait for ``go_file``, then try ``tries`` takes; print how many were admitted."""
    bucket = AlertThrottle(rate=10, per=86400.0, burst=10, state_file=state_file, state_key="ops")
    print("ready", flush=True)
    _wait_for(go_file)
    admitted = sum(bucket.try_acquire() for _ in range(int(tries)))
    print(admitted, flush=True)


def dedup(state_file: str, window: str, title: str, go_file: str = "") -> None:
    """Send one alert through a dedup'ed manager (when ``go_file`` appears, if
    given); print the result as JSON."""
    delivered: List[str] = []

    def deliver(alert: AlertMessage) -> None:
        time.sleep(0.01)  # a delivery takes a while: the others arrive meanwhile
        delivered.append(alert.title)

    with AlertManager(dedup=Deduplicator(float(window), state_file=state_file)) as manager:
        manager.add_channel(CallbackChannel(deliver, name="ops"))
        if go_file:
            print("ready", flush=True)
            _wait_for(go_file)
        (result,) = manager.send(AlertMessage(title, level=kstalerts.AlertLevel.WARNING))
    print(
        json.dumps({"success": result.success, "suppressed": result.suppressed, "delivered": delivered}),
        flush=True,
    )


def spool_forever(spool_dir: str, prefix: str) -> None:
    """Send alerts to a channel that is down, forever; print each one confirmed spooled."""

    def down(alert: AlertMessage) -> None:
        raise AlertDeliveryError("connection refused", retryable=True)

    with AlertManager(spool=spool_dir) as manager:
        manager.add_channel(CallbackChannel(down, name="ops", max_retries=0))
        print("ready", flush=True)
        number = 0
        while True:
            alert = AlertMessage(f"{prefix}-{number}", "x" * (number % 7) * 3000)
            (result,) = manager.send(alert)
            if result.spooled:
                print(alert.title, flush=True)
            number += 1


def flush(spool_dir: str, sink_file: str, go_file: str) -> None:
    """Wait for ``go_file``, flush the spool into ``sink_file`` (one line per
    delivery, appended atomically); print the report's counts as JSON."""

    def record(alert: AlertMessage) -> None:
        fd = os.open(sink_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (alert.title + "\n").encode())
        finally:
            os.close(fd)
        time.sleep(0.001)  # widen the window in which the other flush could race

    with AlertManager(spool=spool_dir) as manager:
        manager.add_channel(CallbackChannel(record, name="ops"))
        print("ready", flush=True)
        _wait_for(go_file)
        report = manager.flush_spool()
    print(json.dumps({"delivered": report.delivered, "skipped": report.skipped}), flush=True)


def hold_lock(lock_file: str, seconds: str) -> None:
    """Take the flock of a state file's lock and keep it (a peer stuck mid-write)."""
    import fcntl

    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    print("ready", flush=True)
    time.sleep(float(seconds))


def main(argv: List[str]) -> None:
    commands: Dict[str, Callable[..., None]] = {
        "throttle": throttle,
        "dedup": dedup,
        "spool": spool_forever,
        "flush": flush,
        "hold_lock": hold_lock,
    }
    commands[argv[0]](*argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
