"""The digest stages: what a channel held back rides on its next delivery.

Two stages share the manager's :class:`~kstalerts.digest.DigestBook`:

- :class:`HoldBack` (outside the spool) notes a result that a later stage
  held (throttled or suppressed, and not spooled) in the channel's pending
  digest. It changes nothing.
- :class:`Carry` (just before the delivery) takes the pending digest and
  sets it as the notification's ``held_back``; if the delivery fails the
  digest goes back to pending, merged with what came meanwhile.

Neither is in the pipeline of a channel added with ``digest=False``. The
book is the manager's, asked for only when needed: a delivered result holds
nothing back, and a channel carries nothing before something was held back
(in this process, or in its throttle's state file by another one), so one
alert delivered at once never loads :mod:`kstalerts.digest`.
"""

from .._lazy import TYPE_CHECKING
from .._typing import Any, Callable, Optional
from ..models import AlertResult
from .notification import Notification
from .stage import Proceed, Stage

if TYPE_CHECKING:
    from ..digest import DigestBook

    Books = Callable[[bool], Optional[DigestBook]]  # the manager's book; True: made if there is none

__all__ = ()


class _DigestStage(Stage):
    __slots__ = ("book", "entry")

    def __init__(self, book: "Books", entry: Any) -> None:
        self.book = book
        self.entry = entry


class HoldBack(_DigestStage):
    """Count what the later stages held back in the channel's digest."""

    __slots__ = ()

    def run(self, notification: Notification, proceed: Proceed) -> AlertResult:
        result = proceed(notification)
        if not result.success:  # a delivery holds nothing back
            book = self.book(True)
            assert book is not None
            book.note(self.entry, result)
        return result


class Carry(_DigestStage):
    """Hand the channel's pending digest to this delivery; put it back if the delivery fails."""

    __slots__ = ("shared",)

    def __init__(self, book: "Books", entry: Any) -> None:
        super().__init__(book, entry)
        #: Whether the channel's throttle keeps a state file, which may hold another process's
        #: digest; otherwise there is none to carry until this process makes the book.
        self.shared = getattr(entry.throttle, "state_file", None) is not None

    def run(self, notification: Notification, proceed: Proceed) -> AlertResult:
        book = self.book(self.shared)
        digest = None if book is None else book.take(self.entry)
        if book is None or digest is None:
            return proceed(notification)
        delivered = False
        try:
            result = proceed(notification.replace(held_back=digest.summary()))
            delivered = result.success
        finally:
            if delivered:
                book.count_sent(self.entry.key)
            else:
                book.restore(self.entry, digest)
        return result
