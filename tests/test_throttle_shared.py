"""AlertThrottle(state_file=...): one bucket shared by processes through a locked file."""

import json
import logging
import pathlib
import threading
from typing import List

import pytest

from kstalerts import AlertThrottle
from kstalerts.limits import MAX_STATE_BYTES
from kstalerts.state.shared import boot_id
from tests import children


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_eight_processes_sharing_a_state_file_admit_exactly_burst(tmp_path: pathlib.Path) -> None:
    state = tmp_path / "throttle.json"
    go = tmp_path / "go"
    procs = [children.start("throttle", str(state), str(go), "5") for _ in range(8)]
    try:
        for proc in procs:
            children.wait_ready(proc)
    finally:
        go.touch()  # all eight contend for the bucket at once
    outputs = children.finish(procs)
    admitted = [int(out.strip()) for out in outputs]
    assert sum(admitted) == 10, admitted
    assert json.loads(state.read_text())["throttle"]["ops"]["tokens"] == pytest.approx(0.0, abs=1e-3)


def test_two_throttles_on_one_file_draw_from_one_bucket(tmp_path: pathlib.Path) -> None:
    clock = Clock()
    path = tmp_path / "t.json"
    a = AlertThrottle(rate=6, per=60.0, burst=3, clock=clock, state_file=path)
    b = AlertThrottle(rate=6, per=60.0, burst=3, clock=clock, state_file=path)
    assert [a.try_acquire(), b.try_acquire(), a.try_acquire(), b.try_acquire()] == [True, True, True, False]
    assert b.available == pytest.approx(0.0)
    assert a.time_until_available == pytest.approx(10.0)
    clock.now += 10.0  # one token per 10 s, whoever takes it
    assert b.try_acquire()
    assert not a.try_acquire()


def test_threads_sharing_one_state_file_admit_exactly_burst(tmp_path: pathlib.Path) -> None:
    throttle = AlertThrottle(rate=5, per=86400.0, burst=5, state_file=tmp_path / "t.json")
    admitted: List[bool] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(10):
            ok = throttle.try_acquire()
            with lock:
                admitted.append(ok)

    threads = [threading.Thread(target=take) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert admitted.count(True) == 5
    assert len(admitted) == 60


def test_state_keys_keep_separate_buckets_in_one_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "t.json"
    ops = AlertThrottle(rate=1, per=3600.0, burst=1, state_file=path, state_key="ops")
    mail = AlertThrottle(rate=1, per=3600.0, burst=1, state_file=path, state_key="mail")
    assert ops.try_acquire() and mail.try_acquire()
    assert not ops.try_acquire() and not mail.try_acquire()
    assert sorted(json.loads(path.read_text())["throttle"]) == ["mail", "ops"]
    assert ops.state_file == str(path)
    assert AlertThrottle(rate=1, per=1.0).state_file is None


def test_reset_fills_the_shared_bucket(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "t.json"
    a = AlertThrottle(rate=2, per=3600.0, burst=2, state_file=path)
    b = AlertThrottle(rate=2, per=3600.0, burst=2, state_file=path)
    assert a.try_acquire() and a.try_acquire() and not b.try_acquire()
    b.reset()
    assert a.available == pytest.approx(2.0, abs=1e-3)
    assert "state_file=" in repr(a)


def test_buckets_that_refilled_are_pruned_from_the_file(tmp_path: pathlib.Path) -> None:
    clock = Clock()
    path = tmp_path / "t.json"
    old = AlertThrottle(rate=10, per=10.0, burst=10, clock=clock, state_file=path, state_key="old")
    new = AlertThrottle(rate=10, per=10.0, burst=10, clock=clock, state_file=path, state_key="new")
    assert old.try_acquire()
    assert new.try_acquire()
    assert sorted(json.loads(path.read_text())["throttle"]) == ["new", "old"]
    clock.now += 1.5  # "old" is full again after 1 s
    assert new.try_acquire()
    assert sorted(json.loads(path.read_text())["throttle"]) == ["new"]


def test_a_stamp_from_the_future_counts_as_now(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "t.json"
    ahead = AlertThrottle(rate=1, per=10.0, burst=1, clock=lambda: 1e6, state_file=path)
    assert ahead.try_acquire()
    clock = Clock(5.0)
    behind = AlertThrottle(rate=1, per=10.0, burst=1, clock=clock, state_file=path)
    assert not behind.try_acquire()  # the token taken is still gone
    clock.now += 10.0  # but the bucket refills from "now", not from 1e6
    assert behind.try_acquire()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "is corrupt (not JSON); starting from an empty state"),
        (b"[1, 2]", "is not a kstalerts state (version 1 expected); starting from an empty state"),
        (b'{"version": 99}', "is not a kstalerts state (version 1 expected); starting from an empty state"),
        (b"\xff\xfe", "is corrupt (not JSON); starting from an empty state"),
        (b"[" * 100000, "is corrupt (not JSON); starting from an empty state"),
    ],
)
def test_a_corrupt_state_file_resets_to_a_full_bucket_with_a_warning(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture, content: bytes, message: str
) -> None:
    path = tmp_path / "t.json"
    path.write_bytes(content)
    throttle = AlertThrottle(rate=2, per=3600.0, burst=2, state_file=path)
    with caplog.at_level(logging.WARNING, logger="kstalerts"):
        assert throttle.try_acquire()
    said = [r.getMessage() for r in caplog.records if r.name.startswith("kstalerts")]
    assert said == [f"state file {path} {message}"]
    assert throttle.try_acquire() and not throttle.try_acquire()
    assert json.loads(path.read_text())["version"] == 1


