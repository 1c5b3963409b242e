"""run_job in this process: every way a job can end, retries, locks, state, config trouble.

The command-line tests (tests/test_run.py) run ``kstalerts run`` as cron
does; these call :func:`kstalerts.run_job` directly with a callback channel,
so the runner's own paths are exercised (and counted) in-process. Jobs are
real processes; signals are real signals.
"""

import io
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator, List, Tuple

import pytest

from kstalerts import AlertManager, AlertMessage, run_job
from kstalerts.channels import CallbackChannel
from kstalerts.cli import main
from kstalerts.jobs.state import JobLock


@pytest.fixture
def alerts() -> Iterator[Tuple[AlertManager, List[AlertMessage]]]:
    seen: List[AlertMessage] = []
    with AlertManager() as manager:
        manager.add_channel(CallbackChannel(seen.append, name="ops"))
        yield manager, seen


def quiet_run(command: List[str], manager: AlertManager, **options: Any) -> Any:
    notes = io.StringIO()
    options.setdefault("state_dir", False)
    result = run_job(command, manager=manager, quiet=True, notices=notes, **options)
    return result, notes.getvalue()


def test_every_way_a_job_ends(tmp_path: Path, alerts: Tuple[AlertManager, List[AlertMessage]]) -> None:
    manager, seen = alerts
    script = tmp_path / "not-executable.sh"
    script.write_text("#!/bin/sh\n")
    cases = [
        (["sh", "-c", "exit 0"], "ok", 0, None),
        (["sh", "-c", "echo bad; exit 7"], "failed", 7, "sh failed: exit 7"),
        (["sh", "-c", "kill -TERM $$"], "killed", 143, "sh killed by SIGTERM"),
        (
            ["no-such-command-kst"],
            "not_found",
            127,
            "no-such-command-kst could not start: No such file or directory",
        ),
        ([str(script)], "not_executable", 126, "not-executable.sh could not start: Permission denied"),
    ]
    for command, status, code, title in cases:
        del seen[:]
        result, _ = quiet_run(command, manager)
        assert (result.status, result.exit_code) == (status, code), command
        assert [a.title for a in seen] == ([title] if title else []), command


def test_timeout_then_kill_after_for_a_job_that_ignores_sigterm(
    alerts: Tuple[AlertManager, List[AlertMessage]],
) -> None:
    manager, seen = alerts
    start = time.monotonic()
    script = "trap '' TERM; echo waiting; while :; do sleep 0.05; done"
    result, notes = quiet_run(["sh", "-c", script], manager, timeout=0.5, kill_after=0.5, name="stubborn")
    assert (result.status, result.exit_code, result.returncode) == ("timeout", 124, -9)
    assert time.monotonic() - start < 10
    assert [a.title for a in seen] == ["stubborn timed out after 0.5 s"]
    assert "waiting" in seen[0].body and "waiting" in notes  # --quiet shows the tail on failure


def test_a_signal_to_the_wrapper_is_forwarded_and_the_run_is_interrupted(
    tmp_path: Path, alerts: Tuple[AlertManager, List[AlertMessage]]
) -> None:
    manager, seen = alerts
    started = tmp_path / "started"

    def hang_up_when_started() -> None:
        deadline = time.monotonic() + 20
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGHUP)

    before = signal.getsignal(signal.SIGHUP)
    sender = threading.Thread(target=hang_up_when_started)
    sender.start()
    try:
        result, _ = quiet_run(["sh", "-c", f"touch {started}; exec sleep 30"], manager, name="long")
    finally:
        sender.join()
    assert (result.status, result.exit_code, result.returncode) == ("interrupted", 129, -1)
    assert [a.title for a in seen] == ["long interrupted by SIGHUP (exit 129)"]
    assert signal.getsignal(signal.SIGHUP) == before


def test_retries_and_their_marks(tmp_path: Path, alerts: Tuple[AlertManager, List[AlertMessage]]) -> None:
    manager, seen = alerts
    result, _ = quiet_run(["sh", "-c", "echo attempt; exit 1"], manager, retries=2, retry_delay=0.05)
    assert (result.status, result.attempts) == ("failed", 3)
    assert result.tail.count("attempt") >= 3
    assert "--- attempt 2 of 3 failed: exit 1; next in 0.05 s ---" in result.tail
    assert "attempts: 3" in seen[0].body


