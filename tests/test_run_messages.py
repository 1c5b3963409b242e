"""``kstalerts run`` speaks when it must, and only then (issue 27, items 4, 5, 12).

Each test runs the command as cron does (a subprocess), against the loopback
Slack-compatible sink, and pins what the user sees on stderr.
"""

from pathlib import Path

import pytest

from kstalerts._duration import parse_duration
from kstalerts.net.loopback import HTTPSink
from tests.test_run import opts, run, slack_config, text_of


def test_a_missing_program_says_it_could_not_start(tmp_path: Path, loopback_http: HTTPSink) -> None:
    """Was: exit 127 with nothing on stdout or stderr."""
    config = slack_config(tmp_path, loopback_http.url)
    missing = str(tmp_path / "backup.sh")
    done = run(*opts(tmp_path, config), "--", missing)
    assert done.code == 127
    assert done.err == f"kstalerts run: could not start {missing}: No such file or directory\n"
    assert len(loopback_http.posts) == 1
    assert f"could not start {missing}: No such file or directory" in text_of(loopback_http.posts[0])


def test_a_not_executable_file_exits_126_and_says_why(tmp_path: Path, loopback_http: HTTPSink) -> None:
    config = slack_config(tmp_path, loopback_http.url)
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    done = run(*opts(tmp_path, config), "--", str(script))
    assert done.code == 126
    assert done.err == f"kstalerts run: could not start {script}: Permission denied\n"


def test_a_whole_command_line_as_one_argument_gets_the_sh_c_hint(
    tmp_path: Path, loopback_http: HTTPSink
) -> None:
    """Was: as silent, and the job named after the whole string."""
    config = slack_config(tmp_path, loopback_http.url)
    line = "tar czf /tmp/x.tgz /srv && echo done"
    done = run(*opts(tmp_path, config), line)
    assert done.code == 127
    assert done.err.splitlines() == [
        f"kstalerts run: could not start {line}: No such file or directory",
        "kstalerts run: hint: the whole command is one argument; to run it through a shell:"
        f" sh -c '{line}'",
    ]
    assert f"sh -c '{line}'" in text_of(loopback_http.posts[0])


def test_a_path_with_a_space_alone_gets_no_hint(tmp_path: Path, loopback_http: HTTPSink) -> None:
    config = slack_config(tmp_path, loopback_http.url)
    done = run(*opts(tmp_path, config), "--", str(tmp_path / "my job"))
    assert done.code == 127 and "hint" not in done.err


def test_quiet_prints_nothing_for_a_recovery_and_a_warning_channel_hears_it(tmp_path: Path, loopback_http: HTTPSink) -> None:
    """Was: "alert '… recovered …' not sent: no channel takes level SUCCESS" on stderr, so cron mailed."""
    config = slack_config(tmp_path, loopback_http.url, extra="")
    config.write_text(config.read_text() + "      min_level: warning\n")
    failed = run(*opts(tmp_path, config, "--name", "j", "--quiet"), "--", "false")
    assert failed.code == 1 and len(loopback_http.posts) == 1
    recovered = run(*opts(tmp_path, config, "--name", "j", "--quiet"), "--", "true")
    assert recovered == recovered._replace(code=0, out="", err="")
    assert len(loopback_http.posts) == 2  # the recovery reached the min_level: warning channel
    assert "recovered after 1 failure" in text_of(loopback_http.posts[1])


@pytest.mark.parametrize(
    "text, seconds",
    [("90", 90.0), ("1.5", 1.5), ("10m", 600.0), ("2h", 7200.0), ("1d", 86400.0), ("1h30m", 5400.0),
     ("0", 0.0), ("30S", 30.0), (" 5s ", 5.0)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "10x", "-5", "inf", "nan", "1h 30m", "10mm", "5s10"])
def test_not_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_timeout_takes_a_duration_with_a_unit(tmp_path: Path, loopback_http: HTTPSink) -> None:
    """Was: "argument --timeout: not a number of seconds: '10m'"."""
    config = slack_config(tmp_path, loopback_http.url)
    done = run(*opts(tmp_path, config, "--timeout", "10m", "--realert", "1h", "--kill-after", "5s"), "--", "true")
    assert (done.code, done.err) == (0, "")
    bad = run(*opts(tmp_path, config, "--timeout", "10x"), "--", "true")
    assert bad.code == 125
    assert "argument --timeout: not a duration: '10x' (use seconds (90, 1.5)" in bad.err


def test_an_unknown_option_suggests_only_a_close_one(tmp_path: Path) -> None:
    """Was: "unknown option --bogus for 'kstalerts run'; did you mean --verbose?"."""
    bogus = run("--bogus", "--", "true")
    assert bogus.code == 125
    assert "unknown option --bogus for 'kstalerts run'; see 'kstalerts run --help'" in bogus.err
    typo = run("--quite", "--", "true")
    assert "unknown option --quite for 'kstalerts run'; did you mean --quiet?" in typo.err
