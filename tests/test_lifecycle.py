"""Fork, exit, signals, close and pickling: each scenario in its own process.

The scenarios live in tests/lifecycle_children.py and run in a fresh
interpreter against this test's real servers: the Slack-compatible HTTP
server (tests/servers/slack.py) and aiosmtpd (tests/servers/smtp.py).
What the servers received is counted by the ``LC[...]`` tag in each title.
``KSTALERTS_CHILD_PYTHON`` runs the scenarios under another interpreter
(they need only the package; the servers stay in this process).
"""

import collections
import json
import os
import pathlib
import pickle
import re
import signal
import subprocess
import sys
import time
from typing import Any, Callable, Counter, Dict, List, Tuple

import pytest

from kstalerts import AlertLevel, AlertMessage, AlertResult
from tests.servers.slack import SlackServer
from tests.servers.smtp import SMTPServer, wait_for

ROOT = pathlib.Path(__file__).resolve().parent.parent
TAG = re.compile(r"LC\[([^\]]+)\]")
CHILD_PYTHON = os.environ.get("KSTALERTS_CHILD_PYTHON") or sys.executable

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX only: fork and signals")


def start(scenario: str, args: Dict[str, Any]) -> "subprocess.Popen[str]":
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.Popen(
        [CHILD_PYTHON, "-m", "tests.lifecycle_children", scenario, json.dumps(args)],
        cwd=str(ROOT),
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        start_new_session=True,  # a hung scenario is killed with every process it forked
    )


def finish(child: "subprocess.Popen[str]", timeout: float = 90.0, stdin: str = "") -> Tuple[int, Any, str]:
    """Wait for the child; return its exit code, its report and its stderr."""
    try:
        out, err = child.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        out, err = child.communicate()
        raise AssertionError(f"the scenario did not end within {timeout}s: {out} {err}") from None
    lines = [line for line in out.splitlines() if line.strip()]
    return child.returncode, json.loads(lines[-1]) if lines else None, err


def run(scenario: str, args: Dict[str, Any], timeout: float = 90.0) -> Tuple[int, Any, str]:
    return finish(start(scenario, args), timeout)


def slack_tags(server: SlackServer) -> Counter[str]:
    """How many requests carried each tag."""
    return collections.Counter(
        tag for request in list(server.requests) for tag in set(TAG.findall(request.body.decode("utf-8")))
    )


def mail_tags(server: SMTPServer) -> Counter[str]:
    return collections.Counter(
        tag
        for _, _, content in list(server.handler.messages)
        for tag in set(TAG.findall(content.decode("utf-8", "replace")))
    )


def successes(results: List[List[Any]]) -> List[bool]:
    return [bool(success) for _, success, _ in results]


def assert_clean(code: int, err: str) -> None:
    assert code == 0, err
    assert "Traceback" not in err, err


# -- fork ---------------------------------------------------------------------------
@pytest.mark.parametrize("raw_fork", [False, True], ids=["os.fork", "libc-fork-no-hook"])
def test_fork_slack_101_of_101_each_once_and_the_parent_keeps_its_connection(
    slack_server: SlackServer, raw_fork: bool
) -> None:
    args = {"kind": "slack", "url": slack_server.url(), "children": 4, "each": 20, "raw_fork": raw_fork}
    code, out, err = run("fork_send", args)
    assert_clean(code, err)
    assert out["codes"] == [0, 0, 0, 0]
    every = out["first"] + out["parent"] + [r for child in out["children"] for r in child["results"]]
    assert (len(every), sum(successes(every))) == (101, 101)
    tags = slack_tags(slack_server)
    expected = {"p-first"} | {f"p-{i:02d}" for i in range(20)}
    expected |= {f"c{k}-{i:02d}" for k in range(4) for i in range(20)}
    assert set(tags) == expected and set(tags.values()) == {1}  # 101 titles, each once
    # The children never wrote on (nor closed) the parent's kept-alive
    # connection: all 21 parent requests went over the first one.
    by_tag = {tag: r.connection for r in slack_server.requests for tag in TAG.findall(r.body.decode())}
    assert {by_tag[t] for t in by_tag if t.startswith("p-")} == {by_tag["p-first"]}
    assert slack_server.connections == 5  # the parent's, and one new per child


