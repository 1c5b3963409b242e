"""``kstalerts init``: a commented starting config that check-config accepts, never over a file."""

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

ROOT = Path(__file__).resolve().parent.parent


def kstalerts(*args: str, cwd: Path = ROOT) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(
        [sys.executable, "-m", "kstalerts", *args], cwd=str(cwd), env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60,
    )


@pytest.mark.parametrize(
    "flags, channels",
    [([], ["console"]), (["--slack", "--email"], ["ops", "mail"]),
     (["--webhook", "--pagerduty", "--console"], ["console", "hook", "pager"])],
)
def test_init_writes_a_config_that_check_config_accepts(tmp_path: Path, flags: List[str], channels: List[str]) -> None:
    path = tmp_path / "kstlib.conf.yml"
    made = kstalerts("init", *flags, str(path))
    assert made.returncode == 0, made.stderr
    assert stat.S_IMODE(path.stat().st_mode) & 0o022 == 0
    text = path.read_text()
    assert text.startswith("# kstlib.conf.yml: kstalerts configuration, written by 'kstalerts init'.")
    checked = kstalerts("check-config", "--config", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    built = [line.split(":")[0].strip() for line in checked.stdout.splitlines() if line.startswith("  ") and ": " in line and "Channel(" in line]
    # a channel whose secret is missing here is named as not built, with a warning
    missing = checked.stdout.count("is not set (sending fails until it is)")
    assert len(built) + missing == len(channels)
    assert "https://" not in text.split("credentials:")[-1]  # no secret in the file


def test_init_never_replaces_a_file(tmp_path: Path) -> None:
    path = tmp_path / "kstlib.conf.yml"
    path.write_text("mine\n")
    done = kstalerts("init", "--slack", str(path))
    assert done.returncode == 2
    assert f"{path} exists; init never replaces a file" in done.stderr
    assert path.read_text() == "mine\n"


def test_init_to_stdout_with_secrets_in_files(tmp_path: Path) -> None:
    done = kstalerts("init", "--slack", "--secrets-in", "/etc/kstalerts")
    assert done.returncode == 0
    assert "slack_webhook: {type: file, path: /etc/kstalerts/slack_webhook}" in done.stdout
    (tmp_path / "kstlib.conf.yml").write_text(done.stdout)
    hook = tmp_path / "hook"
    hook.write_text("https://hooks.slack.com/services/T0/B0/x\n")
    hook.chmod(0o600)
    config = (tmp_path / "kstlib.conf.yml")
    config.write_text(done.stdout.replace("/etc/kstalerts/slack_webhook", str(hook)))
    checked = kstalerts("check-config", "--config", str(config))
    assert checked.returncode == 0 and "channels: 1\n" in checked.stdout, checked.stdout + checked.stderr
