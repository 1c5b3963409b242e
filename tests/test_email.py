"""EmailChannel: the message as a real SMTP server receives it, and config."""

import socket
import subprocess
import sys
from typing import Any, Dict, List

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kstalerts import AlertConfigurationError, AlertLevel, AlertManager, AlertMessage, Outcome
from kstalerts.channels import EmailChannel
from kstalerts.limits import MAX_RECIPIENTS
from kstalerts.transports import ResendTransport, SMTPTransport
from tests.hostile import HOSTILE_TEXT, INJECTION, INJECTION_CLEAN
from tests.servers.smtp import USERS, ScriptedHandler

RECIPIENTS = ["oncall@example.com", "Ops Team <ops@example.com>", "dba@example.com"]


def make_channel(port: int, **options: Any) -> EmailChannel:
    transport = SMTPTransport("127.0.0.1", port, security="none")
    options.setdefault("recipients", RECIPIENTS)
    return EmailChannel(transport, sender="Alerts <alerts@example.com>", timeout=5, **options)


def test_subject_and_recipients_as_received(smtp_server: Any) -> None:
    server = smtp_server()
    alert = AlertMessage("Disk 🔥 full on db1", "/var is at 97% — ça déborde ✅", AlertLevel.CRITICAL)
    result = make_channel(server.port).send(alert)
    assert result.success and result.attempts == 1
    received = server.handler.parsed()
    assert received["Subject"] == "[ALERT] [CRITICAL] Disk 🔥 full on db1"
    assert received["From"] == "Alerts <alerts@example.com>"
    assert received["To"] == "oncall@example.com, Ops Team <ops@example.com>, dba@example.com"
    assert [a.addr_spec for a in received["To"].addresses] == [
        "oncall@example.com",
        "ops@example.com",
        "dba@example.com",
    ]
    assert server.handler.messages[0][1] == ["oncall@example.com", "ops@example.com", "dba@example.com"]
    assert result.message_id == received["Message-ID"]
    assert received["Auto-Submitted"] == "auto-generated"
    body = received.get_content().replace("\r\n", "\n")
    assert body.startswith(
        f"Level: CRITICAL\nTitle: Disk 🔥 full on db1\nHost: {socket.gethostname()}\nTime: "
    )
    assert "\n\n/var is at 97% — ça déborde ✅\n" in body


def test_title_cannot_inject_a_header(smtp_server: Any) -> None:
    server = smtp_server()
    alert = AlertMessage("Disk full\r\nBcc: evil@example.com", "x", AlertLevel.WARNING)
    assert make_channel(server.port).send(alert).success
    received = server.handler.parsed()
    assert received["Bcc"] is None
    assert received.get_all("Bcc") is None
    assert received["Subject"] == "[ALERT] [WARNING] Disk full Bcc: evil@example.com"
    assert "evil@example.com" not in server.handler.messages[0][1]
    assert sorted(received.keys()) == sorted(
        [
            "Subject",
            "From",
            "To",
            "Date",
            "Message-ID",
            "Auto-Submitted",
            "X-Alert-Level",
            "Content-Type",
            "Content-Transfer-Encoding",
            "MIME-Version",
        ]
    )


ENCODED_CRLF = "=?utf-8?q?x=0D=0ABcc:_evil@example.com?="


@pytest.mark.parametrize(
    "title, prefix",
    [
        (ENCODED_CRLF, "[ALERT]"),
        ("disk " + ENCODED_CRLF + " full", "[ALERT]"),
        ("=?utf-8?b?eA0KUmVwbHktVG86IGFAZXZpbC5vcmcNCg0KZm9yZ2VkIGJvZHk=?=", "[ALERT]"),
        ("plain", "=?utf-8?q?p=0D=0AReply-To:_x@evil.org?="),
    ],
)
def test_an_encoded_word_arrives_as_text(smtp_server: Any, title: str, prefix: str) -> None:
    """An RFC 2047 encoded CR LF in a title or prefix never becomes a header."""
    server = smtp_server()
    channel = make_channel(server.port, subject_prefix=prefix)
    result = channel.send(AlertMessage(title, "the real body", AlertLevel.CRITICAL))
    assert result.success, result.error
    received = server.handler.parsed()
    assert received["Subject"] == f"{prefix} [CRITICAL] {title}"
    assert received["Bcc"] is None and received["Reply-To"] is None
    assert "Level: CRITICAL" in received.get_content()
    assert server.handler.messages[0][1] == ["oncall@example.com", "ops@example.com", "dba@example.com"]
    assert len(received.keys()) == 10