def test_a_damaged_bucket_is_refilled_with_a_warning(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "t.json"
    path.write_text(
        json.dumps({"version": 1, "boot_id": boot_id(), "throttle": {"default": {"tokens": "x"}}})
    )
    throttle = AlertThrottle(rate=2, per=3600.0, burst=2, state_file=path)
    with caplog.at_level(logging.WARNING, logger="kstalerts"):
        assert throttle.available == pytest.approx(2.0)
    assert [r.getMessage() for r in caplog.records] == [
        "throttle bucket 'default' in the state file is damaged; refilled"
    ]


def test_an_oversized_or_empty_state_file_resets(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "t.json"
    path.write_bytes(b" " * (MAX_STATE_BYTES + 1))
    throttle = AlertThrottle(rate=1, per=3600.0, burst=1, state_file=path)
    with caplog.at_level(logging.WARNING, logger="kstalerts"):
        assert throttle.try_acquire()
    assert [r.getMessage() for r in caplog.records] == [
        f"state file {path} is larger than {MAX_STATE_BYTES} bytes; starting from an empty state"
    ]
    caplog.clear()
    path.write_bytes(b"")  # what a machine crash can leave: reset quietly
    with caplog.at_level(logging.WARNING, logger="kstalerts"):
        assert throttle.try_acquire()
    assert caplog.records == []


def test_state_from_another_boot_is_ignored(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "t.json"
    drained = {"tokens": 0.0, "stamp": 1.0, "full_at": 1e12}
    path.write_text(json.dumps({"version": 1, "boot_id": "another-boot", "throttle": {"default": drained}}))
    throttle = AlertThrottle(rate=1, per=3600.0, burst=1, clock=lambda: 2.0, state_file=path)
    if boot_id() is None:
        pytest.skip("no boot id on this system")
    assert throttle.try_acquire()


def test_an_unusable_state_file_falls_back_to_an_empty_process_bucket(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "missing-dir").write_text("")  # a file where the folder should be
    path = tmp_path / "missing-dir" / "t.json"
    throttle = AlertThrottle(rate=2, per=3600.0, burst=2, state_file=path)
    with caplog.at_level(logging.WARNING, logger="kstalerts"):
        # never a fresh full bucket: the fallback starts empty and refills at rate
        assert [throttle.try_acquire() for _ in range(3)] == [False, False, False]
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1  # said once, not at every take
    assert messages[0].startswith(f"throttle state file {path} cannot be used (")
    assert messages[0].endswith("); this process throttles on its own, from an empty bucket")
    caplog.clear()
    (tmp_path / "missing-dir").unlink()
    (tmp_path / "missing-dir").mkdir()
    with caplog.at_level(logging.WARNING, logger="kstalerts"):
        assert throttle.try_acquire()  # the file starts full
    assert [r.getMessage() for r in caplog.records] == [f"throttle state file {path} usable again"]


def test_a_state_path_taken_by_a_folder_is_reported_and_the_take_still_answers_conservatively(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "t.json"
    path.mkdir()  # the state file's name is taken by a folder
    throttle = AlertThrottle(rate=1, per=3600.0, burst=1, state_file=path)
    with caplog.at_level(logging.WARNING, logger="kstalerts"):
        assert not throttle.try_acquire()  # held, not admitted from a bucket of its own
    (message,) = [r.getMessage() for r in caplog.records]
    assert message.startswith(f"throttle state file {path} cannot be used (")
    assert "is a folder, not a regular file" in message


def test_a_400_digit_stamp_in_the_state_file_is_damage_not_an_error(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "t.json"
    huge = int("9" * 400)
    bucket = {"tokens": huge, "stamp": huge, "full_at": huge}
    path.write_text(
        json.dumps({"version": 1, "boot_id": boot_id(), "throttle": {"default": bucket, "b": bucket}})
    )
    throttle = AlertThrottle(rate=2, per=3600.0, burst=2, state_file=path)
    with caplog.at_level(logging.WARNING, logger="kstalerts"):
        assert [throttle.try_acquire() for _ in range(3)] == [True, True, False]
    assert "throttle bucket 'default' in the state file is damaged; refilled" in caplog.text


# -- a peer process stuck holding the state lock: bounded waits, repr without I/O ------
def test_try_acquire_and_repr_return_promptly_while_another_process_holds_the_lock(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    import time

    from kstalerts.limits import STATE_LOCK_TRY

    path = tmp_path / "t.json"
    throttle = AlertThrottle(rate=2, per=3600.0, burst=2, state_file=path)
    assert throttle.try_acquire()  # the file works; now a peer takes its lock and keeps it
    holder = children.start("hold_lock", str(path) + ".lock", "60")
    try:
        children.wait_ready(holder)
        started = time.monotonic()
        shown = repr(throttle)
        assert time.monotonic() - started < STATE_LOCK_TRY  # no I/O at all: waiting for the lock takes that long
        assert shown == f"AlertThrottle(rate=2.0, per=3600.0, burst=2, state_file={str(path)!r})"
        with caplog.at_level(logging.WARNING, logger="kstalerts"):
            started = time.monotonic()
            first = throttle.try_acquire()
            took = time.monotonic() - started
        assert took < STATE_LOCK_TRY + 1.0, took  # bounded: then the process's own bucket answers
        assert first is False  # which starts empty: contention never admits more than the bound
        assert "still locked by another process after 0.5s" in caplog.text
        assert "this process throttles on its own" in caplog.text
        started = time.monotonic()
        assert throttle.try_acquire() is False  # the in-process bucket is now empty
        assert time.monotonic() - started < STATE_LOCK_TRY + 1.0
    finally:
        holder.kill()
        holder.communicate()
    # The lock is free again: the shared bucket answers (one of its two tokens is left).
    assert [throttle.try_acquire(), throttle.try_acquire()] == [True, False]
