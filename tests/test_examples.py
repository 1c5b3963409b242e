"""Every example runs against the loopback sinks (no environment variables set)."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def _env() -> Dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SMTP_", "ALERT_", "KSTALERTS_"))
    }
    env["PYTHONPATH"] = str(ROOT)
    env["KSTALERTS_NO_DISCOVERY"] = "1"
    return env


def _run(*cmd: str) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(
        list(cmd),
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=60,
    )


def test_every_example_is_tested() -> None:
    assert sorted(p.name for p in EXAMPLES.iterdir() if p.suffix in (".py", ".sh")) == [
        "cron_wrapper.sh",
        "email_basic.py",
        "logging_handler.py",
        "multi_channel.py",
        "slack_basic.py",
    ]


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("slack_basic.py", ["the sink received 2 post(s)"]),
        ("email_basic.py", ["the sink received: to oncall@example.com: [ALERT]"]),
        ("multi_channel.py", ["sent 4, failed 0, throttled 2"]),
        ("logging_handler.py", ["alerts sent: 3, failed: 0", "an alert went out first"]),
    ],
)
def test_python_example(script: str, expected: List[str]) -> None:
    proc = _run(sys.executable, str(EXAMPLES / script))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for text in expected:
        assert text in proc.stdout


def test_cron_wrapper_passes_a_success_through_without_alerting() -> None:
    proc = _run(
        "env",
        f"PYTHON={sys.executable}",
        "bash",
        str(EXAMPLES / "cron_wrapper.sh"),
        "ok-job",
        "echo",
        "all good",
    )
    assert proc.returncode == 0, proc.stderr
    assert "all good" in proc.stdout
    assert "delivered" not in proc.stdout


def test_cron_wrapper_alerts_on_failure_and_keeps_the_exit_code() -> None:
    proc = _run(
        "env",
        f"PYTHON={sys.executable}",
        "bash",
        str(EXAMPLES / "cron_wrapper.sh"),
        "nightly-backup",
        "sh",
        "-c",
        "echo copying; echo 'No space left on device' >&2; exit 3",
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "No space left on device" in proc.stdout
    assert "ops: delivered (1 attempt(s))" in proc.stdout.splitlines()
    assert proc.stderr == ""


def test_cron_wrapper_needs_a_command() -> None:
    proc = _run("bash", str(EXAMPLES / "cron_wrapper.sh"), "job")
    assert proc.returncode == 2
    assert proc.stderr.startswith("usage: cron_wrapper.sh JOB_NAME COMMAND")
