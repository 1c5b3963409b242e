"""Notification: what one channel is asked to deliver, as one immutable value.

A channel renders a :class:`Notification` through one overridable method,
``AlertChannel.render(notification)``; it never learns which stages ran
before it. The value carries the alert, what a stage held back since the
channel's last delivery (the digest), and the alert's ``state`` in its
lifecycle: ``firing`` (the default), ``resolved`` or ``reminder``.

Rules: the value is immutable (:meth:`Notification.replace` makes a changed
copy); it imports only values, so channels and stages can both use it.
"""

from .._lazy import TYPE_CHECKING
from .._typing import Any, NamedTuple, Optional
from ..models import AlertMessage

if TYPE_CHECKING:
    from ..digest import DigestSummary

__all__ = ()

#: The states a notification can be in.
STATES = ("firing", "resolved", "reminder")


class Notification(NamedTuple):
    """One alert on its way to one channel.

    ``held_back`` is the digest of alerts the channel's throttle or dedup
    held back, for this message to carry (``None``: nothing held back);
    ``state`` is ``"firing"``, ``"resolved"`` or ``"reminder"``.
    """

    alert: AlertMessage
    held_back: Optional["DigestSummary"] = None
    state: str = "firing"

    def replace(self, **changes: Any) -> "Notification":
        """A copy with ``changes`` applied."""
        return self._replace(**changes)

    @property
    def plain(self) -> bool:
        """Whether this is the alert alone: firing, nothing held back."""
        return self.held_back is None and self.state == "firing"
