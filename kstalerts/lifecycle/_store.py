"""Where the lifecycle keeps its documents: the one module that touches files.

Every other lifecycle module reads and changes plain dicts; this one hands
them to the package's state store (:mod:`kstalerts.state.store`), which
opens, locks, reads and writes them (regular files only, private modes,
bounded lock waits, temp file + fsync + rename).

Rules: one JSON document per file in the state folder (created ``0700``; a
folder others can write is refused, sticky or not). Unlike the throttle's
state, these documents keep wall-clock UTC stamps and survive a reboot
(``per_boot`` off). A document that is not JSON, of another version or
larger than ``MAX_LIFECYCLE_BYTES`` is moved aside to
``<file>.damaged-<UTC time>`` with one warning and read as empty (a
duplicate alert is better than a lost one); a file another user owns or
others may write raises :class:`~kstalerts.state.store.UnsafeFileError`
and is left alone. A save that fails (disk full) keeps the old document
and is said with a warning. A thread already inside a transaction on the
same file (a signal handler that interrupted it) gets ``BlockingIOError``
at once instead of waiting for itself.
"""

import contextlib
import errno
import logging
import os
import threading
import time

from .._typing import Any, Dict, Iterator
from ..limits import MAX_LIFECYCLE_BYTES, STATE_LOCK_WAIT
from ..state import store

__all__ = ()

_log = logging.getLogger("kstalerts.lifecycle")
_holding = threading.local()


def default_dir() -> str:
    """The lifecycle's folder when none is configured: ``lifecycle`` in the default state folder."""
    from ..state.files import default_state_dir

    return os.path.join(default_state_dir(), "lifecycle")


class Document:
    """One JSON document ``<folder>/<name>.json``."""

    def __init__(self, folder: str, name: str, *, fsync: bool = True) -> None:
        self.folder = os.path.abspath(os.path.expanduser(folder))
        self.path = os.path.join(self.folder, name + ".json")
        self._fsync = fsync
        self._doc = store.Document(
            self.path,
            what="the lifecycle state file",
            max_bytes=MAX_LIFECYCLE_BYTES,
            allow_sticky=False,
        )

    def ensure_folder(self) -> None:
        """Create the folder ``0700``; refuse one that others can write (``UnsafeFileError``)."""
        store.private_folder(self.folder, what="the lifecycle state folder")

    @contextlib.contextmanager
    def transaction(self, wait: float = STATE_LOCK_WAIT, *, durable: bool = True) -> Iterator[Dict[str, Any]]:
        """Hold the lock, yield the document, save it if the block changed it.

        ``durable=False`` skips the fsyncs (the rename still makes the save
        whole or absent): for changes worth nothing after a power loss.
        """
        held = _holding.__dict__.setdefault("paths", set())
        if self.path in held:
            raise BlockingIOError(errno.EWOULDBLOCK, "already locked by this thread", self.path)
        self.ensure_folder()
        held.add(self.path)
        try:
            with self._doc.transaction(wait, fsync=self._fsync and durable) as data:
                if self._doc.damage is not None:
                    self._move_aside(self._doc.damage)
                yield data
            if self._doc.save_error is not None:
                _log.warning(
                    "could not save lifecycle state %s (%s); this change is lost",
                    self.path,
                    self._doc.save_error,
                )
        finally:
            held.discard(self.path)

    def snapshot(self) -> Dict[str, Any]:
        """The document as it is now, without the lock (a rename makes every read whole)."""
        if not os.path.isdir(self.folder):
            return self._doc.fresh()
        self.ensure_folder()
        return self._doc.read()

    def _move_aside(self, why: str) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        aside = f"{self.path}.damaged-{stamp}-{os.urandom(2).hex()}"
        try:
            os.replace(self.path, aside)
        except OSError as exc:
            _log.warning("%s, and could not be moved aside (%s); starting from an empty state", why, exc)
            return
        _log.warning(
            "%s; moved aside to %s, starting from an empty state (alerts it remembered may be sent again)",
            why,
            aside,
        )
