"""Cold ``import kstalerts`` in a fresh interpreter.

Three commands run in turn, round after round, each in a new process:
the bare interpreter (``pass``), an import of the standard-library modules
kstalerts itself pulls in (the floor the package cannot go under without
importing less), and ``import kstalerts``. The figure is the median wall
time of each; the target is kstalerts under 15 ms above the bare
interpreter, with none of the heavy modules (ssl, http.client, smtplib,
email, asyncio, concurrent.futures) loaded.

The interpreters run with ``-I -S``: no ``site``, so no ``.pth`` file of
the environment can pre-load modules and hide part of the cost (an editable
install's finder, for one, loads ``re``, ``enum`` and ``collections`` at
start-up). That is the whole cost a script pays on a bare interpreter; the
same figure with ``site`` on, in this environment, is given in the note.
``import kstalerts.channels`` is measured too. A full run (21 interleaved
rounds) repeats the main line on every other supported CPython (3.6+) that
pyenv has on the machine (or those listed in ``KSTALERTS_BENCH_PYTHONS``,
separated by ``:``), one line per Python, oldest first.
"""

import glob
import json
import os
import subprocess
import sys
import time
from typing import Dict, List, Tuple

from ._harness import ROOT, Result, median, python_env, rounds

NAME = "import"
TARGET_MS = 15.0
HEAVY = ("ssl", "http.client", "smtplib", "email", "asyncio", "concurrent.futures")

_ISOLATED = ("-I", "-S")
_PATH = f"import sys; sys.path.insert(0, {ROOT!r})"

_PROBE = """
import sys, json
sys.path.insert(0, {root!r})
before = set(sys.modules)
import {module}
# top-level public modules only: each brings its own parts, and importing
# genericpath before os (as a sorted list would) fails on 3.10 and older
new = sorted(m for m in set(sys.modules) - before if '.' not in m and not m.startswith('_')
             and m not in ('kstalerts', 'genericpath', 'posixpath', 'ntpath'))
print(json.dumps({{"stdlib": new, "heavy": [m for m in {heavy!r} if m in sys.modules],
                  "python": sys.version.split()[0]}}))
"""


def _probe(python: str, module: str) -> Dict[str, List[str]]:
    out = subprocess.run(
        [python, *_ISOLATED, "-c", _PROBE.format(root=ROOT, module=module, heavy=HEAVY)],
        cwd=ROOT,
        env=python_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        check=True,
    )
    result: Dict[str, List[str]] = json.loads(out.stdout)
    return result


def _wall(python: str, code: str, isolated: bool = True) -> float:
    flags = _ISOLATED if isolated else ()
    if isolated:
        code = f"{_PATH}; {code}"
    start = time.perf_counter()
    subprocess.run([python, *flags, "-c", code], cwd=ROOT, env=python_env(), check=True)
    return (time.perf_counter() - start) * 1000.0


def _other_pythons() -> List[str]:
    listed = os.environ.get("KSTALERTS_BENCH_PYTHONS")
    if listed is not None:
        return [p for p in listed.split(os.pathsep) if p]
    found = []
    for path in glob.glob("/root/.pyenv/versions/3.*/bin/python"):
        version = path.split("/")[-3]
        parts = version.split(".")
        if len(parts) >= 2 and parts[1].isdigit() and int(parts[1]) >= 6:
            found.append((int(parts[1]), path))
    return [path for _minor, path in sorted(found)]


def _measure(python: str, n: int, main: bool) -> Dict[str, List[float]]:
    probe = _probe(python, "kstalerts")
    commands: Dict[str, Tuple[str, bool]] = {
        "bare": ("pass", True),
        "stdlib": ("; ".join(f"__import__({m!r})" for m in probe["stdlib"]) or "pass", True),
        "kstalerts": ("import kstalerts", True),
    }
    if main:
        commands["channels"] = ("import kstalerts.channels", True)
        commands["bare_site"] = ("pass", False)
        commands["kstalerts_site"] = ("import kstalerts", False)
    for code, isolated in commands.values():  # warm the OS file cache and the .pyc files
        _wall(python, code, isolated)
    samples: Dict[str, List[float]] = {key: [] for key in commands}
    for i in range(n):
        keys = list(commands)
        # rotate the order so no command always runs first after a pause
        keys = keys[i % len(keys) :] + keys[: i % len(keys)]
        for key in keys:
            samples[key].append(_wall(python, *commands[key]))
    return samples


def _line(label: str, python: str, samples: Dict[str, List[float]], key: str, n: int) -> Result:
    bare = median(samples["bare"])
    stdlib = median(samples["stdlib"])
    value = median(samples[key])
    probe = _probe(python, "kstalerts" if key == "kstalerts" else "kstalerts.channels")
    heavy = probe["heavy"]
    above = value - bare
    note = f"bare {bare:.1f} ms; " + (
        "HEAVY modules loaded: " + ", ".join(heavy) if heavy else "no heavy module"
    )
    details: Dict[str, object] = {}
    if "kstalerts_site" in samples and key == "kstalerts":
        with_site = median(samples["kstalerts_site"]) - median(samples["bare_site"])
        note += f"; with site on: {with_site:.1f} ms above bare"
        details["with_site_above_bare_ms"] = with_site
    return Result(
        NAME,
        f"{label} on Python {probe['python']}: ms above bare interpreter (-I -S)",
        above,
        "ms",
        baseline=stdlib - bare,
        baseline_label="its stdlib modules alone, above bare",
        target=f"< {TARGET_MS:g} ms above bare",
        met=above < TARGET_MS and not heavy,
        rounds=n,
        note=(
            f"bare {bare:.1f} ms; "
            + ("HEAVY modules loaded: " + ", ".join(heavy) if heavy else "no heavy module")
        ),
        samples=samples[key],
        details={
            "python": python,
            "bare_ms": bare,
            "stdlib_floor_ms": stdlib,
            "total_ms": value,
            "stdlib_modules": probe["stdlib"],
            "bare_samples": samples["bare"],
            "stdlib_samples": samples["stdlib"],
        },
    )


def run(quick: bool) -> List[Result]:
    n = rounds(quick, full=21, fast=5)
    samples = _measure(sys.executable, n, main=True)
    results = [
        _line("import kstalerts", sys.executable, samples, "kstalerts", n),
        _line("import kstalerts.channels", sys.executable, samples, "channels", n),
    ]
    if not quick:
        m = n
        for python in _other_pythons():
            if os.path.realpath(python) == os.path.realpath(sys.executable):
                continue
            try:
                other = _measure(python, m, main=False)
            except (OSError, subprocess.CalledProcessError) as exc:
                results.append(Result(NAME, f"import kstalerts with {python}", None, "ms", note=str(exc)))
                continue
            results.append(_line("import kstalerts", python, other, "kstalerts", m))
    return results
