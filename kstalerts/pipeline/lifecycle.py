"""The lifecycle stage: inhibit, silence, flapping and repeat decide; the notification log records.

In a channel's send pipeline after the spool and digest note, before dedup
and throttle (see :mod:`kstalerts.pipeline.build`). It asks the
:class:`~kstalerts.lifecycle.Lifecycle` for this channel's verdict on the
alert: a held, silenced or inhibited alert is answered here (``HELD``,
``SILENCED``, ``INHIBITED``: nothing later runs, the digest note counts it);
one to deliver goes on as a ``firing`` or ``reminder`` notification (a
reminder's body says since when it fires and how many repeats were held;
flapping notices say so in the title). After the delivery the stage
records it in the notification log if it succeeded, and drops its claim if
not, so the next send is delivered.

Rules: it may change the notification's alert (the reminder and flapping
text) and state; it records nothing before the result is known; a problem
with the state files never stops the delivery (the lifecycle delivers as if
nothing was notified). A resolved notification is built by
:func:`resolved_notification` and goes through the channel's ``resolve``
pipeline, which has no lifecycle stage.
"""

import time

from .._lazy import TYPE_CHECKING
from .._typing import Dict
from ..models import AlertMessage, AlertResult
from ..outcome import Outcome
from .notification import Notification
from .stage import Proceed, Stage, held

if TYPE_CHECKING:
    from ..lifecycle import Lifecycle, Resolution, Verdict

__all__ = ()

_HOLDS: Dict[str, Outcome] = {
    "held": Outcome.HELD,
    "silenced": Outcome.SILENCED,
    "inhibited": Outcome.INHIBITED,
}


class LifecycleStage(Stage):
    """Deliver or hold by the lifecycle's verdict; record a delivery in the notification log."""

    __slots__ = ("key", "life")

    def __init__(self, key: str, life: "Lifecycle") -> None:
        self.key = key
        self.life = life

    def run(self, notification: Notification, proceed: Proceed) -> AlertResult:
        alert = notification.alert
        verdict = self.life.decide(alert, [self.key])[self.key]
        if verdict.action != "deliver":
            return held(self.key, _HOLDS[verdict.action], verdict.reason, alert)
        delivered = False
        try:
            result = proceed(_rendered(notification, verdict))
            delivered = result.outcome.meaning.ok
        finally:
            if delivered:
                self.life.delivered(verdict.fingerprint, self.key, verdict.state, alert.level)
            else:
                self.life.failed(verdict.fingerprint, self.key)
        return result


def _rendered(notification: Notification, verdict: "Verdict") -> Notification:
    """The notification a verdict asks for: a reminder or flapping notice says what it is."""
    alert = notification.alert
    if verdict.state == "reminder":
        repeats = f"; {verdict.repeats} repeat(s) held" if verdict.repeats else ""
        note = f"still firing since {_utc(verdict.since)}{repeats}"
        body = f"{alert.body}\n\n{note}" if alert.body else note
        return notification.replace(alert=alert.replace(body=body), state="reminder")
    if verdict.state == "flapping":
        return notification.replace(alert=flapping_alert(alert, verdict.repeats), state="firing")
    if verdict.state == "flapping_stopped":
        stopped = alert.replace(title=f"flapping stopped: {alert.title}", body=f"now firing\n\n{alert.body}")
        return notification.replace(alert=stopped, state="firing")
    return notification


def flapping_alert(alert: AlertMessage, changes: int) -> AlertMessage:
    """The one message that says an alert started flapping."""
    from ..lifecycle.flapping import STATES

    return alert.replace(
        title=f"flapping: {alert.title}",
        body=f"flapping: {changes} changes in the last {STATES} checks;"
        " no message per change until it settles",
    )


def resolved_notification(resolution: "Resolution") -> Notification:
    """What a channel owed a resolved message is sent (``resolution.alert`` is set)."""
    alert = resolution.alert
    assert alert is not None  # begin_resolve owes channels only with an alert
    if resolution.state == "flapping":
        return Notification(flapping_alert(alert, resolution.changes), state="firing")
    if resolution.state == "flapping_stopped":
        stopped = alert.replace(title=f"flapping stopped: {alert.title}", body="now resolved")
        return Notification(stopped, state="resolved")
    return Notification(alert, state="resolved")


def _utc(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(stamp))
