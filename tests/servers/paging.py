"""Loopback servers that answer like PagerDuty, Microsoft Teams and Discord.

Each runs on 127.0.0.1 port 0 in a thread, records every request, and
answers with the service's documented responses:

- PagerDuty Events API v2 (``POST /v2/enqueue``): 202
  ``{"status": "success", "message": "Event processed", "dedup_key": ...}``;
  400 ``{"status": "invalid event", "message": "Event object is invalid",
  "errors": [...]}``; 429 when rate limited; it keeps the state of each
  incident by dedup key.
- Teams: a connector URL (``/webhookb2/...``) answers 200 with body ``1``,
  and reports failures (rate limiting included) as 200 with the text
  ``Webhook message delivery failed with error: Microsoft Teams endpoint
  returned HTTP error 429 ...``; a workflow URL (``/workflows/...``) answers
  202, 400 for a bad card and 429 with ``Retry-After``.
- Discord (``POST /api/webhooks/{id}/{token}``): 204, or 200 with the
  message object when ``?wait=true``; ``X-RateLimit-*`` headers on every
  answer from a fixed-window bucket; 429 with JSON ``{"message": ...,
  "retry_after": seconds, "global": ...}``; 400/401/404 JSON errors with
  Discord's codes.

Failure modes are chosen by a method call before the request
(``rate_limit(n)``, ``fail(status, n)``), never by timing luck.
"""

import json
import math
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler
from typing import Any, Dict, Iterator, List, Mapping, NamedTuple, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.compat import ThreadingHTTPServer

__all__ = ("Recorded", "ServiceServer", "PagerDutyServer", "TeamsServer", "DiscordServer")

Reply = Tuple[int, Dict[str, str], bytes]


class Recorded(NamedTuple):
    """One request as the server saw it."""

    method: str
    path: str
    query: Dict[str, List[str]]
    headers: Dict[str, str]  # lower-case names
    body: bytes
    json: Any
    at: float  # time.monotonic() when it arrived


def _json(status: int, data: Any, headers: Optional[Mapping[str, str]] = None) -> Reply:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(data).encode()


class ServiceServer:
    """A threaded HTTP server on 127.0.0.1:0 that records requests.

    Subclasses implement :meth:`respond`; the base answers 200 ``{}``.
    ``force(status, body, headers, times)`` makes the next ``times``
    requests get that answer instead.
    """

    def __init__(self) -> None:
        self.requests: List[Recorded] = []
        self.lock = threading.Lock()
        self._forced: List[Reply] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                try:
                    decoded = json.loads(body) if body else None
                except ValueError:
                    decoded = None
                rec = Recorded(
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                    decoded,
                    time.monotonic(),
                )
                with server.lock:
                    server.requests.append(rec)
                    forced = server._forced.pop(0) if server._forced else None
                status, headers, payload = forced if forced is not None else server.respond(rec)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if payload and status not in (204, 304):
                    self.wfile.write(payload)

            do_POST = _handle  # noqa: N815
            do_GET = _handle  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="paging-server", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def respond(self, req: Recorded) -> Reply:
        return _json(200, {})

    def force(
        self, status: int, body: bytes = b"", headers: Optional[Mapping[str, str]] = None, times: int = 1
    ) -> None:
        with self.lock:
            self._forced.extend([(status, dict(headers or {}), body)] * times)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)


