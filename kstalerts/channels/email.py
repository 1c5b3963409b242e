"""EmailChannel: an alert as a plain-text email, through a mail transport.

The channel formats; the transport (:mod:`kstalerts.transports`) moves the
message. The message is built with :data:`email.policy.default`, so UTF-8
and emoji are encoded correctly in the subject and body. Nothing a caller
passes can add a header: control characters (CR, LF, NUL, ...) in a title
become spaces before the subject is set, and addresses are parsed and
checked once, when the channel is built, against the same header parser that
renders them. A recipient list is capped at ``MAX_RECIPIENTS``.

The Message-ID is derived from the alert, so every attempt at one alert
carries the same id: receivers, and Resend's idempotency key, can tell a
retry from a new alert.
"""

import re

from .._lazy import TYPE_CHECKING
from .._suggest import suggest
from .._typing import Any, Dict, FrozenSet, List, Mapping, Optional, Sequence, Tuple, Union
from ..exceptions import AlertConfigurationError, AlertDeliveryError
from ..limits import MAX_RECIPIENTS
from ..models import AlertMessage
from ..outcome import Delivery, Outcome
from ..pipeline.notification import Notification
from ._options import Option, read
from .base import AlertChannel, is_coroutine_function

if TYPE_CHECKING:
    from email.headerregistry import Address
    from email.message import EmailMessage

    from ..digest import DigestSummary
    from ..transports.base import MailTransport

__all__ = ()

_CONTROL = re.compile(r"[\x00-\x1f\x7f\x80-\x9f\u2028\u2029]+")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")  # str.isascii is 3.7+
_MAX_ADDRESS_CHARS = 320
_MAX_PREFIX_CHARS = 64
_HELD_BACK_CHARS = 8000  # the digest section of a message
_SIGNATURE = "-- "  # RFC 3676's signature separator line

_SMTP: Tuple[Option, ...] = tuple(
    Option(name, kind, "smtp: " + doc, default=default, manual=True, choices=choices)
    for name, kind, doc, default, choices in (
        ("host", "text", "the mail server (required for smtp)", None, ()),
        ("port", "any", "its port (default: 587, 465 or 25 by security)", None, ()),
        ("security", "choice", "how the session is encrypted", "starttls", ("starttls", "ssl", "none")),
        ("username", "text", "login user (with password)", None, ()),
        ("password", "text", "login password, secret (or credentials:)", None, ()),
        ("allow_plaintext_auth", "bool", "allow a login without TLS", False, ()),
        ("local_hostname", "text", "the name said in EHLO", None, ()),
    )
)
_RESEND: Tuple[Option, ...] = (
    Option("api_key", "text", "resend: the API key, secret (or credentials:)", manual=True),
    Option("base_url", "text", "resend: the API endpoint", default="https://api.resend.com", manual=True),
    Option("proxy", "text", "resend: an http:// proxy URL", manual=True),
)
_BOTH: Tuple[Option, ...] = (
    Option("ssl_verify", "bool", "smtp and resend: verify the certificate", default=True, manual=True),
    Option("ssl_ca_bundle", "text", "smtp and resend: a CA bundle file (PEM)", manual=True),
)
_SMTP_KEYS = frozenset(o.name for o in _SMTP + _BOTH)
_RESEND_KEYS = frozenset(o.name for o in _RESEND + _BOTH)

