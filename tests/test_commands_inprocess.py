"""The commands of :mod:`kstalerts.commands` run in this process through
``kstalerts.cli.main`` (the other tests run them as child processes, as a
user does; these also let coverage see their code)."""

import hashlib
import stat
import zipfile
from pathlib import Path

import pytest

from kstalerts.cli import main
from kstalerts.net.loopback import HTTPSink
from tests.test_run import slack_config, text_of


def test_init_in_process_writes_a_commented_config_others_cannot_change(tmp_path: Path, capsys: "pytest.CaptureFixture[str]") -> None:
    path = tmp_path / "alerts.yml"
    assert main(["init", "--slack", "--email", str(path)]) == 0
    assert stat.S_IMODE(path.stat().st_mode) & 0o022 == 0  # no secret in it; nobody else may change it
    text = path.read_text()
    assert "type: slack" in text and "type: email" in text
    assert main(["init", "--console", str(path)]) == 2  # never over a file
    assert "never replaces a file" in capsys.readouterr().err
    assert main(["init", "--webhook"]) == 0
    assert "type: webhook" in capsys.readouterr().out


def test_pyz_in_process_is_reproducible(tmp_path: Path, capsys: "pytest.CaptureFixture[str]") -> None:
    first, second = tmp_path / "a.pyz", tmp_path / "b" / "k.pyz"
    second.parent.mkdir()
    assert main(["pyz", str(first)]) == 0
    said = capsys.readouterr().out
    assert main(["pyz", str(second)]) == 0
    digest = hashlib.sha256(first.read_bytes()).hexdigest()
    assert digest in said
    assert digest == hashlib.sha256(second.read_bytes()).hexdigest()
    with zipfile.ZipFile(str(first)) as archive:
        names = archive.namelist()
    assert "__main__.py" in names and not any("__pycache__" in n for n in names)


def _tool(folder: Path, name: str, script: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)


@pytest.mark.parametrize("tools", ["stubbed", "absent"])
def test_unit_failed_in_process_sends_one_alert(
    tmp_path: Path, loopback_http: HTTPSink, monkeypatch: pytest.MonkeyPatch, tools: str
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if tools == "stubbed":
        _tool(bin_dir, "systemctl", 'echo "Result=timeout"\necho "ExecMainStatus=143"\n')
        _tool(bin_dir, "journalctl", 'echo "job[7]: still copying"\n')
    monkeypatch.setenv("PATH", str(bin_dir))
    config = slack_config(tmp_path, loopback_http.url)
    assert main(["unit-failed", "report.service", "--config", str(config), "--lines", "5"]) == 0
    assert len(loopback_http.posts) == 1
    text = text_of(loopback_http.posts[0])
    assert "report.service" in text
    if tools == "stubbed":
        assert "timeout" in text and "still copying" in text
    else:
        assert "journalctl" in text  # said missing, the alert sent anyway


def test_unit_failed_refuses_a_unit_name_that_is_not_one(tmp_path: Path, loopback_http: HTTPSink) -> None:
    config = slack_config(tmp_path, loopback_http.url)
    assert main(["unit-failed", "-rf /;x", "--config", str(config)]) == 2
    assert loopback_http.posts == []


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_in_process_names_every_subcommand(shell: str, capsys: "pytest.CaptureFixture[str]") -> None:
    assert main(["completion", shell]) == 0
    script = capsys.readouterr().out
    for word in ("send", "check-config", "flush", "run", "silence", "heartbeat", "unit-failed", "pyz"):
        assert word in script


def test_man_in_process_documents_every_subcommand(capsys: "pytest.CaptureFixture[str]") -> None:
    assert main(["man"]) == 0
    page = capsys.readouterr().out.replace("\\-", "-")  # roff writes a hyphen as \-
    assert page.startswith(".TH KSTALERTS 1 ")
    for word in ("send", "check-config", "run", "tick", "init"):
        assert word in page
