"""The kstlib.alerts names a migrating script calls, one test each.

Each test follows what kstlib 2.0's own alerts docs and tests do with the
name (docs/migrating-from-kstlib.md lists them side by side), run against
kstalerts with real channels: console channels, or Slack channels posting to
a loopback sink. The differences kept on purpose are tested where they show.
"""

import asyncio
import io
from typing import Any, Dict, List, Tuple

import pytest

from kstalerts import (
    AlertConfigurationError,
    AlertLevel,
    AlertManager,
    AlertMessage,
    AlertResult,
    AlertThrottle,
)
from kstalerts.channels import ConsoleChannel, SlackChannel
from kstalerts.net.loopback import HTTPSink

SLACK_URL = "https://hooks.slack.com/services/T123/B456/xyz"


class Record:
    """What kstlib's CredentialResolver.resolve() returns: the secret in ``value``."""

    def __init__(self, value: str) -> None:
        self.value = value


class KstlibStyleResolver:
    def __init__(self, secrets: Dict[str, str]) -> None:
        self.secrets = secrets
        self.asked: List[str] = []

    def resolve(self, name: str) -> Record:
        self.asked.append(name)
        return Record(self.secrets[name])


# -- from_config: the alerts section, as kstlib takes it -----------------------


def test_from_config_takes_the_alerts_section_as_kstlib_does() -> None:
    section = {
        "throttle": {"rate": 5, "per": 30},
        "channels": {"ops": {"type": "slack", "webhook_url": SLACK_URL, "min_level": "warning"}},
    }
    with AlertManager.from_config(section) as manager:
        assert manager.channel_count == 1
        assert manager.channels[0].min_level is AlertLevel.WARNING
        assert manager.channels[0].throttle is not None and manager.channels[0].throttle.rate == 5.0
    with AlertManager.from_config({"alerts": section, "logging": {"level": "debug"}}) as manager:
        assert manager.channel_count == 1


def test_from_config_empty_section_or_mapping_builds_no_channel() -> None:
    configs: Tuple[Dict[str, Any], ...] = ({}, {"channels": {}})
    for config in configs:
        with AlertManager.from_config(config) as manager:
            assert manager.channel_count == 0


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"channels": {"x": {"type": "unknown"}}},
            "alerts.channels.x.type: unknown channel type 'unknown'; expected one of: alertmanager,"
            " console, discord, email, exec, journald, matrix, ntfy, pagerduty, slack, syslog, teams, webhook",
        ),
        (
            {"chanels": {"ops": {"type": "slack", "webhook_url": SLACK_URL}}},
            "chanels: unknown key; did you mean 'channels'? (a config mapping is a whole document"
            " with an 'alerts' section, or the 'alerts' section itself)",
        ),
    ],
    ids=["unknown-type", "typo"],
)
def test_from_config_that_would_build_nothing_names_the_key(config: Dict[str, Any], message: str) -> None:
    with pytest.raises(AlertConfigurationError) as info:
        AlertManager.from_config(config)
    assert str(info.value) == message


def test_from_config_reads_kstlibs_email_channel() -> None:
    section = {
        "channels": {
            "email_ops": {
                "type": "email",
                "transport": {
                    "type": "smtp",
                    "host": "smtp.example.com",
                    "port": 587,
                    "username": "user@example.com",
                    "password": "secret",
                },
                "sender": "alerts@example.com",
                "recipients": ["oncall@example.com"],
                "min_level": "critical",
            }
        }
    }
    with AlertManager.from_config(section) as manager:
        assert manager.channel_count == 1
        transport = manager.channels[0].channel.transport  # type: ignore[attr-defined]
        assert (transport.host, transport.port, transport.security) == ("smtp.example.com", 587, "starttls")
        assert "secret" not in repr(transport)


# -- credential_resolver -----------------------------------------------------


