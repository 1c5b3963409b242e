"""Re-entry: how deep this thread is inside the library's own delivery.

Three marks, per thread. The manager marks each send on the thread doing
it, and each delivery a pool worker does (:func:`inside`; a delivery inline
on the sending thread is inside its send's mark): a send that re-enters one
under way (a signal handler, a callback) is delivered inline, never on the
pool. The manager's pool workers and a channel's helper threads mark the
work they do for a delivery (:func:`serving`), and
:class:`~kstalerts.AlertHandler` marks its ``emit`` (:func:`emitting`): the
handler drops records logged under either (:func:`busy`), so it never feeds
on itself. A record a signal handler logs on the caller's thread during an
inline send is still sent, as it would be at any other moment. No thread
names are involved.

A send from inside a send nests at most once: once a send runs inside
another on the main thread, :func:`hold_signals` holds the signals Python
has handlers for until the outermost send ends, and then runs their
handlers (each once). A storm of signals whose handler sends therefore
never piles sends on the stack (it used to end in a ``RecursionError``); a
held signal is late by at most the rest of the outermost send. Process
signal masks are not used: they do not stop another thread from taking
the signal for the main thread.

Rules: this module imports nothing of the package (``signal`` and
``threading`` on a nested send only: a cold send of one alert loads
neither); the mark is per thread and always restored (a context manager).
"""

import _thread

from ._typing import Any, Dict, List, Optional, Tuple

__all__ = ()

_state = _thread._local()  # what threading.local is
# (handlers swapped out, signals noted, the noting handler) while a nested send holds
# signals; only ever set on the main thread, where Python runs signal handlers
_held: Optional[Tuple[Dict[int, Any], List[int], Any]] = None


def depth() -> int:
    """How many library sends, deliveries or handler emits this thread is inside."""
    value: int = getattr(_state, "depth", 0)
    return value


def inside() -> "_Inside":
    """Mark this thread as inside the library for the block; yields the depth before it."""
    return _Inside()


class _Inside:
    """What :func:`inside` returns. A class, not a ``@contextmanager`` generator:
    it wraps every send and every pooled delivery, and costs a third as much."""

    __slots__ = ("_before",)

    def __enter__(self) -> int:
        before = self._before = depth()
        _state.depth = before + 1
        return before

    def __exit__(self, *exc_info: object) -> None:
        before = self._before
        _state.depth = before
        if _held is not None and not before:
            _release_signals()  # the outermost send ended: the signals held meanwhile run now


def hold_signals() -> None:
    """Hold, until this thread's outermost send ends, the signals that have a Python handler.

    Called by a send that runs inside another (on the main thread, where
    Python runs signal handlers): each handler is swapped for one that only
    notes the signal; when the outermost :func:`inside` block ends, the
    handlers are put back and each noted signal's handler runs once (as the
    system folds repeats of a pending signal into one). Elsewhere, and when
    already holding, this does nothing.
    """
    global _held
    if _held is not None or not _on_main_thread():
        return
    import signal

    pending: List[int] = []

    def note(number: int, frame: Any) -> None:
        if number not in pending:
            pending.append(number)

    originals: Dict[int, Any] = {}
    for number in range(1, getattr(signal, "NSIG", 65)):
        try:
            handler = signal.getsignal(number)
            if callable(handler):
                signal.signal(number, note)
                originals[number] = handler
        except (ValueError, OSError, RuntimeError):  # not a signal this system has, or not settable
            continue
    _held = (originals, pending, note)


def _release_signals() -> None:
    """Put the held handlers back and run each noted signal's handler, once."""
    global _held
    held = _held
    if held is None or not _on_main_thread():
        return  # a pool worker's send ending is not the main thread's outermost send
    _held = None
    import signal
    import sys

    originals, pending, note = held
    for number, handler in originals.items():
        if signal.getsignal(number) is note:  # unless the program set another meanwhile
            signal.signal(number, handler)
    for number in pending:
        if signal.getsignal(number) is originals[number]:
            originals[number](number, sys._getframe())


def _on_main_thread() -> bool:
    import threading  # here, not at import: only a nested send asks

    return threading.current_thread() is threading.main_thread()


def busy() -> bool:
    """Whether this thread is serving a delivery or inside an AlertHandler's emit."""
    return bool(getattr(_state, "serving", False) or getattr(_state, "emitting", False))


def serving() -> "_Flag":
    """Mark this thread as doing a delivery's work for the library (a pool worker, a helper)."""
    return _Flag("serving")


def emitting() -> "_Flag":
    """Mark this thread as inside an AlertHandler's ``emit`` for the block."""
    return _Flag("emitting")


class _Flag:
    """Set this thread's flag ``name`` for a ``with`` block, and put back what it was."""

    __slots__ = ("_name", "_before")

    def __init__(self, name: str) -> None:
        self._name = name

    def __enter__(self) -> None:
        self._before = bool(getattr(_state, self._name, False))
        setattr(_state, self._name, True)

    def __exit__(self, *exc_info: object) -> None:
        setattr(_state, self._name, self._before)
