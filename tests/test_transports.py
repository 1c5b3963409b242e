"""SMTPTransport and ResendTransport against real loopback servers."""

import base64
import logging
import smtplib
import sys
import threading
import time
from email.message import EmailMessage
from typing import Any, List

import pytest

from kstalerts import AlertConfigurationError, AlertDeliveryError, AlertLevel, AlertMessage, Outcome
from kstalerts.channels import EmailChannel
from kstalerts.limits import MAX_IDLE_CONNECTIONS
from kstalerts.transports import PartialDeliveryError, ResendTransport, SMTPTransport
from kstalerts.transports.resend import idempotency_key
from tests.servers.resend import rate_limited, reply, server_error, validation_error
from tests.servers.smtp import USERS, ScriptedHandler, wait_for

PASSWORD = USERS["alerts"]
SECRET_FORMS = (
    PASSWORD,
    base64.b64encode(PASSWORD.encode()).decode(),
    base64.b64encode(f"\0alerts\0{PASSWORD}".encode()).decode(),
)


def make_message(*recipients: str, subject: str = "[ALERT] [WARNING] disk") -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = "Alerts <alerts@example.com>"
    message["To"] = ", ".join(recipients or ("oncall@example.com",))
    message["Message-ID"] = "<abc123@example.com>"
    message.set_content("the disk is full\n")
    return message


def channel(transport: Any, sleeps: List[float], **options: Any) -> EmailChannel:
    return EmailChannel(
        transport,
        sender="alerts@example.com",
        recipients=["a@example.com", "b@example.com", "c@example.com"],
        sleep=sleeps.append,
        timeout=5,
        **options,
    )


# -- SMTP: the happy paths --------------------------------------------------
def test_plain_delivery(smtp_server: Any) -> None:
    server = smtp_server()
    transport = SMTPTransport("127.0.0.1", server.port, security="none")
    message_id = transport.send(make_message("a@example.com", "b@example.com"), timeout=5)
    assert message_id == "<abc123@example.com>"
    mail_from, rcpt, _ = server.handler.messages[0]
    assert (mail_from, rcpt) == ("alerts@example.com", ["a@example.com", "b@example.com"])
    assert server.handler.parsed()["Subject"] == "[ALERT] [WARNING] disk"
    assert server.handler.tls == [False]


def test_starttls_with_test_ca(smtp_server: Any, smtp_ca: Any) -> None:
    server = smtp_server(starttls=True, auth=True)
    transport = SMTPTransport(
        "127.0.0.1", server.port, username="alerts", password=PASSWORD, ssl_ca_bundle=smtp_ca[1]
    )
    assert transport.send(make_message(), timeout=5) == "<abc123@example.com>"
    assert server.handler.tls == [True]
    assert server.handler.logins == [("PLAIN", "alerts")]


def test_ssl_on_connect(smtp_server: Any, smtp_ca: Any) -> None:
    server = smtp_server(implicit_tls=True, auth=True)
    transport = SMTPTransport(
        "localhost",
        server.port,
        security="ssl",
        username="alerts",
        password=PASSWORD,
        ssl_ca_bundle=smtp_ca[1],
    )
    transport.send(make_message(), timeout=5)
    assert len(server.handler.messages) == 1
    assert server.handler.logins == [("PLAIN", "alerts")]


@pytest.mark.parametrize("mechanism", ["LOGIN", "PLAIN"])
def test_auth_mechanisms(smtp_server: Any, smtp_ca: Any, mechanism: str) -> None:
    server = smtp_server(starttls=True, auth=True, mechanisms=(mechanism,))
    transport = SMTPTransport(
        "127.0.0.1", server.port, username="alerts", password=PASSWORD, ssl_ca_bundle=smtp_ca[1]
    )
    transport.send(make_message(), timeout=5)
    assert server.handler.logins == [(mechanism, "alerts")]
    assert len(server.handler.messages) == 1


def test_default_ports() -> None:
    assert [SMTPTransport("mail.example.com", security=s).port for s in ("starttls", "ssl", "none")] == [
        587,
        465,
        25,
    ]


# -- SMTP: refusing to be unsafe ---------------------------------------------
def test_no_starttls_offered_sends_nothing(smtp_server: Any, smtp_ca: Any) -> None:
    server = smtp_server(auth=True, auth_require_tls=False)  # would even take AUTH in clear
    transport = SMTPTransport(
        "127.0.0.1", server.port, username="alerts", password=PASSWORD, ssl_ca_bundle=smtp_ca[1]
    )
    with pytest.raises(AlertDeliveryError) as caught:
        transport.send(make_message(), timeout=5)
    assert str(caught.value) == (
        f"127.0.0.1:{server.port} does not offer STARTTLS; nothing was sent"
        " (security 'starttls' never falls back to clear text; for a local test server without TLS,"
        " set security: none)"
    )
    assert caught.value.retryable is False
    handler = server.handler
    assert (handler.logins, handler.mail_from, handler.rcpt, handler.data_commands) == ([], [], [], 0)


def test_untrusted_certificate_is_refused(smtp_server: Any) -> None:
    server = smtp_server(starttls=True)
    transport = SMTPTransport("127.0.0.1", server.port)  # the system CAs do not know the test CA
    with pytest.raises(AlertDeliveryError) as caught:
        transport.send(make_message(), timeout=5)
    assert str(caught.value).startswith(f"127.0.0.1:{server.port}: TLS certificate verification failed:")
    assert caught.value.retryable is False
    assert server.handler.mail_from == []


