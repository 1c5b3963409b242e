"""PagerDutyChannel: page on-call through the PagerDuty Events API v2.

An alert becomes a ``trigger`` event; :meth:`PagerDutyChannel.resolve`
sends the matching ``resolve``. Both carry a dedup key, so PagerDuty folds
repeats of one problem into one incident and a resolve closes it: the key is
:attr:`AlertMessage.dedup_key` when set, else the alert's level and title
(:attr:`AlertMessage.effective_dedup_key`), hashed when longer than
PagerDuty's 255 characters.

Rules: the routing key is a secret. It is added to the event only at the
moment it goes on the wire; :meth:`build_payload` and :meth:`preview` never
hold it. 202 is success (the message id is the dedup key PagerDuty
returns); 429 and 5xx are retried; 400 is permanent and its error text
(PagerDuty's ``message`` and ``errors``) is shown.
"""

import hashlib
import json
import re
import socket

from .._lazy import TYPE_CHECKING
from .._secret import Secret
from .._text import cut
from .._typing import Any, Dict, Mapping, Optional, Union
from ..exceptions import AlertConfigurationError
from ..models import AlertLevel, AlertMessage, AlertResult
from ..net.url import ANY_HTTP, check_url
from ..pipeline.notification import Notification
from ._jsonhttp import HTTPChannel, add_set, encode_json, iso_time, send_resolving, service_text, status_error
from ._options import TRANSPORT, Option

if TYPE_CHECKING:
    from ..digest import DigestSummary

__all__ = ()

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"

#: PagerDuty ``payload.severity`` for each level (the Events API knows no
#: success: a SUCCESS alert is ``info``).
SEVERITY: Mapping[AlertLevel, str] = {
    AlertLevel.INFO: "info",
    AlertLevel.SUCCESS: "info",
    AlertLevel.WARNING: "warning",
    AlertLevel.CRITICAL: "critical",
}

# The Events API's own field limits.
_SUMMARY_CHARS = 1024
_DEDUP_KEY_CHARS = 255
_ROUTING_KEY = re.compile(r"[A-Za-z0-9]{32}\Z")


