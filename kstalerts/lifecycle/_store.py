"""Where the lifecycle keeps its documents: the one module that touches files.

Every other lifecycle module reads and changes plain dicts; this one opens,
locks, reads and writes them, so moving to the package's state store is a
change to this file only.

Rules: one JSON document per file in the state folder (created ``0700``; a
folder others can write is refused, as the other state files are). A
transaction takes an exclusive ``flock`` on ``<file>.lock`` within a bounded
wait (then :class:`~kstalerts._files.LockTimeoutError`), reads the document,
lets the caller change it, and, if it changed, writes a new file (``O_EXCL``,
fsync) and renames it over the old one. Unlike the throttle's state, these
documents keep wall-clock UTC stamps and survive a reboot. A document that
is not JSON, of another version or larger than ``MAX_LIFECYCLE_BYTES`` is
moved aside to ``<file>.damaged-<UTC time>`` with one warning and read as
empty (a duplicate alert is better than a lost one); a file another user
owns or others may write raises :class:`~kstalerts._files.UnsafeFileError`
and is left alone. A thread already inside a transaction on the same file
(a signal handler that interrupted it) gets ``BlockingIOError`` at once.
"""

import contextlib
import errno
import json
import logging
import os
import threading
import time
from typing import Any, Dict, Iterator, Optional

from .. import _files, _lifecycle
from ..limits import MAX_LIFECYCLE_BYTES, STATE_LOCK_WAIT

__all__ = ()

_log = logging.getLogger("kstalerts.lifecycle")
_VERSION = 1
_holding = threading.local()


def default_dir() -> str:
    """The lifecycle's folder when none is configured: ``lifecycle`` in the default state folder."""
    from .._jobstate import default_state_dir

    return os.path.join(default_state_dir(), "lifecycle")


class Document:
    """One JSON document ``<folder>/<name>.json``."""

    def __init__(self, folder: str, name: str, *, fsync: bool = True) -> None:
        self.folder = os.path.abspath(os.path.expanduser(folder))
        self.path = os.path.join(self.folder, name + ".json")
        self._lock_path = self.path + ".lock"
        self._fsync = fsync

    def ensure_folder(self) -> None:
        """Create the folder ``0700``; refuse one that others can write (``UnsafeFileError``)."""
        _files.private_dir(self.folder, what="the lifecycle state folder")

    @contextlib.contextmanager
    def transaction(self, wait: float = STATE_LOCK_WAIT) -> Iterator[Dict[str, Any]]:
        """Hold the lock, yield the document, save it if the block changed it."""
        held = _holding.__dict__.setdefault("paths", set())
        if self._lock_path in held:
            raise BlockingIOError(errno.EWOULDBLOCK, "already locked by this thread", self._lock_path)
        self.ensure_folder()
        fd = _files.open_regular(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        _lifecycle.hold(fd)
        try:
            _files.lock_within(fd, wait, self._lock_path)
            held.add(self._lock_path)
            try:
                data = self._read()
                before = _canonical(data)
                yield data
                after = _canonical(data)
                if after != before:
                    self._write(after)
            finally:
                held.discard(self._lock_path)
        finally:
            _lifecycle.let_go(fd)
            os.close(fd)

    def snapshot(self) -> Dict[str, Any]:
        """The document as it is now, without the lock (a rename makes every read whole)."""
        if not os.path.isdir(self.folder):
            return _fresh()
        self.ensure_folder()
        return self._read()

    def _read(self) -> Dict[str, Any]:
        try:
            fd = _files.open_regular(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return _fresh()
        try:
            _files.trusted_file(fd, self.path, what="the lifecycle state file")
            raw = _files.read_fd(fd, MAX_LIFECYCLE_BYTES + 1)
        finally:
            os.close(fd)
        if not raw:
            return _fresh()
        why: Optional[str] = None
        data: Any = None
        if len(raw) > MAX_LIFECYCLE_BYTES:
            why = f"larger than {MAX_LIFECYCLE_BYTES} bytes"
        else:
            try:
                data = json.loads(raw.decode("utf-8"))
            except (ValueError, RecursionError):
                why = "not JSON"
            else:
                if not isinstance(data, dict) or data.get("version") != _VERSION:
                    why = f"not a kstalerts lifecycle document (version {_VERSION} expected)"
        if why is None:
            return dict(data)
        self._move_aside(why)
        return _fresh()

    def _move_aside(self, why: str) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        aside = f"{self.path}.damaged-{stamp}-{os.urandom(2).hex()}"
        try:
            os.replace(self.path, aside)
        except OSError as exc:
            _log.warning(
                "lifecycle state %s is damaged (%s) and could not be moved aside (%s); starting"
                " from an empty state",
                self.path,
                why,
                exc,
            )
            return
        _log.warning(
            "lifecycle state %s is damaged (%s); moved aside to %s, starting from an empty state"
            " (alerts it remembered may be sent again)",
            self.path,
            why,
            aside,
        )

    def _write(self, payload: str) -> None:
        tmp = f"{self.path}.tmp-{os.urandom(8).hex()}"
        try:
            _files.replace_atomically(self.path, tmp, payload.encode("utf-8"), fsync=self._fsync)
        except OSError as exc:
            _log.warning("could not save lifecycle state %s (%s); this change is lost", self.path, exc)


def _fresh() -> Dict[str, Any]:
    return {"version": _VERSION}


def _canonical(data: Dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
