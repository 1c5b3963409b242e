"""Peak memory after import and after 10,000 alerts: none may grow with the alert count.

Each figure comes from a fresh interpreter (``benchmarks/_memory_child.py``)
that imports kstalerts and sends alerts one ``send()`` at a time through an
``AlertManager`` with three callback channels (one throttled, so most of its
alerts are refused) and, when this tree has it, a Slack channel posting to a
loopback server. tracemalloc measures what the package holds after a
``gc.collect()``; max RSS (without tracemalloc) what the process peaked at.
The target: what is held after 10,000 alerts is what was held after 1,000,
within 1 byte per extra alert.
"""

import contextlib
import json
import subprocess
import sys
from typing import Any, Dict, Iterator, List, Optional

from . import _channels
from ._harness import ROOT, Result, median, python_env, rounds, spawn_server

NAME = "memory"


def _child(checkpoints: List[int], traced: bool, port: Optional[int]) -> Dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks._memory_child", "--checkpoints", ",".join(map(str, checkpoints))]
    if traced:
        cmd.append("--traced")
    if port:
        cmd += ["--http", str(port)]
    out = subprocess.run(
        cmd,
        cwd=ROOT,
        env=python_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
    )
    if out.returncode != 0:
        raise RuntimeError(f"memory child failed: {out.stderr.strip()[-500:]}")
    report: Dict[str, Any] = json.loads(out.stdout)
    return report


@contextlib.contextmanager
def _http_port() -> Iterator[Optional[int]]:
    cls, _why = _channels.load("kstalerts.channels.slack", "SlackChannel")
    if cls is None:
        yield None
        return
    with spawn_server("http") as (port, _proc):
        yield port


def run(quick: bool) -> List[Result]:
    small, large = (100, 1000) if quick else (1000, 10000)
    n = rounds(quick, full=3, fast=1)
    with _http_port() as port:
        traced = _child([0, small, large], True, port)
        rss: Dict[int, List[float]] = {0: [], small: [], large: []}
        for _ in range(n):
            for count in rss:
                report = _child([0, count] if count else [0], False, port)
                rss[count].append(report["points"][-1]["maxrss_kib"] / 1024)
    points = {p["alerts"]: p for p in traced["points"]}
    growth_kib = points[large]["traced_kib"] - points[small]["traced_kib"]
    allowed_kib = (large - small) / 1024  # 1 byte per extra alert
    channels = ", ".join(traced["channels"])
    if port is None:
        channels += " (no Slack channel in this tree)"
    rss_growth = median(rss[large]) - median(rss[small])
    return [
        Result(
            NAME,
            "held after import (tracemalloc)",
            points[0]["traced_kib"],
            "KiB",
            rounds=1,
            note=f"peak during import {points[0]['traced_peak_kib']:,.0f} KiB",
        ),
        Result(NAME, "max RSS after import", median(rss[0]), "MiB", rounds=n, samples=rss[0]),
        Result(
            NAME,
            f"held after {large:,} alerts minus after {small:,} (tracemalloc)",
            growth_kib,
            "KiB",
            baseline=points[small]["traced_kib"],
            baseline_label=f"held after {small:,}",
            target=f"< {allowed_kib:.1f} KiB (1 B/alert)",
            met=growth_kib < allowed_kib,
            rounds=1,
            note=(
                f"held {points[large]['traced_kib']:,.0f} KiB, "
                f"peak {points[large]['traced_peak_kib']:,.0f} KiB; {channels}"
            ),
            details={"points": traced["points"], "stats": traced.get("stats")},
        ),
        Result(
            NAME,
            f"max RSS after {large:,} alerts",
            median(rss[large]),
            "MiB",
            baseline=median(rss[small]),
            baseline_label=f"after {small:,}",
            ratio=median(rss[large]) / median(rss[small]),
            rounds=n,
            note=f"growth {rss_growth * 1024:,.0f} KiB",
            samples=rss[large],
            details={"rss_mib": {str(k): v for k, v in rss.items()}},
        ),
    ]
