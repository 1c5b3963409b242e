"""WebhookChannel and the status reading the HTTP channels share."""

import json
import re
import time
from typing import Any, Dict, List, Optional

import pytest

from kstalerts import AlertLevel, AlertMessage, RetryPolicy
from kstalerts.channels import WebhookChannel
from kstalerts.exceptions import AlertConfigurationError
from tests.hostile import INJECTION, INJECTION_CLEAN
from tests.servers.slack import TOKEN, SlackServer


def bare(text: Optional[str]) -> Optional[str]:
    """An error's text without the ``host:port: `` it starts with (tested on its own)."""
    return None if text is None else re.sub(r"^(proxy )?\[?[\w.:-]+?\]?:\d+: ", "", text)


FAST = RetryPolicy(max_retries=2, base_delay=0.01, max_delay=0.05)
ALERT = AlertMessage('Disk "full"', "line 1\nline 2", AlertLevel.CRITICAL, labels={"host": "db1"})


def hook(server: SlackServer, mode: str = "ok", **options: Any) -> WebhookChannel:
    options.setdefault("retry", FAST)
    options.setdefault("timeout", 1.0)
    return WebhookChannel(server.url(mode), **options)


def test_default_body_is_the_alert_as_json(slack_server: SlackServer) -> None:
    result = hook(slack_server).send(ALERT)
    assert (result.success, result.attempts) == (True, 1)
    seen = slack_server.requests[0]
    assert seen.method == "POST"
    assert seen.headers["Content-Type"] == "application/json; charset=utf-8"
    payload = seen.json()
    assert payload == {
        "title": ALERT.title,
        "body": ALERT.body,
        "level": "CRITICAL",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ALERT.created_at)),
        "created_at": ALERT.created_at,
        "labels": {"host": "db1"},
        "dedup_key": None,
    }


def test_a_success_alert_carries_its_level_name(slack_server: SlackServer) -> None:
    assert hook(slack_server).send(AlertMessage("service back", level=AlertLevel.SUCCESS)).success
    assert slack_server.requests[0].json()["level"] == "SUCCESS"


def test_headers_and_method(slack_server: SlackServer) -> None:
    channel = hook(
        slack_server,
        method="put",
        headers={"Authorization": "Bearer s3cr3t", "content-type": "application/vnd.x+json", "X-Team": "ops"},
    )
    assert channel.send(ALERT).success
    seen = slack_server.requests[0]
    assert seen.method == "PUT"
    assert seen.headers["Authorization"] == "Bearer s3cr3t"
    assert seen.headers["content-type"] == "application/vnd.x+json"  # as the caller spelt it
    assert seen.headers["X-Team"] == "ops"


def test_preview_and_repr_mask_the_url_and_secret_headers(slack_server: SlackServer) -> None:
    channel = hook(
        slack_server, headers={"Authorization": "Bearer s3cr3t", "X-Api-Key": "k3y", "X-Team": "ops"}
    )
    preview = channel.preview(ALERT)
    assert preview.splitlines()[:5] == [
        f"POST http://127.0.0.1:{slack_server.port}/***",
        "Content-Type: application/json; charset=utf-8",
        "Authorization: ***",
        "X-Api-Key: ***",
        "X-Team: ***",
    ]
    assert "s3cr3t" not in preview and "k3y" not in preview and TOKEN not in preview
    assert repr(channel) == f"WebhookChannel(name='webhook', url='http://127.0.0.1:{slack_server.port}/***')"


def test_a_text_template_stays_valid_json(slack_server: SlackServer) -> None:
    template = '{"text": "[$level] $title", "details": "$body", "at": "$timestamp", "from": "$channel"}'
    assert hook(slack_server, template=template, name="ops").send(ALERT).success
    body = slack_server.requests[0].json()
    assert body["text"] == '[CRITICAL] Disk "full"'
    assert body["details"] == "line 1\nline 2"
    assert body["from"] == "ops"
    assert len(body["at"]) == 20 and body["at"].endswith("Z")


