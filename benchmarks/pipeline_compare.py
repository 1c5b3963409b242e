"""Before/after figures of the delivery path, in one run:
``python -m benchmarks.pipeline_compare BEFORE_TREE [AFTER_TREE]``.

Starts one loopback HTTP and one SMTP server (their own processes), then
runs :mod:`benchmarks.pipeline_probe` for each tree in turn, alternating,
several times; prints the frames from ``AlertManager.send()`` to the socket
(Slack, SMTP), the non-channel modules entered twice, and the median
per-alert cost of ``manager.send`` with one Slack channel for each tree.
"""

import json
import os
import statistics
import subprocess
import sys
from typing import Any, Dict, List

from ._harness import ROOT, spawn_server


def main(argv: List[str]) -> int:
    trees = [os.path.abspath(argv[0]), os.path.abspath(argv[1]) if len(argv) > 1 else str(ROOT)]
    runs: Dict[str, List[Dict[str, Any]]] = {tree: [] for tree in trees}
    with spawn_server("http") as (http_port, _), spawn_server("smtp") as (smtp_port, _):
        for _ in range(4):
            for tree in trees:
                out = subprocess.run(
                    [sys.executable, "-m", "benchmarks.pipeline_probe", tree, str(http_port), str(smtp_port)],
                    cwd=str(ROOT),
                    check=True,
                    stdout=subprocess.PIPE,
                    universal_newlines=True,
                ).stdout
                runs[tree].append(json.loads(out))
    for tree in trees:
        first = runs[tree][0]
        per = statistics.median(x for run in runs[tree] for x in run["per_alert_us"])
        print(tree)
        for kind in ("slack", "smtp"):
            path = first[kind]
            print(f"  {kind}: {path['frames']} frames; modules re-entered: {path['reentered'] or 'none'}")
            print("    " + " -> ".join(m.replace("kstalerts.", "") for m in path["modules"]))
        inproc = statistics.median(x for run in runs[tree] for x in run["inprocess_us"])
        print(f"  manager.send, 1 Slack channel: {per:.1f} us per alert (median)")
        print(f"  manager.send, 1 CallbackChannel: {inproc:.1f} us per alert (median)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
