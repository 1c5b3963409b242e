"""Job state and locks: private files, no links followed, damage reported, one holder at a time."""

import os
import stat
from pathlib import Path

import pytest

from kstalerts.jobs.state import JobLock, JobState, JobStateError, default_state_dir, ensure_dir, job_key


def test_default_state_dir_follows_xdg_and_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Who runs the tests must not decide which branch is tested (CI runs as root).
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert default_state_dir() == "/var/lib/kstalerts"
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_state_dir() == str(tmp_path / "kstalerts")
    monkeypatch.setenv("XDG_STATE_HOME", "relative/ignored")
    assert default_state_dir() == os.path.expanduser("~/.local/state/kstalerts")


def test_job_keys_are_file_names() -> None:
    assert job_key("backup") == "backup"
    assert job_key("../../etc/passwd").startswith("_.._etc_passwd-")
    assert job_key("").startswith("job-")
    assert job_key("a/b") != job_key("a_b")


def test_state_is_private_and_written_whole(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    state = JobState(str(folder), "backup")
    with state.transaction() as data:
        data["failures"] = 3
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "backup.json").stat().st_mode) == 0o600
    assert state.read()["failures"] == 3
    assert [p.name for p in folder.iterdir() if p.name.endswith(".tmp")] == []


def test_a_symlinked_state_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("{}")
    folder = tmp_path / "state"
    folder.mkdir(mode=0o700)
    (folder / "backup.json").symlink_to(target)
    with pytest.raises(JobStateError, match="symbolic link"):
        JobState(str(folder), "backup").read()


def test_a_symlinked_state_folder_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(JobStateError, match="not a directory"):
        ensure_dir(str(tmp_path / "link"))


def test_a_fifo_is_not_waited_on(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    folder.mkdir(mode=0o700)
    os.mkfifo(str(folder / "backup.json"))
    with pytest.raises(JobStateError, match="not a regular file"):
        JobState(str(folder), "backup").read()


def test_damage_is_reported_then_replaced(tmp_path: Path) -> None:
    state = JobState(str(tmp_path), "backup")
    Path(state.path).write_text("{not json")
    with pytest.raises(JobStateError, match="damaged"):
        state.read()
    with state.transaction() as data:
        assert data == {}
        data["failures"] = 1
    assert state.read()["failures"] == 1


def test_one_lock_holder_at_a_time(tmp_path: Path) -> None:
    first, second = JobLock(str(tmp_path), "sync"), JobLock(str(tmp_path), "sync")
    assert first.acquire()
    first.note_holder(1234, 1_700_000_000.0)
    assert not second.acquire()
    assert second.holder() == (1234, 1_700_000_000.0)
    first.release()
    assert second.acquire()
    second.release()