def test_certificate_for_another_host_is_refused(smtp_server: Any, smtp_ca: Any) -> None:
    server = smtp_server(starttls=True, cert_names=("mail.example.org",))
    transport = SMTPTransport("127.0.0.1", server.port, ssl_ca_bundle=smtp_ca[1])
    with pytest.raises(AlertDeliveryError) as caught:
        transport.send(make_message(), timeout=5)
    # Python 3.6 checks the name itself, after the handshake, with its own words.
    reason = "IP address mismatch" if sys.version_info >= (3, 7) else "hostname '127.0.0.1' doesn't match"
    assert f"TLS certificate verification failed: {reason}" in str(caught.value)
    assert server.handler.mail_from == []


def test_ssl_verify_off_accepts_any_certificate(smtp_server: Any, caplog: Any) -> None:
    server = smtp_server(starttls=True)
    transport = SMTPTransport("127.0.0.1", server.port, ssl_verify=False)
    assert f"TLS certificate verification is off for smtp://127.0.0.1:{server.port} (starttls)" in caplog.text
    transport.send(make_message(), timeout=5)
    assert server.handler.tls == [True]


def test_plaintext_auth_needs_explicit_consent(smtp_server: Any) -> None:
    with pytest.raises(AlertConfigurationError) as caught:
        SMTPTransport("127.0.0.1", 25, security="none", username="alerts", password=PASSWORD)
    assert str(caught.value) == (
        "security: security 'none' would send the password in clear text;"
        " use 'starttls' or 'ssl', or set allow_plaintext_auth"
    )
    server = smtp_server(auth=True, auth_require_tls=False)
    transport = SMTPTransport(
        "127.0.0.1",
        server.port,
        security="none",
        username="alerts",
        password=PASSWORD,
        allow_plaintext_auth=True,
    )
    transport.send(make_message(), timeout=5)
    assert server.handler.logins == [("PLAIN", "alerts")]


def test_wrong_password_is_permanent_and_not_echoed(smtp_server: Any, smtp_ca: Any) -> None:
    server = smtp_server(starttls=True, auth=True)
    transport = SMTPTransport(
        "127.0.0.1", server.port, username="alerts", password="wrong-Pa55", ssl_ca_bundle=smtp_ca[1]
    )
    with pytest.raises(AlertDeliveryError) as caught:
        transport.send(make_message(), timeout=5)
    assert str(caught.value) == (
        f"127.0.0.1:{server.port} refused the login: 535 5.7.8 Authentication credentials invalid"
    )
    assert (caught.value.retryable, caught.value.status) == (False, 535)
    assert server.handler.mail_from == []


def test_server_echoing_credentials_is_masked(smtp_server: Any, smtp_ca: Any) -> None:
    """A server that repeats the AUTH line in its error cannot leak it."""
    server = smtp_server(starttls=True, auth=True, mechanisms=("PLAIN",))
    blob = base64.b64encode(b"\0alerts\0wrong-Pa55").decode()

    async def handle_AUTH(server_: Any, session: Any, envelope: Any, args: List[str]) -> str:
        return f"535 5.7.8 bad credentials {args[-1]} (wrong-Pa55)"

    server.handler.handle_AUTH = handle_AUTH  # bound per connection
    transport = SMTPTransport(
        "127.0.0.1", server.port, username="alerts", password="wrong-Pa55", ssl_ca_bundle=smtp_ca[1]
    )
    with pytest.raises(AlertDeliveryError) as caught:
        transport.send(make_message(), timeout=5)
    text = str(caught.value)
    assert text.endswith("refused the login: 535 5.7.8 bad credentials *** (***)")
    assert blob not in text and "wrong-Pa55" not in text


def test_trace_never_shows_the_password(
    smtp_server: Any, smtp_ca: Any, caplog: Any, capsys: Any, monkeypatch: Any
) -> None:
    """Even with smtplib's own debug output forced on, AUTH LOGIN's base64
    lines stay out of stderr and of the DEBUG trace."""
    caplog.set_level(logging.DEBUG, logger="kstalerts")
    monkeypatch.setattr(smtplib.SMTP, "debuglevel", 2)
    server = smtp_server(starttls=True, auth=True, mechanisms=("LOGIN",))
    transport = SMTPTransport(
        "127.0.0.1", server.port, username="alerts", password=PASSWORD, ssl_ca_bundle=smtp_ca[1]
    )
    transport.send(make_message(), timeout=5)
    assert server.handler.logins == [("LOGIN", "alerts")]
    seen = caplog.text + capsys.readouterr().err
    assert "send: AUTH LOGIN [credentials hidden]" in seen
    assert "send: [credentials hidden]" in seen
    assert "send: [message, " in seen
    for secret in SECRET_FORMS:
        assert secret not in seen
    assert PASSWORD not in repr(transport)
    assert repr(transport) == (
        f"SMTPTransport(host='127.0.0.1', port={server.port}, security='starttls',"
        " username='alerts', password=***)"
    )


# -- SMTP: reply codes and the retry loop -----------------------------------
@pytest.mark.parametrize(
    ("where", "reply_text"),
    [("mail", "421 4.3.2 Service not available, closing channel"), ("data", "451 4.3.0 Try again later")],
)
def test_temporary_failure_is_retried(smtp_server: Any, where: str, reply_text: str) -> None:
    handler = ScriptedHandler()
    getattr(handler, f"{where}_replies").append(reply_text)
    server = smtp_server(handler=handler)
    sleeps: List[float] = []
    result = channel(SMTPTransport("127.0.0.1", server.port, security="none"), sleeps).send(
        AlertMessage("disk full", level=AlertLevel.WARNING)
    )
    assert (result.success, result.attempts, len(sleeps)) == (True, 2, 1)
    assert len(handler.messages) == 1