def test_a_mapping_template(slack_server: SlackServer) -> None:
    template = {"text": "$title", "priority": 1, "tags": ["$level", "alerts"], "meta": {"key": "$dedup_key"}}
    assert hook(slack_server, template=template).send(ALERT).success
    assert slack_server.requests[0].json() == {
        "text": 'Disk "full"',
        "priority": 1,
        "tags": ["CRITICAL", "alerts"],
        "meta": {"key": 'CRITICAL:Disk "full"'},
    }


@pytest.mark.parametrize(
    ("returned", "body"),
    [({"t": "x"}, b'{"t": "x"}'), ("plain text", b"plain text"), (b"\x00raw", b"\x00raw")],
)
def test_a_callable_template(slack_server: SlackServer, returned: Any, body: bytes) -> None:
    seen = []

    def template(alert: AlertMessage) -> Any:
        seen.append(alert)
        return returned

    channel = hook(slack_server, template=template)
    assert seen == []  # not called before the first alert
    assert channel.send(ALERT).success
    assert slack_server.requests[0].body == body
    assert seen == [ALERT]


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (
            '{"t": "$nope"}',
            "template: unknown placeholder $nope; known: $body, $channel, $created_at, $dedup_key,"
            " $held_back, $level, $status, $timestamp, $title",
        ),
        ({"a": ["$oops"]}, "template: unknown placeholder $oops; known: "),
        ('{"price": "5$"}', "template: a $ must start a placeholder (write $$ for a dollar)"),
    ],
)
def test_a_bad_template_fails_at_construction(template: Any, message: str) -> None:
    with pytest.raises(AlertConfigurationError) as info:
        WebhookChannel(f"https://example.com/{TOKEN}", template=template)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"method": "GET"}, "method: must be POST, PUT or PATCH"),
        ({"headers": {"X-A": "1\r\nX-Injected: 2"}}, "headers: header X-A: the value contains a line break"),
        ({"headers": {"X-A": 1}}, "headers: header names and values must be strings"),
        ({"proxy": "ftp://proxy"}, "proxy: must be an http:// URL with a host"),
    ],
)
def test_bad_options(options: Dict[str, Any], message: str) -> None:
    with pytest.raises(AlertConfigurationError) as info:
        WebhookChannel(f"https://example.com/{TOKEN}", **options)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("mode", "success", "attempts", "error"),
    [
        ("status=201:created", True, 1, None),
        ("status=204:", True, 1, None),
        ("fail=2:502", True, 3, None),
        ("status=404:not here", False, 1, "Webhook rejected the request (HTTP 404 Not Found): not here"),
        ("status=422:", False, 1, "Webhook rejected the request (HTTP 422 Unprocessable Entity)"),
        (
            "status=408:",
            False,
            3,
            "Webhook server error (HTTP 408 Request Timeout) (gave up after 3 attempts)",
        ),
        (
            "redirect",
            False,
            1,
            "Webhook answered with a redirect (HTTP 302 Found), not followed",
        ),
        (
            "ratelimit=none",
            False,
            3,
            "Webhook rate limited the request (HTTP 429 Too Many Requests): rate_limited (gave up after 3 attempts)",
        ),
        ("hang", False, 3, "timed out after 1s while waiting for the response (gave up after 3 attempts)"),
    ],
)
def test_statuses(slack_server: SlackServer, mode: str, success: bool, attempts: int, error: Any) -> None:
    channel = hook(
        slack_server, mode, retry=RetryPolicy(max_retries=2 if mode != "hang" else 0, base_delay=0.01)
    )
    if mode == "hang":
        attempts = 1
        error = "timed out after 1s while waiting for the response"
    result = channel.send(ALERT)
    assert (result.success, result.attempts, bare(result.error)) == (success, attempts, error)


def test_a_json_id_becomes_the_message_id(slack_server: SlackServer) -> None:
    assert hook(slack_server, 'body={"id": 42, "ok": true}').send(ALERT).message_id == "42"
    assert hook(slack_server, 'body={"id": "abc"}').send(ALERT).message_id == "abc"
    assert hook(slack_server, "body={not json").send(ALERT).message_id is None
    assert hook(slack_server, "body=ok").send(ALERT).message_id is None


