"""The lifecycle engine on a real state folder with an injected clock: log, repeat, resolve,
silences, inhibition, heartbeats, flapping, damage and bounds."""

import json
import logging
import os
import subprocess
import sys
from typing import Dict, List

import pytest

from kstalerts import AlertLevel, AlertMessage
from kstalerts.exceptions import AlertConfigurationError
from kstalerts.lifecycle import Lifecycle
from kstalerts.lifecycle.flapping import observe as flap_observe
from kstalerts.lifecycle.flapping import share
from kstalerts.lifecycle.heartbeats import Cadence
from kstalerts.lifecycle.inhibit import parse_rules


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def life(tmp_path: "os.PathLike[str]", clock: Clock) -> Lifecycle:
    return Lifecycle(str(tmp_path), repeat_interval="1h", clock=clock)


DISK = AlertMessage("disk full", "91%", AlertLevel.WARNING, labels={"host": "db1"})


def actions(life: Lifecycle, alert: AlertMessage, channels: List[str]) -> Dict[str, str]:
    return {ch: v.action for ch, v in life.decide(alert, channels).items()}


def test_a_new_alert_is_delivered_then_held_then_reminded(life: Lifecycle, clock: Clock) -> None:
    verdict = life.decide(DISK, ["ops"])["ops"]
    assert (verdict.action, verdict.state) == ("deliver", "firing")
    life.delivered(verdict.fingerprint, "ops", verdict.state, DISK.level)
    clock.now += 60
    assert actions(life, DISK.replace(body="93%"), ["ops"]) == {"ops": "held"}
    clock.now += 3600
    again = life.decide(DISK, ["ops"])["ops"]
    assert (again.action, again.state, again.repeats) == ("deliver", "reminder", 1)


def test_a_claim_holds_concurrent_senders_and_a_failure_releases_it(life: Lifecycle) -> None:
    first = life.decide(DISK, ["ops"])["ops"]
    assert actions(life, DISK, ["ops"]) == {"ops": "held"}  # first is being delivered
    life.failed(first.fingerprint, "ops")
    assert actions(life, DISK, ["ops"]) == {"ops": "deliver"}


def test_a_rise_in_level_is_delivered_at_once(life: Lifecycle) -> None:
    v = life.decide(DISK, ["ops"])["ops"]
    life.delivered(v.fingerprint, "ops", "firing", DISK.level)
    assert actions(life, DISK.replace(level=AlertLevel.CRITICAL), ["ops"]) == {"ops": "deliver"}


def test_resolve_owes_only_the_channels_that_heard_it_fire(life: Lifecycle) -> None:
    verdicts = life.decide(DISK, ["ops", "pager"])
    life.delivered(verdicts["ops"].fingerprint, "ops", "firing", DISK.level)
    life.failed(verdicts["pager"].fingerprint, "pager")
    owed = life.begin_resolve(DISK)
    assert (owed.channels, owed.state) == (("ops",), "resolved")
    assert owed.alert is not None and owed.alert.title == "disk full"
    life.delivered(owed.fingerprint, "ops", "resolved", DISK.level)
    assert life.begin_resolve(DISK).channels == ()  # resolving twice owes nothing
    assert life.alerts() == []


def test_resolving_what_never_fired_owes_nothing(life: Lifecycle) -> None:
    assert life.begin_resolve("never-seen").channels == ()


def test_silences_mute_by_matchers_and_expire(life: Lifecycle, clock: Clock) -> None:
    silence = life.silence(["host=db1"], "2h", comment="rebooting db1", author="ops")
    assert actions(life, DISK, ["ops"]) == {"ops": "silenced"}
    assert actions(life, DISK.replace(labels={"host": "db2"}), ["ops"]) == {"ops": "deliver"}
    assert [s.id for s in life.silences()] == [silence.id]
    assert life.expire_silence(silence.id[:6]) is True
    assert life.silences() == [] and len(life.silences(include_expired=True)) == 1
    assert actions(life, DISK, ["ops"]) == {"ops": "deliver"}


@pytest.mark.parametrize(
    "matchers, duration, comment, message",
    [
        (["host=db1"], "1h", "  ", "needs a comment"),
        (["host=~.*"], "1h", "x", "silence everything"),
        (["host=db1"], "31d", "x", "out of range"),
        (["host"], "1h", "x", "malformed"),
    ],
)
def test_bad_silences_are_refused_with_the_fix(
    life: Lifecycle, matchers: List[str], duration: str, comment: str, message: str
) -> None:
    with pytest.raises(AlertConfigurationError, match=message):
        life.silence(matchers, duration, comment=comment)


def test_expiring_an_unknown_silence_says_how_to_list_them(life: Lifecycle) -> None:
    with pytest.raises(AlertConfigurationError, match="kstalerts silence query --all"):
        life.expire_silence("deadbeef")