def test_permanent_failure_is_not_retried(smtp_server: Any) -> None:
    handler = ScriptedHandler()
    handler.data_replies.append("550 5.7.1 Message rejected as spam")
    server = smtp_server(handler=handler)
    sleeps: List[float] = []
    result = channel(SMTPTransport("127.0.0.1", server.port, security="none"), sleeps).send(AlertMessage("x"))
    assert (result.success, result.attempts, result.status, result.retryable) == (False, 1, 550, False)
    assert result.error == f"127.0.0.1:{server.port} answered: 550 5.7.1 Message rejected as spam"
    assert sleeps == [] and handler.data_commands == 1


def test_one_recipient_refused_of_three(smtp_server: Any) -> None:
    handler = ScriptedHandler()
    handler.refuse["b@example.com"] = "550 5.1.1 <b@example.com>: Recipient address rejected"
    server = smtp_server(handler=handler)
    transport = SMTPTransport("127.0.0.1", server.port, security="none")
    with pytest.raises(PartialDeliveryError) as caught:
        transport.send(make_message("a@example.com", "b@example.com", "c@example.com"), timeout=5)
    assert caught.value.refused == {
        "b@example.com": (550, "5.1.1 <b@example.com>: Recipient address rejected")
    }
    assert caught.value.delivered == ("a@example.com", "c@example.com")
    assert caught.value.message_id == "<abc123@example.com>"
    assert handler.messages[0][1] == ["a@example.com", "c@example.com"]
    sleeps: List[float] = []
    result = channel(transport, sleeps).send(AlertMessage("x"))
    assert (result.success, result.attempts, result.retryable, result.status) == (True, 1, False, 550)
    assert result.outcome is Outcome.PARTLY_DELIVERED and result.message_id is not None
    assert result.error == (
        "1 of 3 recipients refused, the others got the alert:"
        " b@example.com: 550 5.1.1 <b@example.com>: Recipient address rejected"
    )
    assert [m[1] for m in handler.messages] == [["a@example.com", "c@example.com"]] * 2


def test_every_recipient_refused_temporarily_is_retryable(smtp_server: Any) -> None:
    handler = ScriptedHandler()
    handler.refuse["a@example.com"] = "450 4.2.1 Mailbox busy"
    server = smtp_server(handler=handler)
    with pytest.raises(AlertDeliveryError) as caught:
        SMTPTransport("127.0.0.1", server.port, security="none").send(
            make_message("a@example.com"), timeout=5
        )
    assert (
        str(caught.value)
        == f"127.0.0.1:{server.port} refused every recipient: a@example.com: 450 4.2.1 Mailbox busy"
    )
    assert (caught.value.retryable, caught.value.status) == (True, 450)


def test_connection_refused_is_retryable() -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(AlertDeliveryError) as caught:
        SMTPTransport("127.0.0.1", port, security="none").send(make_message(), timeout=2)
    assert str(caught.value) == f"127.0.0.1:{port} refused the connection"
    assert caught.value.retryable is True


def test_trickling_server_cannot_stretch_the_deadline(script_server: Any) -> None:
    server = script_server([b"220-" + b"x" * 200 + b"\r\n"], interval=0.05)
    started = time.monotonic()
    with pytest.raises(AlertDeliveryError) as caught:
        SMTPTransport("127.0.0.1", server.port, security="none").send(make_message(), timeout=1.0)
    elapsed = time.monotonic() - started
    assert str(caught.value) == f"127.0.0.1:{server.port} did not answer within 1s"
    assert caught.value.retryable is True
    assert elapsed < 2.0


def test_bad_greeting_is_reported(script_server: Any) -> None:
    server = script_server([b"554 5.3.2 go away\r\n"])
    with pytest.raises(AlertDeliveryError) as caught:
        SMTPTransport("127.0.0.1", server.port, security="none").send(make_message(), timeout=2)
    assert str(caught.value) == f"127.0.0.1:{server.port} answered: 554 5.3.2 go away"
    assert caught.value.retryable is False


GREETING = b"220 mx.test ESMTP\r\n"
EHLO_TLS = b"250-mx.test\r\n250 STARTTLS\r\n"


def test_stalled_tls_handshake_keeps_the_deadline(script_server: Any, smtp_ca: Any) -> None:
    server = script_server([GREETING, EHLO_TLS, b"220 go ahead\r\n"], hold=True)
    started = time.monotonic()
    with pytest.raises(AlertDeliveryError) as caught:
        SMTPTransport("127.0.0.1", server.port, ssl_ca_bundle=smtp_ca[1]).send(make_message(), timeout=1.0)
    assert str(caught.value) == f"127.0.0.1:{server.port} did not answer within 1s"
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize(
    ("replies", "error", "retryable", "status"),
    [
        (
            [GREETING, EHLO_TLS, b"454 4.7.0 TLS not available\r\n"],
            "answered: 454 4.7.0 TLS not available",
            True,
            454,
        ),
        ([GREETING, EHLO_TLS], "closed the connection", True, None),
        ([b"hello there\r\n"], "sent a malformed reply: hello there", True, None),
        ([b"220" + b"x" * 9000], "sent a malformed reply: reply line too long", True, None),
        (
            [(b"220-" + b"x" * 1000 + b"\r\n") * 70],
            "sent a malformed reply: reply longer than 65536 bytes",
            True,
            None,
        ),
    ],
)
def test_protocol_failures(
    script_server: Any, smtp_ca: Any, replies: Any, error: str, retryable: bool, status: Any
) -> None:
    server = script_server(replies)
    with pytest.raises(AlertDeliveryError) as caught:
        SMTPTransport("127.0.0.1", server.port, ssl_ca_bundle=smtp_ca[1]).send(make_message(), timeout=2)
    assert str(caught.value) == f"127.0.0.1:{server.port} {error}"
    assert (caught.value.retryable, caught.value.status) == (retryable, status)