def test_an_echoed_url_or_token_is_masked_in_the_error(slack_server: SlackServer) -> None:
    slack_server.queue(f"status=400:no hook at {slack_server.url()} ({TOKEN})")
    result = hook(slack_server).send(ALERT)
    assert result.error == "Webhook rejected the request (HTTP 400 Bad Request): no hook at *** (***)"


def test_an_echoed_secret_header_is_masked_in_the_error(slack_server: SlackServer) -> None:
    """A service that echoes the caller's Authorization header: the error hides it, whole or its token."""
    slack_server.queue("status=401:bad credentials: Bearer s3cr3t-token-value")
    headers = {"Authorization": "Bearer s3cr3t-token-value"}
    result = hook(slack_server, headers=headers).send(ALERT)
    assert result.error == "Webhook rejected the request (HTTP 401 Unauthorized): bad credentials: ***"
    slack_server.queue("status=403:unknown team key k9Q2x7LmZp")  # a secret of no known shape
    result = hook(slack_server, headers={"X-Team": "k9Q2x7LmZp"}).send(ALERT)
    assert result.error == "Webhook rejected the request (HTTP 403 Forbidden): unknown team key ***"


def test_429_retry_after_is_honoured(slack_server: SlackServer) -> None:
    slack_server.queue("ratelimit=7")
    waits: List[float] = []
    result = hook(slack_server, sleep=waits.append).send(ALERT)
    assert (result.success, result.attempts, waits) == (True, 2, [7.0])


# -- from_config -------------------------------------------------------------------
class Resolver:
    def resolve(self, name: str) -> str:
        return {"hook": self.url}[name]

    def __init__(self, url: str) -> None:
        self.url = url


def test_from_config(slack_server: SlackServer) -> None:
    config = {
        "type": "webhook",
        "credentials": "hook",
        "method": "PATCH",
        "headers": {"X-Team": "ops"},
        "template": {"text": "$title"},
        "timeout": 2,
        "max_retries": 0,
    }
    channel = WebhookChannel.from_config(config, Resolver(slack_server.url()))
    assert (channel.timeout, channel.max_retries) == (2.0, 0)
    assert channel.send(ALERT).success
    seen = slack_server.requests[0]
    assert (seen.method, seen.headers["X-Team"], json.loads(seen.body)) == (
        "PATCH",
        "ops",
        {"text": 'Disk "full"'},
    )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "credentials: webhook: needs credentials: or url:"),
        (
            {"url": "https://example.com/x", "headers": ["a"]},
            "headers: webhook: headers must be a mapping of names to values",
        ),
        (
            {"url": "https://example.com/x", "template": 3},
            "template: webhook: template must be a text or a mapping",
        ),
        ({"url": "https://example.com/x", "method": 3}, "method: webhook: method must be a string, got int"),
        ({"url": f"example.com/{TOKEN}"}, "url: must be an http:// or https:// URL with a host"),
    ],
)
def test_from_config_errors(config: Dict[str, Any], message: str) -> None:
    with pytest.raises(AlertConfigurationError) as info:
        WebhookChannel.from_config(config)
    assert str(info.value) == message


def test_config_keys() -> None:
    assert WebhookChannel.config_keys == frozenset(
        {"url", "method", "headers", "template", "ssl_verify", "ssl_ca_bundle", "proxy"}
    )


def test_markup_arrives_as_json_strings(slack_server: SlackServer) -> None:
    """A webhook gets JSON: text is a string value, as written, with the ANSI colour gone."""
    alert = AlertMessage(INJECTION, INJECTION, labels={"by": INJECTION})
    assert hook(slack_server).send(alert).success
    templated = hook(slack_server, template='{"text": "$title / $body"}').send(alert)
    assert templated.success
    plain, filled = slack_server.requests
    payload = plain.json()
    assert (payload["title"], payload["body"], payload["labels"]) == (
        INJECTION_CLEAN, INJECTION_CLEAN, {"by": INJECTION_CLEAN}
    )
    assert filled.json() == {"text": f"{INJECTION_CLEAN} / {INJECTION_CLEAN}"}
    for request in (plain, filled):
        assert b"\x1b" not in request.body and b"\\u001b" not in request.body
