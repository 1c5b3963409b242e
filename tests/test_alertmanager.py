"""AlertmanagerChannel: payloads, checks, and delivery to real Alertmanager processes.

The server tests start Debian's ``prometheus-alertmanager`` on loopback
(fixtures in tests/servers/alertmanager.py) and read every alert back
through Alertmanager's own ``GET /api/v2/alerts``.
"""

import base64
import threading
import uuid
from typing import Any, Dict, List, Tuple

import pytest

from kstalerts import AlertLevel, AlertManager, AlertMessage, AlertResult, Outcome
from kstalerts.channels import AlertmanagerChannel
from kstalerts.channels.alertmanager import sanitize_label_name
from kstalerts.exceptions import AlertConfigurationError
from kstalerts.limits import MAX_ALERTMANAGER_URLS
from tests.servers.alertmanager import AM_PASSWORD, AM_USER, AlertmanagerProcess
from tests.servers.paging import DiscordServer, PagerDutyServer, ServiceServer, TeamsServer

T0 = 1700000000.25  # 2023-11-14T22:13:20.250Z


class _Resolver:
    """The credential resolver's interface: resolve(name) -> str."""

    def __init__(self, values: Dict[str, str]) -> None:
        self.values = values

    def resolve(self, name: str) -> str:
        return self.values[name]


def _unique() -> str:
    return f"kst-{uuid.uuid4().hex[:12]}"


def _channel(url: Any, **kwargs: Any) -> AlertmanagerChannel:
    kwargs.setdefault("max_retries", 0)
    kwargs.setdefault("timeout", 5.0)
    return AlertmanagerChannel(url, **kwargs)


# -- payload (pure) -------------------------------------------------------------
def test_payload_has_labels_annotations_times_and_generator_url() -> None:
    ch = AlertmanagerChannel(
        "http://am.example:9093",
        labels={"team": "storage", "env": "prod"},
        generator_url="https://runbooks.example/disk",
    )
    alert = AlertMessage(
        "Disk full", "/var is at 97%", AlertLevel.WARNING, labels={"host": "db1"}, created_at=T0
    )
    assert ch.build_payload(alert) == [
        {
            "labels": {
                "alertname": "Disk full",
                "severity": "warning",
                "team": "storage",
                "env": "prod",
                "host": "db1",
            },
            "annotations": {"summary": "Disk full", "description": "/var is at 97%"},
            "startsAt": "2023-11-14T22:13:20.250Z",
            "generatorURL": "https://runbooks.example/disk",
        }
    ]


def test_severity_follows_the_level_and_an_empty_body_has_no_description() -> None:
    ch = AlertmanagerChannel("http://am.example:9093")
    severities = [ch.build_labels(AlertMessage("x", level=level))["severity"] for level in AlertLevel]
    assert severities == ["info", "info", "warning", "critical"]
    assert ch.build_alert(AlertMessage("x"))["annotations"] == {"summary": "x"}


def test_per_alert_labels_are_sanitized_and_override_configured_ones() -> None:
    ch = AlertmanagerChannel("http://am.example:9093", labels={"team": "a", "severity": "page"})
    alert = AlertMessage(
        "t",
        level=AlertLevel.INFO,
        labels={"k8s.pod-name": "web-1", "2fa": "on", "team": "b", "gone": "", "-": "x"},
    )
    assert ch.build_labels(alert) == {
        "alertname": "t",
        "severity": "page",  # configured labels win over the derived ones
        "team": "b",  # per-alert labels win over configured ones
        "k8s_pod_name": "web-1",
        "_2fa": "on",
        "_": "x",
    }
    assert sanitize_label_name("ok_name9") == "ok_name9"
    assert sanitize_label_name("") == ""


def test_resolving_sets_ends_at_not_before_starts_at() -> None:
    ch = AlertmanagerChannel("http://am.example:9093", resolve=True)
    item = ch.build_payload(AlertMessage("x", created_at=T0))[0]
    assert item["startsAt"] == "2023-11-14T22:13:20.250Z"
    assert item["endsAt"] >= item["startsAt"]


