"""PagerDutyChannel against a loopback server speaking the Events API v2."""

import json
from typing import Any, Dict, List, Tuple

import pytest

from kstalerts import AlertLevel, AlertMessage
from kstalerts.channels import PagerDutyChannel
from kstalerts.exceptions import AlertConfigurationError
from tests.hostile import INJECTION, INJECTION_CLEAN
from tests.servers.paging import PagerDutyServer

KEY = PagerDutyServer.routing_key
T0 = 1700000000.25


class _Resolver:
    def __init__(self, values: Dict[str, str]) -> None:
        self.values = values

    def resolve(self, name: str) -> str:
        return self.values[name]


def _channel(server: PagerDutyServer, waits: List[float], **kwargs: Any) -> PagerDutyChannel:
    kwargs.setdefault("max_retries", 2)
    return PagerDutyChannel(
        kwargs.pop("routing_key", KEY),
        events_url=server.events_url,
        source="db1.example",
        timeout=5.0,
        sleep=waits.append,
        **kwargs,
    )


# -- payload (pure) -------------------------------------------------------------
def test_trigger_event_shape() -> None:
    ch = PagerDutyChannel(KEY, source="db1", component="postgres", group="storage", event_class="disk")
    alert = AlertMessage(
        "Disk full", "/var at 97%", AlertLevel.CRITICAL, labels={"dc": "par1"}, created_at=T0
    )
    assert ch.build_payload(alert) == {
        "event_action": "trigger",
        "dedup_key": "CRITICAL:Disk full",
        "payload": {
            "summary": "Disk full",
            "source": "db1",
            "severity": "critical",
            "timestamp": "2023-11-14T22:13:20.250Z",
            "component": "postgres",
            "group": "storage",
            "class": "disk",
            "custom_details": {"body": "/var at 97%", "labels": {"dc": "par1"}},
        },
        "client": "kstalerts",
    }


def test_levels_map_to_severities_and_dedup_keys() -> None:
    ch = PagerDutyChannel(KEY)
    severities = [ch.build_payload(AlertMessage("x", level=lv))["payload"]["severity"] for lv in AlertLevel]
    assert severities == ["info", "info", "warning", "critical"]
    assert ch.build_payload(AlertMessage("x", dedup_key="disk/db1"))["dedup_key"] == "disk/db1"
    long_key = PagerDutyChannel.dedup_key(AlertMessage("x" * 300))
    assert long_key.startswith("kstalerts-sha256-") and len(long_key) == 81
    assert long_key == PagerDutyChannel.dedup_key(AlertMessage("x" * 300))  # stable, so resolve matches


def test_resolve_event_has_only_action_and_dedup_key() -> None:
    ch = PagerDutyChannel(KEY, resolve=True)
    assert ch.build_payload(AlertMessage("Disk full", level=AlertLevel.WARNING)) == {
        "event_action": "resolve",
        "dedup_key": "WARNING:Disk full",
    }


def test_routing_key_is_checked_and_never_shown() -> None:
    for bad in ("", "short", "x" * 31 + "!", "x" * 33):
        with pytest.raises(AlertConfigurationError) as info:
            PagerDutyChannel(bad)
        assert str(info.value) == (
            "routing_key: PagerDuty routing key must be 32 letters or digits"
            " (an Events API v2 integration key)"
        )
    ch = PagerDutyChannel(KEY)
    text = (
        repr(ch)
        + ch.preview(AlertMessage("x"))
        + repr(vars(ch))
        + json.dumps(ch.build_payload(AlertMessage("y")))
    )
    assert KEY not in text
    assert '"routing_key": "***"' in ch.preview(AlertMessage("x"))


