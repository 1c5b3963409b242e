"""Each channel renders a resolved notification its own way (pure render, no network)."""

from kstalerts import AlertLevel, AlertMessage, Notification
from kstalerts.channels import (
    AlertmanagerChannel,
    DiscordChannel,
    EmailChannel,
    PagerDutyChannel,
    SlackChannel,
    TeamsChannel,
    WebhookChannel,
)
from kstalerts.transports import SMTPTransport

URL = "http://127.0.0.1:9/hook"
DISK = AlertMessage(
    "disk full", "resolved after 5m", AlertLevel.CRITICAL, labels={"host": "db1"}, dedup_key="d1"
)
FIRING = Notification(DISK)
RESOLVED = Notification(DISK, state="resolved")


def test_slack_is_green_and_says_resolved() -> None:
    channel = SlackChannel(URL, allow_custom_url=True)
    firing, resolved = channel.render(FIRING), channel.render(RESOLVED)
    assert firing["attachments"][0]["color"] != "#2EB67D"
    attachment = resolved["attachments"][0]
    assert attachment["color"] == "#2EB67D" and "RESOLVED: disk full" in attachment["title"]
    assert attachment["title"].startswith(":white_check_mark:")


def test_email_subject_says_resolved() -> None:
    channel = EmailChannel(SMTPTransport("127.0.0.1", 9), sender="a@example.com", recipients="b@example.com")
    assert channel.render(FIRING)["Subject"] == "[ALERT] [CRITICAL] disk full"
    assert channel.render(RESOLVED)["Subject"] == "[ALERT] [RESOLVED] disk full"


def test_pagerduty_resolves_the_same_dedup_key() -> None:
    channel = PagerDutyChannel("r" * 32, events_url=URL)
    assert channel.render(FIRING)["event_action"] == "trigger"
    assert channel.render(RESOLVED) == {"event_action": "resolve", "dedup_key": "d1"}


def test_alertmanager_sets_ends_at_on_the_same_labels() -> None:
    channel = AlertmanagerChannel(URL)
    (firing,) = channel.render(FIRING)
    (resolved,) = channel.render(RESOLVED)
    assert "endsAt" not in firing and "endsAt" in resolved
    assert resolved["labels"] == firing["labels"]


def test_teams_and_discord_turn_green() -> None:
    teams = TeamsChannel(URL, allow_custom_url=True)
    title = teams.render(RESOLVED)["attachments"][0]["content"]["body"][0]
    run = (title.get("inlines") or [title])[0]
    assert run["color"] == "good" and run["text"].startswith("RESOLVED: ")
    discord = DiscordChannel(URL, allow_custom_url=True)
    embed = discord.render(RESOLVED)["embeds"][0]
    assert embed["color"] == 0x2ECC71 and embed["title"].replace("\\", "").startswith("RESOLVED: ")  # markdown-escaped
    assert discord.render(FIRING)["embeds"][0]["color"] != 0x2ECC71


def test_webhook_says_status_resolved_and_nothing_when_firing() -> None:
    import json

    channel = WebhookChannel(URL)
    assert "status" not in json.loads(channel.render(FIRING))
    assert json.loads(channel.render(RESOLVED))["status"] == "resolved"
    templated = WebhookChannel(URL, template='{"s": "$status"}')
    assert json.loads(templated.render(RESOLVED)) == {"s": "resolved"}