def test_fork_email_session_reuse_parent_and_4_children_each_message_once(
    smtp_server: Callable[..., SMTPServer], smtp_ca: Tuple[Any, str]
) -> None:
    server = smtp_server(starttls=True)  # TLS: a close_notify from a child would break the parent
    args = {"kind": "email", "port": server.port, "ca": smtp_ca[1], "children": 4, "each": 10}
    code, out, err = run("fork_send", args)
    assert_clean(code, err)
    every = out["first"] + out["parent"] + [r for child in out["children"] for r in child["results"]]
    assert (len(every), sum(successes(every))) == (51, 51)
    assert wait_for(lambda: len(server.handler.messages) == 51)
    tags = mail_tags(server)
    expected = {"p-first"} | {f"p-{i:02d}" for i in range(10)}
    expected |= {f"c{k}-{i:02d}" for k in range(4) for i in range(10)}
    assert set(tags) == expected and set(tags.values()) == {1}
    # One session for the parent's 11 messages, one per child: no child said
    # QUIT or closed TLS on the session it inherited.
    assert server.connections == 5
    assert all(server.handler.tls)


def test_child_forked_after_a_3_channel_fan_out_sends_in_under_5s(slack_server: SlackServer) -> None:
    urls = [slack_server.url(token=f"tok{i}") for i in range(3)]
    code, out, err = run("fork_after_fan_out", {"urls": urls})
    assert_clean(code, err)
    assert successes(out["before"]) == [True] * 3
    assert out["child"] is not None, "the child never answered"
    assert successes(out["child"]["results"]) == [True] * 3
    assert out["child"]["elapsed"] < 5.0
    assert successes(out["after"]) == [True] * 3  # the parent's pool still works
    assert slack_tags(slack_server) == {"before-fork": 3, "in-child": 3, "parent-after-fork": 3}


# -- exit -----------------------------------------------------------------------------
def test_atexit_send_reaches_both_channels(
    slack_server: SlackServer, smtp_server: Callable[..., SMTPServer]
) -> None:
    mail = smtp_server()
    code, out, err = run("at_exit_send", {"url": slack_server.url(), "port": mail.port})
    assert_clean(code, err)
    assert successes(out["warm"]) == [True, True]
    assert [(c, ok) for c, ok, _ in out["at_exit"]] == [("slack", True), ("email", True)]
    assert slack_tags(slack_server)["at-exit"] == 1
    assert wait_for(lambda: mail_tags(mail)["at-exit"] == 1)


_COLD_AT_EXIT = """
import atexit, json, sys
sys.path.insert(0, {root!r})
from kstalerts import AlertManager, AlertMessage
from kstalerts.channels import SlackChannel
manager = AlertManager()
for name in ("one", "two"):
    manager.add_channel(SlackChannel({url!r}, name=name, allow_custom_url=True, max_retries=0, timeout=10))

def on_exit():
    loaded = "threading" in sys.modules
    results = manager.send(AlertMessage("LC[cold-exit]", "sent from atexit"))
    manager.close()
    print(json.dumps({{"threading": loaded, "results": [[r.channel, r.success] for r in results]}}))

atexit.register(on_exit)
"""