class PagerDutyChannel(HTTPChannel):
    """Send alerts as PagerDuty Events API v2 events.

    - ``routing_key``: the 32-character integration key (a secret).
    - ``events_url``: the endpoint, ``https://events.pagerduty.com/v2/enqueue``
      by default (``https://events.eu.pagerduty.com/v2/enqueue`` for the EU
      service region, or a relay or test server).
    - ``source``: ``payload.source`` (default: this host's name);
      ``component``, ``group``, ``event_class``: the optional payload fields.
    - ``client``, ``client_url``: shown in PagerDuty as the event's origin.
    - ``resolve``: send every alert as a ``resolve`` (see :meth:`resolve`).

    Levels map to severities ``info``, ``warning``, ``critical``; the body
    and the labels go in ``custom_details``.
    """

    kind = "pagerduty"
    options = (
        Option("routing_key", "text", "the Events API v2 integration key", secret=True, required=True),
        Option("events_url", "text", "the Events API endpoint", default=EVENTS_URL, url=ANY_HTTP),
        Option("source", "text", "the event's source (default: this host's name)"),
        Option("component", "text", "the event's component"),
        Option("group", "text", "the event's group"),
        Option("class", "text", "the event's class", arg="event_class"),
        Option("client", "text", "the client named in the incident", default="kstalerts"),
        Option("client_url", "text", "the client's link in the incident"),
        Option("resolve", "bool", "send every alert as a resolve event", default=False),
        *TRANSPORT,
    )

    def __init__(
        self,
        routing_key: Union[str, Secret],
        *,
        events_url: str = EVENTS_URL,
        source: Optional[str] = None,
        component: Optional[str] = None,
        group: Optional[str] = None,
        event_class: Optional[str] = None,
        client: Optional[str] = "kstalerts",
        client_url: Optional[str] = None,
        resolve: bool = False,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        key = routing_key.reveal() if isinstance(routing_key, Secret) else routing_key
        if not isinstance(key, str) or not _ROUTING_KEY.match(key.strip()):
            raise AlertConfigurationError(
                "PagerDuty routing key must be 32 letters or digits (an Events API v2 integration key)",
                key="routing_key",
            )
        self._routing_key = Secret(key.strip(), mask="***")
        self.events_url = check_url(events_url, key="events_url")
        self.source = source or socket.gethostname() or "kstalerts"
        self.component = component
        self.group = group
        self.event_class = event_class
        self.client = client
        self.client_url = client_url
        self.resolving = bool(resolve)
        self._client = self._http_client(events_url, key="events_url")

    # -- payload ------------------------------------------------------------
    @staticmethod
    def dedup_key(alert: AlertMessage) -> str:
        """The dedup key of ``alert``: its own, or level and title; hashed past 255 characters."""
        key = alert.effective_dedup_key
        if len(key) > _DEDUP_KEY_CHARS:
            key = "kstalerts-sha256-" + hashlib.sha256(key.encode("utf-8")).hexdigest()
        return key

    def build_payload(self, alert: AlertMessage) -> Dict[str, Any]:
        """The event, without ``routing_key`` (added only when it is sent)."""
        if self.resolving:
            return {"event_action": "resolve", "dedup_key": self.dedup_key(alert)}
        payload: Dict[str, Any] = {
            "summary": cut(alert.formatted_title, _SUMMARY_CHARS),
            "source": self.source,
            "severity": SEVERITY[alert.level],
            "timestamp": iso_time(alert.created_at),
        }
        add_set(payload, component=self.component, group=self.group, **{"class": self.event_class})
        details: Dict[str, Any] = {}
        if alert.body:
            details["body"] = alert.body
        if alert.labels:
            details["labels"] = dict(alert.labels)
        if details:
            payload["custom_details"] = details
        event: Dict[str, Any] = {
            "event_action": "trigger",
            "dedup_key": self.dedup_key(alert),
            "payload": payload,
        }
        return add_set(event, client=self.client, client_url=self.client_url)

    def _build_resolved(self, alert: AlertMessage) -> Any:
        """A ``resolve`` event for the incident the same dedup key triggered."""
        return {"event_action": "resolve", "dedup_key": self.dedup_key(alert)}

    def _show_digest(self, payload: Any, summary: "DigestSummary") -> Any:
        """What was held back: a ``held_back`` entry of the event's ``custom_details``."""
        if isinstance(payload.get("payload"), dict):
            payload["payload"].setdefault("custom_details", {})["held_back"] = summary.text(8000)
        return payload

    def preview(self, alert: AlertMessage) -> str:
        event = {"routing_key": str(self._routing_key), **self.build_payload(alert)}
        return f"POST {self.events_url}\n{json.dumps(event, indent=2, ensure_ascii=False)}"

    # -- delivery -------------------------------------------------------------
    def resolve(self, alert: AlertMessage) -> AlertResult:
        """Resolve the incident that ``alert`` (same dedup key) triggered."""
        return send_resolving(self, alert)

    def _transmit(self, notification: Notification, *, timeout: float) -> Optional[str]:
        event = {"routing_key": self._routing_key.reveal(), **self.render(notification)}
        response = self._client.post(
            encode_json(event),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            timeout=timeout,
        )
        answer = response.json()
        if 200 <= response.status < 300:
            if isinstance(answer, dict) and isinstance(answer.get("dedup_key"), str):
                return str(answer["dedup_key"])
            return str(event["dedup_key"])
        detail = ""
        if isinstance(answer, dict):  # {"status": .., "message": .., "errors": [..]}
            errors = answer.get("errors")
            parts = [
                str(answer.get("message") or answer.get("status") or ""),
                "; ".join(str(e) for e in errors) if isinstance(errors, list) else "",
            ]
            detail = ": ".join(p for p in parts if p)
        elif response.status < 500:  # a 5xx HTML error page says nothing useful
            detail = response.body.decode("utf-8", "replace")
        raise status_error("PagerDuty", response, service_text(detail, hide=[self._routing_key.reveal()]))

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, events_url={self.events_url!r})"