def test_state_recovery_repeat_on_the_lifecycle(
    tmp_path: Path, alerts: Tuple[AlertManager, List[AlertMessage]]
) -> None:
    """A caller's manager without a lifecycle gets one in the job's state folder for the run:
    repeats held for ``realert`` (at least 1 s), one resolved message to each channel that
    heard the failure, whatever its min_level; the caller's manager is left as it was."""
    manager, seen = alerts
    warned: List[AlertMessage] = []
    manager.add_channel(CallbackChannel(warned.append, name="critical-only"), min_level="critical")
    state = str(tmp_path)
    for pause in (0.0, 0.0, 1.05):
        time.sleep(pause)
        quiet_run(["false"], manager, state_dir=state, name="etl", realert=0, level="warning")
    assert [a.title.split(":")[0] for a in seen] == ["etl failed", "etl still failing"]
    assert "1 repeat(s) held" in seen[-1].body
    result, _ = quiet_run(["true"], manager, state_dir=state, name="etl")
    assert [kind for kind, _, _ in result.alerts] == ["recovery"]
    assert seen[-1].title == result.alerts[0][1].title
    assert result.alerts[0][1].title.startswith("etl recovered after 3 failures, down ")
    assert warned == [] and manager.lifecycle is None
    again, _ = quiet_run(["true"], manager, state_dir=state, name="etl")
    assert again.alerts == () and len(seen) == 3


def test_a_state_that_cannot_be_opened_still_alerts(
    tmp_path: Path, alerts: Tuple[AlertManager, List[AlertMessage]]
) -> None:
    """The folder is fine but its lock file cannot be opened: the failure is alerted, the state not saved."""
    manager, seen = alerts
    (tmp_path / "etl.json.lock").mkdir()  # a folder where the lock file should be
    result, notes = quiet_run(["false"], manager, state_dir=str(tmp_path), name="etl")
    assert result.status == "failed"
    assert [a.title for a in seen] == ["etl failed: exit 1"]
    assert "state not saved" in notes


def test_the_command_line_in_an_alert_has_its_urls_masked(
    tmp_path: Path, alerts: Tuple[AlertManager, List[AlertMessage]]
) -> None:
    manager, seen = alerts
    quiet_run(["sh", "-c", "exit 2", "https://user:pw-s3cret@example.com/hook?token=t0k3n"], manager, state_dir=False)
    [alert] = seen
    assert "pw-s3cret" not in alert.body and "t0k3n" not in alert.body
    assert "https://example.com/***" in alert.body


def test_lock_skip_alert_after_skips_and_wait(
    tmp_path: Path, alerts: Tuple[AlertManager, List[AlertMessage]]
) -> None:
    manager, seen = alerts
    holder = JobLock(str(tmp_path), "sync")
    assert holder.acquire()
    holder.note_holder(4242, time.time())
    options = dict(state_dir=str(tmp_path), name="sync", lock=True, alert_after_skips=2)
    first, notes = quiet_run(["touch", str(tmp_path / "ran")], manager, **options)
    second, _ = quiet_run(["touch", str(tmp_path / "ran")], manager, **options)
    assert (first.status, first.exit_code, second.status) == ("skipped", 0, "skipped")
    assert "the previous run (pid 4242, running since " in notes
    assert not (tmp_path / "ran").exists()
    assert [a.title for a in seen] == [seen[0].title] and "skipped 2 times in a row" in seen[0].title
    threading.Timer(0.3, holder.release).start()
    waited, _ = quiet_run(["touch", str(tmp_path / "ran")], manager, on_overlap="wait", **options)
    assert waited.status == "ok" and (tmp_path / "ran").exists()
    assert seen[-1].title.startswith("sync recovered after 1 failure")


def test_config_trouble_is_said_and_the_job_status_kept(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("alerts:\n  channels:\n    x: [\n")
    for command, code in ((["true"], 0), (["false"], 1)):
        notes = io.StringIO()
        result = run_job(command, config=str(bad), state_dir=False, notices=notes, stdout=io.BytesIO())
        assert result.exit_code == code
        assert str(bad) in notes.getvalue()
    notes = io.StringIO()
    result = run_job(["false"], state_dir=False, notices=notes)  # no config found (tests disable discovery)
    assert "no channels configured (no config file found)" in notes.getvalue()


def test_an_unusable_state_folder_is_said_and_alerts_still_go(
    tmp_path: Path, alerts: Tuple[AlertManager, List[AlertMessage]]
) -> None:
    manager, seen = alerts
    blocker = tmp_path / "file"
    blocker.write_text("")
    result, notes = quiet_run(["false"], manager, state_dir=str(blocker / "state"))
    assert result.exit_code == 1 and len(seen) == 1
    assert "no state kept for false" in notes


def test_passthrough_goes_to_the_given_streams(alerts: Tuple[AlertManager, List[AlertMessage]]) -> None:
    manager, _ = alerts
    out, err = io.BytesIO(), io.BytesIO()
    run_job(
        ["sh", "-c", "echo to-out; echo to-err >&2"], manager=manager, state_dir=False, stdout=out, stderr=err
    )
    assert (out.getvalue(), err.getvalue()) == (b"to-out\n", b"to-err\n")


def test_the_cli_in_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["run", "--json", "--quiet", "--state-dir", str(tmp_path), "--name", "j", "--", "sh", "-c", "exit 2"]
    )
    captured = capsys.readouterr()
    assert code == 2
    assert '"status": "failed"' in captured.out
    assert main(["run", "--retries", "-1", "--", "true"]) == 125
    assert main(["run", "--timeout", "soon", "--", "true"]) == 125
    assert sys.stdin is not None
