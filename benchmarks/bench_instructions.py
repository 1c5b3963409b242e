"""Instructions, not milliseconds: what kstalerts adds to a process, counted.

``python benchmarks/run.py --only instructions`` runs each command under
``valgrind --tool=callgrind`` and reads the number of instructions the
process executed. Unlike wall or CPU time it does not move with the load of
a shared machine (the same command repeats within 0.2 %), so its ratios are
the steady view of issue 28's targets, and a CI bound on them can be tight
(``.ci/steps/50-benchmarks-smoke.sh``).

- **cold**: one fresh process sending ONE alert to a loopback webhook,
  against the raw ``http.client`` script of ``bench_coldstart`` (the same
  commands: ``AlertManager()`` + ``SlackChannel``, and the ``kstalerts``
  console script's ``send --config FILE``), from an empty folder and
  ``HOME`` with discovery on.
- **warm**: the instructions of one alert over a kept-alive connection,
  as the difference of two runs of the same script (``N2`` and ``N1``
  alerts) divided by ``N2 - N1``, so the start-up cancels out: a raw
  ``http.client`` loop posting the Slack payload's bytes (the floor of
  ``bench_slack``), ``SlackChannel.send`` and ``AlertManager.send`` (one
  channel).

Without ``valgrind`` the lines say so (and, under ``CI=true``, the
benchmark fails: the smoke's bound would check nothing).
"""

import os
import shutil
import subprocess
import sys
import tempfile
from typing import Dict, List, Sequence

from . import bench_coldstart
from ._harness import Result, spawn_server

NAME = "instructions"
PATH = bench_coldstart.PATH

_WARM_RAW = """import http.client, sys
port, count, body = int(sys.argv[1]), int(sys.argv[2]), open(sys.argv[3], "rb").read()
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
headers = {"Content-Type": "application/json; charset=utf-8"}
for _ in range(count):
    conn.request("POST", %(path)r, body=body, headers=headers)
    response = conn.getresponse()
    assert response.status == 200 and response.read() == b"ok"
"""

_WARM_KSTALERTS = """import sys
from kstalerts import AlertLevel, AlertManager, AlertMessage
from kstalerts.channels import SlackChannel
port, count, through = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
channel = SlackChannel("http://127.0.0.1:%%d%(path)s" %% port, allow_custom_url=True, max_retries=0)
alert = AlertMessage("Disk almost full", "/var at 93%% on db-1", AlertLevel.WARNING)
if through == "manager":
    manager = AlertManager().add_channel(channel)
    for _ in range(count):
        assert manager.send(alert)[0].success
else:
    for _ in range(count):
        assert channel.send(alert).success
"""


def _count(cmd: Sequence[str], cwd: str, env: Dict[str, str]) -> int:
    """Instructions ``cmd`` executed, all its threads included."""
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *cmd],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        check=True,
    ).stderr
    for line in out.splitlines():
        if "Collected :" in line:
            return int(line.rsplit(":", 1)[1].strip())
    raise RuntimeError(f"callgrind printed no count for {cmd!r}")


def _payload(port: int) -> bytes:
    from kstalerts import AlertLevel, AlertMessage

    from ._channels import slack_channel
    from .bench_slack import _payload_bytes

    alert = AlertMessage("Disk almost full", "/var at 93% on db-1", AlertLevel.WARNING)
    return _payload_bytes(slack_channel(port), alert)


def run(quick: bool) -> List[Result]:
    if shutil.which("valgrind") is None:
        if os.environ.get("CI") == "true":
            raise RuntimeError("valgrind is not installed: the instruction counts cannot be taken")
        return [Result(NAME, "(not run)", None, "", note="valgrind is not installed")]
    low, high = (20, 120) if quick else (200, 1200)
    results: List[Result] = []
    python, env, where = bench_coldstart._interpreter()
    with tempfile.TemporaryDirectory(prefix="kstalerts-bench-instr-") as folder, spawn_server("http") as (
        port,
        _proc,
    ):
        env["HOME"] = folder
        env["PYTHONHASHSEED"] = "0"  # the same string hashes, so the same dict and set work, every run
        files = {
            "raw.py": bench_coldstart._RAW,
            "library.py": bench_coldstart._LIBRARY,
            "alerts.yml": bench_coldstart._CONFIG,
            "warm_raw.py": _WARM_RAW,
            "warm_kstalerts.py": _WARM_KSTALERTS,
        }
        for name, text in files.items():
            with open(os.path.join(folder, name), "w", encoding="utf-8") as handle:
                handle.write(text % {"path": PATH, "port": port})
        body = os.path.join(folder, "body.json")
        with open(body, "wb") as handle:
            handle.write(_payload(port))
        cold = {
            "raw": [python, "raw.py", str(port)],
            "library": [python, "library.py", str(port)],
            "cli": [
                *bench_coldstart._cli(python),
                "send",
                "--title",
                "Disk almost full",
                "--config",
                "alerts.yml",
            ],
        }
        for cmd in cold.values():  # write the .pyc files first: a user's install has them
            subprocess.run(cmd, cwd=folder, env=env, check=True, stdout=subprocess.DEVNULL)
        counts = {key: _count(cmd, folder, env) for key, cmd in cold.items()}
        for key, label in (
            ("library", "fresh process, one alert: AlertManager() + SlackChannel"),
            ("cli", "fresh process, one alert: kstalerts send --config FILE"),
        ):
            results.append(_line(label, counts[key], counts["raw"], "raw http.client script", 1.2, where))
        warm = {
            "raw": lambda n: [python, "warm_raw.py", str(port), str(n), body],
            "channel": lambda n: [python, "warm_kstalerts.py", str(port), str(n), "channel"],
            "manager": lambda n: [python, "warm_kstalerts.py", str(port), str(n), "manager"],
        }
        per_alert = {
            key: (_count(cmd(high), folder, env) - _count(cmd(low), folder, env)) / (high - low)
            for key, cmd in warm.items()
        }
        for key, label, target in (
            ("channel", "per alert, kept-alive: SlackChannel.send", 1.15),
            ("manager", "per alert, kept-alive: AlertManager.send, one Slack channel", 1.25),
        ):
            floor = per_alert["raw"]
            results.append(
                _line(label, per_alert[key], floor, "raw http.client POST", target, f"{high - low} alerts")
            )
    return results


def _line(label: str, value: float, floor: float, floor_label: str, target: float, note: str) -> Result:
    return Result(
        NAME,
        f"instructions, {label}",
        value,
        "instr",
        baseline=floor,
        baseline_label=f"{floor_label}, same run",
        ratio=value / floor,
        target=f"ratio <= {target:g}",
        met=value / floor <= target,
        rounds=1,
        note=f"valgrind --tool=callgrind; {note}; Python {sys.version.split()[0]}",
        samples=[value],
        details={"floor_samples": [floor]},
    )
