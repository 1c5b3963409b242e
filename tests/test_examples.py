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
    assert sorted(
        p.name for p in EXAMPLES.iterdir() if p.suffix in (".py", ".sh") or p.name == "crontab"
    ) == [
        "crontab",
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
        ("multi_channel.py", ["sent 5, failed 0, throttled 1"]),
        ("logging_handler.py", ["alerts sent: 3, failed: 0", "an alert went out first"]),
    ],
)
def test_python_example(script: str, expected: List[str]) -> None:
    proc = _run(sys.executable, str(EXAMPLES / script))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for text in expected:
        assert text in proc.stdout


def _crontab_commands() -> List[List[str]]:
    """The command of each job line of examples/crontab, split as sh would."""
    import shlex

    commands = []
    for line in (EXAMPLES / "crontab").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#") or "=" in line.split()[0]:
            continue
        commands.append(shlex.split(line)[5:])  # after the five time fields
    return commands


def test_every_crontab_line_is_a_valid_kstalerts_run() -> None:
    from kstalerts.cli import build_parser

    commands = _crontab_commands()
    assert len(commands) == 5
    assert [c for c in commands if c[1] == "tick"] == [["kstalerts", "tick"]]
    for command in (c for c in commands if c[1] != "tick"):
        assert command[:2] == ["kstalerts", "run"], command
        args = build_parser().parse_args(command[1:])
        assert args.command[0] == "--" and len(args.command) > 1, command


def test_a_crontab_line_runs_against_the_loopback_sink(tmp_path: Path) -> None:
    """The backup line, with the job replaced by one that fails: one alert, the job's status."""
    from kstalerts.net.loopback import HTTPSink

    [backup] = [c for c in _crontab_commands() if "backup" in c]
    with HTTPSink() as sink:
        config = tmp_path / "kstlib.conf.yml"
        config.write_text(
            "alerts:\n  channels:\n    ops:\n      type: slack\n"
            f"      webhook_url: {sink.url}\n      allow_custom_url: true\n"
        )
        args = [*backup[1 : backup.index("--")], "--config", str(config), "--state-dir", str(tmp_path)]
        args += ["--", "sh", "-c", "echo copying; echo 'No space left on device' >&2; exit 3"]
        proc = _run(sys.executable, "-m", "kstalerts", *args)
        assert proc.returncode == 3, proc.stderr
        assert proc.stdout == ""  # --quiet
        assert "No space left on device" in proc.stderr
        [post] = sink.posts
    assert post.payload["attachments"][0]["title"].endswith("backup failed: exit 3")


@pytest.mark.parametrize("script", ["slack_basic.py", "email_basic.py", "multi_channel.py", "logging_handler.py"])
def test_python_example_runs_from_a_plain_checkout(script: str, tmp_path: Path) -> None:
    """``python examples/NAME.py`` with kstalerts not importable: the example finds its checkout."""
    env = _env()
    del env["PYTHONPATH"]
    # -S: no site-packages (so no installed or editable kstalerts); run from elsewhere.
    check = subprocess.run(
        [sys.executable, "-S", "-c", "import kstalerts"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
    )
    assert check.returncode == 1 and "No module named 'kstalerts'" in check.stderr
    proc = subprocess.run(
        [sys.executable, "-S", str(EXAMPLES / script)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_examples_use_only_public_names() -> None:
    import re

    for script in sorted(EXAMPLES.glob("*.py")):
        private = re.findall(r"(?:from|import) kstalerts(?:\.\w+)*\._\w+", script.read_text(encoding="utf-8"))
        assert private == [], f"{script.name} imports {private}"
