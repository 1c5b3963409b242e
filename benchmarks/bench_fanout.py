"""Fan-out: one alert to 10 channels that each take 100 ms to answer.

The manager delivers to every channel at once, so the whole send should
cost about one channel's latency: the target is under 1.2 x 100 ms. With
real HTTP channels (Slack webhooks to a loopback server that waits 100 ms
before answering) when this tree has them; always also with
``CallbackChannel``s that sleep 100 ms, which isolates the manager's own
concurrency from the HTTP client. Measured with the default
``AlertManager()`` and with ``max_workers`` equal to the channel count.
"""

import time
from typing import Any, Callable, List, Optional

from kstalerts import AlertLevel, AlertManager, AlertMessage
from kstalerts.channels import CallbackChannel

from . import _channels
from ._harness import Result, median, rounds, spawn_server

NAME = "fanout"
CHANNELS = 10
DELAY = 0.100
TARGET = 1.2 * DELAY


def _sleeper(_alert: AlertMessage) -> None:
    time.sleep(DELAY)


def _measure(make_channel: Callable[[int], Any], n: int, max_workers: Optional[int]) -> List[float]:
    manager = AlertManager() if max_workers is None else AlertManager(max_workers=max_workers)
    with manager:
        for i in range(CHANNELS):
            manager.add_channel(make_channel(i), key=f"ch{i}")
        alert = AlertMessage("fan-out", "ten channels at once", AlertLevel.CRITICAL)
        manager.send(alert)  # warm up: threads started, connections open
        samples = []
        for _ in range(n):
            start = time.perf_counter()
            results = manager.send(alert)
            samples.append((time.perf_counter() - start) * 1000.0)
            failed = [r for r in results if not r.success]
            if len(results) != CHANNELS or failed:
                raise RuntimeError(f"fan-out lost deliveries: {failed[:1]} of {len(results)} results")
    return samples


def _result(label: str, samples: List[float], note: str = "") -> Result:
    value = median(samples)
    return Result(
        NAME,
        label,
        value,
        "ms",
        baseline=DELAY * 1000.0,
        baseline_label="one channel",
        ratio=value / (DELAY * 1000.0),
        target=f"< {TARGET * 1000:.0f} ms (1.2x)",
        met=value < TARGET * 1000.0,
        rounds=len(samples),
        note=note,
        samples=samples,
    )


def run(quick: bool) -> List[Result]:
    n = rounds(quick, full=15, fast=3)
    results: List[Result] = []
    slack_cls, why = _channels.load("kstalerts.channels.slack", "SlackChannel")
    if slack_cls is None:
        results.append(
            Result(NAME, f"{CHANNELS} Slack channels over HTTP, 100 ms each", None, "ms", note=why)
        )
    else:
        with spawn_server("http", "--delay", str(DELAY)) as (port, _proc):
            for workers, tag in ((None, "default AlertManager()"), (CHANNELS, f"max_workers={CHANNELS}")):
                samples = _measure(lambda i: _channels.slack_channel(port, name=f"slack{i}"), n, workers)
                results.append(_result(f"{CHANNELS} Slack channels over HTTP, 100 ms each, {tag}", samples))
    for workers, tag in ((None, "default AlertManager()"), (CHANNELS, f"max_workers={CHANNELS}")):
        samples = _measure(lambda i: CallbackChannel(_sleeper, name=f"cb{i}"), n, workers)
        results.append(_result(f"{CHANNELS} callback channels sleeping 100 ms, {tag}", samples))
    return results
