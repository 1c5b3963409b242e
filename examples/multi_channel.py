"""One manager, two channels at different levels, a throttle, and the stats.

Slack gets WARNING and above, at most 3 at once; email gets CRITICAL only.
Real endpoints when SLACK_WEBHOOK_URL / SMTP_HOST are set (see slack_basic.py
and email_basic.py for the variables), loopback sinks otherwise.

    python3 examples/multi_channel.py
"""

import contextlib
import os
import sys

# From a checkout, without installing: find kstalerts next to this folder.
try:
    import kstalerts  # noqa: F401
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from kstalerts import AlertLevel, AlertManager, AlertMessage, AlertThrottle
from kstalerts.channels import EmailChannel, SlackChannel
from kstalerts.transports import SMTPTransport


def slack_channel(stack: contextlib.ExitStack) -> SlackChannel:
    url = os.environ.get("SLACK_WEBHOOK_URL")
    if url:
        return SlackChannel(url, username="kstalerts")
    from kstalerts.demo import HTTPSink

    sink = stack.enter_context(HTTPSink())
    print(f"Slack: loopback sink at {sink.base_url}")
    return SlackChannel(sink.url, username="kstalerts", allow_custom_url=True)


def email_channel(stack: contextlib.ExitStack) -> EmailChannel:
    env = os.environ.get
    if env("SMTP_HOST"):
        port = env("SMTP_PORT")
        transport = SMTPTransport(
            env("SMTP_HOST", ""),
            int(port) if port else None,
            username=env("SMTP_USER"),
            password=env("SMTP_PASSWORD"),
            security=env("SMTP_SECURITY", "starttls"),
        )
    else:
        from kstalerts.demo import SMTPSink

        sink = stack.enter_context(SMTPSink())
        print(f"email: loopback SMTP sink on port {sink.port}")
        transport = SMTPTransport("127.0.0.1", sink.port, security="none")
    return EmailChannel(
        transport,
        sender=env("ALERT_FROM", "alerts@example.com"),
        recipients=env("ALERT_TO", "oncall@example.com").split(","),
    )


def main() -> int:
    with contextlib.ExitStack() as stack:
        manager = stack.enter_context(AlertManager())
        manager.add_channel(
            slack_channel(stack),
            key="slack",
            min_level=AlertLevel.WARNING,
            throttle=AlertThrottle(rate=3, per=60.0, burst=3),
        )
        manager.add_channel(email_channel(stack), key="email", min_level=AlertLevel.CRITICAL)

        storm = [
            AlertMessage(f"Disk /var at {p}% on db1", level=AlertLevel.WARNING) for p in (85, 88, 91, 94)
        ]
        storm.append(AlertMessage("Database primary unreachable", "3 checks failed", AlertLevel.CRITICAL))
        storm.append(AlertMessage("Nightly report ready", level=AlertLevel.INFO))  # no channel takes INFO
        for alert in storm:
            for result in manager.send(alert):
                print(f"{alert.level.name:<8} {alert.title:<30} {result}")

        stats = manager.stats
        print(f"sent {stats.total_sent}, failed {stats.total_failed}, throttled {stats.total_throttled}")
        for key, counts in stats.by_channel.items():
            print(f"  {key}: {counts}")
        # 4 Slack + 1 email delivered; 1 WARNING throttled by design. The CRITICAL
        # has a bucket of its own, so the WARNINGs could not starve it, and it
        # carried the digest of the WARNING held back (docs/throttling.md).
        return 0 if stats.total_failed == 0 and stats.total_sent == 5 else 1


if __name__ == "__main__":
    sys.exit(main())