def test_no_auth_offered_is_permanent(script_server: Any) -> None:
    server = script_server([GREETING, b"250 mx.test\r\n"], hold=True)
    transport = SMTPTransport(
        "127.0.0.1",
        server.port,
        security="none",
        username="alerts",
        password=PASSWORD,
        allow_plaintext_auth=True,
    )
    with pytest.raises(AlertDeliveryError) as caught:
        transport.send(make_message(), timeout=2)
    assert str(caught.value) == f"127.0.0.1:{server.port}: SMTP AUTH extension not supported by server."
    assert caught.value.retryable is False
    assert server.received == [b"ehlo " + server.received[0][5:]]  # nothing after EHLO


def test_message_without_recipients_is_refused() -> None:
    message = EmailMessage()
    message["From"] = "a@example.com"
    with pytest.raises(AlertDeliveryError) as caught:
        SMTPTransport("mail.example.com").send(message, timeout=1)
    assert str(caught.value) == "the message has no sender or no recipients"


def test_unknown_host_is_retryable() -> None:
    with pytest.raises(AlertDeliveryError) as caught:
        SMTPTransport("no-such-host.invalid", security="none").send(make_message(), timeout=2)
    assert str(caught.value).startswith("cannot resolve no-such-host.invalid: ")
    assert caught.value.retryable is True


def test_smtp_ca_bundle_must_be_pem(tmp_path: Any) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate")
    with pytest.raises(AlertConfigurationError) as caught:
        SMTPTransport("mail.example.com", ssl_ca_bundle=str(bogus))
    assert str(caught.value) == "ssl_ca_bundle: is not a PEM file of CA certificates"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"host": "a b"}, "host: must be a host name or address, got 'a b'"),
        ({"security": "tls"}, "security: must be one of starttls, ssl, none, got 'tls'"),
        ({"port": 0}, "port: must be a port number (1-65535), got 0"),
        ({"port": True}, "port: must be a port number (1-65535), got True"),
        ({"username": "alerts"}, "password: username and password go together: give both or neither"),
        (
            {"ssl_ca_bundle": "/nonexistent/ca.pem"},
            "ssl_ca_bundle: cannot read the CA bundle: No such file or directory",
        ),
        ({"ssl_verify": "false"}, "ssl_verify: must be true or false, got 'false'"),
        ({"allow_plaintext_auth": "no"}, "allow_plaintext_auth: must be true or false, got 'no'"),
        ({"local_hostname": "a\r\nb"}, "local_hostname: must be a host name, got 'a\\r\\nb'"),
    ],
)
def test_smtp_settings_are_checked(kwargs: Any, error: str) -> None:
    options = {"host": "mail.example.com", **kwargs}
    with pytest.raises(AlertConfigurationError) as caught:
        SMTPTransport(**options)
    assert str(caught.value) == error


# -- SMTP: one session for many sends ------------------------------------------
def test_sends_share_one_session(smtp_server: Any) -> None:
    server = smtp_server()
    transport = SMTPTransport("127.0.0.1", server.port, security="none")
    ch = channel(transport, [])
    results = [ch.send(AlertMessage(f"disk {i}")) for i in range(10)]
    assert [(r.success, r.attempts) for r in results] == [(True, 1)] * 10
    assert len(server.handler.messages) == 10
    assert (server.connections, len(server.handler.ehlo), server.handler.quits) == (1, 1, 0)
    ch.close()


def test_starttls_and_auth_happen_once_for_many_sends(smtp_server: Any, smtp_ca: Any) -> None:
    server = smtp_server(starttls=True, auth=True)
    transport = SMTPTransport(
        "127.0.0.1", server.port, username="alerts", password=PASSWORD, ssl_ca_bundle=smtp_ca[1]
    )
    for _ in range(5):
        assert transport.send(make_message(), timeout=5) == "<abc123@example.com>"
    assert server.handler.tls == [True] * 5
    assert server.handler.logins == [("PLAIN", "alerts")]
    assert (server.connections, len(server.handler.ehlo)) == (1, 2)  # EHLO before and after STARTTLS
    assert PASSWORD not in repr(transport)
    transport.close()


def test_session_dropped_by_the_server_is_replaced(smtp_server: Any, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG, logger="kstalerts")
    server = smtp_server()
    transport = SMTPTransport("127.0.0.1", server.port, security="none")
    ch = channel(transport, [])
    assert ch.send(AlertMessage("first")).success
    server.drop_sessions()  # the server timed the idle session out
    sleeps: List[float] = []
    result = channel(transport, sleeps).send(AlertMessage("second"))
    assert (result.success, result.attempts, sleeps) == (True, 1, [])
    assert (server.connections, len(server.handler.messages)) == (2, 2)
    assert "reconnecting" not in caplog.text  # seen to be closed before a command was sent
    ch.close()


def test_session_that_hangs_up_on_mail_is_replaced_within_the_attempt(smtp_server: Any, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG, logger="kstalerts")
    server = smtp_server()
    transport = SMTPTransport("127.0.0.1", server.port, security="none")
    transport.send(make_message(), timeout=5)
    server.handler.mail_hangups = 1  # the session looks alive, then is gone at MAIL
    sleeps: List[float] = []
    result = channel(transport, sleeps).send(AlertMessage("second"))
    assert (result.success, result.attempts, sleeps) == (True, 1, [])
    assert server.connections == 2
    assert (len(server.handler.mail_from), len(server.handler.messages)) == (3, 2)
    assert (
        f"smtp://127.0.0.1:{server.port} (none): idle session was closed by the server; reconnecting"
        in caplog.text
    )
    transport.close()


def test_reused_session_answering_421_to_mail_is_replaced(smtp_server: Any) -> None:
    server = smtp_server()
    transport = SMTPTransport("127.0.0.1", server.port, security="none")
    transport.send(make_message(), timeout=5)
    server.handler.mail_replies.append("421 4.4.2 idle too long, closing")
    assert transport.send(make_message(), timeout=5) == "<abc123@example.com>"
    assert (server.connections, len(server.handler.messages)) == (2, 2)
    transport.close()


