"""The second hour's stumbles (issue 27, items 11-12): each message names the
problem and the fix. One test per stumble, against the real code paths
(config files on disk, the CLI in a child process, real SMTP servers).
"""

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from kstalerts import AlertLevel, AlertManager, AlertMessage, NoChannelsWarning
from kstalerts.channels import ConsoleChannel, EmailChannel
from kstalerts.exceptions import AlertConfigurationError
from kstalerts.net.loopback import HTTPSink, SMTPSink
from kstalerts.transports import SMTPTransport
from tests.servers.smtp import ScriptedHandler, SMTPServer

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str, env: Optional[Dict[str, str]] = None, cwd: Path = ROOT) -> "subprocess.CompletedProcess[str]":
    full = dict(os.environ, PYTHONPATH=str(ROOT))
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "kstalerts", *args], cwd=str(cwd), env=full, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, universal_newlines=True, timeout=60,
    )


def email_config(tmp_path: Path, sender: str, recipients: str) -> Path:
    path = tmp_path / "kstlib.conf.yml"
    path.write_text(
        "alerts:\n  channels:\n    mail:\n      type: email\n"
        f"      sender: {sender}\n      recipients: {recipients}\n"
        "      transport: {type: smtp, host: localhost}\n"
    )
    return path


def test_send_after_close_warns() -> None:
    """Was: a failed result, no warning."""
    manager = AlertManager().add_channel(ConsoleChannel(name="console"))
    manager.close()
    with pytest.warns(RuntimeWarning, match=r"send\(\) on a closed AlertManager delivers nothing") as seen:
        [result] = manager.send(AlertMessage("late"))
    assert not result.success
    assert seen[0].filename == __file__


def test_the_slack_url_error_in_a_config_file_gives_the_file_spelling(tmp_path: Path) -> None:
    """Was: "pass allow_custom_url=True" for a config file."""
    config = tmp_path / "kstlib.conf.yml"
    config.write_text("alerts:\n  channels:\n    s:\n      type: slack\n      webhook_url: https://chat.example.com/hooks/x\n")
    done = cli("check-config", "--config", str(config))
    assert done.returncode == 2
    assert "allow_custom_url: true in a config file" in done.stderr


def test_a_quoted_true_is_refused_clearly(tmp_path: Path) -> None:
    """``allow_custom_url: "true"`` is refused, clearly: it names the value and what is wanted."""
    config = tmp_path / "kstlib.conf.yml"
    config.write_text(
        "alerts:\n  channels:\n    s:\n      type: slack\n      webhook_url: https://chat.example.com/x\n"
        '      allow_custom_url: "true"\n'
    )
    done = cli("check-config", "--config", str(config))
    assert done.returncode == 2
    assert (
        f"{config}:6: alerts.channels.s.allow_custom_url: slack: allow_custom_url must be true or false,"
        " got 'true'"
    ) in done.stderr


def test_kstalerts_config_naming_a_directory_says_so(tmp_path: Path) -> None:
    """Was: "KSTALERTS_CONFIG names a file that does not exist"."""
    env = {"KSTALERTS_CONFIG": str(tmp_path)}
    env_clean = {k: v for k, v in env.items()}
    done = subprocess.run(
        [sys.executable, "-m", "kstalerts", "check-config"], cwd=str(tmp_path),
        env={**{k: v for k, v in os.environ.items() if k != "KSTALERTS_NO_DISCOVERY"}, "PYTHONPATH": str(ROOT),
             **env_clean},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60,
    )
    assert done.returncode == 2
    assert (
        f"{tmp_path}: KSTALERTS_CONFIG names a directory; name the file in it"
        f" (e.g. {tmp_path / 'kstlib.conf.yml'})"
    ) in done.stderr


def test_a_level_name_works_for_messages_as_for_channels() -> None:
    """Was: add_channel(min_level="warning") accepted, AlertMessage(level="warning") refused."""
    seen: List[AlertMessage] = []
    from kstalerts.channels import CallbackChannel

    with AlertManager() as manager:
        manager.add_channel(CallbackChannel(seen.append, name="cb"), min_level="warning")
        manager.send(AlertMessage("disk", level="warning"))  # type: ignore[arg-type]
        manager.send(AlertMessage("noise", level="info"))  # type: ignore[arg-type]
    assert [(a.title, a.level) for a in seen] == [("disk", AlertLevel.WARNING)]


