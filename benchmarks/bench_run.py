"""``kstalerts run -- true`` against ``true``, and the wrapper's memory under 60 MB of output.

Overhead: the two commands run in turn, round after round, each a fresh
process timed from outside (start to exit, interpreter start-up included);
the figure is each one's median wall time and the ratio of the medians.
``python -c pass`` is timed too, to show how much of the overhead is the
interpreter itself. The wrapper runs with no channel configured and a
throwaway state folder, as a first run of a job that succeeds.

Memory: a job prints 60 MB (``yes | head -c``) through ``kstalerts run
--quiet``; a small parent that runs only the wrapper reads the children's
peak RSS (``getrusage(RUSAGE_CHILDREN)``: the largest of the wrapper and the
job's own small processes). The target: under 60 MB, whatever the output.
"""


import json
import subprocess
import sys
import tempfile
import time
from typing import Dict, List

from ._harness import ROOT, Result, median, python_env, rounds

NAME = "run"
RSS_TARGET_MB = 60.0
OUTPUT_BYTES = 60 * 1024 * 1024

_RSS_PROBE = """
import json, resource, subprocess, sys
code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(json.dumps({"code": code, "maxrss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def _wall(cmd: List[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=python_env(), check=True, stdout=subprocess.DEVNULL)
    return (time.perf_counter() - start) * 1000.0


def run(quick: bool) -> List[Result]:
    n = rounds(quick, full=30, fast=3)
    with tempfile.TemporaryDirectory(prefix="kstalerts-bench-run-") as state:
        wrapped = [sys.executable, "-m", "kstalerts", "run", "--state-dir", state, "--", "true"]
        bare = ["true"]
        interpreter = [sys.executable, "-c", "pass"]
        for cmd in (wrapped, bare, interpreter):  # warm the caches once
            _wall(cmd)
        samples: Dict[str, List[float]] = {"wrapped": [], "bare": [], "python": []}
        for _ in range(n):
            samples["wrapped"].append(_wall(wrapped))
            samples["bare"].append(_wall(bare))
            samples["python"].append(_wall(interpreter))

        job = f"yes 'a line of output from a chatty job, 0123456789' | head -c {OUTPUT_BYTES}"
        wrapper = [sys.executable, "-m", "kstalerts", "run", "--quiet", "--state-dir", state, "--"]
        rss: List[float] = []
        for _ in range(rounds(quick, full=3, fast=1)):
            out = subprocess.run(
                [sys.executable, "-c", _RSS_PROBE, *wrapper, "sh", "-c", job],
                cwd=ROOT,
                env=python_env(),
                stdout=subprocess.PIPE,
                universal_newlines=True,
                check=True,
            )
            report = json.loads(out.stdout)
            if report["code"] != 0:
                raise RuntimeError(f"the 60 MB job exited {report['code']}")
            rss.append(report["maxrss_kib"] / 1024)

    wrapped_ms, bare_ms, python_ms = (median(samples[k]) for k in ("wrapped", "bare", "python"))
    peak = median(rss)
    return [
        Result(
            NAME,
            "kstalerts run -- true, wall time",
            wrapped_ms,
            "ms",
            baseline=bare_ms,
            baseline_label="true alone",
            ratio=wrapped_ms / bare_ms if bare_ms else None,
            rounds=n,
            note=f"python -c pass alone: {python_ms:.1f} ms (the interpreter's share of the overhead)",
            samples=samples["wrapped"],
            details={"bare_ms": samples["bare"], "python_ms": samples["python"]},
        ),
        Result(
            NAME,
            "wrapper max RSS, 60 MB of output with --quiet",
            peak,
            "MB",
            target=f"< {RSS_TARGET_MB:g} MB",
            met=peak < RSS_TARGET_MB,
            rounds=len(rss),
            samples=rss,
        ),
    ]
