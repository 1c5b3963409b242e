"""Plumbing shared by the channels that reach the host or its LAN: syslog, journald, exec.

Pure helpers only: the syslog severity of a level, the plain text of an
alert (title, body, then what the throttle held back), a cut from the
middle of a byte string that says how much it took out, and the one
translation of a socket error into an :class:`AlertDeliveryError`.

Rules: text from an alert is made one line where a line is expected
(:func:`one_line`); a cut never splits a UTF-8 sequence; an error names
the peer and the fault, never an alert's text.
"""

import re
from typing import Mapping, Optional

from ..digest import DigestSummary
from ..exceptions import AlertDeliveryError
from ..models import AlertLevel, AlertMessage

__all__ = ()

#: level -> syslog severity (RFC 5424 table 2): crit, notice, warning, info.
SEVERITY: Mapping[AlertLevel, int] = {
    AlertLevel.CRITICAL: 2,
    AlertLevel.WARNING: 4,
    AlertLevel.SUCCESS: 5,
    AlertLevel.INFO: 6,
}

_CONTROLS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
_CONTROLS_BUT_NL_TAB = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
#: Characters of a digest a plain-text message carries.
HELD_BACK_CHARS = 3000


def one_line(text: str) -> str:
    """``text`` with every control or line-break character turned into a space."""
    return _CONTROLS.sub(" ", text).strip()


def plain_text(alert: AlertMessage, held_back: Optional[DigestSummary] = None) -> str:
    """The title on one line, the body on the next lines, then a blank line and
    the digest; controls other than newline and tab become spaces."""
    text = one_line(alert.formatted_title)
    if alert.body:
        text += "\n" + _CONTROLS_BUT_NL_TAB.sub(" ", alert.body.replace("\r\n", "\n"))
    if held_back is not None:
        text += "\n\n" + _CONTROLS_BUT_NL_TAB.sub(" ", held_back.text(HELD_BACK_CHARS))
    return text


def cut_middle(data: bytes, limit: int) -> bytes:
    """``data`` in at most ``limit`` bytes: its head and tail around ``[... N bytes cut]``.

    >>> cut_middle(b"0123456789" * 5, 30)
    b'01234 [... 40 bytes cut] 56789'
    """
    if len(data) <= limit:
        return data
    widest = len(f" [... {len(data)} bytes cut] ")  # the count has at most this many digits
    keep = limit - widest
    if keep < 2:
        return data[: _utf8_boundary(data, max(0, limit))]
    head = _utf8_boundary(data, (keep + 1) // 2)
    tail_start = len(data) - (keep - (keep + 1) // 2)
    while tail_start < len(data) and 0x80 <= data[tail_start] < 0xC0:  # not inside a sequence
        tail_start += 1
    return data[:head] + f" [... {tail_start - head} bytes cut] ".encode("ascii") + data[tail_start:]


def _utf8_boundary(data: bytes, at: int) -> int:
    """The largest index <= ``at`` that does not split a UTF-8 sequence."""
    while 0 < at < len(data) and 0x80 <= data[at] < 0xC0:
        at -= 1
    return at


def network_error(service: str, peer: str, exc: BaseException) -> AlertDeliveryError:
    """The delivery error for ``exc`` while talking to ``peer``: retryable unless trying
    again cannot help (a certificate refused, TLS answered in plain text)."""
    from .._net import PERMANENT, Fault, classify

    fault, detail = classify(exc)
    words = fault.value if fault is not Fault.NETWORK else "a network error"
    text = f"{service}: {peer}: {words}" + (f" ({detail})" if detail and detail not in words else "")
    return AlertDeliveryError(text, retryable=fault not in PERMANENT)
