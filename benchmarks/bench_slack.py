"""Per-alert cost of ``SlackChannel.send`` vs a raw ``http.client`` POST.

All clients post to the same loopback server (its own process) that answers
``200 ok`` on a kept-alive HTTP/1.1 connection. The floor is the least any
client can do: one ``http.client.HTTPConnection`` kept open, pre-encoded
JSON bytes, ``request`` + ``getresponse`` + ``read``. ``SlackChannel.send``
builds the payload from an ``AlertMessage``, goes through the retry loop
and ``kstalerts.net.http``, and returns an ``AlertResult``; the target is a
ratio under 1.5. ``HTTPClient.post`` (the transport alone, same bytes) is
measured too, to tell the transport's share from the channel's. Each round
runs every client in turn, starting with a different one; figures are
medians over the rounds. The server's count of received POSTs is checked,
so nothing is timed that was not sent.
"""

import http.client
import json
import time
from typing import Any, Callable, Dict, List, Tuple

from kstalerts import AlertLevel, AlertMessage

from . import _channels
from ._harness import Result, median, rounds, spawn_server

NAME = "slack"
TARGET_RATIO = 1.15
TARGET_MANAGER = 1.25
TARGET_BURST = 1.0
BURST = 1000
PATH = "/services/T000/B000/XXXXXXXX"
_HEADERS = {"Content-Type": "application/json; charset=utf-8"}


