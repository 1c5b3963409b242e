"""What ``kstalerts run`` remembers about a job between runs, and its lock.

One folder (``--state-dir``) holds, per job, a small JSON document
(``<key>.json``: failing since when, how many failures, when the last alert
went out, which alerts to resolve on recovery), a sidecar ``<key>.json.lock``
that serialises changes to it, and, with ``--lock``, ``<key>.lock``, which
the running job holds with ``flock`` for as long as it runs.

Rules: the folder is created ``0700``, files ``0600``; nothing is opened
through a symbolic link (``O_NOFOLLOW``), and only a regular file is read
(``O_NONBLOCK``, so a FIFO planted there never blocks us); a document is
bounded (:data:`MAX_JOB_STATE_BYTES`) and written to a fresh temporary file,
fsynced and renamed over the old one, so a crash leaves the old or the new
document, never half. Unlike the throttle's shared state, a job's state
survives a reboot: a backup that failed before the reboot and succeeds after
it has recovered. A state that cannot be read or written is reported
(:class:`JobStateError`) and the job still runs: the caller decides.
POSIX only (``fcntl``).
"""

import contextlib
import errno
import json
import os
import re
import stat
from typing import Any, Dict, Iterator, Optional, Tuple

from . import _files
from .limits import MAX_SEND_BUDGET

__all__ = ()

#: The largest job state document read; a larger one is treated as damaged.
MAX_JOB_STATE_BYTES = 262144
_VERSION = 1
_KEY_CHARS = re.compile(r"[^A-Za-z0-9._-]")


class JobStateError(OSError):
    """The state folder or a state file could not be used (the message says why)."""


