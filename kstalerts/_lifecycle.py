"""What a process's edges ask of kstalerts: fork, exit and re-entrant sends.

Three small tools, shared by every module that keeps something alive
between calls (connection pools, the fan-out pool, locks, flock'ed files):

- :func:`on_fork` registers an object whose ``renew`` function a forked
  child runs before it runs anything else (``os.register_at_fork``, where
  Python has it: 3.7+). The objects also compare :func:`os.getpid` with the
  pid they were built in wherever they hand out a pooled resource, so a
  fork that bypasses the hook (Python 3.6, a C library calling ``fork()``)
  is caught at the next use.
- :func:`hold` / :func:`let_go` track the descriptors that carry an
  ``flock`` while a thread is inside a critical section. A forked child
  closes its copies of the ones other threads held at the moment of fork:
  those threads do not exist in the child, and an ``flock`` lives as long
  as any copy of its descriptor, so the child would keep every other
  process out of a spool or state file until it exits. Closing the child's
  copy does not release the parent's lock.
- :func:`exiting` says the interpreter is shutting down (inside ``atexit``
  handlers, ``logging.shutdown`` and finalizers), when no new thread can be
  relied on and a thread pool refuses new work: deliveries then run inline.

Rules: nothing here touches the network; a renew function must only forget
or re-create what the parent owned (no QUIT, no TLS close, no
``shutdown()`` on an inherited socket: the parent still uses it) and must
not raise.
"""

import _thread  # threading's own locks and idents, without threading's import (a cold send skips it)
import os
import sys
from _weakref import ref as _ref  # what weakref.ref is, without weakref's own module (and its imports)

from ._lazy import TYPE_CHECKING
from ._typing import Any, Callable, Dict, Tuple

if TYPE_CHECKING:
    import weakref

__all__ = ()

# id(obj) -> (weak reference to obj, renew function)
_registry: Dict[int, Tuple["weakref.ref[Any]", Callable[[Any], None]]] = {}
# descriptor -> ident of the thread holding an flock on it
_held: Dict[int, int] = {}


def on_fork(obj: Any, renew: Callable[[Any], None]) -> None:
    """Run ``renew(obj)`` in every forked child, for as long as ``obj`` lives."""
    key = id(obj)

    def gone(ref: "weakref.ref[Any]") -> None:
        entry = _registry.get(key)
        if entry is not None and entry[0] is ref:
            del _registry[key]

    try:
        ref = _ref(obj, gone)
    except TypeError:  # __slots__ without __weakref__: only the pid checks apply
        return
    _registry[key] = (ref, renew)


def renew_lock(obj: Any) -> None:
    """A renew function for an object whose only fork hazard is ``obj._lock``."""
    obj._lock = _thread.RLock()


def hold(fd: int) -> None:
    """Note that this thread holds an ``flock`` on ``fd`` (see :func:`let_go`)."""
    _held[fd] = _thread.get_ident()


def let_go(fd: int) -> None:
    """Forget ``fd``; call it *before* closing the descriptor, so that a
    child never closes a number that was reused meanwhile."""
    _held.pop(fd, None)


def exiting() -> bool:
    """Whether the interpreter is shutting down.

    ``threading._shutdown`` marks the main thread stopped before the
    ``atexit`` handlers run (every version from 3.6 to 3.13), and
    ``sys.is_finalizing`` covers the finalizers that run after them. Until
    something imports ``threading`` (kstalerts does not, for one channel),
    no thread it starts can be running and its shutdown has nothing to
    mark: a send from an ``atexit`` handler may then start the pool, which
    works before 3.12 and is refused from 3.12 on (the send goes inline).
    """
    threading = sys.modules.get("threading")
    return sys.is_finalizing() or (threading is not None and not threading.main_thread().is_alive())


def forget_socket(sock: Any) -> None:
    """Close this process's descriptor of an inherited socket, and only that.

    ``detach`` drops the socket object's hold (and an ``SSLSocket``'s TLS
    state, without a close_notify); ``os.close`` then releases the
    descriptor. While the parent keeps its copy open the kernel sends no
    FIN, so the parent's connection carries on untouched.
    """
    try:
        fd = sock.detach()
    except (OSError, ValueError, AttributeError):
        return
    if fd is not None and fd >= 0:
        try:
            os.close(fd)
        except OSError:
            pass


def _after_fork_in_child() -> None:
    me = _thread.get_ident()
    for fd, owner in list(_held.items()):
        if owner != me:  # the forking thread itself goes on to close its own
            del _held[fd]
            try:
                os.close(fd)
            except OSError:
                pass
    for ref, renew in list(_registry.values()):
        obj = ref()
        if obj is not None:
            renew(obj)  # only assignments: see the rules above


if hasattr(os, "register_at_fork"):  # Python 3.7+; 3.6 relies on the pid checks
    os.register_at_fork(after_in_child=_after_fork_in_child)  # novermin (guarded above)