def test_undecodable_text_is_delivered_with_replacements(smtp_server: Any) -> None:
    """Lone surrogates (``os.fsdecode`` of a non-UTF-8 name) reach the mail as U+FFFD."""
    server = smtp_server()
    alert = AlertMessage("file x\udcff.log", "body \udcc3\udca9 \ud800 end", AlertLevel.WARNING,
                         labels={"path": "/tmp/\udcff"})
    result = make_channel(server.port).send(alert)
    assert result.success, result.error
    received = server.handler.parsed()
    assert received["Subject"] == "[ALERT] [WARNING] file x\ufffd.log"
    body = received.get_content()
    assert "body \u00e9 \ufffd end" in body  # surrogate-escaped UTF-8 comes back whole
    assert "path: /tmp/\ufffd" in body


@pytest.mark.parametrize(
    "title, shown",
    [
        ("a\nBcc: e@x.org", "a Bcc: e@x.org"),
        ("a\rBcc: e@x.org", "a Bcc: e@x.org"),
        ("a\u2028Bcc: e@x.org", "a Bcc: e@x.org"),
        ("a\x00Bcc: e@x.org", "a\ufffdBcc: e@x.org"),  # AlertMessage made the NUL U+FFFD already
    ],
)
def test_control_characters_become_spaces(title: str, shown: str) -> None:
    channel = make_channel(25)
    assert channel.build_subject(AlertMessage(title)) == "[ALERT] [INFO] " + shown


def test_subject_prefix_and_timestamp() -> None:
    channel = make_channel(25, subject_prefix="[prod]")
    alert = AlertMessage("backup failed", timestamp=True, created_at=0.0)
    assert channel.build_subject(alert) == f"[prod] [INFO] {alert.formatted_title}"
    assert make_channel(25, subject_prefix="").build_subject(AlertMessage("x")) == "[INFO] x"


def test_a_success_alert_is_tagged_success() -> None:
    alert = AlertMessage("backup done", level=AlertLevel.SUCCESS)
    channel = make_channel(25)
    assert channel.build_subject(alert) == "[ALERT] [SUCCESS] backup done"
    assert channel.build_message(alert)["X-Alert-Level"] == "SUCCESS"


def test_body_keeps_lines_and_labels() -> None:
    alert = AlertMessage("t", "one\r\ntwo\x00three", labels={"host": "db1", "env": "prod"}, created_at=0.0)
    body = make_channel(25).build_body(alert)
    assert "\n\none\ntwo\ufffdthree\n\nLabels:\n  env: prod\n  host: db1\n" in body
    assert "Time: 1970-01-01 00:00:00 UTC" in body


def test_message_id_is_stable_per_alert() -> None:
    channel = make_channel(25)
    alert = AlertMessage("x")
    first, again = channel.build_message(alert), channel.build_message(alert)
    assert first["Message-ID"] == again["Message-ID"]
    assert first["Message-ID"].endswith("@example.com>")
    assert channel.build_message(AlertMessage("x"))["Message-ID"] != first["Message-ID"]


@pytest.mark.parametrize(
    ("address", "error"),
    [
        ("a@example.com\r\nBcc: evil@example.com", "must not contain control characters"),
        ("a@example.com\x00", "must not contain control characters"),
        ("a@example.com, b@example.com", "must be one email address"),
        ("team: a@example.com;", "must be one email address"),
        ("not-an-address", "must be one email address"),
        ('"a b"@example.com', "must be an address like name@example.com"),
        ("@example.com", "must be one email address"),
        ("", "must be an email address"),
    ],
)
def test_bad_addresses_are_refused(address: str, error: str) -> None:
    with pytest.raises(AlertConfigurationError) as caught:
        EmailChannel(SMTPTransport("mail.example.com"), sender=address, recipients="a@example.com")
    assert str(caught.value).startswith(f"sender: {error}")


