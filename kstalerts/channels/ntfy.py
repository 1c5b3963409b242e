"""NtfyChannel: alerts to a (self-hosted) ntfy server, as push notifications.

``POST <server>/<topic>`` with the message as a plain-text UTF-8 body
(title, body, digest; at most ``MESSAGE_BYTES``, cut from the middle) and
ntfy's headers: ``Title``, ``Priority`` (CRITICAL 5 ``urgent``, WARNING 4
``high``, SUCCESS and INFO 3 ``default``) and ``Tags`` (the level's emoji
shortcode, then the channel's ``tags``). The secret, when the topic needs
one, is an access token (``Authorization: Bearer``) or, with
``auth: basic``, ``user:password``. ntfy answers the message as JSON; its
``id`` is the result's message id.

Rules: header values are inert: the title is one line of printable text,
and one with non-ASCII characters is sent as an RFC 2047 encoded word
(``=?UTF-8?B?...?=``), which ntfy decodes; no ``Markdown`` header is sent,
so ntfy shows the body as plain text. The URL (the topic may be a secret
on a public server) and the secret never reach a repr, log or error.
"""

import base64
import re

from .._secret import Secret
from .._text import cut, cut_bytes, one_line
from .._typing import Any, Dict, Optional, Sequence, Tuple, Union
from ..exceptions import AlertConfigurationError
from ..models import AlertLevel, AlertMessage
from ..net.url import URLRule
from ..pipeline.notification import Notification
from ._jsonhttp import HTTPChannel, secret_parts, service_text, status_error
from ._local import plain_text, resolved_alert, title_line
from ._options import TRANSPORT, Option

__all__ = ()

#: level -> (Priority, the Tags emoji shortcode)
LEVEL_STYLE = {
    AlertLevel.CRITICAL: ("5", "rotating_light"),
    AlertLevel.WARNING: ("4", "warning"),
    AlertLevel.SUCCESS: ("3", "white_check_mark"),
    AlertLevel.INFO: ("3", "information_source"),
}
#: A resolved message's priority (low) and tag.
RESOLVED_STYLE = ("2", "white_check_mark")
#: ntfy's default message size limit; a larger one becomes an attachment.
MESSAGE_BYTES = 4096
TITLE_CHARS = 250
_URL = URLRule(service="ntfy topic", query=False, userinfo=False, http_only_to_loopback=True)
_TAG = re.compile(r"^[A-Za-z0-9_+\-]{1,64}$")


def header_text(text: str) -> str:
    """``text`` as an inert header value: one line; an RFC 2047 word when not ASCII.

    >>> header_text("Disk\\r\\nX-Evil: 1"), header_text("Caf\\u00e9")
    ('Disk X-Evil: 1', '=?UTF-8?B?Q2Fmw6k=?=')
    """
    line = one_line(text, limit=len(text) + 1)
    if all(32 <= ord(c) < 127 for c in line):
        return line
    return "=?UTF-8?B?" + base64.b64encode(line.encode("utf-8")).decode("ascii") + "?="


class NtfyChannel(HTTPChannel):
    """Publish alerts to an ntfy topic.

    - ``url``: the topic's URL, ``https://ntfy.example/alerts``.
    - ``token``: an access token, or ``user:password`` with ``auth="basic"``.
    - ``tags``: shortcodes added after the level's.
    """

    kind = "ntfy"
    options = (
        Option("url", "text", "the topic URL (server and topic)", required=True, url=_URL),
        Option("token", "text", "an access token, or user:password with auth: basic", secret=True),
        Option("auth", "choice", "how the token is sent", default="bearer", choices=("bearer", "basic")),
        Option("tags", "any", "tags (emoji shortcodes) added to every message"),
        *TRANSPORT,
    )

    def __init__(
        self,
        url: Union[str, Secret],
        *,
        token: Union[str, Secret, None] = None,
        auth: str = "bearer",
        tags: Optional[Sequence[str]] = None,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        from ..net.url import check_url

        secret_url = url if isinstance(url, Secret) else Secret(str(url).strip())
        check_url(secret_url, key="url", rule=_URL)
        self.url = secret_url
        if auth not in ("bearer", "basic"):
            raise AlertConfigurationError("ntfy: auth must be bearer or basic", key="auth")
        self._authorization = _authorization(token, auth)
        tags = list(tags or ())
        if not all(isinstance(t, str) and _TAG.match(t) for t in tags):
            raise AlertConfigurationError(
                "ntfy: tags must be a list of short words (letters, digits, _+-)", key="tags"
            )
        self.tags = tuple(tags)
        self._client = self._http_client(secret_url)

    # -- formatting -------------------------------------------------------
    def render(self, notification: Notification) -> Tuple[Dict[str, str], bytes]:
        """The headers (without the secret) and the body for ``alert``; override to change them."""
        alert, held_back = notification.alert, notification.held_back
        priority, tag = LEVEL_STYLE[alert.level]
        if notification.state == "resolved":
            alert, (priority, tag) = resolved_alert(alert), RESOLVED_STYLE
        title = cut(title_line(alert), TITLE_CHARS)
        headers = {
            "Content-Type": "text/plain; charset=utf-8",
            "Title": header_text(title),
            "Priority": priority,
            "Tags": ",".join((tag, *self.tags)),
        }
        text = plain_text(alert, held_back).partition("\n")[2].lstrip("\n") or title  # title: its header
        return headers, cut_bytes(text, MESSAGE_BYTES).encode("utf-8")

    def preview(self, alert: AlertMessage) -> str:
        headers, body = self.render(Notification(alert))
        head = "\n".join(f"{k}: {v}" for k, v in headers.items())
        return f"POST {self.url}\n{head}\n\n{body.decode('utf-8', 'replace')}"

    # -- delivery ---------------------------------------------------------
    def _transmit(self, notification: Notification, *, timeout: float) -> Optional[str]:
        headers, body = self.render(notification)
        if self._authorization is not None:
            headers["Authorization"] = self._authorization.reveal()
        response = self._client.post(body, headers=headers, timeout=timeout)
        if not 200 <= response.status < 300:
            hide = secret_parts(self.url) + ((self._authorization.reveal(),) if self._authorization else ())
            raise status_error("ntfy", response, service_text(response.body, hide=hide))
        data = response.json()
        message_id = data.get("id") if isinstance(data, dict) else None
        return message_id if isinstance(message_id, str) else None

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, url={str(self.url)!r})"


def _authorization(token: Union[str, Secret, None], auth: str) -> Optional[Secret]:
    if token is None:
        return None
    value = token.reveal() if isinstance(token, Secret) else token
    if not isinstance(value, str) or not value.strip() or any(c in value for c in "\r\n"):
        raise AlertConfigurationError("ntfy: the token must be a non-empty line", key="token")
    value = value.strip()
    if auth == "basic":
        if ":" not in value:
            raise AlertConfigurationError("ntfy: with auth: basic the token is user:password", key="token")
        encoded = base64.b64encode(value.encode("utf-8")).decode("ascii")
        return Secret(f"Basic {encoded}", mask="Basic ***")
    return Secret(f"Bearer {value}", mask="Bearer ***")
