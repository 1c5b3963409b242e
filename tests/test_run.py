"""``kstalerts run -- CMD``, run as cron runs it: a subprocess, real jobs, real sinks.

Alerts go to the loopback Slack-compatible sink, to aiosmtpd for the email
case and to a real Prometheus Alertmanager for the resolve case. Jobs are
real processes (``sh``, ``sleep``, ``true``), signals are real signals, state
is real files in a temporary folder.
"""

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional

import pytest

from kstalerts import AlertLevel, AlertManager, AlertMessage, run_job
from kstalerts.channels import CallbackChannel
from kstalerts.exceptions import AlertConfigurationError
from kstalerts.net.loopback import HTTPSink
from tests.servers.alertmanager import AlertmanagerProcess
from tests.servers.paging import PagerDutyServer

ROOT = Path(__file__).resolve().parent.parent
# Both streams are captured with stdout= and stderr=PIPE, the way Python 3.6 accepts (no capture_output=).


class Run(NamedTuple):
    code: int
    out: str
    err: str
    seconds: float


def env() -> Dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT))


def run(*args: str, cwd: Optional[Path] = None, timeout: float = 60) -> Run:
    """``python -m kstalerts run ARGS`` in a subprocess."""
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "kstalerts", "run", *args],
        cwd=str(cwd or ROOT),
        env=env(),
        timeout=timeout,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    return Run(proc.returncode, proc.stdout.decode(), proc.stderr.decode(), time.monotonic() - start)


def slack_config(tmp_path: Path, url: str, *, extra: str = "", name: str = "kstlib.conf.yml") -> Path:
    path = tmp_path / name
    path.write_text(
        "alerts:\n" + extra + "  channels:\n"
        "    max_retries: 0\n"
        "    timeout: 5\n"
        "    ops:\n"
        "      type: slack\n"
        f"      webhook_url: {url}\n"
        "      allow_custom_url: true\n",
        encoding="utf-8",
    )
    return path


def opts(tmp_path: Path, config: Path, *more: str) -> List[str]:
    return ["--config", str(config), "--state-dir", str(tmp_path / "state"), *more]


def text_of(post: Any) -> str:
    attachment = post.payload["attachments"][0]
    fields = " ".join(f"{f['title']}={f['value']}" for f in attachment.get("fields", []))
    text = f"{attachment['title']}\n{attachment['text']}\n{fields}"
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")  # Slack's escapes


def unique() -> str:
    return f"job-{uuid.uuid4().hex[:10]}"


# -- what happened, and the one alert about it -----------------------------------


def test_failing_job_exits_with_its_status_and_sends_one_alert(
    tmp_path: Path, loopback_http: HTTPSink
) -> None:
    config = slack_config(tmp_path, loopback_http.url)
    result = run(
        *opts(tmp_path, config, "--name", "backup"), "--", "sh", "-c", "echo out; echo err >&2; exit 3"
    )
    assert result.code == 3
    assert result.out == "out\n"
    assert result.err == "err\n"
    [post] = loopback_http.posts
    text = text_of(post)
    assert post.payload["attachments"][0]["title"].endswith("backup failed: exit 3")
    assert "command: sh -c 'echo out; echo err >&2; exit 3'" in text
    assert "\nout\nerr" in text
    assert "status: failed: exit 3" in text
    assert f"host: {socket.gethostname()}" in text
    assert "exit_code=3" in text and "job=backup" in text and f"host={socket.gethostname()}" in text


def test_a_job_that_succeeds_sends_nothing_and_exits_0(tmp_path: Path, loopback_http: HTTPSink) -> None:
    config = slack_config(tmp_path, loopback_http.url)
    assert run(*opts(tmp_path, config), "--", "true")[:3] == (0, "", "")
    assert loopback_http.posts == []


def test_timeout_exits_124_and_alerts(tmp_path: Path, loopback_http: HTTPSink) -> None:
    config = slack_config(tmp_path, loopback_http.url)
    result = run(*opts(tmp_path, config, "--timeout", "1"), "--", "sleep", "30")
    assert result.code == 124
    assert result.seconds < 15
    [post] = loopback_http.posts
    assert post.payload["attachments"][0]["title"].endswith("sleep timed out after 1 s")
    assert "exit_code=124" in text_of(post)