def test_atexit_send_to_two_channels_before_anything_loaded_threading(slack_server: SlackServer) -> None:
    # Nothing imported threading before the exit, so its shutdown never marked the
    # main thread: the fan-out may start its pool (3.6-3.11) or be refused (3.12+),
    # and either way both channels get the alert and the process ends cleanly.
    code = _COLD_AT_EXIT.format(root=str(ROOT), url=slack_server.url())
    proc = subprocess.run(
        [CHILD_PYTHON, "-I", "-S", "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=60,
    )
    assert_clean(proc.returncode, proc.stderr)
    assert json.loads(proc.stdout) == {"threading": False, "results": [["one", True], ["two", True]]}
    assert slack_tags(slack_server)["cold-exit"] == 2


def test_logging_error_at_exit_is_delivered_through_alert_handler(
    slack_server: SlackServer, smtp_server: Callable[..., SMTPServer]
) -> None:
    mail = smtp_server()
    code, out, err = run("at_exit_logging", {"url": slack_server.url(), "port": mail.port})
    assert_clean(code, err)
    assert "Logging error" not in err  # handleError was not called
    assert successes(out["at_exit"]) == [True, True]
    assert slack_tags(slack_server)["log-at-exit"] == 1
    assert wait_for(lambda: mail_tags(mail)["log-at-exit"] == 1)


def test_a_finalizer_at_exit_sends_to_both_channels(
    slack_server: SlackServer, smtp_server: Callable[..., SMTPServer]
) -> None:
    mail = smtp_server()
    code, out, err = run("finalizer_send", {"url": slack_server.url(), "port": mail.port})
    assert_clean(code, err)
    assert successes(out["warm"]) == [True, True]
    assert successes(out["finalizer"]) == [True, True]
    assert slack_tags(slack_server)["finalizer"] == 1
    assert wait_for(lambda: mail_tags(mail)["finalizer"] == 1)


# -- signals ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fan_out, flush", [(False, False), (True, False), (False, True)], ids=["inline", "fan-out", "flush_spool"]
)
def test_sigterm_handler_sends_while_main_is_inside_send(
    slack_server: SlackServer, tmp_path: pathlib.Path, fan_out: bool, flush: bool
) -> None:
    # The first request (the main thread's) is answered after 2 s: the main
    # thread is inside send (reading the answer, or waiting for the pool)
    # when the signal comes; later requests are answered at once.
    slack_server.queue("delay=2")
    args = {
        "slow_url": slack_server.url(),
        "fast_url": slack_server.url(token="fast"),
        "fan_out": fan_out,
        "spool": str(tmp_path / "spool") if flush else None,
    }
    child = start("sigterm_during_send", args)
    try:
        assert wait_for(lambda: slack_tags(slack_server)["main"] >= 1, timeout=30), "main never sent"
        signalled = time.monotonic()
        child.send_signal(signal.SIGTERM)
        code, out, err = finish(child, timeout=30)
        took = time.monotonic() - signalled
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.communicate()
    assert_clean(code, err)
    assert took < 5.0, (took, out, err)
    assert "main_returned" not in out, out  # the handler ran while main was inside send
    expected = [["slow", True, None]] + ([["fast", True, None]] if fan_out else [])
    assert out["handler"] == expected, (out, err)
    assert slack_tags(slack_server)["from-handler"] == len(expected)


def test_a_storm_of_signals_whose_handler_sends_never_deadlocks(slack_server: SlackServer) -> None:
    args = {"url": slack_server.url(), "interval": 0.003, "at_least": 100, "seconds": 30, "warm_up": True}
    code, out, err = run("signal_storm", args, timeout=60)
    assert_clean(code, err)
    assert out["errors"] == []
    assert out["handler"] > 20 and out["handler_ok"] == out["handler"]
    assert out["main"] > 20 and out["main_ok"] == out["main"]
    assert sum(slack_tags(slack_server).values()) == out["main"] + out["handler"]


@pytest.mark.parametrize("part", ["throttle", "dedup"])
@pytest.mark.parametrize("shared", [False, True], ids=["in-memory", "state-file"])
def test_a_signal_handler_that_sends_while_main_holds_a_bucket_lock(
    slack_server: SlackServer, tmp_path: pathlib.Path, part: str, shared: bool
) -> None:
    args = {
        "url": slack_server.url(),
        "part": part,
        "state_file": str(tmp_path / "state.json") if shared else None,
    }
    code, out, err = run("signal_in_locks", args, timeout=40)
    assert_clean(code, err)
    assert out["ran_inside"] == [True]  # the handler ran while the clock's caller held its lock
    assert out["handler"] == [["slack", True, None]]
    assert out["main"] == [["slack", True, None]]
    assert slack_tags(slack_server) == {f"main-{part}": 1, f"handler-{part}": 1}
    if shared:  # the handler could not take the flock its own thread held: it used memory, with a warning
        assert "cannot be used" in err


