"""Start and reap the child processes of tests/spool_children.py."""

import os
import pathlib
import subprocess
import sys
from typing import List

ROOT = pathlib.Path(__file__).resolve().parent.parent


def start(*args: str) -> "subprocess.Popen[str]":
    """Run ``python -m tests.spool_children *args`` with stdout piped."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.Popen(
        [sys.executable, "-m", "tests.spool_children", *args],
        cwd=str(ROOT),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
    )


def wait_ready(child: "subprocess.Popen[str]") -> None:
    """Block until the child printed its ``ready`` line."""
    assert child.stdout is not None
    line = child.stdout.readline()
    if line.strip() != "ready":
        child.kill()
        _, err = child.communicate(timeout=10)
        raise AssertionError(f"child did not start: {line!r} {err}")


def finish(children: List["subprocess.Popen[str]"], timeout: float = 30.0) -> List[str]:
    """Wait for every child; return their stdout; kill any left over."""
    outputs = []
    try:
        for child in children:
            out, err = child.communicate(timeout=timeout)
            assert child.returncode == 0, err
            outputs.append(out)
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.communicate()
    return outputs
