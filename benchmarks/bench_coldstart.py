"""What a fresh process pays for kstalerts: a cron job that sends one alert.

Three comparisons, each a set of commands run in turn, round after round
(the order rotated each round), every run a new process timed from outside
(start to exit); the figures are medians and the ratios are taken between
medians of the same run:

- **library**: a script that builds ``AlertManager()`` and a
  ``SlackChannel`` and sends ONE alert to a loopback webhook, against the
  least a script can do for the same POST (``http.client``, pre-built JSON:
  the floor). Target: ratio <= 1.2.
- **cli**: ``kstalerts send --title ... --config FILE`` (a config with one
  Slack channel) against the same floor. Target: ratio <= 1.2.
- **import**: ``python -I -S -c "import kstalerts"`` against the bare
  interpreter and against ``import logging``; the figure is kstalerts'
  time above bare divided by ``import logging``'s time above bare.
  Target: <= 0.5, on this Python and on every other supported one found
  (pyenv's 3.6+, or ``KSTALERTS_BENCH_PYTHONS``, ``:``-separated).

Config discovery stays on for the library and the CLI, as in a real cron
job, from an empty working directory with an empty ``HOME``: the search
finds nothing and the built-in defaults apply.

By default the fresh processes run this interpreter with the checkout on
``PYTHONPATH`` (an editable install's ``.pth`` finder, when there is one,
runs in every process, the floor's too). ``KSTALERTS_BENCH_INSTALLED`` names
the ``python`` of another environment where the package was installed as
users install it (``python -m venv v && v/bin/pip install .``, not ``-e``):
the floor, the library script and that environment's ``kstalerts`` console
script then all run there, without the checkout on the path.
"""

import glob
import os
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Sequence, Tuple

from ._harness import ROOT, Result, median, python_env, rounds, spawn_server

NAME = "coldstart"
TARGET_FRESH = 1.2
TARGET_IMPORT = 0.5
PATH = "/services/T000/B000/XXXXXXXX"

_RAW = """import http.client, json, sys
body = json.dumps({"text": "[WARNING] Disk almost full\\n/var at 93%% on db-1"}).encode()
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
conn.request("POST", %(path)r, body=body, headers={"Content-Type": "application/json; charset=utf-8"})
response = conn.getresponse()
assert response.status == 200 and response.read() == b"ok"
conn.close()
"""

_LIBRARY = """import sys
from kstalerts import AlertLevel, AlertManager, AlertMessage
from kstalerts.channels import SlackChannel
url = "http://127.0.0.1:%%s%(path)s" %% sys.argv[1]
with AlertManager() as manager:
    manager.add_channel(SlackChannel(url, allow_custom_url=True, max_retries=0), key="slack")
    results = manager.send(AlertMessage("Disk almost full", "/var at 93%% on db-1", AlertLevel.WARNING))
assert results[0].success, results
"""

_CONFIG = """alerts:
  channels:
    slack:
      type: slack
      webhook_url: "http://127.0.0.1:%(port)d%(path)s"
      allow_custom_url: true
      max_retries: 0
"""


