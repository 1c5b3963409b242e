"""DiscordChannel against a loopback server speaking Discord's webhook API and rate limits."""

import json
import re
from typing import Any, Dict, List, Tuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kstalerts import AlertLevel, AlertMessage
from kstalerts.channels import DiscordChannel
from kstalerts.channels.discord import escape_markdown
from kstalerts.exceptions import AlertConfigurationError
from tests.clock import FakeClock
from tests.hostile import INJECTION, INJECTION_CLEAN
from tests.servers.paging import DiscordServer

T0 = 1700000000.25
HOOK = "https://discord.com/api/webhooks/123456789012345678/SECRET-token_abc"


class _Resolver:
    def __init__(self, values: Dict[str, str]) -> None:
        self.values = values

    def resolve(self, name: str) -> str:
        return self.values[name]


def _channel(url: str, **kwargs: Any) -> DiscordChannel:
    kwargs.setdefault("max_retries", 2)
    kwargs.setdefault("timeout", 5.0)
    return DiscordChannel(url, allow_custom_url=True, **kwargs)


# -- payload (pure) -------------------------------------------------------------
def test_payload_is_one_embed_with_mentions_disabled() -> None:
    ch = DiscordChannel(HOOK, username="alerts")
    alert = AlertMessage(
        "Disk full", "/var at 97%", AlertLevel.WARNING, labels={"host": "db1"}, created_at=T0
    )
    assert ch.build_payload(alert) == {
        "embeds": [
            {
                "title": "Disk full",
                "color": 0xF39C12,
                "timestamp": "2023-11-14T22:13:20.250Z",
                "footer": {"text": "WARNING \u00b7 kstalerts"},
                "description": "/var at 97%",
                "fields": [{"name": "host", "value": "db1", "inline": True}],
            }
        ],
        "allowed_mentions": {"parse": []},
        "username": "alerts",
    }


def test_colour_follows_the_level() -> None:
    ch = DiscordChannel(HOOK)
    assert [ch.build_embed(AlertMessage("x", level=lv))["color"] for lv in AlertLevel] == [
        0x3498DB,
        0x2ECC71,
        0xF39C12,
        0xE74C3C,
    ]


def test_embed_stays_within_discords_limits() -> None:
    labels = {f"label{i:02d}": "v" * 1000 for i in range(30)}
    embed = DiscordChannel(HOOK).build_embed(AlertMessage("t" * 500, "b" * 5000, labels=labels))
    assert len(embed["title"]) <= 256 and re.fullmatch(r"t+ \[… \d+ characters cut …\] t+", embed["title"])
    assert 4090 <= len(embed["description"]) <= 4096
    total = len(embed["title"]) + len(embed["description"]) + len(embed["footer"]["text"])
    total += sum(len(f["name"]) + len(f["value"]) for f in embed["fields"])
    assert total <= 6000
    assert len(embed["fields"]) == 1  # the rest would not fit in 6000 characters
    many = DiscordChannel(HOOK).build_embed(AlertMessage("t", labels={f"k{i}": "" for i in range(30)}))
    assert len(many["fields"]) == 25 and many["fields"][0]["value"] == "-"


@pytest.mark.parametrize(
    "url",
    [
        HOOK,
        "https://discordapp.com/api/webhooks/1/tok",
        "https://canary.discord.com/api/v10/webhooks/1/tok",
        "https://discord.com/api/webhooks/1/tok?thread_id=5",
    ],
)
def test_discord_urls_are_accepted(url: str) -> None:
    assert DiscordChannel(url).name == "discord"


@pytest.mark.parametrize(
    "url",
    [
        "http://discord.com/api/webhooks/1/tok",
        "https://discord.com.evil.example/api/webhooks/1/tok",
        "https://discord.com/api/users/1/tok",
        "https://discord.com/api/webhooks/notanid/tok",
    ],
)
def test_other_urls_need_allow_custom_url(url: str) -> None:
    with pytest.raises(AlertConfigurationError) as info:
        DiscordChannel(url)
    assert str(info.value) == (
        "webhook_url: must be a Discord webhook URL: https on discord.com, discordapp.com, ptb.discord.com,"
        " canary.discord.com with the service's path (for a compatible server, a relay or a test server:"
        " allow_custom_url: true in a config file, allow_custom_url=True in code)"
    )
    assert "tok" not in str(info.value)


def test_the_token_never_shows() -> None:
    ch = DiscordChannel(HOOK)
    shown = repr(ch) + ch.preview(AlertMessage("x")) + repr(vars(ch))
    assert "SECRET-token_abc" not in shown
    assert repr(ch) == "DiscordChannel(name='discord', url='https://discord.com/***')"


# -- delivery -------------------------------------------------------------------------
def test_delivery_returns_the_message_id(discord_server: DiscordServer) -> None:
    result = _channel(discord_server.webhook_url).send(
        AlertMessage("@everyone Disk full", level=AlertLevel.CRITICAL)
    )
    assert (result.success, result.attempts, result.message_id) == (True, 1, "1200000000000000001")
    [req] = discord_server.requests
    assert req.query["wait"] == ["true"]
    assert req.json["allowed_mentions"] == {"parse": []}  # "@everyone" in the title pings nobody
    assert req.json["embeds"][0]["title"] == "\\@everyone Disk full"  # and shows as written