def test_recipient_list_rules() -> None:
    transport = SMTPTransport("mail.example.com")
    many = [f"user{i}@example.com" for i in range(MAX_RECIPIENTS + 1)]
    with pytest.raises(AlertConfigurationError) as caught:
        EmailChannel(transport, sender="a@example.com", recipients=many)
    assert str(caught.value) == f"recipients: too many recipients: {MAX_RECIPIENTS + 1} (the limit is 50)"
    channel = EmailChannel(transport, sender="a@example.com", recipients=many[:MAX_RECIPIENTS])
    assert len(channel.recipients) == MAX_RECIPIENTS
    channel = EmailChannel(
        transport, sender="a@example.com", recipients="x@example.com, X@EXAMPLE.com,y@example.com"
    )
    assert [a.addr_spec for a in channel.recipients] == ["x@example.com", "y@example.com"]
    with pytest.raises(AlertConfigurationError) as caught:
        EmailChannel(transport, sender="a@example.com", recipients=[])
    assert str(caught.value) == "recipients: needs at least one address"
    with pytest.raises(AlertConfigurationError) as caught:
        EmailChannel(transport, sender="a@example.com", recipients=["ok@example.com", "bad\n@example.com"])
    assert str(caught.value).startswith("recipients: must not contain control characters")


def test_password_never_in_repr_preview_or_result(smtp_server: Any, smtp_ca: Any, caplog: Any) -> None:
    server = smtp_server(starttls=True, auth=True)
    password = USERS["alerts"]
    transport = SMTPTransport(
        "127.0.0.1", server.port, username="alerts", password="wrong-" + password, ssl_ca_bundle=smtp_ca[1]
    )
    channel = EmailChannel(transport, sender="alerts@example.com", recipients="a@example.com", max_retries=0)
    result = channel.send(AlertMessage("x"))
    assert not result.success
    for text in (repr(channel), channel.preview(AlertMessage("x")), str(result), caplog.text):
        assert password not in text
    assert repr(channel) == (
        f"EmailChannel(name='email', transport=SMTPTransport(host='127.0.0.1', port={server.port},"
        " security='starttls', username='alerts', password=***), sender='alerts@example.com', recipients=1)"
    )


def test_through_the_manager(smtp_server: Any) -> None:
    server = smtp_server()
    with AlertManager() as manager:
        manager.add_channel(make_channel(server.port), min_level=AlertLevel.WARNING)
        results = manager.send([AlertMessage("low"), AlertMessage("high", level=AlertLevel.CRITICAL)])
    assert [r.success for r in results] == [True]
    assert server.handler.parsed()["Subject"] == "[ALERT] [CRITICAL] high"


def test_a_partly_delivered_email_keeps_its_message_id(smtp_server: Any) -> None:
    handler = ScriptedHandler()
    handler.refuse["ops@example.com"] = "550 5.1.1 <ops@example.com>: Recipient address rejected"
    server = smtp_server(handler=handler)
    channel = make_channel(server.port, max_retries=3)
    alert = AlertMessage("disk full", level=AlertLevel.CRITICAL)
    result = channel.send(alert)
    assert result.outcome is Outcome.PARTLY_DELIVERED
    assert (result.success, result.attempts, result.retryable, result.status) == (True, 1, False, 550)
    assert result.message_id == channel.message_id(alert)
    assert result.error == (
        "1 of 3 recipients refused, the others got the alert:"
        " ops@example.com: 550 5.1.1 <ops@example.com>: Recipient address rejected"
    )
    assert [m[1] for m in handler.messages] == [["oncall@example.com", "dba@example.com"]]  # never twice
    received = handler.messages[0][2].decode()
    assert f"Message-ID: {result.message_id}" in received
    with AlertManager() as manager:
        manager.add_channel(make_channel(server.port, max_retries=3))
        (through,) = manager.send(alert)
        stats = manager.stats
    assert (through.success, through.message_id, through.spooled) == (True, result.message_id, False)
    assert stats.total_sent == 1 and stats.total_failed == 0


# -- from_config ----------------------------------------------------------------
class Resolver:
    def __init__(self, values: Dict[str, str]) -> None:
        self.values = values
        self.asked: List[str] = []

    def resolve(self, name: str) -> str:
        self.asked.append(name)
        return self.values[name]


def test_from_config_smtp_with_credentials(smtp_server: Any, smtp_ca: Any) -> None:
    server = smtp_server(starttls=True, auth=True)
    resolver = Resolver({"smtp_password": USERS["alerts"]})
    channel = EmailChannel.from_config(
        {
            "type": "email",
            "name": "mail",
            "host": "127.0.0.1",
            "port": server.port,
            "username": "alerts",
            "credentials": "smtp_password",
            "ssl_ca_bundle": smtp_ca[1],
            "sender": "alerts@example.com",
            "recipients": ["a@example.com"],
            "subject_prefix": "[prod]",
            "timeout": 5,
            "max_retries": 0,
        },
        resolver,
    )
    assert (channel.name, channel.timeout, channel.max_retries) == ("mail", 5.0, 0)
    assert channel.send(AlertMessage("x")).success
    assert resolver.asked == ["smtp_password"]
    assert server.handler.parsed()["Subject"] == "[prod] [INFO] x"