def test_configured_label_names_are_checked() -> None:
    with pytest.raises(AlertConfigurationError) as info:
        AlertmanagerChannel("http://am.example:9093", labels={"bad-name": "x"})
    assert str(info.value) == (
        "labels: label name 'bad-name' is not valid for Alertmanager (it must match [a-zA-Z_][a-zA-Z0-9_]*)"
    )
    with pytest.raises(AlertConfigurationError, match=r"label 'n': the value must be a string, got 3"):
        AlertmanagerChannel("http://am.example:9093", labels={"n": 3})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://am:9093", "url: must be an http:// or https:// URL with a host"),
        ("http://user:pw@am:9093", "url: must not carry user info (user:password@)"),
        ("http://am:9093/?x=1", "url: must not carry a query or a fragment"),
        ("http://am:99999", "url: is not a valid URL"),
        (["http://am:9093", "http://AM:9093/"], "url: alertmanager URL given twice: http://am:9093"),
        ([], "url: alertmanager needs at least one URL"),
    ],
)
def test_bad_urls_are_rejected(url: Any, message: str) -> None:
    with pytest.raises(AlertConfigurationError) as info:
        AlertmanagerChannel(url)
    assert str(info.value) == message
    assert "pw" not in str(info.value)


def test_too_many_members_are_rejected() -> None:
    urls = [f"http://am{i}:9093" for i in range(MAX_ALERTMANAGER_URLS + 1)]
    with pytest.raises(
        AlertConfigurationError, match=f"17 URLs, more than the limit of {MAX_ALERTMANAGER_URLS}"
    ):
        AlertmanagerChannel(urls)


def test_urls_are_normalised_to_the_v2_endpoint_keeping_a_route_prefix() -> None:
    ch = AlertmanagerChannel(["http://am1:9093", "https://am2/prefix/", "http://am3:9093/api/v2/alerts"])
    assert ch.urls == (
        "http://am1:9093/api/v2/alerts",
        "https://am2/prefix/api/v2/alerts",
        "http://am3:9093/api/v2/alerts",
    )
    assert (
        repr(ch)
        == "AlertmanagerChannel(name='alertmanager', urls=[http://am1:9093, https://am2/prefix, http://am3:9093])"
    )


def test_credentials_never_show_and_cannot_be_combined() -> None:
    ch = AlertmanagerChannel("https://am:9093", bearer_token="tok-SECRET", labels={"a": "b"})
    shown = repr(ch) + ch.preview(AlertMessage("x")) + repr(ch.__dict__)
    assert "tok-SECRET" not in shown
    with pytest.raises(AlertConfigurationError) as info:
        AlertmanagerChannel("https://am:9093", bearer_token="t", basic_auth=("u", "p"))
    assert str(info.value) == "basic_auth: alertmanager: give bearer_token or basic_auth, not both"
    with pytest.raises(AlertConfigurationError, match='basic_auth must be "user:password"'):
        AlertmanagerChannel("https://am:9093", basic_auth="no-colon-SECRET")


def test_preview_shows_every_member_and_the_json() -> None:
    ch = AlertmanagerChannel(["http://am1:9093", "http://am2:9093"])
    text = ch.preview(AlertMessage("Disk full", created_at=T0))
    assert text.splitlines()[0] == "POST http://am1:9093/api/v2/alerts, http://am2:9093/api/v2/alerts"
    assert '"alertname": "Disk full"' in text


# -- from_config ----------------------------------------------------------------
def test_from_config_builds_a_cluster_channel_with_a_bearer_credential() -> None:
    ch = AlertmanagerChannel.from_config(
        {
            "type": "alertmanager",
            "name": "am",
            "urls": ["http://am1:9093", "http://am2:9093"],
            "labels": {"team": "ops"},
            "credentials": "am_token",
            "timeout": 7,
            "max_retries": 1,
        },
        _Resolver({"am_token": "tok-FROM-RESOLVER"}),
    )
    assert (ch.name, ch.urls, dict(ch.labels), ch.timeout, ch.max_retries) == (
        "am",
        ("http://am1:9093/api/v2/alerts", "http://am2:9093/api/v2/alerts"),
        {"team": "ops"},
        7.0,
        1,
    )
    assert "tok-FROM-RESOLVER" not in repr(ch.__dict__)


