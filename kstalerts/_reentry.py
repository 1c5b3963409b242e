"""Re-entry: how deep this thread is inside the library's own delivery.

Three marks, per thread. The manager marks each send and each delivery on
the thread doing it (:func:`inside`): a send that re-enters one under way (a
signal handler, a callback) is delivered inline, never on the pool. The
manager's pool workers and a channel's helper threads mark the work they do
for a delivery (:func:`serving`), and :class:`~kstalerts.AlertHandler` marks
its ``emit`` (:func:`emitting`): the handler drops records logged under
either (:func:`busy`), so it never feeds on itself. A record a signal
handler logs on the caller's thread during an inline send is still sent, as
it would be at any other moment. No thread names are involved.

Rules: this module imports nothing; the mark is per thread and always
restored (a context manager).
"""

import contextlib
import threading
from typing import Iterator

__all__ = ()

_state = threading.local()


def depth() -> int:
    """How many library sends, deliveries or handler emits this thread is inside."""
    value: int = getattr(_state, "depth", 0)
    return value


@contextlib.contextmanager
def inside() -> Iterator[int]:
    """Mark this thread as inside the library for the block; yields the depth before it."""
    before = depth()
    _state.depth = before + 1
    try:
        yield before
    finally:
        _state.depth = before


def busy() -> bool:
    """Whether this thread is serving a delivery or inside an AlertHandler's emit."""
    return bool(getattr(_state, "serving", False) or getattr(_state, "emitting", False))


@contextlib.contextmanager
def serving() -> Iterator[None]:
    """Mark this thread as doing a delivery's work for the library (a pool worker, a helper)."""
    with _flag("serving"):
        yield


@contextlib.contextmanager
def emitting() -> Iterator[None]:
    """Mark this thread as inside an AlertHandler's ``emit`` for the block."""
    with _flag("emitting"):
        yield


@contextlib.contextmanager
def _flag(name: str) -> Iterator[None]:
    before = bool(getattr(_state, name, False))
    setattr(_state, name, True)
    try:
        yield
    finally:
        setattr(_state, name, before)
