"""What every benchmark shares: results, medians, timing, the machine, the table.

A benchmark module exposes ``NAME`` and ``run(quick: bool) -> List[Result]``.
A :class:`Result` holds one measured figure (a median), the baseline it is
compared with when there is one, and the target from the issue, so the table
says plainly whether the target is met. Nothing here tunes a figure: when a
benchmark cannot run (a channel not written yet), it says so in ``note``.
"""

import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

__all__ = (
    "ROOT",
    "Result",
    "median",
    "timed",
    "rounds",
    "machine_info",
    "format_table",
    "format_markdown",
    "spawn_server",
    "python_env",
)


class Result:
    """One line of the table.

    ``value`` is the median of the rounds, in ``unit``. ``baseline`` (same
    unit) is what it is compared with, measured in the same run; ``ratio``
    is ``value / baseline`` unless the benchmark defines it otherwise.
    ``target`` is the issue's goal in words and ``met`` whether this run
    reached it (None when the line has no target).
    """

    def __init__(
        self,
        benchmark: str,
        metric: str,
        value: Optional[float],
        unit: str,
        baseline: Optional[float] = None,
        baseline_label: str = "",
        ratio: Optional[float] = None,
        target: str = "",
        met: Optional[bool] = None,
        rounds: int = 0,
        note: str = "",
        samples: Optional[List[float]] = None,
        details: Optional[Dict[str, Any]] = None,
    ) -> None:
        self.benchmark = benchmark
        self.metric = metric
        self.value = value
        self.unit = unit
        self.baseline = baseline
        self.baseline_label = baseline_label
        self.ratio = ratio
        self.target = target
        self.met = met
        self.rounds = rounds
        self.note = note
        self.samples: List[float] = list(samples or ())
        self.details: Dict[str, Any] = dict(details or {})

    def as_json(self) -> Dict[str, Any]:
        return json.loads(json.dumps(vars(self)))  # a deep copy, as dataclasses.asdict made


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def timed(fn: Callable[[], Any]) -> float:
    """Seconds ``fn()`` took, on the monotonic high-resolution clock."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def rounds(quick: bool, full: int, fast: int) -> int:
    return fast if quick else full


def python_env() -> Dict[str, str]:
    """The environment for child interpreters: this checkout importable first."""
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("PYTHONSTARTUP", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # users' installs have .pyc files; so do the children
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(name, None)
    env["NO_PROXY"] = "*"
    env["KSTALERTS_NO_DISCOVERY"] = "1"
    return env


@contextlib.contextmanager
def spawn_server(kind: str, *args: str) -> Iterator[Tuple[int, "subprocess.Popen[str]"]]:
    """Start ``benchmarks/_servers.py KIND ARGS`` in its own process; yield its port.

    A separate process, so the server does not share the client's GIL: on a
    two-core machine the client measures its own cost, not the server's.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks._servers", kind, *args],
        cwd=ROOT,
        env=python_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        universal_newlines=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.strip().isdigit():
            raise RuntimeError(f"{kind} server did not start (said {line!r})")
        yield int(line), proc
    finally:
        if proc.stdin is not None:
            proc.stdin.close()  # the server exits when its stdin closes
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _lscpu_model() -> str:
    try:
        out = subprocess.run(
            ["lscpu"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return platform.processor() or "unknown"
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            universal_newlines=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def machine_info() -> Dict[str, Any]:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            mem_kb = int(fh.readline().split()[1])
    except (OSError, ValueError, IndexError):
        mem_kb = 0
    return {
        "cpu": _lscpu_model(),
        "nproc": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "executable": sys.executable,
        "commit": _git_commit(),
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def _fmt(value: Optional[float], unit: str = "") -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        text = f"{value:,.0f}"
    elif abs(value) >= 100:
        text = f"{value:.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"
    return f"{text} {unit}".strip()


def _met(result: Result) -> str:
    if result.met is None:
        return ""
    return "yes" if result.met else "NO"


def _rows(results: Sequence[Result]) -> List[List[str]]:
    rows = []
    for r in results:
        base = _fmt(r.baseline, r.unit) if r.baseline is not None else ""
        if base and r.baseline_label:
            base = f"{base} ({r.baseline_label})"
        ratio = f"{r.ratio:.2f}x" if r.ratio is not None else ""
        value = _fmt(r.value, r.unit) if r.value is not None else "not run"
        rows.append([r.benchmark, r.metric, value, base, ratio, r.target, _met(r), r.note])
    return rows


_HEADER = ["benchmark", "metric (median)", "value", "baseline", "ratio", "target", "met", "note"]


def format_table(results: Sequence[Result]) -> str:
    rows = [_HEADER, *_rows(results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADER))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_markdown(results: Sequence[Result], machine: Dict[str, Any]) -> str:
    lines = [
        "| " + " | ".join(_HEADER) + " |",
        "|" + "---|" * len(_HEADER),
    ]
    for row in _rows(results):
        lines.append("| " + " | ".join(cell.replace("|", "/") for cell in row) + " |")
    lines.append("")
    lines.append(
        f"Machine: {machine['cpu']}, {machine['nproc']} CPUs, {machine['memory_gib']} GiB, "
        f"{machine['platform']}; Python {machine['python']} ({machine['python_implementation']}); "
        f"commit {machine['commit']}; {machine['date_utc']}."
    )
    return "\n".join(lines)


def dump_json(path: str, payload: Dict[str, Any]) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, indent=2, sort_keys=False)
        fh.write("\n")