def test_an_empty_bucket_is_waited_out_instead_of_earning_a_429() -> None:
    server = DiscordServer(limit=2, window=0.4)
    try:
        ch = _channel(server.webhook_url, max_retries=0)
        results = [ch.send(AlertMessage(f"alert {i}")) for i in range(5)]
        assert [(r.success, r.attempts) for r in results] == [(True, 1)] * 5
        assert server.limited == 0  # never rate limited: the channel read X-RateLimit-Remaining: 0
        assert len(server.messages) == 5
    finally:
        server.close()


def test_a_429_waits_the_body_retry_after_then_delivers(discord_server: DiscordServer) -> None:
    clock = FakeClock()
    discord_server.global_limit(retry_after=1.5)
    ch = _channel(discord_server.webhook_url, clock=clock, sleep=clock.sleep)
    result = ch.send(AlertMessage("x"))
    assert (result.success, result.attempts) == (True, 2)
    assert clock.sleeps == [1.5]  # the JSON body's retry_after (the Retry-After header says 2)
    assert discord_server.limited == 1


def test_a_429_without_body_uses_reset_after_then_retry_after(discord_server: DiscordServer) -> None:
    clock = FakeClock()
    discord_server.force(
        429, b"<html>cloudflare</html>", {"X-RateLimit-Reset-After": "0.75", "Retry-After": "3"}
    )
    discord_server.force(429, b"", {"Retry-After": "3"})
    ch = _channel(discord_server.webhook_url, clock=clock, sleep=clock.sleep)
    assert ch.send(AlertMessage("x")).success
    assert clock.sleeps == [0.75, 3.0]


def test_a_429_that_does_not_end_fails_rate_limited(discord_server: DiscordServer) -> None:
    clock = FakeClock()
    body = json.dumps(
        {"message": "You are being rate limited.", "retry_after": 0.25, "global": True}
    ).encode()
    discord_server.force(429, body, {"Content-Type": "application/json"}, times=3)
    ch = _channel(discord_server.webhook_url, max_retries=1, clock=clock, sleep=clock.sleep)
    result = ch.send(AlertMessage("x"))
    assert (result.success, result.status, result.retryable, result.attempts) == (False, 429, True, 2)
    assert result.error == (
        "Discord rate limited the request (HTTP 429 Too Many Requests, retry after 0.25s):"
        " You are being rate limited. (scope: global) (gave up after 2 attempts)"
    )


def test_a_huge_retry_after_is_capped_by_the_policy(discord_server: DiscordServer) -> None:
    clock = FakeClock()
    body = json.dumps(
        {"message": "You are being rate limited.", "retry_after": 1e9, "global": False}
    ).encode()
    discord_server.force(429, body, {"Content-Type": "application/json"})
    ch = _channel(discord_server.webhook_url, clock=clock, sleep=clock.sleep)
    result = ch.send(AlertMessage("x"))
    assert result.success
    assert clock.sleeps[0] == 60.0  # RetryPolicy.max_retry_after


def test_unknown_webhook_and_bad_token_are_permanent(discord_server: DiscordServer) -> None:
    wrong_id = discord_server.webhook_url.replace(discord_server.webhook_id, "999")
    result = _channel(wrong_id).send(AlertMessage("x"))
    assert (result.success, result.status, result.attempts) == (False, 404, 1)
    assert result.error == "Discord rejected the request (HTTP 404 Not Found): Unknown Webhook (code 10015)"
    wrong_token = discord_server.webhook_url.rsplit("/", 1)[0] + "/nope"
    result = _channel(wrong_token).send(AlertMessage("x"))
    assert (
        result.error
        == "Discord rejected the request (HTTP 401 Unauthorized): Invalid Webhook Token (code 50027)"
    )


def test_a_rejected_body_shows_discords_form_errors(discord_server: DiscordServer) -> None:
    class Empty(DiscordChannel):
        def build_payload(self, alert: AlertMessage) -> Dict[str, Any]:
            return {"content": "", "allowed_mentions": {"parse": []}}

    result = Empty(discord_server.webhook_url, allow_custom_url=True).send(AlertMessage("x"))
    assert (result.success, result.status, result.retryable) == (False, 400, False)
    assert (
        result.error
        == "Discord rejected the request (HTTP 400 Bad Request): Cannot send an empty message (code 50006)"
    )


def test_server_errors_are_retried(discord_server: DiscordServer) -> None:
    discord_server.force(502, b"Bad Gateway", {"Content-Type": "text/plain"})
    clock = FakeClock()
    result = _channel(discord_server.webhook_url, clock=clock, sleep=clock.sleep).send(AlertMessage("x"))
    assert (result.success, result.attempts) == (True, 2)


