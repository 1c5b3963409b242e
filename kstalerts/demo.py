"""The demo behind ``kstalerts demo``: every feature at work, on loopback.

It starts a Slack-compatible HTTP sink and an SMTP sink on 127.0.0.1, wires
a manager with two channels at different levels (Slack takes WARNING and
above behind a throttle, email takes CRITICAL only), sends a small storm of
alerts, then prints what each sink received, what the level filter and the
throttle held back, and the stats. It needs no account, no config and no
network, and finishes in well under a second.

Rules: the demo uses the real channels and transports, so what it shows is
what a user gets; every server it starts is stopped before it returns.
"""

import shutil
import time

from ._typing import Any, Dict, Optional, TextIO, Tuple
from .channels.base import AlertChannel
from .manager import AlertManager
from .models import AlertLevel, AlertMessage, AlertResult
from .net.loopback import HTTPSink, SMTPSink
from .throttle import AlertThrottle

# HTTPSink and SMTPSink are public here: the examples fall back to them
# when no real endpoint is configured.
__all__ = ()

#: The alerts the demo sends, in order.
STORM: Tuple[Tuple[AlertLevel, str, str], ...] = (
    (AlertLevel.INFO, "Nightly backup started", "job backup-db on db1"),
    (AlertLevel.WARNING, "Disk /var at 85% on db1", "grows about 2% an hour"),
    (AlertLevel.WARNING, "Disk /var at 91% on db1", "grows about 2% an hour"),
    (AlertLevel.CRITICAL, "Database primary unreachable", "3 health checks failed in a row"),
    (AlertLevel.WARNING, "Disk /var at 96% on db1", "grows about 2% an hour"),
    (AlertLevel.CRITICAL, "Failover to db2 started", "replica lag 0.4 s at promotion"),
    (AlertLevel.INFO, "Nightly backup finished", "took 12 min, 3.1 GB"),
)

_SLACK_BURST = 2
_SENDER = "alerts@demo.kstalerts.invalid"
_RECIPIENT = "oncall@demo.kstalerts.invalid"


def _channels(http: HTTPSink, smtp: SMTPSink) -> Tuple[AlertChannel, AlertChannel]:
    """The Slack channel (pointed at the HTTP sink) and the email channel."""
    from .channels.email import EmailChannel
    from .channels.slack import SlackChannel
    from .transports import SMTPTransport

    # A real SlackChannel; allow_custom_url lets it post to a non-Slack host.
    # proxy="": the sink is on this host, out of reach of any HTTP(S)_PROXY set around us.
    slack = SlackChannel(http.url, allow_custom_url=True, timeout=5.0, max_retries=0, proxy="")
    # The sink speaks plain SMTP on loopback, without TLS or AUTH.
    transport = SMTPTransport("127.0.0.1", smtp.port, security="none", timeout=5.0)
    email = EmailChannel(transport, sender=_SENDER, recipients=[_RECIPIENT], timeout=5.0, max_retries=0)
    return slack, email


def _outcome(result: Optional[AlertResult]) -> str:
    if result is None:
        return "filtered"
    meaning = result.outcome.meaning
    return "delivered" if meaning.ok else "FAILED" if meaning.stat == "failed" else meaning.stat


def _slack_text(payload: Any) -> str:
    if isinstance(payload, dict):
        text = payload.get("text")
        if isinstance(text, str) and text:
            return text.splitlines()[0]
        for attachment in payload.get("attachments") or []:
            if isinstance(attachment, dict) and attachment.get("title"):
                return str(attachment["title"])
    return str(payload)[:100]


def run_demo(out: TextIO) -> int:
    """Run the demo, writing to ``out``; 0 when every sink got what it should."""
    started = time.monotonic()
    write = out.write
    with HTTPSink() as http, SMTPSink() as smtp:
        slack, email = _channels(http, smtp)
        throttle = AlertThrottle(rate=_SLACK_BURST, per=60.0, burst=_SLACK_BURST)
        with AlertManager() as manager:
            manager.add_channel(slack, key="slack", min_level=AlertLevel.WARNING, throttle=throttle)
            manager.add_channel(email, key="email", min_level=AlertLevel.CRITICAL)
            write("kstalerts demo: two channels on loopback, one throttle, a storm of 7 alerts\n\n")
            write(f"  slack  Slack webhook {http.base_url}/services/...  takes WARNING and above,")
            write(f" throttled to {_SLACK_BURST} per 60 s\n")
            write("         (CRITICAL alerts draw from a reserve of their own: a flood never blocks them)\n")
            write(f"  email  SMTP 127.0.0.1:{smtp.port} (plain, loopback)  takes CRITICAL only\n\n")
            write("sending:\n")
            keys = [entry.key for entry in manager.channels]
            filtered = 0
            for level, title, body in STORM:
                results = manager.send(AlertMessage(title, body, level))
                by_key: Dict[str, AlertResult] = {r.channel: r for r in results}
                filtered += len(keys) - len(results)
                cells = "  ".join(f"{key}: {_outcome(by_key.get(key)):<9}" for key in keys)
                write(f"  {level.name:<8} {title:<30} {cells}".rstrip() + "\n")
            stats = manager.stats
        posts = list(http.posts)
        mails = list(smtp.messages)
    write(f"\nthe Slack sink received {len(posts)} post(s):\n")
    for post in posts:
        write(f"  {_slack_text(post.payload)}\n")
    write(f"the SMTP sink received {len(mails)} message(s):\n")
    for mail in mails:
        write(f"  to {', '.join(mail.recipients)}: {mail.subject}\n")
    write(f"\nheld back: {filtered} by the level filter, {stats.total_throttled} by the throttle\n")
    write(f"stats: sent {stats.total_sent}, failed {stats.total_failed}, throttled {stats.total_throttled}\n")
    for key, counts in stats.by_channel.items():
        write(f"  {key}: " + ", ".join(f"{name} {n}" for name, n in counts.items()) + "\n")
    expected = _expected()
    ok = (len(posts), len(mails), stats.total_failed) == (expected["slack"], expected["email"], 0)
    elapsed = time.monotonic() - started
    write(f"\n{'demo OK' if ok else 'demo FAILED'} in {elapsed:.2f} s.")
    write(f" Next: '{next_command()} send --help', and docs/config.md for a config file.\n")
    return 0 if ok else 1


def next_command() -> str:
    """How this user runs the CLI: ``kstalerts`` when on PATH, else ``python3 -m kstalerts``."""
    found = shutil.which("kstalerts")
    if found is not None:
        return "kstalerts"
    return "python3 -m kstalerts"


def _expected() -> Dict[str, int]:
    """What each sink should receive: the level filter, then Slack's throttle.

    CRITICAL alerts have a bucket of their own (kstalerts.throttle), and a
    digest of what is still held back at the end goes out on close.
    """
    main = critical = _SLACK_BURST
    slack = held = 0
    for level, _, _ in STORM:
        if level < AlertLevel.WARNING:
            continue
        if level >= AlertLevel.CRITICAL and critical:
            critical, slack, held = critical - 1, slack + 1, 0
        elif level < AlertLevel.CRITICAL and main:
            main, slack, held = main - 1, slack + 1, 0
        else:
            held += 1
    email = [lvl for lvl, _, _ in STORM if lvl >= AlertLevel.CRITICAL]
    return {"slack": slack + (1 if held else 0), "email": len(email)}
