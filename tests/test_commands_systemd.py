"""``kstalerts unit-failed UNIT``, the command of ``kstalerts-onfailure@.service``.

systemd cannot run here, so ``systemctl`` and ``journalctl`` are small
scripts on ``PATH`` (what they print is what the real ones print), or are
absent; the command itself runs for real, as the unit's ``ExecStart=`` does,
against the loopback Slack-compatible sink.
"""

import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from kstalerts.net.loopback import HTTPSink
from tests.test_run import slack_config, text_of

ROOT = Path(__file__).resolve().parent.parent
UNIT_FILE = ROOT / "examples" / "systemd" / "kstalerts-onfailure@.service"


def tool(folder: Path, name: str, script: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def unit_command(instance: str) -> List[str]:
    """The ExecStart= of the shipped template, %i filled in, the installed kstalerts as this checkout."""
    exec_start = re.search(r"^ExecStart=(.*)$", UNIT_FILE.read_text(), re.M)
    assert exec_start is not None, "the template has no ExecStart="
    argv = exec_start.group(1).split()
    assert argv[0].endswith("/kstalerts") and argv[1] == "unit-failed"
    return [sys.executable, "-m", "kstalerts", *[a.replace("%i", instance) for a in argv[1:]]]


def run_unit(argv: List[str], path: Path, config: Path) -> "subprocess.CompletedProcess[str]":
    env: Dict[str, str] = {k: v for k, v in os.environ.items() if k != "KSTALERTS_NO_DISCOVERY"}
    env.update(PATH=str(path), PYTHONPATH=str(ROOT), KSTALERTS_CONFIG=str(config))
    return subprocess.run(
        argv, env=env, cwd=str(path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        universal_newlines=True, timeout=60,
    )


def test_the_onfailure_unit_sends_one_alert_naming_unit_result_and_journal(
    tmp_path: Path, loopback_http: HTTPSink
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool(bin_dir, "systemctl", 'echo "Result=exit-code"\necho "ExecMainStatus=2"\n')
    tool(bin_dir, "journalctl", 'echo "args: $*"\necho "backup.sh[42]: disk full"\n')
    config = slack_config(tmp_path, loopback_http.url)
    done = run_unit(unit_command("nightly-backup.service"), bin_dir, config)
    assert done.returncode == 0, done.stderr
    assert len(loopback_http.posts) == 1
    text = text_of(loopback_http.posts[0])
    assert "nightly-backup.service failed" in text
    assert "exit-code, exit status 2" in text
    assert "backup.sh[42]: disk full" in text
    assert "args: -u nightly-backup.service -n 30 --no-pager" in text


def test_without_journalctl_or_systemctl_the_alert_says_so(tmp_path: Path, loopback_http: HTTPSink) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    config = slack_config(tmp_path, loopback_http.url)
    done = run_unit(unit_command("db-dump.service"), empty, config)
    assert done.returncode == 0, done.stderr
    assert len(loopback_http.posts) == 1
    text = text_of(loopback_http.posts[0])
    assert "db-dump.service failed" in text
    assert "unknown (systemctl not found)" in text
    assert "(journalctl not found: no journal lines)" in text


def test_a_hanging_journalctl_is_bounded(tmp_path: Path, loopback_http: HTTPSink) -> None:
    from kstalerts.commands import systemd

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool(bin_dir, "journalctl", "echo partial\nexec /bin/sleep 60\n")
    config = slack_config(tmp_path, loopback_http.url)
    code = (
        "import sys; from kstalerts.commands import systemd; systemd._TOOL_TIMEOUT = 1.0;"
        "from kstalerts.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    done = run_unit([sys.executable, "-c", code, "unit-failed", "x.service"], bin_dir, config)
    assert done.returncode == 0, done.stderr
    assert "(journalctl did not finish in 1 s)\npartial" in text_of(loopback_http.posts[0])
    assert systemd._TOOL_TIMEOUT == 10.0


@pytest.mark.parametrize("name", ["-x", "a b.service", "x;rm", ""])
def test_a_bad_unit_name_is_refused_before_any_tool_runs(tmp_path: Path, name: str) -> None:
    done = run_unit([sys.executable, "-m", "kstalerts", "unit-failed", "--", name], tmp_path, tmp_path / "none.yml")
    assert done.returncode == 2
    assert f"not a systemd unit name: {name!r}" in done.stderr


def test_every_shipped_unit_runs_a_valid_kstalerts_command() -> None:
    """ExecStart= of each examples/systemd unit parses with the CLI's own parser."""
    import shlex

    from kstalerts.cli import build_parser

    starts = [
        line.split("=", 1)[1]
        for unit in sorted((ROOT / "examples" / "systemd").glob("*.service"))
        for line in unit.read_text().splitlines()
        if line.startswith("ExecStart=") and "/kstalerts " in line
    ]
    assert len(starts) >= 2
    for start in starts:
        argv = shlex.split(start.replace("%i", "x.service").replace("${STATE_DIRECTORY}", "/var/lib/k"))
        build_parser().parse_args(argv[1:])


def test_a_credential_path_reads_systemds_credentials_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LoadCredential=slack_webhook:... puts the file in $CREDENTIALS_DIRECTORY; the config names it there."""
    from kstalerts.config.credentials import CredentialResolver
    from kstalerts.exceptions import AlertConfigurationError

    (tmp_path / "slack_webhook").write_text("https://hooks.slack.com/services/T1/B2/secret\n")
    (tmp_path / "slack_webhook").chmod(0o400)
    section = {"hook": {"type": "file", "path": "$CREDENTIALS_DIRECTORY/slack_webhook"}}
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    assert CredentialResolver(section).resolve("hook") == "https://hooks.slack.com/services/T1/B2/secret"
    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    with pytest.raises(AlertConfigurationError, match="CREDENTIALS_DIRECTORY is not set .*LoadCredential="):
        CredentialResolver(section).resolve("hook")
