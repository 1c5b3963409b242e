"""TeamsChannel against loopback connector and workflow endpoints."""

from typing import Any, Dict, List, Tuple

import pytest

from kstalerts import AlertLevel, AlertMessage
from kstalerts.channels import TeamsChannel
from kstalerts.exceptions import AlertConfigurationError
from tests.hostile import INJECTION, INJECTION_CLEAN
from tests.servers.paging import TeamsServer

T0 = 1700000000.25
CONNECTOR = "https://contoso.webhook.office.com/webhookb2/aaaa@bbbb/IncomingWebhook/SECRETID/cccc"
WORKFLOW = (
    "https://prod-12.westeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke"
    "?api-version=2016-06-01&sp=%2Ftriggers&sv=1.0&sig=SECRETSIG"
)
POWER = "https://default1234.56.environment.api.powerplatform.com:443/powerautomate/automations/direct/workflows/x"


class _Resolver:
    def __init__(self, values: Dict[str, str]) -> None:
        self.values = values

    def resolve(self, name: str) -> str:
        return self.values[name]


def _channel(url: str, waits: List[float], **kwargs: Any) -> TeamsChannel:
    kwargs.setdefault("max_retries", 2)
    return TeamsChannel(url, allow_custom_url=True, timeout=5.0, sleep=waits.append, **kwargs)


def test_payload_is_an_adaptive_card_message() -> None:
    ch = TeamsChannel(CONNECTOR)
    alert = AlertMessage(
        "Disk full", "/var at 97%", AlertLevel.CRITICAL, labels={"host": "db1"}, created_at=T0
    )
    payload = ch.build_payload(alert)
    [attachment] = payload["attachments"]
    assert payload["type"] == "message"
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    title, facts, labels, body = card["body"]
    [run] = title["inlines"]
    assert (run["text"], run["color"], run["weight"]) == ("Disk full", "attention", "Bolder")
    assert facts["facts"] == [
        {"title": "Level", "value": "CRITICAL"},
        {"title": "Time", "value": "2023-11-14T22:13:20.250Z"},
    ]
    assert labels["inlines"] == [
        {"type": "TextRun", "text": "host", "weight": "Bolder"},
        {"type": "TextRun", "text": ": db1"},
    ]
    assert body == {"type": "RichTextBlock", "inlines": [{"type": "TextRun", "text": "/var at 97%"}]}


def test_colour_follows_the_level_and_long_text_is_cut() -> None:
    ch = TeamsChannel(CONNECTOR)
    colours = [ch.build_card(AlertMessage("x", level=lv))["body"][0]["inlines"][0]["color"] for lv in AlertLevel]
    assert colours == ["accent", "good", "warning", "attention"]
    card = ch.build_card(AlertMessage("x", "\u00e9" * 30000))  # 2 bytes each: Teams counts bytes
    text = card["body"][2]["inlines"][0]["text"]
    assert 19990 <= len(text.encode("utf-8")) <= 20000 and "characters cut …]" in text
    assert len(ch.build_card(AlertMessage("x"))["body"]) == 2  # no body block for an empty body


@pytest.mark.parametrize("url", [CONNECTOR, WORKFLOW, POWER])
def test_teams_hosts_are_accepted(url: str) -> None:
    assert TeamsChannel(url).name == "teams"


@pytest.mark.parametrize(
    "url",
    [
        "http://contoso.webhook.office.com/webhookb2/x",  # not https
        "https://evil.example/webhookb2/x",
        "https://webhook.office.com.evil.example/webhookb2/x",
        "https://contoso.webhook.office.com/other/x",
    ],
)
def test_other_urls_need_allow_custom_url(url: str) -> None:
    with pytest.raises(AlertConfigurationError) as info:
        TeamsChannel(url)
    assert str(info.value) == (
        "webhook_url: must be a Teams webhook URL: https on *.webhook.office.com, *.logic.azure.com,"
        " *.environment.api.powerplatform.com with the service's path (for a compatible server, a relay"
        " or a test server: allow_custom_url: true in a config file, allow_custom_url=True in code)"
    )
    assert TeamsChannel(url, allow_custom_url=True).name == "teams"


def test_the_url_is_masked_everywhere() -> None:
    for url in (CONNECTOR, WORKFLOW):
        ch = TeamsChannel(url)
        shown = repr(ch) + ch.preview(AlertMessage("x")) + repr(vars(ch))
        assert "SECRETID" not in shown and "SECRETSIG" not in shown
    assert (
        repr(TeamsChannel(CONNECTOR))
        == "TeamsChannel(name='teams', url='https://contoso.webhook.office.com/***')"
    )


def test_connector_200_with_1_is_success(teams_server: TeamsServer) -> None:
    result = _channel(teams_server.connector_url, []).send(
        AlertMessage("Disk full", level=AlertLevel.WARNING)
    )
    assert (result.success, result.attempts) == (True, 1)
    [req] = teams_server.requests
    assert req.json["attachments"][0]["content"]["body"][0]["inlines"][0]["text"] == "Disk full"


def test_workflow_202_is_success(teams_server: TeamsServer) -> None:
    result = _channel(teams_server.workflow_url, []).send(AlertMessage("x"))
    assert (result.success, result.attempts) == (True, 1)
    assert teams_server.requests[0].query["sig"] == ["SECRETSIG"]


def test_connector_rate_limit_behind_200_is_retried(teams_server: TeamsServer) -> None:
    waits: List[float] = []
    teams_server.rate_limit(times=2)
    result = _channel(teams_server.connector_url, waits, max_retries=3).send(AlertMessage("x"))
    assert (result.success, result.attempts) == (True, 3)
    assert len(waits) == 2


