"""ResendTransport: one message through the Resend HTTP API.

For hosts with no SMTP relay: the message is posted as JSON to
``{base_url}/emails`` with the API key as a bearer token. Each alert carries
an ``Idempotency-Key`` derived from its Message-ID, so a retry after a lost
response cannot mail it twice. Resend's answers map to the usual shape:
429 and 5xx are retryable (``Retry-After`` or ``ratelimit-reset`` honoured),
400/401/403/404/422 and the rest are permanent. The API key never appears
in a repr, a log line or an error, and it is sent only over HTTPS (plain
HTTP is accepted for a loopback address, for tests and local relays).
"""

import json

from .._lazy import TYPE_CHECKING
from .._log import logger
from .._secret import Secret
from .._typing import Any, Dict, List, Mapping, Optional, Union
from ..exceptions import AlertConfigurationError, AlertDeliveryError
from ..limits import validate
from ..net.url import URLRule, check_url
from ..retry import parse_retry_after
from .base import MailTransport, clean_reply, envelope, flag

if TYPE_CHECKING:
    from email.message import EmailMessage

__all__ = ()

_log = logger("kstalerts.transports.resend")

# https, or plain http to a loopback test server; no user info, query or fragment.
_BASE_URL = URLRule(userinfo=False, query=False, http_only_to_loopback=True)
_MAX_ID_CHARS = 200


class ResendTransport(MailTransport):
    """Send mail with the Resend API (https://resend.com/docs/api-reference).

    - ``api_key``: the ``re_...`` key, a string or a :class:`Secret`.
    - ``base_url``: the API root; ``https://`` (or ``http://`` to a loopback
      address only).
    - ``timeout``: an upper bound on one attempt (hard limit 1..120 s).
    - ``ssl_verify``, ``ssl_ca_bundle``, ``proxy``: as for every HTTP channel.
    """

    kind = "resend"

    def __init__(
        self,
        api_key: Union[str, Secret],
        *,
        base_url: str = "https://api.resend.com",
        timeout: Optional[float] = None,
        ssl_verify: bool = True,
        ssl_ca_bundle: Optional[str] = None,
        proxy: Optional[str] = None,
    ) -> None:
        key = api_key if isinstance(api_key, Secret) else Secret(str(api_key), mask="***")
        if not isinstance(api_key, (str, Secret)) or not key.reveal().strip():
            raise AlertConfigurationError("must be a non-empty string", key="api_key")
        if any(ord(c) < 33 or ord(c) == 127 for c in key.reveal()):
            raise AlertConfigurationError("must not contain spaces or control characters", key="api_key")
        self._api_key = key
        self.base_url = _check_base_url(base_url)
        self.timeout = None if timeout is None else float(validate("channels.timeout", timeout))
        self.ssl_verify = flag(ssl_verify, "ssl_verify")
        self.ssl_ca_bundle = ssl_ca_bundle
        self.proxy = proxy
        from ..net.http import HTTPClient

        self._client = HTTPClient(
            self.base_url + "/emails", ssl_verify=self.ssl_verify, ssl_ca_bundle=ssl_ca_bundle, proxy=proxy
        )

    def describe(self) -> str:
        """``resend <base_url>``."""
        return f"resend {self.base_url}"

    def __repr__(self) -> str:
        return f"ResendTransport(base_url={self.base_url!r}, api_key=***)"

    def close(self) -> None:
        """Close the idle pooled connections (the transport stays usable)."""
        self._client.close()

    # -- the request ------------------------------------------------------
    def build_request(self, message: "EmailMessage") -> Dict[str, Any]:
        """The JSON body Resend expects for ``message`` (no formatting here:
        every field is read from the message as the channel built it)."""
        _, recipients = envelope(message)
        payload: Dict[str, Any] = {
            "from": str(message.get("From", "")),
            "to": _addresses(message, "To") or recipients,
            "subject": str(message.get("Subject", "")),
        }
        for header, field in (("Cc", "cc"), ("Bcc", "bcc"), ("Reply-To", "reply_to")):
            found = _addresses(message, header)
            if found:
                payload[field] = found
        plain = message.get_body(("plain",))
        html = message.get_body(("html",))
        if plain is not None:
            payload["text"] = plain.get_content()
        if html is not None:
            payload["html"] = html.get_content()
        extra = {name: str(value) for name, value in message.items() if name.lower().startswith("x-")}
        if extra:
            payload["headers"] = extra
        return payload

    def send(self, message: "EmailMessage", *, timeout: float) -> Optional[str]:
        """POST the message; return Resend's email id."""
        limit = timeout if self.timeout is None else min(timeout, self.timeout)
        body = json.dumps(self.build_request(message), ensure_ascii=False).encode("utf-8")
        headers = {
            "Authorization": f"Bearer {self._api_key.reveal()}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Idempotency-Key": idempotency_key(message),
        }
        response = self._client.post(body, headers=headers, timeout=limit)
        status = response.status
        data = response.json()
        if 200 <= status < 300:
            email_id = data.get("id") if isinstance(data, dict) else None
            return clean_reply(email_id)[:_MAX_ID_CHARS] if isinstance(email_id, str) and email_id else None
        raise self._error(status, response.headers, data)

    def _error(self, status: int, headers: Mapping[str, str], data: Any) -> AlertDeliveryError:
        name = message = ""
        if isinstance(data, dict):
            name = clean_reply(data.get("name") or "")
            message = clean_reply(data.get("message") or "", secrets=(self._api_key.reveal(),))
        detail = " ".join(p for p in (name and f"({name})", message) if p)
        text = f"Resend answered {status}{' ' + detail if detail else ''}"
        if status == 429:
            wait = parse_retry_after(headers.get("retry-after"))
            if wait is None:
                wait = parse_retry_after(headers.get("ratelimit-reset"))
            return AlertDeliveryError(text, retryable=True, retry_after=wait, status=status)
        retryable = status >= 500 or (status == 409 and name == "concurrent_idempotent_requests")
        return AlertDeliveryError(text, retryable=retryable, status=status)


def idempotency_key(message: "EmailMessage") -> str:
    """A key that is the same for every attempt of one alert.

    Derived from the Message-ID (which the channel derives from the alert),
    else from the subject, recipients and date.
    """
    import uuid

    basis = str(message.get("Message-ID") or "")
    if not basis:
        _, recipients = envelope(message)
        basis = "\n".join([str(message.get("Subject", "")), str(message.get("Date", "")), *recipients])
    return f"kstalerts-{uuid.uuid5(uuid.NAMESPACE_URL, 'kstalerts:' + basis)}"


def _addresses(message: "EmailMessage", header: str) -> List[str]:
    from email.utils import getaddresses

    return [
        addr if not name else f"{name} <{addr}>"
        for name, addr in getaddresses([str(v) for v in message.get_all(header, [])])
        if addr
    ]


def _check_base_url(url: str) -> str:
    return check_url(url, key="base_url", rule=_BASE_URL).rstrip("/")
