"""Fixtures the state store's tests share."""

import os
import pathlib
import shutil
import subprocess
import tempfile
from typing import Iterator

import pytest

from tests.servers._require import unavailable


@pytest.fixture
def memory_dir() -> Iterator[pathlib.Path]:
    """A private folder on tmpfs where there is one: a test of crashes or bounds
    needs no durable disk, and fsync there costs nothing (4x faster here)."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    folder = tempfile.mkdtemp(prefix="kstalerts-state-", dir=base)
    yield pathlib.Path(folder)
    shutil.rmtree(folder, ignore_errors=True)


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
    fd = os.open(str(folder / "ballast"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