def test_inhibition_holds_targets_with_equal_labels_and_never_itself(tmp_path: str, clock: Clock) -> None:
    rules = [{"source": ["level=critical"], "target": ["level=warning"], "equal": ["host"]}]
    life = Lifecycle(str(tmp_path), inhibit=rules, clock=clock)
    down = AlertMessage("db1 down", level=AlertLevel.CRITICAL, labels={"host": "h1"})
    assert actions(life, down, ["ops"]) == {"ops": "deliver"}
    warn = AlertMessage("service down", level=AlertLevel.WARNING, labels={"host": "h1"})
    assert actions(life, warn, ["ops"]) == {"ops": "inhibited"}
    assert actions(life, warn.replace(labels={"host": "h2"}), ["ops"]) == {"ops": "deliver"}
    life.begin_resolve(down)
    assert actions(life, warn, ["ops"]) == {"ops": "deliver"}


def test_an_alert_matching_both_sides_is_not_inhibited_by_its_kind(tmp_path: str, clock: Clock) -> None:
    life = Lifecycle(str(tmp_path), inhibit=[{"source": ["team=db"], "target": ["team=db"]}], clock=clock)
    one = AlertMessage("a", labels={"team": "db"})
    assert actions(life, one, ["ops"]) == {"ops": "deliver"}
    assert actions(life, AlertMessage("b", labels={"team": "db"}), ["ops"]) == {"ops": "deliver"}


def test_inhibit_rules_are_checked_with_their_place() -> None:
    with pytest.raises(AlertConfigurationError, match=r"alerts.inhibit\[0\].target"):
        parse_rules([{"source": ["a=b"], "target": ["a"]}])
    with pytest.raises(AlertConfigurationError, match="unknown key 'sources'"):
        parse_rules([{"sources": ["a=b"]}])