class EmailChannel(AlertChannel):
    """Deliver alerts by email.

    ``transport`` is an :class:`~kstalerts.transports.SMTPTransport` or
    :class:`~kstalerts.transports.ResendTransport`. ``sender`` is one
    address, ``recipients`` one or a list (at most ``MAX_RECIPIENTS``); both
    accept ``Name <addr@example.com>``. The subject is
    ``"{subject_prefix} [LEVEL] {title}"``.

    >>> from kstalerts.transports import SMTPTransport
    >>> ch = EmailChannel(SMTPTransport("smtp.example.com"), sender="alerts@example.com",
    ...                   recipients=["oncall@example.com"])
    >>> from kstalerts import AlertLevel
    >>> ch.build_subject(AlertMessage("Disk full", level=AlertLevel.CRITICAL))
    '[ALERT] [CRITICAL] Disk full'
    """

    kind = "email"
    options = (
        Option("transport", "choice", "the mail transport", "smtp", choices=("smtp", "resend"), manual=True),
        Option("sender", "any", "the From address", required=True, manual=True),
        Option("recipients", "any", "one address, a comma list or a list", required=True, manual=True),
        Option("subject_prefix", "text", "the subject's first word", default="[ALERT]"),
        *_SMTP,
        *_RESEND,
        *_BOTH,
    )

    def __init__(
        self,
        transport: "MailTransport",
        *,
        sender: str,
        recipients: Union[str, Sequence[str]],
        subject_prefix: str = "[ALERT]",
        name: Optional[str] = None,
        channel_name: Optional[str] = None,
        **options: Any,
    ) -> None:
        name = channel_name if name is None else name  # channel_name: kstlib's spelling
        super().__init__(name=name, **options)
        if not callable(getattr(transport, "send", None)):
            raise AlertConfigurationError(
                "must be a mail transport (SMTPTransport, ResendTransport)", key="transport"
            )
        if is_coroutine_function(transport.send):
            raise AlertConfigurationError(
                f"{type(transport).__name__}.send is a coroutine function (async def): the channel calls it"
                " from a thread and would never await it, so nothing would be sent. Make send a plain def"
                " (run your coroutine inside with asyncio.run)",
                key="transport",
            )
        self.transport = transport
        self.sender = parse_address(sender, key="sender")
        self.recipients = _parse_recipients(recipients)
        if not isinstance(subject_prefix, str) or len(subject_prefix) > _MAX_PREFIX_CHARS:
            raise AlertConfigurationError(
                f"must be a string of at most {_MAX_PREFIX_CHARS} characters", key="subject_prefix"
            )
        self.subject_prefix = _one_line(subject_prefix).strip()

    # -- formatting (pure, overridable) -------------------------------------
    def build_subject(self, alert: AlertMessage) -> str:
        """``"{prefix} [LEVEL] {title}"`` on one line."""
        title = _one_line(alert.formatted_title).strip()
        return " ".join(p for p in (self.subject_prefix, f"[{alert.level.name}]", title) if p)

    def build_body(self, alert: AlertMessage) -> str:
        """The plain-text body: level, title, host, time, then the text."""
        import socket
        import time

        lines = [
            f"Level: {alert.level.name}",
            f"Title: {_one_line(alert.title).strip()}",
            f"Host: {socket.gethostname()}",
            "Time: " + time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(alert.created_at)),
        ]
        if alert.body:
            lines += ["", alert.body]  # inert already: AlertMessage cleaned it (_text.clean)
        if alert.labels:
            lines += ["", "Labels:"] + [
                f"  {_one_line(k)}: {_one_line(v)}" for k, v in sorted(alert.labels.items())
            ]
        lines += ["", _SIGNATURE, "Sent by kstalerts"]
        return "\n".join(lines) + "\n"

    def build_message(self, alert: AlertMessage) -> "EmailMessage":
        """The complete message, as the transport will send it."""
        import email.policy
        import email.utils
        from email.message import EmailMessage

        message = EmailMessage(policy=email.policy.default)
        message["Subject"] = _inert_header("Subject", self.build_subject(alert))
        message["From"] = self.sender
        message["To"] = self.recipients
        message["Date"] = email.utils.formatdate(alert.created_at, usegmt=True)
        message["Message-ID"] = self.message_id(alert)
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies
        message["X-Alert-Level"] = alert.level.name
        _set_body(message, self.build_body(alert))
        return message

    def _build_resolved(self, alert: AlertMessage) -> Any:
        """The alert's message with the subject ``[RESOLVED] title`` instead of ``[LEVEL] title``."""
        message = self.build_message(alert)
        title = _one_line(alert.formatted_title).strip()
        subject = " ".join(p for p in (self.subject_prefix, "[RESOLVED]", title) if p)
        message.replace_header("Subject", _inert_header("Subject", subject))
        return message

    def _show_digest(self, payload: Any, summary: "DigestSummary") -> Any:
        """What was held back: a section of the text before the signature."""
        body = str(payload.get_content())
        section = "\n".join(["Held back", "---------", summary.text(_HELD_BACK_CHARS), ""])
        head, mark, tail = body.rpartition("\n" + _SIGNATURE + "\n")
        _set_body(payload, f"{head}\n{section}{mark}{tail}" if mark else f"{body}\n{section}")
        return payload

    def message_id(self, alert: AlertMessage) -> str:
        """``<uuid@sender-domain>``, the same for every attempt of ``alert``."""
        import uuid

        basis = "\n".join(
            [repr(alert.created_at), alert.level.name, alert.title, alert.body, self.name]
            + [a.addr_spec for a in self.recipients]
        )
        domain = self.sender.domain or "kstalerts.invalid"
        return f"<{uuid.uuid5(uuid.NAMESPACE_URL, 'kstalerts:' + basis).hex}@{domain}>"

    def build_payload(self, alert: AlertMessage) -> "EmailMessage":
        """Same as :meth:`build_message` (the name every channel shares)."""
        return self.build_message(alert)

    def preview(self, alert: AlertMessage) -> str:
        """The message as text, and where it would go."""
        return f"via {self.transport.describe()}\n{self.build_message(alert).as_string()}"

    # -- delivery -------------------------------------------------------------
    def _transmit(self, notification: Notification, *, timeout: float) -> Delivery:
        """Send the message; some recipients refused is a partly delivered alert.

        A partly delivered mail keeps its Message-ID and is not retried (the
        others would get it twice); the note names the refused recipients.
        """
        from ..transports.base import PartialDeliveryError

        alert = notification.alert
        try:
            message = self.render(notification)
            message_id = self.transport.send(message, timeout=timeout)
        except PartialDeliveryError as exc:
            return Delivery(
                Outcome.PARTLY_DELIVERED,
                message_id=exc.message_id or self.message_id(alert),
                status=exc.status,
                note=str(exc),
            )
        except AlertDeliveryError as exc:
            exc.channel = self.name
            raise
        return Delivery(Outcome.DELIVERED, message_id=message_id)

    def close(self) -> None:
        """Close the transport's connections."""
        self.transport.close()

    def __repr__(self) -> str:
        return (
            f"EmailChannel(name={self.name!r}, transport={self.transport!r},"
            f" sender={self.sender.addr_spec!r}, recipients={len(self.recipients)})"
        )

    # -- config ---------------------------------------------------------------
    @classmethod
    def _prepare_config(cls, config: Mapping[str, Any]) -> Mapping[str, Any]:
        """kstlib's nested form, ``transport: {type: smtp, host: ..., use_tls: true}``,
        is read as the same flat keys."""
        return _flat_transport(config)

    @classmethod
    def _from_values(
        cls, values: Dict[str, Any], config: Mapping[str, Any], resolver: Any
    ) -> "EmailChannel":
        """The transport: ``smtp`` (the default) or ``resend``; the password or API key
        comes from ``credentials:`` (a credential name) or, literally, ``password:`` /
        ``api_key:``."""
        from ..transports import ResendTransport, SMTPTransport
        from ._options import resolve_secret

        kind = config.get("transport", "smtp")
        for option in _SMTP:  # a misspelt choice (security: startls) names the closest one
            if option.choices and config.get(option.name) is not None:
                read(option, config[option.name], "email")
        transport: MailTransport
        if kind == "smtp":
            _reject(config, _RESEND_KEYS - _SMTP_KEYS, "smtp")
            if config.get("host") is None:
                raise AlertConfigurationError("is required for the smtp transport", key="host")
            password = resolve_secret(config, "password", resolver, service="email")
            smtp_options = {
                k: config[k] for k in _SMTP_KEYS - {"host", "password"} if config.get(k) is not None
            }
            transport = SMTPTransport(config["host"], password=password, **smtp_options)
        elif kind == "resend":
            _reject(config, _SMTP_KEYS - _RESEND_KEYS, "resend")
            api_key = resolve_secret(config, "api_key", resolver, service="email")
            if api_key is None:
                raise AlertConfigurationError("is required for the resend transport", key="api_key")
            resend_options = {k: config[k] for k in _RESEND_KEYS - {"api_key"} if config.get(k) is not None}
            transport = ResendTransport(api_key, **resend_options)
        else:
            got = repr(kind) if isinstance(kind, str) and len(kind) <= 40 else f"a {_kind_of(kind)}"
            hint = " (the transport's settings go next to transport:, not inside it)"
            if not isinstance(kind, Mapping):
                close = suggest(str(kind), ("smtp", "resend"))
                hint = close if close.startswith("; did you mean") else ""
            raise AlertConfigurationError(f"must be 'smtp' or 'resend', got {got}{hint}", key="transport")
        for required in ("sender", "recipients"):
            if not config.get(required):
                raise AlertConfigurationError("is required", key=required)
        return cls(transport, sender=config["sender"], recipients=config["recipients"], **values)


