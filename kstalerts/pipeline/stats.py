"""The stats stage: every result a channel gives is counted, once.

It runs first, so it counts the final result (after spool and digest);
it changes nothing. The counters belong to the manager, which passes the
function that adds to them.
"""

from .._typing import Callable
from ..models import AlertResult
from .notification import Notification
from .stage import Proceed, Stage

__all__ = ()


class Count(Stage):
    """Add each result to the manager's counters through ``count(key, result)``."""

    __slots__ = ("count", "key")

    def __init__(self, key: str, count: Callable[[str, AlertResult], None]) -> None:
        self.key = key
        self.count = count

    def run(self, notification: Notification, proceed: Proceed) -> AlertResult:
        result = proceed(notification)
        self.count(self.key, result)
        return result
