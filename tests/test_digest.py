"""Digests of held-back alerts: counted, carried by the next delivery, flushed on close.

Against the loopback Slack-compatible sink and aiosmtpd; the cross-process
case runs real child processes (tests/digest_children.py) sharing one
throttle state file.
"""

import json
import os
import pathlib
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List

import pytest

from kstalerts import AlertLevel, AlertManager, AlertMessage, AlertResult, AlertThrottle, Notification
from kstalerts.channels import (
    AlertmanagerChannel,
    DiscordChannel,
    EmailChannel,
    PagerDutyChannel,
    SlackChannel,
    TeamsChannel,
    WebhookChannel,
)
from kstalerts.digest import MAX_DIGEST_TITLES, Digest
from kstalerts.transports import SMTPTransport
from tests.clock import FakeClock

ROOT = pathlib.Path(__file__).resolve().parent.parent


def slack(server: Any) -> SlackChannel:
    return SlackChannel(server.url(), allow_custom_url=True, timeout=5, max_retries=0)


def email(port: int) -> EmailChannel:
    transport = SMTPTransport("127.0.0.1", port, security="none")
    return EmailChannel(transport, sender="alerts@example.com", recipients="oncall@example.com", timeout=5)


def hourly() -> AlertThrottle:
    return AlertThrottle(rate=1, per=3600, burst=1, clock=FakeClock())


def alpha_beta() -> List[AlertMessage]:
    return [AlertMessage("alpha-disk", level=AlertLevel.WARNING) for _ in range(4)] + [
        AlertMessage("beta-cpu", level=AlertLevel.WARNING) for _ in range(2)
    ]


def send_each(manager: AlertManager, alerts: List[AlertMessage]) -> List[AlertResult]:
    """One send() per alert, so the first one is the one the throttle admits."""
    return [result for alert in alerts for result in manager.send(alert)]


# -- close() sends what is left -------------------------------------------------------


def test_close_sends_one_digest_naming_both_titles_with_counts_slack(slack_server: Any) -> None:
    manager = AlertManager().add_channel(slack(slack_server), key="ops", throttle=hourly())
    results = send_each(manager, alpha_beta())
    assert [r.success for r in results] == [True] + [False] * 5
    assert all(r.throttled for r in results[1:])
    assert len(slack_server.requests) == 1
    manager.close()
    assert len(slack_server.requests) == 2  # exactly one more
    digest = slack_server.requests[-1].json()
    assert digest["attachments"][0]["title"].endswith("5 alerts held back on ops")
    text = digest["attachments"][0]["text"]
    assert text.startswith("+5 held back by the throttle since ")
    assert "5 \u00d7 WARNING" in text
    assert "3 \u00d7 alpha-disk" in text and "2 \u00d7 beta-cpu" in text
    assert manager.stats.total_digests == 1 and manager.stats.total_throttled == 5


def test_close_sends_one_digest_naming_both_titles_with_counts_email(smtp_server: Any) -> None:
    server = smtp_server()
    with AlertManager() as manager:
        manager.add_channel(email(server.port), key="mail", throttle=hourly())
        send_each(manager, alpha_beta())
        assert len(server.handler.messages) == 1
    assert len(server.handler.messages) == 2
    received = server.handler.parsed()
    assert received["Subject"] == "[ALERT] [WARNING] 5 alerts held back on mail"
    body = received.get_content().replace("\r\n", "\n")
    assert "+5 held back by the throttle since " in body
    assert "3 \u00d7 alpha-disk" in body and "2 \u00d7 beta-cpu" in body


def test_the_next_email_carries_the_digest_in_a_section(smtp_server: Any) -> None:
    server = smtp_server()
    with AlertManager() as manager:
        manager.add_channel(email(server.port), key="mail", throttle=hourly())
        send_each(manager, alpha_beta())
        [result] = manager.send(AlertMessage("DATABASE DOWN", level=AlertLevel.CRITICAL))
        assert result.success
    assert len(server.handler.messages) == 2  # the digest went with the CRITICAL; nothing left
    body = server.handler.parsed().get_content().replace("\r\n", "\n")
    assert "\nHeld back\n---------\n+5 held back by the throttle since " in body
    assert "3 \u00d7 alpha-disk" in body