def parse_address(value: object, *, key: str = "address") -> "Address":
    """One address, ``addr@example.com`` or ``Name <addr@example.com>``.

    Rejects control characters, several addresses, groups and anything the
    header parser of :data:`email.policy.default` finds a defect in.
    """
    import email.policy

    if not isinstance(value, str) or not value.strip():
        raise AlertConfigurationError(f"must be an email address, got {value!r}", key=key)
    if len(value) > _MAX_ADDRESS_CHARS:
        raise AlertConfigurationError(f"is longer than {_MAX_ADDRESS_CHARS} characters", key=key)
    if _CONTROL.search(value):
        raise AlertConfigurationError(f"must not contain control characters, got {value!r}", key=key)
    header: Any = None
    try:
        header = email.policy.default.header_factory("To", value.strip())
        addresses: Tuple[Address, ...] = header.addresses
        groups = header.groups
    except (ValueError, IndexError, TypeError):
        addresses, groups = (), ()
    # A non-ASCII local part (josé@...) is one address; delivering it needs a
    # server that offers SMTPUTF8, which the SMTP transport says when it does not.
    defects = [d for d in getattr(header, "defects", ()) if type(d).__name__ != "NonASCIILocalPartDefect"]
    if len(addresses) != 1 or len(groups) != 1 or groups[0].display_name is not None or defects:
        raise AlertConfigurationError(f"must be one email address, got {value!r}", key=key)
    address = addresses[0]
    if not address.username or not address.domain or any(c.isspace() for c in address.addr_spec):
        raise AlertConfigurationError(f"must be an address like name@example.com, got {value!r}", key=key)
    return address


