"""The lifecycle through AlertManager in code: off by default, outcomes and stats, the digest,
resolve per channel, silences and heartbeats from Python."""

import os
import subprocess
import sys
from pathlib import Path
from typing import List, Optional

import pytest

from kstalerts import AlertLevel, AlertManager, AlertMessage, Notification, Outcome
from kstalerts.channels.base import AlertChannel
from kstalerts.exceptions import AlertConfigurationError

ROOT = Path(__file__).resolve().parent.parent.parent


class Recorder(AlertChannel):
    """A channel that keeps every notification it is asked to deliver."""

    def __init__(self, name: str) -> None:
        super().__init__(name=name)
        self.seen: List[Notification] = []

    def _transmit(self, notification: Notification, *, timeout: float) -> Optional[str]:
        self.seen.append(notification)
        return None


DISK = AlertMessage("disk full", "91%", AlertLevel.WARNING, dedup_key="disk-db1")


@pytest.fixture
def manager(tmp_path: Path) -> "AlertManager":
    return AlertManager(lifecycle={"state_dir": str(tmp_path), "repeat_interval": "1h"})


def test_off_by_default_imports_nothing_and_keeps_the_stats_as_they_were() -> None:
    code = (
        "import sys\n"
        "from kstalerts import AlertManager, AlertMessage\n"
        "from kstalerts.channels import CallbackChannel\n"
        "m = AlertManager(); m.add_channel(CallbackChannel(lambda a: None, name='ops'))\n"
        "m.send(AlertMessage('x')); m.send(AlertMessage('x'))\n"
        "print(sorted(m.stats.by_channel['ops']), m.stats.total_sent,"
        " [n for n in sys.modules if 'lifecycle' in n and n != 'kstalerts._lifecycle'])\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, universal_newlines=True, check=True
    ).stdout
    assert out.strip() == "['digests', 'failed', 'sent', 'suppressed', 'throttled'] 2 []"


def test_held_repeats_are_counted_and_ride_on_the_next_message_never_alone(manager: AlertManager) -> None:
    ops = Recorder("ops")
    manager.add_channel(ops)
    (first,) = manager.send(DISK)
    (held,) = manager.send(DISK.replace(body="92%"))
    assert (first.outcome, held.outcome) == (Outcome.DELIVERED, Outcome.HELD)
    assert str(held) == "ops: held (repeat interval)" and held.suppressed and not held.success
    assert manager.stats.total_held == 1 and manager.stats.by_channel["ops"]["held"] == 1
    assert manager.flush_digests() == []  # never a message of its own
    manager.send(AlertMessage("another", level=AlertLevel.WARNING))
    carried = ops.seen[-1].held_back
    assert carried is not None and "repeats, silenced or inhibited" in carried.headline
    manager.close()
    assert len(ops.seen) == 2


def test_resolve_reaches_the_channels_that_heard_it_whatever_their_level(manager: AlertManager) -> None:
    ops, pager, quiet = Recorder("ops"), Recorder("pager"), Recorder("quiet")
    manager.add_channel(ops, min_level="warning")
    manager.add_channel(pager, min_level="critical")
    manager.add_channel(quiet, send_resolved=False)
    manager.send(DISK)
    results = manager.resolve("disk-db1")
    assert [(r.channel, r.outcome) for r in results] == [("ops", Outcome.DELIVERED)]
    assert [n.state for n in ops.seen] == ["firing", "resolved"]
    assert pager.seen == [] and [n.state for n in quiet.seen] == ["firing"]
    assert manager.resolve(DISK) == []


def test_a_resolve_to_a_channel_that_fails_is_owed_again(manager: AlertManager, tmp_path: Path) -> None:
    class Flaky(Recorder):
        fail = False

        def _transmit(self, notification: Notification, *, timeout: float) -> Optional[str]:
            from kstalerts.exceptions import AlertDeliveryError

            if self.fail:
                raise AlertDeliveryError("down", retryable=False)
            return super()._transmit(notification, timeout=timeout)

    ops = Flaky("ops")
    manager.add_channel(ops)
    manager.send(DISK)
    ops.fail = True
    (failed,) = manager.resolve("disk-db1")
    assert failed.outcome is Outcome.REFUSED
    ops.fail = False
    (again,) = manager.resolve("disk-db1")
    assert again.outcome is Outcome.DELIVERED and ops.seen[-1].state == "resolved"


def test_silences_and_inhibition_are_their_own_outcomes(tmp_path: Path) -> None:
    rules = [{"source": ["level=critical"], "target": ["level=warning"], "equal": ["host"]}]
    manager = AlertManager(lifecycle={"state_dir": str(tmp_path), "inhibit": rules})
    manager.add_channel(Recorder("ops"))
    silence = manager.silence("host=db9", duration="10m", comment="maintenance")
    (muted,) = manager.send(AlertMessage("x", labels={"host": "db9"}))
    manager.send(AlertMessage("h1 down", level=AlertLevel.CRITICAL, labels={"host": "h1"}))
    (inhibited,) = manager.send(AlertMessage("svc", level=AlertLevel.WARNING, labels={"host": "h1"}))
    assert (muted.outcome, inhibited.outcome) == (Outcome.SILENCED, Outcome.INHIBITED)
    assert silence.id in str(muted.error) and "h1 down" in str(inhibited.error)
    stats = manager.stats
    assert (stats.total_silenced, stats.total_inhibited) == (1, 1)
    assert [s.id for s in manager.silences()] == [silence.id]
    assert manager.expire_silence(silence.id) is True and manager.silences() == []
    manager.close()


def test_a_heartbeat_from_python_resolves_its_missed_alert(manager: AlertManager) -> None:
    ops = Recorder("ops")
    manager.add_channel(ops)
    assert manager.heartbeat("backup", every="1s", grace="1s") == []
    import time

    time.sleep(2.2)
    sent, stale = manager.tick()
    assert [r.outcome for r in sent] == [Outcome.DELIVERED] and stale == ()
    (resolved,) = manager.heartbeat("backup", every="1s", grace="1s")
    assert resolved.outcome is Outcome.DELIVERED and ops.seen[-1].state == "resolved"


def test_lifecycle_calls_without_a_lifecycle_say_how_to_turn_it_on() -> None:
    with AlertManager() as manager:
        with pytest.raises(AlertConfigurationError, match="lifecycle="):
            manager.resolve("x")
        with pytest.raises(AlertConfigurationError, match="takes a Lifecycle"):
            manager.use_lifecycle("not a mapping")  # type: ignore[arg-type]


def test_an_unusable_state_folder_never_stops_a_send(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    manager = AlertManager(lifecycle={"state_dir": str(blocked / "state")})
    ops = Recorder("ops")
    manager.add_channel(ops)
    assert [r.outcome for r in manager.send(DISK)] == [Outcome.DELIVERED]
    assert [r.outcome for r in manager.send(DISK)] == [Outcome.DELIVERED]  # a duplicate, not a loss
    manager.close()