def test_failure_after_data_is_not_resent_by_the_transport(smtp_server: Any) -> None:
    server = smtp_server()
    transport = SMTPTransport("127.0.0.1", server.port, security="none")
    transport.send(make_message(), timeout=5)
    server.handler.data_replies.append("421 4.3.0 shutting down")
    with pytest.raises(AlertDeliveryError) as caught:
        transport.send(make_message(), timeout=5)
    assert str(caught.value) == f"127.0.0.1:{server.port} answered: 421 4.3.0 shutting down"
    assert (caught.value.retryable, caught.value.status) == (True, 421)
    assert (server.handler.data_commands, server.connections) == (2, 1)
    transport.close()


def test_deadline_is_per_send_not_per_session(smtp_server: Any) -> None:
    server = smtp_server()
    transport = SMTPTransport("127.0.0.1", server.port, security="none")
    transport.send(make_message(), timeout=1.0)
    time.sleep(1.05)  # the first send's deadline has passed; the session is still open
    transport.send(make_message(), timeout=1.0)
    assert (server.connections, len(server.handler.messages)) == (1, 2)
    transport.close()


def test_idle_and_worn_sessions_are_retired_with_quit(smtp_server: Any) -> None:
    server = smtp_server()
    transport = SMTPTransport("127.0.0.1", server.port, security="none")
    transport.max_session_messages = 3
    for _ in range(7):
        transport.send(make_message(), timeout=5)
    assert server.connections == 3  # 3 + 3 + 1 messages
    assert wait_for(lambda: server.handler.quits == 2)
    transport.idle_seconds = 0.0
    transport.send(make_message(), timeout=5)  # the idle session is too old: QUIT, then a new one
    assert server.connections == 4
    assert wait_for(lambda: server.handler.quits == 3 and server.closed == 3)
    transport.close()


def test_concurrent_sends_never_share_a_session(smtp_server: Any) -> None:
    server = smtp_server()
    transport = SMTPTransport("127.0.0.1", server.port, security="none")
    ch = channel(transport, [])
    results: List[Any] = []

    def worker(n: int) -> None:
        for i in range(5):
            results.append(ch.send(AlertMessage(f"alert {n}-{i}")))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(results) == 40 and all(r.success and r.attempts == 1 for r in results)
    subjects = sorted(str(server.handler.parsed(i)["Subject"]) for i in range(40))
    assert subjects == sorted(f"[ALERT] [INFO] alert {n}-{i}" for n in range(8) for i in range(5))
    assert 1 <= server.connections <= 8
    assert len(transport._pool) <= MAX_IDLE_CONNECTIONS
    ch.close()


def test_close_says_quit_and_closes_idle_sessions(smtp_server: Any) -> None:
    server = smtp_server()
    transport = SMTPTransport("127.0.0.1", server.port, security="none")
    ch = channel(transport, [])
    assert ch.send(AlertMessage("x")).success
    ch.close()
    assert wait_for(lambda: server.closed == 1 and server.handler.quits == 1)
    assert len(transport._pool) == 0
    assert ch.send(AlertMessage("y")).success  # usable after close: a new session
    assert server.connections == 2
    transport.close()
    assert wait_for(lambda: server.closed == 2)


# -- Resend ---------------------------------------------------------------------
API_KEY = "re_123456789_SecretKeyValue"


def test_resend_delivers_with_an_idempotency_key(resend_server: Any) -> None:
    server = resend_server()
    transport = ResendTransport(API_KEY, base_url=server.url)
    email_id = transport.send(make_message("a@example.com", "Bob <b@example.com>"), timeout=5)
    assert email_id == server.ids[0]
    request = server.requests[0]
    assert request["path"] == "/emails"
    assert request["headers"]["authorization"] == f"Bearer {API_KEY}"
    assert request["headers"]["idempotency-key"] == idempotency_key(make_message())
    assert request["json"] == {
        "from": "Alerts <alerts@example.com>",
        "to": ["a@example.com", "Bob <b@example.com>"],
        "subject": "[ALERT] [WARNING] disk",
        "text": "the disk is full\n",
    }


def test_resend_validation_error_is_permanent(resend_server: Any) -> None:
    server = resend_server()
    server.replies.append(validation_error())
    with pytest.raises(AlertDeliveryError) as caught:
        ResendTransport(API_KEY, base_url=server.url).send(make_message(), timeout=5)
    assert str(caught.value) == "Resend answered 422 (validation_error) Invalid `to` field."
    assert (caught.value.retryable, caught.value.status) == (False, 422)


def test_resend_rate_limit_is_retried_with_the_same_key(resend_server: Any) -> None:
    server = resend_server()
    server.replies.append(rate_limited(retry_after="2"))
    sleeps: List[float] = []
    result = channel(ResendTransport(API_KEY, base_url=server.url), sleeps).send(AlertMessage("disk full"))
    assert (result.success, result.attempts, sleeps) == (True, 2, [2.0])
    keys = [r["headers"]["idempotency-key"] for r in server.requests]
    assert len(keys) == 2 and keys[0] == keys[1]
    assert result.message_id == server.ids[0]


def test_resend_rate_limit_reset_header_is_honoured(resend_server: Any) -> None:
    server = resend_server()
    server.replies.append(rate_limited(retry_after=None, reset="3"))
    with pytest.raises(AlertDeliveryError) as caught:
        ResendTransport(API_KEY, base_url=server.url).send(make_message(), timeout=5)
    assert (caught.value.retryable, caught.value.retry_after, caught.value.status) == (True, 3.0, 429)
    assert str(caught.value) == (
        "Resend answered 429 (rate_limit_exceeded)"
        " Too many requests. You can only make 2 requests per second."
    )


