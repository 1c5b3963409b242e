"""Per-alert cost of the channels a locked-down host can reach, beside Slack's.

Each channel's ``send`` of the same alert, timed in batches, no retries:

- ``slack``, ``ntfy``: POST to the loopback HTTP server (its own process),
  on a kept-alive connection;
- ``matrix``: PUT to the same server; one connection per alert (the URL
  holds the transaction id, so each alert has its own client);
- ``syslog udp``, ``syslog unix``, ``journald``: one datagram each, to
  sockets a child process binds and drains;
- ``syslog tcp``: a connection per alert (connect, octet-counted frame, close)
  to that child;
- ``exec``: fork and exec of ``true`` with the alert on stdin.

The goal the issue sets: syslog over UDP far below any HTTP channel (here:
under half of Slack's cost). The sink's counts are checked, so
nothing is timed that was not received.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List

from kstalerts import AlertLevel, AlertMessage

from . import _channels
from ._harness import ROOT, Result, median, python_env, rounds, spawn_server

NAME = "channels"
TARGET = 0.5  # syslog UDP's cost as a share of Slack's

# A child that binds a UDP port, a TCP port and two unix datagram sockets,
# prints "udp tcp", counts what arrives, and prints the counts when stdin closes.
_SINK = r"""
import os, selectors, socket, sys
directory = sys.argv[1]
sel = selectors.DefaultSelector()
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp.bind(("127.0.0.1", 0))
udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
tcp = socket.socket(); tcp.bind(("127.0.0.1", 0)); tcp.listen(128)
counts = {"udp": 0, "tcp": 0, "unix": 0, "journal": 0}
for name, sock in (("udp", udp), ("tcp", tcp)):
    sel.register(sock, selectors.EVENT_READ, name)
for name in ("unix", "journal"):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); sock.bind(os.path.join(directory, name))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    sel.register(sock, selectors.EVENT_READ, name)
sel.register(sys.stdin, selectors.EVENT_READ, "stdin")
print(udp.getsockname()[1], tcp.getsockname()[1], flush=True)
while True:
    for key, _ in sel.select():
        name = key.data
        if name == "stdin":
            if not sys.stdin.readline():
                print(counts["udp"], counts["tcp"], counts["unix"], counts["journal"], flush=True)
                sys.exit(0)
        elif name == "tcp":
            conn, _ = tcp.accept(); sel.register(conn, selectors.EVENT_READ, "conn")
            counts["tcp"] += 1  # one frame per connection: the channel sends one and closes
        elif name == "conn":
            data = key.fileobj.recv(65536)
            if not data:
                sel.unregister(key.fileobj); key.fileobj.close()
        else:
            key.fileobj.recv(1 << 20); counts[name] += 1
"""


def _batch(channel: Any, alert: AlertMessage) -> Callable[[int], float]:
    result = channel.send(alert)  # warm up: modules imported, connection open
    if not result.success:
        raise RuntimeError(f"{channel!r}: {result.error}")

    def batch(count: int) -> float:
        start = time.perf_counter()
        for _ in range(count):
            result = channel.send(alert)
            if not result.success:
                raise RuntimeError(f"{channel!r}: {result.error}")
        return (time.perf_counter() - start) / count

    return batch


def run(quick: bool) -> List[Result]:
    from kstalerts.channels import CommandChannel, JournaldChannel, MatrixChannel, NtfyChannel, SyslogChannel

    n = rounds(quick, full=7, fast=2)
    per_round = {"exec": 20 if quick else 50}
    default_per_round = 100 if quick else 400
    alert = AlertMessage(
        "Disk almost full", "/var at 93% on db-1", AlertLevel.WARNING, labels={"host": "db1"}
    )
    common: Dict[str, Any] = {"timeout": 10.0, "max_retries": 0}
    directory = tempfile.mkdtemp(prefix="kst-bench-")
    sink = subprocess.Popen(
        [sys.executable, "-c", _SINK, directory],
        cwd=ROOT,
        env=python_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        universal_newlines=True,
    )
    assert sink.stdin is not None and sink.stdout is not None
    udp_port, tcp_port = (int(x) for x in sink.stdout.readline().split())
    samples: Dict[str, List[float]] = {}
    try:
        with spawn_server("http") as (port, _proc):
            base = f"http://127.0.0.1:{port}"
            channels: Dict[str, Any] = {
                "slack": _channels.slack_channel(port),
                "ntfy": NtfyChannel(f"{base}/alerts", token="tk_bench", proxy="", **common),
                "matrix": MatrixChannel(
                    base, room_id="!r:bench", access_token="syt_bench", proxy="", **common
                ),
                "syslog udp": SyslogChannel(transport="udp", host="127.0.0.1", port=udp_port, **common),
                "syslog tcp": SyslogChannel(transport="tcp", host="127.0.0.1", port=tcp_port, **common),
                "syslog unix": SyslogChannel(socket_path=os.path.join(directory, "unix"), **common),
                "journald": JournaldChannel(socket_path=os.path.join(directory, "journal"), **common),
                "exec": CommandChannel([shutil.which("true") or "/bin/true"], **common),
            }
            batches = {key: _batch(channel, alert) for key, channel in channels.items()}
            samples = {key: [] for key in batches}
            for i in range(n):
                keys = list(batches)
                keys = keys[i % len(keys) :] + keys[: i % len(keys)]
                for key in keys:
                    count = per_round.get(key, default_per_round)
                    samples[key].append(batches[key](count) * 1e6)
            for channel in channels.values():
                channel.close()
    finally:
        sink.stdin.close()
        counts = sink.stdout.readline().split()
        sink.wait(5)
        sink.stdout.close()
        shutil.rmtree(directory, ignore_errors=True)
    sent = {
        key: 1 + sum(per_round.get(key, default_per_round) for _ in range(n))
        for key in ("syslog udp", "syslog tcp", "syslog unix", "journald")
    }
    got = dict(zip(("syslog udp", "syslog tcp", "syslog unix", "journald"), (int(c) for c in counts)))
    if got != sent:
        raise RuntimeError(f"the sink received {got}, expected {sent}")
    slack = median(samples["slack"])
    results = []
    for key, values in samples.items():
        value = median(values)
        row = Result(
            NAME,
            f"{key}: send per alert",
            value,
            "us",
            baseline=slack,
            baseline_label="SlackChannel.send (keep-alive)",
            ratio=value / slack,
            rounds=n,
            note=f"{per_round.get(key, default_per_round)} alerts a round, {1e6 / value:,.0f} alerts/s",
            samples=values,
        )
        if key == "syslog udp":
            row.target = f"ratio < {TARGET:g}"
            row.met = value / slack < TARGET
        results.append(row)
    return results
