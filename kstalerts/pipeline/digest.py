"""The digest stages: what a channel held back rides on its next delivery.

Two stages share the manager's :class:`~kstalerts.digest.DigestBook`:

- :class:`HoldBack` (outside the spool) notes a result that a later stage
  held (throttled or suppressed, and not spooled) in the channel's pending
  digest. It changes nothing.
- :class:`Carry` (just before the delivery) takes the pending digest and
  sets it as the notification's ``held_back``; if the delivery fails the
  digest goes back to pending, merged with what came meanwhile.

Neither is in the pipeline of a channel added with ``digest=False``.
"""

from typing import Any

from ..digest import DigestBook
from ..models import AlertResult
from .notification import Notification
from .stage import Proceed, Stage

__all__ = ()


class _DigestStage(Stage):
    __slots__ = ("book", "entry")

    def __init__(self, book: DigestBook, entry: Any) -> None:
        self.book = book
        self.entry = entry


class HoldBack(_DigestStage):
    """Count what the later stages held back in the channel's digest."""

    __slots__ = ()

    def run(self, notification: Notification, proceed: Proceed) -> AlertResult:
        result = proceed(notification)
        self.book.note(self.entry, result)
        return result


class Carry(_DigestStage):
    """Hand the channel's pending digest to this delivery; put it back if the delivery fails."""

    __slots__ = ()

    def run(self, notification: Notification, proceed: Proceed) -> AlertResult:
        digest = self.book.take(self.entry)
        if digest is None:
            return proceed(notification)
        delivered = False
        try:
            result = proceed(notification.replace(held_back=digest.summary()))
            delivered = result.success
        finally:
            if delivered:
                self.book.count_sent(self.entry.key)
            else:
                self.book.restore(self.entry, digest)
        return result
