"""A small JSON document that several processes on one host share safely.

The shared throttle, duplicate suppression and digests keep their state
here. This is the state store's :class:`kstalerts.state.store.Document`
(one locked transaction: sidecar ``<path>.lock`` flock, read, change, write
to a temporary file, fsync, rename, fsync the folder) with the rules these
three share:

- the document is per boot (its stamps are on ``time.monotonic``): one
  written before the last reboot reads as empty, logged at info level;
- one that is damaged (not JSON, of another version, larger than
  ``MAX_STATE_BYTES``) reads as empty, with a warning; callers bound what
  they keep so that they never write one that large;
- only failing to use the files raises, before the caller's block runs
  (``OSError``: an unsafe folder or file, a file another user owns, a lock
  still taken after ``wait`` seconds), so callers can fall back without
  running their block twice; what they fall back to is theirs to make
  conservative (see the throttle);
- a save that fails (disk full) is logged and leaves the old document.

No thread lock is held while polling for the lock: each transaction has its
own open file description, which ``flock`` excludes like another process.
Callers must not hold a lock of their own while calling
:meth:`StateFile.transaction`. POSIX only (``fcntl``), local file systems.
"""

import contextlib
import errno
import os
import threading

from .._log import logger
from .._typing import Any, Dict, Iterator, Optional, Union
from ..exceptions import AlertConfigurationError
from ..limits import MAX_STATE_BYTES, STATE_LOCK_WAIT
from . import store

__all__ = ()

_log = logger("kstalerts.state")

_VERSION = 1
_holding = threading.local()  # .paths: the lock files this thread holds an flock on


def boot_id() -> Optional[str]:
    """This boot's identifier on Linux, else ``None`` (read once)."""
    return store.boot_id()


StateLockTimeoutError = store.LockTimeoutError  # the lock stayed taken for the whole wait


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
        self._doc = store.Document(
            os.fspath(path), what="state file", max_bytes=MAX_STATE_BYTES, version=_VERSION, per_boot=True
        )
        self.path = self._doc.path
        self._fsync = fsync

    @contextlib.contextmanager
    def transaction(self, wait: float = STATE_LOCK_WAIT, *, fsync: bool = True) -> Iterator[Dict[str, Any]]:
        """Hold the lock; yield the document; save it if the block changed it.

        Raises ``OSError`` (before the block runs) when the files cannot be
        used, :class:`StateLockTimeoutError` when the lock is still taken
        after ``wait`` seconds, and ``BlockingIOError`` at once when this
        thread is already inside a transaction on it (a signal handler
        interrupted one: its flock could only wait for the holder, which is
        this thread). If the block raises, nothing is written. ``fsync=False``
        for a change worth nothing after a power loss (a dedup claim).
        """
        held = _holding.__dict__.setdefault("paths", set())
        if self.path in held:
            raise BlockingIOError(errno.EWOULDBLOCK, "already locked by this thread")
        doc = self._doc
        with doc.transaction(wait, fsync=self._fsync and fsync) as data:
            held.add(self.path)
            try:
                if doc.damage is not None:
                    _log.warning("%s; starting from an empty state", doc.damage)
                yield data
            finally:
                held.discard(self.path)
        if doc.save_error is not None:
            _log.warning(
                "could not save state file %s (%s); this change is not shared", self.path, doc.save_error
            )


    def peek(self) -> Dict[str, Any]:
        """The document as last saved, without the lock (empty when it cannot be read)."""
        try:
            return self._doc.read()
        except OSError:
            return self._doc.fresh()


def _require_fcntl() -> None:
    try:
        import fcntl  # noqa: F401
    except ImportError:
        raise AlertConfigurationError(
            "shared state files need fcntl (a POSIX system); leave state_file unset here"
        ) from None
