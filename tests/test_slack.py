"""SlackChannel against the Slack-compatible loopback server (tests/servers/slack.py)."""

import email.utils
import json
import os
import pathlib
import re
import shlex
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple, overload

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kstalerts import AlertLevel, AlertManager, AlertMessage, AlertResult, RetryPolicy
from kstalerts._secret import Secret
from kstalerts.channels import SlackChannel
from kstalerts.channels.slack import escape_mrkdwn
from kstalerts.exceptions import AlertConfigurationError
from kstalerts.pipeline.notification import Notification
from tests.hostile import HOSTILE_TEXT, INJECTION, INJECTION_CLEAN
from tests.servers.proxy import TinyProxy
from tests.servers.slack import TOKEN, SlackServer, TLSFiles


@overload
def bare(text: str) -> str: ...


@overload
def bare(text: None) -> None: ...


def bare(text: Optional[str]) -> Optional[str]:
    """An error's text without the ``host:port: `` it starts with (tested on its own)."""
    return None if text is None else re.sub(r"^(proxy )?\[?[\w.:-]+?\]?:\d+: ", "", text)


TIMEOUT = 1.0
BOUND = TIMEOUT + 1.0  # generous under load; a hang would last 60 s, a trickle (4 bytes a second) 20 s or more
FAST = RetryPolicy(max_retries=2, base_delay=0.01, max_delay=0.05)
REAL_URL = f"https://hooks.slack.com/services/T0TEST1/B0TEST2/{TOKEN}"
ALERT = AlertMessage("Disk full", "/var is at 97%", AlertLevel.WARNING)


def slack(server: SlackServer, mode: str = "ok", **options: Any) -> SlackChannel:
    options.setdefault("retry", FAST)
    options.setdefault("timeout", TIMEOUT)
    return SlackChannel(server.url(mode), allow_custom_url=True, **options)


