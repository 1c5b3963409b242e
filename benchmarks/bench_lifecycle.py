"""The alert lifecycle's cost: per alert with it off (before/after) and on, and an idle tick.

Per alert: ``manager.send`` to one in-process channel (a ``CallbackChannel``
that does nothing), median over rounds of 200 sends, in microseconds:

- lifecycle **off**, this tree, and the same code on ``main`` (extracted
  with ``git archive`` into a temporary folder and run in its own
  interpreter, alternating with this tree's), so "off changes nothing" is
  measured, not assumed; and, since a loaded machine makes microseconds
  noisy, the Python function calls one send makes (``sys.setprofile``),
  which do not depend on the load;
- lifecycle **on**, one state folder: a new identity per send (the verdict
  transaction, the delivery, the record transaction) and a repeat of a
  firing identity (the verdict transaction only: held).

Idle tick: ``kstalerts tick`` with a config that turns the lifecycle on and
nothing due, as a whole process (interpreter start-up included), median of
20, beside ``kstalerts send --dry-run`` with the same config, run in turn.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

from ._harness import ROOT, Result, median, python_env, rounds

NAME = "lifecycle"
SENDS = 200

_PER_ALERT = r"""
import json, sys, tempfile, time
from kstalerts import AlertManager, AlertMessage
from kstalerts.channels import CallbackChannel
mode, n = sys.argv[1], int(sys.argv[2])
kwargs = {} if mode == "off" else {"lifecycle": {"state_dir": tempfile.mkdtemp(), "repeat_interval": "1h"}}
manager = AlertManager(**kwargs)
manager.add_channel(CallbackChannel(lambda alert: None, name="ops"))
alerts = [AlertMessage(f"disk {i}", dedup_key=f"k{i}" if mode == "new" else "same") for i in range(n + 1)]
manager.send(alerts[0])
start = time.perf_counter()
for alert in alerts[1:]:
    manager.send(alert)
print(json.dumps((time.perf_counter() - start) / n * 1e6))
"""


_CALLS = r"""
import sys
from kstalerts import AlertManager, AlertMessage
from kstalerts.channels import CallbackChannel
manager = AlertManager()
manager.add_channel(CallbackChannel(lambda alert: None, name="ops"))
manager.send(AlertMessage("warm"))
calls = [0]
def count(frame, event, arg):
    if event in ("call", "c_call"):
        calls[0] += 1
alert = AlertMessage("x")
sys.setprofile(count)
for _ in range(10):
    manager.send(alert)
sys.setprofile(None)
print(calls[0] / 10)
"""


def _calls(path: str) -> float:
    env = dict(python_env(), PYTHONPATH=path)
    out = subprocess.run(
        [sys.executable, "-c", _CALLS],
        cwd=path,
        env=env,
        check=True,
        stdout=subprocess.PIPE,
        universal_newlines=True,
    ).stdout
    return float(out)


def _per_alert(mode: str, path: str, n: int) -> float:
    env = dict(python_env(), PYTHONPATH=path)
    out = subprocess.run(
        [sys.executable, "-c", _PER_ALERT, mode, str(n)],
        cwd=path,
        env=env,
        check=True,
        stdout=subprocess.PIPE,
        universal_newlines=True,
    ).stdout
    value: float = json.loads(out)
    return value


def _main_tree(folder: str) -> Optional[str]:
    """``main``'s package, extracted into ``folder``; None when git cannot give it."""
    try:
        archive = subprocess.run(
            ["git", "-C", ROOT, "archive", "main", "kstalerts"], check=True, stdout=subprocess.PIPE
        ).stdout
        subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return folder


def _wall(cmd: List[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=python_env(), check=True, stdout=subprocess.DEVNULL)
    return (time.perf_counter() - start) * 1000.0


def run(quick: bool) -> List[Result]:
    n = rounds(quick, full=9, fast=2)
    sends = SENDS if not quick else 20
    results: List[Result] = []
    with tempfile.TemporaryDirectory(prefix="kstalerts-bench-main-") as folder:
        before = _main_tree(folder)
        samples: Dict[str, List[float]] = {"main": [], "off": [], "new": [], "held": []}
        for _ in range(n):
            if before is not None:
                samples["main"].append(_per_alert("off", before, sends))
            samples["off"].append(_per_alert("off", ROOT, sends))
            samples["new"].append(_per_alert("new", ROOT, sends))
            samples["held"].append(_per_alert("held", ROOT, sends))
        calls = (_calls(before) if before is not None else None, _calls(ROOT))
    off = median(samples["off"])
    if calls[0] is not None:
        results.append(
            Result(
                NAME,
                "Python calls per manager.send, lifecycle off (main before -> this tree)",
                calls[1],
                "calls",
                baseline=calls[0],
                baseline_label="main",
                ratio=calls[1] / calls[0],
                target="equal",
                met=calls[1] <= calls[0],
                rounds=1,
            )
        )
    if samples["main"]:
        base = median(samples["main"])
        results.append(
            Result(
                NAME,
                "manager.send, 1 channel, lifecycle off (main before -> this tree)",
                off,
                "us",
                baseline=base,
                baseline_label="main",
                ratio=off / base,
                target="unchanged (within noise)",
                rounds=n,
                samples=samples["off"],
            )
        )
    for key, label in (("new", "a new identity per send"), ("held", "a repeat, held")):
        value = median(samples[key])
        results.append(
            Result(
                NAME,
                f"manager.send, 1 channel, lifecycle on (one state folder): {label}",
                value,
                "us",
                baseline=off,
                baseline_label="lifecycle off",
                ratio=value / off,
                rounds=n,
                samples=samples[key],
            )
        )
    results.extend(_idle_tick(rounds(quick, full=20, fast=2)))
    return results


def _idle_tick(n: int) -> List[Result]:
    with tempfile.TemporaryDirectory(prefix="kstalerts-bench-tick-") as folder:
        config = os.path.join(folder, "kstlib.conf.yml")
        with open(config, "w") as handle:
            handle.write(
                "alerts:\n  lifecycle:\n    state_dir: state\n  channels:\n    ops:\n      type: console\n"
            )
        tick = [sys.executable, "-m", "kstalerts", "tick", "--config", config]
        dry = [sys.executable, "-m", "kstalerts", "send", "--title", "t", "--dry-run", "--config", config]
        for cmd in (tick, dry):  # warm the caches once
            _wall(cmd)
        ticks, dries = [], []
        for _ in range(n):
            ticks.append(_wall(tick))
            dries.append(_wall(dry))
    value, base = median(ticks), median(dries)
    return [
        Result(
            NAME,
            "kstalerts tick with nothing to do, whole process",
            value,
            "ms",
            baseline=base,
            baseline_label="kstalerts send --dry-run",
            ratio=value / base,
            rounds=n,
            samples=ticks,
        )
    ]
