"""The exception tree of kstalerts.

Every error the library raises on purpose derives from :class:`AlertError`::

    AlertError
    ├── AlertConfigurationError   a setting, file or argument is wrong
    │   ├── AlertManagerClosedError   the manager was closed
    │   └── UnresolvedCredentialError   a credential's secret is not on this machine
    ├── AlertDeliveryError        one delivery attempt failed
    └── AlertThrottledError       a throttle refused a token

One warning stands beside the tree: :class:`NoChannelsWarning` (a
``UserWarning``), for a manager with no channel, which an application can
turn into an error with the warnings filter.

Rules: a message never contains a secret (webhook URL, password, API key);
callers pass already-masked text. Fields carry the facts a program needs
(``retryable``, ``retry_after``, ``status``; ``path``, ``line``, ``column``,
``key`` for configuration errors) so nobody has to parse the text.
"""

from ._typing import Any, Optional

__all__ = ()


class AlertError(Exception):
    """Root of every error kstalerts raises on purpose."""


class AlertConfigurationError(AlertError, ValueError):
    """A configuration value, file or argument is invalid.

    The text starts with the location when one is known, in the form
    ``path:line:column: key: what was expected``.

    >>> str(AlertConfigurationError("must be a number", path="a.yml", line=3, key="alerts.throttle.rate"))
    'a.yml:3: alerts.throttle.rate: must be a number'
    """

    def __init__(
        self,
        message: str,
        *,
        path: Optional[str] = None,
        line: Optional[int] = None,
        column: Optional[int] = None,
        key: Optional[str] = None,
    ) -> None:
        self.reason = message
        self.path = path
        self.line = line
        self.column = column
        self.key = key
        super().__init__(_locate(message, path, line, column, key))


def _locate(
    message: str,
    path: Optional[str],
    line: Optional[int],
    column: Optional[int],
    key: Optional[str],
) -> str:
    where = ""
    if path is not None:
        where = str(path)
        if line is not None:
            where += f":{line}"
            if column is not None:
                where += f":{column}"
    elif line is not None:
        where = f"line {line}"
        if column is not None:
            where += f", column {column}"
    parts = [p for p in (where, key) if p]
    parts.append(message)
    return ": ".join(parts)


class AlertManagerClosedError(AlertConfigurationError):
    """The :class:`~kstalerts.AlertManager` was closed; nothing more can be sent.

    A subclass of :class:`AlertConfigurationError`, which was raised for it
    before, so existing ``except`` clauses still catch it.
    """

    def __init__(self, message: str = "this AlertManager is closed") -> None:
        super().__init__(message)


class NoChannelsWarning(UserWarning):
    """A manager has no channel: built from a config that defines none, or asked to send.

    Shown once per place by the default warnings filter. To make it an
    error: ``warnings.simplefilter("error", kstalerts.NoChannelsWarning)``.
    """


class UnresolvedCredentialError(AlertConfigurationError):
    """A credential's secret is not there (variable not set, file missing).

    ``credential`` is its name. ``check-config`` and ``send --dry-run`` report
    it as a warning (the config's structure is fine); sending makes it an error.
    """

    def __init__(self, message: str, *, credential: str, **where: Any) -> None:
        self.credential = credential
        super().__init__(message, **where)


class AlertDeliveryError(AlertError):
    """One delivery attempt failed.

    ``retryable`` says whether trying again may help (timeouts, 5xx, 429,
    SMTP 4xx); ``retry_after`` is the wait in seconds the peer asked for, if
    any; ``status`` is the HTTP status or SMTP reply code when there was one.
    """

    def __init__(
        self,
        message: str,
        *,
        channel: Optional[str] = None,
        retryable: bool = False,
        retry_after: Optional[float] = None,
        status: Optional[int] = None,
    ) -> None:
        self.channel = channel
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status
        super().__init__(message)


class AlertThrottledError(AlertError):
    """A throttle had no token; ``retry_after`` is the wait until one frees."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(message)
