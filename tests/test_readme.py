"""The README's two newcomer commands are real: read from the README, run as written."""

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_command(name: str) -> str:
    """What ``.ci/readme_commands.py NAME`` prints: the command as CI runs it."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / ".ci" / "readme_commands.py"), name],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=30,
        check=True,
    )
    return proc.stdout.strip()


def test_demo_command_runs_as_written_in_under_5_seconds() -> None:
    command = readme_command("demo")
    assert command == "python3 -m kstalerts demo"
    started = time.monotonic()
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", command],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=60,
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "demo OK" in proc.stdout
    assert elapsed < 5.0


def test_test_command_is_what_ci_runs() -> None:
    command = readme_command("test")
    steps = command.split(" && ")
    assert steps[0] == "python3 -m venv .venv"
    assert any("pip install" in step and ".[test]" in step for step in steps)
    assert steps[-1].startswith(".venv/bin/python -m pytest")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert 'test_cmd="$(python3 .ci/readme_commands.py test)"' in ci
    assert 'bash -euo pipefail -c "$test_cmd' in ci
