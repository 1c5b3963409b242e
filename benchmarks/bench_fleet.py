"""A fleet against the engine it scales out to: many processes, one Alertmanager.

``python benchmarks/bench_fleet.py [--processes 50] [--alerts 100] [--json PATH]``
(or ``benchmarks/run.py --only fleet``) starts the real
``prometheus-alertmanager`` (``KSTALERTS_ALERTMANAGER`` may name another
binary) twice on loopback: one instance alone, then a three-member cluster
(``--cluster.listen-address``/``--cluster.peer``, gossip on loopback). For
each, PROCESSES child processes, each with its own ``AlertManager`` and one
``AlertmanagerChannel`` (every member's URL, as a config names them), wait
at a start line, then each sends ALERTS distinct alerts one after the other.

Reported per set-up: alerts accepted per second (all accepted alerts over
the wall time from the start signal to the last child's last answer), the
p50 and p99 of one ``send`` as the children timed it, the alerts lost
(sent minus accepted: must be 0), and Alertmanager's own view: the number
of distinct alerts ``GET /api/v2/alerts`` lists for this run on every
member, which must equal what was sent. Each run labels its alerts with a
fresh ``fleet_run`` label, so a member's earlier alerts are not counted.
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from typing import Any, Dict, List, Optional, Sequence

if __package__ in (None, ""):  # run as a script: make the checkout importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._harness import ROOT, Result, python_env

NAME = "fleet"
PROCESSES = 50
ALERTS = 100

_CONFIG = """\
route:
  receiver: blackhole
  group_wait: 1h
receivers:
  - name: blackhole
"""

# One fleet member: build, say "ready", wait for the start line, send, report.
_CHILD = """
import json, sys, time
from kstalerts import AlertLevel, AlertManager, AlertMessage
from kstalerts.channels import AlertmanagerChannel
urls, run, index, count = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
channel = AlertmanagerChannel(urls, labels={"fleet_run": run, "host": "host-%d" % index}, max_retries=2)
manager = AlertManager()
manager.add_channel(channel, key="am")
print("ready", flush=True)
sys.stdin.readline()
latencies, accepted, failed = [], 0, []
for i in range(count):
    alert = AlertMessage("fleet alert %d-%d" % (index, i), "from host %d" % index, AlertLevel.WARNING)
    start = time.perf_counter()
    result = manager.send(alert)[0]
    latencies.append(time.perf_counter() - start)
    if result.success:
        accepted += 1
    else:
        failed.append(result.error)
manager.close()
print(json.dumps({"latencies": latencies, "accepted": accepted, "failed": failed[:3]}), flush=True)
"""


def _binary() -> Optional[str]:
    explicit = os.environ.get("KSTALERTS_ALERTMANAGER")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for candidate in ("prometheus-alertmanager", "alertmanager"):
        found = shutil.which(candidate)
        if found:
            return found
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Alertmanager:
    """One Alertmanager process on loopback (its own folder, config and ports)."""

    def __init__(self, binary: str, folder: str, peers: Sequence[str] = (), cluster: bool = False) -> None:
        os.makedirs(folder, exist_ok=True)
        config = os.path.join(folder, "alertmanager.yml")
        with open(config, "w", encoding="utf-8") as handle:
            handle.write(_CONFIG)
        self.port = _free_port()
        self.gossip = f"127.0.0.1:{_free_port()}" if cluster else ""
        args = [
            binary,
            f"--config.file={config}",
            f"--storage.path={os.path.join(folder, 'data')}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
            f"--cluster.listen-address={self.gossip}",
        ]
        if cluster:
            args += [f"--cluster.advertise-address={self.gossip}", "--cluster.settle-timeout=2s"]
            args += [f"--cluster.peer={peer}" for peer in peers]
        self._log = open(os.path.join(folder, "alertmanager.log"), "ab")  # closed in stop()
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"alertmanager exited with {self.proc.returncode}; see {folder}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1.0) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"alertmanager not ready after 30 s; see {folder}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def count(self, run: str) -> int:
        """Distinct alerts of ``run`` in Alertmanager's own API."""
        query = urllib.parse.urlencode({"filter": f'fleet_run="{run}"'})
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts?{query}", timeout=30) as answer:
            alerts = json.loads(answer.read().decode("utf-8"))
        return len({json.dumps(a["labels"], sort_keys=True) for a in alerts})

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def _percentile(values: List[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _fleet(urls: List[str], processes: int, alerts: int) -> Dict[str, Any]:
    run = uuid.uuid4().hex[:12]
    env = python_env()
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, json.dumps(urls), run, str(i), str(alerts)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            universal_newlines=True,
        )
        for i in range(processes)
    ]
    reports = []
    try:
        for child in children:  # all built and waiting: start-up is not in the figures
            assert child.stdout is not None
            if child.stdout.readline().strip() != "ready":
                raise RuntimeError("a fleet child did not start")
        start = time.perf_counter()
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        for child in children:
            assert child.stdout is not None
            reports.append(json.loads(child.stdout.readline()))
        wall = time.perf_counter() - start
    finally:
        for child in children:
            if child.poll() is None and len(reports) < len(children):
                child.kill()  # a failed run: no child may outlive it
            child.wait()
            for stream in (child.stdin, child.stdout):
                if stream is not None:
                    stream.close()
    latencies = [x for report in reports for x in report["latencies"]]
    accepted = sum(report["accepted"] for report in reports)
    failures = [f for report in reports for f in report["failed"]]
    return {
        "run": run,
        "sent": processes * alerts,
        "accepted": accepted,
        "lost": processes * alerts - accepted,
        "alerts_per_s": accepted / wall,
        "wall_s": wall,
        "p50_ms": _percentile(latencies, 0.50) * 1000.0,
        "p99_ms": _percentile(latencies, 0.99) * 1000.0,
        "failures": failures[:5],
    }


