"""Run every install route of docs/install.md (and README.md) exactly as written.

A route is a fenced shell block after ``<!-- route:NAME -->`` (optionally
``<!-- route:NAME pythons=3.6 3.13 -->``; default: every Python 3.6-3.13).
Each runs with ``bash -euo pipefail``, in a fresh copy of the checkout's
tracked files, with ``HOME`` an empty folder and ``python3`` on ``PATH``
being the Python under test; nothing in the block is substituted.

    python3 .ci/install_routes.py [--list] [--only NAME] [--python 3.N]

A missing Python fails (the routes claim every one). Exit 1 when any fails.
"""

import argparse
import concurrent.futures
import glob
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
from typing import List, Tuple

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = (ROOT / "docs" / "install.md", ROOT / "README.md")
ALL_PYTHONS = ("3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13")
_ROUTE = re.compile(r"<!-- route:(\S+)(?: pythons=([\d. ]+))? -->\s*```(?:sh|bash)\n(.*?)```", re.S)


def routes(text: str) -> List[Tuple[str, Tuple[str, ...], str]]:
    """(name, pythons, script) of each marked block, in document order."""
    return [
        (name, tuple(pythons.split()) if pythons else ALL_PYTHONS, script)
        for name, pythons, script in _ROUTE.findall(text)
    ]


def find_python(version: str) -> str:
    pyenv = os.environ.get("PYENV_ROOT", "/root/.pyenv")
    found = sorted(
        glob.glob(f"{pyenv}/versions/{version}.*/bin/python"),
        key=lambda p: [int(n) for n in p.split("/")[-3].split(".")],
    )
    if found:
        return found[-1]
    if os.access(f"/usr/bin/python{version}", os.X_OK):
        return f"/usr/bin/python{version}"
    return ""


def fresh_checkout(where: pathlib.Path) -> pathlib.Path:
    """The tracked files (as they are on disk) copied to ``where/kstalerts``."""
    target = where / "kstalerts"
    listed = subprocess.run(
        ["git", "ls-files", "-z"],  # noqa: S607  (git from PATH, as CI has it)
        cwd=str(ROOT), stdout=subprocess.PIPE, check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(str(source), str(target / name))
    return target


def run_route(name: str, version: str, script: str) -> Tuple[bool, str]:
    python = find_python(version)
    if not python:
        return False, f"no Python {version} on this machine"
    with tempfile.TemporaryDirectory(prefix=f"route-{name}-{version}-") as tmp:
        work = pathlib.Path(tmp)
        checkout = fresh_checkout(work)
        bindir = work / "bin"
        bindir.mkdir()
        (bindir / "python3").symlink_to(python)
        (work / "home").mkdir()
        mine = ("KSTALERTS_", "PYTHON", "VIRTUAL_ENV")
        env = {k: v for k, v in os.environ.items() if not k.startswith(mine)}
        env.update(HOME=str(work / "home"), PATH=f"{bindir}:{os.environ.get('PATH', '')}")
        started = time.monotonic()
        try:
            done = subprocess.run(  # noqa: S603  (the documented route, as written)
                ["bash", "-euo", "pipefail", "-c", script],  # noqa: S607
                cwd=str(checkout), env=env,
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                timeout=900,
            )
        except subprocess.TimeoutExpired:
            return False, "did not finish in 900 s"
        took = time.monotonic() - started
        output = done.stdout.decode("utf-8", "replace")
        if done.returncode != 0:
            return False, f"exit {done.returncode} after {took:.0f} s:\n{output[-3000:]}"
        return True, f"{took:.0f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="list the routes and their Pythons")
    parser.add_argument("--only", metavar="NAME", help="run this route only")
    parser.add_argument("--python", metavar="3.N", help="run on this Python only")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    found = [route for doc in DOCS for route in routes(doc.read_text(encoding="utf-8"))]
    if not found:
        print("FAIL: docs/install.md has no <!-- route:NAME --> block")
        return 1
    runs = [
        (name, version, script)
        for name, pythons, script in found
        if args.only in (None, name)
        for version in pythons
        if args.python in (None, version)
    ]
    if args.list:
        for name, pythons, _ in found:
            print(f"{name}: {' '.join(pythons)}")
        return 0
    failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(run_route, *run): run for run in runs}
        for future in concurrent.futures.as_completed(futures):
            name, version, _ = futures[future]
            ok, detail = future.result()
            failed += not ok
            print(f"{'ok  ' if ok else 'FAIL'} route {name} on Python {version}: {detail}", flush=True)
    print(f"install routes: {len(runs) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
