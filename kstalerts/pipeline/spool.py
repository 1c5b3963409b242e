"""The spool stage: a delivery that failed in a way a later try may fix is kept on disk.

After the later stages answered, a result whose outcome the table marks
``spool_after_send`` (a retryable failure; a throttled one when the channel
was added with ``spool_throttled=True``) is written to the
:class:`~kstalerts.spool.Spool` and comes back with ``spooled=True``. A
spool that fails logs and leaves the result as it was.
"""

from .._lazy import TYPE_CHECKING
from ..models import AlertResult
from .notification import Notification
from .stage import Proceed, Stage, log

if TYPE_CHECKING:
    from ..spool import Spool

__all__ = ()


class SpoolStage(Stage):
    """Spool the results that ask for it."""

    __slots__ = ("key", "spool", "spool_throttled")

    def __init__(self, key: str, spool: "Spool", *, spool_throttled: bool) -> None:
        self.key = key
        self.spool = spool
        self.spool_throttled = spool_throttled

    def run(self, notification: Notification, proceed: Proceed) -> AlertResult:
        result = proceed(notification)
        wanted = result.outcome.meaning.spool_after_send
        if wanted == "no" or (wanted == "asked" and not self.spool_throttled):
            return result
        try:
            name = self.spool.put(notification.alert, self.key, attempts=result.attempts, error=result.error)
        except Exception:  # put logs disk errors itself; anything else is a bug, not the caller's
            log("kstalerts.manager").error("spooling for channel %r failed", self.key, exc_info=True)
            name = None
        return result if name is None else result.replace(spooled=True)
