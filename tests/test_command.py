"""CommandChannel (``type: exec``): real child processes; exit codes, timeouts, floods."""

import json
import os
import pathlib
import sys
import time
from typing import Any, List

import pytest

from kstalerts import AlertLevel, AlertMessage, Notification
from kstalerts.channels import channel_class
from kstalerts.channels.command import CommandChannel
from kstalerts.digest import DigestSummary
from kstalerts.exceptions import AlertConfigurationError

PY = sys.executable


def _script(tmp_path: pathlib.Path, code: str) -> List[str]:
    path = tmp_path / "hook.py"
    path.write_text(code, encoding="utf-8")
    return [PY, str(path)]


def test_exit_0_is_delivered_with_the_alert_on_stdin_and_in_the_environment(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "got.json"
    argv = _script(
        tmp_path,
        "import json, os, sys\n"
        "data = json.load(sys.stdin)\n"
        "env = {k: v for k, v in os.environ.items() if k.startswith('KSTALERTS_')}\n"
        f"open({str(out)!r}, 'w').write(json.dumps({{'stdin': data, 'env': env, 'argv': sys.argv[1:]}}))\n",
    )
    channel = CommandChannel([*argv, "$(touch pwned)", ";", "|"], name="hook", env={"SITE": "x"})
    alert = AlertMessage(
        "Disk $(id)", "line1\nline2", AlertLevel.WARNING, labels={"host": "db1"}, dedup_key="k"
    )
    result = channel.send(alert)
    assert result.success, result.error
    got = json.loads(out.read_text())
    assert got["argv"] == ["$(touch pwned)", ";", "|"]  # never through a shell
    assert not (tmp_path / "pwned").exists() and not pathlib.Path("pwned").exists()
    assert got["stdin"]["title"] == "Disk $(id)" and got["stdin"]["body"] == "line1\nline2"
    assert got["stdin"]["channel"] == "hook" and got["stdin"]["labels"] == {"host": "db1"}
    env = got["env"]
    assert env["KSTALERTS_TITLE"] == "Disk $(id)" and env["KSTALERTS_LEVEL"] == "WARNING"
    assert env["KSTALERTS_BODY"] == "line1\nline2" and env["KSTALERTS_DEDUP_KEY"] == "k"
    assert json.loads(env["KSTALERTS_LABELS"]) == {"host": "db1"} and env["KSTALERTS_CHANNEL"] == "hook"


def test_exit_75_is_a_retryable_failure_with_the_output(tmp_path: pathlib.Path) -> None:
    argv = _script(tmp_path, "import sys\nprint('queue full, try later')\nsys.exit(75)\n")
    result = CommandChannel(argv, max_retries=0).send(AlertMessage("x"))
    assert not result.success and result.retryable
    assert result.error == f"exec: {PY} exited with 75: queue full, try later"


def test_another_exit_code_is_a_permanent_failure(tmp_path: pathlib.Path) -> None:
    argv = _script(tmp_path, "import sys\nsys.stderr.write('no such recipient\\n')\nsys.exit(1)\n")
    result = CommandChannel(argv, max_retries=3).send(AlertMessage("x"))
    assert not result.success and not result.retryable
    assert result.attempts == 1  # not retried
    assert result.error == f"exec: {PY} exited with 1: no such recipient"


def test_a_hang_is_killed_at_the_timeout_with_its_process_group(tmp_path: pathlib.Path) -> None:
    pidfile = tmp_path / "child.pid"
    argv = _script(
        tmp_path,
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pidfile)!r}, 'w').write(str(child.pid))\n"
        "print('started', flush=True)\n"
        "time.sleep(60)\n",
    )
    started = time.monotonic()
    result = CommandChannel(argv, timeout=1, max_retries=0).send(AlertMessage("x"))
    assert time.monotonic() - started < 5
    assert not result.success and result.retryable
    assert result.error == f"exec: {PY} did not finish in 1s and was killed: started"
    child = int(pidfile.read_text())
    for _ in range(50):  # the grandchild went with the group (reaped by init)
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the command's child outlived the timeout")


def test_a_stdout_flood_is_bounded(tmp_path: pathlib.Path) -> None:
    argv = _script(
        tmp_path,
        "import sys\nfor n in range(200000):\n    sys.stdout.write('flood line %d\\n' % n)\nsys.exit(3)\n",
    )
    result = CommandChannel(argv, timeout=30, max_retries=0).send(AlertMessage("x"))
    assert not result.success and not result.retryable
    assert len(str(result.error)) < 2300
    assert str(result.error).endswith("flood line 199999")


def test_a_command_that_ignores_stdin_is_fine(tmp_path: pathlib.Path) -> None:
    result = CommandChannel(["true"]).send(AlertMessage("x", "y" * 200000))
    assert result.success, result.error


def test_a_missing_program_is_a_permanent_failure(tmp_path: pathlib.Path) -> None:
    missing = str(tmp_path / "nope")
    result = CommandChannel([missing], max_retries=2).send(AlertMessage("x"))
    assert not result.success and not result.retryable and result.attempts == 1
    assert result.error == f"exec: cannot run {missing}: No such file or directory"


def test_the_digest_reaches_the_command(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "env"
    argv = _script(tmp_path, f"import os\nopen({str(out)!r}, 'w').write(os.environ['KSTALERTS_HELD_BACK'])\n")
    held = DigestSummary(2, AlertLevel.INFO, "2 alerts held back", ("2x disk",), 0)
    assert CommandChannel(argv).notify(Notification(AlertMessage("x"), held_back=held)).success
    assert out.read_text() == "2 alerts held back\n2x disk"


@pytest.mark.parametrize("command", ["logger -t x", [], [1, 2], ["a\0b"]])
def test_the_command_must_be_an_argv_list(command: Any) -> None:
    with pytest.raises(AlertConfigurationError, match="^command: exec: command must be"):
        CommandChannel(command)


def test_built_from_config() -> None:
    channel = channel_class("exec").from_config({"command": ["logger", "-t", "alerts"], "timeout": 5})
    assert repr(channel) == "CommandChannel(name='exec', command='logger')"
    assert channel.timeout == 5.0