def test_from_config_errors_name_the_key() -> None:
    cases: List[Tuple[Dict[str, Any], str]] = [
        ({"url": "http://a:1", "urls": ["http://b:1"]}, "url: alertmanager: give exactly one of url or urls"),
        ({"urls": ["ftp://b"]}, "urls: must be an http:// or https:// URL with a host"),
        ({"url": 5}, "url: alertmanager: url must be a URL or a list of URLs"),
        (
            {"url": "http://a:1", "labels": ["x"]},
            "labels: alertmanager: labels must be a mapping of names to strings",
        ),
        (
            {"url": "http://a:1", "credentials": "t"},
            "credentials: alertmanager: 'credentials: t' needs a credential resolver",
        ),
        (
            {"url": "http://a:1", "basic_auth": "b"},
            "basic_auth: alertmanager: basic_auth needs a credential resolver",
        ),
        ({"url": "http://a:1", "username": "u"}, "username: alertmanager: username and password go together"),
        (
            {"url": "http://a:1", "resolve": "yes"},
            "resolve: alertmanager: resolve must be true or false, got 'yes'",
        ),
    ]
    for config, message in cases:
        with pytest.raises(AlertConfigurationError) as info:
            AlertmanagerChannel.from_config(config)
        assert str(info.value) == message


def test_config_keys_cover_what_from_config_reads() -> None:
    assert AlertmanagerChannel.config_keys >= {
        "url",
        "urls",
        "labels",
        "generator_url",
        "basic_auth",
        "resolve",
    }


# -- against a real Alertmanager -------------------------------------------------
def _read_back(am: AlertmanagerProcess, alertname: str) -> List[Dict[str, Any]]:
    return am.alerts(alertname=alertname)


def test_delivered_alert_reads_back_with_labels_annotations_and_severity(
    alertmanager: AlertmanagerProcess,
) -> None:
    name = _unique()
    ch = _channel(alertmanager.url, labels={"team": "storage"}, generator_url="https://runbooks.example/disk")
    alert = AlertMessage(name, "/var is at 97%", AlertLevel.CRITICAL, labels={"host.name": "db1"})
    result = ch.send(alert)
    assert (result.success, result.attempts, result.error) == (True, 1, None)
    [stored] = _read_back(alertmanager, name)
    assert stored["labels"] == {
        "alertname": name,
        "severity": "critical",
        "team": "storage",
        "host_name": "db1",
    }
    assert stored["annotations"] == {"summary": name, "description": "/var is at 97%"}
    assert stored["generatorURL"] == "https://runbooks.example/disk"
    assert stored["startsAt"] == ch.build_payload(alert)[0]["startsAt"]
    assert stored["status"]["state"] == "active"
    ch.close()


def test_each_level_reads_back_with_its_severity(alertmanager: AlertmanagerProcess) -> None:
    group = _unique()
    ch = _channel(alertmanager.url, labels={"group": group})
    for level in AlertLevel:
        assert ch.send(AlertMessage(f"{group}-{level.name}", level=level)).success
    stored = {a["labels"]["alertname"]: a["labels"]["severity"] for a in alertmanager.alerts(group=group)}
    assert stored == {
        f"{group}-INFO": "info",
        f"{group}-SUCCESS": "info",
        f"{group}-WARNING": "warning",
        f"{group}-CRITICAL": "critical",
    }


def test_resolve_ends_the_alert(alertmanager: AlertmanagerProcess) -> None:
    name = _unique()
    ch = _channel(alertmanager.url)
    alert = AlertMessage(name, level=AlertLevel.WARNING)
    assert ch.send(alert).success
    assert len(_read_back(alertmanager, name)) == 1
    assert ch.resolve(alert).success
    assert _read_back(alertmanager, name) == []  # resolved alerts leave the active list
    assert ch.resolving is False  # resolving used a twin; the channel still triggers


def test_alertmanager_rejection_is_permanent_with_its_text(alertmanager: AlertmanagerProcess) -> None:
    class BadLabels(AlertmanagerChannel):
        def build_labels(self, alert: AlertMessage) -> Dict[str, str]:
            return {"bad-name": "x"}

    ch = BadLabels(alertmanager.url, max_retries=3, timeout=5.0)
    result = ch.send(AlertMessage(_unique()))
    assert (result.success, result.attempts, result.retryable, result.status) == (False, 1, False, 400)
    assert result.error == (
        f"{alertmanager.url}: Alertmanager rejected the request (HTTP 400 Bad Request):"
        ' invalid label set: invalid name "bad-name"'
    )


