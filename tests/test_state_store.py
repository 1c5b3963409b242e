"""The state store (kstalerts/state/store.py): its rules one by one, and the
hand-made bugs of issue 24 that survived the suite before, each pinned here.
"""

import errno
import json
import os
import pathlib
import signal
import stat
import subprocess
import sys
import threading
import time
from typing import Dict, List, Optional

import pytest

from kstalerts import AlertLevel, AlertMessage, AlertThrottle, run_job
from kstalerts.jobs.state import JobState, JobStateError
from kstalerts.limits import finite_number
from kstalerts.net.loopback import HTTPSink
from kstalerts.spool import Spool
from kstalerts.state import store
from tests import state_fixtures
from tests.clock import FakeClock

NOBODY = 65534
tiny_disk = state_fixtures.tiny_disk  # the fixture
fill = state_fixtures.fill


# -- folders and files ----------------------------------------------------------------------
def test_a_folder_group_or_others_may_write_is_refused(tmp_path: pathlib.Path) -> None:
    folder = tmp_path / "open"
    folder.mkdir()
    folder.chmod(0o777)
    with pytest.raises(store.UnsafeFileError, match=r"can be written by group or others \(mode 0777\)"):
        store.private_folder(str(folder), what="the state folder")
    folder.chmod(0o1777)
    assert store.private_folder(str(folder), what="the state folder", allow_sticky=True) == str(folder)


def test_a_folder_another_user_owns_is_refused(tmp_path: pathlib.Path) -> None:
    folder = tmp_path / "theirs"
    folder.mkdir(mode=0o700)
    os.chown(str(folder), NOBODY, NOBODY)
    with pytest.raises(store.UnsafeFileError, match=r"belongs to another user \(uid 65534\)"):
        store.private_folder(str(folder), what="the state folder")


def test_a_link_to_a_folder_is_refused_where_asked(tmp_path: pathlib.Path) -> None:
    (tmp_path / "real").mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(store.UnsafeFileError, match="symbolic link is refused"):
        store.private_folder(str(tmp_path / "link"), what="the state folder", links=False)


def test_folders_created_with_their_parents_are_0700_whatever_the_umask(tmp_path: pathlib.Path) -> None:
    old = os.umask(0)
    try:
        store.private_folder(str(tmp_path / "a" / "b" / "c"), what="the state folder")
    finally:
        os.umask(old)
    modes = [stat.S_IMODE((tmp_path / p).stat().st_mode) for p in ("a", "a/b", "a/b/c")]
    assert modes == [0o700, 0o700, 0o700]


@pytest.mark.parametrize("make", ["fifo", "link", "folder"])
def test_only_regular_files_are_opened(tmp_path: pathlib.Path, make: str) -> None:
    path = tmp_path / "state.json"
    if make == "fifo":
        os.mkfifo(str(path))
    elif make == "link":
        (tmp_path / "target").write_text("{}")
        path.symlink_to(tmp_path / "target")
    else:
        path.mkdir()
    started = time.monotonic()
    with pytest.raises(store.UnsafeFileError):
        store.open_file(str(path))
    assert time.monotonic() - started < 5  # a FIFO is never waited on


def test_a_document_another_user_owns_or_others_may_write_is_not_trusted(tmp_path: pathlib.Path) -> None:
    doc = store.Document(str(tmp_path / "s.json"), what="state file")
    (tmp_path / "s.json").write_text(json.dumps({"version": 1, "x": 1}))
    assert doc.read()["x"] == 1
    os.chown(str(tmp_path / "s.json"), NOBODY, NOBODY)
    with pytest.raises(store.UnsafeFileError, match="belongs to another user"):
        doc.read()
    with pytest.raises(store.UnsafeFileError):
        with doc.transaction(1.0):
            pytest.fail("the block must not run")
    os.chown(str(tmp_path / "s.json"), 0, 0)
    (tmp_path / "s.json").chmod(0o662)
    with pytest.raises(store.UnsafeFileError, match="written by group or others"):
        doc.read()


def test_damage_reads_as_empty_and_says_why(tmp_path: pathlib.Path) -> None:
    doc = store.Document(str(tmp_path / "s.json"), what="state file", max_bytes=100)
    for raw, why in (("{not json", "corrupt"), ('{"version": 7}', "version 1 expected"), ("[" * 200, "larger")):
        (tmp_path / "s.json").write_text(raw)
        assert doc.read() == {"version": 1}
        assert doc.damage is not None and why in doc.damage


# -- locking ----------------------------------------------------------------------------------
def _holder(path: pathlib.Path) -> "subprocess.Popen[str]":
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.spool_children", "hold_lock", str(path), "60"],
        cwd=str(pathlib.Path(__file__).resolve().parent.parent),
        stdout=subprocess.PIPE,
        universal_newlines=True,
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    return child