def test_an_unquoted_sender_with_a_colon_says_quote_it(tmp_path: Path) -> None:
    """Was: "a mapping cannot start on the line of its key", no hint."""
    config = email_config(tmp_path, "Alerts: <a@example.com>", "[b@example.com]")
    done = cli("check-config", "--config", str(config))
    assert done.returncode == 2
    assert "if ': ' is part of the text, quote it" in done.stderr


def test_a_half_quoted_sender_says_quote_the_whole_value(tmp_path: Path) -> None:
    config = email_config(tmp_path, '"Alerts" <a@example.com>', "[b@example.com]")
    done = cli("check-config", "--config", str(config))
    assert done.returncode == 2
    assert "unexpected '<' after the value; to quote it, quote the whole value" in done.stderr


def test_semicolon_separated_recipients_say_use_a_list(tmp_path: Path) -> None:
    """Was: "must be one email address, got 'b@x; c@x'"."""
    config = email_config(tmp_path, "a@example.com", '"b@example.com; c@example.com"')
    done = cli("check-config", "--config", str(config))
    assert done.returncode == 2
    assert "separate addresses with commas, or use a list (recipients: [a@example.com, b@example.com])" in done.stderr


def test_an_international_address_is_one_address_and_delivered_with_smtputf8() -> None:
    """Was: josé@exämple.com refused as "not one email address"."""
    with SMTPSink() as sink:
        channel = EmailChannel(
            SMTPTransport("127.0.0.1", sink.port, security="none", timeout=5.0),
            sender="alerts@example.com", recipients=["josé@exämple.com"], max_retries=0,
        )
        assert [a.addr_spec for a in channel.recipients] == ["josé@exämple.com"]
        assert channel.send(AlertMessage("disk full")).success
        assert sink.messages[-1].recipients == ("josé@exämple.com",)


def test_an_international_address_to_a_server_without_smtputf8_says_so() -> None:
    server = SMTPServer(ScriptedHandler(), enable_SMTPUTF8=False)
    try:
        channel = EmailChannel(
            SMTPTransport("127.0.0.1", server.port, security="none", timeout=5.0),
            sender="alerts@example.com", recipients=["josé@exämple.com"], max_retries=0,
        )
        result = channel.send(AlertMessage("disk full"))
    finally:
        server.stop()
    assert not result.success
    assert "SMTPUTF8" in (result.error or "")


def test_no_channels_warning_points_at_the_callers_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """Was: kstalerts/manager.py:530."""
    monkeypatch.setenv("KSTALERTS_NO_DISCOVERY", "1")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        manager = AlertManager.from_config()
        manager.send(AlertMessage("x"))
        manager.close()
    found = [w for w in seen if issubclass(w.category, NoChannelsWarning)]
    assert len(found) == 2
    assert {w.filename for w in found} == {__file__}


def test_a_spooled_failure_says_so_in_text_mode(tmp_path: Path) -> None:
    """Was: "ops: failed: ..." and nothing about the spool."""
    with HTTPSink() as sink:
        config = tmp_path / "kstlib.conf.yml"
        config.write_text(
            "alerts:\n"
            f"  spool: {{path: {tmp_path / 'spool'}}}\n"
            "  channels:\n    max_retries: 0\n    ops:\n      type: slack\n"
            f"      webhook_url: {sink.failing_url(503)}\n      allow_custom_url: true\n"
        )
        done = cli("send", "--title", "disk", "--config", str(config))
    assert done.returncode == 1
    assert "(kept in the spool: 'kstalerts flush' sends it again)" in done.stdout


def test_check_config_json(tmp_path: Path) -> None:
    config = tmp_path / "kstlib.conf.yml"
    config.write_text("alerts:\n  throttle: {rate: 5000, per: 60}\n  channels:\n    out: {type: console}\n")
    done = cli("check-config", "--json", "--config", str(config))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is True and report["config_file"] == str(config)
    assert report["clamped"] == [{"clamp": "alerts.throttle.rate: asked 5000, applied 1000.0 (maximum)", "line": 2}]
    assert report["channels"][0].startswith("out: ConsoleChannel")
    assert report["settings"]["alerts"]["channels"]["out"] == {"type": "console"}


def test_a_bad_address_is_still_refused() -> None:
    for bad in ("two@example.com, three@example.com", "no-domain", "a@"):
        with pytest.raises(AlertConfigurationError):
            EmailChannel(SMTPTransport("localhost"), sender=bad, recipients=["b@example.com"])