def test_basic_auth_against_a_protected_alertmanager(
    alertmanager_basic_auth: AlertmanagerProcess, caplog_all: pytest.LogCaptureFixture
) -> None:
    am = alertmanager_basic_auth
    name = _unique()
    good = _channel(am.url, basic_auth=(AM_USER, AM_PASSWORD))
    assert good.send(AlertMessage(name, level=AlertLevel.WARNING)).success
    assert [a["labels"]["severity"] for a in _read_back(am, name)] == ["warning"]

    bad = _channel(am.url, basic_auth=f"{AM_USER}:wrong-SECRET")
    result = bad.send(AlertMessage(_unique()))
    assert (result.success, result.status, result.retryable) == (False, 401, False)
    assert result.error is not None and result.error.startswith(
        f"{am.url}: Alertmanager rejected the request (HTTP 401 Unauthorized)"
    )
    assert "wrong-SECRET" not in result.error

    anonymous = _channel(am.url)
    assert anonymous.send(AlertMessage(_unique())).status == 401
    assert caplog_all.records
    assert AM_PASSWORD not in caplog_all.text and "wrong-SECRET" not in caplog_all.text


def test_bearer_token_goes_in_the_authorization_header(recording_server: ServiceServer) -> None:
    ch = _channel(recording_server.url, bearer_token="tok-123")
    assert ch.send(AlertMessage("x")).success
    [req] = recording_server.requests
    assert (req.method, req.path) == ("POST", "/api/v2/alerts")
    assert req.headers["authorization"] == "Bearer tok-123"
    assert req.headers["content-type"] == "application/json"
    creds = base64.b64encode(b"u:p w").decode()
    _channel(recording_server.url, basic_auth=("u", "p w")).send(AlertMessage("y"))
    assert recording_server.requests[1].headers["authorization"] == f"Basic {creds}"


def test_cluster_every_member_gets_the_alert(alertmanager_cluster: List[AlertmanagerProcess]) -> None:
    first, second = alertmanager_cluster
    name = _unique()
    ch = _channel([first.url, second.url])
    result = ch.send(AlertMessage(name, "body", AlertLevel.CRITICAL))
    assert (result.success, result.error) == (True, None)
    for member in (first, second):
        [stored] = _read_back(member, name)
        assert stored["labels"]["severity"] == "critical"
    assert len(first.status()["cluster"]["peers"]) == 2  # they really are one cluster


def test_cluster_with_one_member_stopped_still_delivers(
    alertmanager_cluster: List[AlertmanagerProcess],
) -> None:
    first, second = alertmanager_cluster
    waits: List[float] = []
    ch = _channel([first.url, second.url], max_retries=2, sleep=waits.append)
    first.stop()
    name = _unique()
    result = ch.send(AlertMessage(name, "through the survivor", AlertLevel.WARNING))
    assert (result.success, result.attempts, result.outcome) == (True, 1, Outcome.PARTLY_DELIVERED)
    assert result.error is not None
    assert result.error.startswith(f"delivered to 1 of 2 Alertmanager members; failed: {first.url}: ")
    # the partial result travels in the attempt's value: another thread's send sees its own
    other: List[AlertResult] = []
    thread = threading.Thread(target=lambda: other.append(ch.send(AlertMessage(_unique()))))
    thread.start()
    thread.join(30)
    assert other[0].outcome is Outcome.PARTLY_DELIVERED and other[0].error is not None
    assert ch.resolve(AlertMessage(name)).outcome is Outcome.PARTLY_DELIVERED
    [stored] = _read_back(second, name)
    assert stored["annotations"] == {"summary": name, "description": "through the survivor"}

    second.stop()
    failed = ch.send(AlertMessage(_unique()))
    assert (failed.success, failed.retryable, failed.attempts) == (False, True, 1 + 2)
    assert failed.error is not None
    assert failed.error.startswith(f"no Alertmanager member accepted the alert: {first.url}: ")
    assert f"; {second.url}: " in failed.error
    assert failed.error.endswith("(gave up after 3 attempts)")
    assert len(waits) == 2  # backed off between the attempts


# -- edges ------------------------------------------------------------------------------
def test_a_payload_over_the_request_limit_is_a_permanent_failure(recording_server: ServiceServer) -> None:
    labels = {f"l{i}": "v" * 20000 for i in range(60)}
    result = _channel(recording_server.url).send(AlertMessage("x", labels=labels))
    assert (result.success, result.retryable, result.attempts) == (False, False, 1)
    assert result.error is not None and result.error.endswith(
        "bytes, more than the 1048576-byte request limit"
    )
    assert recording_server.requests == []