@pytest.mark.slow(seconds=2)
def test_a_job_that_ignores_sigterm_is_killed_after_kill_after(
    tmp_path: Path, loopback_http: HTTPSink
) -> None:
    config = slack_config(tmp_path, loopback_http.url)
    script = "trap '' TERM; echo ready; while :; do sleep 0.1; done"
    result = run(*opts(tmp_path, config, "--timeout", "1", "--kill-after", "1"), "--", "sh", "-c", script)
    assert result.code == 124
    assert result.seconds < 15
    assert len(loopback_http.posts) == 1


def test_missing_command_exits_127_and_alerts(tmp_path: Path, loopback_http: HTTPSink) -> None:
    config = slack_config(tmp_path, loopback_http.url)
    result = run(*opts(tmp_path, config), "--", "no-such-command-kst")
    assert result.code == 127
    [post] = loopback_http.posts
    assert post.payload["attachments"][0]["title"].endswith(
        "no-such-command-kst could not start: No such file or directory"
    )


def test_a_command_that_is_not_executable_exits_126(tmp_path: Path, loopback_http: HTTPSink) -> None:
    config = slack_config(tmp_path, loopback_http.url)
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o600)
    result = run(*opts(tmp_path, config), "--", str(script))
    assert result.code == 126
    assert "could not start: Permission denied" in text_of(loopback_http.posts[0])


def test_killed_by_a_signal_exits_128_plus_n(tmp_path: Path, loopback_http: HTTPSink) -> None:
    config = slack_config(tmp_path, loopback_http.url)
    result = run(*opts(tmp_path, config, "--name", "backup"), "--", "sh", "-c", "kill -KILL $$")
    assert result.code == 137
    [post] = loopback_http.posts
    assert post.payload["attachments"][0]["title"].endswith("backup killed by SIGKILL")


def test_usage_errors_exit_125_and_run_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    for args in (
        ["--timeout", "-1", "--", "touch", str(marker)],
        ["--bogus", "--", "touch", str(marker)],
        ["--on-overlap", "never", "--", "touch", str(marker)],
        ["--tail-lines", "0", "--", "touch", str(marker)],
        ["--"],
    ):
        result = run(*args)
        assert result.code == 125, (args, result)
        assert "error" in result.err
    assert not marker.exists()


# -- bounded output ----------------------------------------------------------------