def _run(cmd: Sequence[str], cwd: str, env: Dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(list(cmd), cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
    return (time.perf_counter() - start) * 1000.0


def _alternate(
    commands: Dict[str, Sequence[str]], n: int, cwd: str, env: Dict[str, str]
) -> Dict[str, List[float]]:
    for cmd in commands.values():  # warm the OS file cache and write the .pyc files
        _run(cmd, cwd, env)
    samples: Dict[str, List[float]] = {key: [] for key in commands}
    for i in range(n):
        keys = list(commands)
        keys = keys[i % len(keys) :] + keys[: i % len(keys)]
        for key in keys:
            samples[key].append(_run(commands[key], cwd, env))
    return samples


def _cli(python: str) -> List[str]:
    script = os.path.join(os.path.dirname(python), "kstalerts")
    if os.path.exists(script):  # the console script a user runs
        return [script]
    return [python, "-m", "kstalerts"]


def _interpreter() -> "Tuple[str, Dict[str, str], str]":
    """The python the fresh processes run, their environment, and a word for the table."""
    env = python_env()
    env.pop("KSTALERTS_NO_DISCOVERY", None)  # discovery on, as in a cron job; it finds nothing here
    installed = os.environ.get("KSTALERTS_BENCH_INSTALLED")
    if not installed:
        return sys.executable, env, "checkout on PYTHONPATH"
    paths = [p for p in env["PYTHONPATH"].split(os.pathsep) if p and p != ROOT]
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(paths)
    else:
        del env["PYTHONPATH"]
    return installed, env, f"installed package ({installed})"


def _fresh(n: int) -> List[Result]:
    results = []
    with tempfile.TemporaryDirectory(prefix="kstalerts-bench-cold-") as folder, spawn_server("http") as (
        port,
        _proc,
    ):
        raw, library, config = (os.path.join(folder, name) for name in ("raw.py", "library.py", "alerts.yml"))
        for path, text in ((raw, _RAW), (library, _LIBRARY), (config, _CONFIG)):
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text % {"path": PATH, "port": port})
        python, env, where = _interpreter()
        env["HOME"] = folder
        commands = {
            "raw": [python, raw, str(port)],
            "library": [python, library, str(port)],
            "cli": [*_cli(python), "send", "--title", "Disk almost full", "--config", config],
        }
        samples = _alternate(commands, n, folder, env)
    floor = median(samples["raw"])
    for key, label in (
        ("library", "fresh process: AlertManager() + SlackChannel, one alert"),
        ("cli", "fresh process: kstalerts send --config FILE (one Slack channel)"),
    ):
        value = median(samples[key])
        results.append(
            Result(
                NAME,
                label,
                value,
                "ms",
                baseline=floor,
                baseline_label="raw http.client script, same POST",
                ratio=value / floor,
                target=f"ratio <= {TARGET_FRESH:g}",
                met=value / floor <= TARGET_FRESH,
                rounds=n,
                note=f"+{value - floor:.1f} ms over the floor; wall time, start to exit; {where}",
                samples=samples[key],
                details={"raw_samples": samples["raw"]},
            )
        )
    return results


def _pythons() -> List[str]:
    listed = os.environ.get("KSTALERTS_BENCH_PYTHONS")
    found = [p for p in listed.split(os.pathsep) if p] if listed is not None else []
    if listed is None:
        for path in sorted(glob.glob("/root/.pyenv/versions/3.*/bin/python")):
            minor = path.split("/")[-3].split(".")[1]
            if minor.isdigit() and int(minor) == 6:  # the oldest supported, next to this one
                found.append(path)
    mine = os.path.realpath(sys.executable)
    return [sys.executable] + [p for p in found if os.path.realpath(p) != mine]


def _imports(n: int) -> List[Result]:
    results = []
    path = f"import sys; sys.path.insert(0, {ROOT!r})"
    for python in _pythons():
        version = subprocess.run(
            [python, "-c", "import sys; print(sys.version.split()[0])"],
            stdout=subprocess.PIPE,
            universal_newlines=True,
            check=True,
        ).stdout.strip()
        commands = {
            key: [python, "-I", "-S", "-c", f"{path}; {code}"]
            for key, code in (
                ("bare", "pass"),
                ("logging", "import logging"),
                ("kstalerts", "import kstalerts"),
            )
        }
        samples = _alternate(commands, n, ROOT, python_env())
        bare = median(samples["bare"])
        ours = median(samples["kstalerts"]) - bare
        logging_cost = median(samples["logging"]) - bare
        ratio = ours / logging_cost if logging_cost > 0 else float("inf")
        results.append(
            Result(
                NAME,
                f"import kstalerts above bare, Python {version} (-I -S)",
                ours,
                "ms",
                baseline=logging_cost,
                baseline_label="import logging above bare",
                ratio=ratio,
                target=f"ratio <= {TARGET_IMPORT:g}",
                met=ratio <= TARGET_IMPORT,
                rounds=n,
                note=f"bare interpreter {bare:.1f} ms",
                samples=samples["kstalerts"],
                details={
                    "python": python,
                    "bare_samples": samples["bare"],
                    "logging_samples": samples["logging"],
                },
            )
        )
    return results


def run(quick: bool) -> List[Result]:
    n = rounds(quick, full=21, fast=3)
    return _fresh(n) + _imports(n)