def test_a_redirect_is_not_followed(recording_server: ServiceServer) -> None:
    recording_server.force(302, b"", {"Location": "http://elsewhere/"})
    result = _channel(recording_server.url).send(AlertMessage("x"))
    assert (result.success, result.status) == (False, 302)
    assert (
        result.error
        == f"{recording_server.url}: Alertmanager answered with a redirect (HTTP 302 Found), not followed"
    )


def test_alertmanager_422_message_is_shown(alertmanager: AlertmanagerProcess) -> None:
    class BadGenerator(AlertmanagerChannel):
        def build_alert(self, alert: AlertMessage, *, resolved: bool = False) -> Dict[str, Any]:
            return {**super().build_alert(alert), "generatorURL": "not a url"}

    result = BadGenerator(alertmanager.url, max_retries=0).send(AlertMessage(_unique()))
    assert (result.success, result.status) == (False, 422)
    assert result.error == (
        f"{alertmanager.url}: Alertmanager rejected the request (HTTP 422 Unprocessable Entity):"
        ' 0.generatorURL in body must be of type uri: "not a url"'
    )


def test_from_config_basic_auth_by_credential_or_literal(recording_server: ServiceServer) -> None:
    by_name = AlertmanagerChannel.from_config(
        {"url": recording_server.url, "basic_auth": "am_basic"}, _Resolver({"am_basic": "ops:pa:ss"})
    )
    literal = AlertmanagerChannel.from_config(
        {"url": recording_server.url, "username": "ops", "password": "pa:ss"}
    )
    for ch in (by_name, literal):
        assert ch.send(AlertMessage("x")).success
        ch.close()
    expected = "Basic " + base64.b64encode(b"ops:pa:ss").decode()
    assert [r.headers["authorization"] for r in recording_server.requests] == [expected, expected]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"url": [5]}, "url: must be a URL"),
        ({"generator_url": "runbook"}, "generator_url: must be an http:// or https:// URL with a host"),
        ({"labels": {f"l{i}": "v" for i in range(65)}}, "labels: too many labels: 65 (the limit is 64)"),
        ({"bearer_token": "a\nb"}, "bearer_token: alertmanager: the bearer token must be a non-empty line"),
        (
            {"basic_auth": ("a:b", "c")},
            "basic_auth: alertmanager: basic_auth needs a user name (without ':') and a password",
        ),
    ],
)
def test_more_bad_settings(kwargs: Dict[str, Any], message: str) -> None:
    kwargs.setdefault("url", "http://am:9093")
    with pytest.raises(AlertConfigurationError) as info:
        AlertmanagerChannel(**kwargs)
    assert str(info.value) == message


def test_manager_from_config_fans_out_to_all_four_services(
    alertmanager: AlertmanagerProcess,
    pagerduty_server: PagerDutyServer,
    teams_server: TeamsServer,
    discord_server: DiscordServer,
) -> None:
    resolver = _Resolver(
        {
            "pd_key": PagerDutyServer.routing_key,
            "teams_hook": teams_server.workflow_url,
            "discord_hook": discord_server.webhook_url,
        }
    )
    config = {
        "alerts": {
            "channels": {
                "timeout": 5.0,
                "max_retries": 0,
                "am": {"type": "alertmanager", "url": alertmanager.url, "labels": {"via": "config"}},
                "pd": {
                    "type": "pagerduty",
                    "credentials": "pd_key",
                    "events_url": pagerduty_server.events_url,
                    "min_level": "critical",
                },
                "teams": {"type": "teams", "credentials": "teams_hook", "allow_custom_url": True},
                "discord": {"type": "discord", "credentials": "discord_hook", "allow_custom_url": True},
            }
        }
    }
    name = _unique()
    with AlertManager.from_config(config, credential_resolver=resolver) as manager:
        warning = manager.send(AlertMessage(name + "-w", level=AlertLevel.WARNING))
        critical = manager.send(AlertMessage(name, "details", level=AlertLevel.CRITICAL))
    assert sorted(r.channel for r in warning if r.success) == ["am", "discord", "teams"]
    assert sorted(r.channel for r in critical if r.success) == ["am", "discord", "pd", "teams"]
    [stored] = alertmanager.alerts(alertname=name)
    assert stored["labels"] == {"alertname": name, "severity": "critical", "via": "config"}
    assert list(pagerduty_server.incidents.values()) == ["triggered"]
    assert len(teams_server.requests) == 2 and len(discord_server.messages) == 2
