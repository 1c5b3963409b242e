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

Mattermost and Rocket.Chat (``service=``) take the same message in the
fields and markdown each documents: their sender fields, no ``mrkdwn_in``,
markdown escaped and ``@`` mentions broken by a zero-width space.

Rules: the webhook URL is a :class:`Secret`; it must be an ``https`` Slack
webhook (for Mattermost and Rocket.Chat: ``https`` on any host with the
path ``/hooks/...``) unless ``allow_custom_url=True`` (a relay, loopback tests). A
malformed URL is an :class:`AlertConfigurationError` naming the field,
never the value.
"""

import json
import types

from .._lazy import TYPE_CHECKING
from .._secret import Secret
from .._text import compiled, cut
from .._typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union
from ..exceptions import AlertConfigurationError, AlertDeliveryError
from ..models import AlertLevel, AlertMessage
from ..net.url import URLRule, check_url
from ..pipeline.notification import Notification
from ._jsonhttp import (
    HTTPChannel,
    add_set,
    json_encoder,
    json_shape,
    json_string,
    secret_parts,
    service_text,
    status_error,
)
from ._options import TRANSPORT, Option
from .base import AlertChannel

if TYPE_CHECKING:
    from ..digest import DigestSummary
    from ..net.http import HTTPResponse  # loaded with the HTTP client, on first delivery

__all__ = ()

#: level -> (attachment colour, emoji)
#: The attachment colour of a resolved alert (Slack's green).
RESOLVED_COLOUR = "#2EB67D"
LEVEL_STYLE: Mapping[AlertLevel, Tuple[str, str]] = {
    AlertLevel.INFO: ("#439FE0", ":information_source:"),
    AlertLevel.SUCCESS: ("#36A64F", ":white_check_mark:"),
    AlertLevel.WARNING: ("#DAA038", ":warning:"),
    AlertLevel.CRITICAL: ("#D00000", ":rotating_light:"),
}
#: Each level's name: an enum's ``name`` is a property, a Python call on every read.
_LEVEL_NAMES = {level: level.name for level in AlertLevel}

_URL = URLRule(
    service="Slack webhook",
    hosts=("hooks.slack.com", "hooks.slack-gov.com"),
    path=r"/(services|workflows|triggers)/.",
)
#: ``json.dumps(payload, ensure_ascii=False)``, built once for every send.
_encode = json_encoder(ensure_ascii=False, separators=(", ", ": "))
_HEADERS = types.MappingProxyType({"Content-Type": "application/json; charset=utf-8"})  # every send's
_PERMANENT = (400, 403, 404, 410)
#: The two sets of markers a payload's shape (:func:`json_shape`) is derived with: title, body,
#: the time (not a whole second: a ``ts`` that kept the fraction would fail the
#: check) and a label (Slack's and the markdown escapes leave them as they are).
_MARKERS = (
    ("kst-title-a", "kst-body-a", 4102444801.25, "kst-label-a"),
    ("kst-title-b", "kst-body-b", 4102444802.75, "kst-label-b"),
)
_SHAPES_MAX = 16  # kinds of alert one channel keeps a shape for (the cache is emptied when full)
_UNSEEN = object()  # no alert of this kind yet
_SEEN = object()  # one: the next derives its shape
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


#: Self-hosted Slack-compatible servers: an ``https`` incoming webhook on any host,
#: path ``/hooks/...`` (Mattermost: ``/hooks/<key>``; Rocket.Chat: ``/hooks/<id>/<token>``).
_HOOKS_URL = URLRule(service="webhook", path=r"/hooks/[^/?#]+", http_only_to_loopback=True)
SERVICES = ("slack", "mattermost", "rocketchat")
_MARKDOWN = r"([\\`*_{}\[\]()#+!|<>~])"  # compiled on first use
#: Attachment fields each self-hosted server's webhook lacks.
_NOT_IN_ATTACHMENTS = {
    "slack": (),
    "mattermost": ("mrkdwn_in", "ts"),
    "rocketchat": ("fallback", "footer", "mrkdwn_in"),
}

#: The payload's names for the sender's name, icon emoji and icon URL, by service.
_SENDER_FIELDS = {
    "slack": ("username", "icon_emoji", "icon_url"),
    "mattermost": ("username", "icon_emoji", "icon_url"),
    "rocketchat": ("alias", "emoji", "avatar"),
}


def escape_markdown(text: str) -> str:
    """Mattermost's and Rocket.Chat's markdown made inert: its characters
    backslash-escaped, and an ``@`` that could start a mention (``@channel``,
    ``@all``, ``@here``, a user) followed by a zero-width space.

    >>> print(escape_markdown("see [x](http://e) *now*"))
    see \\[x\\]\\(http://e\\) \\*now\\*
    >>> escape_markdown("@all") == "@\\u200ball"
    True
    """
    return compiled(_MARKDOWN).sub(r"\\\1", text).replace("@", "@\u200b")


#: How each server's text is made inert: Slack's mrkdwn, the others' markdown.
_ESCAPES = {"slack": escape_mrkdwn, "mattermost": escape_markdown, "rocketchat": escape_markdown}


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
        Option("icon_url", "text", "the sender icon as an image URL (Rocket.Chat: avatar)"),
        Option("channel", "text", "post to this channel instead of the webhook's own"),
        Option("service", "choice", "the server that takes the webhook", default="slack", choices=SERVICES),
        Option("allow_custom_url", "bool", "accept any http(s) URL (a relay, tests)", default=False),
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
        icon_url: Optional[str] = None,
        channel: Optional[str] = None,
        service: str = "slack",
        **options: Any,
    ) -> None:
        super().__init__(name=channel_name if name is None else name, **options)  # channel_name: kstlib's
        if not isinstance(webhook_url, (str, Secret)):
            raise AlertConfigurationError("must be a string", key="webhook_url")
        if service not in SERVICES:
            raise AlertConfigurationError(
                "slack: service must be slack, mattermost or rocketchat", key="service"
            )
        secret = webhook_url if isinstance(webhook_url, Secret) else Secret(webhook_url.strip())
        rule = _URL if service == "slack" else _HOOKS_URL._replace(service=f"{service} webhook")
        check_url(secret, key="webhook_url", rule=rule, allow_custom=bool(allow_custom_url))
        self.webhook_url = secret
        self.username = username
        self.icon_emoji = icon_emoji
        self.icon_url = None if icon_url is None else check_url(icon_url, key="icon_url")
        self.channel = channel
        self.service = service
        self._client = self._http_client(secret, key="webhook_url")
        self._shapes: Dict[Tuple[Any, ...], object] = {}  # kind of alert -> its shape's fill (see _body)

    # -- formatting -------------------------------------------------------
    def build_payload(self, alert: AlertMessage) -> Dict[str, Any]:
        """The webhook's JSON payload for ``alert``; override to change it.

        For Mattermost and Rocket.Chat the same message, in the fields
        and the markdown each documents (see docs/channels.md).
        """
        colour, emoji = LEVEL_STYLE[alert.level]
        level = _LEVEL_NAMES[alert.level]
        title, body = self._texts(alert)
        fallback = f"{emoji} [{level}] {title}"
        attachment: Dict[str, Any] = {
            "color": colour,
            "fallback": fallback,
            "title": f"{emoji} {title}",
            "text": body,
            "footer": f"{level} alert via kstalerts",
            "ts": int(alert.created_at),
        }
        if alert.labels:
            attachment["fields"] = self._label_fields(alert.labels)
        payload: Dict[str, Any] = {"text": fallback, "attachments": [self._for_service(attachment)]}
        if self.service == "slack":
            payload["mrkdwn"] = False  # the fallback text is shown as written
        # the sender and channel options that are set (Rocket.Chat names the sender its own way)
        username_field, emoji_field, icon_field = _SENDER_FIELDS[self.service]
        chosen = {username_field: self.username, emoji_field: self.icon_emoji, icon_field: self.icon_url}
        return add_set(payload, **chosen, channel=self.channel)

    def _texts(self, alert: AlertMessage) -> Tuple[str, str]:
        """The title and the body as shown: made inert for the service, cut to its limits."""
        escape = _ESCAPES[self.service]  # the function itself: one call less per escaped text
        return (
            cut(alert.formatted_title, self.title_limit, escape=escape),
            cut(alert.body, self.text_limit, escape=escape),
        )

    def _label_fields(self, labels: Mapping[str, str]) -> List[Dict[str, Any]]:
        """The attachment's ``fields``: one short field per label."""
        escape = _ESCAPES[self.service]
        return [{"title": escape(k), "value": escape(v), "short": True} for k, v in labels.items()]

    def _build_resolved(self, alert: AlertMessage) -> Any:
        """Green, with a check mark and ``RESOLVED:`` in the title."""
        payload = super()._build_resolved(alert)
        attachments = payload.get("attachments") if isinstance(payload, dict) else None
        if attachments:
            attachment = attachments[0]
            attachment["color"] = RESOLVED_COLOUR
            emoji = LEVEL_STYLE[alert.level][1]
            for field in ("title", "fallback"):  # the level's emoji becomes a check mark
                if isinstance(attachment.get(field), str):
                    attachment[field] = attachment[field].replace(emoji, ":white_check_mark:", 1)
            payload["text"] = attachment.get("fallback", payload.get("text"))
        return payload

    def _escape(self, text: str) -> str:
        return _ESCAPES[self.service](text)

    def _for_service(self, attachment: Dict[str, Any]) -> Dict[str, Any]:
        """``attachment`` without the fields this server's webhook lacks."""
        for field in _NOT_IN_ATTACHMENTS[self.service]:
            attachment.pop(field, None)
        return attachment

    def _show_digest(self, payload: Any, summary: "DigestSummary") -> Any:
        """What was held back: a last, grey attachment."""
        if isinstance(payload, dict) and isinstance(payload.get("attachments"), list):
            digest = summary.text(self.text_limit - 200)
            payload["attachments"].append(
                self._for_service(
                    {
                        "color": "#9E9E9E",
                        "fallback": cut(summary.headline, self.title_limit, escape=self._escape),
                        "text": cut(digest, self.text_limit, escape=self._escape),
                        "footer": "held back by kstalerts",
                    }
                )
            )
        return payload

    def preview(self, alert: AlertMessage) -> str:
        payload = json.dumps(self.build_payload(alert), indent=2, ensure_ascii=False)
        return f"POST {self.webhook_url}\n{payload}"

    # -- delivery ---------------------------------------------------------
    def _transmit(self, notification: Notification, *, timeout: float) -> Optional[str]:
        body = self._body(notification).encode("utf-8")
        response = self._client.post(body, headers=_HEADERS, timeout=timeout)
        self.check_response(response)
        return None  # incoming webhooks give no message id

    def _body(self, notification: Notification) -> str:
        """The request's JSON: :meth:`render`'s payload, encoded; a plain alert
        of a kind seen before, filled into the payload's shape (:func:`json_shape`)."""
        alert = notification.alert
        cls = type(self)
        if notification.plain and cls.build_payload is _BUILD and cls.render is _RENDER:
            key = (alert.level, not alert.labels, self.service, self.username, self.icon_emoji,
                   self.icon_url, self.channel)  # fmt: skip
            fill = self._shapes.get(key, _UNSEEN)
            if fill is _UNSEEN:  # the first of its kind is encoded below; the next derives its shape
                if len(self._shapes) >= _SHAPES_MAX:
                    self._shapes.clear()
                self._shapes[key] = _SEEN
            elif fill is _SEEN:
                fill = self._shapes[key] = self._shape(alert)
            if callable(fill):
                text: str = fill(*self._in_holes(alert))
                return text
        return _encode(self.render(notification))

    def _in_holes(self, alert: AlertMessage) -> Tuple[str, ...]:
        """What of ``alert`` fills a shape's holes, as it stands in the payload's JSON
        text: the title and body (between quotes), the time, the labels' ``fields``."""
        title, body = self._texts(alert)
        fields = _encode(self._label_fields(alert.labels)) if alert.labels else ""
        return (json_string(title)[1:-1], json_string(body)[1:-1], str(int(alert.created_at)), fields)

    def _shape(self, alert: AlertMessage) -> Optional[Callable[..., str]]:
        """The fill of this channel's payload's shape for alerts like ``alert`` (its
        level, labels or none), from two probes built by :meth:`build_payload`; each
        probe's markers stand in its text as :meth:`_in_holes` writes them."""
        probes = []
        for title, body, stamp, label in _MARKERS:
            labels = {label: label} if alert.labels else None
            probe = AlertMessage(title, body, alert.level, labels=labels, created_at=stamp)
            probes.append((_encode(self.build_payload(probe)), self._in_holes(probe)))
        (text, holes), (check, check_holes) = probes
        return json_shape(text, holes, check, check_holes)

    def check_response(self, response: "HTTPResponse") -> None:
        """Raise the :class:`AlertDeliveryError` a Slack answer means, if any."""
        status = response.status
        if status == 200 and response.body == b"ok":
            return  # the answer to nearly every alert: nothing to decode or mask
        said = service_text(response.body, hide=secret_parts(self.webhook_url))
        if status == 200:
            data = response.json()
            accepted = isinstance(data, dict) and (data.get("ok") is True or data.get("success") is True)
            if said == "ok" or accepted:
                return  # workflow webhooks answer {"ok": true}, Rocket.Chat {"success": true}
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


#: The payload hooks a shape stands for: a subclass that overrides
#: either has its payload built and encoded on every send.
_BUILD = SlackChannel.build_payload
_RENDER = AlertChannel.render