# -- delivery -----------------------------------------------------------------------
def test_trigger_is_accepted_with_202_and_the_dedup_key_is_the_message_id(
    pagerduty_server: PagerDutyServer,
) -> None:
    waits: List[float] = []
    ch = _channel(pagerduty_server, waits)
    result = ch.send(AlertMessage("Disk full", "97%", AlertLevel.CRITICAL, dedup_key="disk-db1"))
    assert (result.success, result.message_id, result.attempts) == (True, "disk-db1", 1)
    [req] = pagerduty_server.requests
    assert req.path == "/v2/enqueue"
    assert req.headers["content-type"] == "application/json"
    assert req.json["routing_key"] == KEY
    assert req.json["payload"]["severity"] == "critical"
    assert pagerduty_server.incidents == {"disk-db1": "triggered"}


def test_resolve_closes_the_incident_by_dedup_key(pagerduty_server: PagerDutyServer) -> None:
    ch = _channel(pagerduty_server, [])
    alert = AlertMessage("Backup failed", level=AlertLevel.WARNING)
    assert ch.send(alert).message_id == "WARNING:Backup failed"
    result = ch.resolve(alert)
    assert (result.success, result.message_id) == (True, "WARNING:Backup failed")
    assert pagerduty_server.incidents == {"WARNING:Backup failed": "resolved"}
    assert [r.json["event_action"] for r in pagerduty_server.requests] == ["trigger", "resolve"]
    assert ch.resolving is False


def test_429_is_retried_then_delivered(pagerduty_server: PagerDutyServer) -> None:
    waits: List[float] = []
    pagerduty_server.rate_limit(times=2)
    result = _channel(pagerduty_server, waits, max_retries=3).send(AlertMessage("x"))
    assert (result.success, result.attempts) == (True, 3)
    assert len(waits) == 2 and all(0 <= w <= 1.0 for w in waits)  # back-off, PD sends no Retry-After
    assert len(pagerduty_server.requests) == 3


def test_429_that_does_not_end_fails_as_rate_limited(pagerduty_server: PagerDutyServer) -> None:
    pagerduty_server.rate_limit(times=5)
    result = _channel(pagerduty_server, [], max_retries=1).send(AlertMessage("x"))
    assert (result.success, result.status, result.retryable, result.attempts) == (False, 429, True, 2)
    assert result.error == (
        "PagerDuty rate limited the request (HTTP 429 Too Many Requests):"
        " Requests for this service are arriving too quickly. (gave up after 2 attempts)"
    )


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_retried(pagerduty_server: PagerDutyServer, status: int) -> None:
    pagerduty_server.fail(status, times=1)
    result = _channel(pagerduty_server, []).send(AlertMessage("x"))
    assert (result.success, result.attempts) == (True, 2)


def test_5xx_error_text_skips_the_html_page(pagerduty_server: PagerDutyServer) -> None:
    pagerduty_server.fail(503, times=3)
    result = _channel(pagerduty_server, [], max_retries=0).send(AlertMessage("x"))
    assert result.error == "PagerDuty server error (HTTP 503 Service Unavailable)"


def test_400_is_permanent_with_pagerdutys_error_text(pagerduty_server: PagerDutyServer) -> None:
    other_key = "f" * 32  # well-formed, but not the service's key
    result = _channel(pagerduty_server, [], routing_key=other_key).send(AlertMessage("x"))
    assert (result.success, result.status, result.retryable, result.attempts) == (False, 400, False, 1)
    assert result.error == (
        "PagerDuty rejected the request (HTTP 400 Bad Request): Event object is invalid: Invalid routing key"
    )


def test_error_text_never_echoes_the_routing_key(pagerduty_server: PagerDutyServer) -> None:
    body = json.dumps({"status": "invalid event", "message": f"bad key {KEY}", "errors": [KEY]}).encode()
    pagerduty_server.force(400, body, {"Content-Type": "application/json"})
    result = _channel(pagerduty_server, []).send(AlertMessage("x"))
    assert result.error == "PagerDuty rejected the request (HTTP 400 Bad Request): bad key ***: ***"


