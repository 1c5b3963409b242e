"""Send alerts to Slack through an incoming webhook.

Real Slack: export SLACK_WEBHOOK_URL=https://hooks.slack.com/services/...
Without it, the alerts go to a Slack-compatible sink on 127.0.0.1, so the
example runs anywhere. Exit code 0 when every alert was delivered.

    python3 examples/slack_basic.py
"""

import contextlib
import os
import sys

# From a checkout, without installing: find kstalerts next to this folder.
try:
    import kstalerts  # noqa: F401
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from kstalerts import AlertLevel, AlertManager, AlertMessage
from kstalerts.channels import SlackChannel


def main() -> int:
    with contextlib.ExitStack() as stack:
        url = os.environ.get("SLACK_WEBHOOK_URL")
        sink = None
        if not url:
            from kstalerts.demo import HTTPSink

            sink = stack.enter_context(HTTPSink())
            url = sink.url
            print(f"SLACK_WEBHOOK_URL is not set: posting to a loopback sink at {sink.base_url}")

        channel = SlackChannel(
            url,
            username="kstalerts",
            icon_emoji=":rotating_light:",
            # Slack's own hosts only, unless told otherwise: the sink is local.
            allow_custom_url=sink is not None,
        )
        manager = stack.enter_context(AlertManager())
        manager.add_channel(channel, min_level=AlertLevel.WARNING)

        results = manager.send(
            [
                AlertMessage(
                    "Deploy finished", "v1.4.2 on web1-3", AlertLevel.INFO
                ),  # below WARNING: skipped
                AlertMessage("Disk /var at 91% on db1", "grows about 2% an hour", AlertLevel.WARNING),
                AlertMessage("Backup failed", "pg_dump exited with 2", AlertLevel.CRITICAL, timestamp=True),
            ]
        )
        for result in results:
            print(result)
        if sink is not None:
            print(f"the sink received {len(sink.posts)} post(s)")
        print("stats:", manager.stats.by_channel)
        return 0 if results and all(r.success for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
