"""Issue 25's scenarios, each with real processes sharing one state folder and a loopback Slack sink.

Channels are told apart by the token in their webhook path; a message is
found again by its title. Children are ``tests.lifecycle.children``
(Python sends) or ``python -m kstalerts`` (the CLI).
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from tests.servers.slack import SlackServer

ROOT = Path(__file__).resolve().parent.parent.parent
TOKENS = {"ops": "opsTOKEN1", "pager": "pagerTOKEN2", "quiet": "quietTOKEN3"}


def write_config(
    tmp_path: Path, server: SlackServer, *, repeat: str = "1h", extra: str = "", **channels: str
) -> str:
    """A config with the lifecycle on and one Slack channel per keyword (its extra YAML lines)."""
    lines = [
        "alerts:",
        "  lifecycle:",
        f"    repeat_interval: {repeat}",
        f"    state_dir: {tmp_path / 'state'}",
        extra,
        "  channels:",
        "    max_retries: 0",
    ]
    for key, options in channels.items():
        lines += [
            f"    {key}:",
            "      type: slack",
            f"      webhook_url: {server.url(token=TOKENS[key])}",
            "      allow_custom_url: true",
        ]
        lines += [f"      {line}" for line in options.splitlines() if line.strip()]
    path = tmp_path / "kstlib.conf.yml"
    path.write_text("\n".join(line for line in lines if line) + "\n")
    return str(path)


def child(scenario: str, **args: Any) -> "subprocess.Popen[str]":
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-m", "tests.lifecycle.children", scenario, json.dumps(args)],
        cwd=str(ROOT),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
    )


def report(proc: "subprocess.Popen[str]") -> List[str]:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    result: List[str] = json.loads(out.strip().splitlines()[-1])
    return result


def run(scenario: str, **args: Any) -> List[str]:
    return report(child(scenario, **args))


def cli(*args: str) -> "subprocess.CompletedProcess[str]":
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "kstalerts", *args],
        cwd=str(ROOT),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=120,
    )


def posts(server: SlackServer, channel: str, title: Optional[str] = None) -> List[Dict[str, Any]]:
    """The payloads ``channel`` received (with ``title`` in their attachment title)."""
    found = [r.json() for r in server.requests if TOKENS[channel] in r.path]
    return [p for p in found if title is None or title in p["attachments"][0]["title"]]


def alert(title: str, level: str = "warning", key: Optional[str] = None, **labels: str) -> Dict[str, Any]:
    return {"title": title, "level": level, "key": key, "labels": labels}


@pytest.mark.slow(seconds=4)
def test_three_processes_firing_every_200ms_for_3s_send_two_messages_per_channel(
    tmp_path: Path, slack_server: SlackServer
) -> None:
    config = write_config(tmp_path, slack_server, repeat="2s", ops="", pager="")
    start = time.time() + 1.5  # all three interpreters are up by then
    procs = [
        child(
            "fire",
            config=config,
            alert=alert("disk full", key="disk-db1"),
            duration=3.0,
            period=0.2,
            start=start,
        )
        for _ in range(3)
    ]
    outcomes = [o for p in procs for o in report(p)]
    for channel in ("ops", "pager"):
        assert len(posts(slack_server, channel)) == 2, outcomes
    assert outcomes.count("ops:delivered") == 2 and outcomes.count("ops:held") >= 30
    second = posts(slack_server, "ops")[1]["attachments"][0]["text"]
    assert "still firing since" in second and "repeat(s) held" in second


@pytest.mark.slow(seconds=2)
def test_fire_then_resolve_tells_only_the_channels_that_heard_it(
    tmp_path: Path, slack_server: SlackServer
) -> None:
    config = write_config(
        tmp_path, slack_server, ops="", pager="min_level: critical", quiet="send_resolved: false"
    )
    fired = run("fire", config=config, alert=alert("disk full", key="disk-db1"))
    assert sorted(fired) == ["ops:delivered", "quiet:delivered"]
    resolved = run("resolve", config=config, key="disk-db1")
    assert resolved == ["ops:delivered"]
    (first, last) = posts(slack_server, "ops")
    assert "RESOLVED" not in first["attachments"][0]["title"]
    assert "RESOLVED: disk full" in last["attachments"][0]["title"]
    assert last["attachments"][0]["color"] == "#2EB67D"
    assert posts(slack_server, "pager") == []  # min_level critical: never notified, never resolved
    assert len(posts(slack_server, "quiet")) == 1  # send_resolved: false
    assert run("resolve", config=config, key="disk-db1") == []  # not firing: nothing, no error


def test_a_first_delivery_answered_500_does_not_count_as_notified(
    tmp_path: Path, slack_server: SlackServer
) -> None:
    config = write_config(tmp_path, slack_server, ops="")
    slack_server.queue("status=500")
    assert run("fire", config=config, alert=alert("disk full", key="k")) == ["ops:failed"]
    assert run("fire", config=config, alert=alert("disk full", key="k")) == ["ops:delivered"]
    assert run("fire", config=config, alert=alert("disk full", key="k")) == ["ops:held"]
    assert len(posts(slack_server, "ops")) == 2  # the 500 and the delivery


@pytest.mark.slow(seconds=2)
def test_eight_processes_racing_one_new_key_send_one_firing_message(
    tmp_path: Path, slack_server: SlackServer
) -> None:
    config = write_config(tmp_path, slack_server, ops="")
    start = time.time() + 2.0
    procs = [child("fire", config=config, alert=alert("db1 down", key="race"), start=start) for _ in range(8)]
    outcomes = sorted(o for p in procs for o in report(p))
    assert outcomes == ["ops:delivered"] + ["ops:held"] * 7
    assert len(posts(slack_server, "ops")) == 1


@pytest.mark.slow(seconds=3)
def test_a_cli_silence_mutes_a_python_send_until_it_is_expired(
    tmp_path: Path, slack_server: SlackServer
) -> None:
    config = write_config(tmp_path, slack_server, ops="")
    anchored = cli(
        "silence", "add", "alertname=~disk", "--comment", "anchored: not 'disk full'", "--config", config
    )
    assert anchored.returncode == 0, anchored.stderr
    assert run("fire", config=config, alert=alert("disk full", host="db1")) == ["ops:delivered"]
    added = cli("silence", "add", "host=db2", "--for", "1h", "--comment", "reboot db2", "--config", config)
    assert added.returncode == 0, added.stderr
    assert run("fire", config=config, alert=alert("disk full", host="db2")) == ["ops:silenced"]
    listed = cli("alerts", "--json", "--config", config)
    (db2,) = [a for a in json.loads(listed.stdout) if a["labels"] == {"host": "db2"}]
    assert db2["silenced_by"] == [added.stdout.strip()]
    assert cli("silence", "expire", added.stdout.strip(), "--config", config).returncode == 0
    assert run("fire", config=config, alert=alert("disk full", host="db2")) == ["ops:delivered"]
    assert [p["attachments"][0]["fields"][0]["value"] for p in posts(slack_server, "ops")] == ["db1", "db2"]


def test_a_critical_on_h1_inhibits_warnings_on_h1_only(tmp_path: Path, slack_server: SlackServer) -> None:
    rules = "  inhibit:\n    - source: [level=critical]\n      target: [level=warning]\n      equal: [host]"
    config = write_config(tmp_path, slack_server, extra=rules, ops="")
    assert run("fire", config=config, alert=alert("h1 down", "critical", host="h1")) == ["ops:delivered"]
    assert run("fire", config=config, alert=alert("nginx down", host="h1")) == ["ops:inhibited"]
    assert run("fire", config=config, alert=alert("nginx down", host="h2")) == ["ops:delivered"]
    assert cli("resolve", "--title", "h1 down", "--label", "host=h1", "--config", config).returncode == 0
    assert run("fire", config=config, alert=alert("nginx down", host="h1")) == ["ops:delivered"]


def test_state_written_before_a_reboot_still_resolves(tmp_path: Path, slack_server: SlackServer) -> None:
    config = write_config(tmp_path, slack_server, ops="")
    assert run("fire", config=config, alert=alert("disk full", key="disk-db1")) == ["ops:delivered"]
    # A new process on a new boot: the throttle's state files would be reset; the log is not.
    code = (
        "import sys, kstalerts.state.shared as s; s._boot_id, s._boot_id_read = 'rebooted', True\n"
        "from kstalerts.cli import main; sys.exit(main(sys.argv[1:]))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", code, "resolve", "disk-db1", "--config", config],
        cwd=str(ROOT),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "RESOLVED" in posts(slack_server, "ops")[-1]["attachments"][0]["title"]


def test_a_real_alertmanager_sees_the_alert_fire_then_end(tmp_path: Path, alertmanager: Any) -> None:
    path = tmp_path / "am.yml"
    path.write_text(
        "alerts:\n  lifecycle:\n"
        f"    state_dir: {tmp_path / 'state'}\n"
        "  channels:\n    am:\n      type: alertmanager\n"
        f"      url: {alertmanager.url}\n"
    )
    title = f"lifecycle-am-{os.getpid()}"
    assert run("fire", config=str(path), alert=alert(title, key="am-1", host="db1")) == ["am:delivered"]
    (firing,) = alertmanager.alerts(alertname=title)
    assert firing["status"]["state"] == "active"
    done = cli("resolve", "am-1", "--config", str(path))
    assert done.returncode == 0, done.stderr
    deadline = time.time() + 10
    while alertmanager.alerts(alertname=title) and time.time() < deadline:
        time.sleep(0.2)  # a resolved alert leaves the active list
    assert alertmanager.alerts(alertname=title) == []