def test_from_config_takes_the_resolver_positionally_and_its_records(loopback_http: HTTPSink) -> None:
    resolver = KstlibStyleResolver({"slack_webhook": loopback_http.url})
    section = {
        "channels": {"slack_ops": {"type": "slack", "credentials": "slack_webhook", "allow_custom_url": True}}
    }
    with AlertManager.from_config(section, resolver) as manager:
        assert manager.channel_count == 1
        [result] = manager.send(AlertMessage("Test", "Body", level=AlertLevel.CRITICAL))
    assert result.success, result.error
    assert resolver.asked == ["slack_webhook"]
    assert [post.payload["attachments"][0]["text"] for post in loopback_http.posts] == ["Body"]


def test_from_config_takes_credential_resolver_by_keyword() -> None:
    resolver = KstlibStyleResolver({"slack_webhook": SLACK_URL})
    section = {"channels": {"slack_ops": {"type": "slack", "credentials": "slack_webhook"}}}
    with AlertManager.from_config(config=section, credential_resolver=resolver) as manager:
        assert manager.channel_count == 1
    assert resolver.asked == ["slack_webhook"]


def test_slack_channel_from_config_with_a_resolver() -> None:
    resolver = KstlibStyleResolver({"slack_webhook": SLACK_URL})
    channel = SlackChannel.from_config(config={"credentials": "slack_webhook"}, credential_resolver=resolver)
    assert str(channel.webhook_url) != SLACK_URL  # kept, but masked in its text form
    assert channel.webhook_url.reveal() == SLACK_URL
    channel.close()


def test_channel_name_is_accepted_for_name() -> None:
    from kstalerts.channels import EmailChannel
    from kstalerts.transports import SMTPTransport

    slack = SlackChannel(
        webhook_url=SLACK_URL, username="kstlib-alerts", icon_emoji=":bell:", channel_name="ops"
    )
    mail = EmailChannel(
        transport=SMTPTransport(host="smtp.example.com", port=587),
        sender="alerts@example.com",
        recipients=["oncall@example.com"],
        subject_prefix="[PROD ALERT]",
        channel_name="oncall",
    )
    assert (slack.name, mail.name) == ("ops", "oncall")
    assert SlackChannel(SLACK_URL, name="a", channel_name="b").name == "a"
    with AlertManager() as manager:
        manager.add_channel(slack).add_channel(mail)
        assert [entry.key for entry in manager.channels] == ["ops", "oncall"]


# -- manager names -----------------------------------------------------------


def test_channel_count_counts_registered_channels() -> None:
    manager = AlertManager()
    assert manager.channel_count == 0
    result = manager.add_channel(ConsoleChannel(io.StringIO(), name="ch1"))
    assert result is manager  # fluent, as in kstlib
    manager.add_channel(ConsoleChannel(io.StringIO(), name="ch2")).add_channel(
        ConsoleChannel(io.StringIO(), name="ch3"), min_level=AlertLevel.CRITICAL
    )
    assert manager.channel_count == 3
    manager.close()


def test_manager_repr_shows_the_channel_count() -> None:
    manager = AlertManager()
    assert "channels=0" in repr(manager)
    manager.add_channel(ConsoleChannel(io.StringIO(), name="ops"))
    assert repr(manager) == "AlertManager(channels=1, keys=['ops'])"
    manager.close()


def test_name_in_a_channel_config_is_its_alias(capsys: "pytest.CaptureFixture[str]") -> None:
    section = {"channels": {"hb": {"type": "console", "name": "heartbeat"}, "wd": {"type": "console"}}}
    with AlertManager.from_config(section) as manager:
        results = manager.send(AlertMessage("beat", "ok"), channel="heartbeat")
        assert [r.channel for r in results] == ["hb"]  # results and stats use the key (stable)
        assert manager.send(AlertMessage("beat", "ok"), channel="hb")[0].success
        assert (manager.channels[0].alias, manager.channels[0].channel.name) == ("heartbeat", "hb")  # one name: the key
        assert manager.stats.by_channel["hb"]["sent"] == 2
    assert capsys.readouterr().err.count("[INFO] beat") == 2


