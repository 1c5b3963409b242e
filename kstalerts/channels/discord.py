"""DiscordChannel: post alerts to a Discord channel through a webhook.

Each alert is one embed, coloured by level, with the labels as fields. The
message always carries ``allowed_mentions: {"parse": []}``, so no alert
text, whoever wrote it, can ping ``@everyone``, a role or a user; and every
markdown sign in alert text is escaped (:func:`escape_markdown`), so it
shows as written: no masked link, mention, emphasis or spoiler is injected. The
webhook is called with ``?wait=true``, so Discord answers with the message
and its id becomes the result's ``message_id``.

Rules: the webhook URL is a secret (its last segment is the token) and is
masked everywhere. Discord's rate limits are respected: a 429 waits the
``retry_after`` of its JSON body (seconds, a float), else
``X-RateLimit-Reset-After``, else ``Retry-After``; and when an answer says
the bucket is empty (``X-RateLimit-Remaining: 0``), the next send first
waits ``X-RateLimit-Reset-After`` instead of earning a 429. Every wait is
capped by the retry policy and ``MAX_RETRY_AFTER``.
"""

import json
import math
import re
import threading
import urllib.parse

from .. import _lifecycle
from .._lazy import TYPE_CHECKING
from .._secret import Secret, mask_url
from .._text import cut
from .._typing import Any, Dict, List, Mapping, Optional, Union
from ..exceptions import AlertDeliveryError
from ..limits import MAX_RETRY_AFTER
from ..models import AlertLevel, AlertMessage
from ..net.url import URLRule, check_url
from ..pipeline.notification import Notification
from ._jsonhttp import (
    HTTPChannel,
    add_set,
    encode_json,
    iso_time,
    service_text,
    status_error,
)
from ._options import TRANSPORT, Option

if TYPE_CHECKING:
    from ..digest import DigestSummary
    from ..net.http import HTTPResponse

__all__ = ()

#: Embed colour (0xRRGGBB) for each level: blue, green, amber, red.
#: The embed colour of a resolved alert (green).
RESOLVED_COLOR = 0x2ECC71
COLOR: Mapping[AlertLevel, int] = {
    AlertLevel.INFO: 0x3498DB,
    AlertLevel.SUCCESS: 0x2ECC71,
    AlertLevel.WARNING: 0xF39C12,
    AlertLevel.CRITICAL: 0xE74C3C,
}

_URL = URLRule(
    service="Discord webhook",
    hosts=("discord.com", "discordapp.com", "ptb.discord.com", "canary.discord.com"),
    path=r"/api(/v\d+)?/webhooks/\d+/[^/]+/?\Z",
)
# Discord's own embed limits.
_TITLE_CHARS = 256
_DESCRIPTION_CHARS = 4096
_FIELDS = 25
_FIELD_NAME_CHARS = 256
_FIELD_VALUE_CHARS = 1024
_EMBED_CHARS = 6000
_USERNAME_CHARS = 80
# Every markdown sign anywhere, and a list marker at the start of a line
# ("- x", "+ x", "1. x": the dot is escaped, a backslash before a digit is not an escape).
_SIGNS = "\\*_~`|<>[]()#@:"  # the backslash first: the ones added are not escaped again
_LIST_MARKER = re.compile(r"^([ \t]*(?:\d+(?=\.))?)([-+.])(?=\s)", re.MULTILINE)


def escape_markdown(text: str) -> str:
    """``text`` shown as written in a Discord embed: every markdown sign escaped with ``\\``.

    Links (``[x](url)``), mentions (``<@1>``, ``@everyone``), emphasis,
    spoilers, quotes, headings, emoji and list markers stay plain text.

    >>> print(escape_markdown("[Reset](https://x.example) **now** <@123>"))
    \\[Reset\\]\\(https\\://x.example\\) \\*\\*now\\*\\* \\<\\@123\\>
    >>> print(escape_markdown("- item\\n10. step"))
    \\- item
    10\\. step
    """
    for sign in _SIGNS:  # str.replace runs at C speed; str.translate to a string would not
        text = text.replace(sign, "\\" + sign)
    return _LIST_MARKER.sub(r"\1\\\2", text)


