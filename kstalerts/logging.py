"""AlertHandler: a :mod:`logging` handler that turns log records into alerts.

Attach it to a logger and every record at or above its level goes to the
manager's channels: ``DEBUG`` and ``INFO`` become ``INFO`` alerts,
``WARNING`` a ``WARNING``, ``ERROR`` and ``CRITICAL`` a ``CRITICAL``. The
first line of the message is the title; the formatted record, with the
exception traceback when there is one, is the body.

Rules, as in the standard library's handlers: :meth:`AlertHandler.emit`
never raises (a failure goes to :meth:`logging.Handler.handleError`), and
the title, body and level come from small overridable methods. A record
costs the caller at most ``timeout`` seconds (:data:`DEFAULT_TIMEOUT`, 10 s,
whatever the channels' own timeouts and retries, which are the CLI's too):
the delivery runs on a helper thread, and one still running then finishes
there while the program goes on (counted in :attr:`AlertHandler.late`). The handler
never feeds on itself: records from the ``kstalerts`` logger tree, records the manager's pool
workers or a channel's helper threads log while delivering, and records
logged while this thread is inside ``emit`` are dropped (see
:mod:`kstalerts._reentry`); a record a signal handler logs during an inline
send is still sent.
"""

import logging
import threading

from . import _reentry
from ._lazy import TYPE_CHECKING
from ._typing import List, Optional, Union
from .models import AlertLevel, AlertMessage, AlertResult

if TYPE_CHECKING:
    from .manager import AlertManager

__all__ = ()

#: Seconds one record may hold up the program that logs it (``AlertHandler(timeout=...)``).
DEFAULT_TIMEOUT = 10.0

_OWN_LOGGER = "kstalerts"
_DEFAULT_FORMAT = "%(asctime)s %(levelname)s [%(name)s] %(message)s"
_MAX_TITLE_FROM_RECORD = 200


def level_for(levelno: int) -> AlertLevel:
    """The alert level for a :mod:`logging` level number.

    >>> level_for(logging.ERROR).name, level_for(logging.WARNING).name, level_for(logging.DEBUG).name
    ('CRITICAL', 'WARNING', 'INFO')
    """
    if levelno >= logging.ERROR:
        return AlertLevel.CRITICAL
    if levelno >= logging.WARNING:
        return AlertLevel.WARNING
    return AlertLevel.INFO


class AlertHandler(logging.Handler):
    """Send log records at or above ``level`` through ``manager``.

    ``channel`` targets one channel by key, alias or name (default: every
    channel whose ``min_level`` the alert reaches). The call blocks while
    the channels deliver, at most ``timeout`` seconds (default
    :data:`DEFAULT_TIMEOUT`, 10; ``None`` waits as long as the channels'
    timeouts and retries take); a delivery still running then goes on in
    the background and :attr:`late` counts it. Wrap the handler in a
    :class:`logging.handlers.QueueHandler` / ``QueueListener`` pair to log
    without waiting at all. :attr:`last_results` keeps the results of the
    latest record delivered from any thread.

    >>> import logging
    >>> from kstalerts import AlertManager
    >>> from kstalerts.channels import CallbackChannel
    >>> seen = []
    >>> manager = AlertManager().add_channel(CallbackChannel(seen.append, name="memory"))
    >>> log = logging.getLogger("doctest.alerthandler")
    >>> log.addHandler(AlertHandler(manager))
    >>> log.error("Disk full on %s", "db1")
    >>> seen[0].title, seen[0].level.name
    ('Disk full on db1', 'CRITICAL')
    """

    def __init__(
        self,
        manager: "AlertManager",
        level: Union[int, str] = logging.ERROR,
        *,
        channel: Optional[str] = None,
        timeout: Optional[float] = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(level)
        if timeout is not None and not 0 < timeout < float("inf"):
            raise ValueError(f"timeout must be more than 0 seconds, or None; got {timeout!r}")
        self.manager = manager
        self.channel = channel
        self.timeout = timeout
        self.late = 0  # records whose delivery outlasted ``timeout``
        self.last_results: List[AlertResult] = []
        self.setFormatter(logging.Formatter(_DEFAULT_FORMAT))

    # -- overridable formatting ------------------------------------------
    def get_level(self, record: logging.LogRecord) -> AlertLevel:
        """The alert level for ``record`` (see :func:`level_for`)."""
        return level_for(record.levelno)

    def get_title(self, record: logging.LogRecord) -> str:
        """The first line of the message, cut to 200 characters."""
        lines = record.getMessage().strip().splitlines()
        title = lines[0].strip() if lines else ""
        if not title:
            title = f"{record.levelname} from {record.name}"
        if len(title) > _MAX_TITLE_FROM_RECORD:
            title = title[: _MAX_TITLE_FROM_RECORD - 3] + "..."
        return title

    def get_body(self, record: logging.LogRecord) -> str:
        """The formatted record; the formatter appends any traceback."""
        return self.format(record)

    def make_alert(self, record: logging.LogRecord) -> AlertMessage:
        """The alert sent for ``record``; labels name the logger and level."""
        return AlertMessage(
            self.get_title(record),
            self.get_body(record),
            self.get_level(record),
            labels={"logger": record.name, "log_level": record.levelname},
        )

    # -- the handler -------------------------------------------------------
    def filter(self, record: logging.LogRecord) -> bool:
        """Drop what would make the handler feed on itself, then the filters."""
        if record.name == _OWN_LOGGER or record.name.startswith(_OWN_LOGGER + "."):
            return False
        if _reentry.busy():  # logged from inside our own delivery or emit
            return False
        return bool(super().filter(record))

    def emit(self, record: logging.LogRecord) -> None:
        """Send ``record`` as an alert; never raises."""
        if _reentry.busy():
            return
        with _reentry.emitting():
            try:
                alert = self.make_alert(record)
            except Exception:
                self.handleError(record)
                return
            if self.timeout is None:
                self._deliver(alert, record)
                return
            worker = threading.Thread(
                target=self._deliver, args=(alert, record, True), name="kstalerts-alert-handler", daemon=True
            )
            try:
                worker.start()
            except RuntimeError:  # interpreter shutdown (atexit, logging.shutdown): no new thread
                self._deliver(alert, record)  # inline, each channel under its own deadline, as at exit
                return
            worker.join(self.timeout)
            if worker.is_alive():
                self.late += 1

    def _deliver(self, alert: AlertMessage, record: logging.LogRecord, helper: bool = False) -> None:
        try:
            if helper:  # what the channels log on this thread is not fed back in
                with _reentry.serving():
                    self.last_results = self.manager.send(alert, channel=self.channel)
            else:
                self.last_results = self.manager.send(alert, channel=self.channel)
        except Exception:
            self.handleError(record)

    def __repr__(self) -> str:
        return f"<AlertHandler {logging.getLevelName(self.level)} -> {self.manager!r}>"
