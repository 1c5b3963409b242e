"""The defaults constructors use (kstalerts/_settings.py) and who fills them.

Each case runs in a fresh interpreter whose working directory holds the
``kstlib.conf.yml`` under test, with discovery on, as a user's script would.
"""

import os
import pathlib
import subprocess
import sys
from typing import List

ROOT = pathlib.Path(__file__).resolve().parent.parent

SCRIPT = """\
import kstalerts
from kstalerts import AlertThrottle
from kstalerts.channels import ConsoleChannel
t = AlertThrottle(per=120)
c = ConsoleChannel()
print(t.rate, t.per, t.burst, c.timeout, c.max_retries)
print(ConsoleChannel(timeout=5, max_retries=0).timeout, AlertThrottle(rate=5).rate)
"""


def run_in(folder: pathlib.Path, config: bytes) -> "subprocess.CompletedProcess[str]":
    (folder / "kstlib.conf.yml").write_bytes(config)
    env = {k: v for k, v in os.environ.items() if k not in ("KSTALERTS_NO_DISCOVERY", "KSTALERTS_CONFIG")}
    env["PYTHONPATH"] = str(ROOT)
    env["HOME"] = str(folder)  # no ~/.config/kstalerts of the machine
    return subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=str(folder),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=60,
    )


def lines(text: str) -> List[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_a_valid_file_in_the_working_directory_supplies_the_defaults(tmp_path: pathlib.Path) -> None:
    out = run_in(
        tmp_path,
        b"alerts:\n  throttle: {rate: 7, burst: 4}\n  channels: {timeout: 12.5, max_retries: 4}\n",
    )
    assert out.returncode == 0, out.stderr
    # per=120 is a keyword: it wins; rate and burst come from the file.
    assert lines(out.stdout) == ["7.0 120.0 4 12.5 4", "5.0 5.0"]
    assert out.stderr == ""


def test_a_broken_file_in_the_working_directory_stops_no_constructor(tmp_path: pathlib.Path) -> None:
    out = run_in(tmp_path, b"alerts:\n  throttle: {rate: 7\n")
    assert out.returncode == 0, out.stderr
    assert lines(out.stdout) == ["10.0 120.0 10 30.0 2", "5.0 5.0"]
    path = tmp_path / "kstlib.conf.yml"
    warnings = lines(out.stderr)
    assert len(warnings) == 1
    assert warnings[0].startswith(f"{path}:2:")
    assert warnings[0].endswith("(the built-in defaults apply; check-config reports this file)")


def test_a_wrong_value_in_the_file_is_one_warning_naming_its_line(tmp_path: pathlib.Path) -> None:
    out = run_in(tmp_path, b"alerts:\n  channels:\n    timeout: soon\n")
    assert out.returncode == 0, out.stderr
    assert lines(out.stdout) == ["10.0 120.0 10 30.0 2", "5.0 5.0"]
    assert lines(out.stderr) == [
        f"{tmp_path / 'kstlib.conf.yml'}:3: alerts.channels.timeout: must be a number, got 'soon'"
        " (the built-in defaults apply; check-config reports this file)"
    ]


def test_an_unreadable_file_stops_no_constructor(tmp_path: pathlib.Path) -> None:
    out = run_in(tmp_path, b"alerts:\n  throttle: {rate: 7}\n# \xff\xfe not UTF-8\n")
    assert out.returncode == 0, out.stderr
    assert lines(out.stdout) == ["10.0 120.0 10 30.0 2", "5.0 5.0"]
    assert len(lines(out.stderr)) == 1 and str(tmp_path / "kstlib.conf.yml") in out.stderr


def test_check_config_still_reports_the_broken_file_as_an_error(tmp_path: pathlib.Path) -> None:
    (tmp_path / "kstlib.conf.yml").write_text("alerts:\n  throttle: {rate: 7\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("KSTALERTS_NO_DISCOVERY", "KSTALERTS_CONFIG")}
    env["PYTHONPATH"] = str(ROOT)
    env["HOME"] = str(tmp_path)
    out = subprocess.run(
        [sys.executable, "-m", "kstalerts", "check-config"],
        cwd=str(tmp_path),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert f"{tmp_path / 'kstlib.conf.yml'}:2:" in out.stderr + out.stdout