def test_connector_rate_limit_that_does_not_end(teams_server: TeamsServer) -> None:
    teams_server.rate_limit(times=3)
    result = _channel(teams_server.connector_url, [], max_retries=1).send(AlertMessage("x"))
    assert (result.success, result.status, result.retryable) == (False, 429, True)
    assert result.error == (
        "Teams rate limited the request (HTTP 200 carrying HTTP error 429): Webhook message delivery failed"
        " with error: Microsoft Teams endpoint returned HTTP error 429 (gave up after 2 attempts)"
    )


def test_workflow_429_honours_retry_after(teams_server: TeamsServer) -> None:
    waits: List[float] = []
    teams_server.rate_limit(times=1, workflow=True, retry_after=7)
    result = _channel(teams_server.workflow_url, waits).send(AlertMessage("x"))
    assert (result.success, result.attempts) == (True, 2)
    assert waits == [7.0]


def test_connector_bad_request_behind_200_is_permanent(teams_server: TeamsServer) -> None:
    teams_server.fail(400)
    result = _channel(teams_server.connector_url, []).send(AlertMessage("x"))
    assert (result.success, result.status, result.retryable, result.attempts) == (False, 400, False, 1)
    assert result.error == (
        "Teams reported a failure (HTTP 200 carrying HTTP error 400): Webhook message delivery failed"
        " with error: Microsoft Teams endpoint returned HTTP error 400"
    )


def test_connector_server_error_behind_200_is_retried(teams_server: TeamsServer) -> None:
    teams_server.fail(503)
    result = _channel(teams_server.connector_url, []).send(AlertMessage("x"))
    assert (result.success, result.attempts) == (True, 2)


def test_workflow_400_is_permanent_with_its_message(teams_server: TeamsServer) -> None:
    class Broken(TeamsChannel):
        def build_card(self, alert: AlertMessage) -> Dict[str, Any]:
            return {"type": "AdaptiveCard", "body": []}

    ch = Broken(teams_server.workflow_url, allow_custom_url=True, max_retries=2, sleep=lambda s: None)
    result = ch.send(AlertMessage("x"))
    assert (result.success, result.status, result.attempts) == (False, 400, 1)
    assert result.error == "Teams rejected the request (HTTP 400 Bad Request): the Adaptive Card has no body"


def test_404_is_permanent(teams_server: TeamsServer) -> None:
    result = _channel(teams_server.url + "/nowhere?sig=SECRETSIG", []).send(AlertMessage("x"))
    assert (result.success, result.status) == (False, 404)
    assert result.error == "Teams rejected the request (HTTP 404 Not Found): Not Found"


def test_from_config(teams_server: TeamsServer) -> None:
    ch = TeamsChannel.from_config(
        {"type": "teams", "credentials": "hook", "allow_custom_url": True, "max_retries": 0},
        _Resolver({"hook": teams_server.connector_url}),
    )
    assert ch.send(AlertMessage("x")).success
    with pytest.raises(AlertConfigurationError) as info:
        TeamsChannel.from_config({"type": "teams"})
    assert str(info.value) == "credentials: teams: needs credentials: or webhook_url:"
    assert TeamsChannel.from_config({"webhook_url": CONNECTOR}).name == "teams"
    assert TeamsChannel.config_keys >= {"webhook_url", "allow_custom_url", "proxy"}


def test_close_keeps_the_channel_usable(teams_server: TeamsServer) -> None:
    ch = _channel(teams_server.connector_url, [])
    assert ch.send(AlertMessage("a")).success
    ch.close()
    assert ch.send(AlertMessage("b")).success


def test_no_url_secret_in_logs(teams_server: TeamsServer, caplog_all: pytest.LogCaptureFixture) -> None:
    teams_server.rate_limit(workflow=True, retry_after=0)
    assert _channel(teams_server.workflow_url, []).send(AlertMessage("x")).success
    assert caplog_all.records
    assert "SECRETSIG" not in caplog_all.text and "invoke" not in caplog_all.text


def _strings(node: Any, key: str = "") -> List[Tuple[str, str]]:
    """Every (key, string) pair in a JSON value."""
    if isinstance(node, dict):
        return [pair for k, v in node.items() for pair in _strings(v, k)]
    if isinstance(node, list):
        return [pair for item in node for pair in _strings(item, key)]
    return [(key, node)] if isinstance(node, str) else []


def test_markup_arrives_inert(teams_server: TeamsServer) -> None:
    """Alert text reaches Teams only in TextRuns, which render no markdown; the ANSI colour is gone."""
    alert = AlertMessage(INJECTION, INJECTION, labels={INJECTION: INJECTION})
    assert _channel(teams_server.workflow_url, []).send(alert).success
    [req] = teams_server.requests
    card = req.json["attachments"][0]["content"]
    runs = [run for block in card["body"] if block["type"] == "RichTextBlock" for run in block["inlines"]]
    assert all(run["type"] == "TextRun" for run in runs)
    assert {run["text"] for run in runs} == {INJECTION_CLEAN, ": " + INJECTION_CLEAN}
    # no markdown-rendering place (TextBlock text, Fact title or value) holds alert text
    markdown = [text for block in card["body"] if block["type"] != "RichTextBlock" for _, text in _strings(block)]
    assert not any("evil.example" in text or "**" in text for text in markdown)
    assert "\x1b" not in req.body.decode("utf-8") and "\\u001b" not in req.body.decode("utf-8")