class PagerDutyServer(ServiceServer):
    """Events API v2 at ``/v2/enqueue``; ``incidents`` maps dedup key -> state."""

    routing_key = "0123456789abcdef0123456789abcdef"

    def __init__(self) -> None:
        super().__init__()
        self.incidents: Dict[str, str] = {}

    @property
    def events_url(self) -> str:
        return self.url + "/v2/enqueue"

    def rate_limit(self, times: int = 1) -> None:
        body = {"status": "throttle event", "message": "Requests for this service are arriving too quickly."}
        self.force(429, json.dumps(body).encode(), {"Content-Type": "application/json"}, times)

    def fail(self, status: int = 503, times: int = 1) -> None:
        self.force(status, b"<html>Service Unavailable</html>", {"Content-Type": "text/html"}, times)

    def respond(self, req: Recorded) -> Reply:
        if req.method != "POST" or req.path != "/v2/enqueue":
            return _json(404, {"status": "not found"})
        event = req.json
        errors = self._validate(event)
        if errors:
            return _json(
                400, {"status": "invalid event", "message": "Event object is invalid", "errors": errors}
            )
        action = event["event_action"]
        key = event.get("dedup_key") or uuid.uuid4().hex
        with self.lock:
            self.incidents[key] = {
                "trigger": "triggered",
                "acknowledge": "acknowledged",
                "resolve": "resolved",
            }[action]
        return _json(202, {"status": "success", "message": "Event processed", "dedup_key": key})

    def _validate(self, event: Any) -> List[str]:
        if not isinstance(event, dict):
            return ["Event object must be JSON"]
        errors = []
        key = event.get("routing_key")
        if not isinstance(key, str) or len(key) != 32:
            errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
        elif key != self.routing_key:
            errors.append("Invalid routing key")
        action = event.get("event_action")
        if action not in ("trigger", "acknowledge", "resolve"):
            errors.append("'event_action' is invalid (must be one of: trigger, acknowledge, resolve)")
        if action in ("acknowledge", "resolve") and not event.get("dedup_key"):
            errors.append("'dedup_key' is required for acknowledge and resolve events")
        if action == "trigger":
            payload = event.get("payload")
            if not isinstance(payload, dict):
                errors.append("'payload' is missing or not an object")
            else:
                for name in ("summary", "source", "severity"):
                    if not payload.get(name):
                        errors.append(f"'payload.{name}' is missing or blank")
                if payload.get("severity") not in (None, "critical", "error", "warning", "info"):
                    errors.append(
                        "'payload.severity' is invalid (must be one of: critical, error, warning, info)"
                    )
                if len(str(payload.get("summary", ""))) > 1024:
                    errors.append("'payload.summary' is too long (maximum is 1024 characters)")
        if len(str(event.get("dedup_key", ""))) > 255:
            errors.append("'dedup_key' is too long (maximum is 255 characters)")
        return errors


_TEAMS_FAILED = (
    "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error {status}"
    " with ContextId tcid=0,server=loopback,cv=kstalerts-test.0.."
)


class TeamsServer(ServiceServer):
    """A Teams connector (``connector_url``) and workflow (``workflow_url``) endpoint."""

    @property
    def connector_url(self) -> str:
        return (
            self.url + "/webhookb2/11111111-aaaa@22222222-bbbb/IncomingWebhook/abcdef0123456789/33333333-cccc"
        )

    @property
    def workflow_url(self) -> str:
        return self.url + "/workflows/0123abcd/triggers/manual/paths/invoke?api-version=1&sig=SECRETSIG"

    def rate_limit(self, times: int = 1, *, workflow: bool = False, retry_after: int = 1) -> None:
        if workflow:
            body = {"error": {"code": "WorkflowTriggeredTooManyTimes", "message": "Rate limit is exceeded."}}
            headers = {"Content-Type": "application/json", "Retry-After": str(retry_after)}
            self.force(429, json.dumps(body).encode(), headers, times)
        else:
            self.force(200, _TEAMS_FAILED.format(status=429).encode(), {"Content-Type": "text/plain"}, times)

    def fail(self, status: int, times: int = 1) -> None:
        """A connector failure reported, as Teams does, behind HTTP 200."""
        self.force(200, _TEAMS_FAILED.format(status=status).encode(), {"Content-Type": "text/plain"}, times)

    def respond(self, req: Recorded) -> Reply:
        workflow = req.path.startswith("/workflows/")
        if req.method != "POST" or not (workflow or req.path.startswith("/webhookb2/")):
            return 404, {"Content-Type": "text/plain"}, b"Not Found"
        problem = self._card_problem(req.json)
        if workflow:
            if problem:
                return _json(400, {"error": {"code": "InvalidRequestContent", "message": problem}})
            return 202, {}, b""
        if problem:
            return 200, {"Content-Type": "text/plain"}, _TEAMS_FAILED.format(status=400).encode()
        return 200, {"Content-Type": "text/plain"}, b"1"

    @staticmethod
    def _card_problem(message: Any) -> str:
        if not isinstance(message, dict) or message.get("type") != "message":
            return "the body must be a message"
        attachments = message.get("attachments")
        if not isinstance(attachments, list) or not attachments:
            return "the message has no attachments"
        first = attachments[0]
        if first.get("contentType") != "application/vnd.microsoft.card.adaptive":
            return "the attachment is not an Adaptive Card"
        card = first.get("content") or {}
        if card.get("type") != "AdaptiveCard" or not card.get("body"):
            return "the Adaptive Card has no body"
        return ""