def _parse_recipients(value: Union[str, Sequence[str]]) -> Tuple["Address", ...]:
    items: List[str]
    if isinstance(value, str) and ";" in value:
        raise AlertConfigurationError(
            f"separate addresses with commas, or use a list (recipients: [a@example.com, b@example.com]);"
            f" got {value!r}",
            key="recipients",
        )
    if isinstance(value, str):
        items = [part for part in value.split(",") if part.strip()]
    elif isinstance(value, Sequence):
        items = list(value)
    else:
        raise AlertConfigurationError(
            f"must be an address or a list of them, got {value!r}", key="recipients"
        )
    if not items:
        raise AlertConfigurationError("needs at least one address", key="recipients")
    if len(items) > MAX_RECIPIENTS:
        raise AlertConfigurationError(
            f"too many recipients: {len(items)} (the limit is {MAX_RECIPIENTS})", key="recipients"
        )
    seen: Dict[str, Address] = {}
    for item in items:
        address = parse_address(item, key="recipients")
        seen.setdefault(address.addr_spec.lower(), address)
    return tuple(seen.values())


def _set_body(message: "EmailMessage", body: str) -> None:
    """Set ``body`` as the message's text, quoted-printable unless it is short ASCII lines."""
    plain = not _NON_ASCII.search(body) and max(map(len, body.splitlines())) <= 78
    message.set_content(body, charset="utf-8", cte=None if plain else "quoted-printable")


