"""Deduplicator, and duplicate suppression in the manager, in one process and across two."""

import json
import logging
import pathlib
import threading
import time
from typing import List

import pytest

from kstalerts import (
    AlertConfigurationError,
    AlertDeliveryError,
    AlertLevel,
    AlertManager,
    AlertMessage,
    AlertThrottle,
)
from kstalerts.channels import CallbackChannel
from kstalerts.dedup import Claim, Deduplicator, _digest
from kstalerts.limits import MAX_SEND_BUDGET
from tests import children


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def deliver(d: Deduplicator, channel: str, key: str, *, ok: bool = True) -> Claim:
    claim = d.claim(channel, key)
    if claim.granted:
        d.done(channel, key, claim, delivered=ok)
    return claim


def test_a_delivered_key_is_suppressed_within_the_window_only() -> None:
    clock = Clock()
    d = Deduplicator(60.0, clock=clock)
    assert deliver(d, "ops", "k").granted
    clock.now += 59.0
    second = d.claim("ops", "k")
    assert not second.granted
    assert second.reason == "duplicate: delivered to this channel 59s ago (dedup window 60s)"
    clock.now += 1.0
    assert d.claim("ops", "k").granted


def test_keys_are_remembered_per_channel() -> None:
    d = Deduplicator(60.0)
    assert deliver(d, "ops", "k").granted
    assert d.claim("mail", "k").granted
    assert d.claim("ops", "other").granted


def test_a_failed_delivery_is_not_remembered() -> None:
    d = Deduplicator(60.0)
    assert deliver(d, "ops", "k", ok=False).granted
    assert deliver(d, "ops", "k").granted
    assert not d.claim("ops", "k").granted


def test_a_claim_in_flight_suppresses_a_concurrent_duplicate_then_lapses() -> None:
    clock = Clock()
    d = Deduplicator(10.0, clock=clock)
    first = d.claim("ops", "k")
    assert first.granted
    second = d.claim("ops", "k")
    assert second.reason == "duplicate: the same alert is being delivered to this channel now"
    clock.now += MAX_SEND_BUDGET  # its owner died mid-send
    third = d.claim("ops", "k")
    assert third.granted
    d.done("ops", "k", first, delivered=False)  # a late owner does not drop a newer claim
    assert not d.claim("ops", "k").granted


def test_memory_is_bounded_and_forgets_the_oldest_first() -> None:
    clock = Clock()
    d = Deduplicator(3600.0, max_keys=3, clock=clock)
    for key in "abcd":
        assert deliver(d, "ops", key).granted
        clock.now += 1
    assert len(d) == 3
    assert d.claim("ops", "a").granted  # forgotten
    assert not d.claim("ops", "d").granted


def test_expired_keys_go_before_live_ones() -> None:
    clock = Clock()
    d = Deduplicator(10.0, max_keys=2, clock=clock)
    deliver(d, "ops", "old")
    clock.now += 20
    deliver(d, "ops", "new")
    deliver(d, "ops", "newer")
    assert not d.claim("ops", "new").granted
    assert not d.claim("ops", "newer").granted


def test_window_goes_through_the_hard_limits(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="kstalerts"):
        assert Deduplicator(10**9).window == 604800.0
    assert [r.getMessage() for r in caplog.records] == [
        "dedup.window: asked 1000000000, applied 604800.0 (the maximum)"
    ]
    with pytest.raises(AlertConfigurationError, match=r"^dedup.window: must be a number, got 'soon'$"):
        Deduplicator("soon")  # type: ignore[arg-type]


def test_from_config() -> None:
    assert Deduplicator.from_config(30).window == 30.0
    d = Deduplicator.from_config({"window": 5, "state_file": "/tmp/x.json"})
    assert (d.window, d.state_file) == (5.0, "/tmp/x.json")
    assert repr(d) == "Deduplicator(window=5, state_file='/tmp/x.json')"
    with pytest.raises(AlertConfigurationError, match=r"^dedup: unknown key 'windw'$"):
        Deduplicator.from_config({"windw": 5})
    with pytest.raises(
        AlertConfigurationError, match=r"^dedup.window: duplicate suppression needs a window$"
    ):
        Deduplicator.from_config({})