def test_from_config_resend(resend_server: Any) -> None:
    server = resend_server()
    channel = EmailChannel.from_config(
        {
            "transport": "resend",
            "api_key": "re_literal_key",
            "base_url": server.url,
            "sender": "alerts@example.com",
            "recipients": "a@example.com",
        }
    )
    assert isinstance(channel.transport, ResendTransport)
    result = channel.send(AlertMessage("x"))
    assert result.success and result.message_id == server.ids[0]
    assert server.requests[0]["json"]["headers"] == {"X-Alert-Level": "INFO"}


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({"transport": "mailgun"}, "transport: must be 'smtp' or 'resend', got 'mailgun'"),
        ({}, "host: is required for the smtp transport"),
        ({"host": "m.example.com", "api_key": "k"}, "api_key: is not a setting of the smtp transport"),
        ({"transport": "resend", "host": "m.example.com"}, "host: is not a setting of the resend transport"),
        ({"transport": "resend"}, "api_key: is required for the resend transport"),
        (
            {"host": "m.example.com", "credentials": "pw"},
            "credentials: email: 'credentials: pw' needs a credential resolver",
        ),
        (
            {"host": "m.example.com", "username": "u", "password": "p", "credentials": "pw"},
            "password: email: give either credentials or password, not both",
        ),
        ({"host": "m.example.com", "recipients": ["a@example.com"]}, "sender: is required"),
        ({"host": "m.example.com", "sender": "a@example.com"}, "recipients: is required"),
    ],
)
def test_from_config_errors(config: Dict[str, Any], error: str) -> None:
    with pytest.raises(AlertConfigurationError) as caught:
        EmailChannel.from_config(config)
    assert str(caught.value) == error


def test_from_config_reads_kstlibs_nested_transport(smtp_server: Any, smtp_ca: Any) -> None:
    server = smtp_server(starttls=True, auth=True)
    channel = EmailChannel.from_config(
        {
            "type": "email",
            "transport": {
                "type": "smtp",
                "host": "127.0.0.1",
                "port": server.port,
                "username": "alerts",
                "password": USERS["alerts"],
                "use_tls": True,
                "ssl_ca_bundle": smtp_ca[1],
            },
            "sender": "alerts@example.com",
            "recipients": ["oncall@example.com"],
            "timeout": 5,
            "max_retries": 0,
        }
    )
    assert isinstance(channel.transport, SMTPTransport) and channel.transport.security == "starttls"
    assert channel.send(AlertMessage("job done", level=AlertLevel.SUCCESS)).success
    assert server.handler.parsed()["Subject"] == "[ALERT] [SUCCESS] job done"
    resend = EmailChannel.from_config(
        {
            "transport": {"type": "resend", "credentials": "resend_api_key"},
            "sender": "alerts@example.com",
            "recipients": ["oncall@example.com"],
        },
        Resolver({"resend_api_key": "re_123456"}),
    )
    assert isinstance(resend.transport, ResendTransport)


@pytest.mark.parametrize(
    ("transport", "error"),
    [
        ({"type": "ses", "region": "eu-west-3"}, "transport.region: unknown key; expected one of: "),
        ({"type": "smtp", "host": "m.example.com", "use_tls": "yes"}, "transport.use_tls: must be true or false"),
        ({"type": "gmail"}, "transport: must be 'smtp' or 'resend', got 'gmail'"),
    ],
)
def test_kstlib_nested_transport_errors(transport: Dict[str, Any], error: str) -> None:
    config = {"transport": transport, "sender": "a@example.com", "recipients": ["b@example.com"]}
    with pytest.raises(AlertConfigurationError) as caught:
        EmailChannel.from_config(config)
    assert str(caught.value).startswith(error)
    with pytest.raises(AlertConfigurationError, match="host: set both here and in 'transport:'"):
        EmailChannel.from_config({**config, "transport": {"host": "a.example.com"}, "host": "b.example.com"})


