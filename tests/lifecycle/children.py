"""Child processes for the lifecycle scenarios: real interpreters sharing one state folder.

Run as ``python -m tests.lifecycle.children <scenario> <json-arguments>``
from the repository root. Each builds its manager from the test's config
file (``AlertManager.from_config``), does its part, and prints one JSON
line: the outcome of every result (``delivered``, ``held``, ...).

- ``fire``: send ``alert`` every ``period`` seconds until ``duration``
  passes (once when ``duration`` is 0), after waiting for the wall-clock
  instant ``start`` (so racing processes start together).
- ``resolve``: ``manager.resolve(key)``.
"""

import json
import sys
import time
from typing import Any, Dict, List

from kstalerts import AlertLevel, AlertManager, AlertMessage


def _alert(spec: Dict[str, Any]) -> AlertMessage:
    return AlertMessage(
        spec["title"],
        spec.get("body", ""),
        AlertLevel.parse(spec.get("level", "warning")),
        labels=spec.get("labels") or {},
        dedup_key=spec.get("key"),
    )


def fire(args: Dict[str, Any]) -> List[str]:
    outcomes: List[str] = []
    with AlertManager.from_config(args["config"]) as manager:
        start = float(args.get("start", 0))
        while time.time() < start:
            time.sleep(0.001)
        ends = time.monotonic() + float(args.get("duration", 0))
        while True:
            for result in manager.send(_alert(args["alert"])):
                outcomes.append(f"{result.channel}:{result.outcome.value}")
            if time.monotonic() + float(args.get("period", 0.2)) > ends:
                break
            time.sleep(float(args.get("period", 0.2)))
    return outcomes


def resolve(args: Dict[str, Any]) -> List[str]:
    with AlertManager.from_config(args["config"]) as manager:
        return [f"{r.channel}:{r.outcome.value}" for r in manager.resolve(args["key"])]


def main() -> None:
    scenario, raw = sys.argv[1], sys.argv[2]
    args = json.loads(raw)
    report = {"fire": fire, "resolve": resolve}[scenario](args)
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
