"""NtfyChannel and MatrixChannel against loopback servers that check the documented request shape."""

import base64
import email.header
import json

import pytest

from kstalerts import AlertLevel, AlertMessage, Notification
from kstalerts.channels import channel_class
from kstalerts.channels.matrix import MatrixChannel, transaction_id
from kstalerts.channels.ntfy import NtfyChannel
from kstalerts.digest import DigestSummary
from kstalerts.exceptions import AlertConfigurationError
from tests.servers.chat import MATRIX_TOKEN, NTFY_TOKEN, MatrixServer, NtfyServer

# -- ntfy ---------------------------------------------------------------------


def test_ntfy_posts_the_documented_request(ntfy_server: NtfyServer) -> None:
    channel = NtfyChannel(f"{ntfy_server.base_url}/alerts", token=NTFY_TOKEN, tags=["db"])
    alert = AlertMessage("Disk full", "/var at 97%\n**not bold**", AlertLevel.CRITICAL)
    result = channel.send(alert)
    assert result.success, result.error
    assert result.message_id == "msg1"
    (seen,) = ntfy_server.requests
    assert (seen.method, seen.path) == ("POST", "/alerts")
    assert seen.headers["Title"] == "Disk full"
    assert (seen.headers["Priority"], seen.headers["Tags"]) == ("5", "rotating_light,db")
    assert seen.headers["Authorization"] == f"Bearer {NTFY_TOKEN}"
    assert "Markdown" not in seen.headers  # the body is shown as plain text
    assert seen.body.decode("utf-8") == "/var at 97%\n**not bold**"


@pytest.mark.parametrize(("level", "priority"), [("WARNING", "4"), ("SUCCESS", "3"), ("INFO", "3")])
def test_ntfy_priority_follows_the_level(ntfy_server: NtfyServer, level: str, priority: str) -> None:
    assert NtfyChannel(f"{ntfy_server.base_url}/t").send(AlertMessage("x", level=AlertLevel[level])).success
    assert ntfy_server.requests[0].headers["Priority"] == priority
    assert "Authorization" not in ntfy_server.requests[0].headers


def test_ntfy_headers_are_inert(ntfy_server: NtfyServer) -> None:
    channel = NtfyChannel(f"{ntfy_server.base_url}/t")
    assert channel.send(AlertMessage("Caf\u00e9 \u2615\r\nX-Injected: 1")).success
    (seen,) = ntfy_server.requests
    assert "X-Injected" not in seen.headers
    ((decoded, charset),) = email.header.decode_header(seen.headers["Title"])
    assert decoded.decode(charset) == "Caf\u00e9 \u2615 X-Injected: 1"


def test_ntfy_basic_auth_and_a_bounded_body(ntfy_server: NtfyServer) -> None:
    channel = NtfyChannel(f"{ntfy_server.base_url}/t", token="ops:pa55word", auth="basic")
    held = DigestSummary(2, AlertLevel.INFO, "2 alerts held back", ("2x disk",), 0)
    assert channel.notify(Notification(AlertMessage("x", "b" * 20000), held_back=held)).success
    (seen,) = ntfy_server.requests
    assert seen.headers["Authorization"] == "Basic " + base64.b64encode(b"ops:pa55word").decode()
    assert len(seen.body) <= 4096 and " cut …]" in seen.body.decode("utf-8")
    assert seen.body.endswith(b"2 alerts held back\n2x disk")


def test_ntfy_errors_never_show_the_secret(ntfy_server: NtfyServer) -> None:
    ntfy_server.queue(403, {"error": f"forbidden for Bearer {NTFY_TOKEN}"})
    channel = NtfyChannel(f"{ntfy_server.base_url}/t", token=NTFY_TOKEN, max_retries=0)
    result = channel.send(AlertMessage("x"))
    assert not result.success and not result.retryable
    assert NTFY_TOKEN not in str(result.error) and "HTTP 403" in str(result.error)
    assert NTFY_TOKEN not in repr(channel)


def test_ntfy_renders_a_resolved_message_low_with_a_check_mark(ntfy_server: NtfyServer) -> None:
    channel = NtfyChannel(f"{ntfy_server.base_url}/alerts", tags=["db"])
    alert = AlertMessage("Disk full", "resolved after 3m", AlertLevel.CRITICAL)
    assert channel.notify(Notification(alert, state="resolved")).success
    (seen,) = ntfy_server.requests
    assert seen.headers["Title"] == "RESOLVED: Disk full"
    assert (seen.headers["Priority"], seen.headers["Tags"]) == ("2", "white_check_mark,db")
    assert seen.body.decode("utf-8") == "resolved after 3m"


def test_ntfy_from_config_and_url_rule() -> None:
    cls = channel_class("ntfy")
    channel = cls.from_config({"url": "https://ntfy.example/alerts", "token": "t"})
    assert repr(channel) == "NtfyChannel(name='ntfy', url='https://ntfy.example/***')"
    with pytest.raises(AlertConfigurationError, match="http:// only to a loopback address"):
        cls.from_config({"url": "http://ntfy.example/alerts"})


# -- Matrix -------------------------------------------------------------------


