"""Send alerts by email over SMTP.

Real server: set SMTP_HOST (and as needed SMTP_PORT, SMTP_SECURITY =
starttls | ssl | none, SMTP_USER, SMTP_PASSWORD, ALERT_FROM, ALERT_TO with
comma-separated addresses). Without SMTP_HOST, the mail goes to an SMTP sink
on 127.0.0.1, so the example runs anywhere. Exit code 0 when delivered.

    SMTP_HOST=smtp.example.com SMTP_USER=alerts SMTP_PASSWORD=... \\
    ALERT_FROM=alerts@example.com ALERT_TO=oncall@example.com python3 examples/email_basic.py
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
from kstalerts.channels import EmailChannel
from kstalerts.transports import SMTPTransport


def main() -> int:
    env = os.environ.get
    with contextlib.ExitStack() as stack:
        sink = None
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
            print(f"SMTP_HOST is not set: sending to a loopback SMTP sink on port {sink.port}")
            transport = SMTPTransport("127.0.0.1", sink.port, security="none")

        channel = EmailChannel(
            transport,
            sender=env("ALERT_FROM", "alerts@example.com"),
            recipients=env("ALERT_TO", "oncall@example.com").split(","),
            subject_prefix="[ALERT]",
        )
        manager = stack.enter_context(AlertManager())
        manager.add_channel(channel, min_level=AlertLevel.CRITICAL)

        results = manager.send(
            AlertMessage(
                "Database primary unreachable",
                "db1 failed 3 health checks in a row.\nFailover to db2 starts in 5 minutes.",
                AlertLevel.CRITICAL,
            )
        )
        for result in results:
            print(result)
        if sink is not None:
            for mail in sink.messages:
                print(f"the sink received: to {', '.join(mail.recipients)}: {mail.subject}")
        return 0 if results and all(r.success for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
