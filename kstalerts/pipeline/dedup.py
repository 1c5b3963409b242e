"""The dedup stage: a (channel, dedup key) already delivered within the window is held.

The stage claims the key before the later stages run and tells the
:class:`~kstalerts.dedup.Deduplicator` afterwards whether the alert reached
the service (a failed delivery frees the key for the next try). A refused
claim gives a ``SUPPRESSED`` result; nothing later runs. In a spool flush
(``flushing=True``), a key that a live delivery holds right now is held
(``THROTTLED``, kept for the next flush), not dropped as a duplicate: that
delivery may yet fail.
"""

from .._lazy import TYPE_CHECKING
from ..models import AlertResult
from ..outcome import Outcome
from .notification import Notification
from .stage import Proceed, Stage, held

if TYPE_CHECKING:
    from ..dedup import Deduplicator

__all__ = ()


class DedupStage(Stage):
    """Suppress duplicates through ``dedup``, shared by every channel of a manager."""

    __slots__ = ("dedup", "flushing", "key")

    def __init__(self, key: str, dedup: "Deduplicator", *, flushing: bool = False) -> None:
        self.key = key
        self.dedup = dedup
        self.flushing = flushing

    def run(self, notification: Notification, proceed: Proceed) -> AlertResult:
        dedup_key = notification.alert.effective_dedup_key
        claim = self.dedup.claim(self.key, dedup_key)
        if not claim.granted:
            if self.flushing and claim.busy:
                note = f"held: {claim.reason[len('duplicate: '):]}; kept for the next flush"
                return held(self.key, Outcome.THROTTLED, note, notification.alert)
            return held(self.key, Outcome.SUPPRESSED, claim.reason, notification.alert)
        delivered = False
        try:
            result = proceed(notification)
            delivered = result.outcome.meaning.ok
        finally:
            self.dedup.done(self.key, dedup_key, claim, delivered=delivered)
        return result