class Sleeps:
    """An injected sleep that records the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: List[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


# -- keep-alive -----------------------------------------------------------------
def test_200_alerts_open_one_connection(slack_server: SlackServer) -> None:
    channel = slack(slack_server)
    started = time.monotonic()
    results = [channel.send(AlertMessage(f"alert {i}")) for i in range(200)]
    elapsed = time.monotonic() - started
    print(f"200 alerts: {slack_server.connections} TCP connection(s), {elapsed:.2f}s")
    assert all(r.success and r.attempts == 1 for r in results)
    assert len(slack_server.requests) == 200
    assert slack_server.connections == 1
    assert {r.connection for r in slack_server.requests} == {1}


def test_concurrent_sends_use_separate_connections(slack_server: SlackServer) -> None:
    channel = slack(slack_server, "delay=0.3")
    barrier = threading.Barrier(3)
    results: List[AlertResult] = []

    def worker() -> None:
        barrier.wait()
        results.append(channel.send(ALERT))

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert [r.success for r in results] == [True] * 3
    assert slack_server.connections == 3


def test_manager_fan_out_reuses_the_connection(slack_server: SlackServer) -> None:
    with AlertManager() as manager:
        manager.add_channel(slack(slack_server), key="ops")
        for i in range(20):
            (result,) = manager.send(AlertMessage(f"alert {i}"))
            assert result.success
    assert slack_server.connections == 1


# -- the payload ----------------------------------------------------------------
def test_undecodable_text_is_delivered_with_replacements(slack_server: SlackServer) -> None:
    """A title or body holding lone surrogates is sent, the bad bytes as U+FFFD."""
    alert = AlertMessage(os.fsdecode(b"backup \xff.tar"), "x \udcff \ud83d", AlertLevel.CRITICAL)
    result = slack(slack_server).send(alert)
    assert result.success, result.error
    attachment = slack_server.requests[0].json()["attachments"][0]
    assert attachment["title"].endswith("backup \ufffd.tar")
    assert attachment["text"] == "x \ufffd \ufffd"


def test_payload_shape(slack_server: SlackServer) -> None:
    alert = AlertMessage("Disk full", "/var is at 97%", AlertLevel.WARNING)
    assert slack(slack_server, username="ops-bot", icon_emoji=":fire:").send(alert).success
    seen = slack_server.requests[0]
    assert seen.headers["Content-Type"] == "application/json; charset=utf-8"
    assert seen.json() == {
        "text": ":warning: [WARNING] Disk full",
        "mrkdwn": False,
        "username": "ops-bot",
        "icon_emoji": ":fire:",
        "attachments": [
            {
                "color": "#DAA038",
                "fallback": ":warning: [WARNING] Disk full",
                "title": ":warning: Disk full",
                "text": "/var is at 97%",
                "footer": "WARNING alert via kstalerts",
                "ts": int(alert.created_at),
            }
        ],
    }


@pytest.mark.parametrize(
    ("level", "colour", "emoji"),
    [
        (AlertLevel.INFO, "#439FE0", ":information_source:"),
        (AlertLevel.SUCCESS, "#36A64F", ":white_check_mark:"),
        (AlertLevel.WARNING, "#DAA038", ":warning:"),
        (AlertLevel.CRITICAL, "#D00000", ":rotating_light:"),
    ],
)
def test_colour_emoji_and_footer_follow_the_level(level: AlertLevel, colour: str, emoji: str) -> None:
    payload = SlackChannel(REAL_URL).build_payload(AlertMessage("t", "b", level))
    attachment = payload["attachments"][0]
    assert (attachment["color"], attachment["title"]) == (colour, f"{emoji} t")
    assert attachment["footer"] == f"{level.name} alert via kstalerts"
    assert payload["text"] == f"{emoji} [{level.name}] t"


def test_mrkdwn_control_characters_are_escaped(slack_server: SlackServer) -> None:
    alert = AlertMessage("<!channel> R&D <@U123>", "a > b & <!here>", labels={"<k>": "v&"})
    assert slack(slack_server).send(alert).success
    raw = slack_server.requests[0].body.decode("utf-8")
    assert "<!channel>" not in raw and "<!here>" not in raw and "<@U123>" not in raw
    attachment = slack_server.requests[0].json()["attachments"][0]
    assert attachment["title"] == ":information_source: &lt;!channel&gt; R&amp;D &lt;@U123&gt;"
    assert attachment["text"] == "a &gt; b &amp; &lt;!here&gt;"
    assert attachment["fields"] == [{"title": "&lt;k&gt;", "value": "v&amp;", "short": True}]


def test_escape_mrkdwn_escapes_the_ampersand_first() -> None:
    assert escape_mrkdwn("&lt;") == "&amp;lt;"


def test_title_and_body_are_cut_from_the_middle_with_a_count() -> None:
    payload = SlackChannel(REAL_URL).build_payload(AlertMessage("T" * 200, "B" * 5000))
    attachment = payload["attachments"][0]
    title = attachment["title"].split(" ", 1)[1]
    for text, length, limit in ((title, 200, 150), (attachment["text"], 5000, 3000)):
        cut = re.fullmatch(r"(\w+) \[… (\d+) characters cut …\] (\w+)", text)
        assert cut is not None, text
        head, count, tail = cut.groups()
        assert len(text) <= limit and len(head) + int(count) + len(tail) == length
        assert len(head) - len(tail) in (0, 1)
    short = SlackChannel(REAL_URL).build_payload(AlertMessage("T" * 150, "B" * 3000))
    assert short["attachments"][0]["text"] == "B" * 3000


def test_cutting_counts_the_escapes_and_never_splits_an_entity() -> None:
    payload = SlackChannel(REAL_URL).build_payload(AlertMessage("t", "&" * 3001))
    text = payload["attachments"][0]["text"]
    cut = re.fullmatch(r"((?:&amp;)+) \[… (\d+) characters cut …\] ((?:&amp;)+)", text)
    assert cut is not None, text
    head, count, tail = cut.groups()
    assert len(text) <= 3000 and (len(head) + len(tail)) // 5 + int(count) == 3001


def test_timestamp_title_and_no_sender_fields() -> None:
    alert = AlertMessage("t", timestamp=True)
    payload = SlackChannel(REAL_URL, username=None, icon_emoji=None).build_payload(alert)
    assert payload["attachments"][0]["title"].endswith("] t")
    assert payload["attachments"][0]["title"].startswith(":information_source: [")
    assert "username" not in payload and "icon_emoji" not in payload


def test_preview_masks_the_url() -> None:
    preview = SlackChannel(REAL_URL).preview(ALERT)
    assert preview.startswith("POST https://hooks.slack.com/***\n{")
    assert TOKEN not in preview
    assert '"text": ":warning: [WARNING] Disk full"' in preview


# -- Slack's answers --------------------------------------------------------------
def test_500_twice_then_200_succeeds_with_three_attempts(slack_server: SlackServer) -> None:
    result = slack(slack_server, "fail=2:500").send(ALERT)
    print(f"500,500,200: success={result.success} attempts={result.attempts}")
    assert result.success
    assert result.attempts == 3
    assert len(slack_server.requests) == 3


def test_404_no_service_fails_at_once(slack_server: SlackServer) -> None:
    result = slack(slack_server, "no_service").send(ALERT)
    print(f"404 no_service: attempts={result.attempts} error={result.error}")
    assert not result.success
    assert result.attempts == 1
    assert (result.status, result.retryable) == (404, False)
    assert result.error == (
        "Slack rejected the alert (404 no_service): the webhook is disabled, revoked or mistyped:"
        " create a new webhook"
    )
    assert len(slack_server.requests) == 1


@pytest.mark.parametrize(
    ("mode", "status", "error"),
    [
        ("invalid_payload", 400, "Slack rejected the alert (400 invalid_payload): the message was malformed"),
        (
            "invalid_token",
            403,
            "Slack rejected the alert (403 invalid_token): the webhook's token is not valid:"
            " create a new webhook",
        ),
        (
            "channel_not_found",
            404,
            "Slack rejected the alert (404 channel_not_found): the channel does not exist"
            " or the webhook cannot post to it",
        ),
        (
            "channel_is_archived",
            410,
            "Slack rejected the alert (410 channel_is_archived): the channel is archived",
        ),
        ("status=403:", 403, "Slack rejected the alert (403)"),
        ("status=404:team_gone", 404, "Slack rejected the alert (404 team_gone)"),
        ("status=401:unauthorized", 401, "Slack rejected the request (HTTP 401 Unauthorized): unauthorized"),
        ("body=invalid_token", 200, "Slack answered 200 but not 'ok': 'invalid_token'"),
        ("body=", 200, "Slack answered 200 with an empty body"),
    ],
)
def test_permanent_failures_are_not_retried(
    slack_server: SlackServer, mode: str, status: int, error: str
) -> None:
    result = slack(slack_server, mode).send(ALERT)
    assert (result.success, result.attempts, result.status, result.retryable) == (False, 1, status, False)
    assert result.error == error


def test_a_redirect_is_not_followed(slack_server: SlackServer) -> None:
    result = slack(slack_server, "redirect").send(ALERT)
    print(f"redirect: success={result.success} attempts={result.attempts} error={result.error}")
    assert (result.success, result.attempts, result.status) == (False, 1, 302)
    assert result.error == "Slack answered with a redirect (HTTP 302 Found), not followed"
    assert [r.path for r in slack_server.requests] == [
        slack_server.url("redirect").split(str(slack_server.port))[1]
    ]


def test_workflow_webhooks_json_ok_is_success(slack_server: SlackServer) -> None:
    assert slack(slack_server, 'body={"ok": true}').send(ALERT).success
    assert not slack(slack_server, 'body={"ok": false}').send(ALERT).success


def test_5xx_is_retried_until_the_policy_gives_up(slack_server: SlackServer) -> None:
    result = slack(slack_server, "status=503:maintenance").send(ALERT)
    assert (result.success, result.attempts, result.status, result.retryable) == (False, 3, 503, True)
    assert result.error == (
        "Slack server error (HTTP 503 Service Unavailable): maintenance (gave up after 3 attempts)"
    )


def test_429_waits_for_retry_after_then_succeeds(slack_server: SlackServer) -> None:
    slack_server.queue("ratelimit=1")
    started = time.monotonic()
    result = slack(slack_server).send(ALERT)
    elapsed = time.monotonic() - started
    print(f"429 Retry-After: 1 then 200: success={result.success} attempts={result.attempts} {elapsed:.2f}s")
    assert (result.success, result.attempts) == (True, 2)
    assert 0.95 <= elapsed < 2.0


def test_429_with_an_http_date(slack_server: SlackServer) -> None:
    slack_server.queue("ratelimit=" + email.utils.formatdate(time.time() + 30, usegmt=True))
    sleeps = Sleeps()
    result = slack(slack_server, sleep=sleeps).send(ALERT)
    assert (result.success, result.attempts) == (True, 2)
    assert len(sleeps.waits) == 1 and 28.0 <= sleeps.waits[0] <= 30.0


@pytest.mark.parametrize("value", ["soon", "-5", "1.5", "none", "9" * 80])
def test_429_with_an_unusable_retry_after_falls_back_to_backoff(
    slack_server: SlackServer, value: str
) -> None:
    slack_server.queue(f"ratelimit={value}")
    sleeps = Sleeps()
    result = slack(slack_server, sleep=sleeps).send(ALERT)
    assert (result.success, result.attempts) == (True, 2)
    assert len(sleeps.waits) == 1 and 0.0 <= sleeps.waits[0] <= FAST.base_delay


def test_429_with_a_huge_retry_after_waits_the_policy_cap(slack_server: SlackServer) -> None:
    slack_server.queue("ratelimit=99999")
    sleeps = Sleeps()
    result = slack(slack_server, sleep=sleeps).send(ALERT)
    assert result.success
    assert sleeps.waits == [FAST.max_retry_after]


def test_429_beyond_the_budget_ends_throttled_without_sleeping(slack_server: SlackServer) -> None:
    slack_server.queue("ratelimit=30")
    policy = RetryPolicy(max_retries=2, base_delay=0.01, budget=5.0)
    started = time.monotonic()
    result = slack(slack_server, retry=policy).send(ALERT)
    assert time.monotonic() - started < 5.0  # no 30 s sleep (generous: a loaded machine)
    assert (result.success, result.throttled, result.attempts, result.status) == (False, True, 1, 429)
    assert result.retryable
    assert result.error is not None
    assert result.error.startswith("rate limited: the service asked to wait 30s, more than the ")
    assert result.error.endswith("s left of this send's budget")


def test_429_every_time_gives_up_with_the_reason(slack_server: SlackServer) -> None:
    result = slack(slack_server, "ratelimit=none").send(ALERT)
    assert (result.success, result.throttled, result.attempts) == (False, False, 3)
    assert result.error == (
        "Slack rate limited the request (HTTP 429 Too Many Requests): rate_limited (gave up after 3 attempts)"
    )


# -- the network misbehaving ------------------------------------------------------
@pytest.mark.parametrize(
    ("mode", "error"),
    [
        ("hang", "timed out after 1s while waiting for the response"),
        ("trickle=status", "timed out after 1s while waiting for the response"),
        ("trickle=headers", "timed out after 1s while waiting for the response"),
        ("trickle=body", "timed out after 1s while reading the response body"),
    ],
)
def test_hang_and_trickle_end_within_the_timeout(slack_server: SlackServer, mode: str, error: str) -> None:
    channel = slack(slack_server, mode, max_retries=0)
    started = time.monotonic()
    result = channel.send(ALERT)
    elapsed = time.monotonic() - started
    print(f"{mode}: {elapsed:.3f}s for timeout={TIMEOUT}s (bound {BOUND:.2f}s)")
    assert (result.success, result.attempts, result.retryable) == (False, 1, True)
    assert bare(result.error) == error
    assert elapsed <= BOUND


def test_a_hang_is_retried_and_each_attempt_is_bounded(slack_server: SlackServer) -> None:
    channel = slack(slack_server, "hang", max_retries=1)
    started = time.monotonic()
    result = channel.send(ALERT)
    elapsed = time.monotonic() - started
    assert result.attempts == 2
    assert (
        bare(result.error) == "timed out after 1s while waiting for the response (gave up after 2 attempts)"
    )
    assert elapsed <= 2 * BOUND + FAST.max_delay


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        ("reset", "connection reset by the server while waiting for the response"),
        ("close", "the server closed the connection without answering"),
        ("bad_status", "protocol error: the response does not start with an HTTP status line"),
        ("many_headers", "protocol error: the response has too many header lines"),
        ("long_line", "protocol error: a line of the response is too long"),
    ],
)
def test_network_and_protocol_errors_are_retried(slack_server: SlackServer, mode: str, error: str) -> None:
    result = slack(slack_server, mode).send(ALERT)
    assert (result.success, result.attempts, result.retryable) == (False, 3, True)
    assert bare(result.error) == f"{error} (gave up after 3 attempts)"
    assert len(slack_server.requests) == 3


def test_connection_refused_is_retried() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    channel = SlackChannel(
        f"http://127.0.0.1:{port}/services/T1/B2/{TOKEN}", allow_custom_url=True, retry=FAST
    )
    result = channel.send(ALERT)
    assert (result.attempts, bare(result.error)) == (3, "connection refused (gave up after 3 attempts)")


def test_a_huge_body_is_read_only_up_to_the_cap(slack_server: SlackServer) -> None:
    started = time.monotonic()
    result = slack(slack_server, "huge").send(ALERT)
    assert time.monotonic() - started < 2
    assert result.error is not None
    assert result.error.startswith("Slack answered 200 but not 'ok': 'zzzz")
    assert len(result.error) < 400


def test_a_reset_then_success_on_the_next_attempt(slack_server: SlackServer) -> None:
    slack_server.queue("reset")
    result = slack(slack_server).send(ALERT)
    assert (result.success, result.attempts) == (True, 2)


def test_close_releases_the_connection_and_the_channel_stays_usable(slack_server: SlackServer) -> None:
    channel = slack(slack_server)
    assert channel.send(ALERT).success
    channel.close()
    assert channel.send(ALERT).success
    assert slack_server.connections == 2


# -- TLS and proxy --------------------------------------------------------------------
def test_https_webhook_with_a_ca_bundle(slack_tls_server: SlackServer, tls_files: TLSFiles) -> None:
    channel = slack(slack_tls_server, ssl_ca_bundle=tls_files.ca_path)
    assert all(channel.send(ALERT).success for _ in range(10))
    assert slack_tls_server.connections == 1


def test_https_webhook_with_an_unknown_ca_fails_once(slack_tls_server: SlackServer) -> None:
    result = slack(slack_tls_server).send(ALERT)
    assert (result.success, result.attempts, result.retryable) == (False, 1, False)
    assert result.error is not None
    assert bare(result.error).startswith("TLS certificate verification failed: ")


def test_slack_through_tinyproxy_with_https_proxy_set(
    slack_tls_server: SlackServer,
    tls_files: TLSFiles,
    start_tinyproxy: Callable[..., TinyProxy],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy = start_tinyproxy(slack_tls_server.port)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    channel = slack(slack_tls_server, ssl_ca_bundle=tls_files.ca_path)
    results = [channel.send(AlertMessage(f"via proxy {i}")) for i in range(3)]
    assert all(r.success for r in results)
    assert proxy.requests() == [f"CONNECT 127.0.0.1:{slack_tls_server.port} HTTP/1.1"]
    assert [r.json()["text"] for r in slack_tls_server.requests] == [
        f":information_source: [INFO] via proxy {i}" for i in range(3)
    ]


# -- the URL ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        REAL_URL,
        f"https://hooks.slack-gov.com/services/T1/B2/{TOKEN}",
        f"https://hooks.slack.com/workflows/T1/A2/3/{TOKEN}",
        f"https://hooks.slack.com/triggers/T1/2/{TOKEN}",
        f"  {REAL_URL}\n",
    ],
)
def test_slack_webhook_urls_are_accepted(url: str) -> None:
    assert SlackChannel(url).name == "slack"


@pytest.mark.parametrize(
    "url",
    [
        REAL_URL.replace("https://", "http://"),
        REAL_URL.replace("hooks.slack.com", "hooks.slack.com.evil.test"),
        REAL_URL.replace("hooks.slack.com", "slack.com"),
        REAL_URL.replace("/services/", "/api/"),
        "https://hooks.slack.com/services/",
        REAL_URL.replace("https://", f"https://user:{TOKEN}@"),
    ],
)
def test_other_urls_are_refused_without_naming_them(url: str) -> None:
    with pytest.raises(AlertConfigurationError) as info:
        SlackChannel(url)
    assert str(info.value) == (
        "webhook_url: must be a Slack webhook URL: https on hooks.slack.com, hooks.slack-gov.com with the"
        " service's path (for a compatible server, a relay or a test server: allow_custom_url: true in a config file, allow_custom_url=True in code)"
    )
    assert info.value.key == "webhook_url"
    assert TOKEN not in str(info.value)


@pytest.mark.parametrize(
    ("url", "allow", "message"),
    [
        (REAL_URL.replace("hooks.slack.com", "hooks.slack.com:x"), False, "webhook_url: is not a valid URL"),
        (f"ftp://example.com/{TOKEN}", True, "webhook_url: must be an http:// or https:// URL with a host"),
        (TOKEN, False, "webhook_url: must be an http:// or https:// URL with a host"),
        (
            f"https://example.com/{TOKEN} x",
            True,
            "webhook_url: must be a URL without spaces or non-ASCII characters",
        ),
    ],
)
def test_malformed_urls_name_the_field(url: str, allow: bool, message: str) -> None:
    with pytest.raises(AlertConfigurationError) as info:
        SlackChannel(url, allow_custom_url=allow)
    assert str(info.value) == message
    assert TOKEN not in str(info.value)


def test_a_non_string_url_is_refused() -> None:
    with pytest.raises(AlertConfigurationError) as info:
        SlackChannel(42)  # type: ignore[arg-type]
    assert str(info.value) == "webhook_url: must be a string"


def test_repr_masks_the_url() -> None:
    channel = SlackChannel(Secret(REAL_URL), name="ops")
    assert repr(channel) == "SlackChannel(name='ops', webhook_url='https://hooks.slack.com/***')"


# -- from_config ----------------------------------------------------------------------
class Resolver:
    def __init__(self, values: Dict[str, str]) -> None:
        self.values = values

    def resolve(self, name: str) -> str:
        return self.values[name]


def test_from_config_resolves_credentials(slack_server: SlackServer) -> None:
    config = {
        "type": "slack",
        "credentials": "slack_webhook",
        "allow_custom_url": True,
        "username": "bot",
        "timeout": 1.5,
        "max_retries": 1,
        "name": "ops",
    }
    channel = SlackChannel.from_config(config, Resolver({"slack_webhook": slack_server.url()}))
    assert (channel.name, channel.timeout, channel.max_retries, channel.username) == ("ops", 1.5, 1, "bot")
    assert channel.send(ALERT).success
    assert slack_server.requests[0].json()["username"] == "bot"


def test_from_config_accepts_a_literal_url() -> None:
    channel = SlackChannel.from_config({"type": "slack", "webhook_url": REAL_URL})
    assert channel.webhook_url == Secret(REAL_URL)
    assert channel.icon_emoji == ":bell:"


def test_from_config_clamps_the_timeout(caplog: pytest.LogCaptureFixture) -> None:
    channel = SlackChannel.from_config({"webhook_url": REAL_URL, "timeout": 999})
    assert channel.timeout == 120.0


@pytest.mark.parametrize(
    ("config", "resolver", "message"),
    [
        (
            {"credentials": "hook"},
            None,
            "credentials: slack: 'credentials: hook' needs a credential resolver",
        ),
        ({}, None, "credentials: slack: needs credentials: or webhook_url:"),
        (
            {"credentials": "hook", "webhook_url": REAL_URL},
            None,
            "webhook_url: slack: give either credentials or webhook_url, not both",
        ),
        ({"webhook_url": ""}, None, "webhook_url: must be a URL"),
        ({"webhook_url": 5}, None, "webhook_url: slack: webhook_url must be a string"),
        (
            {"credentials": "hook"},
            Resolver({"hook": "https://example.com/x"}),
            "webhook_url: must be a Slack",
        ),
        (
            {"webhook_url": REAL_URL, "username": 5},
            None,
            "username: slack: username must be a string, got int",
        ),
        (
            {"webhook_url": REAL_URL, "allow_custom_url": "yes"},
            None,
            "allow_custom_url: slack: allow_custom_url must be true or false, got 'yes'",
        ),
        (
            {"webhook_url": REAL_URL, "ssl_verify": "no"},
            None,
            "ssl_verify: slack: ssl_verify must be true or false, got 'no'",
        ),
        ({"webhook_url": REAL_URL, "proxy": 8080}, None, "proxy: slack: proxy must be a string"),
    ],
)
def test_from_config_errors(config: Dict[str, Any], resolver: Optional[Resolver], message: str) -> None:
    with pytest.raises(AlertConfigurationError) as info:
        SlackChannel.from_config(config, resolver)
    assert str(info.value).startswith(message)


def test_config_keys() -> None:
    assert SlackChannel.config_keys == frozenset(
        {"webhook_url", "username", "icon_emoji", "allow_custom_url", "ssl_verify", "ssl_ca_bundle", "proxy"}
        | {"icon_url", "channel", "service"}
    )


# -- no token anywhere ---------------------------------------------------------------
FAULT_MODES = [
    "ok",
    "fail=1:500",
    "no_service",
    "invalid_payload",
    "invalid_token",
    "channel_is_archived",
    "body=nope",
    "redirect",
    "ratelimit=none",
    "reset",
    "close",
    "bad_status",
    "many_headers",
    "long_line",
    "huge",
    "hang",
    "trickle=headers",
]


def test_no_webhook_token_in_any_log_repr_or_error(
    slack_server: SlackServer, caplog_all: pytest.LogCaptureFixture
) -> None:
    texts: List[str] = []
    channels = []
    for mode in FAULT_MODES:
        channel = SlackChannel(
            Secret(slack_server.url(mode)),
            allow_custom_url=True,
            timeout=TIMEOUT,
            retry=FAST,
            max_retries=0 if mode in ("hang", "trickle=headers") else 1,
        )
        channels.append(channel)
        result = channel.send(AlertMessage(f"mode {mode}", "body"))
        texts += [
            repr(channel),
            str(channel),
            repr(result),
            str(result),
            str(result.error),
            channel.preview(ALERT),
        ]
    # a server that echoes the URL back in its error
    slack_server.queue(f"status=400:bad hook {slack_server.url()} / {TOKEN}")
    echo = slack(slack_server).send(ALERT)
    assert echo.error == "Slack rejected the alert (400 bad hook *** / ***)"
    texts += [repr(echo), str(echo)]
    with AlertManager() as manager:
        manager.add_channel(channels[2], key="ops")
        texts += [repr(r) + str(r) for r in manager.send(ALERT)]
        texts.append(repr(manager))
    try:
        SlackChannel(slack_server.url().replace("http://", "ftp://"), allow_custom_url=True)
    except AlertConfigurationError as exc:
        texts.append(str(exc))
    records = caplog_all.records
    assert any(r.name == "kstalerts.http" for r in records)  # the scan saw the transport's logs
    for record in records:
        texts += [record.getMessage(), repr(record.args), str(record.exc_text or "")]
    leaks = [t for t in texts if TOKEN in t]
    print(f"scanned {len(texts)} texts ({len(records)} log records): {len(leaks)} with the token")
    assert leaks == []
    assert slack_server.requests[0].path.endswith(TOKEN)  # the token did go on the wire


# -- property: hostile text arrives once, as text ----------------------------------------


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(title=HOSTILE_TEXT, body=HOSTILE_TEXT, labels=st.dictionaries(HOSTILE_TEXT, HOSTILE_TEXT, max_size=3))
def test_hostile_text_arrives_once_as_one_json_post(
    slack_server: SlackServer, title: str, body: str, labels: Dict[str, str]
) -> None:
    import json

    channel = slack(slack_server, max_retries=0)
    before = len(slack_server.requests)
    try:
        result = channel.send(AlertMessage("t" + title, body, AlertLevel.WARNING, labels=labels))
    finally:
        channel.close()
    assert result.success, result.error
    assert len(slack_server.requests) == before + 1
    request = slack_server.requests[-1]
    assert sorted(k.lower() for k in request.headers) == [
        "accept-encoding",
        "content-length",
        "content-type",
        "host",
        "user-agent",
    ]
    payload = json.loads(request.body.decode("utf-8"))  # strict UTF-8: no lone surrogate went out
    assert isinstance(payload, dict) and payload["text"]


def test_markup_arrives_inert(slack_server: SlackServer) -> None:
    """Links, mentions and formatting show as written; the ANSI colour is gone."""
    alert = AlertMessage(INJECTION, INJECTION, labels={"by": INJECTION})
    assert slack(slack_server).send(alert).success
    raw = slack_server.requests[0].body.decode("utf-8")
    payload = json.loads(raw)
    attachment = payload["attachments"][0]
    escaped = escape_mrkdwn(INJECTION_CLEAN)
    assert attachment["text"] == escaped and attachment["title"].endswith(escaped)
    assert attachment["fields"][0]["value"] == escaped
    assert payload["mrkdwn"] is False and "mrkdwn_in" not in attachment  # **bold** is not formatted
    assert "<!channel>" not in raw and "<@123>" not in raw and "\\u001b" not in raw and "\x1b" not in raw


def test_two_hundred_lines_from_the_cli_keep_the_first_and_the_last(
    slack_server: SlackServer, tmp_path: "pathlib.Path"
) -> None:
    """``seq 1 N | kstalerts send --body -``: the end of a log, where the error is, is kept."""
    config = tmp_path / "kstlib.conf.yml"
    config.write_text(
        "alerts:\n  channels:\n    ops:\n      type: slack\n"
        f"      webhook_url: {slack_server.url('ok')}\n      allow_custom_url: true\n",
        encoding="utf-8",
    )
    root = pathlib.Path(__file__).resolve().parent.parent
    for count in (200, 2000):
        done = subprocess.run(
            f"seq 1 {count} | {shlex.quote(sys.executable)} -m kstalerts send --title 'job log' --body -"
            f" --config {shlex.quote(str(config))}",
            shell=True, cwd=root, env=dict(os.environ, PYTHONPATH=str(root)),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60,
        )
        assert done.returncode == 0, done.stdout
    short, long = (request.json()["attachments"][0]["text"] for request in slack_server.requests)
    assert short == "\n".join(str(n) for n in range(1, 201))  # 691 characters: under 3000, whole
    lines = long.split("\n")
    [marker] = [m for m in map(re.compile(r"\[… (\d+) lines cut …\]").fullmatch, lines) if m]
    assert lines[0] == "1" and lines[-1] == "2000" and len(long) <= SlackChannel.text_limit
    assert len(lines) - 1 + int(marker.group(1)) == 2000  # every line kept or counted, exactly


# -- Mattermost and Rocket.Chat through the Slack channel -----------------------------


def test_mattermost_gets_its_payload_and_its_hooks_url_needs_no_custom_flag(
    slack_server: SlackServer,
) -> None:
    url = f"{slack_server.base_url}/hooks/xj5kt8dqpbfgtrq7ssw3cbcmah"
    channel = SlackChannel(url, service="mattermost", icon_url="https://img.example/bot.png", channel="ops")
    alert = AlertMessage(
        "@channel *Disk* <!here>", "[x](http://e)", AlertLevel.CRITICAL, labels={"host": "db1"}
    )
    assert channel.send(alert).success
    payload = slack_server.requests[-1].json()
    assert (payload["channel"], payload["icon_url"], payload["username"]) == (
        "ops",
        "https://img.example/bot.png",
        "kstalerts",
    )
    (attachment,) = payload["attachments"]
    assert "mrkdwn_in" not in attachment and "ts" not in attachment
    assert attachment["title"] == ":rotating_light: @\u200bchannel \\*Disk\\* \\<\\!here\\>"
    assert attachment["text"] == "\\[x\\]\\(http://e\\)"
    assert attachment["fields"] == [{"title": "host", "value": "db1", "short": True}]
    assert attachment["footer"] == "CRITICAL alert via kstalerts"


def test_rocketchat_gets_its_field_names_and_its_answer_is_success(slack_server: SlackServer) -> None:
    slack_server.answer(200, b'{"success":true}')
    url = f"{slack_server.base_url}/hooks/6bGbx5y2HzRDaeB/8Jx2kDq9token"
    channel = SlackChannel(url, service="rocketchat", icon_url="https://img.example/bot.png", channel="#ops")
    assert channel.send(AlertMessage("@all down", "b", AlertLevel.WARNING)).success
    payload = slack_server.requests[-1].json()
    assert (payload["alias"], payload["emoji"], payload["avatar"], payload["channel"]) == (
        "kstalerts",
        ":bell:",
        "https://img.example/bot.png",
        "#ops",
    )
    assert not {"username", "icon_emoji", "icon_url"} & set(payload)
    (attachment,) = payload["attachments"]
    assert set(attachment) == {"color", "title", "text", "ts"}
    assert attachment["title"] == ":warning: @\u200ball down"


@pytest.mark.parametrize("service", ["mattermost", "rocketchat"])
def test_self_hosted_webhook_urls(service: str) -> None:
    SlackChannel("https://chat.example.org/hooks/abc123", service=service)  # any host, their path
    with pytest.raises(
        AlertConfigurationError, match=f"must be a {service} webhook URL with the service's path"
    ):
        SlackChannel("https://chat.example.org/api/v4/posts", service=service)
    with pytest.raises(AlertConfigurationError, match="http:// only to a loopback address"):
        SlackChannel("http://chat.example.org/hooks/abc123", service=service)
    with pytest.raises(AlertConfigurationError, match="must be a Slack webhook URL"):
        SlackChannel("https://chat.example.org/hooks/abc123")  # Slack's own rule is unchanged


# -- the payload's shape: the bytes of the payload, without building it each time ----------


def _generic(channel: SlackChannel, alert: AlertMessage) -> bytes:
    """What the channel sends when it builds and encodes the payload: ``json.dumps`` of it."""
    payload = channel.render(Notification(alert))
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def _long(text_and_size: "Tuple[str, int]") -> str:
    """A body over Slack's 3000 characters, cut when sent: hostile text repeated
    (cheap to draw, where a drawn 3000-character text made Hypothesis too slow on 3.6)."""
    text, size = text_and_size
    return ((text or "x") * size)[:size]


@settings(
    max_examples=40,
    deadline=None,
    # eight strategies drawn per example: on a loaded CI machine drawing alone can pass the limit
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    title=HOSTILE_TEXT,
    body=st.one_of(HOSTILE_TEXT, st.tuples(HOSTILE_TEXT, st.integers(3001, 3200)).map(_long)),
    labels=st.dictionaries(HOSTILE_TEXT, HOSTILE_TEXT, max_size=2),
    level=st.sampled_from(list(AlertLevel)),
    stamped=st.booleans(),
    created=st.floats(min_value=0, max_value=4e9),
    service=st.sampled_from(["slack", "mattermost", "rocketchat"]),
    sender=st.sampled_from([{}, {"username": None, "icon_emoji": None}, {"channel": "#ops"}]),
)
def test_every_send_of_a_kind_posts_the_bytes_of_its_payload(
    slack_server: SlackServer,
    title: str,
    body: str,
    labels: Dict[str, str],
    level: AlertLevel,
    stamped: bool,
    created: float,
    service: str,
    sender: Dict[str, Any],
) -> None:
    """The first alert of a kind is encoded, the second derives its shape, the third
    and later are filled into it: the server gets ``json.dumps`` of the payload each time."""
    path = "/services/T0/B0/xoxb" if service == "slack" else "/hooks/abcdef123"
    channel = SlackChannel(
        f"{slack_server.base_url}{path}", allow_custom_url=True, service=service, max_retries=0, **sender
    )
    slack_server.answer(200, b'{"success":true}' if service == "rocketchat" else b"ok")
    alert = AlertMessage("t" + title, body, level, timestamp=stamped, labels=labels, created_at=created)
    other = alert.replace(title=f"{title} again", body=body[::-1])  # same kind, other text
    try:
        for sent in (alert, other, alert, other):
            before = len(slack_server.requests)
            result = channel.send(sent)
            assert result.success, result.error
            assert len(slack_server.requests) == before + 1
            assert slack_server.requests[-1].body == _generic(channel, sent)
    finally:
        channel.close()
    assert [callable(fill) for fill in channel._shapes.values()] == [True]


def test_a_sender_option_that_holds_a_marker_keeps_the_payload_encoded(slack_server: SlackServer) -> None:
    """A constant that contains a probe's marker fails the shape's check: encoded each time, right."""
    channel = slack(slack_server, username="kst-title-a", icon_emoji=":4102444801:")
    for _ in range(3):
        assert channel.send(ALERT).success
        assert slack_server.requests[-1].body == _generic(channel, ALERT)
        assert slack_server.requests[-1].json()["username"] == "kst-title-a"
    assert list(channel._shapes.values()) == [None]


def test_a_changed_sender_option_is_a_new_kind(slack_server: SlackServer) -> None:
    channel = slack(slack_server)
    for name in ("first", "second", "third"):
        channel.username = name
        for _ in range(3):
            assert channel.send(ALERT).success
            assert slack_server.requests[-1].json()["username"] == name
    many = slack(slack_server, max_retries=0)
    for number in range(40):  # a caller that changes it on every send: the shapes kept stay bounded
        many.username = f"bot-{number}"
        assert many.send(ALERT).success
        assert slack_server.requests[-1].json()["username"] == f"bot-{number}"
    assert len(many._shapes) <= 16


def test_a_subclass_payload_is_built_and_encoded_every_time(slack_server: SlackServer) -> None:
    class Custom(SlackChannel):
        sent = 0

        def build_payload(self, alert: AlertMessage) -> Dict[str, Any]:
            Custom.sent += 1
            return {"text": f"custom {Custom.sent}: {alert.title}"}

    channel = Custom(slack_server.url("ok"), allow_custom_url=True)
    for number in range(1, 4):
        assert channel.send(ALERT).success
        assert slack_server.requests[-1].json() == {"text": f"custom {number}: Disk full"}


def test_resolved_and_digest_notifications_are_rendered(slack_server: SlackServer) -> None:
    """Only a plain firing alert is filled into a shape; the others go through render()."""
    from kstalerts.digest import DigestSummary

    channel = slack(slack_server)
    for _ in range(3):
        assert channel.send(ALERT).success
    resolved = Notification(ALERT, state="resolved")
    assert channel.notify(resolved).success
    assert slack_server.requests[-1].json()["attachments"][0]["color"] == "#2EB67D"
    summary = DigestSummary(2, AlertLevel.WARNING, "2 alerts held back", ("2x Disk full",), 0)
    assert channel.notify(Notification(ALERT, held_back=summary)).success
    attachments = slack_server.requests[-1].json()["attachments"]
    assert len(attachments) == 2 and attachments[1]["footer"] == "held back by kstalerts"
