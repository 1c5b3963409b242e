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

from .._lazy import TYPE_CHECKING
from .._secret import Secret, mask_url
from .._text import cut_bytes
from .._typing import Any, Dict, List, Mapping, Optional, Union
from ..exceptions import AlertDeliveryError
from ..models import AlertLevel, AlertMessage
from ..net.url import URLRule, check_url
from ..pipeline.notification import Notification
from ._jsonhttp import HTTPChannel, encode_json, iso_time, service_text, status_error
from ._options import TRANSPORT, Option

if TYPE_CHECKING:
    from ..digest import DigestSummary

__all__ = ()

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
    path=r"/(webhookb2|workflows|powerautomate)/",
)
# Teams refuses messages over about 28 KB (bytes): keep the card's text well under.
_TITLE_BYTES = 1000
_BODY_BYTES = 20000
_HELD_BACK_BYTES = 4000
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
        """The Adaptive Card (version 1.4): title, facts, labels, body.

        Alert text goes in ``TextRun``s, which Teams shows as written (no
        markdown: no link, list or bold can be injected); only the card's own
        words (level, time) are in the ``FactSet``, whose values are markdown.
        """
        facts: List[Dict[str, str]] = [
            {"title": "Level", "value": alert.level.name},
            {"title": "Time", "value": iso_time(alert.created_at)},
        ]
        title = _run(cut_bytes(alert.formatted_title, _TITLE_BYTES), size="Large", weight="Bolder")
        title["color"] = COLOR[alert.level]
        body: List[Dict[str, Any]] = [_rich(title), {"type": "FactSet", "facts": facts}]
        for name, value in alert.labels.items():  # a block each: some clients drop a run's leading "\n"
            body.append(_rich(_run(name, weight="Bolder"), _run(": " + value)))
        if alert.body:
            body.append(_rich(_run(cut_bytes(alert.body, _BODY_BYTES))))
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

    def _build_resolved(self, alert: AlertMessage) -> Any:
        """``RESOLVED:`` in the title, whose block turns green."""
        payload = super()._build_resolved(alert)
        title = payload["attachments"][0]["content"]["body"][0]
        for part in title.get("inlines") or [title]:  # a RichTextBlock's runs, or a TextBlock
            part["color"] = "good"
        return payload

    def _show_digest(self, payload: Any, summary: "DigestSummary") -> Any:
        """What was held back: a last, subtle block of the card."""
        body = payload["attachments"][0]["content"]["body"]
        text = cut_bytes(summary.text(_HELD_BACK_BYTES), _HELD_BACK_BYTES)
        body.append(_rich(_run(text, isSubtle=True)))
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


def _run(text: str, **style: Any) -> Dict[str, Any]:
    """A ``TextRun``: text that Teams shows as written (no markdown)."""
    return {"type": "TextRun", "text": text, **style}


def _rich(*runs: Dict[str, Any]) -> Dict[str, Any]:
    return {"type": "RichTextBlock", "inlines": list(runs)}


def _hidden_error(status: int, shown: str) -> AlertDeliveryError:
    """A failure Teams reported behind HTTP 200, judged by the status in its text."""
    what = "rate limited the request" if status == 429 else "reported a failure"
    return AlertDeliveryError(
        f"Teams {what} (HTTP 200 carrying HTTP error {status}): {shown}",
        retryable=status in (408, 429) or status >= 500,
        status=status,
    )