def test_stats_names() -> None:
    with AlertManager() as manager:
        manager.add_channel(
            ConsoleChannel(io.StringIO(), name="ch1"), throttle=AlertThrottle(rate=1, per=60.0)
        )
        manager.send(AlertMessage("Test", "Body"))
        manager.send(AlertMessage("Test", "Body"))
        stats = manager.stats
    assert (stats.total_sent, stats.total_failed, stats.total_throttled) == (1, 0, 1)
    assert stats.by_channel["ch1"]["sent"] == 1 and stats.by_channel["ch1"]["throttled"] == 1


def test_send_is_sync_and_asend_is_what_kstlib_awaits() -> None:
    with AlertManager() as manager:
        manager.add_channel(ConsoleChannel(io.StringIO(), name="ops"))
        assert [r.success for r in manager.send(AlertMessage("t", "b"))] == [True]

        async def main() -> List[AlertResult]:
            return await manager.asend(AlertMessage("t", "b"))

        loop = asyncio.new_event_loop()
        try:
            assert [r.success for r in loop.run_until_complete(main())] == [True]
        finally:
            loop.close()


# -- throttle and levels -----------------------------------------------------


def test_throttle_repr_begins_as_kstlibs() -> None:
    throttle = AlertThrottle(rate=10, per=60.0)
    assert repr(throttle).startswith("AlertThrottle(rate=10.0, per=60.0")
    assert (throttle.rate, throttle.per) == (10.0, 60.0)


def test_alert_level_values_and_success() -> None:
    assert [int(level) for level in AlertLevel] == [10, 11, 20, 30]
    assert AlertLevel.INFO < AlertLevel.SUCCESS < AlertLevel.WARNING
    assert AlertMessage("Disk Full", "Server disk at 95%").level is AlertLevel.INFO


def test_the_migration_table_names_tests_that_exist() -> None:
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parent.parent
    table = (root / "docs" / "migrating-from-kstlib.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`(test_[a-z0-9_]+)`", table))
    assert len(named) >= 12
    assert named <= {name for name in globals() if name.startswith("test_")}
    assert "migrating-from-kstlib.md" in (root / "docs" / "design.md").read_text(encoding="utf-8")


def test_await_channel_send_becomes_channel_asend() -> None:
    """The seed's ``await channel.send(alert)``: channels have ``asend``, awaitable, same result."""
    from tests.compat import run

    out = io.StringIO()
    channel = ConsoleChannel(out, name="console")
    alert = AlertMessage("Disk full", "/var at 97%", AlertLevel.CRITICAL)

    async def kstlib_style() -> None:
        await channel.send(alert)  # type: ignore[misc]

    with pytest.raises(TypeError, match="AlertResult can't be used in 'await' expression"):
        run(kstlib_style())
    result = run(channel.asend(alert))
    assert result.success and result.channel == "console"
    assert out.getvalue().count("Disk full") == 2  # the failed await had delivered it too


def test_asyncio_run_of_send_is_asend() -> None:
    """``asyncio.run(manager.send(alert))``: send delivers and returns a list; asend is the coroutine."""
    from tests.compat import run

    with AlertManager() as manager:
        manager.add_channel(ConsoleChannel(io.StringIO(), name="console"))
        results = manager.send(AlertMessage("Disk full"))
        assert isinstance(results, list) and not asyncio.iscoroutine(results)
        # asyncio.run says ValueError "a coroutine was expected" (3.6's loop: TypeError, "awaitable")
        with pytest.raises((ValueError, TypeError), match="coroutine"):
            run(results)  # type: ignore[arg-type]
        assert [r.success for r in run(manager.asend(AlertMessage("Disk full")))] == [True]