def test_a_lock_wait_is_bounded_and_never_taken_as_held(tmp_path: pathlib.Path) -> None:
    holder = _holder(tmp_path / "s.json.lock")
    try:
        started = time.monotonic()
        with pytest.raises(store.LockTimeoutError, match="still locked by another process after 0.3s"):
            with store.Document(str(tmp_path / "s.json"), what="state file").transaction(0.3):
                pytest.fail("the block must not run without the lock")
        assert time.monotonic() - started < 3
    finally:
        holder.kill()
        holder.communicate()


def test_a_signal_ends_a_lock_wait_at_once(tmp_path: pathlib.Path) -> None:
    holder = _holder(tmp_path / "s.lock")
    got: List[int] = []
    old = signal.signal(signal.SIGUSR1, lambda number, frame: got.append(number))
    try:
        threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGUSR1)).start()
        started = time.monotonic()
        with pytest.raises(store.LockInterruptedError):
            store.lock(str(tmp_path / "s.lock"), 60.0, stop=lambda: bool(got))
        assert time.monotonic() - started < 5
    finally:
        signal.signal(signal.SIGUSR1, old)
        holder.kill()
        holder.communicate()


def test_a_free_lock_is_taken_even_when_stop_is_already_true(tmp_path: pathlib.Path) -> None:
    fd = store.lock(str(tmp_path / "s.lock"), 1.0, stop=lambda: True)
    os.close(fd)


# -- reading ----------------------------------------------------------------------------------
def test_stamps_in_the_future_or_beyond_reach_are_damage() -> None:
    assert store.stamp(99.5, 100.0, reach=60) == 99.5
    assert store.stamp(100.5, 100.0, reach=60) == 100.0  # clocks read a little apart
    assert store.stamp(130.0, 100.0, reach=60) is None
    assert store.stamp(10.0, 100.0, reach=60) is None
    assert store.stamp(float("inf"), 100.0, reach=60) is None
    assert store.stamp(10**400, 100.0, reach=60) is None


def test_elapsed_times_use_the_monotonic_clock_within_a_boot_and_are_unknown_in_the_future() -> None:
    boot = store.boot_id()
    recorded = {"wall": 1000.0, "mono": 50.0, "boot": boot}
    # the wall clock was set back 5 h: the monotonic clock still says 10 s
    assert store.elapsed_since(recorded, now_wall=1000.0 - 18000, now_mono=60.0, boot=boot) == 10.0
    other_boot = {"wall": 1000.0, "mono": 50.0, "boot": "another"}
    assert store.elapsed_since(other_boot, now_wall=1100.0, now_mono=5.0, boot=boot) == 100.0
    assert store.elapsed_since(other_boot, now_wall=900.0, now_mono=5.0, boot=boot) is None
    assert store.elapsed_since(2000.0, now_wall=1000.0, now_mono=5.0, boot=boot) is None


# -- writing ----------------------------------------------------------------------------------
def test_a_write_that_fails_on_a_full_disk_leaves_the_old_file_and_no_temporary(tiny_disk: pathlib.Path) -> None:
    path = tiny_disk / "s.json"
    store.write_atomically(str(path), b'{"version":1,"old":true}')
    fill(tiny_disk)
    with pytest.raises(OSError) as raised:
        store.write_atomically(str(path), b"x" * 200_000)
    assert raised.value.errno in (errno.ENOSPC, errno.EFBIG)
    assert path.read_bytes() == b'{"version":1,"old":true}'
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["ballast", "s.json"]


def test_a_rlimit_fsize_write_fails_cleanly_too(tmp_path: pathlib.Path) -> None:
    import resource

    path = tmp_path / "s.json"
    store.write_atomically(str(path), b"old")
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))
            try:
                store.write_atomically(str(path), b"x" * 5000)
            except OSError as exc:
                code = 0 if exc.errno == errno.EFBIG else 2
        finally:
            os._exit(code)
    assert os.waitpid(pid, 0)[1] >> 8 == 0
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]


# -- bounds -------------------------------------------------------------------------------------
def test_fit_drops_the_oldest_first_and_keeps_the_newest() -> None:
    records: Dict[str, str] = {f"k{n}": "x" * 10 for n in range(10)}
    total = store.fit(records, max_entries=5, max_bytes=30, size=lambda k, v: len(v), total=100)
    assert list(records) == ["k7", "k8", "k9"] and total == 30
    one = {"only": "x" * 1000}
    store.fit(one, max_entries=5, max_bytes=10, size=lambda k, v: len(v), total=1000)
    assert one == {"only": "x" * 1000}  # never wiped