def test_a_digest_goes_at_most_once_per_throttle_period(slack_server: Any) -> None:
    throttle = AlertThrottle(rate=1, per=1.0, burst=1, clock=FakeClock())  # its clock never moves
    manager = AlertManager().add_channel(slack(slack_server), key="ops", throttle=throttle)
    send_each(manager, alpha_beta())
    assert len(manager.flush_digests()) == 1
    manager.send(AlertMessage("gamma", level=AlertLevel.WARNING))
    assert manager.flush_digests() == []  # within the period: stays pending
    time.sleep(1.2)
    [again] = manager.flush_digests()
    assert again.success
    assert "1 \u00d7 gamma" in slack_server.requests[-1].json()["attachments"][0]["text"]
    manager.close()
    assert len(slack_server.requests) == 3


def test_an_undeliverable_digest_is_spooled(slack_server: Any, tmp_path: pathlib.Path) -> None:
    manager = AlertManager(spool=tmp_path / "spool")
    manager.add_channel(slack(slack_server), key="ops", throttle=hourly())
    send_each(manager, alpha_beta())
    slack_server.queue("status=503")
    [result] = manager.flush_digests()
    assert not result.success and result.spooled
    manager.close()
    report = AlertManager(spool=tmp_path / "spool").add_channel(slack(slack_server), key="ops").flush_spool()
    assert report.delivered == 1
    assert slack_server.requests[-1].json()["attachments"][0]["title"].endswith("5 alerts held back on ops")


def test_an_undelivered_carrier_keeps_the_digest_pending(slack_server: Any) -> None:
    with AlertManager() as manager:
        manager.add_channel(slack(slack_server), key="ops", throttle=hourly())
        send_each(manager, alpha_beta())
        slack_server.queue("status=500")
        [failed] = manager.send(AlertMessage("DATABASE DOWN", level=AlertLevel.CRITICAL))
        assert not failed.success
    last = slack_server.requests[-1].json()
    assert last["attachments"][0]["title"].endswith("5 alerts held back on ops")


def test_duplicates_are_counted_and_carried_but_not_flushed_alone(slack_server: Any) -> None:
    manager = AlertManager(dedup=3600).add_channel(slack(slack_server), key="ops")
    alert = AlertMessage("disk full", level=AlertLevel.WARNING)
    assert [r.suppressed for r in manager.send([alert])] == [False]
    assert [r.suppressed for r in manager.send([alert, alert])] == [True, True]
    assert manager.flush_digests() == []  # each was delivered once already
    manager.send(AlertMessage("cpu hot", level=AlertLevel.WARNING))
    manager.close()
    assert len(slack_server.requests) == 2
    held = slack_server.requests[-1].json()["attachments"][-1]["text"]
    assert held.startswith("+2 held back as duplicates since ") and "2 \u00d7 disk full" in held


def test_the_digest_is_handed_to_send_and_a_plain_send_carries_none(slack_server: Any) -> None:
    digest = Digest()
    digest.add(AlertMessage("disk full", level=AlertLevel.WARNING), suppressed=False)
    channel = slack(slack_server)
    assert channel.send(AlertMessage("plain", level=AlertLevel.WARNING)).success
    assert len(slack_server.requests[-1].json()["attachments"]) == 1  # nothing held back
    carrier = AlertMessage("carrier", level=AlertLevel.WARNING)
    result = channel.notify(Notification(carrier, held_back=digest.summary()))
    assert result.success
    held = slack_server.requests[-1].json()["attachments"][-1]["text"]
    assert held.startswith("+1 held back by the throttle since ") and "1 \u00d7 disk full" in held
    assert channel.send(AlertMessage("plain again", level=AlertLevel.WARNING)).success
    assert len(slack_server.requests[-1].json()["attachments"]) == 1  # nothing left behind on the thread


class OldSlack(SlackChannel):
    """A user's subclass written before digests: build_payload takes only the alert."""

    def build_payload(self, alert: AlertMessage) -> Dict[str, Any]:
        payload = super().build_payload(alert)
        payload["text"] = "custom " + payload["text"]
        return payload


def test_a_subclass_written_before_digests_still_delivers_with_one_pending(slack_server: Any) -> None:
    manager = AlertManager(dedup=3600).add_channel(
        OldSlack(slack_server.url(), allow_custom_url=True, timeout=5, max_retries=0), key="ops"
    )
    alert = AlertMessage("disk full", level=AlertLevel.WARNING)
    manager.send([alert, alert])  # the second one is a duplicate: a digest is pending
    [result] = manager.send(AlertMessage("cpu hot", level=AlertLevel.WARNING))
    manager.close()
    assert result.success and slack_server.requests[-1].json()["text"].startswith("custom ")
    assert len(slack_server.requests) == 2


