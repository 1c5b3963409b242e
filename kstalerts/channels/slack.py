"""SlackChannel: alerts to a Slack incoming webhook.

The payload is a ``text`` fallback (what notifications show) and one
attachment coloured by level, with the level's emoji in its title, the body
as its text and a footer naming the level. Alert text is shown as written:
Slack's control characters ``&``, ``<`` and ``>`` are escaped, so no
``<!channel>``, ``<@U123>`` or ``<url|text>`` link can be injected, and
mrkdwn is off (``"mrkdwn": false``, no ``mrkdwn_in``), so ``*bold*`` or
``_x_`` is not formatted. The title is cut to 150 characters and the body to
3000, from the middle (:func:`kstalerts._text.cut`).

Slack's answers, as documented for incoming webhooks: ``200 ok`` is success
(a 200 with another body is a failure that quotes it); 400/403/404/410
(``invalid_payload``, ``invalid_token``, ``no_service``,
``channel_not_found``, ``channel_is_archived``...) are permanent; 429 waits
for ``Retry-After``; 5xx, timeouts, resets and refused connections are
retried by the base class's policy.

Rules: the webhook URL is a :class:`Secret`; it must be an ``https`` Slack
webhook unless ``allow_custom_url=True`` (Mattermost, loopback tests). A
malformed URL is an :class:`AlertConfigurationError` naming the field,
never the value.
"""

import json
import re
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Tuple, Union

from .._secret import Secret
from .._text import cut
from .._url import URLRule, check_url
from ..exceptions import AlertConfigurationError, AlertDeliveryError
from ..models import AlertLevel, AlertMessage
from ..pipeline.notification import Notification
from ._jsonhttp import (
    HTTPChannel,
    service_text,
    status_error,
)
from ._options import TRANSPORT, Option
from .webhook import secret_parts

if TYPE_CHECKING:
    from ..digest import DigestSummary
    from ..http import HTTPResponse  # loaded with the HTTP client, on first delivery

__all__ = ()

#: level -> (attachment colour, emoji)
LEVEL_STYLE: Mapping[AlertLevel, Tuple[str, str]] = {
    AlertLevel.INFO: ("#439FE0", ":information_source:"),
    AlertLevel.SUCCESS: ("#36A64F", ":white_check_mark:"),
    AlertLevel.WARNING: ("#DAA038", ":warning:"),
    AlertLevel.CRITICAL: ("#D00000", ":rotating_light:"),
}

_URL = URLRule(
    service="Slack webhook",
    hosts=("hooks.slack.com", "hooks.slack-gov.com"),
    path=re.compile(r"/(services|workflows|triggers)/."),
)
_PERMANENT = (400, 403, 404, 410)
_HINTS = {
    "invalid_payload": "the message was malformed",
    "invalid_token": "the webhook's token is not valid: create a new webhook",
    "no_service": "the webhook is disabled, revoked or mistyped: create a new webhook",
    "no_service_id": "the webhook URL is incomplete",
    "no_team": "the workspace in the webhook URL does not exist",
    "team_disabled": "the workspace is disabled",
    "channel_not_found": "the channel does not exist or the webhook cannot post to it",
    "channel_is_archived": "the channel is archived",
    "action_prohibited": "a workspace admin has restricted posting to this channel",
    "posting_to_general_channel_denied": "only admins may post to this channel",
    "user_not_found": "the user does not exist",
    "too_many_attachments": "the message has too many attachments",
}


