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

__all__ = ("Outcome",)


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
    def stat(self) -> str:
        """The :class:`~kstalerts.AlertStats` counter it adds to."""
        return _TABLE[self].stat

    @property
    def word(self) -> str:
        """The word a person reads in ``str(result)``."""
        return _TABLE[self].word

    @property
    def ok(self) -> bool:
        """The alert reached the service, now or earlier (CLI exit 0, no warning)."""
        return _TABLE[self].ok

    @property
    def spool_after_send(self) -> str:
        """``"yes"``, ``"no"``, or ``"asked"`` (the channel's ``spool_throttled``)."""
        return _TABLE[self].spool_after_send

    @property
    def flush(self) -> str:
        """The :class:`~kstalerts.spool.FlushReport` counter it adds to."""
        return _TABLE[self].flush

    @property
    def spool_entry(self) -> str:
        """What a flush does with the entry: ``"remove"``, ``"keep"``, ``"dead"``."""
        return _TABLE[self].spool_entry

    @property
    def pauses_flush(self) -> bool:
        """A flush leaves the channel's other entries untried (the service is down or busy)."""
        return _TABLE[self].pauses_flush


class _Row(NamedTuple):
    stat: str
    word: str
    ok: bool
    spool_after_send: str
    flush: str
    spool_entry: str
    pauses_flush: bool


# Columns: stats counter, word in str(), ok (exit 0), spool after a send,
# flush report counter, the spooled entry after a flush, pauses the flush.
# fmt: off
_TABLE: Dict[Outcome, _Row] = {
    Outcome.DELIVERED:        _Row("sent",       "delivered",  True,  "no",    "delivered",  "remove", False),
    Outcome.PARTLY_DELIVERED: _Row("sent",       "delivered",  True,  "no",    "delivered",  "remove", False),
    Outcome.SUPPRESSED:       _Row("suppressed", "suppressed", True,  "no",    "suppressed", "remove", False),
    Outcome.THROTTLED:        _Row("throttled",  "throttled",  False, "asked", "throttled",  "keep",   False),
    Outcome.RATE_LIMITED:     _Row("throttled",  "throttled",  False, "yes",   "throttled",  "keep",   True),
    Outcome.FAILED:           _Row("failed",     "failed",     False, "yes",   "failed",     "keep",   True),
    Outcome.REFUSED:          _Row("failed",     "failed",     False, "no",    "dead",       "dead",   False),
}
# fmt: on