def test_digest_false_turns_it_off(slack_server: Any) -> None:
    with AlertManager() as manager:
        manager.add_channel(slack(slack_server), key="ops", throttle=hourly(), digest=False)
        results = send_each(manager, alpha_beta())
        assert [r.throttled for r in results].count(True) == 5
    assert len(slack_server.requests) == 1


def test_digest_setting_from_config(slack_server: Any) -> None:
    config = {
        "alerts": {
            "throttle": {"rate": 1, "per": 3600, "burst": 1},
            "channels": {
                "digest": False,
                "quiet": {"type": "slack", "webhook_url": slack_server.url(), "allow_custom_url": True},
                "loud": {
                    "type": "slack",
                    "webhook_url": slack_server.url(),
                    "allow_custom_url": True,
                    "digest": True,
                },
            },
        }
    }
    with AlertManager.from_config(config) as manager:
        assert {e.key: e.digest for e in manager.channels} == {"quiet": False, "loud": True}


# -- across processes ------------------------------------------------------------------


def _child(*args: str) -> str:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-m", "tests.digest_children", *args],
        cwd=str(ROOT),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_what_one_process_held_back_is_carried_by_the_next_process(
    slack_server: Any, tmp_path: pathlib.Path
) -> None:
    state = str(tmp_path / "throttle.json")
    assert _child("hold", slack_server.url(), state) == "True False False"
    assert len(slack_server.requests) == 1
    stored = json.loads(pathlib.Path(state).read_text())["digest"]["ops"]["digest"]
    assert stored["throttled"] == 2 and stored["titles"] == {"held one": 1, "held two": 1}
    assert _child("deliver", slack_server.url(), state) == "True"
    assert len(slack_server.requests) == 2  # the CRITICAL carried it; close() had nothing left
    last = slack_server.requests[-1].json()
    assert "DATABASE DOWN" in last["attachments"][0]["title"]
    held = last["attachments"][-1]["text"]
    assert held.startswith("+2 held back by the throttle since ")
    assert "1 \u00d7 held one" in held and "1 \u00d7 held two" in held
    assert "ops" not in json.loads(pathlib.Path(state).read_text())["digest"]


# -- bounded ---------------------------------------------------------------------------

#: Each service's documented limit on what a digest lands in, in characters or bytes.
LIMITS: Dict[str, Callable[[Any], bool]] = {
    # Slack: a message's text is cut at 40,000 characters; an attachment's text at 3,000 shown
    "slack": lambda p: len(json.dumps(p)) < 40_000 and all(len(a["text"]) <= 3000 for a in p["attachments"]),
    # Discord: an embed's field value at most 1,024 characters, the embed at most 6,000
    "discord": lambda p: (
        all(len(f["value"]) <= 1024 for f in p["embeds"][0]["fields"])
        and len(json.dumps(p["embeds"][0])) < 6000
    ),
    # Teams: a message at most 28 KB
    "teams": lambda p: len(json.dumps(p).encode()) < 28 * 1024,
    # PagerDuty: an event at most 512 KB
    "pagerduty": lambda p: len(json.dumps(p).encode()) < 512 * 1024,
    # Alertmanager: no documented cap; stay far under our own 1 MiB request limit
    "alertmanager": lambda p: len(json.dumps(p).encode()) < 16 * 1024,
    "webhook": lambda p: len(json.dumps(p).encode()) < 16 * 1024,
    "email": lambda p: len(p.as_bytes()) < 64 * 1024,
}


def _channels(url: str) -> Dict[str, Any]:
    return {
        "slack": SlackChannel(url, allow_custom_url=True),
        "discord": DiscordChannel(url + "/api/webhooks/1/x", allow_custom_url=True),
        "teams": TeamsChannel(url + "/workflows/x", allow_custom_url=True),
        "pagerduty": PagerDutyChannel("a" * 32, events_url=url + "/v2/enqueue"),
        "alertmanager": AlertmanagerChannel(url),
        "webhook": WebhookChannel(url + "/hook"),
        "email": EmailChannel(SMTPTransport("127.0.0.1"), sender="a@example.com", recipients="b@example.com"),
    }