def _matrix(server: MatrixServer, **options: object) -> MatrixChannel:
    return MatrixChannel(server.base_url, room_id="!room:example", access_token=MATRIX_TOKEN, **options)  # type: ignore[arg-type]


def test_matrix_puts_the_documented_event(matrix_server: MatrixServer) -> None:
    alert = AlertMessage("Disk <b>full</b> @room", "a & b\n<script>x</script>", AlertLevel.WARNING)
    result = _matrix(matrix_server).send(alert)
    assert result.success, result.error
    assert result.message_id == "$event1"
    (seen,) = matrix_server.requests
    txn = transaction_id("matrix", alert)
    assert seen.path == f"/_matrix/client/v3/rooms/%21room%3Aexample/send/m.room.message/{txn}"
    assert seen.json() == {
        "msgtype": "m.notice",
        "body": "Disk <b>full</b> @room\na & b\n<script>x</script>",
        "format": "org.matrix.custom.html",
        "formatted_body": "<b>Disk &lt;b&gt;full&lt;/b&gt; @room</b><br>a &amp; b<br>&lt;script&gt;x&lt;/script&gt;",
        "m.mentions": {},
    }


def test_a_retried_matrix_send_reuses_its_transaction_id(matrix_server: MatrixServer) -> None:
    matrix_server.queue(500, {"errcode": "M_UNKNOWN", "error": "busy"})
    channel = _matrix(matrix_server, max_retries=2)
    alert = AlertMessage("x", labels={"host": "db1"})
    result = channel.send(alert)
    assert result.success and result.attempts == 2
    first, second = matrix_server.requests
    assert first.path == second.path and first.path.endswith(transaction_id("matrix", alert))
    # sent again later from the spool: the same transaction, the same event
    again = channel.send(AlertMessage.from_dict(json.loads(json.dumps(alert.to_dict()))))
    assert again.message_id == result.message_id == "$event1"
    assert matrix_server.requests[2].path == first.path
    other = channel.send(AlertMessage("x", labels={"host": "db1"}))  # a new alert: a new transaction
    assert other.message_id == "$event2"


def test_matrix_renders_a_resolved_notice_inert_in_its_own_transaction(matrix_server: MatrixServer) -> None:
    alert = AlertMessage("Disk <b>full</b> @room", "a & b", AlertLevel.CRITICAL)
    channel = _matrix(matrix_server)
    assert channel.send(alert).success
    assert channel.notify(Notification(alert, state="resolved")).success
    firing, resolved = matrix_server.requests
    assert firing.path != resolved.path  # not taken by the homeserver for a retry of the firing
    assert resolved.path.endswith(transaction_id("matrix", alert, "resolved"))
    assert resolved.json() == {
        "msgtype": "m.notice",
        "body": "RESOLVED: Disk <b>full</b> @room\na & b",
        "format": "org.matrix.custom.html",
        "formatted_body": "<b>RESOLVED: Disk &lt;b&gt;full&lt;/b&gt; @room</b><br>a &amp; b",
        "m.mentions": {},
    }


def test_matrix_carries_the_digest(matrix_server: MatrixServer) -> None:
    held = DigestSummary(3, AlertLevel.WARNING, "3 alerts held back", ("3x <disk>",), 0)
    assert _matrix(matrix_server).notify(Notification(AlertMessage("x"), held_back=held)).success
    content = matrix_server.requests[0].json()
    assert content["body"] == "x\n\n3 alerts held back\n3x <disk>"
    assert content["formatted_body"] == "<b>x</b><br><br>3 alerts held back<br>3x &lt;disk&gt;"


def test_matrix_rate_limit_and_refusals(matrix_server: MatrixServer) -> None:
    matrix_server.queue(429, {"errcode": "M_LIMIT_EXCEEDED", "retry_after_ms": 1500})
    result = _matrix(matrix_server, max_retries=0).send(AlertMessage("x"))
    assert not result.success and result.retryable
    assert "retry after 1.5s" in str(result.error)
    bad = MatrixChannel(matrix_server.base_url, room_id="!r:x", access_token="wrong", max_retries=2)
    refused = bad.send(AlertMessage("x"))
    assert not refused.success and not refused.retryable and refused.attempts == 1
    assert "wrong" not in str(refused.error) and MATRIX_TOKEN not in repr(bad)


def test_matrix_from_config() -> None:
    cls = channel_class("matrix")
    config = {"homeserver": "https://matrix.example", "room_id": "!r:example", "access_token": "syt_x"}
    channel = cls.from_config(config)
    assert "syt_x" not in repr(channel)
    with pytest.raises(AlertConfigurationError, match="needs credentials: or access_token"):
        cls.from_config({"homeserver": "https://matrix.example", "room_id": "!r:example"})
    with pytest.raises(AlertConfigurationError, match="room_id must be a room id"):
        cls.from_config({**config, "room_id": "general"})


def test_a_matrix_event_stays_under_the_size_limit(matrix_server: MatrixServer) -> None:
    body = '<&">' * 16000  # every character grows when escaped
    assert _matrix(matrix_server).send(AlertMessage("big", body)).success
    seen = matrix_server.requests[0]
    assert len(seen.body) <= 60000
    assert " characters cut …]" in seen.json()["body"]