def test_clear_forgets_everything(tmp_path: pathlib.Path) -> None:
    for d in (Deduplicator(60.0), Deduplicator(60.0, state_file=tmp_path / "d.json")):
        deliver(d, "ops", "k")
        d.clear()
        assert len(d) == 0
        assert d.claim("ops", "k").granted


# -- shared state ---------------------------------------------------------------


def test_two_deduplicators_on_one_state_file_share_what_was_delivered(tmp_path: pathlib.Path) -> None:
    clock = Clock()
    path = tmp_path / "dedup.json"
    a = Deduplicator(60.0, state_file=path, clock=clock)
    b = Deduplicator(60.0, state_file=path, clock=clock)
    assert deliver(a, "ops", "k").granted
    assert not b.claim("ops", "k").granted
    clock.now += 61
    assert b.claim("ops", "k").granted
    stored = json.loads(path.read_text())["dedup"]
    assert list(stored) == ["ops"] and list(stored["ops"]) == [_digest("k")]  # keys stored hashed


def test_the_shared_file_forgets_expired_keys_and_stays_bounded(tmp_path: pathlib.Path) -> None:
    clock = Clock()
    path = tmp_path / "dedup.json"
    d = Deduplicator(10.0, state_file=path, max_keys=3, clock=clock)
    for key in "abcde":
        deliver(d, "ops", key)
        clock.now += 1
    assert sorted(json.loads(path.read_text())["dedup"]["ops"]) == sorted(_digest(k) for k in "cde")
    clock.now += 30
    deliver(d, "ops", "f")
    assert sorted(json.loads(path.read_text())["dedup"]["ops"]) == [_digest("f")]


def test_malformed_records_in_the_shared_file_are_dropped(tmp_path: pathlib.Path) -> None:
    from kstalerts.state.shared import boot_id

    path = tmp_path / "dedup.json"
    records = {"ops": {_digest("good"): [995.0, None], "bad": "x", "worse": [True, None]}, "mail": 3}
    path.write_text(json.dumps({"version": 1, "boot_id": boot_id(), "dedup": records}))
    d = Deduplicator(60.0, state_file=path, clock=Clock())
    assert not d.claim("ops", "good").granted
    assert d.claim("ops", "bad").granted and d.claim("ops", "worse").granted


def test_an_unlockable_state_file_falls_back_to_memory(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "no-such-dir").write_text("")  # a file where the folder should be
    path = tmp_path / "no-such-dir" / "dedup.json"
    d = Deduplicator(60.0, state_file=path)
    with caplog.at_level(logging.WARNING, logger="kstalerts"):
        assert deliver(d, "ops", "k").granted
        assert not d.claim("ops", "k").granted
    (message,) = [r.getMessage() for r in caplog.records]
    assert message.startswith(f"dedup state file {path} cannot be used (")
    assert message.endswith("); this process deduplicates on its own")


def test_dedup_across_two_processes_with_a_shared_state_file(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "dedup.json")
    (first,) = children.finish([children.start("dedup", path, "300", "disk full")])
    (second,) = children.finish([children.start("dedup", path, "300", "disk full")])
    (other,) = children.finish([children.start("dedup", path, "300", "disk almost full")])
    assert json.loads(first) == {"success": True, "suppressed": False, "delivered": ["disk full"]}
    assert json.loads(second) == {"success": False, "suppressed": True, "delivered": []}
    assert json.loads(other) == {"success": True, "suppressed": False, "delivered": ["disk almost full"]}


def test_four_processes_sending_one_alert_at_once_deliver_it_once(tmp_path: pathlib.Path) -> None:
    path, go = str(tmp_path / "dedup.json"), tmp_path / "go"
    procs = [children.start("dedup", path, "300", "disk full", str(go)) for _ in range(4)]
    try:
        for proc in procs:
            children.wait_ready(proc)
    finally:
        go.touch()
    results = [json.loads(out) for out in children.finish(procs)]
    assert sum(len(r["delivered"]) for r in results) == 1
    assert sorted(r["suppressed"] for r in results) == [False, True, True, True]


# -- in the manager ----------------------------------------------------------------


