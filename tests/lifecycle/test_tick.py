"""Issue 26's scenarios: `kstalerts tick`, heartbeats, silences that end, flapping under `run`.

Every step is a real ``python -m kstalerts`` process against a loopback
Slack sink and one state folder; times are measured from the moment a ping
or a silence was made, and each bound leaves a second or more of slack for
interpreter start-up on a loaded machine.
"""

import subprocess
import time
from pathlib import Path
from typing import List

import pytest

from tests.lifecycle.test_scenarios import cli, posts, write_config
from tests.servers.slack import SlackServer


def tick(config: str) -> "subprocess.CompletedProcess[str]":
    done = cli("tick", "--config", config)
    assert done.returncode == 0, done.stderr
    return done


def wait_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


def titles(server: SlackServer) -> List[str]:
    return [p["attachments"][0]["title"] for p in posts(server, "ops")]


@pytest.mark.slow(seconds=5)
def test_a_missed_heartbeat_fires_once_and_a_ping_resolves_it(
    tmp_path: Path, slack_server: SlackServer
) -> None:
    config = write_config(tmp_path, slack_server, ops="")
    before = time.time()
    assert cli("heartbeat", "backup", "--every", "2s", "--grace", "1s", "--config", config).returncode == 0
    pinged = time.time()  # the ping was made between before and now (a loaded machine starts slowly)
    wait_until(pinged + 1)
    tick(config)
    if time.time() < before + 3:  # the tick ran before the due time (a loaded machine may be slower)
        assert titles(slack_server) == []  # 1 s: not due (due at 3 s)
    wait_until(pinged + 3.5)
    tick(config)
    assert len(titles(slack_server)) == 1 and "backup missed: last seen" in titles(slack_server)[0]
    wait_until(pinged + 4)
    tick(config)
    wait_until(pinged + 5)
    tick(config)
    assert len(titles(slack_server)) == 1  # held: notified less than repeat_interval ago
    assert cli("heartbeat", "backup", "--every", "2s", "--grace", "1s", "--config", config).returncode == 0
    assert len(titles(slack_server)) == 2 and titles(slack_server)[1].count("RESOLVED") == 1
    tick(config)
    assert len(titles(slack_server)) == 2


@pytest.mark.slow(seconds=4)
def test_six_ticks_at_once_on_a_missed_heartbeat_send_one_alert(
    tmp_path: Path, slack_server: SlackServer
) -> None:
    config = write_config(tmp_path, slack_server, ops="")
    assert cli("heartbeat", "db", "--every", "1s", "--grace", "1s", "--config", config).returncode == 0
    time.sleep(2.5)
    import os
    import sys

    from tests.lifecycle.test_scenarios import ROOT

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "kstalerts", "tick", "--config", config],
            cwd=str(ROOT),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            universal_newlines=True,
        )
        for _ in range(6)
    ]
    for proc in procs:
        proc.communicate(timeout=120)
        assert proc.returncode == 0
    assert len(titles(slack_server)) == 1


@pytest.mark.slow(seconds=5)
def test_a_heartbeat_never_pinged_fires_after_every_plus_grace(
    tmp_path: Path, slack_server: SlackServer
) -> None:
    config = write_config(tmp_path, slack_server, ops="")
    state = tmp_path / "jobs"
    started = time.time()
    failed = cli(
        "run",
        "--name",
        "nightly",
        "--heartbeat",
        "nightly",
        "--every",
        "2s",
        "--grace",
        "1s",
        "--quiet",
        "--config",
        config,
        "--state-dir",
        str(state),
        "--",
        "false",
    )
    assert failed.returncode == 1, failed.stderr
    registered = time.time()  # the run registered the heartbeat between started and now
    titles_now = titles(slack_server)  # the failure itself
    assert len(titles_now) == 1 and "nightly failed" in titles_now[0]
    tick(config)
    if time.time() < started + 3:
        assert len(titles(slack_server)) == 1
    wait_until(registered + 4)
    tick(config)
    assert "nightly missed: never seen" in titles(slack_server)[-1]
    ok = cli(
        "run",
        "--name",
        "nightly",
        "--heartbeat",
        "nightly",
        "--every",
        "2s",
        "--grace",
        "1s",
        "--quiet",
        "--config",
        config,
        "--state-dir",
        str(state),
        "--",
        "true",
    )
    assert ok.returncode == 0, ok.stderr
    resolved = [t for t in titles(slack_server) if "RESOLVED" in t]  # the failure and the missed heartbeat
    assert len(resolved) == 2, resolved
    assert any("RESOLVED: nightly recovered after 1 failure" in t for t in resolved)
    assert any("RESOLVED: nightly missed" in t for t in resolved)


