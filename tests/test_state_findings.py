"""Issue 24's findings 2, 3, 5, 6, 7, 9 and 10, each rerun as its own test.

Real ``kstalerts run`` processes, a real loopback Slack-compatible sink,
another uid (the tests run as root: a forked child drops to ``nobody``), a
real 128 KiB tmpfs for the full disk (root can mount one here; without root
the full-disk tests use ``RLIMIT_FSIZE``). Each docstring gives the
finding's numbers then; the asserts are the numbers now.
"""

import json
import logging
import os
import pathlib
import resource
import signal
import stat
import subprocess
import sys
import time
from typing import Any, Dict, Iterator, List, NamedTuple, Optional

import pytest

from kstalerts import AlertLevel, AlertManager, AlertMessage
from kstalerts._loopback import HTTPSink
from kstalerts.channels import CallbackChannel
from kstalerts.dedup import Deduplicator
from tests.servers._require import unavailable
from tests.state_fixtures import memory_dir  # noqa: F401 (a fixture)

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOBODY = 65534


class Run(NamedTuple):
    code: int
    out: str
    err: str
    seconds: float


def env(**more: str) -> Dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT), **more)


def kstalerts(*args: str, timeout: float = 60, extra_env: Optional[Dict[str, str]] = None) -> Run:
    """``python -m kstalerts ARGS`` in a subprocess."""
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "kstalerts", *args],
        cwd=str(ROOT),
        env=env(**(extra_env or {})),
        timeout=timeout,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    return Run(proc.returncode, proc.stdout.decode(), proc.stderr.decode(), time.monotonic() - start)


def slack_config(folder: pathlib.Path, url: str, *, extra: str = "") -> pathlib.Path:
    path = folder / "kstlib.conf.yml"
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


def titles(sink: HTTPSink) -> List[str]:
    return [post.payload["attachments"][0]["title"] for post in list(sink.posts)]


def as_nobody(function: Any) -> int:
    """Run ``function()`` in a forked child with uid/gid ``nobody``; its exit status."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            function()
            code = 0
        finally:
            os._exit(code)
    return os.waitpid(pid, 0)[1] >> 8


@pytest.fixture
def tiny_disk(tmp_path: pathlib.Path) -> Iterator[pathlib.Path]:
    """A 128 KiB tmpfs (as root), unmounted afterwards."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.call(["mount", "-t", "tmpfs", "-o", "size=128k,mode=0700", "tmpfs", str(mount)]):
        unavailable("a 128 KiB tmpfs (needs root and mount)")
    try:
        yield mount
    finally:
        subprocess.call(["umount", "-l", str(mount)])


def fill(folder: pathlib.Path) -> None:
    """Fill the file system of ``folder`` to the last byte."""
    with open(str(folder / "ballast"), "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
                handle.flush()
        except OSError:
            pass
        try:  # what is left below a block
            while True:
                handle.write(b"\0")
                handle.flush()
        except OSError:
            pass


# -- finding 3: the dedup file is bounded, never wiped -----------------------------------
@pytest.mark.slow
def test_finding_3_dedup_file_with_long_titles_is_not_wiped_and_suppresses_resends(
    memory_dir: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Then: 1,200 alerts with ~910-character titles, then 12 re-sends in the window ->
    "starting from an empty state", 12 of 12 delivered again. Now: 0 of 12; no reset."""
    seen: List[str] = []
    dedup = Deduplicator(3600.0, state_file=memory_dir / "dedup.json")
    long = "x" * 900
    with caplog.at_level(logging.WARNING, logger="kstalerts"):
        with AlertManager(dedup=dedup) as manager:
            manager.add_channel(CallbackChannel(lambda a: seen.append(a.title), name="ops"))
            for number in range(1200):
                manager.send(AlertMessage(f"{number:04d} {long}", level=AlertLevel.WARNING))
            assert len(seen) == 1200
            for number in range(1188, 1200):
                manager.send(AlertMessage(f"{number:04d} {long}", level=AlertLevel.WARNING))
    assert len(seen) == 1200  # 0 of 12 delivered again
    assert "empty state" not in caplog.text
    assert (memory_dir / "dedup.json").stat().st_size < 200_000  # 1,200 keys, hashed


def test_finding_3_twenty_thousand_long_titles_then_the_last_100_again_deliver_nothing() -> None:
    """20,000 distinct long-title alerts (twice the key bound), then the last 100 again:
    0 delivered again within the window; the oldest were forgotten first."""
    seen: List[str] = []
    long = "y" * 900
    with AlertManager(dedup=Deduplicator(3600.0)) as manager:
        manager.add_channel(CallbackChannel(lambda a: seen.append(a.title[:5]), name="ops"))
        for number in range(20000):
            manager.send(AlertMessage(f"{number:05d}{long}", level=AlertLevel.WARNING))
        for number in range(19900, 20000):
            manager.send(AlertMessage(f"{number:05d}{long}", level=AlertLevel.WARNING))
        assert len(seen) == 20000
        manager.send(AlertMessage(f"{0:05d}{long}", level=AlertLevel.WARNING))  # forgotten: the oldest
    assert len(seen) == 20001


def test_finding_3_the_shared_file_is_bounded_by_bytes_trimming_the_oldest(
    memory_dir: pathlib.Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import kstalerts.dedup as dedup_module

    monkeypatch.setattr(dedup_module, "DEDUP_STATE_BYTES", 20_000)  # a small budget: 2,000 sends suffice
    path = memory_dir / "dedup.json"
    dedup = Deduplicator(3600.0, state_file=path)
    seen: List[str] = []
    with caplog.at_level(logging.WARNING, logger="kstalerts"):
        with AlertManager(dedup=dedup) as manager:
            manager.add_channel(CallbackChannel(lambda a: seen.append(a.title), name="ops"))
            sizes = []
            for number in range(1000):
                manager.send(AlertMessage(f"{number:04d} {'z' * 500}", level=AlertLevel.WARNING))
                sizes.append(path.stat().st_size)
            for number in range(900, 1000):  # the newest are kept
                manager.send(AlertMessage(f"{number:04d} {'z' * 500}", level=AlertLevel.WARNING))
            assert len(seen) == 1000
            manager.send(AlertMessage(f"{0:04d} {'z' * 500}", level=AlertLevel.WARNING))  # the oldest went
            assert len(seen) == 1001
    assert max(sizes) <= 20_000 + 200  # the bound, plus the file's own fields
    assert min(sizes[500:]) > 10_000  # trimmed, never wiped
    assert "empty state" not in caplog.text
