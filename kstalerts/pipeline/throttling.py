"""The throttle stage: a channel's token bucket says whether the alert may go now.

With no token the alert is held (a ``THROTTLED`` result, no attempt made)
and nothing later runs; otherwise it passes on unchanged. CRITICAL alerts
draw from their own bucket (see :class:`~kstalerts.throttle.AlertThrottle`).
"""

from .._lazy import TYPE_CHECKING
from ..models import AlertResult
from ..outcome import Outcome
from .notification import Notification
from .stage import Proceed, Stage, held

if TYPE_CHECKING:
    from ..throttle import AlertThrottle

__all__ = ()


class ThrottleStage(Stage):
    """Hold what ``throttle`` refuses."""

    __slots__ = ("key", "throttle")

    def __init__(self, key: str, throttle: "AlertThrottle") -> None:
        self.key = key
        self.throttle = throttle

    def run(self, notification: Notification, proceed: Proceed) -> AlertResult:
        taken, wait = self.throttle.try_take(notification.alert.level)
        if not taken:
            note = f"channel limit reached, next slot in {wait:.1f}s"
            return held(self.key, Outcome.THROTTLED, note, notification.alert)
        return proceed(notification)
