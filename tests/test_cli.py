"""The command line, run as a subprocess (what cron sees) and in-process.

Exit codes: 0 delivered everywhere, 1 a channel failed or was throttled (or
none takes the level), 2 usage or configuration error.
"""

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple, Optional

import pytest

from kstalerts import AlertResult, __version__
from kstalerts.cli import exit_code, main
from kstalerts.net.loopback import HTTPSink

ROOT = Path(__file__).resolve().parent.parent


class Run(NamedTuple):
    code: int
    out: str
    err: str


def cli(*args: str, stdin: Optional[str] = None) -> Run:
    """``python -m kstalerts ARGS`` in a subprocess, from the repo root."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "kstalerts", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=60,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def run_main(
    capsys: "pytest.CaptureFixture[str]", monkeypatch: pytest.MonkeyPatch, *args: str, stdin: str = ""
) -> Run:
    """``main(ARGS)`` in this process (counts for coverage)."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(list(args))
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)


# -- usage -------------------------------------------------------------------


def test_version() -> None:
    assert cli("--version") == Run(0, f"kstalerts {__version__}\n", "")


def test_help_lists_the_commands_and_examples(
    capsys: "pytest.CaptureFixture[str]", monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_main(capsys, monkeypatch, "--help")
    assert result.code == 0
    for word in ("send", "check-config", "demo", "examples:", "exit codes: 0 delivered everywhere"):
        assert word in result.out
    send_help = run_main(capsys, monkeypatch, "send", "--help")
    assert send_help.code == 0
    assert "--body BODY" in send_help.out and "'-' reads it from stdin" in send_help.out


def test_no_command_is_a_usage_error(
    capsys: "pytest.CaptureFixture[str]", monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_main(capsys, monkeypatch)
    assert result.code == 2
    assert result.err.startswith("usage: kstalerts")


def test_usage_errors_exit_2() -> None:
    missing_title = cli("send", "--body", "x")
    assert missing_title.code == 2
    assert "the following arguments are required: --title" in missing_title.err
    bad_level = cli("send", "--title", "t", "--level", "urgent")
    assert bad_level.code == 2
    assert "unknown alert level 'urgent'; expected one of: info, success, warning, critical" in bad_level.err
    assert cli("frobnicate").code == 2


def test_send_with_no_channels_configured_is_a_config_error(
    capsys: "pytest.CaptureFixture[str]", monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_main(capsys, monkeypatch, "send", "--title", "t")
    assert result == Run(
        2,
        "",
        "kstalerts: error: no channels: no config file given (KSTALERTS_NO_DISCOVERY is set: none is"
        " searched for); pass --config PATH (see 'kstalerts check-config')\n",
    )


def test_empty_title_is_a_usage_error(
    capsys: "pytest.CaptureFixture[str]", monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_main(capsys, monkeypatch, "send", "--title", "  ")
    assert result == Run(2, "", "kstalerts: error: alert title must be a non-empty string\n")


# -- the exit-code rule --------------------------------------------------------


def test_exit_code_rule() -> None:
    ok = AlertResult("a", True, attempts=1)
    failed = AlertResult("b", False, error="down", attempts=3)
    throttled = AlertResult("c", False, error="throttled", throttled=True)
    suppressed = AlertResult("d", False, suppressed=True)
    spooled = AlertResult("e", False, error="down", spooled=True)
    assert exit_code([ok]) == 0
    assert exit_code([ok, suppressed]) == 0
    assert exit_code([ok, failed]) == 1
    assert exit_code([ok, throttled]) == 1
    assert exit_code([spooled]) == 1
    assert exit_code([]) == 1


# -- send against the loopback sinks ------------------------------------------------


def write_config(tmp_path: Path, sink: HTTPSink, *, ops_url: Optional[str] = None, extra: str = "") -> Path:
    path = tmp_path / "kstlib.conf.yml"
    path.write_text(
        "alerts:\n"
        "  channels:\n"
        "    timeout: 5\n"
        "    max_retries: 0\n"
        "    ops:\n"
        "      type: slack\n"
        f"      webhook_url: {ops_url or sink.url}\n"
        "      allow_custom_url: true\n"
        "      min_level: warning\n" + extra,
        encoding="utf-8",
    )
    return path


def test_send_delivers_and_exits_0(tmp_path: Path, loopback_http: HTTPSink) -> None:
    config = write_config(tmp_path, loopback_http)
    result = cli("send", "--title", "Backup failed", "--body", "exit code 2", "--config", str(config))
    assert result == Run(0, "ops: delivered (1 attempt(s))\n", "")
    [post] = loopback_http.posts
    assert "Backup failed" in post.payload["text"]
    assert post.payload["attachments"][0]["text"] == "exit code 2"


def test_send_failure_exits_1(tmp_path: Path, loopback_http: HTTPSink) -> None:
    config = write_config(tmp_path, loopback_http, ops_url=loopback_http.failing_url(500))
    result = cli("send", "--title", "t", "--config", str(config))
    assert result.code == 1
    assert result.out.startswith("ops: failed: ")
    assert "500" in result.out
    assert len(loopback_http.posts) == 1


def test_one_failing_channel_of_two_exits_1_and_the_other_still_delivers(
    tmp_path: Path, loopback_http: HTTPSink
) -> None:
    extra = (
        "    backup:\n"
        "      type: slack\n"
        f"      webhook_url: {loopback_http.failing_url(503)}\n"
        "      allow_custom_url: true\n"
    )
    config = write_config(tmp_path, loopback_http, extra=extra)
    result = cli("send", "--title", "t", "--config", str(config))
    assert result.code == 1
    lines = result.out.splitlines()
    assert lines[0] == "ops: delivered (1 attempt(s))"
    assert lines[1].startswith("backup: failed: ")
    assert [p.status for p in loopback_http.posts if p.status == 200] == [200]


def test_body_from_stdin(tmp_path: Path, loopback_http: HTTPSink) -> None:
    config = write_config(tmp_path, loopback_http)
    result = cli(
        "send", "--title", "dump failed", "--body", "-", "--config", str(config), stdin="line 1\nline 2\n"
    )
    assert result.code == 0
    assert loopback_http.posts[0].payload["attachments"][0]["text"] == "line 1\nline 2"


def test_body_and_title_that_are_not_utf8(tmp_path: Path, loopback_http: HTTPSink) -> None:
    """``printf 'x \\xff' | kstalerts send --body -``: delivered, the bad byte replaced."""
    config = write_config(tmp_path, loopback_http)
    env = dict(os.environ, PYTHONPATH=str(ROOT), LC_ALL="C.UTF-8")
    title = os.fsdecode(b"job \xfe failed")
    proc = subprocess.run(
        [sys.executable, "-m", "kstalerts", "send", "--title", title, "--body", "-", "--config", str(config)],
        cwd=ROOT,
        env=env,
        input=b"x \xff\nline \xc3\xa9\n",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    attachment = loopback_http.posts[0].payload["attachments"][0]
    assert attachment["text"] == "x \ufffd\nline \u00e9"
    assert "job \ufffd failed" in json.dumps(loopback_http.posts[0].payload, ensure_ascii=False)


def test_json_output_parses_back(tmp_path: Path, loopback_http: HTTPSink) -> None:
    config = write_config(tmp_path, loopback_http)
    result = cli("send", "--title", "Disk 91%", "--level", "warning", "--json", "--config", str(config))
    assert result.code == 0
    data = json.loads(result.out)
    assert data["ok"] is True
    assert data["alert"]["title"] == "Disk 91%"
    assert data["alert"]["level"] == "WARNING"
    assert [(r["channel"], r["success"], r["attempts"], r["error"]) for r in data["results"]] == [
        ("ops", True, 1, None)
    ]


def test_json_output_on_failure(tmp_path: Path, loopback_http: HTTPSink) -> None:
    config = write_config(tmp_path, loopback_http, ops_url=loopback_http.failing_url(500))
    result = cli("send", "--title", "t", "--json", "--config", str(config))
    assert result.code == 1
    [entry] = json.loads(result.out)["results"]
    assert (entry["success"], entry["status"], entry["retryable"]) == (False, 500, True)
    assert entry["outcome"] == "failed"


def test_dry_run_sends_nothing(tmp_path: Path, loopback_http: HTTPSink) -> None:
    config = write_config(tmp_path, loopback_http)
    result = cli("send", "--title", "Backup failed", "--dry-run", "--config", str(config))
    assert result.code == 0
    assert loopback_http.posts == []
    assert result.out.startswith("--- ops (slack) would send:\n")
    assert "Backup failed" in result.out
    assert "loopbacksecret" not in result.out  # the webhook's secret part is masked
    assert result.out.endswith("(dry run: nothing was sent)\n")
    as_json = json.loads(cli("send", "--title", "x", "--dry-run", "--json", "--config", str(config)).out)
    assert as_json["dry_run"] is True
    assert [c["channel"] for c in as_json["channels"]] == ["ops"]
    assert loopback_http.posts == []


def test_no_channel_takes_the_level_exits_1(tmp_path: Path, loopback_http: HTTPSink) -> None:
    config = write_config(tmp_path, loopback_http)
    result = cli("send", "--title", "fyi", "--level", "info", "--config", str(config))
    assert result == Run(1, "", "kstalerts: nothing sent: no channel takes level INFO (ops >= WARNING)\n")
    dry = cli("send", "--title", "fyi", "--level", "info", "--dry-run", "--config", str(config))
    assert dry.code == 1
    assert "--- ops: skipped, takes WARNING and above" in dry.out
    assert loopback_http.posts == []


def test_level_success_goes_to_the_info_floor_only(tmp_path: Path, loopback_http: HTTPSink) -> None:
    with HTTPSink() as info_sink:
        extra = (
            "    info:\n"
            "      type: slack\n"
            f"      webhook_url: {info_sink.url}\n"
            "      allow_custom_url: true\n"
        )
        config = write_config(tmp_path, loopback_http, extra=extra)
        result = cli("send", "--title", "backup done", "--level", "success", "--config", str(config))
        assert result == Run(0, "info: delivered (1 attempt(s))\n", "")
        [post] = info_sink.posts
        assert post.payload["text"].startswith(":white_check_mark: [SUCCESS] backup done")
    assert loopback_http.posts == []  # ops takes WARNING and above


def test_unknown_channel_exits_2(tmp_path: Path, loopback_http: HTTPSink) -> None:
    config = write_config(tmp_path, loopback_http)
    result = cli("send", "--title", "t", "--channel", "nope", "--config", str(config))
    assert result == Run(2, "", "kstalerts: error: unknown channel 'nope'; known channels: ops\n")


def test_invalid_config_exits_2_with_file_line_and_key(tmp_path: Path, loopback_http: HTTPSink) -> None:
    config = write_config(tmp_path, loopback_http, extra="      min_levle: critical\n")
    result = cli("send", "--title", "t", "--config", str(config))
    assert result.code == 2
    assert result.err.startswith(f"kstalerts: error: {config}:10: alerts.channels.ops.min_levle: ")
    assert "min_level" in result.err  # the "did you mean" suggestion
    assert loopback_http.posts == []


def test_missing_config_file_exits_2(tmp_path: Path) -> None:
    result = cli("send", "--title", "t", "--config", str(tmp_path / "absent.yml"))
    assert result.code == 2
    assert result.err.startswith("kstalerts: error: ")
    assert "absent.yml" in result.err


def test_in_process_send_and_dry_run(
    tmp_path: Path,
    loopback_http: HTTPSink,
    capsys: "pytest.CaptureFixture[str]",
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = str(write_config(tmp_path, loopback_http))
    sent = run_main(capsys, monkeypatch, "send", "--title", "t", "--body", "-", "--config", config, stdin="b")
    assert sent == Run(0, "ops: delivered (1 attempt(s))\n", "")
    dry = run_main(capsys, monkeypatch, "send", "--title", "t", "--dry-run", "--json", "--config", config)
    assert json.loads(dry.out)["skipped"] == []
    text = run_main(capsys, monkeypatch, "send", "--title", "t", "--dry-run", "--config", config)
    assert text.out.startswith(
        f"--- ops (slack) would send:\nPOST http://127.0.0.1:{loopback_http.port}/***\n"
    )
    assert len(loopback_http.posts) == 1


# -- check-config ----------------------------------------------------------------


def test_check_config_masks_the_secret_and_reports_a_clamp(tmp_path: Path, loopback_http: HTTPSink) -> None:
    config = write_config(tmp_path, loopback_http, extra="      timeout: 500\n")
    result = cli("check-config", "--config", str(config))
    assert result.code == 0, result.err
    assert result.out.startswith(f"config file: {config}\npreset: (none)\n")
    assert "loopbacksecret" not in result.out + result.err
    assert f"http://127.0.0.1:{loopback_http.port}/***" in result.out
    assert (
        "clamped by the hard limits:\n  alerts.channels.ops.timeout: asked 500, applied 120.0 (maximum) (line 10)\n"
        in (result.out)
    )
    [line] = [line for line in result.out.splitlines() if line.startswith("  ops: SlackChannel(")]
    assert line.endswith(", min_level WARNING, timeout 120.0s, max_retries 0, digest on")
    assert result.err == ""
    assert result.out.endswith("config OK\n")
    strict = cli("check-config", "--strict", "--config", str(config))
    assert strict.code == 1
    assert "config OK" not in strict.out


def test_check_config_of_a_clean_file(
    tmp_path: Path,
    loopback_http: HTTPSink,
    capsys: "pytest.CaptureFixture[str]",
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    extra = "  throttle: {rate: 5, per: 60, burst: 2}\n"
    config = str(write_config(tmp_path, loopback_http, extra=extra))
    result = run_main(capsys, monkeypatch, "check-config", "--strict", "--config", config)
    assert result.code == 0, result.err
    assert "clamped by the hard limits: nothing\n" in result.out
    assert "throttle 5/60s burst 2" in result.out


def test_check_config_invalid_exits_2(tmp_path: Path, loopback_http: HTTPSink) -> None:
    config = write_config(tmp_path, loopback_http, extra="      max_retries: lots\n")
    result = cli("check-config", "--config", str(config))
    assert result.code == 2
    assert result.err.startswith(
        f"kstalerts: error: {config}:10: alerts.channels.ops.max_retries: must be a number"
    )


# -- in-process runs of the same paths (these count for coverage) -----------------


def test_in_process_failure_json_and_level_floor(
    tmp_path: Path,
    loopback_http: HTTPSink,
    capsys: "pytest.CaptureFixture[str]",
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    failing = str(write_config(tmp_path, loopback_http, ops_url=loopback_http.failing_url(502)))
    result = run_main(capsys, monkeypatch, "send", "--title", "t", "--json", "--config", failing)
    assert result.code == 1
    assert json.loads(result.out)["ok"] is False
    floor = run_main(capsys, monkeypatch, "send", "--title", "t", "--level", "info", "--config", failing)
    assert floor == Run(1, "", "kstalerts: nothing sent: no channel takes level INFO (ops >= WARNING)\n")
    unknown = run_main(capsys, monkeypatch, "send", "--title", "t", "--channel", "x", "--config", failing)
    assert unknown == Run(2, "", "kstalerts: error: unknown channel 'x'; known channels: ops\n")
    by_name = run_main(capsys, monkeypatch, "send", "--title", "t", "--channel", "slack", "--config", failing)
    assert by_name.code == 1 and by_name.out.startswith("ops: failed: ")


def test_in_process_config_errors(
    tmp_path: Path, capsys: "pytest.CaptureFixture[str]", monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_main(capsys, monkeypatch, "check-config", "--config", str(tmp_path))
    assert result.code == 2
    assert result.err.startswith(f"kstalerts: error: {tmp_path}")
    assert run_main(capsys, monkeypatch, "send", "--title", "t", "--level", "loud").code == 2


def test_in_process_check_config_clamps_and_verbose(
    tmp_path: Path,
    loopback_http: HTTPSink,
    capsys: "pytest.CaptureFixture[str]",
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = str(write_config(tmp_path, loopback_http, extra="      max_retries: 9\n"))
    result = run_main(capsys, monkeypatch, "check-config", "--strict", "--config", config)
    assert result.code == 1
    assert "  alerts.channels.ops.max_retries: asked 9, applied 5 (maximum) (line 10)\n" in result.out
    assert result.err == ""
    verbose = run_main(capsys, monkeypatch, "-v", "check-config", "--config", config)
    assert verbose.code == 0
    assert "kstalerts: WARNING: alerts.channels.ops.max_retries: asked 9, applied 5" in verbose.err


class _BrokenPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_reader_that_goes_away_ends_quietly(
    capsys: "pytest.CaptureFixture[str]", monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdout", _BrokenPipe())
    assert main(["demo"]) == 1
    assert capsys.readouterr().err == ""


def test_in_process_demo(capsys: "pytest.CaptureFixture[str]", monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_main(capsys, monkeypatch, "demo")
    assert result.code == 0
    assert "demo OK in " in result.out


# -- hostile config files: a clear error and exit 2, never a hang or a traceback ----
def test_a_fifo_as_the_config_file_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "kstlib.conf.yml"
    os.mkfifo(str(fifo))
    run = cli("check-config", "--config", str(fifo))  # the 60 s subprocess timeout would catch a hang
    assert (run.code, run.out) == (2, "")
    assert run.err == f"kstalerts: error: {fifo}: the config file is a FIFO, not a regular file\n"


def test_a_fifo_as_a_file_credential_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "webhook"
    os.mkfifo(str(fifo))
    config = tmp_path / "kstlib.conf.yml"
    config.write_text(
        "alerts:\n  channels:\n    ops: {type: slack, credentials: hook}\n"
        f"credentials:\n  hook: {{type: file, path: {fifo}}}\n"
    )
    run = cli("check-config", "--config", str(config))
    assert run.code == 2 and "Traceback" not in run.err
    assert f"credential 'hook': {fifo} is a FIFO, not a regular file" in run.err


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("alerts:\n  throttle: {rate: 1%s}\n", "alerts.throttle.rate"),
        ("alerts:\n  channels:\n    max_retries: 1%s\n", "alerts.channels.max_retries"),
        ("alerts:\n  channels:\n    ops: {type: console, timeout: -1%s}\n", "timeout"),
    ],
)
def test_a_400_digit_integer_for_a_limited_setting_is_a_config_error(
    tmp_path: Path, text: str, key: str
) -> None:
    config = tmp_path / "kstlib.conf.yml"
    config.write_text(text % ("9" * 400))
    run = cli("check-config", "--config", str(config))
    assert run.code == 2 and "Traceback" not in run.err and "9" * 50 not in run.err
    assert key in run.err and "got an integer of about 401 digits" in run.err


def test_deeply_nested_toml_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "kstlib.conf.toml"
    config.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    run = cli("check-config", "--config", str(config))
    assert (run.code, run.err) == (2, f"kstalerts: error: {config}: nesting deeper than 32 levels\n")


# -- one redaction rule: no secret in check-config, --dry-run or an error --------------
SECRETS = (
    "Bearer-s3cr3t-value",
    "k3y-V4lue-123",
    "pr0xyPa55",
    "admin:pw-h1dden",
    "123456:TELEGRAMTOKEN",
    "hunter2-pw",
)


@pytest.mark.slow(seconds=2)
def test_check_config_and_dry_run_show_no_secret(tmp_path: Path) -> None:
    config = tmp_path / "kstlib.conf.yml"
    config.write_text(
        "alerts:\n"
        "  channels:\n"
        "    hook:\n"
        "      type: webhook\n"
        "      url: https://api.telegram.org/bot123456:TELEGRAMTOKEN/sendMessage\n"
        "      headers: {Authorization: Bearer-s3cr3t-value, X-Api-Key: k3y-V4lue-123}\n"
        "      proxy: http://user:pr0xyPa55@proxy.example:3128\n"
        "    am:\n"
        "      type: alertmanager\n"
        "      url: http://127.0.0.1:9093\n"
        "      credentials: am_token\n"
        "credentials:\n"
        "  am_token: {type: env, var: KSTALERTS_TEST_AM_TOKEN}\n",
        encoding="utf-8",
    )
    os.environ["KSTALERTS_TEST_AM_TOKEN"] = "hunter2-pw"
    try:
        checked = cli("check-config", "--config", str(config))
        dry = cli("send", "--title", "t", "--dry-run", "--config", str(config))
    finally:
        del os.environ["KSTALERTS_TEST_AM_TOKEN"]
    assert checked.code == 0, checked.err
    assert dry.code == 0, dry.err
    shown = checked.out + checked.err + dry.out + dry.err
    for secret in (*SECRETS, "TELEGRAMTOKEN", "sendMessage", "user:"):
        assert secret not in shown
    assert '"url": "https://api.telegram.org/***"' in checked.out
    assert '"proxy": "http://proxy.example:3128/***"' in checked.out
    assert '"Authorization": "***"' in checked.out and '"X-Api-Key": "***"' in checked.out
    assert "POST https://api.telegram.org/***" in dry.out


@pytest.mark.parametrize(
    ("entry", "key"),
    [
        (
            "type: email\n      host: mail.example\n      sender: a@example.com\n      recipients: [b@example.com]\n"
            "      password: {value: hunter2-pw}\n",
            "password",
        ),
        (
            "type: email\n      sender: a@example.com\n      recipients: [b@example.com]\n"
            "      transport: {type: smtp, host: mail.example, password: hunter2-pw}\n",
            "password",  # kstlib's nested transport block is read; the lone password is refused
        ),
        (
            'type: alertmanager\n      url: http://127.0.0.1:9093\n      basic_auth: "admin:pw-h1dden"\n',
            "basic_auth",
        ),
    ],
    ids=["password-mapping", "nested-transport", "literal-basic-auth"],
)
def test_a_misplaced_secret_is_refused_without_being_echoed(tmp_path: Path, entry: str, key: str) -> None:
    config = tmp_path / "kstlib.conf.yml"
    config.write_text(
        "alerts:\n  channels:\n    ch:\n      " + entry + "credentials:\n  x: {type: env, var: X}\n",
        encoding="utf-8",
    )
    run = cli("check-config", "--config", str(config))
    assert run.code == 2 and "Traceback" not in run.err
    assert key in run.err
    for secret in (*SECRETS, "admin", "hunter2"):
        assert secret not in run.out + run.err


# -- config discovery says what it did ----------------------------------------


@pytest.fixture()
def discovery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Discovery on, in an empty folder, with an empty home and /etc."""
    from kstalerts import _settings

    monkeypatch.delenv("KSTALERTS_NO_DISCOVERY", raising=False)
    monkeypatch.delenv("KSTALERTS_CONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(_settings, "SYSTEM_DIR", str(tmp_path / "etc"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def test_check_config_lists_where_it_searched_and_warns_of_no_channels(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, discovery: Path
) -> None:
    result = run_main(capsys, monkeypatch, "check-config")
    assert result.code == 0, result
    lines = result.out.splitlines()
    assert lines[0].startswith("config file: none found, built-in defaults; searched for kstlib.conf.yml, ")
    assert "  $KSTALERTS_CONFIG (not set)" in lines
    assert f"  {discovery}" in lines
    assert f"  {discovery.parent / 'home' / '.config' / 'kstalerts'}" in lines
    assert any(line.startswith("warning: no channels: no config file found") for line in lines)
    assert lines[-1] == "config OK (1 warning(s))"


def test_a_near_miss_file_name_gets_a_did_you_mean(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, discovery: Path
) -> None:
    (discovery / "kstalerts.conf.yml").write_text("alerts:\n  channels:\n    ops: {type: console}\n")
    result = run_main(capsys, monkeypatch, "check-config")
    assert result.code == 0
    assert (
        f"warning: {discovery / 'kstalerts.conf.yml'} is not read: config files are named kstlib.conf.yml,"
        " kstlib.conf.yaml, kstlib.conf.toml, kstlib.conf.json (did you mean kstlib.conf.yml?)"
    ) in result.out.splitlines()
    sent = run_main(capsys, monkeypatch, "send", "--title", "t")
    assert sent.code == 2
    assert f"{discovery / 'kstalerts.conf.yml'} is not read: did you mean kstlib.conf.yml?" in sent.err


@pytest.mark.parametrize(("key", "meant"), [("alert", "alerts"), ("credential", "credentials")])
def test_a_near_miss_top_level_key_gets_a_did_you_mean(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, discovery: Path, key: str, meant: str
) -> None:
    (discovery / "kstlib.conf.yml").write_text(f"{key}:\n  channels:\n    ops: {{type: console}}\n")
    result = run_main(capsys, monkeypatch, "check-config")
    assert result.code == 0
    assert f"warning: top-level key {key!r} is not read: did you mean {meant!r}?" in result.out.splitlines()
    assert "channels: 0" in result.out.splitlines()
    sent = run_main(capsys, monkeypatch, "send", "--title", "t")
    assert sent.code == 2
    assert "no config file found" not in sent.err
    assert f"{discovery / 'kstlib.conf.yml'} defines no channels" in sent.err


def test_the_shipped_config_checks_without_its_secret_and_sending_names_the_variable() -> None:
    env_without = {k: v for k, v in os.environ.items() if k != "SLACK_WEBHOOK_URL"}
    config = str(ROOT / "kstlib.conf.yml")

    def run(*args: str) -> Run:
        proc = subprocess.run(
            [sys.executable, "-m", "kstalerts", *args],
            cwd=ROOT,
            env=dict(env_without, PYTHONPATH=str(ROOT)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            universal_newlines=True,
            timeout=60,
        )
        return Run(proc.returncode, proc.stdout, proc.stderr)

    checked = run("check-config", "--config", config)
    assert checked.code == 0, checked
    assert "environment variable SLACK_WEBHOOK_URL is not set" in checked.out
    assert checked.out.splitlines()[-1] == "config OK (1 warning(s))"
    dry = run("send", "--title", "t", "--dry-run", "--config", config)
    assert dry.code == 0, dry
    assert "warning:" in dry.err and "SLACK_WEBHOOK_URL is not set (sending would fail)" in dry.err
    sent = run("send", "--title", "t", "--config", config)
    assert sent.code == 2
    assert "error:" in sent.err and "SLACK_WEBHOOK_URL is not set" in sent.err


def test_a_missing_credential_file_is_a_warning_naming_the_file(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, loopback_http: HTTPSink
) -> None:
    config = tmp_path / "kstlib.conf.yml"
    config.write_text(
        "alerts:\n  channels:\n    ops: {type: slack, credentials: hook, allow_custom_url: true}\n"
        "credentials:\n  hook: {type: file, path: hook.secret}\n"
    )
    result = run_main(capsys, monkeypatch, "check-config", "--config", str(config))
    assert result.code == 0
    assert f"file {tmp_path / 'hook.secret'} does not exist" in result.out
    sent = run_main(capsys, monkeypatch, "send", "--title", "t", "--config", str(config))
    assert sent.code == 2 and "hook.secret does not exist" in sent.err


# -- options: named when unknown, -v anywhere ---------------------------------


def test_an_unknown_option_is_named_with_a_suggestion() -> None:
    typo = cli("send", "--tittle", "X")
    assert typo.code == 2
    assert "unknown option --tittle for 'kstalerts send'; did you mean --title?" in typo.err
    assert "required" not in typo.err
    top = cli("--verbos1", "send", "--title", "x")
    assert top.code == 2 and "unknown option --verbos1; did you mean --verbose?" in top.err


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_anywhere_logs_each_failed_attempt(tmp_path: Path, loopback_http: HTTPSink, where: str) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = write_config(
        tmp_path, loopback_http, ops_url=f"http://127.0.0.1:{port}/services/T1/B2/x", extra=""
    )
    config.write_text(config.read_text().replace("max_retries: 0", "max_retries: 1"))
    send = ["send", "--title", "t", "--config", str(config)]
    result = cli("-v", *send) if where == "before" else cli(*send, "-v")
    assert result.code == 1, result
    attempts = [line for line in result.err.splitlines() if ": attempt " in line]
    assert len(attempts) == 2, result.err
    assert f"ops: attempt 1 of 2 failed: 127.0.0.1:{port}: connection refused (retrying)" in attempts[0]
    assert result.out.startswith(f"ops: failed: 127.0.0.1:{port}: connection refused")


# -- the end of the process: no teardown when nothing can be lost ---------------------

# Loaded by the interpreter of each run (it is on PYTHONPATH): marks a file when the atexit
# handlers run and another when the interpreter's teardown frees the module's objects; and,
# per PROBE_MODE, keeps a thread alive or attaches a trace function, as a user's program might.
_SITECUSTOMIZE = """
import atexit, os, sys, threading

def _mark(name, _open=os.open, _close=os.close, _join=os.path.join, _dir=os.environ["PROBE_DIR"]):
    _close(_open(_join(_dir, name), os.O_WRONLY | os.O_CREAT, 0o600))

class Teardown:
    def __del__(self, mark=_mark):
        mark("teardown")

keep = Teardown()
atexit.register(_mark, "atexit")
mode = os.environ.get("PROBE_MODE")
if mode == "thread":
    threading.Thread(target=threading.Event().wait, args=(1.0,)).start()
elif mode == "trace":  # a trace function that keeps nothing of this module alive
    tracer = {}
    exec("def trace(frame, event, arg): return None", tracer)
    sys.settrace(tracer.pop("trace"))
"""


def _probe_run(tmp_path: Path, mode: str, *args: str, python_args: bool = False) -> "tuple[Run, set[str]]":
    """``python -m kstalerts ARGS`` (``python ARGS`` with ``python_args``), and the marks it left."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_SITECUSTOMIZE, encoding="utf-8")
    marks = tmp_path / "marks"
    marks.mkdir()
    env = dict(os.environ, PYTHONPATH=f"{site}{os.pathsep}{ROOT}", PROBE_DIR=str(marks), PROBE_MODE=mode)
    proc = subprocess.run(
        [sys.executable, *([] if python_args else ["-m", "kstalerts"]), *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr), {p.name for p in marks.iterdir()}


def test_the_command_ends_after_its_atexit_handlers_without_the_teardown(
    tmp_path: Path, loopback_http: HTTPSink
) -> None:
    config = write_config(tmp_path, loopback_http)
    result, marks = _probe_run(tmp_path, "", "send", "--title", "t", "--json", "--config", str(config))
    assert result.code == 0, result
    assert json.loads(result.out)["ok"] is True  # the whole output, flushed into the pipe
    assert marks == {"atexit"}  # handlers ran; the objects were not freed one by one
    assert len(loopback_http.posts) == 1


@pytest.mark.parametrize("mode", ["thread", "trace"])
def test_the_usual_exit_when_a_thread_is_alive_or_a_tracer_attached(tmp_path: Path, mode: str) -> None:
    result, marks = _probe_run(tmp_path, mode, "send", "--title", "t", "--config", str(tmp_path / "none.yml"))
    assert result.code == 2 and "none.yml" in result.err, result  # the status main() returned
    assert marks == {"atexit", "teardown"}


def test_a_usage_error_ends_with_its_status_and_message(tmp_path: Path) -> None:
    result, marks = _probe_run(tmp_path, "", "send")
    assert result.code == 2 and "--title" in result.err
    assert marks == {"atexit"}


def test_a_program_that_runs_the_command_goes_on_after_it(tmp_path: Path) -> None:
    # runpy.run_module(..., run_name="__main__") from someone's script, as a profiler or a
    # wrapper does: SystemExit as before, and the rest of that program runs
    program = (
        "import runpy, sys\nsys.argv = ['kstalerts', '--version']\n"
        "try:\n    runpy.run_module('kstalerts', run_name='__main__', alter_sys=True)\n"
        "except SystemExit as exc:\n    print('went on after exit', exc.code)\n"
    )
    result, marks = _probe_run(tmp_path, "", "-c", program, python_args=True)
    assert result.code == 0 and result.out.endswith("went on after exit 0\n"), result
    assert marks == {"atexit", "teardown"}