# Runs only the wrapper, so its children's peak RSS is the wrapper's (the job's
# own processes, sh/yes/head, are a few MB each and counted separately by max).
_RSS_PROBE = """
import json, resource, subprocess, sys
code = subprocess.call(sys.argv[1:])
print(json.dumps({"code": code, "maxrss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def test_60_mb_of_output_with_quiet_keeps_memory_flat(tmp_path: Path, loopback_http: HTTPSink) -> None:
    config = slack_config(tmp_path, loopback_http.url)
    size = 60 * 1024 * 1024
    job = f"yes 'a line of output from a chatty job, 0123456789' | head -c {size}; echo last words; exit 5"
    wrapper = [sys.executable, "-m", "kstalerts", "run", "--quiet", *opts(tmp_path, config), "--"]
    probe = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, *wrapper, "sh", "-c", job],
        cwd=str(ROOT),
        env=env(),
        timeout=300,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    report = json.loads(probe.stdout.decode().strip().splitlines()[-1])
    rss_mb = report["maxrss_kib"] / 1024
    print(f"wrapper max RSS for 60 MB of output: {rss_mb:.1f} MB")
    assert report["code"] == 5
    assert rss_mb < 60
    [post] = loopback_http.posts
    payload = json.dumps(post.payload).encode("utf-8")
    assert len(payload) < 100 * 1000
    assert "last words" in probe.stderr.decode()  # --quiet prints the tail when the job fails
    assert "52 lines, " not in post.payload["attachments"][0]["text"]
    assert f"{size + len('last words') + 1} bytes in all" in post.payload["attachments"][0]["text"]


def test_quiet_prints_nothing_when_the_job_succeeds(tmp_path: Path, loopback_http: HTTPSink) -> None:
    config = slack_config(tmp_path, loopback_http.url)
    result = run("--quiet", *opts(tmp_path, config), "--", "sh", "-c", "echo noisy; echo noisier >&2")
    assert result[:3] == (0, "", "")


# -- state: recovery, repeats, retries ------------------------------------------------


def test_fail_then_succeed_sends_a_recovery_then_nothing(tmp_path: Path, loopback_http: HTTPSink) -> None:
    config = slack_config(tmp_path, loopback_http.url)
    common = opts(tmp_path, config, "--name", "backup")
    assert run(*common, "--", "sh", "-c", "exit 3").code == 3
    assert run(*common, "--", "true").code == 0
    assert run(*common, "--", "true").code == 0
    titles = [p.payload["attachments"][0]["title"] for p in loopback_http.posts]
    assert len(titles) == 2
    assert titles[0].endswith("backup failed: exit 3")
    assert "backup recovered after 1 failure, down " in titles[1]
    state = tmp_path / "state"
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert stat.S_IMODE((state / "backup.json").stat().st_mode) == 0o600


def test_while_failing_one_repeat_per_realert_counting_failures(
    tmp_path: Path, loopback_http: HTTPSink
) -> None:
    config = slack_config(tmp_path, loopback_http.url)
    common = opts(tmp_path, config, "--name", "export")
    assert run(*common, "--", "false").code == 1
    assert run(*common, "--", "false").code == 1  # within --realert (3600 s): nothing
    assert len(loopback_http.posts) == 1
    time.sleep(1.05)  # --realert below the lifecycle's 1 s limit counts as 1 s
    assert run(*common, "--realert", "0", "--", "false").code == 1
    assert len(loopback_http.posts) == 2
    title = loopback_http.posts[1].payload["attachments"][0]["title"]
    assert "export still failing: 3 failures since " in title


def test_retries_run_again_before_a_failure_counts(tmp_path: Path, loopback_http: HTTPSink) -> None:
    config = slack_config(tmp_path, loopback_http.url)
    count = tmp_path / "count"
    script = f"echo try >> {count}; [ $(wc -l < {count}) -ge 3 ]"
    result = run(*opts(tmp_path, config, "--retries", "2", "--retry-delay", "0.1"), "--", "sh", "-c", script)
    assert result.code == 0
    assert count.read_text().count("try") == 3
    assert loopback_http.posts == []
    count.unlink()
    result = run(*opts(tmp_path, config, "--retries", "1"), "--", "sh", "-c", script)
    assert result.code == 1
    assert count.read_text().count("try") == 2
    [post] = loopback_http.posts
    assert "attempts: 2" in text_of(post)
    assert "--- attempt 1 of 2 failed: exit 1" in text_of(post)


def test_alertmanager_shows_the_alert_resolved_after_the_recovery(
    tmp_path: Path, loopback_http: HTTPSink, alertmanager: AlertmanagerProcess
) -> None:
    name = unique()
    config = slack_config(
        tmp_path,
        loopback_http.url,
        extra="",
    )
    config.write_text(
        config.read_text() + "    am:\n      type: alertmanager\n" + f"      url: {alertmanager.url}\n",
        encoding="utf-8",
    )
    common = opts(tmp_path, config, "--name", name)
    assert run(*common, "--", "sh", "-c", "exit 2").code == 2
    [firing] = alertmanager.alerts(job=name)
    assert firing["labels"]["alertname"] == "JobFailed"
    assert firing["labels"]["exit_code"] == "2"
    assert firing["labels"]["host"] == socket.gethostname()
    assert firing["labels"]["severity"] == "critical"
    assert firing["status"]["state"] == "active"
    assert run(*common, "--", "true").code == 0
    assert alertmanager.alerts(job=name) == []  # resolved alerts leave the active list
    # Slack has no "resolved": it got the failure, then the recovery message.
    titles = [p.payload["attachments"][0]["title"] for p in loopback_http.posts]
    assert len(titles) == 2 and f"{name} recovered after 1 failure" in titles[1]


# -- signals --------------------------------------------------------------------------


def test_sigterm_to_the_wrapper_ends_the_job_and_alerts_once(tmp_path: Path, loopback_http: HTTPSink) -> None:
    config = slack_config(tmp_path, loopback_http.url)
    pidfile = tmp_path / "job.pid"
    wrapper = subprocess.Popen(
        [
            *(sys.executable, "-m", "kstalerts", "run", *opts(tmp_path, config, "--name", "backup")),
            *("--", "sh", "-c", f"echo $$ > {pidfile}.tmp; mv {pidfile}.tmp {pidfile}; exec sleep 60"),
        ],
        cwd=str(ROOT),
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while not pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        job_pid = int(pidfile.read_text())
        start = time.monotonic()
        wrapper.send_signal(signal.SIGTERM)
        code = wrapper.wait(15)
        elapsed = time.monotonic() - start
    finally:
        if wrapper.poll() is None:
            wrapper.kill()
            wrapper.wait()
        for stream in (wrapper.stdout, wrapper.stderr):
            assert stream is not None  # both are pipes
            stream.close()
    assert code == 143
    assert elapsed < 15
    with pytest.raises(ProcessLookupError):
        os.kill(job_pid, 0)
    [post] = loopback_http.posts
    assert post.payload["attachments"][0]["title"].endswith("backup interrupted by SIGTERM (exit 143)")


# -- config and delivery never change the job's status ---------------------------------


def test_invalid_config_the_job_still_runs_and_stderr_names_the_file(tmp_path: Path) -> None:
    config = tmp_path / "broken.yml"
    config.write_text("alerts:\n  channels:\n    ops:\n      type: slack\n      webhook_url: [oops\n")
    marker = tmp_path / "touched"
    result = run(*opts(tmp_path, config), "--", "touch", str(marker))
    assert result.code == 0
    assert marker.exists()
    assert str(config) in result.err
    # and when the job fails, the job's status is still what comes out
    result = run(*opts(tmp_path, config), "--", "sh", "-c", "exit 6")
    assert result.code == 6
    assert str(config) in result.err and "no alert sent" in result.err


def test_unreadable_config_the_job_still_runs(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yml"
    result = run(*opts(tmp_path, missing), "--", "sh", "-c", "exit 4")
    assert result.code == 4
    assert str(missing) in result.err


def test_unreachable_webhook_keeps_the_jobs_status_and_spools(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: connection refused
    config = slack_config(tmp_path, f"http://127.0.0.1:{port}/hook", extra="  spool:\n    path: spool\n")
    result = run(*opts(tmp_path, config), "--", "sh", "-c", "exit 4")
    assert result.code == 4
    assert "not delivered to ops" in result.err and "(kept in the spool)" in result.err
    assert len([n for n in os.listdir(tmp_path / "spool") if n.endswith(".json")]) == 1


def test_email_alert_through_aiosmtpd(tmp_path: Path, smtp_server: Any) -> None:
    server = smtp_server()
    config = tmp_path / "kstlib.conf.yml"
    config.write_text(
        "alerts:\n  channels:\n    mail:\n      type: email\n      host: 127.0.0.1\n"
        f"      port: {server.port}\n      security: none\n      sender: cron@example.com\n"
        "      recipients: [oncall@example.com]\n      timeout: 5\n"
    )
    result = run(*opts(tmp_path, config, "--name", "backup"), "--", "sh", "-c", "echo copying; exit 3")
    assert result.code == 3
    received = server.handler.parsed()
    assert received["Subject"] == "[ALERT] [CRITICAL] backup failed: exit 3"
    body = received.get_content().replace("\r\n", "\n")
    assert "command: sh -c 'echo copying; exit 3'" in body
    assert "\ncopying" in body


# -- overlapping runs -------------------------------------------------------------------


def test_a_second_run_while_the_first_holds_the_lock_is_skipped(
    tmp_path: Path, loopback_http: HTTPSink
) -> None:
    config = slack_config(tmp_path, loopback_http.url)
    started = tmp_path / "started"
    common = opts(tmp_path, config, "--name", "sync", "--lock")
    first = subprocess.Popen(
        [sys.executable, "-m", "kstalerts", "run", *common, "--", "sh", "-c", f"touch {started}; sleep 5"],
        cwd=str(ROOT),
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        second = run(*common, "--", "touch", str(tmp_path / "second-ran"))
        third = run(*common, "--alert-after-skips", "2", "--", "true")
    finally:
        first.terminate()
        first.wait(30)
    assert second.code == 0
    assert second.out == ""
    [line] = second.err.splitlines()
    assert line.startswith("kstalerts run: sync skipped: the previous run (pid ")
    assert not (tmp_path / "second-ran").exists()
    assert third.code == 0
    skipped = [p for p in loopback_http.posts if "skipped 2 times" in p.payload["attachments"][0]["title"]]
    assert len(skipped) == 1


# -- --json, and from Python ------------------------------------------------------------


def test_json_summary(tmp_path: Path, loopback_http: HTTPSink) -> None:
    config = slack_config(tmp_path, loopback_http.url)
    result = run("--json", "--quiet", *opts(tmp_path, config, "--name", "j"), "--", "sh", "-c", "exit 2")
    summary = json.loads(result.out)
    assert result.code == 2
    assert {k: summary[k] for k in ("job", "status", "exit_code", "attempts", "alerts_sent")} == {
        "job": "j",
        "status": "failed",
        "exit_code": 2,
        "attempts": 1,
        "alerts_sent": 1,
    }
    assert summary["alerts"][0]["results"][0]["channel"] == "ops"
    assert summary["duration"] >= 0


def test_run_job_from_python_with_a_manager(tmp_path: Path) -> None:
    seen: List[AlertMessage] = []
    with AlertManager() as manager:
        manager.add_channel(CallbackChannel(seen.append, name="ops"))
        out = open(os.devnull, "wb")
        try:
            failed = run_job(
                [sys.executable, "-c", "import sys; print('boom'); sys.exit(9)"],
                name="step",
                manager=manager,
                state_dir=str(tmp_path),
                stdout=out,
                level="warning",
            )
            ok = run_job(["true"], name="step", manager=manager, state_dir=str(tmp_path), stdout=out)
        finally:
            out.close()
    assert (failed.status, failed.exit_code, failed.alerts_sent, failed.tail) == ("failed", 9, 1, "boom")
    assert (ok.status, ok.exit_code, ok.alerts_sent) == ("ok", 0, 1)
    assert [a.title for a in seen] == ["step failed: exit 9", seen[1].title]
    assert seen[0].level is AlertLevel.WARNING
    assert (
        seen[0].labels["exit_code"] == "9"
        and seen[0].dedup_key == f"kstalerts-run:step@{socket.gethostname()}"
    )
    assert seen[1].title.startswith("step recovered after 1 failure, down ")
    # A resolved message (issue 25): the failure's level, so every channel that heard it hears this.
    assert seen[1].level is AlertLevel.WARNING


def test_run_job_rejects_bad_arguments_before_running() -> None:
    with pytest.raises(AlertConfigurationError, match="no command to run"):
        run_job([])
    with pytest.raises(AlertConfigurationError, match="timeout must be more than 0 seconds"):
        run_job(["true"], timeout=0)


def test_pagerduty_gets_a_trigger_then_a_resolve_with_one_dedup_key(
    tmp_path: Path, loopback_http: HTTPSink, pagerduty_server: PagerDutyServer
) -> None:
    config = slack_config(tmp_path, loopback_http.url)
    config.write_text(
        config.read_text()
        + "    pd:\n      type: pagerduty\n"
        + f"      routing_key: {PagerDutyServer.routing_key}\n"
        + f"      events_url: {pagerduty_server.events_url}\n",
        encoding="utf-8",
    )
    common = opts(tmp_path, config, "--name", "backup")
    assert run(*common, "--", "sh", "-c", "exit 3").code == 3
    assert run(*common, "--", "true").code == 0
    events = [r.json for r in pagerduty_server.requests]
    key = f"kstalerts-run:backup@{socket.gethostname()}"
    assert [(e["event_action"], e["dedup_key"]) for e in events] == [("trigger", key), ("resolve", key)]
    assert events[0]["payload"]["summary"] == "backup failed: exit 3"


def test_the_reference_page_lists_every_option_of_run() -> None:
    from kstalerts.cli import build_parser

    parser = build_parser()
    [subparsers] = [a for a in parser._actions if a.dest == "command"]
    assert isinstance(subparsers.choices, dict)  # argparse's map of subcommand names to their parsers
    run_parser = subparsers.choices["run"]
    options = {s for a in run_parser._actions for s in a.option_strings if s.startswith("--")} - {"--help"}
    page = (ROOT / "docs" / "run.md").read_text(encoding="utf-8")
    assert {o for o in options if o not in page} == set()
    help_text = run_parser.format_help()
    assert "-- COMMAND [ARG...]" in help_text and "124 timed out" in help_text
