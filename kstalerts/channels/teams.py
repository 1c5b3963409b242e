"""TeamsChannel: post alerts to a Microsoft Teams channel as an Adaptive Card.

The payload is a ``message`` with one Adaptive Card attachment, the form
both kinds of Teams webhook accept: a Power Automate / Workflows URL
(``*.logic.azure.com``, ``*.environment.api.powerplatform.com``) and a
legacy Office 365 connector URL (``*.webhook.office.com``).

Rules: the webhook URL is a secret (it holds a signature): it is masked in
every repr, preview and error. A connector reports failures, rate limiting
included, behind an HTTP 200 whose body reads ``Webhook message delivery
failed with error: Microsoft Teams endpoint returned HTTP error 429 ...``;
the channel reads that text and treats the embedded status as the real one
(429 and 5xx retried). A workflow answers 202, and 429 with ``Retry-After``.
"""

import json
import re
from typing import Any, Dict, List, Mapping, Optional, Union

from .._secret import Secret, mask_url
from .._url import URLRule, check_url
from ..exceptions import AlertDeliveryError
from ..models import AlertLevel, AlertMessage
from ..pipeline.notification import Notification
from ._jsonhttp import HTTPChannel, encode_json, iso_time, service_text, status_error, truncate
from ._options import TRANSPORT, Option

__all__ = ("TeamsChannel",)

#: Adaptive Card ``TextBlock`` colour of the title for each level.
COLOR: Mapping[AlertLevel, str] = {
    AlertLevel.INFO: "accent",
    AlertLevel.SUCCESS: "good",
    AlertLevel.WARNING: "warning",
    AlertLevel.CRITICAL: "attention",
}

_URL = URLRule(
    service="Teams webhook",
    hosts=(".webhook.office.com", ".logic.azure.com", ".environment.api.powerplatform.com"),
    path=re.compile(r"/(webhookb2|workflows|powerautomate)/"),
)
# Teams refuses messages over about 28 KB; keep the card's text well under.
_TITLE_CHARS = 1000
_BODY_CHARS = 20000
_HELD_BACK_CHARS = 4000
_FAILED = re.compile(r"delivery failed.*?HTTP error (\d{3})", re.IGNORECASE | re.DOTALL)


class TeamsChannel(HTTPChannel):
    """Post to a Teams incoming webhook or workflow URL.

    ``allow_custom_url`` lifts the host check (a relay, a test server).
    ``ssl_verify``, ``ssl_ca_bundle``, ``proxy`` go to the HTTP client.
    """

    kind = "teams"
    options = (
        Option("webhook_url", "text", "the Workflows webhook URL", secret=True, required=True, url=_URL),
        Option("allow_custom_url", "bool", "accept any http(s) URL (a relay, a test server)", default=False),
        *TRANSPORT,
    )

    def __init__(
        self,
        webhook_url: Union[str, Secret],
        *,
        allow_custom_url: bool = False,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        url = check_url(webhook_url, key="webhook_url", rule=_URL, allow_custom=allow_custom_url)
        self._url = Secret(url)
        self._client = self._http_client(self._url, key="webhook_url")

    # -- payload ------------------------------------------------------------
    def build_card(self, alert: AlertMessage) -> Dict[str, Any]:
        """The Adaptive Card (version 1.4): title, facts, body."""
        facts: List[Dict[str, str]] = [
            {"title": "Level", "value": alert.level.name},
            {"title": "Time", "value": iso_time(alert.created_at)},
        ]
        facts.extend({"title": name, "value": value} for name, value in alert.labels.items())
        body: List[Dict[str, Any]] = [
            {
                "type": "TextBlock",
                "text": truncate(alert.formatted_title, _TITLE_CHARS),
                "size": "Large",
                "weight": "Bolder",
                "color": COLOR[alert.level],
                "wrap": True,
            },
            {"type": "FactSet", "facts": facts},
        ]
        if alert.body:
            body.append({"type": "TextBlock", "text": truncate(alert.body, _BODY_CHARS), "wrap": True})
        return {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": body,
            "msteams": {"width": "Full"},
        }

    def build_payload(self, alert: AlertMessage) -> Dict[str, Any]:
        """A ``message`` with the card as its one attachment."""
        return {
            "type": "message",
            "attachments": [
                {
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "contentUrl": None,
                    "content": self.build_card(alert),
                }
            ],
        }

    def render(self, notification: Notification) -> Dict[str, Any]:
        """:meth:`build_payload`, and what was held back as a last, subtle block of the card."""
        payload = self.build_payload(notification.alert)
        held_back = notification.held_back
        if held_back is not None:
            body = payload["attachments"][0]["content"]["body"]
            text = held_back.text(_HELD_BACK_CHARS).replace("\n", "\n\n")  # one paragraph per line
            body.append({"type": "TextBlock", "text": text, "wrap": True, "isSubtle": True})
        return payload

    def preview(self, alert: AlertMessage) -> str:
        return f"POST {self._url}\n{json.dumps(self.build_payload(alert), indent=2, ensure_ascii=False)}"

    # -- delivery -------------------------------------------------------------
    def _transmit(self, notification: Notification, *, timeout: float) -> Optional[str]:
        response = self._client.post(
            encode_json(self.render(notification)),
            headers={"Content-Type": "application/json"},
            timeout=timeout,
        )
        hide = [self._url.reveal()]
        if 200 <= response.status < 300:
            text = response.body.decode("utf-8", "replace")
            failed = _FAILED.search(text)
            if failed is None:
                return None
            shown = service_text(text.split(" with ContextId")[0], hide=hide)
            raise _hidden_error(int(failed.group(1)), shown)
        answer = response.json()
        detail: Union[str, bytes] = response.body
        if isinstance(answer, dict) and isinstance(answer.get("error"), dict):  # a workflow's error
            detail = str(answer["error"].get("message") or answer["error"].get("code") or "")
        raise status_error("Teams", response, service_text(detail, hide=hide))

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, url={mask_url(self._url.reveal())!r})"


def _hidden_error(status: int, shown: str) -> AlertDeliveryError:
    """A failure Teams reported behind HTTP 200, judged by the status in its text."""
    what = "rate limited the request" if status == 429 else "reported a failure"
    return AlertDeliveryError(
        f"Teams {what} (HTTP 200 carrying HTTP error {status}): {shown}",
        retryable=status in (408, 429) or status >= 500,
        status=status,
    )
