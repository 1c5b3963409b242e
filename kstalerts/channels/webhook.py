"""WebhookChannel: a generic JSON POST for services without their own channel.

The body is the alert as JSON (:func:`default_payload`), or what a
template makes of it: a ``string.Template`` text or mapping (``$title``,
``$body``, ``$level``, ``$timestamp``, ``$created_at``, ``$dedup_key``,
``$channel``, ``$held_back``: the digest of held-back alerts the delivery
carries, or empty), or a callable. Without a template the JSON has a
``held_back`` field (``total``, ``text``) when the delivery carries a
digest. Delivery goes through :mod:`kstalerts.net.http`, like Slack's; a
status is read as the other JSON channels read it
(:func:`._jsonhttp.status_error`): 2xx delivered, 408/429/5xx retried
(429 after its ``Retry-After``), a redirect or any other 4xx permanent.

Rules: the URL and secret-looking header values (``Authorization``, keys,
tokens) never appear in a repr, a preview, a log line or an error.
"""

import json
import string
import time

from .._secret import Secret, mask_text
from .._typing import Any, Callable, Dict, Mapping, Optional, Union
from ..exceptions import AlertConfigurationError
from ..models import AlertLevel, AlertMessage
from ..net.http import check_headers
from ..net.url import ANY_HTTP
from ..pipeline.notification import Notification
from ._jsonhttp import (
    HTTPChannel,
    secret_parts,
    service_text,
    status_error,
)
from ._options import TRANSPORT, Option

__all__ = ()

Template = Union[str, Mapping[str, Any], Callable[[AlertMessage], Any]]

_SAMPLE = AlertMessage("sample", "sample", AlertLevel.INFO, dedup_key="sample")


def _json_escaped(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)[1:-1]


def default_payload(alert: AlertMessage) -> Dict[str, Any]:
    """The JSON a webhook gets without a template (fields explained in docs/channels.md).

    ``timestamp`` is the creation time in ISO 8601 UTC, as the ``$timestamp``
    placeholder; ``created_at`` the same instant in Unix seconds; ``title``
    carries the time prefix when the alert asked for one (``timestamp=True``).
    """
    return {
        "title": alert.formatted_title,
        "body": alert.body,
        "level": alert.level.name,
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(alert.created_at)),
        "created_at": alert.created_at,
        "labels": dict(alert.labels),
        "dedup_key": alert.dedup_key,
    }


