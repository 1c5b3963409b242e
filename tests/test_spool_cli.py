"""``kstalerts flush``: the network-down test end to end, and the command's exit codes."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from kstalerts import AlertManager, AlertMessage
from kstalerts.cli import main
from tests.servers.sink import StoppableHTTPSink

ROOT = pathlib.Path(__file__).resolve().parent.parent


def write_config(tmp_path: pathlib.Path, url: str, *, spool: bool = True) -> pathlib.Path:
    path = tmp_path / "kstlib.conf.yml"
    lines = ["alerts:"]
    if spool:
        lines += ["  spool:", "    path: spool"]
    lines += [
        "  channels:",
        "    max_retries: 0",
        "    timeout: 5",
        "    hook:",
        "      type: webhook",
        f"      url: {url}",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def kstalerts(*args: str) -> "subprocess.CompletedProcess[str]":
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "kstalerts", *args],
        cwd=str(ROOT),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=60,
    )


def test_network_down_50_spooled_then_kstalerts_flush_delivers_50(
    tmp_path: pathlib.Path, http_sink: StoppableHTTPSink
) -> None:
    config = write_config(tmp_path, http_sink.url())
    http_sink.stop()  # the network is down: connections are refused
    with AlertManager.from_config(str(config)) as manager:
        results = manager.send([AlertMessage(f"alert {i}", f"body {i}") for i in range(50)])
    assert [(r.success, r.spooled) for r in results] == [(False, True)] * 50
    assert len([n for n in os.listdir(tmp_path / "spool") if n.endswith(".json")]) == 50

    still_down = kstalerts("flush", "--config", str(config))
    assert still_down.returncode == 1
    assert still_down.stdout == f"spool {tmp_path / 'spool'}: 0 delivered, 50 still failing; 50 left\n"

    http_sink.start()  # back, on the same port
    run = kstalerts("flush", "--config", str(config))
    assert (run.returncode, run.stderr) == (0, "")
    assert run.stdout == f"spool {tmp_path / 'spool'}: 50 delivered; 0 left\n"
    bodies = http_sink.json_bodies()
    assert len(bodies) == 50
    assert sorted(b["title"] for b in bodies) == sorted(f"alert {i}" for i in range(50))
    assert len({(b["title"], b["body"]) for b in bodies}) == 50

    again = kstalerts("flush", "--config", str(config), "--json")
    assert again.returncode == 0
    assert json.loads(again.stdout) == {
        "ok": True,
        "spool": str(tmp_path / "spool"),
        "delivered": 0,
        "failed": 0,
        "throttled": 0,
        "suppressed": 0,
        "dead": 0,
        "skipped": 0,
        "unknown_channel": 0,
        "remaining": 0,
    }
    assert len(http_sink.bodies) == 50


def test_flush_without_a_spool_is_a_config_error(
    tmp_path: pathlib.Path, capsys: "pytest.CaptureFixture[str]", http_sink: StoppableHTTPSink
) -> None:
    config = write_config(tmp_path, http_sink.url(), spool=False)
    assert main(["flush", "--config", str(config)]) == 2
    assert capsys.readouterr().err == (
        "kstalerts: error: no spool configured: pass spool= or set alerts.spool.path\n"
    )


def test_flush_exit_codes_in_process(
    tmp_path: pathlib.Path, capsys: "pytest.CaptureFixture[str]", http_sink: StoppableHTTPSink
) -> None:
    config = write_config(tmp_path, http_sink.url())
    with AlertManager.from_config(str(config)) as manager:
        assert manager.spool is not None
        manager.spool.put(AlertMessage("for a removed channel"), "gone")
        manager.spool.put(AlertMessage("for hook"), "hook")
    assert main(["flush", "--config", str(config), "--json"]) == 1  # an entry with no channel
    report = json.loads(capsys.readouterr().out)
    assert (report["ok"], report["delivered"], report["unknown_channel"], report["remaining"]) == (
        False,
        1,
        1,
        1,
    )
    assert [b["title"] for b in http_sink.json_bodies()] == ["for hook"]