def _count(port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/_count")
        return int(conn.getresponse().read())
    finally:
        conn.close()


def _payload_bytes(channel: Any, alert: AlertMessage) -> bytes:
    payload = channel.build_payload(alert)
    if isinstance(payload, (bytes, bytearray)):
        return bytes(payload)
    return json.dumps(payload, separators=(",", ":")).encode("utf-8")


def _raw(port: int, body: bytes) -> Tuple[Callable[[int], float], Callable[[], None]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", PATH, body=body, headers=_HEADERS)  # connect outside the timing
    conn.getresponse().read()

    def batch(count: int) -> float:
        start = time.perf_counter()
        for _ in range(count):
            conn.request("POST", PATH, body=body, headers=_HEADERS)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"raw POST got {response.status}")
        return (time.perf_counter() - start) / count

    return batch, conn.close


def _transport(port: int, body: bytes) -> Tuple[Callable[[int], float], Callable[[], None]]:
    from kstalerts.net.http import HTTPClient

    client = HTTPClient(f"http://127.0.0.1:{port}{PATH}", proxy="")
    client.post(body, headers=_HEADERS, timeout=10.0)

    def batch(count: int) -> float:
        start = time.perf_counter()
        for _ in range(count):
            response = client.post(body, headers=_HEADERS, timeout=10.0)
            if response.status != 200:
                raise RuntimeError(f"HTTPClient.post got {response.status}")
        return (time.perf_counter() - start) / count

    return batch, client.close


def _channel(channel: Any, alert: AlertMessage) -> Tuple[Callable[[int], float], Callable[[], None]]:
    channel.send(alert)  # warm up: connection open, modules imported

    def batch(count: int) -> float:
        start = time.perf_counter()
        for _ in range(count):
            result = channel.send(alert)
            if not result.success:
                raise RuntimeError(f"SlackChannel.send failed: {result.error}")
        return (time.perf_counter() - start) / count

    return batch, channel.close


def _manager(
    channel: Any, alert: AlertMessage, throttle: Any = None
) -> Tuple[Callable[[int], float], Callable[[], None]]:
    from kstalerts import AlertManager

    manager = AlertManager()
    manager.add_channel(channel, key="slack", throttle=throttle)
    manager.send(alert)  # warm up

    def batch(count: int) -> float:
        start = time.perf_counter()
        for _ in range(count):
            results = manager.send(alert)
            if not results[0].success:
                raise RuntimeError(f"AlertManager.send failed: {results[0].error}")
        return (time.perf_counter() - start) / count

    return batch, manager.close


def _burst(port: int, alert: AlertMessage, throttled: bool, cpu: List[float]) -> float:
    """Seconds per alert of a burst of BURST sends through a fresh manager,
    behind a BURST-per-second throttle (``throttled``) or none."""
    from kstalerts import AlertThrottle

    throttle = AlertThrottle(rate=BURST, per=1.0, burst=BURST) if throttled else None
    batch, close = _manager(_channels.slack_channel(port), alert, throttle)
    try:
        spent = time.process_time()
        wall = batch(BURST - 1)  # the warm-up took one token
        cpu.append((time.process_time() - spent) / (BURST - 1) * 1e6)
        return wall
    finally:
        close()


def _cpu_note(cpu: Dict[str, List[float]], key: str) -> str:
    """The client's own CPU per alert against the floor's: noise from other
    processes on a shared machine moves wall time far more than this."""
    ours, floor = median(cpu[key]), median(cpu["raw"])
    return f"client CPU {ours:.0f} vs {floor:.0f} us: {ours / floor:.2f}x"


def run(quick: bool) -> List[Result]:
    n = rounds(quick, full=15, fast=3)
    per_round = 100 if quick else 500
    alert = AlertMessage("Disk almost full", "/var at 93% on db-1", AlertLevel.WARNING)
    slack_cls, why = _channels.load("kstalerts.channels.slack", "SlackChannel")
    samples: Dict[str, List[float]] = {}
    with spawn_server("http") as (port, _proc):
        clients: Dict[str, Tuple[Callable[[int], float], Callable[[], None]]] = {}
        try:
            if slack_cls is not None:
                channel = _channels.slack_channel(port)
                body = _payload_bytes(channel, alert)
                clients["slack"] = _channel(channel, alert)
                clients["manager"] = _manager(_channels.slack_channel(port, name="m"), alert)
            else:
                body = json.dumps({"text": f"[WARNING] {alert.title}\n{alert.body}"}).encode()
            clients["raw"] = _raw(port, body)
            clients["http"] = _transport(port, body)
            expected = _count(port)
            samples = {key: [] for key in clients}
            cpu: Dict[str, List[float]] = {key: [] for key in clients}  # this process's CPU, per alert
            for i in range(n):
                keys = list(clients)
                keys = keys[i % len(keys) :] + keys[: i % len(keys)]
                for key in keys:
                    spent = time.process_time()
                    samples[key].append(clients[key][0](per_round) * 1e6)
                    cpu[key].append((time.process_time() - spent) / per_round * 1e6)
                    expected += per_round
            burst: Dict[str, List[float]] = {"throttled": [], "open": [], "throttled_cpu": [], "open_cpu": []}
            if slack_cls is not None:
                for i in range(n):  # alternated, each burst on a fresh manager and connection
                    for throttled in (i % 2 == 0, i % 2 != 0):
                        burst["throttled" if throttled else "open"].append(
                            _burst(
                                port, alert, throttled, burst["throttled_cpu" if throttled else "open_cpu"]
                            )
                            * 1e6
                        )
                        expected += BURST
            received = _count(port)
        finally:
            for _batch, close in clients.values():
                close()
    if received != expected:
        raise RuntimeError(f"server received {received} POSTs, expected {expected}")
    raw = median(samples["raw"])
    results = []
    if "slack" in samples:
        value = median(samples["slack"])
        results.append(
            Result(
                NAME,
                "SlackChannel.send per alert (loopback, keep-alive)",
                value,
                "us",
                baseline=raw,
                baseline_label="raw http.client POST",
                ratio=value / raw,
                target=f"ratio <= {TARGET_RATIO:g}",
                met=value / raw <= TARGET_RATIO,
                rounds=n,
                note=f"{per_round} alerts a round, {1e6 / value:,.0f} alerts/s; payload {len(body)} bytes; "
                + _cpu_note(cpu, "slack"),
                samples=samples["slack"],
                details={
                    "raw_samples": samples["raw"],
                    "cpu_samples": cpu["slack"],
                    "raw_cpu_samples": cpu["raw"],
                    "payload_bytes": len(body),
                    "server_received": received,
                },
            )
        )
    else:
        results.append(Result(NAME, "SlackChannel.send per alert", None, "us", note=why))
    if "manager" in samples:
        value = median(samples["manager"])
        results.append(
            Result(
                NAME,
                "AlertManager.send, one Slack channel, per alert (keep-alive)",
                value,
                "us",
                baseline=raw,
                baseline_label="raw http.client POST",
                ratio=value / raw,
                target=f"ratio <= {TARGET_MANAGER:g}",
                met=value / raw <= TARGET_MANAGER,
                rounds=n,
                note="no throttle; " + _cpu_note(cpu, "manager"),
                samples=samples["manager"],
                details={
                    "raw_samples": samples["raw"],
                    "cpu_samples": cpu["manager"],
                    "raw_cpu_samples": cpu["raw"],
                },
            )
        )
        value, floor = median(burst["throttled"]), median(burst["open"])
        results.append(
            Result(
                NAME,
                f"burst of {BURST} sends behind a {BURST}/s throttle, per alert",
                value,
                "us",
                baseline=floor,
                baseline_label="the same burst with no throttle",
                ratio=value / floor,
                target=f"ratio <= {TARGET_BURST:g}",
                met=value / floor <= TARGET_BURST,
                rounds=n,
                note="a fresh manager and connection each burst; every alert admitted; client CPU "
                f"{median(burst['throttled_cpu']):.0f} vs {median(burst['open_cpu']):.0f} us: "
                f"{median(burst['throttled_cpu']) / median(burst['open_cpu']):.2f}x",
                samples=burst["throttled"],
                details={"open_samples": burst["open"]},
            )
        )
    value = median(samples["http"])
    results.append(
        Result(
            NAME,
            "kstalerts.net.http HTTPClient.post per request (same bytes)",
            value,
            "us",
            baseline=raw,
            baseline_label="raw http.client POST",
            ratio=value / raw,
            rounds=n,
            note="the transport alone; " + _cpu_note(cpu, "http"),
            samples=samples["http"],
            details={"raw_samples": samples["raw"]},
        )
    )
    return results