def test_config_keys_cover_from_config() -> None:
    assert {"transport", "sender", "recipients", "host", "api_key", "security"} <= EmailChannel.config_keys
    assert "credentials" not in EmailChannel.config_keys  # a common key, handled by the wiring


def test_importing_the_channel_loads_no_network_modules() -> None:
    code = (
        "import sys, kstalerts; from kstalerts.channels import EmailChannel;"
        " from kstalerts.transports import SMTPTransport;"
        " print(sorted(m for m in ('smtplib', 'ssl', 'http.client') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=True)
    assert out.stdout.strip() == "[]"


def test_manager_from_config(smtp_server: Any) -> None:
    server = smtp_server()
    config = {
        "alerts": {
            "channels": {
                "timeout": 5,
                "max_retries": 0,
                "mail": {
                    "type": "email",
                    "host": "127.0.0.1",
                    "port": server.port,
                    "security": "none",
                    "sender": "alerts@example.com",
                    "recipients": ["a@example.com", "b@example.com"],
                    "min_level": "warning",
                },
            }
        }
    }
    with AlertManager.from_config(config) as manager:
        results = manager.send(AlertMessage("db down", level=AlertLevel.CRITICAL))
    assert [(r.channel, r.success) for r in results] == [("mail", True)]
    assert server.handler.messages[0][1] == ["a@example.com", "b@example.com"]


# -- property: hostile text never becomes mail structure -------------------------------
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(title=HOSTILE_TEXT, body=HOSTILE_TEXT, labels=st.dictionaries(HOSTILE_TEXT, HOSTILE_TEXT, max_size=3))
def test_hostile_text_arrives_once_with_exactly_the_expected_headers(
    smtp_server: Any, title: str, body: str, labels: Dict[str, str]
) -> None:
    server = getattr(smtp_server, "shared", None)  # one server for every example of this test
    if server is None:
        server = smtp_server.shared = smtp_server()
    channel = make_channel(server.port, subject_prefix="[=?utf-8?q?x=0D=0ACc:_a@evil.example?=]")
    before = len(server.handler.messages)
    try:
        result = channel.send(AlertMessage("t" + title, body, AlertLevel.CRITICAL, labels=labels))
    finally:
        channel.close()
    assert result.success, result.error
    assert len(server.handler.messages) == before + 1
    _, rcpt, _ = server.handler.messages[-1]
    assert rcpt == ["oncall@example.com", "ops@example.com", "dba@example.com"]
    received = server.handler.parsed()
    names = sorted(k.lower() for k in received.keys())
    assert names == sorted(
        [
            "subject",
            "from",
            "to",
            "date",
            "message-id",
            "auto-submitted",
            "x-alert-level",
            "mime-version",
            "content-type",
            "content-transfer-encoding",
        ]
    )
    subject = str(received["Subject"])
    assert "\r" not in subject and "\n" not in subject
    assert subject.startswith("[=?utf-8?q?x=0D=0ACc:_a@evil.example?=] [CRITICAL] t")


def test_an_async_transport_is_refused_when_the_channel_is_built() -> None:
    from kstalerts.channels import EmailChannel as _EmailChannel
    from kstalerts.exceptions import AlertConfigurationError as _ConfigError

    class AsyncTransport:
        async def send(self, message: object, *, timeout: float) -> str:
            return "<never-awaited@example.com>"

    with pytest.raises(_ConfigError) as info:
        _EmailChannel(AsyncTransport(), sender="a@example.com", recipients=["b@example.com"])  # type: ignore[arg-type]
    assert "AsyncTransport.send is a coroutine function (async def)" in str(info.value)
    assert "nothing would be sent" in str(info.value)


def test_markup_arrives_as_plain_text(smtp_server: Any) -> None:
    """Email is text/plain: the text as written, the ANSI colour gone from subject, body and labels."""
    server = smtp_server()
    alert = AlertMessage(INJECTION, INJECTION + "\nline 2", AlertLevel.WARNING, labels={"by": INJECTION})
    assert make_channel(server.port).send(alert).success
    received = server.handler.parsed()
    assert received.get_content_type() == "text/plain"
    assert received["Subject"] == f"[ALERT] [WARNING] {INJECTION_CLEAN}"
    body = received.get_content().replace("\r\n", "\n")
    assert f"\n{INJECTION_CLEAN}\nline 2\n" in body and f"by: {INJECTION_CLEAN}" in body
    assert "\x1b" not in body
