"""The delivery stage: the channel renders the notification and sends it.

The last stage of every pipeline. It calls the channel's
:meth:`~kstalerts.channels.AlertChannel.notify` (the channel's own retry
loop and deadline), or, for a channel that overrides ``send(alert)`` (as
kstlib's do), that ``send`` with the alert alone. Whatever the channel does
becomes a result: its own rate limit (:class:`AlertThrottledError`) a
throttled one, any other exception (a bug) a refused one, logged with its
traceback and its message cleared of the channel's secrets; a result filed
under another name or alert is refiled under the channel's key and alert.
:class:`Refuse` ends the pipeline of a closed manager instead.
"""

from .._typing import Any, Callable, List
from ..exceptions import AlertThrottledError
from ..models import AlertResult
from ..outcome import Outcome
from .notification import Notification
from .stage import Last, Proceed, held, log

__all__ = ()

#: The text of the results a closed manager gives.
CLOSED_ERROR = "not sent: this AlertManager is closed"


class Deliver(Last):
    """Hand the notification to ``channel``; always answers with a result."""

    __slots__ = ("channel", "key", "_send")

    def __init__(self, key: str, channel: Any) -> None:
        self.key = key
        self.channel = channel
        self._send = _sender(channel)

    def run(self, notification: Notification, proceed: Proceed) -> AlertResult:
        alert = notification.alert
        try:
            result = self._send(notification)
        except AlertThrottledError as exc:  # the channel's own limit: a throttled outcome
            note = f"throttled by the channel: {scrubbed(exc, self.channel)}"
            return held(self.key, Outcome.THROTTLED, note, alert, attempts=1)
        except Exception as exc:  # a bug in a channel must not stop the others
            log("kstalerts.manager").error(
                "channel %r raised %s while sending; reported as failed",
                self.key,
                type(exc).__name__,
                exc_info=True,
            )
            note = f"internal error in channel: {type(exc).__name__}: {scrubbed(exc, self.channel)}"
            return held(self.key, Outcome.REFUSED, note, alert, attempts=1)
        if not isinstance(result, AlertResult):
            note = f"internal error in channel: send() returned {type(result).__name__}, not AlertResult"
            return held(self.key, Outcome.REFUSED, note, alert, attempts=1)
        if result.channel != self.key or result.alert is not alert:
            result = result.replace(channel=self.key, alert=alert)
        return result


class Refuse(Last):
    """The end of a closed manager's pipeline: not sent, said so (spooled if a spool can)."""

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key

    def run(self, notification: Notification, proceed: Proceed) -> AlertResult:
        return held(self.key, Outcome.FAILED, CLOSED_ERROR, notification.alert)


def _sender(channel: Any) -> Callable[[Notification], AlertResult]:
    """How to hand a notification to ``channel``: its ``notify``, unless it overrides ``send``.

    A channel whose class overrides ``send(alert)`` (kstlib's channels, a
    user's own) gets the alert alone, as before notifications existed.
    """
    from ..channels.base import AlertChannel

    if isinstance(channel, AlertChannel) and type(channel).send is AlertChannel.send:
        notify: Callable[[Notification], AlertResult] = channel.notify
        return notify
    send = channel.send
    return lambda notification: send(notification.alert)


def scrubbed(exc: BaseException, channel: Any) -> str:
    """An exception's message with URLs masked and the channel's secrets hidden."""
    from .._secret import Secret, scrub_text

    secrets: List[str] = []
    for value in vars(channel).values():
        inner = vars(value).values() if hasattr(value, "__dict__") else ()
        for candidate in (value, *inner):
            if isinstance(candidate, Secret):
                secrets.append(candidate.reveal())
    return scrub_text(str(exc), secrets)[:500]
