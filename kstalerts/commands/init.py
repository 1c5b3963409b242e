"""``kstalerts init [--slack] [--email] [--webhook] [--pagerduty] [PATH]``: a starting config.

Writes a commented ``kstlib.conf.yml`` with the channels asked for (a
console channel when none is), to stdout or to PATH. Secrets are never in
it: each channel names a credential read from a file (mode 0600) or the
environment, so the file itself can be shared and versioned.

Rules: PATH is created, never replaced (``O_EXCL``), with mode 0644; the
text is checked by the config loader before it is written, so what ``init``
gives, ``check-config`` accepts (a missing secret is a warning there).
"""

import argparse
import os

from .._typing import Callable, List, Optional, TextIO

__all__ = ()  # the command line registers setup(); nothing here is the public API

_HEAD = """\
# kstlib.conf.yml: kstalerts configuration, written by 'kstalerts init'.
# Check it with 'kstalerts check-config --config THIS_FILE'; the full,
# commented reference is docs/config.md (and kstlib.conf.yml in the source).
#
# Where kstalerts looks for this file, first match wins: --config PATH,
# $KSTALERTS_CONFIG, ./kstlib.conf.yml, ~/.config/kstalerts/, /etc/kstalerts/.

alerts:
  # A token bucket per channel: at most `rate` alerts per `per` seconds,
  # `burst` at once. CRITICAL alerts have a reserve of their own.
  throttle: {rate: 10, per: 60.0, burst: 5}

  channels:
    # Defaults for every channel: seconds per attempt, retries after it.
    timeout: 30.0
    max_retries: 2
"""

_CHANNELS = {
    "console": """
    # Prints each alert on stderr (a log, a cron mail). No secret.
    console:
      type: console
      min_level: info
""",
    "slack": """
    # Slack incoming webhook (https://api.slack.com/messaging/webhooks).
    ops:
      type: slack
      credentials: slack_webhook
      min_level: warning
""",
    "email": """
    # Email over SMTP (STARTTLS on 587). Quote a sender with a display name.
    mail:
      type: email
      sender: "Alerts <alerts@example.com>"
      recipients: [oncall@example.com]
      min_level: critical
      transport:
        type: smtp
        host: smtp.example.com
        port: 587
        username: alerts@example.com
        credentials: smtp_password
""",
    "webhook": """
    # Any HTTP endpoint that takes a JSON POST.
    hook:
      type: webhook
      credentials: webhook_url
      min_level: warning
""",
    "pagerduty": """
    # PagerDuty Events API v2: triggers an incident, resolves it on recovery.
    pager:
      type: pagerduty
      credentials: pagerduty_key
      min_level: critical
""",
}

_SECRETS = {
    "slack": ("slack_webhook", "SLACK_WEBHOOK_URL", "the webhook URL"),
    "email": ("smtp_password", "SMTP_PASSWORD", "the SMTP password"),
    "webhook": ("webhook_url", "WEBHOOK_URL", "the endpoint URL"),
    "pagerduty": ("pagerduty_key", "PAGERDUTY_ROUTING_KEY", "the integration's routing key"),
}

_CREDENTIALS_HEAD = """
# Where each secret lives; a channel names one with `credentials: NAME`.
# Under cron or systemd your login shell's variables are NOT there: prefer a
# file only the job's user can read (mode 0600; kstalerts refuses one that
# others can read), or systemd's LoadCredential= ($CREDENTIALS_DIRECTORY),
# see docs/systemd.md.
credentials:
"""


# The texts of its --help: the line in 'kstalerts --help', the description, the epilog.
_SUMMARY = "write a commented starting kstlib.conf.yml (to stdout, or a new file)"
_DESCRIPTION = (
    "Write a commented starting config with the channels asked for (a console channel when"
    " none is), to stdout or to PATH, which must not exist yet. Secrets stay out of it: each"
    " channel names a credential (an environment variable by default, a 0600 file with"
    " --secrets-in)."
)
_EPILOG = (
    "examples:\n"
    "  kstalerts init --slack --email /etc/kstalerts/kstlib.conf.yml\n"
    "  kstalerts init --slack --secrets-in /etc/kstalerts > kstlib.conf.yml"
)


def setup(add: Callable[..., argparse.ArgumentParser]) -> None:
    parser = add("init", _run_init, _SUMMARY, _DESCRIPTION, _EPILOG)
    for kind in ("slack", "email", "webhook", "pagerduty", "console"):
        parser.add_argument(f"--{kind}", action="store_true", help=f"add a {kind} channel")
    parser.add_argument(
        "--secrets-in",
        metavar="DIR",
        help="read each secret from a file in DIR (mode 0600) instead of an environment variable",
    )
    parser.add_argument("path", nargs="?", metavar="PATH", help="the file to create (default: stdout)")


def starting_config(kinds: List[str], secrets_in: Optional[str] = None) -> str:
    """The text of a starting config with channels of ``kinds`` (order kept)."""
    kinds = [k for k in kinds if k in _CHANNELS] or ["console"]
    text = _HEAD + "".join(_CHANNELS[k] for k in kinds)
    secrets = [_SECRETS[k] for k in kinds if k in _SECRETS]
    if secrets:
        text += _CREDENTIALS_HEAD
        for name, var, what in secrets:
            if secrets_in:
                path = os.path.join(secrets_in, name)
                text += f"  {name}: {{type: file, path: {path}}}    # {what}, one line, chmod 600\n"
            else:
                text += f"  {name}: {{type: env, var: {var}}}    # {what}\n"
    return text


def _run_init(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    from ..config import load_config

    kinds = [k for k in ("console", "slack", "email", "webhook", "pagerduty") if getattr(args, k)]
    text = starting_config(kinds, args.secrets_in)
    from ..config.yaml import parse_yaml
    from ..exceptions import AlertConfigurationError

    data, _ = parse_yaml(text)
    load_config(data)  # what init writes, the loader reads
    if args.path is None:
        out.write(text)
        return 0
    try:
        fd = os.open(args.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)  # never replaces a file
    except FileExistsError:
        raise AlertConfigurationError(
            f"{args.path} exists; init never replaces a file (move it away, or name a new path)"
        ) from None
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)
    out.write(f"wrote {args.path}; check it with: kstalerts check-config --config {args.path}\n")
    return 0
