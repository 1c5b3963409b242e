"""Outcome (kstalerts/outcome.py): one name for what a delivery came to, and
one table for what it means to stats, spool, flush report and exit codes."""

import json
import os
import pathlib
from typing import Any, Dict, List, Optional

import pytest

from kstalerts import (
    AlertDeliveryError,
    AlertManager,
    AlertMessage,
    AlertResult,
    AlertThrottle,
    Outcome,
    RetryPolicy,
)
from kstalerts.channels import CallbackChannel, SlackChannel
from kstalerts.cli import EXIT_FAILED, EXIT_OK, exit_code
from tests.servers.slack import SlackServer

ALERT = AlertMessage("Disk full", "/var is at 97%")


@pytest.mark.parametrize(
    ("result", "outcome"),
    [
        (AlertResult("ops", True, "id-1", attempts=1), Outcome.DELIVERED),
        (AlertResult("ops", True, error="delivered to 1 of 2 members", attempts=1), Outcome.PARTLY_DELIVERED),
        (AlertResult("ops", False, error="duplicate", suppressed=True), Outcome.SUPPRESSED),
        (AlertResult("ops", False, error="limit", throttled=True, retryable=True), Outcome.THROTTLED),
        (
            AlertResult("ops", False, error="rate limited", attempts=1, throttled=True, retryable=True),
            Outcome.RATE_LIMITED,
        ),
        (AlertResult("ops", False, error="HTTP 503", attempts=3, retryable=True), Outcome.FAILED),
        (AlertResult("ops", False, error="HTTP 404", attempts=1, status=404), Outcome.REFUSED),
    ],
)
def test_the_outcome_is_derived_from_the_fields(result: AlertResult, outcome: Outcome) -> None:
    assert result.outcome is outcome


def test_every_outcome_has_a_row_and_the_rows_agree() -> None:
    for member in Outcome:
        outcome = member.meaning
        assert outcome.stat in ("sent", "failed", "throttled", "suppressed", "held", "silenced", "inhibited")
        assert outcome.flush in ("delivered", "failed", "throttled", "suppressed", "dead")
        assert outcome.spool_entry in ("drop", "keep", "dead")
        assert outcome.spool_after_send in ("yes", "no", "asked")
        # What exits 0 is exactly what a flush removes from the spool.
        assert outcome.ok is (outcome.spool_entry == "drop")
    assert [o.value for o in Outcome] == [
        "delivered",
        "partly_delivered",
        "suppressed",
        "throttled",
        "rate_limited",
        "failed",
        "refused",
        "held",
        "silenced",
        "inhibited",
    ]


def test_the_exit_code_reads_the_table() -> None:
    assert (
        exit_code([AlertResult("a", True, attempts=1), AlertResult("b", False, suppressed=True)]) == EXIT_OK
    )
    limited = AlertResult("a", False, error="x", attempts=1, throttled=True, retryable=True)
    assert exit_code([AlertResult("b", True, attempts=1), limited]) == EXIT_FAILED
    assert exit_code([]) == EXIT_FAILED


def test_str_keeps_its_words() -> None:
    limited = AlertResult("ops", False, error="rate limited: wait 3600s", attempts=1, throttled=True)
    assert str(limited) == "ops: throttled: rate limited: wait 3600s"
    assert str(AlertResult("ops", False, error="HTTP 404", attempts=1)) == "ops: failed: HTTP 404"


def spooled(folder: pathlib.Path) -> List[Dict[str, Any]]:
    return [
        json.loads((folder / name).read_text())
        for name in sorted(os.listdir(str(folder)))
        if name.endswith(".json") and not name.startswith(".")
    ]