def test_resend_server_error_is_retried(resend_server: Any) -> None:
    server = resend_server()
    server.replies += [server_error(), server_error()]
    sleeps: List[float] = []
    result = channel(ResendTransport(API_KEY, base_url=server.url), sleeps).send(AlertMessage("disk full"))
    assert (result.success, result.attempts, len(sleeps)) == (True, 3, 2)
    assert len({r["headers"]["idempotency-key"] for r in server.requests}) == 1
    server.replies += [server_error()] * 3
    result = channel(ResendTransport(API_KEY, base_url=server.url), sleeps).send(AlertMessage("disk full"))
    assert (
        result.error
        == "Resend answered 500 (application_error) An unexpected error occurred. (gave up after 3 attempts)"
    )


def test_resend_api_key_never_shows(resend_server: Any, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG, logger="kstalerts")
    server = resend_server()
    server.replies.append(reply(401, "missing_api_key", f"API key {API_KEY} is invalid"))
    transport = ResendTransport(API_KEY, base_url=server.url)
    sleeps: List[float] = []
    ch = channel(transport, sleeps)
    result = ch.send(AlertMessage("x"))
    assert result.error == "Resend answered 401 (missing_api_key) API key *** is invalid"
    assert (result.attempts, result.retryable) == (1, False)
    for text in (repr(transport), repr(ch), ch.preview(AlertMessage("x")), caplog.text, str(result)):
        assert API_KEY not in text
    assert repr(transport) == f"ResendTransport(base_url={server.url!r}, api_key=***)"


def test_resend_refuses_clear_text_to_a_remote_host() -> None:
    with pytest.raises(AlertConfigurationError) as caught:
        ResendTransport(API_KEY, base_url="http://api.resend.com")
    assert str(caught.value) == "base_url: must be an https:// URL (http:// only to a loopback address)"


def test_resend_unreachable_is_retryable() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(AlertDeliveryError) as caught:
        ResendTransport(API_KEY, base_url=f"http://127.0.0.1:{port}").send(make_message(), timeout=2)
    assert caught.value.retryable is True
    assert str(caught.value) == f"127.0.0.1:{port}: connection refused"  # the peer, never the key


def test_resend_request_carries_every_field(resend_server: Any) -> None:
    message = make_message("a@example.com")
    message["Cc"] = "c@example.com"
    message["Reply-To"] = "Desk <desk@example.com>"
    message["X-Alert-Level"] = "CRITICAL"
    message.add_alternative("<p>the disk is full</p>", subtype="html")
    assert ResendTransport(API_KEY).build_request(message) == {
        "from": "Alerts <alerts@example.com>",
        "to": ["a@example.com"],
        "cc": ["c@example.com"],
        "reply_to": ["Desk <desk@example.com>"],
        "subject": "[ALERT] [WARNING] disk",
        "text": "the disk is full\n",
        "html": "<p>the disk is full</p>\n",
        "headers": {"X-Alert-Level": "CRITICAL"},
    }


@pytest.mark.parametrize(
    ("answer", "error", "retryable"),
    [
        (
            reply(409, "concurrent_idempotent_requests", "Same key in flight."),
            "409 (concurrent_idempotent_requests)",
            True,
        ),
        (reply(409, "invalid_idempotent_request", "Key reused."), "409 (invalid_idempotent_request)", False),
        (reply(403, "validation_error", "Domain not verified."), "403 (validation_error)", False),
        ((302, {"Location": "https://example.com/"}, b""), "302", False),
        ((502, {}, b"<html>bad gateway</html>"), "502", True),
    ],
)
def test_resend_statuses(resend_server: Any, answer: Any, error: str, retryable: bool) -> None:
    server = resend_server()
    server.replies.append(answer)
    with pytest.raises(AlertDeliveryError) as caught:
        ResendTransport(API_KEY, base_url=server.url).send(make_message(), timeout=5)
    assert str(caught.value).startswith(f"Resend answered {error}")
    assert caught.value.retryable is retryable


def test_resend_success_without_an_id(resend_server: Any) -> None:
    server = resend_server()
    server.replies.append((200, {}, b"not json"))
    assert ResendTransport(API_KEY, base_url=server.url).send(make_message(), timeout=5) is None


def test_idempotency_key_without_message_id() -> None:
    message = make_message()
    del message["Message-ID"]
    assert idempotency_key(message) == idempotency_key(message)
    other = make_message("z@example.com")
    del other["Message-ID"]
    assert idempotency_key(message) != idempotency_key(other)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"api_key": ""}, "api_key: must be a non-empty string"),
        ({"api_key": "re_ key"}, "api_key: must not contain spaces or control characters"),
        (
            {"base_url": "https://api.resend.com/?x=1"},
            "base_url: must not carry a query or a fragment",
        ),
        ({"base_url": "https://u:p@api.resend.com"}, "base_url: must not carry user info (user:password@)"),
        ({"base_url": "ftp://api.resend.com"}, "base_url: must be an http:// or https:// URL with a host"),
    ],
)
def test_resend_settings_are_checked(kwargs: Any, error: str) -> None:
    options = {"api_key": API_KEY, **kwargs}
    with pytest.raises(AlertConfigurationError) as caught:
        ResendTransport(**options)
    assert str(caught.value).startswith(error)


