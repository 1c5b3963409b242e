"""The loopback sinks behave like the services they stand in for, and stay bounded."""

import json
import smtplib
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from email.message import EmailMessage
from typing import List, Tuple

import pytest

from kstalerts.limits import MAX_RECIPIENTS
from kstalerts.net import loopback as _loopback
from kstalerts.net.loopback import HTTPSink, SMTPSink


@pytest.fixture
def http_sink(loopback_http: HTTPSink) -> HTTPSink:
    return loopback_http


@pytest.fixture
def smtp_sink(loopback_smtp: SMTPSink) -> SMTPSink:
    return loopback_smtp


def _post(url: str, body: bytes, content_type: str = "application/json") -> Tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


# -- HTTP ------------------------------------------------------------------


def test_http_sink_records_a_json_post_and_answers_ok(http_sink: HTTPSink) -> None:
    assert http_sink.url.startswith(f"http://127.0.0.1:{http_sink.port}/services/")
    status, body = _post(http_sink.url, json.dumps({"text": "disk full"}).encode())
    assert (status, body) == (200, b"ok")
    assert [p.payload for p in http_sink.posts] == [{"text": "disk full"}]
    assert http_sink.posts[0].content_type == "application/json"
    assert len(http_sink.delivered) == 1


def test_http_sink_failure_chosen_by_path(http_sink: HTTPSink) -> None:
    status, body = _post(http_sink.failing_url(503), b'{"text": "x"}')
    assert (status, body) == (503, b"loopback_failure")
    assert http_sink.posts[0].status == 503
    assert http_sink.delivered == []


def test_http_sink_status_for_every_path() -> None:
    with HTTPSink(status=429) as sink:
        assert _post(sink.url, b"{}")[0] == 429


def test_http_sink_rejects_invalid_json_without_recording(http_sink: HTTPSink) -> None:
    assert _post(http_sink.url, b"not json") == (400, b"invalid_payload")
    assert http_sink.posts == []


def test_http_sink_refuses_a_body_over_the_cap(http_sink: HTTPSink) -> None:
    with socket.create_connection(("127.0.0.1", http_sink.port), timeout=5) as conn:
        conn.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (_loopback._MAX_MESSAGE_BYTES + 1)
        )
        reply = conn.recv(200)
    assert reply.startswith(b"HTTP/1.1 413 ")
    assert http_sink.posts == []


def test_http_sink_needs_a_length_and_refuses_get(http_sink: HTTPSink) -> None:
    with socket.create_connection(("127.0.0.1", http_sink.port), timeout=5) as conn:
        conn.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: x\r\n\r\n")
        assert conn.recv(200).startswith(b"HTTP/1.1 411 ")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(http_sink.url, timeout=5)
    assert info.value.code == 405


# -- SMTP ------------------------------------------------------------------


def test_smtp_sink_receives_mail_from_smtplib(smtp_sink: SMTPSink) -> None:
    msg = EmailMessage()
    msg["Subject"] = "[ALERT] Backup failed é"
    msg["From"] = "alerts@example.test"
    msg["To"] = "ops@example.test, dev@example.test"
    msg.set_content(".leading dot survives\nsecond line")
    with smtplib.SMTP("127.0.0.1", smtp_sink.port, timeout=5) as client:
        assert client.ehlo()[0] == 250
        assert client.has_extn("size") and not client.has_extn("starttls")
        client.send_message(msg)
        assert client.noop()[0] == 250
    [mail] = smtp_sink.messages
    assert mail.sender == "alerts@example.test"
    assert mail.recipients == ("ops@example.test", "dev@example.test")
    assert mail.subject == "[ALERT] Backup failed é"
    assert mail.text() == ".leading dot survives\nsecond line\n"


def test_smtp_sink_rejects_a_listed_recipient(smtp_sink: SMTPSink) -> None:
    with smtplib.SMTP("127.0.0.1", smtp_sink.port, timeout=5) as client:
        client.helo()
        with pytest.raises(smtplib.SMTPRecipientsRefused) as info:
            client.sendmail("a@example.test", ["nobody@example.test"], "Subject: x\r\n\r\nx")
    assert info.value.recipients == {"nobody@example.test": (550, b"5.1.1 mailbox unavailable")}
    assert smtp_sink.messages == []


def _dialogue(port: int, lines: List[bytes]) -> List[bytes]:
    replies: List[bytes] = []
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        stream = conn.makefile("rb")
        replies.append(stream.readline().rstrip())
        for line in lines:
            conn.sendall(line + b"\r\n")
            reply = stream.readline().rstrip()
            while reply[3:4] == b"-":
                reply = stream.readline().rstrip()
            replies.append(reply)
    return replies


def test_smtp_sink_enforces_the_command_order(smtp_sink: SMTPSink) -> None:
    replies = _dialogue(
        smtp_sink.port,
        [
            b"MAIL FROM:<a@x>",
            b"HELO me",
            b"RCPT TO:<b@x>",
            b"DATA",
            b"MAIL FROM:a@x",
            b"MAIL FROM:<a@x>",
            b"MAIL FROM:<a@x>",
            b"RSET",
            b"RCPT TO:<b@x>",
            b"VRFY b",
            b"QUIT",
        ],
    )
    assert [r[:3] for r in replies] == [
        b"220",
        b"503",
        b"250",
        b"503",
        b"503",
        b"501",
        b"250",
        b"503",
        b"250",
        b"503",
        b"502",
        b"221",
    ]


def test_smtp_sink_bounds_lines_and_messages(smtp_sink: SMTPSink, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _dialogue(smtp_sink.port, [b"NOOP " + b"x" * 2000]) == [
        _dialogue(smtp_sink.port, [])[0],
        b"500 5.5.2 line too long",
    ]
    monkeypatch.setattr(_loopback, "_MAX_MESSAGE_BYTES", 100)
    with smtplib.SMTP("127.0.0.1", smtp_sink.port, timeout=5) as client:
        with pytest.raises(smtplib.SMTPDataError) as info:
            client.sendmail("a@x", ["b@x"], "Subject: big\r\n\r\n" + "y" * 500)
        assert info.value.smtp_code == 552
        client.sendmail("a@x", ["b@x"], "Subject: small\r\n\r\nok")
    assert [m.subject for m in smtp_sink.messages] == ["small"]


def test_smtp_sink_caps_recipients(smtp_sink: SMTPSink) -> None:
    lines = [b"EHLO me", b"MAIL FROM:<a@x>"]
    lines += [b"RCPT TO:<r%d@x>" % i for i in range(MAX_RECIPIENTS + 1)]
    replies = _dialogue(smtp_sink.port, lines)
    assert replies[-2][:3] == b"250"
    assert replies[-1] == b"452 4.5.3 too many recipients"


def test_sinks_stop_cleanly_and_free_their_port() -> None:
    sink = HTTPSink().start()
    port = sink.port
    sink.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_module_runs_a_sink_from_the_shell() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "kstalerts.net.loopback", "smtp", "--lifetime", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=20,
    )
    assert proc.returncode == 0
    assert proc.stdout.startswith("127.0.0.1:")
    assert proc.stderr.strip() == "received 0"


def test_module_main_in_process(capsys: "pytest.CaptureFixture[str]") -> None:
    assert _loopback._main(["http", "--lifetime", "0"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("http://127.0.0.1:") and out.rstrip().endswith(_loopback.SLACK_PATH)
    assert err == "received 0\n"
