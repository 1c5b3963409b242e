"""alert_on_failure: send a CRITICAL alert when a block or function fails.

One object serves as a decorator and as a context manager. When the wrapped
code raises, it sends an alert with the exception's type, message and the
tail of its traceback, then lets the exception propagate unchanged: the
guard reports, it never swallows. Sending the alert can itself fail; that
is logged and never hides the original exception. Coroutine functions are
wrapped with a coroutine that awaits :meth:`AlertManager.asend`.

>>> from kstalerts import AlertManager
>>> from kstalerts.channels import CallbackChannel
>>> seen = []
>>> manager = AlertManager().add_channel(CallbackChannel(seen.append, name="memory"))
>>> @alert_on_failure(manager, title="nightly export")
... def export():
...     raise OSError("disk full")
>>> try:
...     export()
... except OSError:
...     pass
>>> seen[0].title, seen[0].body.splitlines()[0]
('nightly export failed', 'OSError: disk full')
"""

import functools
from types import TracebackType

from ._lazy import TYPE_CHECKING
from ._log import logger
from ._typing import Any, Callable, Optional, Tuple, Type, TypeVar, Union, cast
from .models import AlertLevel, AlertMessage

if TYPE_CHECKING:
    from .manager import AlertManager

__all__ = ()

_log = logger("kstalerts.guard")

_F = TypeVar("_F", bound=Callable[..., Any])

_TRACEBACK_LINES = 30  # the tail of the traceback kept in the body
_TRACEBACK_CHARS = 4000


class alert_on_failure:  # noqa: N801 - reads as a function at the call site
    """Alert through ``manager`` when the guarded code raises, then re-raise.

    - ``title``: the alert's title, suffixed with ``" failed"``; defaults
      to the function's qualified name, or ``"guarded block"``.
    - ``level``: the alert level (``CRITICAL`` by default).
    - ``channel``: send to this channel only (key, alias or name).
    - ``exceptions``: the exception types that trigger an alert; others
      propagate without one. ``KeyboardInterrupt`` and ``SystemExit`` are
      not ``Exception`` subclasses, so by default they do not alert.

    Use ``@alert_on_failure(manager, title="backup")`` on a function (sync
    or ``async def``) or ``with alert_on_failure(manager, title="backup"):``
    around a block.
    """

    def __init__(
        self,
        manager: "AlertManager",
        title: Optional[str] = None,
        *,
        level: Union[AlertLevel, str] = AlertLevel.CRITICAL,
        channel: Optional[str] = None,
        exceptions: Tuple[Type[BaseException], ...] = (Exception,),
    ) -> None:
        self.manager = manager
        self.title = title
        self.level = AlertLevel.parse(level)
        self.channel = channel
        self.exceptions = exceptions

    # -- building the alert --------------------------------------------------
    def make_alert(self, exc: BaseException, what: str) -> AlertMessage:
        """The alert for ``exc`` raised by ``what``."""
        return AlertMessage(
            f"{self.title or what} failed",
            describe(exc),
            self.level,
            labels={"exception": type(exc).__name__},
        )

    def _report(self, exc: BaseException, what: str) -> None:
        try:
            results = self.manager.send(self.make_alert(exc, what), channel=self.channel)
        except Exception as problem:
            _log.warning("could not send the failure alert for %s: %s", what, problem)
            return
        _warn_failed(what, results)

    async def _areport(self, exc: BaseException, what: str) -> None:
        try:
            results = await self.manager.asend(self.make_alert(exc, what), channel=self.channel)
        except Exception as problem:
            _log.warning("could not send the failure alert for %s: %s", what, problem)
            return
        _warn_failed(what, results)

    # -- context manager ---------------------------------------------------
    def __enter__(self) -> "alert_on_failure":
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if exc is not None and isinstance(exc, self.exceptions):
            self._report(exc, "guarded block")
        # returning None lets the exception propagate

    # -- decorator -----------------------------------------------------------
    def __call__(self, func: _F) -> _F:
        what = getattr(func, "__qualname__", None) or repr(func)
        import inspect

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                try:
                    return await func(*args, **kwargs)
                except self.exceptions as exc:
                    await self._areport(exc, what)
                    raise

            return cast(_F, async_wrapper)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except self.exceptions as exc:
                self._report(exc, what)
                raise

        return cast(_F, wrapper)

    def __repr__(self) -> str:
        return f"alert_on_failure({self.manager!r}, title={self.title!r}, level={self.level.name})"


def describe(exc: BaseException) -> str:
    """``Type: message``, then the last lines of the traceback, bounded."""
    import traceback

    head = f"{type(exc).__name__}: {exc}"
    lines = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).splitlines()
    tail = lines[-_TRACEBACK_LINES:]
    text = "\n".join(tail)
    if len(text) > _TRACEBACK_CHARS:
        text = "..." + text[-_TRACEBACK_CHARS:]
    elif len(lines) > len(tail):
        text = f"... ({len(lines) - len(tail)} lines cut)\n{text}"
    return f"{head}\n\n{text}"


def _warn_failed(what: str, results: Any) -> None:
    for result in results:
        if not result.outcome.meaning.ok:
            _log.warning("failure alert for %s not delivered: %s", what, result)