def default_state_dir() -> str:
    """``/var/lib/kstalerts`` for root, else ``$XDG_STATE_HOME/kstalerts`` or ``~/.local/state/kstalerts``."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return "/var/lib/kstalerts"
    xdg = os.environ.get("XDG_STATE_HOME", "")
    if os.path.isabs(xdg):  # the spec: a relative value is invalid and ignored
        return os.path.join(xdg, "kstalerts")
    return os.path.join(os.path.expanduser("~"), ".local", "state", "kstalerts")


def job_key(name: str) -> str:
    """A file name for job ``name``: its safe characters, plus a hash when any were changed.

    >>> job_key("backup"), job_key("db dump/nightly")
    ('backup', 'db_dump_nightly-8eef187f')
    """
    cleaned = _KEY_CHARS.sub("_", name)[:64].lstrip(".") or "job"
    if cleaned == name:
        return cleaned
    import hashlib  # only for names that needed changing: 2 ms of start-up otherwise

    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{cleaned}-{digest}"


def ensure_dir(path: str) -> str:
    """Create ``path`` (mode 0700) if needed; it must be a directory, not a link to one."""
    path = os.path.abspath(os.path.expanduser(path))
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        info = os.lstat(path)
    except OSError as exc:
        raise JobStateError(f"state folder {path}: {exc.strerror or exc}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise JobStateError(f"state folder {path} is not a directory (a symbolic link is refused)")
    if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
        raise JobStateError(f"state folder {path} belongs to another user (uid {info.st_uid})")
    return path


def _open_regular(path: str, flags: int) -> int:
    """:func:`_files.open_regular` (no link followed, no FIFO waited on), its refusal as a JobStateError."""
    try:
        return _files.open_regular(path, flags)
    except _files.UnsafeFileError as exc:
        raise JobStateError(str(exc)) from None


class JobState:
    """The state document of one job; change it inside :meth:`transaction`.

    >>> import tempfile
    >>> state = JobState(tempfile.mkdtemp(), "backup")
    >>> with state.transaction() as data:
    ...     data["failures"] = 2
    >>> state.read()["failures"]
    2
    """

    def __init__(self, folder: str, name: str) -> None:
        self.folder = ensure_dir(folder)
        self.key = job_key(name)
        self.path = os.path.join(self.folder, self.key + ".json")
        self._lock_path = self.path + ".lock"

    def read(self) -> Dict[str, Any]:
        """The document, or an empty one when there is none yet.

        A damaged document (not JSON, too large, of another version) is
        reported as :class:`JobStateError`.
        """
        try:
            fd = _open_regular(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise JobStateError(f"state file {self.path}: {exc.strerror or exc}") from None
        try:
            raw = _files.read_fd(fd, MAX_JOB_STATE_BYTES + 1)
        except OSError as exc:
            raise JobStateError(f"state file {self.path}: {exc.strerror or exc}") from None
        finally:
            os.close(fd)
        if not raw:
            return {}
        if len(raw) > MAX_JOB_STATE_BYTES:
            raise JobStateError(f"state file {self.path} is larger than {MAX_JOB_STATE_BYTES} bytes")
        try:
            data = json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError):
            raise JobStateError(f"state file {self.path} is damaged (not JSON)") from None
        if not isinstance(data, dict) or data.get("version") != _VERSION:
            raise JobStateError(f"state file {self.path} is not a kstalerts job state (version {_VERSION})")
        return data

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Dict[str, Any]]:
        """Hold the state's lock; yield the document; save it if the block changed it.

        A damaged document is replaced (the caller was told by :meth:`read`
        raising once; here it starts again from an empty one). The lock is
        waited for in polls (a signal can stop the wait), at most as long as
        the holder's alerts may take to send.
        """
        try:
            fd = _open_regular(self._lock_path, os.O_RDWR | os.O_CREAT)
        except OSError as exc:
            raise JobStateError(f"state lock {self._lock_path}: {exc.strerror or exc}") from None
        try:
            _files.lock_within(fd, MAX_SEND_BUDGET, self._lock_path)
            try:
                data = self.read()
            except JobStateError:
                data = {}
            before = json.dumps(data, sort_keys=True)
            yield data
            if json.dumps(data, sort_keys=True) != before:
                data["version"] = _VERSION
                self._write(data)
        finally:
            os.close(fd)

    def _write(self, data: Dict[str, Any]) -> None:
        payload = json.dumps(data, sort_keys=True, separators=(",", ":")).encode("utf-8")
        if len(payload) > MAX_JOB_STATE_BYTES:
            raise JobStateError(f"state of {self.key} would exceed {MAX_JOB_STATE_BYTES} bytes; not saved")
        tmp = os.path.join(self.folder, f".{self.key}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
        try:
            _files.replace_atomically(self.path, tmp, payload)
        except OSError as exc:
            raise JobStateError(f"could not save state file {self.path}: {exc.strerror or exc}") from None


class JobLock:
    """The ``--lock`` of one job: an exclusive ``flock`` held while it runs.

    The holder writes its pid and start time into the file, so that a run
    that finds it taken can say who holds it and since when.
    """

    def __init__(self, folder: str, name: str) -> None:
        self.path = os.path.join(folder, job_key(name) + ".lock")  # a JobState's folder, already checked
        self._fd: Optional[int] = None

    def acquire(self) -> bool:
        """Take the lock at once; ``False`` when another run holds it (callers poll to wait)."""
        import fcntl

        try:
            fd = _open_regular(self.path, os.O_RDWR | os.O_CREAT)
        except OSError as exc:
            raise JobStateError(f"lock file {self.path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            raise JobStateError(f"lock file {self.path}: {exc.strerror or exc}") from None
        self._fd = fd
        return True

    def note_holder(self, pid: int, started: float) -> None:
        """Record who holds the lock (best effort)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, json.dumps({"pid": pid, "started": started}).encode("ascii"), 0)

    def holder(self) -> Tuple[Optional[int], Optional[float]]:
        """The pid and start time the holder recorded, if readable."""
        try:
            fd = _open_regular(self.path, os.O_RDONLY)
        except OSError:
            return None, None
        try:
            data = json.loads(os.read(fd, 256).decode("ascii"))
            return int(data["pid"]), float(data["started"])
        except (OSError, ValueError, KeyError, TypeError):
            return None, None
        finally:
            os.close(fd)

    def release(self) -> None:
        """Let the lock go (closing the file drops the ``flock``)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
