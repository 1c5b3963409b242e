"""AlertmanagerChannel: hand alerts to Prometheus Alertmanager (``POST /api/v2/alerts``).

Alertmanager is the engine for what one host cannot do alone: cluster-wide
deduplication, grouping, silences, inhibition and routing. This channel
posts each alert as Alertmanager's v2 API expects it: ``labels`` (identity),
``annotations`` (text), ``startsAt``, an ``endsAt`` when resolving, and a
``generatorURL``.

Rules: several base URLs are the members of one cluster. Alertmanager does
not gossip alerts between members, so, like Prometheus, the channel posts to
every member (in parallel) and the alert counts as delivered when at least
one accepted it; a partial delivery says in the result which members failed.
Label names must match ``[a-zA-Z_][a-zA-Z0-9_]*``: configured labels that do
not are rejected when the channel is built, per-alert labels are sanitized
(each invalid character becomes ``_``). Credentials (bearer token or basic
auth) are secrets: they go in the ``Authorization`` header and nowhere else.
"""

import base64
import json
import re
import threading
import time
import urllib.parse

from .. import _lifecycle, _reentry
from .._lazy import TYPE_CHECKING
from .._log import logger
from .._secret import Secret
from .._typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union
from ..exceptions import AlertConfigurationError, AlertDeliveryError
from ..limits import MAX_ALERTMANAGER_URLS, MAX_LABELS
from ..models import AlertLevel, AlertMessage, AlertResult
from ..net.url import ANY_HTTP, URLRule, check_url
from ..outcome import Delivery, Outcome
from ..pipeline.notification import Notification
from ._jsonhttp import (
    HTTPChannel,
    encode_json,
    iso_time,
    send_resolving,
    service_text,
    status_error,
)
from ._options import TRANSPORT, Option, read

if TYPE_CHECKING:
    from ..digest import DigestSummary
    from ..net.http import HTTPClient

__all__ = ()

_log = logger("kstalerts.channels.alertmanager")

_API_PATH = "/api/v2/alerts"
# Credentials go in basic_auth/bearer_token, never in the URL; the API path is appended.
_URL = URLRule(userinfo=False, query=False)
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
_INVALID_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")

#: ``severity`` label value for each level (SUCCESS is ``info``: routes
#: written for info/warning/critical keep matching).
SEVERITY: Mapping[AlertLevel, str] = {
    AlertLevel.INFO: "info",
    AlertLevel.SUCCESS: "info",
    AlertLevel.WARNING: "warning",
    AlertLevel.CRITICAL: "critical",
}

BasicAuth = Union[Tuple[str, Union[str, Secret]], str, Secret]


def sanitize_label_name(name: str) -> str:
    """``name`` made a valid Alertmanager label name; ``""`` if nothing is left.

    >>> sanitize_label_name("k8s.pod-name"), sanitize_label_name("2fa")
    ('k8s_pod_name', '_2fa')
    """
    cleaned = _INVALID_LABEL_CHARS.sub("_", name)
    if cleaned and cleaned[0].isdigit():
        cleaned = "_" + cleaned
    return cleaned


class _Member(NamedTuple):
    display: str  # scheme://host:port/prefix, shown in errors (never holds a secret)
    client: "HTTPClient"