def test_a_damaged_log_is_moved_aside_with_one_warning_and_the_alert_goes_out(
    life: Lifecycle, tmp_path: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = os.path.join(str(tmp_path), "nflog.json")
    with open(path, "w") as handle:
        handle.write("{not json")
    os.chmod(path, 0o600)
    with caplog.at_level(logging.WARNING, logger="kstalerts.lifecycle"):
        assert actions(life, DISK, ["ops"]) == {"ops": "deliver"}
    assert [r.message for r in caplog.records if "moved aside" in r.message]
    assert any(name.startswith("nflog.json.damaged-") for name in os.listdir(str(tmp_path)))


def test_a_state_folder_others_can_write_is_refused_for_silences(tmp_path: str, clock: Clock) -> None:
    folder = os.path.join(str(tmp_path), "open")
    os.mkdir(folder)
    os.chmod(folder, 0o777)
    with pytest.raises(OSError, match="chmod 700"):
        Lifecycle(folder, clock=clock).silence(["host=db1"], comment="x")


def test_the_log_survives_a_new_process_and_a_new_boot(life: Lifecycle, tmp_path: str) -> None:
    v = life.decide(DISK, ["ops"])["ops"]
    life.delivered(v.fingerprint, "ops", "firing", DISK.level)
    code = (
        "import sys, kstalerts.state.shared as s\n"
        "s._boot_id, s._boot_id_read = 'another-boot', True\n"
        "from kstalerts import AlertMessage, AlertLevel\n"
        "from kstalerts.lifecycle import Lifecycle\n"
        "r = Lifecycle(sys.argv[1]).begin_resolve(AlertMessage('disk full', labels={'host': 'db1'}))\n"
        "print(list(r.channels))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        stdout=subprocess.PIPE,
        universal_newlines=True,
        check=True,
    )
    assert json.loads(out.stdout.replace("'", '"')) == ["ops"]


def test_firing_entries_are_never_evicted(
    tmp_path: str, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kstalerts.lifecycle.nflog as nflog

    monkeypatch.setattr(nflog, "MAX_NFLOG_ENTRIES", 3)
    life = Lifecycle(str(tmp_path), clock=clock)
    for n in range(3):
        life.decide(AlertMessage(f"a{n}"), ["ops"])
    assert actions(life, AlertMessage("a3"), ["ops"]) == {"ops": "deliver"}  # not recorded, still sent
    assert [a["title"] for a in life.alerts()] == ["a0", "a1", "a2"]
    life.begin_resolve(AlertMessage("a0"))
    life.decide(AlertMessage("a4"), ["ops"])  # the resolved a0 makes room
    assert [a["title"] for a in life.alerts()] == ["a1", "a2", "a4"]


def test_heartbeats_fire_once_missed_and_say_when_pinged(life: Lifecycle, clock: Clock) -> None:
    assert life.heartbeat("backup", Cadence.parse("2s", "1s")) is False
    clock.now += 1
    assert life.due().alerts == ()
    clock.now += 2.5
    due = life.due().alerts
    assert [a.dedup_key for a in due] == ["heartbeat:backup"] and "backup missed" in due[0].title
    assert [b.state(clock.now) for b in life.heartbeats()] == ["missed"]
    assert life.heartbeat("backup", Cadence.parse("2s", "1s")) is True  # was missed: resolve its alert
    assert life.due().alerts == ()
    assert life.last_tick() == clock.now


def test_a_heartbeat_never_pinged_fires_after_every_plus_grace(life: Lifecycle, clock: Clock) -> None:
    life.heartbeat("fresh", Cadence.parse("10s", "5s"), ping=False)
    clock.now += 14
    assert life.due().alerts == ()
    clock.now += 2
    assert len(life.due().alerts) == 1


def test_heartbeat_input_is_checked(life: Lifecycle) -> None:
    with pytest.raises(AlertConfigurationError, match="out of range"):
        Cadence.parse("0.5s")  # below the one-second floor: an error, not a clamp
    with pytest.raises(AlertConfigurationError, match="kstalerts heartbeat --list"):
        life.delete_heartbeat("nope")


def test_a_silence_that_ends_lets_the_tick_send_once(life: Lifecycle, clock: Clock) -> None:
    life.silence(["host=db1"], "2s", comment="short")
    assert actions(life, DISK, ["ops"]) == {"ops": "silenced"}
    assert life.due().alerts == ()
    clock.now += 3
    due = life.due().alerts
    assert [a.title for a in due] == ["disk full"]
    v = life.decide(due[0], ["ops"])["ops"]
    life.delivered(v.fingerprint, "ops", v.state, DISK.level)
    assert life.due().alerts == ()


def test_stale_firing_entries_are_reported_once_then_dropped(life: Lifecycle, clock: Clock) -> None:
    life.decide(DISK, ["ops"])
    clock.now += 86400 + 1
    assert life.due().stale == ("disk full",)
    assert life.due().stale == ()
    assert life.alerts() == []


def test_nagios_weights_and_thresholds() -> None:
    assert share([0] * 21) == 0.0
    assert share([1, 0] + [0] * 19) == pytest.approx(3.75)  # one change, oldest slot
    assert share([0] * 19 + [0, 1]) == pytest.approx(6.25)  # one change, newest slot
    record: Dict[str, object] = {}
    said = [flap_observe(record, n % 2 == 0, 20, 5) for n in range(21)]
    assert said.index("start") == 3 and said.count("start") == 1
    stops = [flap_observe(record, False, 20, 5) for _ in range(21)]
    assert stops.count("stop") == 1


def test_flapping_turns_many_changes_into_two_messages(life: Lifecycle) -> None:
    sent = []
    for n in range(21):
        if n % 2 == 0:
            for ch, v in life.decide(DISK.replace(created_at=float(n)), ["ops"]).items():
                if v.action == "deliver":
                    sent.append(v.state)
                    life.delivered(v.fingerprint, ch, v.state, DISK.level)
        else:
            r = life.begin_resolve(DISK)
            for ch in r.channels:
                sent.append(r.state)
                life.delivered(r.fingerprint, ch, r.state, DISK.level)
    assert sent == ["firing", "resolved", "firing", "flapping"]
    for _ in range(21):
        r = life.begin_resolve(DISK)
        sent.extend(r.state for _ in r.channels)
        for ch in r.channels:
            life.delivered(r.fingerprint, ch, r.state, DISK.level)
    assert sent[4:] == ["flapping_stopped"]


def test_one_send_to_many_channels_is_one_observation(life: Lifecycle) -> None:
    states = []
    for n in range(4):  # fires, resolves, fires, resolves: flapping at the fourth state
        alert = DISK.replace(created_at=float(n))
        if n % 2:
            r = life.begin_resolve(alert)
            states.append((r.state, r.channels))
            for ch in r.channels:
                life.delivered(r.fingerprint, ch, r.state, DISK.level)
            continue
        for ch in ("a", "b", "c"):  # each channel's stage decides on its own
            v = life.decide(alert, [ch])[ch]
            life.delivered(v.fingerprint, ch, v.state, DISK.level)
    # three observations per send would make the first resolve look like flapping
    assert states == [("resolved", ("a", "b", "c")), ("flapping", ("a", "b", "c"))]


def test_one_recovery_after_a_long_outage_is_not_flapping() -> None:
    record: Dict[str, object] = {}
    said = [flap_observe(record, True, 20, 5) for _ in range(3)] + [flap_observe(record, False, 20, 5)]
    assert said == [None, None, None, None]
