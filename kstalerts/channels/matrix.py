"""MatrixChannel: alerts to a Matrix room, through the client-server API.

``PUT <homeserver>/_matrix/client/v3/rooms/{room}/send/m.room.message/{txn}``
with ``Authorization: Bearer <access token>`` and an ``m.notice`` (or
``m.text``) event: a plain ``body`` (title, body, digest) and an HTML
``formatted_body`` (``org.matrix.custom.html``) of the same text, every
character HTML-escaped, line breaks as ``<br>``. ``"m.mentions": {}`` says
the event mentions no one, so ``@room`` or a user's name in an alert
notifies nobody. The event id Matrix answers is the result's message id.

Rules: the transaction id is fixed per alert (a hash of the channel's name
and the alert's key, time and text): a retry, or a spooled alert sent
again, reuses it, and the homeserver keeps one event. The access token
never reaches a repr, log or error. 429 waits for ``retry_after_ms``;
401/403 (``M_UNKNOWN_TOKEN``, ``M_FORBIDDEN``) are permanent.
"""

import hashlib
import html
import json
import urllib.parse

from .._secret import Secret
from .._text import cut
from .._typing import Any, Dict, Optional, Union
from ..exceptions import AlertConfigurationError, AlertDeliveryError
from ..models import AlertMessage
from ..net.url import URLRule, check_url
from ..pipeline.notification import Notification
from ._jsonhttp import HTTPChannel, encode_json, make_client, service_text, status_error
from ._local import plain_text, resolved_alert
from ._options import TRANSPORT, Option

__all__ = ()

_URL = URLRule(service="Matrix homeserver", query=False, userinfo=False, http_only_to_loopback=True)
#: Characters of the plain body, and the bytes of the content sent: a Matrix
#: event (content, ids and signatures) is at most 65536 bytes.
BODY_CHARS = 16000
EVENT_BYTES = 60000


def transaction_id(channel: str, alert: AlertMessage, state: str = "firing") -> str:
    """The transaction id of ``alert`` on ``channel``: the same for every attempt (a resolved
    message's differs from its firing's, so the homeserver does not take it for a retry)."""
    parts = (channel, alert.effective_dedup_key, repr(alert.created_at), alert.title, alert.body)
    key = "\0".join(parts if state == "firing" else (*parts, state))
    return "kst" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


class MatrixChannel(HTTPChannel):
    """Post alerts to a Matrix room.

    - ``homeserver``: the client-server API base, ``https://matrix.example``.
    - ``room_id``: ``!opaque:example`` (or an alias the server resolves).
    - ``access_token``: the bot user's token (a :class:`Secret`).
    - ``msgtype``: ``m.notice`` (default; clients treat it as a bot's) or ``m.text``.
    """

    kind = "matrix"
    options = (
        Option("homeserver", "text", "the homeserver's base URL", required=True, url=_URL),
        Option("room_id", "text", "the room: !id:server", required=True),
        Option("access_token", "text", "the bot user's access token", secret=True, required=True),
        Option(
            "msgtype", "choice", "the event's msgtype", default="m.notice", choices=("m.notice", "m.text")
        ),
        *TRANSPORT,
    )

    def __init__(
        self,
        homeserver: str,
        *,
        room_id: str,
        access_token: Union[str, Secret],
        msgtype: str = "m.notice",
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.homeserver = check_url(homeserver, key="homeserver", rule=_URL).rstrip("/")
        if not isinstance(room_id, str) or not room_id.strip() or room_id.strip()[0] not in "!#":
            raise AlertConfigurationError(
                "matrix: room_id must be a room id (!id:server) or alias", key="room_id"
            )
        self.room_id = room_id.strip()
        token = access_token.reveal() if isinstance(access_token, Secret) else access_token
        if not isinstance(token, str) or not token.strip() or any(c.isspace() for c in token.strip()):
            raise AlertConfigurationError(
                "matrix: access_token must be a token without spaces", key="access_token"
            )
        self.access_token = Secret(token.strip(), mask="***")
        if msgtype not in ("m.notice", "m.text"):
            raise AlertConfigurationError("matrix: msgtype must be m.notice or m.text", key="msgtype")
        self.msgtype = msgtype
        self._http_client(self.homeserver, key="homeserver")  # a bad proxy or CA bundle fails now

    # -- formatting -------------------------------------------------------
    def render(self, notification: Notification) -> Dict[str, Any]:
        """The ``m.room.message`` event's content for ``alert``; override to change it."""
        alert = notification.alert
        if notification.state == "resolved":
            alert = resolved_alert(alert)
        full = plain_text(alert, notification.held_back)
        limit = BODY_CHARS
        while True:  # escaping can grow the text: cut more until the event fits
            text = cut(full, limit)
            title, _, rest = text.partition("\n")
            formatted = f"<b>{html.escape(title)}</b>"
            if rest:
                formatted += "<br>" + html.escape(rest).replace("\n", "<br>")
            content = {
                "msgtype": self.msgtype,
                "body": text,
                "format": "org.matrix.custom.html",
                "formatted_body": formatted,
                "m.mentions": {},
            }
            if limit <= 500 or len(json.dumps(content).encode("utf-8")) <= EVENT_BYTES:
                return content
            limit //= 2

    def endpoint(self, alert: AlertMessage, state: str = "firing") -> str:
        """The URL ``alert`` is PUT to (its transaction id last)."""
        room = urllib.parse.quote(self.room_id, safe="")
        txn = transaction_id(self.name, alert, state)
        return f"{self.homeserver}/_matrix/client/v3/rooms/{room}/send/m.room.message/{txn}"

    def preview(self, alert: AlertMessage) -> str:
        payload = json.dumps(self.render(Notification(alert)), indent=2, ensure_ascii=False)
        return f"PUT {self.homeserver}/_matrix/client/v3/rooms/.../send/m.room.message/...\n{payload}"

    # -- delivery ---------------------------------------------------------
    def _transmit(self, notification: Notification, *, timeout: float) -> Optional[str]:
        body = encode_json(self.render(notification))
        # one URL per alert (its transaction id): no pool to keep
        client = make_client(self.endpoint(notification.alert, notification.state), self._transport)
        headers = {
            "Content-Type": "application/json",
            "Authorization": f"Bearer {self.access_token.reveal()}",
        }
        try:
            response = client.request("PUT", body, headers=headers, timeout=timeout)
        finally:
            client.close()
        data = response.json()
        if response.status == 200 and isinstance(data, dict) and isinstance(data.get("event_id"), str):
            return str(data["event_id"])
        said = service_text(response.body, hide=(self.access_token.reveal(),))
        wait = data.get("retry_after_ms") if isinstance(data, dict) else None
        retry_after = wait / 1000.0 if isinstance(wait, (int, float)) and not isinstance(wait, bool) else None
        if response.status == 200:
            raise AlertDeliveryError(f"Matrix answered 200 without an event_id: {said!r}", status=200)
        raise status_error("Matrix", response, said, retry_after=retry_after)

    def __repr__(self) -> str:
        where = f"homeserver={self.homeserver!r}, room_id={self.room_id!r}"
        return f"{type(self).__name__}(name={self.name!r}, {where})"
