"""Fail when ``import kstalerts`` loads a module a cron job should not pay for.

``python .ci/import_smoke.py [PYTHON ...]`` imports the package in a fresh
``-I -S`` interpreter (no site, no environment: nothing else pre-loads a
module) for each PYTHON (default: the one running this script) and prints
what it loaded that it must not: the stdlib modules in :data:`FORBIDDEN`
(or a submodule of one), any config module (discovery, parsing, wiring)
and any channel module. Exit status 1 names them.
"""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: stdlib modules `import kstalerts` must not load (their own import time is
#: most of what a cold cron job would pay for the package).
FORBIDDEN = ("typing", "logging", "ssl", "http.client", "email", "smtplib", "concurrent.futures", "asyncio")
#: package modules that must wait for their first use.
FORBIDDEN_OURS = ("kstalerts.config", "kstalerts.channels", "kstalerts.transports", "kstalerts.net")

_PROBE = """
import json, sys
sys.path.insert(0, {root!r})
import kstalerts
print(json.dumps([sys.version.split()[0], sorted(sys.modules)]))
"""


def loaded_by_import(python):
    """``(version, names in sys.modules)`` after ``import kstalerts`` under ``python -I -S``."""
    probe = [python, "-I", "-S", "-c", _PROBE.format(root=ROOT)]
    version, modules = json.loads(subprocess.check_output(probe, universal_newlines=True))  # noqa: S603
    return version, modules


def offenders(modules):
    """The loaded modules that are forbidden, sorted."""
    bad = FORBIDDEN + FORBIDDEN_OURS
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
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
