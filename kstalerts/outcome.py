"""Outcome: what one delivery of one alert to one channel came to, and the
one table saying what each outcome means everywhere.

:attr:`kstalerts.AlertResult.outcome` derives the outcome from the result's
fields (the only place that reads them for that); the manager's stats, the
spool (after a send and in a flush), the flush report, the CLI's exit code,
``alert_on_failure``'s warning and the demo read the table below and never
the fields. "Throttled" is our own bucket saying no (no attempt was made);
"rate limited" is the service asking us to wait longer than the send's
budget allowed (an attempt was made): both are counted as throttled, both
keep a spooled entry for the next flush.

Rules: this module imports nothing of the package; adding an outcome means
adding one row.
"""

import enum
from typing import Dict, NamedTuple

__all__ = ("Meaning", "Outcome")


class Outcome(enum.Enum):
    """What a delivery came to; each member's meaning is a row of one table."""

    DELIVERED = "delivered"
    PARTLY_DELIVERED = "partly_delivered"  # accepted by some of the service's members
    SUPPRESSED = "suppressed"  # a duplicate within the dedup window: nothing sent
    THROTTLED = "throttled"  # our throttle had no token: nothing sent
    RATE_LIMITED = "rate_limited"  # the service asked to wait past the budget
    FAILED = "failed"  # may succeed later
    REFUSED = "refused"  # will not succeed as it is (a 404, a refused recipient)

    @property
    def meaning(self) -> "Meaning":
        """This outcome's row of the table below."""
        return _TABLE[self]


class Meaning(NamedTuple):
    """What an outcome means to each part of the library (one row of the table)."""

    stat: str  # the AlertStats counter it adds to
    ok: bool  # reached the service, now or earlier: CLI exit 0, no guard warning
    spool_after_send: str  # "yes", "no", or "asked" (the channel's spool_throttled)
    flush: str  # the FlushReport counter it adds to
    spool_entry: str  # what a flush does with the entry: "drop", "keep", "dead"
    pauses_flush: bool  # a flush leaves the channel's other entries untried


# Columns: stats counter (also the word in str()), ok (exit 0), spool after a send,
# flush report counter, the spooled entry after a flush, pauses the flush.
# fmt: off
_TABLE: Dict[Outcome, Meaning] = {
    Outcome.DELIVERED:        Meaning("sent",       True,  "no",    "delivered",  "drop", False),
    Outcome.PARTLY_DELIVERED: Meaning("sent",       True,  "no",    "delivered",  "drop", False),
    Outcome.SUPPRESSED:       Meaning("suppressed", True,  "no",    "suppressed", "drop", False),
    Outcome.THROTTLED:        Meaning("throttled",  False, "asked", "throttled",  "keep", False),
    Outcome.RATE_LIMITED:     Meaning("throttled",  False, "yes",   "throttled",  "keep", True),
    Outcome.FAILED:           Meaning("failed",     False, "yes",   "failed",     "keep", True),
    Outcome.REFUSED:          Meaning("failed",     False, "no",    "dead",       "dead", False),
}
# fmt: on
