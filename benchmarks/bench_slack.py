"""Per-alert cost of ``SlackChannel.send`` vs a raw ``http.client`` POST.

Both post to the same loopback server (its own process) that answers
``200 ok`` on a kept-alive HTTP/1.1 connection. The floor is the least any
client can do: one ``HTTPConnection`` kept open, pre-encoded JSON bytes,
``request`` + ``getresponse`` + ``read``. ``SlackChannel.send`` builds the
payload from an ``AlertMessage``, goes through the retry loop and
kstalerts.http, and returns an ``AlertResult``. Rounds alternate which side
goes first; the ratio of the medians must stay under 1.5. The server's
count of received POSTs is checked, so nothing is timed that was not sent.
"""

from __future__ import annotations

import http.client
import json
import time
from typing import Any, List

from kstalerts import AlertLevel, AlertMessage

from . import _channels
from ._harness import Result, median, rounds, spawn_server

NAME = "slack"
TARGET_RATIO = 1.5
PATH = "/services/T000/B000/XXXXXXXX"


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


def _raw_batch(port: int, body: bytes, count: int) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": "application/json"}
    try:
        conn.request("POST", PATH, body=body, headers=headers)  # connect outside the timing
        conn.getresponse().read()
        start = time.perf_counter()
        for _ in range(count):
            conn.request("POST", PATH, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"raw POST got {response.status}")
        return (time.perf_counter() - start) / count
    finally:
        conn.close()


def _channel_batch(channel: Any, alert: AlertMessage, count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        result = channel.send(alert)
        if not result.success:
            raise RuntimeError(f"SlackChannel.send failed: {result.error}")
    return (time.perf_counter() - start) / count


def run(quick: bool) -> List[Result]:
    cls, why = _channels.load("kstalerts.channels.slack", "SlackChannel")
    if cls is None:
        return [Result(NAME, "SlackChannel.send per alert", None, "us", note=why)]
    n = rounds(quick, full=15, fast=3)
    per_round = 100 if quick else 500
    alert = AlertMessage("Disk almost full", "/var at 93% on db-1", AlertLevel.WARNING)
    ours: List[float] = []
    raw: List[float] = []
    with spawn_server("http") as (port, _proc):
        channel = _channels.slack_channel(port)
        try:
            body = _payload_bytes(channel, alert)
            channel.send(alert)  # warm up: connection open, modules imported
            expected = _count(port)
            for i in range(n):
                if i % 2:
                    raw.append(_raw_batch(port, body, per_round) * 1e6)
                    ours.append(_channel_batch(channel, alert, per_round) * 1e6)
                else:
                    ours.append(_channel_batch(channel, alert, per_round) * 1e6)
                    raw.append(_raw_batch(port, body, per_round) * 1e6)
                expected += 2 * per_round + 1
            received = _count(port)
        finally:
            channel.close()
    if received != expected:
        raise RuntimeError(f"server received {received} POSTs, expected {expected}")
    value, base = median(ours), median(raw)
    return [
        Result(
            NAME,
            "SlackChannel.send per alert (loopback, keep-alive)",
            value,
            "us",
            baseline=base,
            baseline_label="raw http.client POST",
            ratio=value / base,
            target=f"ratio < {TARGET_RATIO:g}",
            met=value / base < TARGET_RATIO,
            rounds=n,
            note=f"{per_round} alerts a round, {1e6 / value:,.0f} alerts/s; payload {len(body)} bytes",
            samples=ours,
            details={"raw_samples": raw, "payload_bytes": len(body), "server_received": received},
        )
    ]
