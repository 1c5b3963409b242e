"""Outcome: what one delivery of one alert to one channel came to, and the
one table saying what each outcome means everywhere.

:attr:`kstalerts.AlertResult.outcome` is stored in the result (its
``success``/``throttled``/``suppressed``/``retryable`` are read from its row);
the manager's stats, the spool (after a send and in a flush), the flush
report, the CLI's exit code, ``alert_on_failure``'s warning and the demo read
the table below and never the flags. "Throttled" is our own bucket saying no (no attempt was made);
"rate limited" is the service asking us to wait longer than the send's
budget allowed (an attempt was made): both are counted as throttled, both
keep a spooled entry for the next flush.

:class:`Delivery` is what one delivery attempt returns to the channel's retry
loop (``AlertChannel._deliver``): an outcome with the message id, status,
retry hint and a note; the loop builds the :class:`AlertResult` from it with
the result columns of the same table.

Rules: this module imports nothing of the package; adding an outcome means
adding one row.
"""

import enum

from ._typing import Dict, NamedTuple, Optional

__all__ = ()


class Outcome(enum.Enum):
    """What a delivery came to; each member's meaning is a row of one table."""

    DELIVERED = "delivered"
    PARTLY_DELIVERED = "partly_delivered"  # accepted by some of the service's members
    SUPPRESSED = "suppressed"  # a duplicate within the dedup window: nothing sent
    THROTTLED = "throttled"  # our throttle had no token: nothing sent
    RATE_LIMITED = "rate_limited"  # the service asked to wait past the budget
    FAILED = "failed"  # may succeed later
    REFUSED = "refused"  # will not succeed as it is (a 404, a refused recipient)
    HELD = "held"  # the lifecycle: notified less than repeat_interval ago, or being delivered
    SILENCED = "silenced"  # the lifecycle: a silence matches it
    INHIBITED = "inhibited"  # the lifecycle: a firing alert inhibits it

    # Members are singletons compared by identity, so identity hashes them as well as
    # Enum's own __hash__ (a Python call), which every outcome lookup in a table paid.
    __hash__ = object.__hash__

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
    success: bool  # AlertResult.success
    throttled: bool  # AlertResult.throttled
    suppressed: bool  # AlertResult.suppressed
    retryable: bool  # AlertResult.retryable


class Delivery(NamedTuple):
    """What one delivery attempt came to, as a channel's ``_deliver`` returns it.

    ``note`` is the words for a person: the error of a failure, or which
    members or recipients missed a partly delivered alert. ``retry_after``
    is the service's hint (seconds) for a failed or rate-limited attempt.
    """

    outcome: Outcome
    message_id: Optional[str] = None
    status: Optional[int] = None
    retry_after: Optional[float] = None
    note: Optional[str] = None


# Columns: stats counter (also the word in str()), ok (exit 0), spool after a send,
# flush report counter, the spooled entry after a flush, pauses the flush; then the
# AlertResult fields: success, throttled, suppressed, retryable.
# fmt: off
_TABLE: Dict[Outcome, Meaning] = {
    Outcome.DELIVERED:        Meaning("sent",       True,  "no",    "delivered",  "drop", False, True,  False, False, False),  # noqa: E501
    Outcome.PARTLY_DELIVERED: Meaning("sent",       True,  "no",    "delivered",  "drop", False, True,  False, False, False),  # noqa: E501
    Outcome.SUPPRESSED:       Meaning("suppressed", True,  "no",    "suppressed", "drop", False, False, False, True,  False),  # noqa: E501
    Outcome.THROTTLED:        Meaning("throttled",  False, "asked", "throttled",  "keep", False, False, True,  False, True),   # noqa: E501
    Outcome.RATE_LIMITED:     Meaning("throttled",  False, "yes",   "throttled",  "keep", True,  False, True,  False, True),   # noqa: E501
    Outcome.FAILED:           Meaning("failed",     False, "yes",   "failed",     "keep", True,  False, False, False, True),   # noqa: E501
    Outcome.REFUSED:          Meaning("failed",     False, "no",    "dead",       "dead", False, False, False, False, False),  # noqa: E501
    Outcome.HELD:             Meaning("held",       True,  "no",    "suppressed", "drop", False, False, False, True,  False),  # noqa: E501
    Outcome.SILENCED:         Meaning("silenced",   True,  "no",    "suppressed", "drop", False, False, False, True,  False),  # noqa: E501
    Outcome.INHIBITED:        Meaning("inhibited",  True,  "no",    "suppressed", "drop", False, False, False, True,  False),  # noqa: E501
}
# fmt: on
