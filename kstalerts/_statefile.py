"""A small JSON document that several processes on one host share safely.

The shared throttle and duplicate suppression keep their state here. Each
use is one transaction: take an exclusive ``fcntl.flock`` on a sidecar
``<path>.lock`` file, read the document, let the caller change it, and, if it
changed, write it back to a temporary file in the same folder, fsync it and
rename it over the old one. A crash at any point leaves the old document or
the new one, never half of either; the kernel drops the lock of a process
that dies.

Rules: a document that is unreadable, not JSON, of another version, larger
than ``MAX_STATE_BYTES`` or written before the last reboot is replaced by an
empty one, with a warning (the reboot case only logs at info level: the
stamps in it, taken on ``time.monotonic``, mean nothing after a reboot).
Only failing to take the lock raises (``OSError``), before the caller's
block runs, so callers can fall back to in-process state without running
their block twice. A failed write is logged and otherwise ignored.

POSIX only (``fcntl``), and only on a local file system: ``flock`` over NFS
is not dependable.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import threading
from typing import Any, Dict, Iterator, Optional, Union

from . import _lifecycle
from .exceptions import AlertConfigurationError
from .limits import MAX_STATE_BYTES

__all__ = ("StateFile", "boot_id")

_log = logging.getLogger("kstalerts.state")

_VERSION = 1
_BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"
_boot_id: Optional[str] = None
_boot_id_read = False
_holding = threading.local()  # .paths: the lock files this thread holds an flock on


def boot_id() -> Optional[str]:
    """This boot's identifier on Linux, else ``None`` (read once)."""
    global _boot_id, _boot_id_read
    if not _boot_id_read:
        try:
            with open(_BOOT_ID_PATH, encoding="ascii") as handle:
                _boot_id = handle.read(64).strip() or None
        except OSError:
            _boot_id = None
        _boot_id_read = True
    return _boot_id


class StateFile:
    """One shared JSON document at ``path``; use :meth:`transaction`.

    >>> import tempfile, os
    >>> state = StateFile(os.path.join(tempfile.mkdtemp(), "state.json"))
    >>> with state.transaction() as data:
    ...     data["hits"] = data.get("hits", 0) + 1
    >>> with state.transaction() as data:
    ...     data["hits"]
    1
    """

    def __init__(self, path: Union[str, os.PathLike[str]], *, fsync: bool = True) -> None:
        _require_fcntl()
        self.path = os.path.abspath(os.fspath(path))
        self._lock_path = self.path + ".lock"
        self._tmp_path = self.path + ".tmp"
        self._fsync = fsync
        # flock excludes open file descriptions, not threads: threads of one
        # process queue on this lock first. An RLock, so that a signal
        # handler interrupting the holder reaches the re-entry check below.
        self._thread_lock = threading.RLock()
        _lifecycle.on_fork(self, StateFile._after_fork)

    def _after_fork(self) -> None:
        self._thread_lock = threading.RLock()  # another thread may have held it at fork

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Dict[str, Any]]:
        """Hold the lock; yield the document; save it if the block changed it.

        Raises ``OSError`` (before the block runs) when the lock file cannot
        be opened or locked, and when this thread is already inside a
        transaction on it (a signal handler interrupted one: a second flock
        would wait for ever). If the block raises, nothing is written.
        """
        import fcntl

        with self._thread_lock:
            held = _holding.__dict__.setdefault("paths", set())
            if self._lock_path in held:
                raise BlockingIOError(errno.EWOULDBLOCK, "already locked by this thread")
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
            _lifecycle.hold(fd)  # a forked child closes its copy (see _lifecycle)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                held.add(self._lock_path)
                try:
                    data = self._read()
                    before = _canonical(data)
                    yield data
                    if _canonical(data) != before:
                        self._write(data)
                finally:
                    held.discard(self._lock_path)
            finally:
                _lifecycle.let_go(fd)
                os.close(fd)  # releases the flock

    def _read(self) -> Dict[str, Any]:
        try:
            with open(self.path, "rb") as handle:
                raw = handle.read(MAX_STATE_BYTES + 1)
        except FileNotFoundError:
            return _fresh()
        except OSError as exc:
            _log.warning("state file %s is unreadable (%s); starting from an empty state", self.path, exc)
            return _fresh()
        if len(raw) > MAX_STATE_BYTES:
            _log.warning(
                "state file %s is larger than %d bytes; starting from an empty state",
                self.path,
                MAX_STATE_BYTES,
            )
            return _fresh()
        if not raw:
            # A file cut to nothing (a crash of the machine before the data
            # reached the disk) is the one form of damage worth no warning.
            return _fresh()
        try:
            data = json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
            _log.warning("state file %s is corrupt (not JSON); starting from an empty state", self.path)
            return _fresh()
        if not isinstance(data, dict) or data.get("version") != _VERSION:
            _log.warning(
                "state file %s is not a kstalerts state (version %r expected); starting from an empty state",
                self.path,
                _VERSION,
            )
            return _fresh()
        if data.get("boot_id") != boot_id():
            _log.info("state file %s was written before a reboot; starting from an empty state", self.path)
            return _fresh()
        return data

    def _write(self, data: Dict[str, Any]) -> None:
        payload = json.dumps(data, separators=(",", ":"), sort_keys=True).encode("utf-8")
        try:
            fd = os.open(
                self._tmp_path,
                os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0),
                0o600,
            )
            try:
                view = memoryview(payload)
                while view:
                    view = view[os.write(fd, view) :]
                if self._fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(self._tmp_path, self.path)
        except OSError as exc:
            _log.warning("could not save state file %s (%s); this change is not shared", self.path, exc)


def _require_fcntl() -> None:
    try:
        import fcntl  # noqa: F401
    except ImportError:
        raise AlertConfigurationError(
            "shared state files need fcntl (a POSIX system); leave state_file unset here"
        ) from None


def _fresh() -> Dict[str, Any]:
    return {"version": _VERSION, "boot_id": boot_id()}


def _canonical(data: Dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))