def test_manager_suppresses_a_duplicate_and_counts_it() -> None:
    seen: List[str] = []
    with AlertManager(dedup=60) as manager:
        manager.add_channel(CallbackChannel(lambda a: seen.append(a.title), name="ops"))
        manager.add_channel(CallbackChannel(lambda a: seen.append("mail:" + a.title), name="mail"))
        alert = AlertMessage("disk full", level=AlertLevel.CRITICAL)
        first = manager.send(alert)
        again = manager.send(AlertMessage("disk full", "other body", level=AlertLevel.CRITICAL))
        other_level = manager.send(AlertMessage("disk full", level=AlertLevel.WARNING))
    assert [r.success for r in first] == [True, True]
    assert [(r.success, r.suppressed, r.attempts, r.spooled) for r in again] == [(False, True, 0, False)] * 2
    assert str(again[0]) == "ops: suppressed (duplicate within the window)"
    assert again[0].error is not None and again[0].error.startswith("duplicate: delivered to this channel ")
    assert [r.success for r in other_level] == [True, True]  # the default key includes the level
    assert sorted(seen) == ["disk full", "disk full", "mail:disk full", "mail:disk full"]
    stats = manager.stats
    assert (stats.total_sent, stats.total_suppressed, stats.total_failed) == (4, 2, 0)
    # the WARNING carried the digest counting the suppressed duplicate
    assert stats.by_channel["ops"] == {"sent": 2, "failed": 0, "throttled": 0, "suppressed": 1, "digests": 1}


def test_an_explicit_dedup_key_groups_different_titles() -> None:
    seen: List[str] = []
    with AlertManager(dedup={"window": 60}) as manager:
        manager.add_channel(CallbackChannel(lambda a: seen.append(a.title), name="ops"))
        manager.send(AlertMessage("backup failed: disk", dedup_key="backup"))
        (result,) = manager.send(AlertMessage("backup failed: network", dedup_key="backup"))
    assert result.suppressed and seen == ["backup failed: disk"]


def test_a_failed_or_throttled_send_does_not_suppress_the_next() -> None:
    calls: List[str] = []

    def flaky(alert: AlertMessage) -> None:
        calls.append(alert.title)
        if len(calls) == 1:
            raise AlertDeliveryError("boom", retryable=False)

    throttle = AlertThrottle(rate=1, per=3600.0, burst=1)
    with AlertManager(dedup=60) as manager:
        manager.add_channel(CallbackChannel(flaky, name="ops"), throttle=throttle)
        assert not manager.send(AlertMessage("x"))[0].success  # failed: token used
        (throttled,) = manager.send(AlertMessage("x"))
        assert throttled.throttled and not throttled.suppressed
        throttle.reset()
        assert manager.send(AlertMessage("x"))[0].success
        assert manager.send(AlertMessage("x"))[0].suppressed
    assert calls == ["x", "x"]