def test_summary_is_cut_to_pagerdutys_limit(pagerduty_server: PagerDutyServer) -> None:
    result = _channel(pagerduty_server, []).send(AlertMessage("t" * 1024 + "overflow"))
    assert result.success
    assert len(pagerduty_server.requests[0].json["payload"]["summary"]) == 1024


# -- from_config ------------------------------------------------------------------
def test_from_config_resolves_the_routing_key(pagerduty_server: PagerDutyServer) -> None:
    ch = PagerDutyChannel.from_config(
        {
            "type": "pagerduty",
            "name": "oncall",
            "credentials": "pd_key",
            "events_url": pagerduty_server.events_url,
            "source": "cfg-host",
            "class": "disk",
            "max_retries": 0,
        },
        _Resolver({"pd_key": KEY}),
    )
    assert (ch.name, ch.source, ch.event_class, ch.max_retries) == ("oncall", "cfg-host", "disk", 0)
    assert ch.send(AlertMessage("x")).success
    assert pagerduty_server.requests[0].json["routing_key"] == KEY


def test_from_config_errors() -> None:
    cases: List[Tuple[Dict[str, Any], str]] = [
        ({}, "credentials: pagerduty: needs credentials: or routing_key:"),
        ({"credentials": "pd"}, "credentials: pagerduty: 'credentials: pd' needs a credential resolver"),
        ({"routing_key": KEY, "source": 3}, "source: pagerduty: source must be a string, got int"),
        (
            {"routing_key": KEY, "events_url": "ftp://x"},
            "events_url: must be an http:// or https:// URL with a host",
        ),
        ({"routing_key": KEY, "resolve": 1}, "resolve: pagerduty: resolve must be true or false, got 1"),
    ]
    for config, message in cases:
        with pytest.raises(AlertConfigurationError) as info:
            PagerDutyChannel.from_config(config)
        assert str(info.value) == message
    assert PagerDutyChannel.config_keys >= {"routing_key", "events_url", "source", "class", "resolve"}


def test_client_url_and_a_2xx_without_json(pagerduty_server: PagerDutyServer) -> None:
    pagerduty_server.force(202, b"", {})
    ch = _channel(pagerduty_server, [], client_url="https://status.example")
    result = ch.send(AlertMessage("x", dedup_key="k1"))
    assert (result.success, result.message_id) == (True, "k1")  # our own key when PD gives none back
    assert pagerduty_server.requests[0].json["client_url"] == "https://status.example"
    ch.close()


def test_a_4xx_without_json_shows_its_text(pagerduty_server: PagerDutyServer) -> None:
    pagerduty_server.force(403, b"Forbidden for this account", {"Content-Type": "text/plain"})
    result = _channel(pagerduty_server, []).send(AlertMessage("x"))
    assert result.error == "PagerDuty rejected the request (HTTP 403 Forbidden): Forbidden for this account"


def test_no_routing_key_in_logs(
    pagerduty_server: PagerDutyServer, caplog_all: pytest.LogCaptureFixture
) -> None:
    pagerduty_server.rate_limit()
    assert _channel(pagerduty_server, []).send(AlertMessage("x")).success
    assert _channel(pagerduty_server, [], routing_key="e" * 32).send(AlertMessage("x")).status == 400
    assert caplog_all.records
    assert KEY not in caplog_all.text and "e" * 32 not in caplog_all.text


def test_markup_arrives_as_plain_text(pagerduty_server: PagerDutyServer) -> None:
    """PagerDuty shows summary and details as plain text: sent as written, the ANSI colour gone."""
    alert = AlertMessage(INJECTION, INJECTION, labels={"by": INJECTION})
    assert _channel(pagerduty_server, []).send(alert).success
    [req] = pagerduty_server.requests
    payload = req.json["payload"]
    assert payload["summary"] == INJECTION_CLEAN
    assert payload["custom_details"] == {"body": INJECTION_CLEAN, "labels": {"by": INJECTION_CLEAN}}
    assert "\x1b" not in req.body.decode("utf-8") and "\\u001b" not in req.body.decode("utf-8")