def _one_line(text: str) -> str:
    return _CONTROL.sub(" ", text)


class _EncodedHeader(str):
    """A header value the email package stores and writes as it is.

    The header parser of :data:`email.policy.default` decodes RFC 2047
    encoded words, so a title holding ``=?utf-8?q?x=0D=0ABcc:...?=`` would
    come out as a second header line. An object with ``name`` and ``fold``
    bypasses that parser (the policy's documented hook for header objects):
    the text is written as base64 encoded words that a reader decodes back
    to exactly the text, encoded words included, as plain characters.
    """

    name: str

    def fold(self, *, policy: Any) -> str:
        import base64

        words: List[str] = []
        chunk: List[str] = []
        size = 0
        for char in str(self):
            width = len(char.encode("utf-8"))
            if size + width > _WORD_BYTES and chunk:
                words.append("".join(chunk))
                chunk, size = [], 0
            chunk.append(char)
            size += width
        words.append("".join(chunk))
        encoded = [
            "=?utf-8?b?" + base64.b64encode(word.encode("utf-8")).decode("ascii") + "?=" for word in words
        ]
        linesep: str = policy.linesep
        return f"{self.name}: " + (linesep + " ").join(encoded) + linesep


_WORD_BYTES = 45  # 60 base64 characters: an encoded word stays under 75 (RFC 2047)


def _inert_header(name: str, text: str) -> str:
    """``text`` (already one line) as a value that cannot add header structure."""
    if not _NON_ASCII.search(text) and "=?" not in text:
        return text
    value = _EncodedHeader(text)
    value.name = name
    return value


_KSTLIB_TRANSPORT_KEYS = _SMTP_KEYS | _RESEND_KEYS | {"type", "use_tls", "credentials"}


def _flat_transport(config: Mapping[str, Any]) -> Mapping[str, Any]:
    """kstlib's ``transport: {type: smtp, host: ..., use_tls: true}`` as flat keys.

    ``use_tls`` (STARTTLS in kstlib) becomes ``security: starttls`` or
    ``none``; a key set both inside and outside ``transport`` is an error.
    """

    nested = config.get("transport")
    if not isinstance(nested, Mapping):
        return config
    flat = {key: value for key, value in config.items() if key != "transport"}
    flat["transport"] = nested.get("type", "smtp")
    for key, value in nested.items():
        if key not in _KSTLIB_TRANSPORT_KEYS:
            raise AlertConfigurationError(
                f"unknown key{suggest(str(key), _KSTLIB_TRANSPORT_KEYS)}", key=f"transport.{key}"
            )
        if key == "type":
            continue
        if key == "use_tls":
            if not isinstance(value, bool):
                raise AlertConfigurationError("must be true or false", key="transport.use_tls")
            key, value = "security", "starttls" if value else "none"
        if flat.get(key) is not None:
            raise AlertConfigurationError("set both here and in 'transport:'; keep one", key=key)
        flat[key] = value
    return flat


def _kind_of(value: object) -> str:
    """A value's kind in words, for errors that must not show the value."""
    if isinstance(value, Mapping):
        return "mapping"
    if isinstance(value, (list, tuple)):
        return "list"
    return type(value).__name__


def _reject(config: Mapping[str, Any], keys: FrozenSet[str], kind: str) -> None:
    for key in sorted(keys):
        if config.get(key) is not None:
            raise AlertConfigurationError(f"is not a setting of the {kind} transport", key=key)