# -- SMTP: at most once when the fate of a message is unknown ---------------
def test_no_answer_after_the_final_dot_is_not_resent(smtp_server: Any, tmp_path: Any) -> None:
    """The server keeps the message but answers '.' after the deadline: the
    send is not retried, says the mail may have been delivered, and the
    manager does not spool it for a blind resend."""
    from kstalerts import AlertManager

    server = smtp_server()
    server.handler.data_delay = 6.0  # well past the 1 s timeout, so a wait for it shows
    sleeps: List[float] = []
    email = EmailChannel(
        SMTPTransport("127.0.0.1", server.port, security="none", timeout=1),
        sender="alerts@example.com",
        recipients=["a@example.com"],
        sleep=sleeps.append,
        timeout=1,
        max_retries=3,
    )
    manager = AlertManager(spool=str(tmp_path / "spool")).add_channel(email)
    started = time.monotonic()
    (result,) = manager.send(AlertMessage("disk", "full", AlertLevel.CRITICAL))
    assert time.monotonic() - started < 4.5  # one 1 s attempt, not the 6 s answer
    assert not result.success and not result.retryable and not result.spooled
    assert result.attempts == 1 and sleeps == []
    assert result.error == (
        f"127.0.0.1:{server.port} did not answer within 1s; the message was sent in full"
        " but not acknowledged, so it may have been delivered (not sent again)"
    )
    assert wait_for(lambda: len(server.handler.messages) == 1, timeout=10.0)
    assert server.handler.data_commands == 1
    assert manager.spool is not None and len(manager.spool) == 0
    manager.close()


def test_a_451_after_the_final_dot_is_still_retried(smtp_server: Any) -> None:
    server = smtp_server()
    server.handler.data_replies.append("451 4.3.0 Try again later")
    sleeps: List[float] = []
    result = channel(SMTPTransport("127.0.0.1", server.port, security="none"), sleeps).send(
        AlertMessage("disk", "full")
    )
    assert result.success and result.attempts == 2
    assert (server.handler.data_commands, len(server.handler.messages)) == (2, 1)


def test_utf8_password_logs_in_with_auth_plain(smtp_server: Any, smtp_ca: Any, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG, logger="kstalerts")
    user = "alertes-été"
    password = USERS[user]
    server = smtp_server(starttls=True, auth=True)
    transport = SMTPTransport(
        "127.0.0.1", server.port, username=user, password=password, ssl_ca_bundle=smtp_ca[1]
    )
    transport.send(make_message(), timeout=5)
    assert server.handler.logins == [("PLAIN", user)]
    assert len(server.handler.messages) == 1
    blob = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
    assert "send: AUTH PLAIN [credentials hidden]" in caplog.text
    assert password not in caplog.text and blob not in caplog.text
    transport.close()


def test_utf8_password_without_auth_plain_is_refused_clearly(smtp_server: Any, smtp_ca: Any) -> None:
    user = "alertes-été"
    server = smtp_server(starttls=True, auth=True, mechanisms=("LOGIN",))
    transport = SMTPTransport(
        "127.0.0.1", server.port, username=user, password=USERS[user], ssl_ca_bundle=smtp_ca[1]
    )
    with pytest.raises(AlertDeliveryError) as caught:
        transport.send(make_message(), timeout=5)
    assert "does not offer AUTH PLAIN" in str(caught.value) and "RFC 4616" in str(caught.value)
    assert not caught.value.retryable
    assert server.handler.logins == [] and server.handler.mail_from == []


# -- a wrong setting fails at once and says which one ------------------------
def test_a_wrong_password_is_one_auth_attempt(smtp_server: Any, smtp_ca: Any) -> None:
    server = smtp_server(starttls=True, auth=True, mechanisms=("LOGIN", "PLAIN"))
    transport = SMTPTransport(
        "127.0.0.1", server.port, username="alerts", password="wrong-password", ssl_ca_bundle=smtp_ca[1]
    )
    sleeps: List[float] = []
    result = channel(transport, sleeps, max_retries=3).send(AlertMessage("x", level=AlertLevel.CRITICAL))
    assert server.handler.logins == [("PLAIN", "alerts")]  # smtplib alone tries LOGIN after PLAIN
    assert (result.success, result.attempts, result.status) == (False, 1, 535)
    assert result.error is not None and result.error.startswith(
        f"127.0.0.1:{server.port} refused the login: 535"
    )
    assert "wrong-password" not in result.error


def test_ssl_against_a_plain_port_fails_once_naming_the_setting(smtp_server: Any) -> None:
    server = smtp_server()
    transport = SMTPTransport("127.0.0.1", server.port, security="ssl")
    sleeps: List[float] = []
    result = channel(transport, sleeps, max_retries=3).send(AlertMessage("x"))
    assert (result.success, result.attempts, sleeps) == (False, 1, [])
    assert result.error is not None
    assert result.error.startswith(f"127.0.0.1:{server.port}: TLS error: WRONG_VERSION_NUMBER")
    assert "set security: starttls" in result.error
    assert server.handler.mail_from == []


@pytest.mark.slow
def test_starttls_against_a_port_that_never_greets_fails_once_and_soon() -> None:
    import socket

    from kstalerts.transports import smtp as smtp_module

    with socket.socket() as silent:  # accepts (in the backlog), never says 220
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        assert SMTPTransport("127.0.0.1", port).greeting_wait == smtp_module.GREETING_WAIT == 10.0
        transport = SMTPTransport("127.0.0.1", port, greeting_wait=0.5)  # starttls, as against port 465
        sleeps: List[float] = []
        started = time.monotonic()
        result = channel(transport, sleeps, max_retries=3).send(AlertMessage("x"))
        elapsed = time.monotonic() - started
    assert (result.success, result.attempts, sleeps) == (False, 1, [])
    assert result.error == (
        f"127.0.0.1:{port} accepted the connection but sent no SMTP greeting within 0.5s"
        " (this port expects TLS from the first byte: set security: ssl)"
    )
    assert elapsed < 4.0


