"""What every mail transport shares: the interface, the envelope, the errors.

A transport moves one already-built :class:`email.message.EmailMessage` to a
mail service and answers with a message id, or raises
:class:`AlertDeliveryError` saying whether trying again may help. It never
formats: the subject, body and headers are the channel's job
(:mod:`kstalerts.channels.email`). Foreign errors (socket, TLS, smtplib,
HTTP) are translated into delivery errors inside the transport, once.

:class:`PartialDeliveryError` is the one failure that is also a delivery:
the service accepted the message for some recipients and refused others. It
is never retryable, because a retry would mail the accepted recipients
twice.
"""

from .._lazy import TYPE_CHECKING
from .._text import one_line
from .._typing import Dict, List, Mapping, Optional, Sequence, Tuple
from ..exceptions import AlertConfigurationError, AlertDeliveryError

if TYPE_CHECKING:
    from email.message import EmailMessage

__all__ = ()

_MAX_REPLY_CHARS = 200


class MailTransport:
    """Base class of the mail transports.

    :meth:`send` makes one attempt within ``timeout`` seconds; retrying is
    the channel's job. ``kind`` names the transport in config
    (``transport: smtp``).
    """

    kind = "mail"

    def send(self, message: "EmailMessage", *, timeout: float) -> Optional[str]:
        """Deliver ``message`` once; return the message id, if one is known."""
        raise NotImplementedError

    def describe(self) -> str:
        """Where mail goes, for previews and logs; never shows a secret."""
        return self.kind

    def close(self) -> None:
        """Release connections; the transport may still be used afterwards."""


class PartialDeliveryError(AlertDeliveryError):
    """Some recipients were refused; the others did get the message.

    ``refused`` maps each refused address to ``(code, server text)``;
    ``delivered`` lists the addresses the service accepted; ``message_id``
    is the id of the mail they got. Never retryable.
    """

    def __init__(
        self,
        refused: Mapping[str, Tuple[int, str]],
        delivered: Sequence[str],
        *,
        message_id: Optional[str] = None,
    ) -> None:
        self.refused: Dict[str, Tuple[int, str]] = dict(refused)
        self.delivered: Tuple[str, ...] = tuple(delivered)
        self.message_id = message_id
        total = len(self.refused) + len(self.delivered)
        detail = "; ".join(f"{addr}: {code} {text}".rstrip() for addr, (code, text) in self.refused.items())
        codes = sorted(code for code, _ in self.refused.values())
        super().__init__(
            f"{len(self.refused)} of {total} recipients refused, the others got the alert: {detail}",
            retryable=False,
            status=codes[-1] if codes else None,
        )


def clean_reply(text: object, *, secrets: Sequence[str] = ()) -> str:
    """A server's reply text made safe for an error message (:func:`.one_line`).

    Bytes are decoded leniently, control characters become one space, the
    text is cut to a short length, and every string in ``secrets`` (a
    password and its base64 forms) is masked, in case a server echoes them.
    """
    return one_line(text, secrets=secrets, limit=_MAX_REPLY_CHARS)


def envelope(message: "EmailMessage") -> Tuple[str, List[str]]:
    """The envelope sender and recipients of ``message``.

    The sender is the ``Sender`` header if set, else the first ``From``
    address; the recipients are every ``To``, ``Cc`` and ``Bcc`` address,
    once each, in order.
    """
    from email.utils import getaddresses

    senders = getaddresses([str(v) for v in message.get_all("Sender", []) or message.get_all("From", [])])
    sender = next((addr for _, addr in senders if addr), "")
    seen: Dict[str, None] = {}
    for field in ("To", "Cc", "Bcc"):
        for _, addr in getaddresses([str(v) for v in message.get_all(field, [])]):
            if addr:
                seen.setdefault(addr, None)
    return sender, list(seen)


def flag(value: object, key: str) -> bool:
    """A true/false setting; a string such as ``"false"`` is an error, not
    a truthy value (it could otherwise switch a safety check off)."""
    if not isinstance(value, bool):
        raise AlertConfigurationError(f"must be true or false, got {value!r}", key=key)
    return value