def test_concurrent_sends_of_one_alert_deliver_it_once() -> None:
    seen: List[str] = []
    gate = threading.Event()

    def slow(alert: AlertMessage) -> None:
        gate.wait(5)
        seen.append(alert.title)

    with AlertManager(dedup=60, max_workers=4) as manager:
        manager.add_channel(CallbackChannel(slow, name="ops"))
        results: List[bool] = []
        threads = [
            threading.Thread(
                target=lambda: results.extend(r.suppressed for r in manager.send(AlertMessage("x")))
            )
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        time.sleep(0.05)
        gate.set()
        for thread in threads:
            thread.join()
    assert seen == ["x"]
    assert sorted(results) == [False, True, True, True]


# -- a hostile state file -----------------------------------------------------------
def _state_with(path: pathlib.Path, records: object, mode: int = 0o600) -> None:
    from kstalerts.state.shared import boot_id

    path.write_text(json.dumps({"version": 1, "boot_id": boot_id(), "dedup": records}))
    path.chmod(mode)


def test_a_400_digit_stamp_in_the_state_file_never_escapes_send(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "dedup.json"
    huge = int("9" * 400)
    _state_with(path, {"ops": {"CRITICAL:disk full": [huge, None], "x": [-huge, "t"]}})
    seen: List[str] = []
    with AlertManager(dedup=Deduplicator(60.0, state_file=path)) as manager:
        manager.add_channel(CallbackChannel(lambda a: seen.append(a.title), name="ops"))
        (result,) = manager.send(AlertMessage("disk full", level=AlertLevel.CRITICAL))
    assert result.success and seen == ["disk full"]


@pytest.mark.parametrize("mode", [0o666, 0o620, 0o602])
def test_a_forged_record_in_a_file_others_can_write_is_not_trusted(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture, mode: int
) -> None:
    """A 'delivered 1 s ago' record would silence a CRITICAL if it were trusted."""
    path = tmp_path / "dedup.json"
    forged = {"ops": {_digest("CRITICAL:disk full"): [time.monotonic() - 1.0, None]}}
    _state_with(path, forged, 0o600)
    assert not Deduplicator(60.0, state_file=path).claim("ops", "CRITICAL:disk full").granted  # trusted
    _state_with(path, forged, mode)
    seen: List[str] = []
    with caplog.at_level(logging.WARNING, logger="kstalerts"):
        with AlertManager(dedup=Deduplicator(60.0, state_file=path)) as manager:
            manager.add_channel(CallbackChannel(lambda a: seen.append(a.title), name="ops"))
            (result,) = manager.send(AlertMessage("disk full", level=AlertLevel.CRITICAL))
    assert result.success and seen == ["disk full"]
    (message,) = [r.getMessage() for r in caplog.records]
    assert f"can be written by group or others (mode {mode:04o}); not trusted (chmod 600" in message
    assert message.endswith("this process deduplicates on its own")


def test_state_files_are_private_and_never_followed_or_waited_on(tmp_path: pathlib.Path) -> None:
    import os
    import stat

    folder = tmp_path / "new" / "state"
    old = os.umask(0)
    try:
        deliver(Deduplicator(60.0, state_file=folder / "dedup.json"), "ops", "k")
    finally:
        os.umask(old)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "dedup.json").stat().st_mode) == 0o600
    assert sorted(p.name for p in folder.iterdir()) == ["dedup.json", "dedup.json.lock"]
    # A link or a FIFO planted at the file's names is refused, not followed, not waited on.
    victim = tmp_path / "victim"
    victim.write_text("precious")
    other = tmp_path / "other"
    other.mkdir(mode=0o700)
    (other / "d.json").symlink_to(victim)
    os.mkfifo(str(other / "d.json.lock"))
    started = time.monotonic()
    d = Deduplicator(60.0, state_file=other / "d.json")
    assert deliver(d, "ops", "k").granted and not d.claim("ops", "k").granted  # in memory
    assert time.monotonic() - started < 5 and victim.read_text() == "precious"


def test_a_group_writable_state_folder_is_refused_a_sticky_one_is_not(tmp_path: pathlib.Path) -> None:
    import os

    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    d = Deduplicator(60.0, state_file=shared / "dedup.json")
    deliver(d, "ops", "k")
    assert not (shared / "dedup.json").exists()  # refused: the process kept it in memory
    os.chmod(shared, 0o1777)  # like /var/tmp: nobody can replace a file they do not own
    deliver(Deduplicator(60.0, state_file=shared / "dedup.json"), "ops", "k")
    assert (shared / "dedup.json").exists()


@pytest.mark.slow(seconds=3)
def test_manager_send_with_a_locked_dedup_state_finishes_in_bounded_time_and_delivers(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Another process stuck holding the state lock delays a send by at most
    the bounded wait (then this process deduplicates on its own)."""
    from kstalerts.limits import STATE_LOCK_TRY, STATE_LOCK_WAIT

    path = tmp_path / "dedup.json"
    seen: List[str] = []
    manager = AlertManager(dedup=Deduplicator(60.0, state_file=path))
    manager.add_channel(CallbackChannel(lambda a: seen.append(a.title), name="ops"))
    holder = children.start("hold_lock", str(path) + ".lock", "60")
    try:
        children.wait_ready(holder)
        with caplog.at_level(logging.WARNING, logger="kstalerts"):
            started = time.monotonic()
            (result,) = manager.send(AlertMessage("disk full", level=AlertLevel.CRITICAL))
            took = time.monotonic() - started
            (again,) = manager.send(AlertMessage("disk full", level=AlertLevel.CRITICAL))
        assert result.success and seen == ["disk full"]
        assert took < STATE_LOCK_WAIT + STATE_LOCK_TRY + 2.0, took  # claim, then done: both bounded
        assert again.suppressed  # the process's own memory still deduplicates
        assert "still locked by another process" in caplog.text
    finally:
        holder.kill()
        holder.communicate()
        manager.close()
