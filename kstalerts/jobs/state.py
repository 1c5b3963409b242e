"""What ``kstalerts run`` remembers about a job between runs, and its lock.

One folder (``--state-dir``) holds, per job, a small JSON document
(``<key>.json``: failing since when, how many failures, when the last alert
went out, which alerts to resolve on recovery), a sidecar ``<key>.json.lock``
that serialises changes to it, and, with ``--lock``, ``<key>@run.lock``,
which the running job holds with ``flock`` for as long as it runs. A key
never holds ``@``, so no job's name can reach another job's files.

Rules: everything goes through the state store
(:mod:`kstalerts.state.store`): the folder is private (``0700``, created so
with its parents; one that others may write or another user owns is
refused, as is a link to one), files are regular, ``0600``, never followed
through a link, and not trusted when another user owns them or others may
write them; a document is bounded (:data:`MAX_JOB_STATE_BYTES`) and written
to a fresh temporary file, fsynced and renamed over the old one. The state
lock is waited for at most :data:`STATE_LOCK_WAIT` seconds, and a ``stop``
callable (a signal arrived) ends the wait at once: the caller alerts
without the state and says why (:class:`JobStateBusyError`). Unlike the
throttle's shared state, a job's state survives a reboot. A state that
cannot be read or written is reported (:class:`JobStateError`) and the job
still runs: the caller decides. POSIX only (``fcntl``).
"""

import contextlib
import errno
import json
import os
import re

from .._typing import Any, Callable, Dict, Iterator, List, Optional, Tuple
from ..limits import finite_number
from ..state import store
from ..state.files import default_state_dir as default_state_dir  # kstalerts run's and the lifecycle's folder

__all__ = ()

#: The largest job state document read; a larger one is treated as damaged.
MAX_JOB_STATE_BYTES = 262144
#: Seconds ``kstalerts run`` waits for a job's state lock before alerting without the state.
STATE_LOCK_WAIT = 3.0
_VERSION = 1
_KEY_CHARS = re.compile(r"[^A-Za-z0-9._-]")


class JobStateError(OSError):
    """The state folder or a state file could not be used (the message says why)."""


class JobStateBusyError(JobStateError):
    """The state lock was not had in time, or a signal ended the wait."""


def count(value: Any) -> int:
    """A counter read from a job state (failures, skips): a whole number from 0 to 10**9,
    through the one finite-number rule; anything else (damage, a forged field) is 0."""
    number = finite_number(value)
    return int(min(max(number, 0.0), 1e9)) if number is not None else 0


def items(value: Any) -> List[Any]:
    """A list read from a job state; anything else is empty."""
    return value if isinstance(value, list) else []


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
    """The state folder ``path``, made private (the store's one folder rule; no link)."""
    try:
        return store.private_folder(path, what="state folder", links=False)
    except OSError as exc:
        raise JobStateError(str(exc) if isinstance(exc, store.UnsafeFileError) else _say(path, exc)) from None


def _say(path: str, exc: OSError) -> str:
    return f"{path}: {exc.strerror or exc}"


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
        self._doc = store.Document(
            self.path,
            what="state file",
            max_bytes=MAX_JOB_STATE_BYTES,
            version=_VERSION,
            allow_sticky=False,
        )

    def read(self) -> Dict[str, Any]:
        """The document, or an empty one when there is none yet.

        A damaged document (not JSON, too large, of another version) or one
        that cannot be trusted is reported as :class:`JobStateError`.
        """
        try:
            data = self._doc.read()
        except OSError as exc:
            raise JobStateError(
                str(exc) if isinstance(exc, store.UnsafeFileError) else _say(self.path, exc)
            ) from None
        if self._doc.damage is not None:
            raise JobStateError(f"{self._doc.damage} (damaged)")
        data.pop("version", None)
        return data

    @contextlib.contextmanager
    def transaction(
        self, wait: float = STATE_LOCK_WAIT, *, stop: Optional[Callable[[], bool]] = None
    ) -> Iterator[Dict[str, Any]]:
        """Hold the state's lock; yield the document; save it if the block changed it.

        Raises before the block runs: :class:`JobStateBusyError` when the lock is
        still taken after ``wait`` seconds or ``stop()`` turned true, and
        :class:`JobStateError` when the files cannot be used. A damaged
        document is replaced (:meth:`read` said so; here it starts again
        from an empty one). A save that fails raises :class:`JobStateError`
        after the block; when the new state is empty (a recovery), the old
        file is removed instead, which needs no room on the disk, so a full
        disk does not make every later success a recovery again.
        """
        doc = self._doc
        entered = False
        try:
            with doc.transaction(wait, stop=stop) as data:
                entered = True
                data.pop("version", None)
                yield data
                data["version"] = _VERSION
        except store.LockTimeoutError:
            if entered:
                raise
            raise JobStateBusyError(
                f"state of {self.key} busy: its lock was held by another run for {wait:g} s"
            ) from None
        except store.LockInterruptedError:
            if entered:
                raise
            raise JobStateBusyError(
                f"state of {self.key} not read: a signal came while waiting for its lock"
            ) from None
        except OSError as exc:
            if entered:
                raise
            what = str(exc) if isinstance(exc, store.UnsafeFileError) else _say(self._lock_path, exc)
            raise JobStateError(what) from None
        failed = doc.save_error
        if failed is None:
            return
        empty = not (set(data) - {"version"})
        if empty and failed.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
                store.fsync_folder(self.folder)
            raise JobStateError(
                f"could not save state file {self.path} ({failed.strerror}); removed it instead"
            )
        raise JobStateError(f"could not save state file {self.path}: {failed.strerror or failed}")


class JobLock:
    """The ``--lock`` of one job: an exclusive ``flock`` held while it runs.

    The holder writes its pid and start time into the file, so that a run
    that finds it taken can say who holds it and since when.
    """

    def __init__(self, folder: str, name: str) -> None:
        self.path = os.path.join(folder, job_key(name) + "@run.lock")  # a JobState's folder, already checked
        self._fd: Optional[int] = None

    def acquire(self) -> bool:
        """Take the lock at once; ``False`` when another run holds it (callers poll to wait)."""
        import fcntl

        try:
            fd = store.open_file(self.path, os.O_RDWR | os.O_CREAT)
        except store.UnsafeFileError as exc:
            raise JobStateError(str(exc)) from None
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
            fd = store.open_file(self.path)
        except OSError:
            return None, None
        try:
            data = json.loads(os.read(fd, 256).decode("ascii"))
            return int(data["pid"]), float(data["started"])
        except (OSError, ValueError, KeyError, TypeError):
            return None, None
        finally:
            os.close(fd)

    @property
    def fd(self) -> Optional[int]:
        """The locked descriptor while held: a job that inherits it holds the lock as long as it runs."""
        return self._fd

    def release(self) -> None:
        """Let the lock go (closing the file drops the ``flock``)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