class DiscordChannel(HTTPChannel):
    """Post to a Discord webhook (``https://discord.com/api/webhooks/<id>/<token>``).

    ``username`` and ``avatar_url`` override the webhook's defaults.
    ``allow_custom_url`` lifts the host check (a relay, a test server).
    ``ssl_verify``, ``ssl_ca_bundle``, ``proxy`` go to the HTTP client.
    """

    kind = "discord"
    options = (
        Option("webhook_url", "text", "the webhook URL", secret=True, required=True, url=_URL),
        Option("username", "text", "the sender name shown (default: the webhook's)"),
        Option("avatar_url", "text", "the sender avatar shown (default: the webhook's)"),
        Option("allow_custom_url", "bool", "accept any http(s) URL (a relay, a test server)", default=False),
        *TRANSPORT,
    )

    def __init__(
        self,
        webhook_url: Union[str, Secret],
        *,
        username: Optional[str] = None,
        avatar_url: Optional[str] = None,
        allow_custom_url: bool = False,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        url = check_url(webhook_url, key="webhook_url", rule=_URL, allow_custom=allow_custom_url)
        self._url = Secret(url)
        self._token = Secret(urllib.parse.urlsplit(url).path.rstrip("/").rpartition("/")[2], mask="***")
        self.username = cut(username, _USERNAME_CHARS) if username else None
        self.avatar_url = avatar_url
        self._client = self._http_client(Secret(_with_wait(url)), key="webhook_url")
        self._lock = threading.RLock()  # RLock: a signal handler may re-enter (see manager)
        _lifecycle.on_fork(self, _lifecycle.renew_lock)
        self._blocked_until = 0.0  # on self._clock: when the bucket refills

    # -- payload ------------------------------------------------------------
    def build_embed(self, alert: AlertMessage) -> Dict[str, Any]:
        """One embed: title, description, colour, time, labels as fields, all within Discord's limits."""
        embed: Dict[str, Any] = {
            "title": cut(alert.formatted_title, _TITLE_CHARS, escape=escape_markdown),
            "color": COLOR[alert.level],
            "timestamp": iso_time(alert.created_at),
            "footer": {"text": f"{alert.level.name} \u00b7 kstalerts"},
        }
        used = len(embed["title"]) + len(embed["footer"]["text"])
        if alert.body:
            embed["description"] = cut(
                alert.body, min(_DESCRIPTION_CHARS, _EMBED_CHARS - used), escape=escape_markdown
            )
            used += len(embed["description"])
        fields: List[Dict[str, Any]] = []
        for name, value in list(alert.labels.items())[:_FIELDS]:
            field_name = cut(name, _FIELD_NAME_CHARS, escape=escape_markdown) or "-"
            field_value = cut(value, _FIELD_VALUE_CHARS, escape=escape_markdown) or "-"
            if used + len(field_name) + len(field_value) > _EMBED_CHARS:
                break
            used += len(field_name) + len(field_value)
            fields.append({"name": field_name, "value": field_value, "inline": True})
        if fields:
            embed["fields"] = fields
        return embed

    def build_payload(self, alert: AlertMessage) -> Dict[str, Any]:
        """The webhook body; mentions are always disabled."""
        embed = self.build_embed(alert)
        payload: Dict[str, Any] = {"embeds": [embed], "allowed_mentions": {"parse": []}}
        return add_set(payload, username=self.username, avatar_url=self.avatar_url)

    def _build_resolved(self, alert: AlertMessage) -> Any:
        """``RESOLVED:`` in the title of a green embed."""
        payload = super()._build_resolved(alert)
        if payload.get("embeds"):
            payload["embeds"][0]["color"] = RESOLVED_COLOR
        return payload

    def _show_digest(self, payload: Any, summary: "DigestSummary") -> Any:
        """What was held back: the embed's last field, if it fits."""
        embeds = payload.get("embeds")
        if embeds:
            embed = embeds[0]
            fields = embed.get("fields", [])
            used = len(embed.get("title", "")) + len(embed.get("footer", {}).get("text", ""))
            used += len(embed.get("description", "")) + sum(len(f["name"]) + len(f["value"]) for f in fields)
            name = "Held back"
            room = min(_FIELD_VALUE_CHARS, _EMBED_CHARS - used - len(name))
            if room >= 100:
                del fields[_FIELDS - 1 :]
                value = cut(summary.text(room), room, escape=escape_markdown)
                fields.append({"name": name, "value": value, "inline": False})
                embed["fields"] = fields
        return payload

    def preview(self, alert: AlertMessage) -> str:
        return f"POST {self._url}\n{json.dumps(self.build_payload(alert), indent=2, ensure_ascii=False)}"

    # -- delivery -------------------------------------------------------------
    def _transmit(self, notification: Notification, *, timeout: float) -> Optional[str]:
        body = encode_json(self.render(notification))
        with self._lock:
            wait = self._blocked_until - self._clock()
        if wait > 0:
            if wait >= timeout:
                raise AlertDeliveryError(
                    f"Discord rate-limit bucket is empty; it refills in {wait:.2f}s",
                    retryable=True,
                    retry_after=wait,
                )
            self._sleep(wait)  # the bucket said it is empty: wait rather than earn a 429
            timeout -= wait
        response = self._client.post(body, headers={"Content-Type": "application/json"}, timeout=timeout)
        self._note_bucket(response)
        answer = response.json()
        if 200 <= response.status < 300:
            if isinstance(answer, dict) and isinstance(answer.get("id"), str):
                return str(answer["id"])
            return None
        raise self._error(response, answer)

    def _note_bucket(self, response: "HTTPResponse") -> None:
        """Remember when an exhausted bucket refills (``X-RateLimit-*``)."""
        if response.status != 429 and response.headers.get("x-ratelimit-remaining", "").strip() != "0":
            return
        reset_after = _seconds(response.headers.get("x-ratelimit-reset-after"))
        if response.status == 429:
            reset_after = _seconds(_field(response.json(), "retry_after")) or reset_after
        if reset_after is not None:
            reset_after = min(reset_after, self.retry.max_retry_after)  # the policy caps every wait
            with self._lock:
                self._blocked_until = max(self._blocked_until, self._clock() + reset_after)

    def _error(self, response: "HTTPResponse", answer: Any) -> AlertDeliveryError:
        hide = [self._url.reveal(), self._token.reveal()]
        if response.status == 429:
            retry_after = (
                _seconds(_field(answer, "retry_after"))
                or _seconds(response.headers.get("x-ratelimit-reset-after"))
                or _seconds(response.headers.get("retry-after"))
            )
            scope = (
                "global"
                if _field(answer, "global") is True
                else response.headers.get("x-ratelimit-scope", "")
            )
            detail = str(_field(answer, "message") or "") + (f" (scope: {scope})" if scope else "")
            return status_error("Discord", response, service_text(detail, hide=hide), retry_after=retry_after)
        detail_text: Union[str, bytes] = response.body
        if isinstance(answer, dict) and "message" in answer:
            detail_text = str(answer["message"])
            if answer.get("code"):
                detail_text += f" (code {answer['code']})"
            if isinstance(answer.get("errors"), dict):
                detail_text += ": " + json.dumps(answer["errors"], separators=(",", ":"))
        return status_error("Discord", response, service_text(detail_text, hide=hide))

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, url={mask_url(self._url.reveal())!r})"


def _with_wait(url: str) -> str:
    """``url`` with ``wait=true`` in its query, so Discord returns the message."""
    parts = urllib.parse.urlsplit(url)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True) if k != "wait"]
    query.append(("wait", "true"))
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def _field(answer: Any, name: str) -> Any:
    return answer.get(name) if isinstance(answer, dict) else None


def _seconds(value: Any) -> Optional[float]:
    """A wait in seconds from a header or JSON value; ``None`` if unusable. Capped."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError, OverflowError):  # "soon", 400 digits
        return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return min(seconds, MAX_RETRY_AFTER)
