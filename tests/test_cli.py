"""The command line, run as a subprocess (what cron sees) and in-process.

Exit codes: 0 delivered everywhere, 1 a channel failed or was throttled (or
none takes the level), 2 usage or configuration error.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple, Optional

import pytest

from kstalerts import __version__
from kstalerts.cli import main

ROOT = Path(__file__).resolve().parent.parent


class Run(NamedTuple):
    code: int
    out: str
    err: str


def cli(*args: str, stdin: Optional[str] = None) -> Run:
    """``python -m kstalerts ARGS`` in a subprocess, from the repo root."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "kstalerts", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def run_main(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str, stdin: str = ""
) -> Run:
    """``main(ARGS)`` in this process (counts for coverage)."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(list(args))
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)


# -- usage -------------------------------------------------------------------


def test_version() -> None:
    assert cli("--version") == Run(0, f"kstalerts {__version__}\n", "")


def test_help_lists_the_commands_and_examples(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_main(capsys, monkeypatch, "--help")
    assert result.code == 0
    for word in ("send", "check-config", "demo", "examples:", "exit codes: 0 delivered everywhere"):
        assert word in result.out
    send_help = run_main(capsys, monkeypatch, "send", "--help")
    assert send_help.code == 0
    assert "--body BODY" in send_help.out and "'-' reads it from stdin" in send_help.out


def test_no_command_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_main(capsys, monkeypatch)
    assert result.code == 2
    assert result.err.startswith("usage: kstalerts")


def test_usage_errors_exit_2() -> None:
    missing_title = cli("send", "--body", "x")
    assert missing_title.code == 2
    assert "the following arguments are required: --title" in missing_title.err
    bad_level = cli("send", "--title", "t", "--level", "urgent")
    assert bad_level.code == 2
    assert "unknown alert level 'urgent'; expected one of: info, warning, critical" in bad_level.err
    assert cli("frobnicate").code == 2


def test_send_with_no_channels_configured_is_a_config_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_main(capsys, monkeypatch, "send", "--title", "t")
    assert result == Run(
        2,
        "",
        "kstalerts: error: no channels configured (no config file found); pass --config PATH"
        " or set KSTALERTS_CONFIG (see 'kstalerts check-config')\n",
    )


def test_empty_title_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_main(capsys, monkeypatch, "send", "--title", "  ")
    assert result == Run(2, "", "kstalerts: error: alert title must be a non-empty string\n")