class AlertmanagerChannel(HTTPChannel):
    """Post alerts to one Alertmanager, or to every member of a cluster.

    - ``url``: a base URL (``http://am:9093``, or with a route prefix) or a
      list of them (cluster members, at most ``MAX_ALERTMANAGER_URLS``). A URL
      ending in ``/api/v2/alerts`` is taken as it is.
    - ``labels``: labels added to every alert (names are checked).
    - ``generator_url``: the ``generatorURL`` link shown with the alert.
    - ``bearer_token`` or ``basic_auth`` (``(user, password)`` or
      ``"user:password"``): sent as ``Authorization``; held as secrets.
    - ``resolve``: send every alert as resolved (``endsAt`` = now); see also
      :meth:`resolve`.
    - ``ssl_verify``, ``ssl_ca_bundle``, ``proxy``: passed to the HTTP client.

    Labels of an alert, later ones winning: ``alertname`` (the title) and
    ``severity`` (``info``/``warning``/``critical``), then ``labels``, then
    :attr:`AlertMessage.labels`. Annotations: ``summary`` (the title) and
    ``description`` (the body, when there is one).
    """

    kind = "alertmanager"
    options = (
        Option("url", "any", "a base URL, or a list of cluster members", url=_URL, manual=True),
        Option("urls", "any", "the same as url (give one of the two)", url=_URL, manual=True),
        Option("labels", "mapping", "labels added to every alert", what="a mapping of names to strings"),
        Option("generator_url", "text", "the generatorURL link shown with the alert", url=ANY_HTTP),
        Option("resolve", "bool", "send every alert as resolved", default=False),
        Option("bearer_token", "text", "sent as Authorization: Bearer", secret=True),
        Option("basic_auth", "text", "names a credential holding user:password", manual=True),
        Option("username", "text", "basic auth user (with password)", manual=True),
        Option("password", "text", "basic auth password (with username)", manual=True),
        *TRANSPORT,
    )

    def __init__(
        self,
        url: Union[str, Sequence[str]],
        *,
        labels: Optional[Mapping[str, str]] = None,
        generator_url: Optional[str] = None,
        bearer_token: Union[str, Secret, None] = None,
        basic_auth: Optional[BasicAuth] = None,
        resolve: bool = False,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        urls = [url] if isinstance(url, str) else list(url)
        self.urls: Tuple[str, ...] = tuple(_check_urls(urls))
        self.labels: Mapping[str, str] = _check_labels(labels or {})
        self.generator_url = _check_generator_url(generator_url)
        self.resolving = bool(resolve)
        self._authorization = _authorization(bearer_token, basic_auth)
        if self._authorization is not None and any(u.startswith("http://") for u in self.urls):
            _log.warning("%s: credentials will be sent over plain http", self.name)
        self._members = tuple(_Member(_display(u), self._http_client(u)) for u in self.urls)

    # -- payload ------------------------------------------------------------
    def build_labels(self, alert: AlertMessage) -> Dict[str, str]:
        """The label set of ``alert``: derived, then configured, then per-alert."""
        labels = {"alertname": alert.title, "severity": SEVERITY[alert.level]}
        labels.update(self.labels)
        for name, value in alert.labels.items():
            clean = sanitize_label_name(name)
            if clean:
                labels[clean] = value
        return {name: value for name, value in labels.items() if value != ""}

    def build_alert(self, alert: AlertMessage, *, resolved: bool = False) -> Dict[str, Any]:
        """One alert object of the v2 API."""
        annotations = {"summary": alert.formatted_title}
        if alert.body:
            annotations["description"] = alert.body
        item: Dict[str, Any] = {
            "labels": self.build_labels(alert),
            "annotations": annotations,
            "startsAt": iso_time(alert.created_at),
        }
        if resolved:
            item["endsAt"] = iso_time(max(alert.created_at, time.time()))
        if self.generator_url is not None:
            item["generatorURL"] = self.generator_url
        return item

    def build_payload(self, alert: AlertMessage) -> List[Dict[str, Any]]:
        """The JSON body: a list holding one alert."""
        return [self.build_alert(alert, resolved=self.resolving)]

    def _build_resolved(self, alert: AlertMessage) -> Any:
        """The same labels, with ``endsAt`` set."""
        return [self.build_alert(alert, resolved=True)]

    def _show_digest(self, payload: Any, summary: "DigestSummary") -> Any:
        """What was held back: a ``held_back`` annotation."""
        if payload:
            payload[0].setdefault("annotations", {})["held_back"] = summary.text(4000)
        return payload

    def preview(self, alert: AlertMessage) -> str:
        targets = ", ".join(m.display + _API_PATH for m in self._members)
        return f"POST {targets}\n{json.dumps(self.build_payload(alert), indent=2, ensure_ascii=False)}"

    # -- delivery -------------------------------------------------------------
    def resolve(self, alert: AlertMessage) -> AlertResult:
        """Mark ``alert`` resolved: the same labels, with ``endsAt`` set to now."""
        return send_resolving(self, alert)

    def _transmit(self, notification: Notification, *, timeout: float) -> Delivery:
        """Post to every member; delivered when at least one accepted.

        When some members failed, the delivery is partly delivered and its
        note names them.
        """
        body = encode_json(self.render(notification))
        errors = self._post_all(body, timeout)
        failed = [(m, e) for m, e in zip(self._members, errors) if e is not None]
        if not failed:
            return Delivery(Outcome.DELIVERED)
        if len(failed) < len(self._members):
            for member, error in failed:
                _log.warning("%s: member %s failed: %s", self.name, member.display, error)
            accepted = len(self._members) - len(failed)
            note = (
                f"delivered to {accepted} of {len(self._members)} Alertmanager members;"
                f" failed: {'; '.join(f'{m.display}: {e}' for m, e in failed)}"
            )
            return Delivery(Outcome.PARTLY_DELIVERED, note=note)
        raise _combined(failed)

    def _post_all(self, body: bytes, timeout: float) -> List[Optional[AlertDeliveryError]]:
        if len(self._members) == 1 or _lifecycle.exiting():  # no new threads at interpreter exit
            return [self._post(member, body, timeout) for member in self._members]
        results: List[Optional[AlertDeliveryError]] = [
            AlertDeliveryError("no answer within the deadline", retryable=True) for _ in self._members
        ]

        def run(index: int) -> None:
            with _reentry.serving():  # a record logged here is not an alert: see AlertHandler
                results[index] = self._post(self._members[index], body, timeout)

        threads = [
            threading.Thread(target=run, args=(i,), name=f"kstalerts-alertmanager-{i}", daemon=True)
            for i in range(len(self._members))
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + timeout + 1.0
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return results

    def _post(self, member: _Member, body: bytes, timeout: float) -> Optional[AlertDeliveryError]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._authorization is not None:
            headers["Authorization"] = self._authorization.reveal()
        try:
            response = member.client.post(body, headers=headers, timeout=timeout)
        except AlertDeliveryError as exc:
            return exc
        if 200 <= response.status < 300:
            return None
        decoded = response.json()  # a JSON string, or {"code": .., "message": ..}
        if isinstance(decoded, dict) and isinstance(decoded.get("message"), str):
            decoded = decoded["message"]
        detail = decoded if isinstance(decoded, str) else response.body
        hide = [self._authorization.reveal()] if self._authorization is not None else []
        return status_error("Alertmanager", response, service_text(detail, hide=hide))

    def close(self) -> None:
        for member in self._members:
            member.client.close()

    def __repr__(self) -> str:
        members = ", ".join(m.display for m in self._members)
        return f"{type(self).__name__}(name={self.name!r}, urls=[{members}])"

    # -- config ---------------------------------------------------------------
    @classmethod
    def _from_values(
        cls, values: Dict[str, Any], config: Mapping[str, Any], resolver: Any
    ) -> "AlertmanagerChannel":
        """``url:`` or ``urls:`` (one or a list), and basic auth from ``basic_auth:`` (a
        credential naming ``user:password``) or literal ``username:`` + ``password:``."""
        service = "alertmanager"
        if ("url" in config) == ("urls" in config):
            raise AlertConfigurationError(f"{service}: give exactly one of url or urls", key="url")
        key = "url" if "url" in config else "urls"
        urls: Any = config[key]
        if isinstance(urls, str):
            urls = [urls]
        if not isinstance(urls, (list, tuple)) or not all(isinstance(u, str) for u in urls):
            raise AlertConfigurationError(f"{service}: {key} must be a URL or a list of URLs", key=key)
        basic: Optional[BasicAuth] = None
        if config.get("basic_auth") is not None:
            # basic_auth names a credential; a user who wrote "admin:pw" here
            # must not see it echoed back: the value is never shown.
            name = config["basic_auth"]
            known = getattr(resolver, "names", None)
            if not isinstance(name, str) or ":" in name or (known is not None and name not in known):
                raise AlertConfigurationError(
                    f"{service}: basic_auth must name a credential of the credentials: section"
                    " (whose value is user:password); the value given is not one (not shown)",
                    key="basic_auth",
                )
            if resolver is None:
                raise AlertConfigurationError(
                    f"{service}: basic_auth needs a credential resolver", key="basic_auth"
                )
            from .._secret import resolve_credential

            value = resolve_credential(resolver, name)
            if not isinstance(value, str):
                raise AlertConfigurationError(
                    f"{service}: credential {name!r} for basic_auth must be a string", key="basic_auth"
                )
            basic = Secret(value)
        elif config.get("username") is not None or config.get("password") is not None:
            options = {o.name: o for o in cls.options or ()}
            user = read(options["username"], config.get("username"), service)
            password = read(options["password"], config.get("password"), service)
            if not user or password is None:
                raise AlertConfigurationError(f"{service}: username and password go together", key="username")
            basic = (user, Secret(password))
        try:
            return cls(urls, basic_auth=basic, **values)
        except AlertConfigurationError as exc:
            if key == "urls" and exc.key == "url":
                raise AlertConfigurationError(exc.reason, key="urls") from None
            raise


def _check_urls(urls: List[str]) -> List[str]:
    if not urls:
        raise AlertConfigurationError("alertmanager needs at least one URL", key="url")
    if len(urls) > MAX_ALERTMANAGER_URLS:
        raise AlertConfigurationError(
            f"alertmanager: {len(urls)} URLs, more than the limit of {MAX_ALERTMANAGER_URLS}", key="url"
        )
    checked: List[str] = []
    for raw in urls:
        parts = urllib.parse.urlsplit(check_url(raw, key="url", rule=_URL))
        path = parts.path.rstrip("/")
        if not path.endswith(_API_PATH):
            path += _API_PATH
        url = urllib.parse.urlunsplit((parts.scheme, parts.netloc.lower(), path, "", ""))
        if url in checked:
            raise AlertConfigurationError(f"alertmanager URL given twice: {_display(url)}", key="url")
        checked.append(url)
    return checked


def _display(url: str) -> str:
    """scheme://host:port plus the route prefix; never user info or a query."""
    parts = urllib.parse.urlsplit(url.strip())
    host = (parts.netloc.rpartition("@")[2] or "?").lower()
    path = parts.path.rstrip("/")
    if path.endswith(_API_PATH):
        path = path[: -len(_API_PATH)]
    return f"{parts.scheme or '?'}://{host}{path}"


def _check_labels(labels: Mapping[str, Any]) -> Mapping[str, str]:
    if len(labels) > MAX_LABELS:
        raise AlertConfigurationError(
            f"too many labels: {len(labels)} (the limit is {MAX_LABELS})", key="labels"
        )
    checked: Dict[str, str] = {}
    for name, value in labels.items():
        if not isinstance(name, str) or not _LABEL_NAME.match(name):
            raise AlertConfigurationError(
                f"label name {name!r} is not valid for Alertmanager (it must match [a-zA-Z_][a-zA-Z0-9_]*)",
                key="labels",
            )
        if not isinstance(value, str):
            raise AlertConfigurationError(
                f"label {name!r}: the value must be a string, got {value!r}", key="labels"
            )
        checked[name] = value
    return checked


def _check_generator_url(url: Optional[str]) -> Optional[str]:
    return None if url is None else check_url(url, key="generator_url")


def _authorization(
    bearer_token: Union[str, Secret, None], basic_auth: Optional[BasicAuth]
) -> Optional[Secret]:
    if bearer_token is not None and basic_auth is not None:
        raise AlertConfigurationError(
            "alertmanager: give bearer_token or basic_auth, not both", key="basic_auth"
        )
    if bearer_token is not None:
        token = bearer_token.reveal() if isinstance(bearer_token, Secret) else bearer_token
        if not isinstance(token, str) or not token.strip() or any(c in token for c in "\r\n"):
            raise AlertConfigurationError(
                "alertmanager: the bearer token must be a non-empty line", key="bearer_token"
            )
        return Secret(f"Bearer {token.strip()}", mask="Bearer ***")
    if basic_auth is None:
        return None
    if isinstance(basic_auth, tuple):
        user, password = basic_auth
        secret = password.reveal() if isinstance(password, Secret) else password
    else:
        pair = basic_auth.reveal() if isinstance(basic_auth, Secret) else basic_auth
        user, sep, secret = pair.partition(":") if isinstance(pair, str) else ("", "", "")
        if not sep:
            raise AlertConfigurationError(
                'alertmanager: basic_auth must be "user:password"', key="basic_auth"
            )
    if not isinstance(user, str) or not user or ":" in user or not isinstance(secret, str):
        raise AlertConfigurationError(
            "alertmanager: basic_auth needs a user name (without ':') and a password", key="basic_auth"
        )
    token = base64.b64encode(f"{user}:{secret}".encode()).decode("ascii")
    return Secret(f"Basic {token}", mask="Basic ***")


def _combined(failed: Sequence[Tuple[_Member, AlertDeliveryError]]) -> AlertDeliveryError:
    if len(failed) == 1:
        member, error = failed[0]
        return AlertDeliveryError(
            f"{member.display}: {error}",
            retryable=error.retryable,
            retry_after=error.retry_after,
            status=error.status,
        )
    waits = [e.retry_after for _, e in failed if e.retryable and e.retry_after is not None]
    statuses = {e.status for _, e in failed}
    return AlertDeliveryError(
        "no Alertmanager member accepted the alert: " + "; ".join(f"{m.display}: {e}" for m, e in failed),
        retryable=any(e.retryable for _, e in failed),
        retry_after=max(waits) if waits else None,
        status=statuses.pop() if len(statuses) == 1 else None,
    )