def test_ten_thousand_distinct_titles_stay_under_every_service_limit(slack_server: Any) -> None:
    titles = [f"host-{i:05d} disk full" for i in range(10_000)]
    manager = AlertManager().add_channel(slack(slack_server), key="ops", throttle=hourly())
    manager.send(AlertMessage("first", level=AlertLevel.WARNING))
    results = manager.send([AlertMessage(t, level=AlertLevel.WARNING) for t in titles])
    assert all(r.throttled for r in results)
    # The carrier: a CRITICAL delivered through the sink carries the digest.
    [critical] = manager.send(AlertMessage("DATABASE DOWN", level=AlertLevel.CRITICAL))
    manager.close()
    assert critical.success and len(slack_server.requests) == 2
    held = slack_server.requests[-1].json()["attachments"][-1]["text"]
    assert held.startswith("+10,000 held back by the throttle since ")
    assert held.count("\n1 \u00d7 host-") == 20 and held.endswith("\nand 9,980 more")
    assert len(slack_server.requests[-1].body) < 40_000

    # The same digest rendered by every channel, within each service's limit.
    digest = Digest()
    for title in titles:
        digest.add(AlertMessage(title, level=AlertLevel.WARNING), suppressed=False)
    assert len(digest.titles) == MAX_DIGEST_TITLES and digest.total == 10_000
    summary = digest.summary()
    alert = AlertMessage("DATABASE DOWN", "primary unreachable", AlertLevel.CRITICAL)
    for name, channel in _channels(slack_server.base_url).items():
        payload = channel.render(Notification(alert, held_back=summary))
        payload = json.loads(payload) if isinstance(payload, bytes) else payload  # the webhook's body
        rendered = payload.get_content() if name == "email" else json.dumps(payload, ensure_ascii=False)
        assert LIMITS[name](payload), name
        assert "and 9,980 more" in rendered, name
        assert rendered.count("1 \u00d7 host-") == 20, name
        channel.close()


def test_digest_round_trips_and_refuses_damage() -> None:
    digest = Digest()
    digest.add(AlertMessage("a", level=AlertLevel.CRITICAL), suppressed=False, when=100.0)
    digest.add(AlertMessage("a", level=AlertLevel.INFO), suppressed=True, when=50.0)
    again = Digest.from_dict(json.loads(json.dumps(digest.to_dict())))
    assert again is not None and again.to_dict() == digest.to_dict()
    assert (again.first, again.last, again.titles) == (50.0, 100.0, {"a": 2})
    summary = again.summary()
    assert summary.level is AlertLevel.CRITICAL
    assert summary.headline.startswith("+2 held back (1 by the throttle, 1 duplicates) since ")
    assert summary.headline.endswith(": 1 \u00d7 CRITICAL, 1 \u00d7 INFO")
    damaged: List[Any] = [None, [], {"throttled": "x"}, {"throttled": -3, "titles": {"a": 1}}]
    for value in damaged:
        assert Digest.from_dict(value) is None


@pytest.mark.parametrize("limit", [60, 200, 3000])
def test_rendering_keeps_within_the_budget_and_counts_what_it_drops(limit: int) -> None:
    digest = Digest()
    for i in range(50):
        for _ in range(50 - i):
            digest.add(AlertMessage(f"title number {i}"), suppressed=False)
    summary = digest.summary()
    text = summary.text(limit)
    assert len(text) <= limit
    shown = [line for line in text.splitlines()[1:] if not line.startswith("and ")]
    more = text.splitlines()[-1]
    if more.startswith("and "):
        listed = sum(int(line.split(" ")[0]) for line in shown)
        assert int(more.split(" ")[1].replace(",", "")) == digest.total - listed


def test_kstalerts_send_flushes_the_digest_before_it_exits(slack_server: Any, tmp_path: pathlib.Path) -> None:
    config = tmp_path / "kstlib.conf.yml"
    config.write_text(
        "alerts:\n"
        "  throttle: {rate: 1, per: 3600, burst: 1, state_file: throttle.json}\n"
        "  channels:\n"
        "    ops:\n"
        "      type: slack\n"
        f"      webhook_url: {slack_server.url()}\n"
        "      allow_custom_url: true\n",
        encoding="utf-8",
    )

    def send(title: str) -> int:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        args = ["send", "--config", str(config), "--level", "warning", "--title", title]
        return subprocess.call(
            [sys.executable, "-m", "kstalerts", *args], env=env, stdout=subprocess.DEVNULL, timeout=60
        )

    assert send("run 1") == 0
    assert send("run 2") == 1  # throttled; before exiting it sent the digest of run 2
    assert len(slack_server.requests) == 2
    assert slack_server.requests[-1].json()["attachments"][0]["title"].endswith("1 alert held back on ops")
    assert send("run 3") == 1  # throttled; a digest went out this period already: kept in the state file
    assert len(slack_server.requests) == 2
    pending = json.loads((tmp_path / "throttle.json").read_text())["digest"]["ops"]["digest"]
    assert pending["titles"] == {"run 3": 1}


