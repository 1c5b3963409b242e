"""The package's loggers, with no ``logging`` import until something logs.

``_log = logger("kstalerts.http")`` at module level costs nothing: the
stdlib ``logging`` package (with ``traceback``, ``string``, ``weakref``...)
is imported the first time a message is logged, and the real
``logging.getLogger(name)`` is looked up on every call (kept, and checked
against the logger ``logging`` files under the name), so every
configuration a user makes, before or after ``import kstalerts``
(``basicConfig``, ``dictConfig``, levels, handlers, ``disabled``), applies
exactly as it would to a logger made at import.

Rules: ``_log.warning(...)`` calls the real logger's bound method from the
caller's frame, so records name the caller's file and line, not this
module. A ``debug``/``info`` call while ``logging`` was never imported is
dropped without importing it: nobody configured a handler or a level, so
the root's WARNING threshold would drop it anyway. Late in interpreter
teardown, when nothing can be imported any more, a message is dropped
instead of raising.
"""

import sys

from ._typing import Any, Callable, Optional

__all__ = ()

# Below WARNING, a record goes nowhere unless someone configured logging,
# which imports it.
_QUIET_UNCONFIGURED = frozenset({"debug", "info"})
_WARNING = 30
_pending: Optional[Callable[[], None]] = None


def _drop(*args: Any, **kwargs: Any) -> None:
    return None


def _enabled_unconfigured(level: int) -> bool:
    return level >= _WARNING


def _method(attr: str) -> Any:
    """The lazy logger's ``attr``: what :meth:`_LazyLogger._get` finds, the
    real logger's bound method (called from the caller's frame) or a no-op."""
    quiet = attr in _QUIET_UNCONFIGURED

    def get(self: "_LazyLogger") -> Any:
        if quiet and "logging" not in sys.modules:  # the common case, decided here: one call less
            return _drop
        return self._get(attr)

    return property(get, doc=f"``logging.Logger.{attr}``, looked up on use.")


class _LazyLogger:
    """Stands for ``logging.getLogger(name)``, looked up on each use."""

    __slots__ = ("_real", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._real: Any = None  # what getLogger(name) gave last

    def __getattr__(self, attr: str) -> Any:
        return self._get(attr)

    def _get(self, attr: str) -> Any:
        if "logging" not in sys.modules:
            if attr in _QUIET_UNCONFIGURED:
                return _drop
            if attr == "isEnabledFor":
                return _enabled_unconfigured
        try:
            import logging
        except ImportError:  # interpreter teardown: nothing can be imported
            return _drop
        if _pending is not None:
            _run_pending()
        real = self._real
        # getLogger takes logging's lock; the logger it gives is the one its manager files
        # under the name, so while that entry is still ours, ours is what it would give
        if real is None or logging.Logger.manager.loggerDict.get(self.name) is not real:
            real = self._real = logging.getLogger(self.name)
        return getattr(real, attr)

    def __repr__(self) -> str:
        return f"<lazy logger {self.name}>"

    # The methods the package calls, found at once: through __getattr__, each call
    # would first fail the normal lookup (an AttributeError raised and caught).
    debug = _method("debug")
    info = _method("info")
    warning = _method("warning")
    error = _method("error")
    exception = _method("exception")
    isEnabledFor = _method("isEnabledFor")  # noqa: N815 (logging's name)


def when_used(hook: Optional[Callable[[], None]]) -> None:
    """Run ``hook`` once, just before a logger of the package is first used
    for something that can be shown (``None`` cancels it): the CLI installs
    its stderr handler this way, and imports ``logging`` only when there is
    a warning to print."""
    global _pending
    _pending = hook


def _run_pending() -> None:
    global _pending
    hook, _pending = _pending, None
    if hook is not None:
        hook()


def logger(name: str) -> Any:
    """A stand-in for ``logging.getLogger(name)`` that imports nothing until used."""
    return _LazyLogger(name)