# -- claims -------------------------------------------------------------------------------------
def test_a_claims_owner_is_told_alive_or_dead_and_pid_reuse_is_caught() -> None:
    assert store.owner_alive(store.owner_token()) is True
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert store.owner_alive(f"{gone.pid}.12345") is False
    assert store.owner_alive(f"{os.getpid()}.1") is False  # the pid lives, but started at another time
    assert store.owner_alive("garbage") is None


# -- the hand-made bugs that survived the suite before (issue 24) ------------------------------
def test_bug_in_process_fast_path_refill_is_capped_at_burst() -> None:
    """A fast path that refilled without the burst cap let 603 alerts pass after an hour idle."""
    clock = FakeClock()
    throttle = AlertThrottle(rate=10, per=60.0, burst=3, clock=clock)
    assert [throttle.try_acquire() for _ in range(3)] == [True, True, True]
    clock.advance(3600.0)
    assert sum(throttle.try_acquire() for _ in range(1000)) == 3


def test_bug_a_failure_whose_alert_was_not_delivered_is_alerted_again(
    tmp_path: pathlib.Path, loopback_http: HTTPSink
) -> None:
    """A run failure whose alert was not delivered must not count as alerted (the lifecycle's
    notification log records a delivery only after it succeeded)."""
    from kstalerts import AlertManager
    from kstalerts.channels import SlackChannel
    from kstalerts.lifecycle import Lifecycle

    state = tmp_path / "state"
    down = AlertManager()
    down.add_channel(SlackChannel(loopback_http.failing_url(500), allow_custom_url=True, max_retries=0))
    with open(os.devnull, "w") as notes:
        run_job(["false"], name="etl", manager=down, state_dir=str(state), realert=3600, notices=notes)
        assert Lifecycle(str(state / "lifecycle")).alerts()[0]["channels"]["slack"]["state"] is None
        up = AlertManager()
        up.add_channel(SlackChannel(loopback_http.url, allow_custom_url=True, max_retries=0))
        second = run_job(["false"], name="etl", manager=up, state_dir=str(state), realert=3600, notices=notes)
    assert second.alerts_sent == 1  # not held back by --realert
    [firing] = Lifecycle(str(state / "lifecycle")).alerts()
    assert firing["key"] == f"kstalerts-run:etl@{os.uname().nodename}"
    assert firing["channels"]["slack"]["state"] == "firing"


def test_bug_a_failed_state_save_keeps_the_old_state_not_an_empty_one(tiny_disk: pathlib.Path) -> None:
    """A save written in place: a failed write left an empty file, read back as a fresh state."""
    state = JobState(str(tiny_disk / "state"), "etl")
    with state.transaction() as data:
        data["failures"] = 4
        data["padding"] = "p" * 20_000
    fill(tiny_disk)
    with pytest.raises(JobStateError, match="No space left on device"):
        with state.transaction() as data:
            data["failures"] = 5
            data["padding"] = "q" * 40_000
    assert state.read()["failures"] == 4


def test_bug_a_spooled_alert_is_fsynced_file_and_folder(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dropping the spool's file or folder fsync lets a power loss take an alert reported spooled."""
    synced: List[str] = []
    real = os.fsync

    def record(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    spool = Spool(tmp_path / "spool")
    spool.put(AlertMessage("warm-up", level=AlertLevel.INFO), "ops")  # the folder exists now
    monkeypatch.setattr(os, "fsync", record)
    name: Optional[str] = spool.put(AlertMessage("disk full", level=AlertLevel.CRITICAL), "ops")
    assert name is not None
    entry_tmp = str(tmp_path / "spool" / f".tmp-{name}")
    assert entry_tmp in synced  # the file's bytes, before the rename
    assert str(tmp_path / "spool") in synced[synced.index(entry_tmp) :]  # the rename, after it


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), True, "1", 10**400])
def test_bug_finite_number_refuses_infinities_and_non_numbers(value: object) -> None:
    assert finite_number(value) is None


def test_finite_number_keeps_finite_ones() -> None:
    assert finite_number(-1.5) == -1.5 and finite_number(3) == 3.0


def test_every_state_promise_in_guarantees_md_names_tests_that_exist() -> None:
    """docs/guarantees.md's state table: each row names tests, and each named test exists."""
    import re

    root = pathlib.Path(__file__).resolve().parent
    text = (root.parent / "docs" / "guarantees.md").read_text(encoding="utf-8")
    section = text.split("## State: what the store guarantees, and what happens when it cannot", 1)[1]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| promise")]
    assert len(rows) >= 10
    for row in rows:
        names = re.findall(r"`(?:(test_\w+\.py))?::(test_\w+)`|`(test_\w+\.py)::(test_\w+)`", row)
        assert names, row
        module = ""
        for first, name, second, other in names:
            module = first or second or module
            test = name or other
            assert re.search(rf"^def {test}\(", (root / module).read_text(encoding="utf-8"), re.M), (module, test)
