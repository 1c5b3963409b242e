"""Child process of bench_memory: import kstalerts, send alerts, report memory.

``python -m benchmarks._memory_child --traced --checkpoints 0,1000,10000
[--http PORT]`` prints one JSON line: for each checkpoint (alerts sent so
far), the memory tracemalloc sees held (after ``gc.collect()``) and its
peak, and the process's max RSS. Without ``--traced`` only max RSS is
reported, so tracemalloc's own overhead does not inflate it.
"""

import argparse
import gc
import json
import resource
import sys
import tracemalloc
from typing import Any, Dict, List


def _rss_kib() -> int:
    # ru_maxrss is in KiB on Linux, bytes on macOS
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return value // 1024 if sys.platform == "darwin" else value


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--traced", action="store_true")
    parser.add_argument("--checkpoints", default="0")
    parser.add_argument("--http", type=int, default=0, help="port of a loopback Slack-compatible server")
    args = parser.parse_args(argv)
    checkpoints = [int(c) for c in args.checkpoints.split(",")]
    if args.traced:
        tracemalloc.start()

    import kstalerts
    from kstalerts import AlertLevel, AlertManager, AlertMessage, AlertThrottle
    from kstalerts.channels import CallbackChannel

    report: Dict[str, Any] = {"channels": [], "points": []}

    def point(sent: int) -> None:
        gc.collect()
        entry: Dict[str, Any] = {"alerts": sent, "maxrss_kib": _rss_kib()}
        if args.traced:
            current, peak = tracemalloc.get_traced_memory()
            entry.update(traced_kib=current / 1024, traced_peak_kib=peak / 1024)
        report["points"].append(entry)

    point(0)
    sink: List[int] = [0]

    def count(_alert: Any) -> None:
        sink[0] += 1

    manager = AlertManager()
    manager.add_channel(CallbackChannel(count, name="memory"))
    manager.add_channel(CallbackChannel(count, name="pager"), min_level=AlertLevel.CRITICAL)
    # a throttled channel: most alerts are refused, which must not pile up either
    manager.add_channel(
        CallbackChannel(count, name="throttled"), throttle=AlertThrottle(rate=1000, per=3600.0, burst=10)
    )
    report["channels"] = ["callback x3 (one throttled)"]
    if args.http:
        from benchmarks import _channels

        manager.add_channel(_channels.slack_channel(args.http))
        report["channels"].append("slack over loopback HTTP")
    levels = (AlertLevel.INFO, AlertLevel.WARNING, AlertLevel.CRITICAL)
    sent = 0
    with manager:
        for target in checkpoints[1:]:
            while sent < target:
                alert = AlertMessage(f"alert {sent}", f"body of alert {sent}", levels[sent % 3])
                for result in manager.send(alert):
                    if not (result.success or result.throttled):
                        raise SystemExit(f"delivery failed: {result.error}")
                sent += 1
            point(sent)
        report["stats"] = {"sent": manager.stats.total_sent, "throttled": manager.stats.total_throttled}
    report["version"] = kstalerts.__version__
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