class WebhookChannel(HTTPChannel):
    """POST each alert as JSON to ``url``.

    - ``method``: ``POST`` (default), ``PUT`` or ``PATCH``.
    - ``headers``: extra request headers (``Content-Type`` defaults to JSON).
    - ``template``: a ``string.Template`` text (values JSON-escaped, so a JSON
      text stays valid), a mapping whose strings are templates, or a callable
      ``alert -> dict | str | bytes``.
    - the transport options (``ssl_verify``, ``ssl_ca_bundle``, ``proxy``) are
      :class:`HTTPChannel`'s; every option is described in ``options``.
    """

    kind = "webhook"
    options = (
        Option("url", "text", "where the alert is sent", secret=True, required=True, url=ANY_HTTP),
        Option("method", "text", "the HTTP method: POST, PUT or PATCH", default="POST"),
        Option("headers", "mapping", "extra request headers", what="a mapping of names to values"),
        Option("template", "text_or_mapping", "a string.Template text or mapping for the body"),
        *TRANSPORT,
    )

    def __init__(
        self,
        url: Union[str, Secret],
        *,
        method: str = "POST",
        headers: Optional[Mapping[str, str]] = None,
        template: Optional[Template] = None,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.url = url if isinstance(url, Secret) else Secret(str(url))
        self.method = str(method).upper()
        if self.method not in ("POST", "PUT", "PATCH"):
            raise AlertConfigurationError("must be POST, PUT or PATCH", key="method")
        self.headers = {"Content-Type": "application/json; charset=utf-8"}
        given = check_headers(headers or {})
        for header in list(self.headers):
            if any(header.lower() == other.lower() for other in given):
                del self.headers[header]
        self.headers.update(given)
        self.template = template
        if isinstance(template, (str, Mapping)):
            self.render(Notification(_SAMPLE))  # a bad template fails now, not at the first alert
        self._client = self._http_client(self.url)

    # -- formatting -------------------------------------------------------
    def _values(self, notification: Notification) -> Dict[str, str]:
        alert, held_back = notification.alert, notification.held_back
        return {
            "title": alert.formatted_title,
            "body": alert.body,
            "level": alert.level.name,
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(alert.created_at)),
            "created_at": f"{alert.created_at:.3f}",
            "dedup_key": alert.effective_dedup_key,
            "channel": self.name,
            "held_back": "" if held_back is None else held_back.text(_HELD_BACK_CHARS),
            "status": notification.state,
        }

    def build_payload(self, alert: AlertMessage) -> Any:
        """The JSON value to send (a template's result when it is a mapping or callable)."""
        template = self.template
        if template is None:
            return default_payload(alert)
        if callable(template):
            return template(alert)
        if isinstance(template, Mapping):
            return _fill(template, self._values(Notification(alert)))
        return None

    def render(self, notification: Notification) -> bytes:
        """The request body: :meth:`build_payload`, with what was held back
        (a ``held_back`` field, or ``$held_back`` of a template)."""
        if isinstance(self.template, str):
            values = {k: _json_escaped(v) for k, v in self._values(notification).items()}
            return _substitute(self.template, values).encode("utf-8")
        payload = self.build_payload(notification.alert)
        held_back = notification.held_back
        if held_back is not None and isinstance(self.template, Mapping):
            payload = _fill(self.template, self._values(notification))
        elif held_back is not None and self.template is None and isinstance(payload, dict):
            payload["held_back"] = {"total": held_back.total, "text": held_back.text(_HELD_BACK_CHARS)}
        if notification.state != "firing" and self.template is None and isinstance(payload, dict):
            payload["status"] = notification.state  # "resolved" or "reminder" (the lifecycle's)
        if isinstance(payload, bytes):
            return payload
        if isinstance(payload, str):
            return payload.encode("utf-8")
        return json.dumps(payload, ensure_ascii=False).encode("utf-8")

    def preview(self, alert: AlertMessage) -> str:
        shown = {k: _masked_header(k, v) for k, v in self.headers.items()}
        head = "\n".join(f"{k}: {v}" for k, v in shown.items())
        body = self.render(Notification(alert)).decode("utf-8", "replace")
        return f"{self.method} {self.url}\n{head}\n\n{body}"

    # -- delivery ---------------------------------------------------------
    def _transmit(self, notification: Notification, *, timeout: float) -> Optional[str]:
        response = self._client.request(
            self.method, self.render(notification), headers=self.headers, timeout=timeout
        )
        if not 200 <= response.status < 300:
            raise status_error("Webhook", response, service_text(response.body, hide=secret_parts(self.url)))
        data = response.json()
        if (
            isinstance(data, dict)
            and isinstance(data.get("id"), (str, int))
            and not isinstance(data["id"], bool)
        ):
            return str(data["id"])
        return None

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, url={str(self.url)!r})"


def _substitute(template: str, values: Mapping[str, str]) -> str:
    try:
        return string.Template(template).substitute(values)
    except KeyError as exc:
        known = ", ".join(f"${k}" for k in sorted(values))
        raise AlertConfigurationError(
            f"unknown placeholder ${exc.args[0]}; known: {known}", key="template"
        ) from None
    except ValueError:
        raise AlertConfigurationError(
            "a $ must start a placeholder (write $$ for a dollar)", key="template"
        ) from None


def _fill(value: Any, values: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return _substitute(value, values)
    if isinstance(value, Mapping):
        return {str(k): _fill(v, values) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_fill(v, values) for v in value]
    return value


def _masked_header(name: str, value: str) -> str:
    # One rule: a header value may be a secret whatever its name (X-Team may
    # be a key too); only the content type is shown.
    return value if name.lower() == "content-type" else mask_text(value)


_HELD_BACK_CHARS = 8000  # the digest a delivery carries
