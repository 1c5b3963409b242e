"""Turn log records into alerts, and alert when a job fails.

AlertHandler sends every ERROR (and above) record of the "billing" logger to
Slack; alert_on_failure sends a CRITICAL alert when the job raises, then lets
the exception through. Real Slack when SLACK_WEBHOOK_URL is set, a loopback
sink otherwise.

    python3 examples/logging_handler.py
"""

import contextlib
import logging
import os
import sys

# From a checkout, without installing: find kstalerts next to this folder.
try:
    import kstalerts  # noqa: F401
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from kstalerts import AlertHandler, AlertManager, alert_on_failure
from kstalerts.channels import SlackChannel


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    with contextlib.ExitStack() as stack:
        url = os.environ.get("SLACK_WEBHOOK_URL")
        sink = None
        if not url:
            from kstalerts.demo import HTTPSink

            sink = stack.enter_context(HTTPSink())
            url = sink.url
        manager = stack.enter_context(AlertManager())
        manager.add_channel(SlackChannel(url, allow_custom_url=sink is not None), key="slack")

        log = logging.getLogger("billing")
        log.addHandler(AlertHandler(manager, level=logging.ERROR))

        log.info("invoice run started")  # below ERROR: logged, not alerted
        log.error("invoice run failed for %d customers", 12)  # a CRITICAL alert
        try:
            {}["customer-42"]
        except KeyError:
            log.exception("no billing address")  # the traceback goes into the alert's body

        @alert_on_failure(manager, title="monthly invoice export")
        def export() -> None:
            raise OSError("disk full: /exports")

        try:
            export()
        except OSError as exc:
            print(f"export raised {exc!r}, and an alert went out first")

        stats = manager.stats
        print(f"alerts sent: {stats.total_sent}, failed: {stats.total_failed}")
        if sink is not None:
            for post in sink.posts:
                print("the sink received:", str(post.payload.get("text", post.payload))[:80].splitlines()[0])
        return 0 if (stats.total_sent, stats.total_failed) == (3, 0) else 1


if __name__ == "__main__":
    sys.exit(main())
