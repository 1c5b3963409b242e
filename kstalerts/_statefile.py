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
Files are opened as :mod:`kstalerts._files` says: regular files only, no
link followed, never blocking on a FIFO; the folder (created ``0700``) may
not be writable by group or others unless it is sticky (``/var/tmp``), and a
state file that another user owns or that group or others may write is not
trusted, since a forged record could silence an alert. The temporary file
has a random name and is created new (``O_EXCL``). Only failing to use the
files (a lock that cannot be taken, an untrusted file: ``OSError``) raises,
before the caller's block runs, so callers can fall back to in-process state
without running their block twice. A failed write is logged and otherwise
ignored.

Waits are bounded: the lock is taken with non-blocking attempts, polled
until ``wait`` seconds (``STATE_LOCK_WAIT`` by default) have passed, then
:class:`StateLockTimeoutError` (an ``OSError``) is raised, so a process stuck
holding the lock delays the others by at most that long. No thread lock is
held while polling: each transaction has its own open file description,
which ``flock`` excludes like another process. Callers must not hold a lock
of their own while calling :meth:`StateFile.transaction` either.

POSIX only (``fcntl``), and only on a local file system: ``flock`` over NFS
is not dependable.
"""

import contextlib
import errno
import json
import os
import threading
from typing import Any, Dict, Iterator, Optional, Union

from . import _files, _lifecycle
from ._log import logger
from .exceptions import AlertConfigurationError
from .limits import MAX_STATE_BYTES, STATE_LOCK_WAIT

__all__ = ()

_log = logger("kstalerts.state")

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


StateLockTimeoutError = _files.LockTimeoutError  # the lock stayed taken for the whole wait


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

    def __init__(self, path: Union[str, "os.PathLike[str]"], *, fsync: bool = True) -> None:
        _require_fcntl()
        self.path = os.path.abspath(os.fspath(path))
        self._lock_path = self.path + ".lock"
        self._fsync = fsync

    @contextlib.contextmanager
    def transaction(self, wait: float = STATE_LOCK_WAIT) -> Iterator[Dict[str, Any]]:
        """Hold the lock; yield the document; save it if the block changed it.

        Raises ``OSError`` (before the block runs) when the lock file cannot
        be opened, or :class:`StateLockTimeoutError` when the lock is still taken
        after ``wait`` seconds, and ``BlockingIOError`` at once when this thread
        is already inside a transaction on it (a signal handler interrupted
        one: its flock could only wait for the holder, which is this thread).
        If the block raises, nothing is written.
        """
        held = _holding.__dict__.setdefault("paths", set())
        if self._lock_path in held:
            raise BlockingIOError(errno.EWOULDBLOCK, "already locked by this thread")
        _files.private_dir(os.path.dirname(self.path), what="the state file's folder", allow_sticky=True)
        fd = _files.open_regular(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        _lifecycle.hold(fd)  # a forked child closes its copy (see _lifecycle)
        try:
            _files.lock_within(fd, wait, self._lock_path)
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
            fd = _files.open_regular(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return _fresh()
        try:
            _files.trusted_file(fd, self.path, what="the state file")  # raises: the caller falls back
            raw = _files.read_fd(fd, MAX_STATE_BYTES + 1)
        except _files.UnsafeFileError:
            raise
        except OSError as exc:
            _log.warning("state file %s is unreadable (%s); starting from an empty state", self.path, exc)
            return _fresh()
        finally:
            os.close(fd)
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
        tmp = f"{self.path}.tmp-{os.urandom(8).hex()}"  # not guessable, created new (uuid costs 18 ms on 3.6)
        try:
            _files.replace_atomically(self.path, tmp, payload, fsync=self._fsync)
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
