"""The lifecycle's state commands as cron and shells run them: silence, alerts, heartbeat --list/--delete.

Each test runs ``python -m kstalerts`` in a subprocess against a config whose
``alerts.lifecycle.state_dir`` is a private folder; bad input exits 2 with
the fix in the message.
"""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import List, NamedTuple, Optional

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


class Run(NamedTuple):
    code: int
    out: str
    err: str


def cli(*args: str, cwd: Optional[Path] = None) -> Run:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "kstalerts", *args],
        cwd=str(cwd or ROOT),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=60,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def config(tmp_path: Path) -> str:
    path = tmp_path / "kstlib.conf.yml"
    path.write_text("alerts:\n  lifecycle:\n    repeat_interval: 2s\n    state_dir: state\n  channels: {}\n")
    return str(path)


def test_silence_add_prints_an_id_query_lists_it_expire_ends_it(config: str) -> None:
    added = cli(
        "silence",
        "add",
        "host=db1",
        "alertname=~disk.*",
        "--for",
        "2h",
        "--comment",
        "reboot",
        "--author",
        "ann",
        "--config",
        config,
    )
    assert added.code == 0, added.err
    silence_id = added.out.strip()
    assert len(silence_id) == 16
    listed = cli("silence", "query", "--json", "--config", config)
    assert [(s["id"], s["state"], s["author"]) for s in json.loads(listed.out)] == [
        (silence_id, "active", "ann")
    ]
    assert cli("silence", "expire", silence_id, "--config", config) == Run(0, "expired\n", "")
    assert cli("silence", "query", "--config", config).out == "no silences\n"
    assert silence_id in cli("silence", "query", "--all", "--config", config).out


@pytest.mark.parametrize(
    "args, message",
    [
        (["silence", "add", "host", "--comment", "x"], "malformed"),
        (["silence", "add", "host=~(a+)+", "--comment", "x"], "regex refused"),
        (["silence", "add", "host=db1", "--comment", ""], "needs a comment"),
        (
            ["silence", "add", "host=db1", "--comment", "x", "--for", "40d"],
            "out of range; use from 1s to 30d",
        ),
        (["silence", "add", "host=~.*", "--comment", "x"], "silence everything"),
        (["silence", "expire", "0123456789abcdef"], "kstalerts silence query --all"),
        (["heartbeat", "--delete", "nope"], "no heartbeat named 'nope'"),
        (["heartbeat", "backup"], "--every"),
        (["heartbeat", "backup", "--every", "0"], "out of range"),
    ],
)
def test_bad_input_exits_2_naming_the_fix(config: str, args: List[str], message: str) -> None:
    run = cli(*args, "--config", config)
    assert run.code == 2 and message in run.err, run


def test_silence_add_without_a_comment_option_is_a_usage_error(config: str) -> None:
    run = cli("silence", "add", "host=db1", "--config", config)
    assert run.code == 2 and "--comment" in run.err


def test_a_config_without_the_lifecycle_says_how_to_turn_it_on(tmp_path: Path) -> None:
    plain = tmp_path / "plain.yml"
    plain.write_text("alerts:\n  channels: {}\n")
    run = cli("alerts", "--config", str(plain))
    assert run.code == 2 and "lifecycle: {repeat_interval: 4h}" in run.err


def test_a_state_folder_others_can_write_is_refused(config: str, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o777)
    run = cli("silence", "add", "host=db1", "--comment", "x", "--config", config)
    assert run.code == 2 and "chmod 700" in run.err


def test_heartbeat_list_shows_state_and_warns_when_no_tick_runs(config: str) -> None:
    assert cli("heartbeat", "backup", "--every", "1d", "--config", config).code == 0
    listed = cli("heartbeat", "--list", "--json", "--config", config)
    (beat,) = json.loads(listed.out)
    assert (beat["name"], beat["state"], beat["every"], beat["grace"]) == ("backup", "ok", 86400.0, 8640.0)
    assert "no 'kstalerts tick' has run ever" in listed.err
    assert cli("heartbeat", "--delete", "backup", "--config", config).code == 0
    assert cli("heartbeat", "--list", "--config", config).out == "no heartbeats\n"


def test_alerts_with_nothing_firing(config: str) -> None:
    assert cli("alerts", "--config", config) == Run(0, "no alerts firing\n", "")
    assert cli("alerts", "--json", "--config", config) == Run(0, "[]\n", "")


def test_check_config_refuses_a_bad_inhibit_rule_with_its_place(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(
        "alerts:\n  lifecycle: {}\n  inhibit:\n    - source: [level=critical]\n      target: [level]\n"
    )
    run = cli("check-config", "--config", str(path))
    assert run.code == 2 and "alerts.inhibit[0].target" in run.err and "malformed" in run.err


def test_check_config_refuses_an_unknown_lifecycle_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text("alerts:\n  lifecycle:\n    repeat_intervall: 4h\n")
    run = cli("check-config", "--config", str(path))
    assert run.code == 2 and "did you mean 'repeat_interval'" in run.err and ":3:" in run.err


def test_tick_install_hint_prints_units_and_writes_nothing(config: str, tmp_path: Path) -> None:
    before = sorted(os.listdir(str(tmp_path)))
    run = cli("tick", "--install-hint", "--config", config)
    assert run.code == 0 and "Persistent=true" in run.out and "* * * * *" in run.out
    assert sorted(os.listdir(str(tmp_path))) == before


def test_the_shipped_systemd_units_run_a_tick_every_minute_persistently() -> None:
    import configparser

    units = {}
    for name in ("kstalerts-tick.service", "kstalerts-tick.timer"):
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read(str(ROOT / "examples" / "systemd" / name))
        units[name] = parser
    timer = units["kstalerts-tick.timer"]["Timer"]
    assert (timer["OnCalendar"], timer["Persistent"]) == ("*-*-* *:*:00", "true")
    service = units["kstalerts-tick.service"]["Service"]
    assert service["Type"] == "oneshot" and service["ExecStart"].split()[1:] == ["tick"]


@pytest.mark.slow(seconds=2)
def test_check_config_shows_the_lifecycle_and_warns_when_no_tick_checks_the_heartbeats(config: str) -> None:
    shown = cli("check-config", "--config", config)
    assert shown.code == 0 and "lifecycle: on, state in" in shown.out and "repeat_interval 2s" in shown.out
    assert "kstalerts tick" not in shown.out  # no heartbeat: nothing to check
    assert cli("heartbeat", "backup", "--every", "1d", "--config", config).code == 0
    warned = cli("check-config", "--config", config)
    assert "warning: no 'kstalerts tick' has run ever" in warned.out
    assert cli("tick", "--config", config).code == 0
    assert "kstalerts tick" not in cli("check-config", "--config", config).out


def test_a_damaged_heartbeat_record_is_dropped_with_a_warning_and_the_tick_goes_on(
    config: str, tmp_path: Path
) -> None:
    assert cli("heartbeat", "good", "--every", "1d", "--config", config).code == 0
    path = tmp_path / "state" / "heartbeats.json"
    data = json.loads(path.read_text())
    data["beats"]["bad"] = {"every": "often", "created": 1}
    path.write_text(json.dumps(data))
    ticked = cli("tick", "--config", config)
    assert ticked.code == 0 and "heartbeat 'bad' is damaged and was dropped" in ticked.err
    listed = json.loads(cli("heartbeat", "--list", "--json", "--config", config).out)
    assert [b["name"] for b in listed] == ["good"]