def test_from_config(discord_server: DiscordServer) -> None:
    ch = DiscordChannel.from_config(
        {"type": "discord", "credentials": "hook", "allow_custom_url": True, "username": "bot"},
        _Resolver({"hook": discord_server.webhook_url}),
    )
    assert ch.send(AlertMessage("x")).success
    assert discord_server.requests[0].json["username"] == "bot"
    cases: List[Tuple[Dict[str, Any], str]] = [
        ({}, "credentials: discord: needs credentials: or webhook_url:"),
        ({"webhook_url": HOOK, "username": 5}, "username: discord: username must be a string, got int"),
        (
            {"webhook_url": HOOK, "allow_custom_url": "no"},
            "allow_custom_url: discord: allow_custom_url must be true or false, got 'no'",
        ),
    ]
    for config, message in cases:
        with pytest.raises(AlertConfigurationError) as info:
            DiscordChannel.from_config(config)
        assert str(info.value) == message
    assert DiscordChannel.config_keys >= {"webhook_url", "username", "avatar_url", "allow_custom_url"}


def test_avatar_and_a_204_without_message(discord_server: DiscordServer) -> None:
    discord_server.force(204, b"", {})
    ch = _channel(discord_server.webhook_url, avatar_url="https://img.example/a.png")
    result = ch.send(AlertMessage("x"))
    assert (result.success, result.message_id) == (True, None)
    assert discord_server.requests[0].json["avatar_url"] == "https://img.example/a.png"
    ch.close()


def test_an_empty_bucket_longer_than_the_timeout_is_a_retryable_wait(discord_server: DiscordServer) -> None:
    clock = FakeClock()
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "30"}
    discord_server.force(200, b'{"id": "1"}', {"Content-Type": "application/json", **headers})
    ch = _channel(discord_server.webhook_url, max_retries=0, clock=clock, sleep=clock.sleep)
    assert ch.send(AlertMessage("first")).success
    result = ch.send(AlertMessage("second"))
    assert (result.success, result.retryable, result.attempts) == (False, True, 1)
    assert result.error == "Discord rate-limit bucket is empty; it refills in 30.00s"
    assert len(discord_server.requests) == 1  # the second alert earned no 429: it was never sent


def test_form_errors_and_unusable_waits(discord_server: DiscordServer) -> None:
    body = {"message": "Invalid Form Body", "code": 50035, "errors": {"embeds": "too big"}}
    discord_server.force(400, json.dumps(body).encode(), {"Content-Type": "application/json"})
    result = _channel(discord_server.webhook_url).send(AlertMessage("x"))
    assert result.error == (
        'Discord rejected the request (HTTP 400 Bad Request): Invalid Form Body (code 50035): {"embeds":"too big"}'
    )
    clock = FakeClock()
    bad = json.dumps({"message": "slow down", "retry_after": "soon"}).encode()
    discord_server.force(429, bad, {"Content-Type": "application/json", "X-RateLimit-Reset-After": "nan"})
    result = _channel(discord_server.webhook_url, clock=clock, sleep=clock.sleep).send(AlertMessage("y"))
    assert result.success
    assert len(clock.sleeps) == 1 and 0 <= clock.sleeps[0] <= 0.5  # no usable wait: the policy's back-off


def test_no_secret_in_logs(discord_server: DiscordServer, caplog_all: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    discord_server.global_limit(retry_after=0.5)
    ch = _channel(discord_server.webhook_url, clock=clock, sleep=clock.sleep)
    assert ch.send(AlertMessage("x")).success
    wrong = _channel(discord_server.webhook_url.rsplit("/", 1)[0] + "/wrong-TOKEN-value")
    assert not wrong.send(AlertMessage("y")).success
    assert caplog_all.records  # the HTTP client did log the requests
    assert discord_server.token not in caplog_all.text and "wrong-TOKEN-value" not in caplog_all.text


def test_markup_arrives_inert(discord_server: DiscordServer) -> None:
    """Links, mentions and formatting are escaped in the title, description and fields; no ping."""
    alert = AlertMessage(INJECTION, INJECTION, labels={INJECTION: INJECTION})
    assert _channel(discord_server.webhook_url).send(alert).success
    [req] = discord_server.requests
    assert req.json["allowed_mentions"] == {"parse": []}
    embed = req.json["embeds"][0]
    shown = [embed["title"], embed["description"], embed["fields"][0]["name"], embed["fields"][0]["value"]]
    escaped = (
        "\\[Reset\\]\\(https\\://evil.example/reset\\) \\<!channel\\> \\@everyone \\<\\@123\\> red \\*\\*bold\\*\\*"
    )
    assert shown == [escaped] * 4
    assert re.sub(r"\\(.)", r"\1", escaped) == INJECTION_CLEAN  # unescaped, it reads as written
    assert "\x1b" not in req.body.decode("utf-8") and "\\u001b" not in req.body.decode("utf-8")


@given(st.text(max_size=200))
def test_escaped_markdown_reads_back_as_written(text: str) -> None:
    """Removing each escaping backslash gives the text back: what shows is what was sent."""
    escaped = escape_markdown(text)
    assert re.sub(r"\\(.)", r"\1", escaped, flags=re.DOTALL) == text
    assert not re.search(r"[\\*_~`|<>\[\]()#@:]", re.sub(r"\\.", "", escaped, flags=re.DOTALL))  # every sign escaped
