"""The state store under crashes and contention (issue 24, findings 1 and 4).

Real processes, real SIGKILLs, a real Slack-compatible sink on loopback, a
real spool and dedup state file. Each test names the finding it reruns; the
issue's numbers then are in its docstring.
"""

import collections
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import time
from typing import Any, Counter, Dict, List

import pytest

from kstalerts import AlertLevel, AlertMessage
from kstalerts.dedup import Deduplicator
from kstalerts.spool import Spool
from tests import budget, state_fixtures
from tests.servers.slack import SlackServer
from tests.test_run import slack_config

ROOT = pathlib.Path(__file__).resolve().parent.parent
memory_dir = state_fixtures.memory_dir  # the fixture
TAG = re.compile(r"chaos-\d{4}")


def start(command: str, args: Dict[str, Any]) -> "subprocess.Popen[str]":
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen(
        [sys.executable, "-m", "tests.state_children", command, json.dumps(args)],
        cwd=str(ROOT),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        start_new_session=True,
    )


def finish(child: "subprocess.Popen[str]", timeout: float = 120.0) -> Any:
    try:
        out, err = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        out, err = child.communicate()
        raise AssertionError(f"child did not end within {timeout}s: {out} {err}") from None
    lines = [line for line in out.splitlines() if line.strip() and line.strip() != "ready"]
    assert child.returncode == 0 and lines, (child.returncode, out, err)
    return json.loads(lines[-1])


def config(tmp_path: pathlib.Path, url: str) -> pathlib.Path:
    """A Slack channel to ``url``, a spool and a shared dedup state file, all in ``tmp_path``."""
    shared = (
        f"  spool:\n    path: {tmp_path / 'spool'}\n"
        f"  dedup:\n    window: 3600\n    state_file: {tmp_path / 'state' / 'dedup.json'}\n"
    )
    return slack_config(tmp_path, url, extra=shared)


def spool_alerts(tmp_path: pathlib.Path, count: int) -> Spool:
    spool = Spool(tmp_path / "spool")
    for number in range(count):
        assert spool.put(AlertMessage(f"chaos-{number:04d}", level=AlertLevel.WARNING), "ops")
    return spool


def tags(server: SlackServer) -> Counter[str]:
    return collections.Counter(
        tag for request in list(server.requests) for tag in set(TAG.findall(request.body.decode("utf-8")))
    )


def claims(tmp_path: pathlib.Path) -> List[str]:
    data = json.loads((tmp_path / "state" / "dedup.json").read_text())
    return [token for keys in data["dedup"].values() for _, token in keys.values() if token]


# -- finding 1 ------------------------------------------------------------------------
def test_finding_1_a_crashed_flush_leaves_no_claim_that_suppresses_the_next_flush(
    tmp_path: pathlib.Path, slack_server: SlackServer
) -> None:
    """Then: the next flush said "0 delivered, 1 suppressed as duplicates; 0 left" and the
    sink got nothing. Now: the dead flush's claim is released; the next flush delivers it."""
    path = config(tmp_path, slack_server.url())
    spool_alerts(tmp_path, 1)
    slack_server.queue("delay=60")  # the first flush is inside the delivery when it is killed
    child = start("flush_once", {"config": str(path)})
    try:
        deadline = time.monotonic() + 30
        while not slack_server.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        assert slack_server.requests, "the first flush never reached the sink"
        assert len(claims(tmp_path)) == 1  # its claim is in the shared file
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.communicate()
    report = finish(start("flush_once", {"config": str(path)}))
    assert report["delivered"] == 1, report
    assert report["report"].endswith("1 delivered; 0 left"), report
    assert tags(slack_server)["chaos-0000"] == 2  # the killed one's request, then the delivery


def test_finding_1_an_entry_whose_claim_is_live_is_skipped_and_kept(
    tmp_path: pathlib.Path, slack_server: SlackServer
) -> None:
    path = config(tmp_path, slack_server.url())
    spool_alerts(tmp_path, 1)
    live = Deduplicator(3600.0, state_file=tmp_path / "state" / "dedup.json")
    claim = live.claim("ops", "WARNING:chaos-0000")  # this process is delivering it right now
    assert claim.granted
    held = finish(start("flush_once", {"config": str(path)}))
    assert held["delivered"] == 0
    assert "1 throttled; 1 left" in held["report"], held  # kept, not suppressed
    assert not slack_server.requests
    live.done("ops", "WARNING:chaos-0000", claim, delivered=False)  # that delivery failed
    after = finish(start("flush_once", {"config": str(path)}))
    assert after["delivered"] == 1 and tags(slack_server)["chaos-0000"] == 1