def measure(processes: int = PROCESSES, alerts: int = ALERTS) -> Dict[str, Dict[str, Any]]:
    """The fleet against one Alertmanager, then against a three-member cluster."""
    binary = _binary()
    if binary is None:
        raise RuntimeError("prometheus-alertmanager is not installed (apt install prometheus-alertmanager)")
    figures: Dict[str, Dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="kstalerts-bench-fleet-") as folder:
        single = _Alertmanager(binary, os.path.join(folder, "single"))
        try:
            figures["single"] = _fleet([single.url], processes, alerts)
            figures["single"]["seen"] = [single.count(figures["single"]["run"])]
        finally:
            single.stop()
        members: List[_Alertmanager] = []
        try:
            for i in range(3):
                peers = [members[0].gossip] if members else []
                members.append(_Alertmanager(binary, os.path.join(folder, f"member{i}"), peers, cluster=True))
            figures["cluster"] = _fleet([m.url for m in members], processes, alerts)
            figures["cluster"]["seen"] = [m.count(figures["cluster"]["run"]) for m in members]
        finally:
            for member in members:
                member.stop()
    return figures


def _results(figures: Dict[str, Dict[str, Any]], processes: int, alerts: int) -> List[Result]:
    results = []
    for key, label in (("single", "one Alertmanager"), ("cluster", "three-member Alertmanager cluster")):
        f = figures[key]
        exact = f["lost"] == 0 and all(seen == f["sent"] for seen in f["seen"])
        results.append(
            Result(
                NAME,
                f"{processes} processes x {alerts} alerts, {label}: alerts accepted per second",
                f["alerts_per_s"],
                "alerts/s",
                target="0 lost; every member lists every alert",
                met=exact,
                rounds=1,
                note=(
                    f"send p50 {f['p50_ms']:.1f} ms, p99 {f['p99_ms']:.1f} ms; lost {f['lost']}; "
                    f"/api/v2/alerts lists {', '.join(map(str, f['seen']))} of {f['sent']}"
                ),
                details=f,
            )
        )
    return results


def run(quick: bool) -> List[Result]:
    processes, alerts = (5, 10) if quick else (PROCESSES, ALERTS)
    return _results(measure(processes, alerts), processes, alerts)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/bench_fleet.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=PROCESSES)
    parser.add_argument("--alerts", type=int, default=ALERTS, help="alerts each process sends")
    parser.add_argument("--json", metavar="PATH", help="also write the figures here")
    args = parser.parse_args(argv)
    figures = measure(args.processes, args.alerts)
    print(f"{args.processes} processes x {args.alerts} alerts each, AlertmanagerChannel -> Alertmanager")
    print("| set-up | alerts/s | send p50 | send p99 | lost | /api/v2/alerts (per member) |")
    print("|---|---|---|---|---|---|")
    for key in ("single", "cluster"):
        f = figures[key]
        seen = ", ".join(str(s) for s in f["seen"])
        print(
            f"| {key} | {f['alerts_per_s']:,.0f} | {f['p50_ms']:.1f} ms | {f['p99_ms']:.1f} ms "
            f"| {f['lost']} | {seen} of {f['sent']} |"
        )
        for failure in f["failures"]:
            print(f"  failure: {failure}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(figures, handle, indent=2)
    ok = all(f["lost"] == 0 and all(s == f["sent"] for s in f["seen"]) for f in figures.values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
