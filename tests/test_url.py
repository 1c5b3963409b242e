"""The one URL checker (kstalerts/net/url.py) and every setting that uses it."""

from typing import Any, Callable, Dict

import pytest

from kstalerts.channels import (
    AlertmanagerChannel,
    DiscordChannel,
    PagerDutyChannel,
    SlackChannel,
    TeamsChannel,
    WebhookChannel,
)
from kstalerts.exceptions import AlertConfigurationError
from kstalerts.net.http import HTTPClient
from kstalerts.net.url import ANY_HTTP, URLRule, check_url
from kstalerts.transports import ResendTransport

TOKEN = "s3cr3tT0k3n"
RULE = URLRule(service="X webhook", hosts=(".x.example",), path="/hook/")


def refused(url: Any, rule: URLRule = ANY_HTTP, **options: Any) -> str:
    with pytest.raises(AlertConfigurationError) as info:
        check_url(url, key="webhook_url", rule=rule, **options)
    assert TOKEN not in str(info.value)
    assert info.value.key == "webhook_url"
    return str(info.value)


def test_a_good_url_comes_back_stripped() -> None:
    assert check_url(" https://a.x.example/hook/1 ", key="k", rule=RULE) == "https://a.x.example/hook/1"
    assert (
        check_url("https://a.x.example:8443/hook/1", key="k", rule=RULE) == "https://a.x.example:8443/hook/1"
    )
    assert (
        check_url("http://relay.test/any", key="k", rule=RULE, allow_custom=True) == "http://relay.test/any"
    )


@pytest.mark.parametrize(
    ("url", "rule", "message"),
    [
        ("", ANY_HTTP, "webhook_url: must be a URL"),
        (None, ANY_HTTP, "webhook_url: must be a URL"),
        (5, ANY_HTTP, "webhook_url: must be a URL"),
        (
            f"https://a.test/{TOKEN} x",
            ANY_HTTP,
            "webhook_url: must be a URL without spaces or non-ASCII characters",
        ),
        (
            f"https://a.test/é{TOKEN}",
            ANY_HTTP,
            "webhook_url: must be a URL without spaces or non-ASCII characters",
        ),
        (f"https://a.test:99999/{TOKEN}", ANY_HTTP, "webhook_url: is not a valid URL"),
        (f"https://a.test:x/{TOKEN}", ANY_HTTP, "webhook_url: is not a valid URL"),
        (f"ftp://a.test/{TOKEN}", ANY_HTTP, "webhook_url: must be an http:// or https:// URL with a host"),
        (f"a.test/{TOKEN}", ANY_HTTP, "webhook_url: must be an http:// or https:// URL with a host"),
        (f"https:///{TOKEN}", ANY_HTTP, "webhook_url: must be an http:// or https:// URL with a host"),
        (
            f"https://u:{TOKEN}@a.test/",
            URLRule(userinfo=False),
            "webhook_url: must not carry user info (user:password@)",
        ),
        (
            f"https://a.test/?t={TOKEN}",
            URLRule(query=False),
            "webhook_url: must not carry a query or a fragment",
        ),
        (
            f"https://a.test/#{TOKEN}",
            URLRule(query=False),
            "webhook_url: must not carry a query or a fragment",
        ),
        (
            f"http://a.test/{TOKEN}",
            URLRule(http_only_to_loopback=True),
            "webhook_url: must be an https:// URL (http:// only to a loopback address)",
        ),
        (
            f"https://a.test/{TOKEN}",
            URLRule(schemes=("http",)),
            "webhook_url: must be an http:// URL with a host",
        ),
    ],
)
def test_each_refusal_has_one_wording(url: Any, rule: URLRule, message: str) -> None:
    assert refused(url, rule) == message


OFFICIAL = (
    "webhook_url: must be a X webhook URL: https on *.x.example with the service's path"
    " (for a compatible server, a relay or a test server: allow_custom_url: true in a config file, allow_custom_url=True in code)"
)


@pytest.mark.parametrize(
    "url",
    [
        f"http://a.x.example/hook/{TOKEN}",  # not https
        f"https://a.y.example/hook/{TOKEN}",  # another host
        f"https://x.example.evil.test/hook/{TOKEN}",
        f"https://a.x.example/other/{TOKEN}",  # another path
        f"https://u:{TOKEN}@a.x.example/hook/1",  # user info
    ],
)
def test_a_service_url_must_be_official_unless_custom_is_allowed(url: str) -> None:
    assert refused(url, RULE) == OFFICIAL
    assert check_url(url, key="webhook_url", rule=RULE, allow_custom=True) == url


# -- every HTTP setting uses it: same words, port 8443 alike ----------------------------

BUILDERS: Dict[str, Callable[[str], Any]] = {
    "slack": lambda url: SlackChannel(url),
    "discord": lambda url: DiscordChannel(url),
    "teams": lambda url: TeamsChannel(url),
    "webhook": lambda url: WebhookChannel(url),
    "pagerduty": lambda url: PagerDutyChannel("R" * 32, events_url=url),
    "alertmanager": lambda url: AlertmanagerChannel(url),
    "resend": lambda url: ResendTransport("re_key", base_url=url),
    "http": lambda url: HTTPClient(url),
}
OFFICIAL_8443 = {
    "slack": f"https://hooks.slack.com:8443/services/T0/B0/{TOKEN}",
    "discord": f"https://discord.com:8443/api/webhooks/1/{TOKEN}",
    "teams": f"https://acme.webhook.office.com:8443/webhookb2/{TOKEN}",
}


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_port_8443_is_accepted_by_every_http_setting(kind: str) -> None:
    url = OFFICIAL_8443.get(kind, "https://alerts.example.com:8443/hook")
    BUILDERS[kind](url)


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_every_http_setting_refuses_a_bad_url_in_the_same_words(kind: str) -> None:
    for url, message in [
        (f"ftp://alerts.example.com/{TOKEN}", "must be an http:// or https:// URL with a host"),
        (f"https://alerts.example.com:99999/{TOKEN}", "is not a valid URL"),
        (f"https://alerts.example.com/ {TOKEN}", "must be a URL without spaces or non-ASCII characters"),
    ]:
        with pytest.raises(AlertConfigurationError) as info:
            BUILDERS[kind](url)
        assert info.value.reason == message, (kind, url)
        assert TOKEN not in str(info.value)


def test_a_url_character_outside_visible_ascii_is_refused_and_every_visible_one_passes_that_check() -> None:
    for code in [*range(0x3000), 0xD800, 0xDFFF, 0xFEFF, 0x10FFFF]:
        url = f"https://hooks.slack.com/services/T0/B0/X{chr(code)}Y"
        if 33 <= code <= 126:
            try:
                check_url(url, key="webhook_url")
            except AlertConfigurationError as exc:  # another rule (a query, a fragment...) may refuse it
                assert "spaces or non-ASCII" not in str(exc), (code, exc)
        else:
            with pytest.raises(AlertConfigurationError, match="spaces or non-ASCII"):
                check_url(url, key="webhook_url")
