"""Plumbing shared by the channels that reach the host or its LAN: syslog, journald, exec, ntfy, Matrix.

Pure helpers only: the syslog severity of a level, the plain text of an
alert (title on one line, body, then what the throttle held back), and the
one translation of a socket error into an :class:`AlertDeliveryError`.

Rules: text follows the one text rule (:mod:`kstalerts._text`): an
alert's text is already clean when it arrives (:class:`AlertMessage`
cleans it), a line is made with :func:`title_line`, a cut is
``_text.cut``/``cut_bytes`` (from the middle, with the count); an error
names the peer and the fault, never an alert's text.
"""

from .._text import one_line
from .._typing import Mapping, Optional
from ..digest import DigestSummary
from ..exceptions import AlertDeliveryError
from ..limits import MAX_TITLE_CHARS
from ..models import AlertLevel, AlertMessage

__all__ = ()

#: level -> syslog severity (RFC 5424 table 2): crit, notice, warning, info.
SEVERITY: Mapping[AlertLevel, int] = {
    AlertLevel.CRITICAL: 2,
    AlertLevel.WARNING: 4,
    AlertLevel.SUCCESS: 5,
    AlertLevel.INFO: 6,
}
#: Characters of a digest a plain-text message carries.
HELD_BACK_CHARS = 3000


def title_line(alert: AlertMessage) -> str:
    """The alert's title (with its time prefix, if asked) as one line: line breaks as spaces."""
    return one_line(alert.formatted_title, limit=MAX_TITLE_CHARS + 32)


def plain_text(alert: AlertMessage, held_back: Optional[DigestSummary] = None) -> str:
    """The title on one line, the body on the next lines, then a blank line and the digest."""
    text = title_line(alert)
    if alert.body:
        text += "\n" + alert.body
    if held_back is not None:
        text += "\n\n" + held_back.text(HELD_BACK_CHARS)
    return text


def resolved_alert(alert: AlertMessage) -> AlertMessage:
    """``alert`` as a resolved message says it: titled ``RESOLVED: ...`` (the title is cut to its limit)."""
    return alert.replace(title=f"RESOLVED: {alert.title}")


def network_error(service: str, peer: str, exc: BaseException) -> AlertDeliveryError:
    """The delivery error for ``exc`` while talking to ``peer``: retryable unless trying
    again cannot help (a certificate refused, TLS answered in plain text)."""
    from ..net.fault import PERMANENT, Fault, classify

    fault, detail = classify(exc)
    words = fault.value if fault is not Fault.NETWORK else "a network error"
    text = f"{service}: {peer}: {words}" + (f" ({detail})" if detail and detail not in words else "")
    return AlertDeliveryError(text, retryable=fault not in PERMANENT)