def test_a_slack_429_with_a_long_retry_after_counts_the_same_in_stats_and_flush(
    slack_server: SlackServer, tmp_path: pathlib.Path
) -> None:
    # Slack asks for an hour; the send's budget has 5 s: the channel ends
    # the send rate limited instead of sleeping, the manager spools it.
    policy = RetryPolicy(max_retries=2, base_delay=0.01, max_retry_after=300.0, budget=5.0)
    channel = SlackChannel(slack_server.url(), allow_custom_url=True, timeout=2.0, retry=policy)
    folder = tmp_path / "spool"
    with AlertManager(spool=str(folder)) as manager:
        manager.add_channel(channel, key="ops")
        slack_server.queue("ratelimit=3600")
        (result,) = manager.send(ALERT)
        assert result.outcome is Outcome.RATE_LIMITED
        assert (result.status, result.attempts, result.spooled) == (429, 1, True)
        assert manager.stats.by_channel["ops"] == {"sent": 0, "failed": 0, "throttled": 1, "suppressed": 0, "digests": 0}

        slack_server.queue("ratelimit=3600")
        report = manager.flush_spool()
        (again,) = report.results
        assert again.outcome is Outcome.RATE_LIMITED
        # The flush report and the stats say the same: throttled, not failed.
        assert (report.throttled, report.failed, report.remaining, report.ok) == (1, 0, 1, True)
        assert manager.stats.by_channel["ops"] == {"sent": 0, "failed": 0, "throttled": 2, "suppressed": 0, "digests": 0}
        (entry,) = spooled(folder)
        assert entry["attempts"] == 2
        assert entry["last_error"].startswith("rate limited: the service asked to wait 3600s")

        report = manager.flush_spool()  # Slack answers 200 again
        assert (report.delivered, report.remaining) == (1, 0)
        assert manager.stats.by_channel["ops"] == {"sent": 1, "failed": 0, "throttled": 2, "suppressed": 0, "digests": 0}
    assert len(slack_server.requests) == 3


class Service:
    """A callback service whose next answer the test chooses."""

    def __init__(self) -> None:
        self.error: Optional[AlertDeliveryError] = None

    def __call__(self, alert: AlertMessage) -> None:
        if self.error is not None:
            raise self.error


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (None, Outcome.DELIVERED),
        (
            AlertDeliveryError("HTTP 429", retryable=True, retry_after=3600.0, status=429),
            Outcome.RATE_LIMITED,
        ),
        (AlertDeliveryError("HTTP 503", retryable=True, status=503), Outcome.FAILED),
        (AlertDeliveryError("HTTP 404", retryable=False, status=404), Outcome.REFUSED),
    ],
)
def test_stats_and_the_flush_report_count_each_outcome_by_the_table(
    tmp_path: pathlib.Path, error: Optional[AlertDeliveryError], outcome: Outcome
) -> None:
    service = Service()
    policy = RetryPolicy(max_retries=1, base_delay=0.0, max_retry_after=300.0, budget=2.0)
    with AlertManager(spool=str(tmp_path)) as manager:
        manager.add_channel(CallbackChannel(service, name="ops", retry=policy))
        service.error = AlertDeliveryError("down", retryable=True)
        (first,) = manager.send(ALERT)  # spooled as a retryable failure
        assert first.spooled
        service.error = error
        report = manager.flush_spool()
        (result,) = report.results
        assert result.outcome is outcome
        meaning = outcome.meaning
        assert manager.stats.by_channel["ops"][meaning.stat] == 1 + (meaning.stat == "failed")
        assert getattr(report, meaning.flush) == 1
        assert report.remaining == (1 if meaning.spool_entry == "keep" else 0)


def test_our_throttle_spools_only_when_asked(tmp_path: pathlib.Path) -> None:
    with AlertManager(spool=str(tmp_path)) as manager:
        manager.add_channel(
            CallbackChannel(lambda a: None, name="a"), throttle=AlertThrottle(1, 60.0, burst=1)
        )
        manager.add_channel(
            CallbackChannel(lambda a: None, name="b"),
            throttle=AlertThrottle(1, 60.0, burst=1),
            spool_throttled=True,
        )
        manager.send(ALERT)
        results = manager.send(ALERT)
    assert [(r.channel, r.outcome, r.spooled) for r in results] == [
        ("a", Outcome.THROTTLED, False),
        ("b", Outcome.THROTTLED, True),
    ]