@pytest.mark.slow(seconds=4)
def test_an_alert_still_firing_when_its_silence_ends_is_sent_once_by_the_tick(
    tmp_path: Path, slack_server: SlackServer
) -> None:
    config = write_config(tmp_path, slack_server, ops="")
    made = time.time()
    assert (
        cli("silence", "add", "host=db1", "--for", "2s", "--comment", "short", "--config", config).returncode
        == 0
    )
    added = time.time()  # the silence began between `made` and now: it ends by added + 2
    from kstalerts import AlertLevel, AlertManager, AlertMessage

    with AlertManager.from_config(config) as manager:  # in this process: well inside the 2 s
        (muted,) = manager.send(AlertMessage("disk full", level=AlertLevel.WARNING, labels={"host": "db1"}))
    assert muted.outcome.value == "silenced"
    tick(config)
    if time.time() < made + 2:  # still silenced when it ran (a loaded machine may be slower)
        assert titles(slack_server) == []
    wait_until(added + 2.5)
    tick(config)
    (sent,) = titles(slack_server)
    assert sent.endswith("disk full")
    tick(config)
    assert len(titles(slack_server)) == 1


@pytest.mark.slow(seconds=8)
def test_a_job_flapping_under_run_sends_at_most_four_messages_then_one_when_it_stops(
    tmp_path: Path, slack_server: SlackServer
) -> None:
    config = write_config(tmp_path, slack_server, ops="")
    state = str(tmp_path / "jobs")

    def job(ok: bool) -> None:
        cli(
            "run",
            "--name",
            "flappy",
            "--quiet",
            "--config",
            config,
            "--state-dir",
            state,
            "--",
            "true" if ok else "false",
        )

    for n in range(21):
        job(ok=n % 2 == 1)  # fails, succeeds, fails, ...
    seen = titles(slack_server)
    print("flapping run, 21 alternating runs:", seen)
    assert len(seen) <= 4, seen
    assert sum("flapping:" in t for t in seen) == 1, seen
    for _ in range(21):
        job(ok=True)
    after = titles(slack_server)[len(seen) :]
    assert len(after) == 1 and "flapping stopped" in after[0], after


def test_run_recovery_reaches_a_warning_channel_that_got_the_failure(
    tmp_path: Path, slack_server: SlackServer
) -> None:
    config = write_config(tmp_path, slack_server, ops="min_level: warning", pager="min_level: critical")
    state = str(tmp_path / "jobs")
    failed = cli(
        "run",
        "--name",
        "backup",
        "--level",
        "warning",
        "--quiet",
        "--config",
        config,
        "--state-dir",
        state,
        "--",
        "false",
    )
    assert failed.returncode == 1
    ok = cli("run", "--name", "backup", "--quiet", "--config", config, "--state-dir", state, "--", "true")
    assert (ok.returncode, ok.stderr) == (0, "")  # no "no channel takes level SUCCESS" mailed by cron
    assert [t.split(" ", 1)[1] for t in titles(slack_server)] == [
        "backup failed: exit 1",
        "RESOLVED: backup recovered after 1 failure, down " + titles(slack_server)[1].split(" down ", 1)[1],
    ]
    assert posts(slack_server, "pager") == []