# -- close --------------------------------------------------------------------------------
@pytest.mark.slow(seconds=5)
def test_8_threads_x_50_sends_racing_close(slack_server: SlackServer, tmp_path: pathlib.Path) -> None:
    args = {
        "url": slack_server.url(),
        "spool": str(tmp_path / "spool"),
        "threads": 8,
        "sends": 50,
        "close_after": 100,
    }
    code, out, err = run("close_race", args)
    assert_clean(code, err)
    assert out["errors"] == []
    assert out["results"] == 800
    assert out["alive"] == []
    assert out["closed_at"] >= 100 and out["failed"] > 0  # the close did land in the middle
    assert out["failed_errors"] == ["not sent: this AlertManager is closed"]
    assert out["failed_spooled"] == out["failed"] == out["spool_len"]
    received = slack_tags(slack_server)
    assert sum(received.values()) == len(out["delivered"]) == 800 - out["failed"]


# -- multiprocessing ----------------------------------------------------------------------
def test_pool_fork_4_workers_log_40_errors_through_the_parents_handler(
    slack_server: SlackServer, smtp_server: Callable[..., SMTPServer]
) -> None:
    mail = smtp_server()
    args = {"url": slack_server.url(), "port": mail.port, "workers": 4, "jobs": 40}
    code, out, err = run("pool_fork", args)
    assert_clean(code, err)
    assert successes(out["warm"]) == [True, True]
    assert [successes(job) for job in out["jobs"]] == [[True, True]] * 40
    jobs = {f"job-{i:02d}" for i in range(40)}
    slack_seen = slack_tags(slack_server)
    assert {t for t in slack_seen if t.startswith("job-")} == jobs and slack_seen["parent-warm-up"] == 1
    assert all(slack_seen[t] == 1 for t in jobs)
    assert wait_for(lambda: sum(mail_tags(mail).values()) == 41)
    assert all(mail_tags(mail)[t] == 1 for t in jobs)


def test_pool_spawn_workers_build_their_manager_from_a_config_file(
    slack_server: SlackServer, smtp_server: Callable[..., SMTPServer], tmp_path: pathlib.Path
) -> None:
    mail = smtp_server()
    config = tmp_path / "kstlib.conf.yml"
    config.write_text(
        "alerts:\n"
        "  channels:\n"
        "    max_retries: 0\n"
        "    ops:\n"
        "      type: slack\n"
        f"      webhook_url: {slack_server.url()}\n"
        "      allow_custom_url: true\n"
        "    mail:\n"
        "      type: email\n"
        "      host: 127.0.0.1\n"
        f"      port: {mail.port}\n"
        "      security: none\n"
        "      sender: alerts@example.test\n"
        "      recipients: [ops@example.test]\n"
    )
    code, out, err = run("pool_spawn", {"config": str(config), "workers": 4, "jobs": 20}, timeout=120)
    assert_clean(code, err)
    assert [[c for c, _, _ in r] for r in out["results"]] == [["ops", "mail"]] * 20
    assert [successes(r) for r in out["results"]] == [[True, True]] * 20
    assert out["alerts_equal"] is True  # each result's alert came back equal to the one sent
    tags = {f"spawn-{i:02d}" for i in range(20)}
    assert slack_tags(slack_server) == dict.fromkeys(tags, 1)
    assert wait_for(lambda: mail_tags(mail) == dict.fromkeys(tags, 1))


# -- pickling -------------------------------------------------------------------------------
def test_message_result_and_level_pickle_round_trip_through_another_process() -> None:
    message = AlertMessage(
        "Disk full",
        "/var at 97%",
        AlertLevel.WARNING,
        timestamp=True,
        labels={"host": "db1"},
        dedup_key="disk",
    )
    result = AlertResult(
        "ops", False, error="timed out", attempts=2, retryable=True, status=504, alert=message
    )
    values = (message, result, AlertLevel.CRITICAL)
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        assert pickle.loads(pickle.dumps(values, protocol)) == values
    code, out, err = finish(start("unpickle", {}), stdin=pickle.dumps(values).hex())
    assert_clean(code, err)
    assert out["message"] == [
        "Disk full",
        "/var at 97%",
        "WARNING",
        {"host": "db1"},
        "disk",
        message.created_at,
        True,
    ]
    assert out["result"] == ["ops", False, "timed out", 2, True]
    assert out["level"] == ["AlertLevel", "CRITICAL"]
    back = pickle.loads(bytes.fromhex(out["back"]))
    assert back == values
    assert back[0].labels == {"host": "db1"} and back[1].alert == message
    with pytest.raises(TypeError):
        back[0].labels["host"] = "x"  # still read-only
