"""Fail when ``import kstalerts`` loads a module a cron job should not pay for.

``python .ci/import_smoke.py [PYTHON ...]`` imports the package in a fresh
``-I -S`` interpreter (no site, no environment: nothing else pre-loads a
module) for each PYTHON (default: the one running this script) and prints
what it loaded that it must not: the stdlib modules in :data:`FORBIDDEN`
(or a submodule of one), any config module (discovery, parsing, wiring)
and any channel module. Exit status 1 names them.

It also runs ``kstalerts send --dry-run --config FILE`` (one Slack channel,
from an empty folder and ``HOME``) and fails when that loads a module of a
stage or state the file does not configure (:data:`UNCONFIGURED`): the
channel's pipeline is built as for a real send, nothing is sent.

It also imports, each in its own fresh interpreter, the modules a cron job's
one alert or one ``kstalerts send`` runs (:data:`DEEP`): they may load what
sending needs, but not ``typing`` (every module takes its typing names
from ``kstalerts/_typing.py``, whose run-time stand-ins cost next to nothing).
"""

import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: stdlib modules `import kstalerts` must not load (their own import time is
#: most of what a cold cron job would pay for the package).
FORBIDDEN = ("typing", "logging", "ssl", "http.client", "email", "smtplib", "concurrent.futures", "asyncio")
#: package modules that must wait for their first use.
FORBIDDEN_OURS = ("kstalerts.config", "kstalerts.channels", "kstalerts.transports", "kstalerts.net")

#: package modules a one-channel ``send --config`` must not load (no throttle,
#: dedup, spool, lifecycle or credentials section; no digest held back).
UNCONFIGURED = (
    "kstalerts.throttle",
    "kstalerts.dedup",
    "kstalerts.spool",
    "kstalerts.digest",
    "kstalerts.lifecycle",
    "kstalerts.config.credentials",
    "kstalerts.pipeline.throttling",
    "kstalerts.pipeline.dedup",
    "kstalerts.pipeline.spool",
    "kstalerts.pipeline.lifecycle",
)

_CONFIG = """alerts:
  channels:
    ops: {type: slack, webhook_url: "https://hooks.slack.com/services/T0/B0/XXXXXXXX"}
"""

_SEND_PROBE = """
import json, sys
sys.path.insert(0, {root!r})
from kstalerts.cli import main
code = main(["send", "--title", "t", "--dry-run", "--config", {config!r}])
sys.stdout.flush()
sys.stderr.write(json.dumps([code, sorted(sys.modules)]))
"""

#: modules that import a send's or the CLI's whole path, and what they must not load.
DEEP = ("kstalerts.cli", "kstalerts.manager", "kstalerts.channels.slack")
DEEP_FORBIDDEN = ("typing",)

_PROBE = """
import json, sys
sys.path.insert(0, {root!r})
import {module}
print(json.dumps([sys.version.split()[0], sorted(sys.modules)]))
"""


def loaded_by_import(python, module="kstalerts"):
    """``(version, names in sys.modules)`` after ``import module`` under ``python -I -S``."""
    probe = [python, "-I", "-S", "-c", _PROBE.format(root=ROOT, module=module)]
    version, modules = json.loads(subprocess.check_output(probe, universal_newlines=True))  # noqa: S603
    return version, modules


def loaded_by_send(python):
    """``(exit code, names in sys.modules)`` after a one-channel ``send --dry-run`` under ``python -I -S``."""
    with tempfile.TemporaryDirectory(prefix="kstalerts-smoke-") as folder:
        config = os.path.join(folder, "alerts.yml")
        with open(config, "w", encoding="utf-8") as handle:
            handle.write(_CONFIG)
        probe = [python, "-I", "-S", "-c", _SEND_PROBE.format(root=ROOT, config=config)]
        env = dict(os.environ, HOME=folder)
        pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "universal_newlines": True}
        done = subprocess.run(probe, cwd=folder, env=env, **pipes)  # noqa: S603
    code, modules = json.loads(done.stderr.splitlines()[-1])
    return code, modules


def unconfigured(modules):
    """The loaded modules of stages and states the config does not ask for, sorted."""
    return sorted(m for m in modules if any(m == u or m.startswith(u + ".") for u in UNCONFIGURED))


def offenders(modules, bad=FORBIDDEN + FORBIDDEN_OURS):
    """The loaded modules that are forbidden, sorted."""
    return sorted(m for m in modules if any(m == b or m.startswith(b + ".") for b in bad))


def main(argv):
    pythons = argv or [sys.executable]
    failed = False
    for python in pythons:
        version, modules = loaded_by_import(python)
        found = offenders(modules)
        if found:
            failed = True
            print(f"import kstalerts on Python {version} loads: {', '.join(found)}")
        else:
            print(f"import kstalerts on Python {version}: none of {', '.join(FORBIDDEN)}")
        code, modules = loaded_by_send(python)
        extra = unconfigured(modules)
        what = f"kstalerts send --config (one Slack channel) on Python {version}"
        if code != 0 or extra or "kstalerts.config.wiring" not in modules:
            failed = True
            print(f"{what}: exit {code}, loads: {', '.join(extra)}")
        else:
            print(f"{what}: no unconfigured stage")
        deep_ok = True
        for module in DEEP:
            version, modules = loaded_by_import(python, module)
            found = offenders(modules, DEEP_FORBIDDEN)
            if found:
                failed, deep_ok = True, False
                print(f"import {module} on Python {version} loads: {', '.join(found)}")
        if deep_ok:
            print(f"import {', '.join(DEEP)} on Python {version}: no {', '.join(DEEP_FORBIDDEN)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
