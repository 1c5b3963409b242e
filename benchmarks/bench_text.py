"""The one text rule: what cleaning and cutting from the middle cost.

``AlertMessage`` cleans its title, body and labels and bounds them with
``_text.cut`` when it is built; each channel cuts (and escapes) again to its
own limit. Measured: building an alert with a plain title and body, and the
share of it the text rule takes (``clean`` and ``cut`` of the same strings);
cutting a 64 KiB log full of markup to Slack's 3000 characters (``&<>``
escaped), Discord's 4096 (markdown escaped) and Teams' 20000 UTF-8 bytes.
No target: the figures say what a long log costs per channel.
"""

from typing import Callable, List

from kstalerts import AlertMessage
from kstalerts._text import clean, cut, cut_bytes
from kstalerts.channels.discord import escape_markdown
from kstalerts.channels.slack import escape_mrkdwn

from ._harness import Result, median, rounds, timed

NAME = "text"
TITLE = "backup failed on db1"
BODY = "exit code 2\nsee /var/log/backup.log"
LOG = "\n".join(f"{n:05d} <warn> *disk* [db1](https://x.example) 97% used" for n in range(1200))[:65536]


def _per_call(fn: Callable[[], object], calls: int, n: int) -> List[float]:
    """Microseconds per call of ``fn``, one sample per round of ``calls`` calls."""
    return [timed(lambda: [fn() for _ in range(calls)]) / calls * 1e6 for _ in range(n)]


def run(quick: bool) -> List[Result]:
    n = rounds(quick, full=15, fast=3)
    calls = 200 if quick else 5000
    build = _per_call(lambda: AlertMessage(TITLE, BODY), calls, n)
    rule = _per_call(lambda: (cut(clean(TITLE), 1024), cut(clean(BODY), 65536)), calls, n)
    results = [
        Result(
            NAME,
            "AlertMessage(title, body), plain text: the text rule's share",
            median(build),
            "us",
            baseline=median(rule),
            baseline_label="clean + cut of the same title and body",
            ratio=median(rule) / median(build),
            rounds=n,
            samples=build,
        )
    ]
    for label, fn in (
        ("Slack: cut to 3000 characters, & < > escaped", lambda: cut(LOG, 3000, escape=escape_mrkdwn)),
        ("Discord: cut to 4096 characters, markdown escaped", lambda: cut(LOG, 4096, escape=escape_markdown)),
        ("Teams: cut to 20000 UTF-8 bytes", lambda: cut_bytes(LOG, 20000)),
    ):
        samples = [us / 1000.0 for us in _per_call(fn, 3 if quick else 20, n)]
        results.append(
            Result(NAME, f"a 64 KiB log of markup, {label}", median(samples), "ms", rounds=n, samples=samples)
        )
    return results