# The run (the test's name): 1,000 SIGKILLs over 1,500 entries, about 35 s, with
# KSTALERTS_FULL_TESTS=1 (tests/budget.py); by default 200 over 400, the same chaos for less.
CHAOS_ENTRIES = budget.scale(400, 1500)
CHAOS_KILLS = budget.scale(200, 1000)


@pytest.mark.slow(seconds=10)
def test_finding_1_chaos_8_flushers_1500_entries_1000_sigkills_lose_nothing(
    memory_dir: pathlib.Path, slack_server: SlackServer
) -> None:
    """Then: 995 SIGKILLs among 8 flushers over 1,500 entries with dedup lost 32 alerts.
    Now: 0 lost; doubles (at least once) are counted, not bounded."""
    path = config(memory_dir, slack_server.url())
    spool_alerts(memory_dir, CHAOS_ENTRIES)
    args = {"config": str(path), "spool": str(memory_dir / "spool"), "flushers": 8, "kills": CHAOS_KILLS}
    result = finish(start("flush_farm", args), timeout=600)
    seen = tags(slack_server)
    lost = [f"chaos-{n:04d}" for n in range(CHAOS_ENTRIES) if not seen[f"chaos-{n:04d}"]]
    doubles = sum(count - 1 for count in seen.values())
    print(f"chaos: {result}, {len(lost)} lost, {doubles} doubled")
    assert result["remaining"] == 0, result
    assert lost == [], (len(lost), lost[:10], result)
    assert result["kills"] >= CHAOS_KILLS * 3 // 10, result  # the kills landed while the spool was being flushed
    assert not list((memory_dir / "state").glob("dedup.json.tmp-*"))  # dead writers' temp files cleaned


# -- finding 4 ------------------------------------------------------------------------
@pytest.mark.slow(seconds=4)
def test_finding_4_fifty_processes_taking_at_once_never_pass_the_burst(tmp_path: pathlib.Path) -> None:
    """Then: 50 processes x 5 try_acquire at once on burst 10 admitted 49, 13, 23, 30, 35
    (a process that missed the lock in 0.5 s used a fresh full bucket of its own).
    Now: at most 10 in each trial (one that misses the lock is held): 3 trials, or the
    issue's 5 with KSTALERTS_FULL_TESTS=1 (tests/budget.py); every one of them was over then."""
    trials = budget.scale(3, 5)
    args = {"folder": str(tmp_path), "trials": trials, "processes": 50, "tries": 5}
    result = finish(start("contend_farm", args), timeout=300)
    print(f"admitted per trial: {result['admitted']}")
    assert len(result["admitted"]) == trials
    assert all(1 <= total <= 10 for total in result["admitted"]), result


@pytest.mark.slow(seconds=3)
def test_finding_4_shared_throttle_paced_over_time_stays_within_burst_plus_rate(
    tmp_path: pathlib.Path,
) -> None:
    """Four processes taking every 20 ms for 3 s on rate 5 per 1 s, burst 5: over
    every interval [a, b] between two admissions, at most burst + rate*(b-a)/per."""
    go = tmp_path / "go"
    args = {
        "state_file": str(tmp_path / "t.json"),
        "go": str(go),
        "rate": 5,
        "per": 1.0,
        "burst": 5,
        "every": 0.02,
        "seconds": 3.0,
    }
    children = [start("paced", args) for _ in range(4)]
    for child in children:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    go.write_text("")
    times = sorted(t for child in children for t in finish(child)["admitted"])
    assert len(times) >= 5 + 5  # the burst, then the refill: it did pace, not refuse everything
    for i, first in enumerate(times):
        for j in range(i, len(times)):
            bound = 5 + 5 * (times[j] - first) / 1.0
            # + 1: each time is read just after its take, so one take may land in a later interval
            assert j - i + 1 <= bound + 1, (j - i + 1, bound, times)