@pytest.mark.slow
def test_the_greeting_wait_is_shorter_than_a_long_timeout() -> None:
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        transport = SMTPTransport("127.0.0.1", port, greeting_wait=0.5)
        started = time.monotonic()
        with pytest.raises(AlertDeliveryError) as caught:
            transport.send(make_message(), timeout=60)
        elapsed = time.monotonic() - started
    assert "sent no SMTP greeting within 0.5s" in str(caught.value)
    assert caught.value.retryable is False
    assert 0.4 < elapsed < 10.0  # the greeting's own bound, not the 60 s timeout


def test_no_starttls_offered_hints_at_security_none(smtp_server: Any) -> None:
    server = smtp_server()
    with pytest.raises(AlertDeliveryError) as caught:
        SMTPTransport("127.0.0.1", server.port).send(make_message(), timeout=5)
    assert "for a local test server without TLS, set security: none" in str(caught.value)


def test_verbose_logs_each_failed_attempt(smtp_server: Any, caplog: pytest.LogCaptureFixture) -> None:
    server = smtp_server()
    server.handler.mail_replies = ["451 4.3.0 try again"] * 3
    transport = SMTPTransport("127.0.0.1", server.port, security="none")
    sleeps: List[float] = []
    with caplog.at_level(logging.INFO, logger="kstalerts.channels"):
        result = channel(transport, sleeps, max_retries=2).send(AlertMessage("x"))
    assert result.attempts == 3
    lines = [r.getMessage() for r in caplog.records if r.name == "kstalerts.channels"]
    assert len(lines) == 3, lines
    assert lines[0].startswith(f"email: attempt 1 of 3 failed: 127.0.0.1:{server.port} answered: 451")
    assert lines[0].endswith("(retrying)") and lines[-1].endswith("(giving up)")


def test_lines_starting_with_a_dot_arrive_intact(smtp_server: Any) -> None:
    """The client's own DATA stuffs the dots (RFC 5321, 4.5.2) as smtplib's did."""
    server = smtp_server()
    mail = make_message()
    mail.set_content(".hidden\n..two dots\n.\nend\n")
    transport = SMTPTransport("127.0.0.1", server.port, security="none")
    transport.send(mail, timeout=5)
    assert server.handler.parsed().get_content().replace("\r\n", "\n") == ".hidden\n..two dots\n.\nend\n"
    transport.close()


# -- STARTTLS: nothing said in clear text is trusted after the upgrade --------
class _InjectingServer:
    """A raw SMTP peer that, with its ``220`` to STARTTLS, sends ``injected``
    in the same write (as a man in the middle could), then upgrades to TLS
    and speaks honestly: its EHLO answer offers no AUTH, and it accepts one
    message. ``received`` holds every line it read (clear and TLS)."""

    INJECTED = b"250-mx.evil\r\n250 AUTH PLAIN LOGIN\r\n"

    def __init__(self, ca: Any) -> None:
        import socket
        import ssl

        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(self._context)
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(1)
        self._sock.settimeout(10)
        self.port: int = self._sock.getsockname()[1]
        self.received: List[bytes] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        conn, _ = self._sock.accept()
        conn.settimeout(10)
        reader = conn.makefile("rb")
        try:
            conn.sendall(GREETING)
            self._line(reader)  # EHLO
            conn.sendall(EHLO_TLS)
            self._line(reader)  # STARTTLS
            conn.sendall(b"220 go ahead\r\n" + self.INJECTED)
            reader.close()
            tls = self._context.wrap_socket(conn, server_side=True)
            reader = tls.makefile("rb")
            honest = [b"250-mx.test\r\n250 8BITMIME\r\n", b"250 ok\r\n", b"250 ok\r\n", b"354 go on\r\n"]
            for reply in honest:
                self._line(reader)
                tls.sendall(reply)
            while self._line(reader) != b".":  # the message, up to its final dot
                pass
            tls.sendall(b"250 queued\r\n")
            self._line(reader)  # QUIT, or the client's hang-up
            tls.close()
        except OSError:
            pass
        finally:
            reader.close()
            conn.close()

    def _line(self, reader: Any) -> bytes:
        line: bytes = reader.readline(65536).rstrip(b"\r\n")
        self.received.append(line)
        return line

    def stop(self) -> None:
        self._thread.join(10)
        self._sock.close()


def test_replies_injected_before_starttls_are_dropped_not_read_as_the_tls_ehlo(smtp_ca: Any) -> None:
    server = _InjectingServer(smtp_ca[0])
    transport = SMTPTransport(
        "127.0.0.1", server.port, username="alerts", password=PASSWORD, ssl_ca_bundle=smtp_ca[1]
    )
    try:
        with pytest.raises(AlertDeliveryError) as caught:
            transport.send(make_message(), timeout=10)
    finally:
        transport.close()
        server.stop()
    # The AUTH the injected answer offered was not believed: the password never went out.
    assert not [line for line in server.received if line.upper().startswith(b"AUTH")]
    assert [line.split(b" ")[0].upper() for line in server.received[:3]] == [b"EHLO", b"STARTTLS", b"EHLO"]
    assert str(caught.value) == f"127.0.0.1:{server.port}: SMTP AUTH extension not supported by server."
    assert caught.value.retryable is False


def test_after_injected_replies_the_tls_conversation_stays_in_step(smtp_ca: Any) -> None:
    server = _InjectingServer(smtp_ca[0])
    transport = SMTPTransport("127.0.0.1", server.port, ssl_ca_bundle=smtp_ca[1])
    try:
        message_id = transport.send(make_message(), timeout=10)
    finally:
        transport.close()
        server.stop()
    assert message_id == "<abc123@example.com>"  # each reply answered its own command
    commands = [line.split(b" ")[0].split(b":")[0].upper() for line in server.received[2:5]]
    assert commands == [b"EHLO", b"MAIL", b"RCPT"]
