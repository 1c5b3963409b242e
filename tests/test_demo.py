"""`kstalerts demo`: real channels against the loopback sinks, fast and self-contained."""

import io
import subprocess
import sys
import threading
import time
from pathlib import Path

from kstalerts.demo import STORM, run_demo

ROOT = Path(__file__).resolve().parent.parent


def _threads_settle(before: int, timeout: float = 5.0) -> int:
    deadline = time.monotonic() + timeout
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.02)
    return threading.active_count()


def test_demo_shows_filter_throttle_and_stats() -> None:
    before = threading.active_count()
    out = io.StringIO()
    assert run_demo(out) == 0
    text = out.getvalue()
    lines = text.splitlines()
    rows = [line.split() for line in lines if line.startswith(("  INFO", "  WARNING", "  CRITICAL"))]
    assert len(rows) == len(STORM) == 7
    outcomes = [(row[0], row[-3], row[-1]) for row in rows]
    assert outcomes == [
        ("INFO", "filtered", "filtered"),
        ("WARNING", "delivered", "filtered"),
        ("WARNING", "delivered", "filtered"),
        ("CRITICAL", "delivered", "delivered"),
        ("WARNING", "throttled", "filtered"),
        ("CRITICAL", "delivered", "delivered"),  # CRITICALs have their own bucket
        ("INFO", "filtered", "filtered"),
    ]
    assert "the Slack sink received 4 post(s):" in lines
    assert "the SMTP sink received 2 message(s):" in lines
    assert "held back: 7 by the level filter, 1 by the throttle" in lines
    assert "stats: sent 6, failed 0, throttled 1" in lines
    # the last CRITICAL carried the digest of the WARNING held back
    assert "  slack: sent 4, failed 0, throttled 1, suppressed 0, digests 1" in lines
    assert "  email: sent 2, failed 0, throttled 0, suppressed 0, digests 0" in lines
    assert any("Database primary unreachable" in line and line.startswith("  to ") for line in lines)
    assert lines[-1].startswith("demo OK in ")
    assert _threads_settle(before) == before


def test_python_m_kstalerts_demo_is_fast_and_exits_0() -> None:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "kstalerts", "demo"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=30,
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    assert "demo OK" in proc.stdout
    assert proc.stderr == ""
    assert elapsed < 5.0


def test_outcome_and_slack_text_helpers() -> None:
    from kstalerts import AlertResult
    from kstalerts.demo import _outcome, _slack_text

    assert _outcome(None) == "filtered"
    assert _outcome(AlertResult("a", False, error="x")) == "FAILED"
    assert _slack_text({"text": "first\nsecond"}) == "first"
    assert _slack_text({"attachments": [{"title": "from the attachment"}]}) == "from the attachment"
    assert _slack_text(["not", "a", "mapping"]) == "['not', 'a', 'mapping']"


def test_demo_next_line_works_where_the_user_is(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PATH", str(tmp_path))  # no kstalerts script: a checkout
    out = io.StringIO()
    assert run_demo(out) == 0
    assert "Next: 'python3 -m kstalerts send --help'" in out.getvalue()
    script = tmp_path / "kstalerts"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    out = io.StringIO()
    assert run_demo(out) == 0
    assert "Next: 'kstalerts send --help'" in out.getvalue()