class DiscordServer(ServiceServer):
    """A Discord webhook with a fixed-window rate-limit bucket (``limit`` per ``window`` s)."""

    webhook_id = "112233445566778899"
    token = "tok-" + "x" * 60

    def __init__(self, *, limit: int = 5, window: float = 2.0) -> None:
        super().__init__()
        self.limit = limit
        self.window = window
        self._window_start = 0.0
        self._count = 0
        self.messages: List[Any] = []
        self.limited = 0  # 429 answers given
        self._global_once: Optional[float] = None

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/api/webhooks/{self.webhook_id}/{self.token}"

    def global_limit(self, retry_after: float) -> None:
        """The next request gets a global 429 (body ``retry_after`` in seconds)."""
        with self.lock:
            self._global_once = retry_after

    def _headers(self, remaining: int, reset_after: float) -> Dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": "abcd1234",
        }

    def respond(self, req: Recorded) -> Reply:
        parts = req.path.split("/")
        if req.method != "POST" or len(parts) != 5 or parts[1:3] != ["api", "webhooks"]:
            return _json(404, {"message": "404: Not Found", "code": 0})
        if parts[3] != self.webhook_id:
            return _json(404, {"message": "Unknown Webhook", "code": 10015})
        if parts[4] != self.token:
            return _json(401, {"message": "Invalid Webhook Token", "code": 50027})
        now = time.monotonic()
        with self.lock:
            if self._global_once is not None:
                wait, self._global_once = self._global_once, None
                self.limited += 1
                headers = {
                    "Retry-After": str(math.ceil(wait)),
                    "X-RateLimit-Global": "true",
                    "X-RateLimit-Scope": "global",
                }
                return _json(
                    429,
                    {"message": "You are being rate limited.", "retry_after": wait, "global": True},
                    headers,
                )
            if now - self._window_start >= self.window:
                self._window_start, self._count = now, 0
            reset_after = max(0.0, self._window_start + self.window - now)
            if self._count >= self.limit:
                self.limited += 1
                headers = self._headers(0, reset_after)
                headers.update({"Retry-After": str(math.ceil(reset_after)), "X-RateLimit-Scope": "user"})
                body = {
                    "message": "You are being rate limited.",
                    "retry_after": round(reset_after, 3),
                    "global": False,
                }
                return _json(429, body, headers)
            self._count += 1
            headers = self._headers(self.limit - self._count, reset_after)
        message = req.json
        problem = self._message_problem(message)
        if problem is not None:
            return _json(400, problem, headers)
        with self.lock:
            self.messages.append(message)
            snowflake = str(1200000000000000000 + len(self.messages))
        if req.query.get("wait") == ["true"]:
            reply = {"id": snowflake, "type": 0, "channel_id": "998877", "webhook_id": self.webhook_id}
            reply.update({k: message[k] for k in ("content", "embeds") if k in message})
            return _json(200, reply, headers)
        return 204, headers, b""

    @staticmethod
    def _message_problem(message: Any) -> Optional[Dict[str, Any]]:
        if not isinstance(message, dict) or not (message.get("content") or message.get("embeds")):
            return {"message": "Cannot send an empty message", "code": 50006}
        if len(message.get("content") or "") > 2000:
            return {
                "message": "Invalid Form Body",
                "code": 50035,
                "errors": {"content": "Must be 2000 or fewer in length."},
            }
        embeds = message.get("embeds") or []
        if len(embeds) > 10:
            return {
                "message": "Invalid Form Body",
                "code": 50035,
                "errors": {"embeds": "Must be 10 or fewer in length."},
            }
        for embed in embeds:
            total = len(embed.get("title", "")) + len(embed.get("description", ""))
            total += len((embed.get("footer") or {}).get("text", ""))
            total += sum(len(f.get("name", "")) + len(f.get("value", "")) for f in embed.get("fields", []))
            if len(embed.get("title", "")) > 256 or len(embed.get("description", "")) > 4096 or total > 6000:
                return {
                    "message": "Invalid Form Body",
                    "code": 50035,
                    "errors": {"embeds": "Embed size exceeds maximum size of 6000"},
                }
            if len(embed.get("fields", [])) > 25:
                return {
                    "message": "Invalid Form Body",
                    "code": 50035,
                    "errors": {"embeds": "Must be 25 or fewer fields."},
                }
        return None


@pytest.fixture
def recording_server() -> Iterator[ServiceServer]:
    """A server that answers 200 ``{}`` to everything and records it."""
    server = ServiceServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def pagerduty_server() -> Iterator[PagerDutyServer]:
    server = PagerDutyServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def teams_server() -> Iterator[TeamsServer]:
    server = TeamsServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def discord_server() -> Iterator[DiscordServer]:
    server = DiscordServer()
    try:
        yield server
    finally:
        server.close()