@pytest.mark.parametrize(
    ("channels", "key"),
    [
        (
            {
                "digest": "yes",
                "ops": {"type": "slack", "webhook_url": "https://hooks.slack.com/services/T/B/x"},
            },
            "alerts.channels.digest",
        ),
        (
            {"ops": {"type": "slack", "webhook_url": "https://hooks.slack.com/services/T/B/x", "digest": 1}},
            "alerts.channels.ops.digest",
        ),
    ],
)
def test_digest_must_be_true_or_false(channels: Dict[str, Any], key: str) -> None:
    from kstalerts import AlertConfigurationError

    with pytest.raises(AlertConfigurationError, match="must be true or false") as info:
        AlertManager.from_config({"alerts": {"channels": channels}})
    assert info.value.key == key


def test_a_damaged_digest_section_in_the_state_file_is_replaced(
    slack_server: Any, tmp_path: pathlib.Path
) -> None:
    state = tmp_path / "t.json"
    throttle = AlertThrottle(rate=1, per=3600, burst=1, state_file=state, state_key="ops")
    with AlertManager() as manager:
        manager.add_channel(slack(slack_server), key="ops", throttle=throttle)
        manager.send(AlertMessage("first", level=AlertLevel.WARNING))
        data = json.loads(state.read_text())
        data["digest"] = ["not", "a", "mapping"]
        state.write_text(json.dumps(data))
        [held] = manager.send(AlertMessage("second", level=AlertLevel.WARNING))
        assert held.throttled
        assert json.loads(state.read_text())["digest"]["ops"]["digest"]["titles"] == {"second": 1}
    assert slack_server.requests[-1].json()["attachments"][0]["title"].endswith("1 alert held back on ops")


def test_twenty_warnings_then_a_critical_by_email(smtp_server: Any) -> None:
    server = smtp_server()
    with AlertManager() as manager:
        throttle = AlertThrottle(rate=10, per=60, burst=3, clock=FakeClock())
        manager.add_channel(email(server.port), key="mail", throttle=throttle)
        warnings = [AlertMessage(f"disk {90 + i * 43}%", level=AlertLevel.WARNING) for i in range(20)]
        assert [r.success for r in send_each(manager, warnings)] == [True] * 3 + [False] * 17
        [critical] = manager.send(AlertMessage("DATABASE DOWN", level=AlertLevel.CRITICAL))
        assert critical.success
    assert len(server.handler.messages) == 4
    last = server.handler.parsed()
    assert last["Subject"] == "[ALERT] [CRITICAL] DATABASE DOWN"
    body = last.get_content().replace("\r\n", "\n")
    assert "\nHeld back\n---------\n+17 held back by the throttle since " in body
    assert ": 17 \u00d7 WARNING\n" in body


def test_a_channel_written_for_build_payload_alone_renders_through_the_adapter() -> None:
    """A user's channel with only ``build_payload(alert)``: ``render`` hands it the alert, digest or not."""
    from kstalerts.channels import AlertChannel

    class Mine(AlertChannel):
        def build_payload(self, alert: AlertMessage) -> Dict[str, str]:
            return {"title": alert.title}

    digest = Digest()
    digest.add(AlertMessage("disk full"), suppressed=False)
    alert = AlertMessage("cpu hot")
    assert Mine().render(Notification(alert, held_back=digest.summary())) == {"title": "cpu hot"}


def test_a_digest_whose_spooling_fails_stays_pending(tmp_path: Any) -> None:
    """flush_digests: a channel that fails and a spool that cannot take the digest lose nothing."""
    from kstalerts.channels import CallbackChannel

    def refuse(alert: AlertMessage) -> None:
        raise RuntimeError("down")

    class BrokenSpool:
        def put(self, *args: Any, **kwargs: Any) -> None:
            raise OSError("disk full")

    manager = AlertManager()
    manager.add_channel(CallbackChannel(lambda a: None, name="ops"), throttle=AlertThrottle(rate=1, per=3600.0, burst=1))
    manager.send(AlertMessage("first", level=AlertLevel.WARNING))
    manager.send(AlertMessage("held", level=AlertLevel.WARNING))  # held back: a digest is pending
    [entry] = manager.channels
    book = manager._book()
    assert book is not None
    failing = entry._replace(channel=CallbackChannel(refuse, name="ops"))
    with pytest.raises(OSError):
        book._flush_one(failing, BrokenSpool())  # type: ignore[arg-type]
    assert book.take(entry) is not None  # still pending, not lost
    manager.close()