def escape_mrkdwn(text: str) -> str:
    """Escape Slack's control characters: ``&``, ``<``, ``>``.

    >>> escape_mrkdwn("<!channel> R&D > ops")
    '&lt;!channel&gt; R&amp;D &gt; ops'
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SlackChannel(HTTPChannel):
    """Deliver alerts to a Slack incoming webhook.

    - ``webhook_url``: the webhook (a string or :class:`Secret`).
    - ``username``, ``icon_emoji``: the sender shown (classic webhooks honour
      them; app webhooks use the app's identity).
    - ``allow_custom_url``: accept any ``http(s)`` URL, for Slack-compatible
      servers (Mattermost, a loopback test server).
    - ``timeout``, ``max_retries``, ``retry``, and the transport options
      (``ssl_verify``, ``ssl_ca_bundle``, ``proxy``): see the base classes.
    """

    kind = "slack"
    options = (
        Option("webhook_url", "text", "the incoming webhook URL", secret=True, required=True, url=_URL),
        Option("username", "text", "the sender name shown (classic webhooks)", default="kstalerts"),
        Option("icon_emoji", "text", "the sender icon shown (classic webhooks)", default=":bell:"),
        Option("allow_custom_url", "bool", "accept any http(s) URL (Mattermost, tests)", default=False),
        *TRANSPORT,
    )
    #: Slack shows at most this much of a title / body; longer is cut from the middle.
    title_limit = 150
    text_limit = 3000

    def __init__(
        self,
        webhook_url: Union[str, Secret],
        *,
        username: Optional[str] = "kstalerts",
        icon_emoji: Optional[str] = ":bell:",
        name: Optional[str] = None,
        allow_custom_url: bool = False,
        channel_name: Optional[str] = None,
        **options: Any,
    ) -> None:
        super().__init__(name=channel_name if name is None else name, **options)  # channel_name: kstlib's
        if not isinstance(webhook_url, (str, Secret)):
            raise AlertConfigurationError("must be a string", key="webhook_url")
        secret = webhook_url if isinstance(webhook_url, Secret) else Secret(webhook_url.strip())
        check_url(secret, key="webhook_url", rule=_URL, allow_custom=bool(allow_custom_url))
        self.webhook_url = secret
        self.username = username
        self.icon_emoji = icon_emoji
        self._client = self._http_client(secret, key="webhook_url")

    # -- formatting -------------------------------------------------------
    def build_payload(self, alert: AlertMessage) -> Dict[str, Any]:
        """The webhook's JSON payload for ``alert``; override to change it."""
        colour, emoji = LEVEL_STYLE[alert.level]
        title = cut(alert.formatted_title, self.title_limit, escape=escape_mrkdwn)
        body = cut(alert.body, self.text_limit, escape=escape_mrkdwn)
        fallback = f"{emoji} [{alert.level.name}] {title}"
        attachment: Dict[str, Any] = {
            "color": colour,
            "fallback": fallback,
            "title": f"{emoji} {title}",
            "text": body,
            "footer": f"{alert.level.name} alert via kstalerts",
            "ts": int(alert.created_at),
        }
        if alert.labels:
            fields: List[Dict[str, Any]] = [
                {"title": escape_mrkdwn(k), "value": escape_mrkdwn(v), "short": True}
                for k, v in alert.labels.items()
            ]
            attachment["fields"] = fields
        payload: Dict[str, Any] = {"text": fallback, "mrkdwn": False, "attachments": [attachment]}
        if self.username:
            payload["username"] = self.username
        if self.icon_emoji:
            payload["icon_emoji"] = self.icon_emoji
        return payload

    def _show_digest(self, payload: Any, summary: "DigestSummary") -> Any:
        """What was held back: a last, grey attachment."""
        if isinstance(payload, dict) and isinstance(payload.get("attachments"), list):
            payload["attachments"].append(
                {
                    "color": "#9E9E9E",
                    "fallback": cut(summary.headline, self.title_limit, escape=escape_mrkdwn),
                    "text": cut(summary.text(self.text_limit - 200), self.text_limit, escape=escape_mrkdwn),
                    "footer": "held back by kstalerts",
                }
            )
        return payload

    def preview(self, alert: AlertMessage) -> str:
        payload = json.dumps(self.build_payload(alert), indent=2, ensure_ascii=False)
        return f"POST {self.webhook_url}\n{payload}"

    # -- delivery ---------------------------------------------------------
    def _transmit(self, notification: Notification, *, timeout: float) -> Optional[str]:
        payload = self.render(notification)
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        response = self._client.post(
            body, headers={"Content-Type": "application/json; charset=utf-8"}, timeout=timeout
        )
        self.check_response(response)
        return None  # incoming webhooks give no message id

    def check_response(self, response: "HTTPResponse") -> None:
        """Raise the :class:`AlertDeliveryError` a Slack answer means, if any."""
        status = response.status
        if status == 200 and response.body == b"ok":
            return  # the answer to nearly every alert: nothing to decode or mask
        said = service_text(response.body, hide=secret_parts(self.webhook_url))
        if status == 200:
            data = response.json()
            if said == "ok" or (isinstance(data, dict) and data.get("ok") is True):
                return  # workflow webhooks answer {"ok": true}
            raise AlertDeliveryError(
                f"Slack answered 200 but not 'ok': {said!r}"
                if said
                else "Slack answered 200 with an empty body",
                status=status,
            )
        if status in _PERMANENT:
            hint = _HINTS.get(said)
            text = f"Slack rejected the alert ({status} {said})".replace(" )", ")")
            raise AlertDeliveryError(f"{text}: {hint}" if hint else text, status=status)
        raise status_error("Slack", response, said)

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, webhook_url={str(self.webhook_url)!r})"
