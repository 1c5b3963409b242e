"""SyslogChannel against a real rsyslog: UDP, TCP (octet counting), TLS and a unix socket."""

import socket
import time
import uuid
from typing import Any, Dict

import pytest

from kstalerts import AlertLevel, AlertMessage, Notification
from kstalerts.channels import channel_class
from kstalerts.channels.syslog import SyslogChannel, sd_escape
from kstalerts.digest import DigestSummary
from kstalerts.exceptions import AlertConfigurationError
from tests.servers.rsyslog import Rsyslog

HOSTILE = '] [evil@1 x="y"\r\nFAKE <13>1 - - - - - injected'


def _channel(server: Rsyslog, transport: str, **options: Any) -> SyslogChannel:
    if transport == "unix":
        return SyslogChannel(transport="unix", socket_path=server.socket_path, max_retries=0, **options)
    port = {"udp": server.udp_port, "tcp": server.tcp_port, "tls": server.tls_port}[transport]
    extra: Dict[str, Any] = {"ssl_ca_bundle": server.ca_path} if transport == "tls" else {}
    return SyslogChannel(transport=transport, host="127.0.0.1", port=port, max_retries=0, **extra, **options)


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls", "unix"])
def test_each_transport_delivers_one_rfc5424_message_per_alert(rsyslog: Rsyslog, transport: str) -> None:
    marker = uuid.uuid4().hex
    channel = _channel(rsyslog, transport, app_name="dbwatch", facility="local3")
    alert = AlertMessage(f"Disk full {marker}", "/var at 97%", AlertLevel.CRITICAL, labels={"host": "db1"})
    result = channel.send(alert)
    assert result.success, result.error
    (got,) = rsyslog.received(marker)
    time.sleep(0.2)
    assert len(rsyslog.received(marker, wait=0)) == 1  # one message, not one per line
    assert got["inputname"] == {"unix": "imuxsock"}.get(transport, transport)
    assert got["protocol-version"] == "1"
    assert (got["syslogseverity"], got["syslogfacility"]) == ("2", "19")  # crit, local3
    assert got["app-name"] == "dbwatch" and got["msgid"] == "firing"
    assert got["structured-data"] == '[kstalerts@32473 level="CRITICAL" host="db1"]'
    assert got["msg"].lstrip("\ufeff") == f"Disk full {marker}#012/var at 97%"


@pytest.mark.parametrize(
    "level, severity", [("CRITICAL", "2"), ("WARNING", "4"), ("SUCCESS", "5"), ("INFO", "6")]
)
def test_the_level_is_the_severity(rsyslog: Rsyslog, level: str, severity: str) -> None:
    marker = uuid.uuid4().hex
    assert _channel(rsyslog, "udp").send(AlertMessage(marker, level=AlertLevel[level])).success
    (got,) = rsyslog.received(marker)
    assert got["syslogseverity"] == severity and got["syslogfacility"] == "1"  # user


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
def test_a_hostile_alert_arrives_inert_and_bounded(rsyslog: Rsyslog, transport: str) -> None:
    marker = uuid.uuid4().hex
    channel = _channel(rsyslog, transport)
    labels = {'a"b]c d=e': '] [evil@1 x="y"\\', "host": "db1"}
    alert = AlertMessage(HOSTILE + marker, "B" * 10240, AlertLevel.WARNING, labels=labels)
    assert channel.send(alert).success
    (got,) = rsyslog.received(marker)
    assert got["structured-data"] == (
        '[kstalerts@32473 level="WARNING" a_b_c_d_e="\\] [evil@1 x=\\"y\\"\\\\" host="db1"]'
    )
    assert (
        len(got["rawmsg"].replace("#012", "\n").encode("utf-8")) <= channel.max_bytes
    )  # rsyslog shows LF as #012
    msg = got["msg"].lstrip("\ufeff")
    assert msg.startswith('] [evil@1 x="y" FAKE <13>1 - - - - - injected' + marker)  # CR LF: a space
    assert " characters cut …] " in msg and msg.endswith("B" * 100)  # cut from the middle, counted
    assert (got["syslogseverity"], got["app-name"]) == ("4", "kstalerts")
    if transport == "udp":
        assert channel.max_bytes == 2048


def test_rfc3164_is_an_option(rsyslog: Rsyslog) -> None:
    marker = uuid.uuid4().hex
    channel = _channel(rsyslog, "tcp", format="rfc3164", app_name="legacy")
    assert channel.send(AlertMessage(marker, "b", AlertLevel.WARNING, labels={"host": "db1"})).success
    (got,) = rsyslog.received(marker)
    assert got["protocol-version"] == "0" and got["programname"] == "legacy"
    assert got["syslogseverity"] == "4"
    assert got["msg"].lstrip() == f'[kstalerts@32473 level="WARNING" host="db1"] {marker}#012b'


@pytest.mark.parametrize("level", ["CRITICAL", "WARNING", "INFO"])
def test_a_resolved_message_is_a_notice_with_msgid_resolved(rsyslog: Rsyslog, level: str) -> None:
    marker = uuid.uuid4().hex
    alert = AlertMessage(f"Disk full {marker}", "resolved after 3m", AlertLevel[level], labels={"host": "db1"})
    assert _channel(rsyslog, "tcp").notify(Notification(alert, state="resolved")).success
    (got,) = rsyslog.received(marker)
    assert (got["syslogseverity"], got["msgid"]) == ("5", "resolved")  # notice, whatever the level
    assert got["structured-data"] == f'[kstalerts@32473 level="{level}" host="db1"]'
    assert got["msg"].lstrip("\ufeff") == f"RESOLVED: Disk full {marker}#012resolved after 3m"


def test_the_digest_travels_in_the_message(rsyslog: Rsyslog) -> None:
    marker = uuid.uuid4().hex
    held = DigestSummary(3, AlertLevel.WARNING, "3 alerts held back", ("3x disk",), 0)
    assert _channel(rsyslog, "tcp").notify(Notification(AlertMessage(marker), held_back=held)).success
    (got,) = rsyslog.received(marker)
    assert 'held_back="3"' in got["structured-data"]
    assert "3 alerts held back" in got["msg"] and "3x disk" in got["msg"]


@pytest.mark.parametrize("transport", ["tcp", "tls"])
def test_a_stopped_collector_is_a_retryable_failure(transport: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once closed
    channel = SyslogChannel(transport=transport, host="127.0.0.1", port=port, max_retries=0, timeout=2)
    started = time.monotonic()
    result = channel.send(AlertMessage("down"))
    assert time.monotonic() - started < 2
    assert not result.success and result.retryable
    assert (
        result.error
        == f"syslog: {transport}://127.0.0.1:{port}: the connection was refused (Connection refused)"
    )


def test_a_collector_that_never_answers_the_handshake_fails_within_the_timeout() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # accepted by the kernel, never read: the TLS handshake hangs
        port = listener.getsockname()[1]
        channel = SyslogChannel(transport="tls", host="127.0.0.1", port=port, max_retries=0, timeout=1)
        started = time.monotonic()
        result = channel.send(AlertMessage("hang"))
        assert time.monotonic() - started < 3
    assert not result.success and result.retryable
    assert result.error == f"syslog: tls://127.0.0.1:{port}: the deadline passed"


def test_a_udp_collector_the_host_knows_is_down_is_a_failure() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    channel = SyslogChannel(transport="udp", host="127.0.0.1", port=port, max_retries=0)
    result = channel.send(AlertMessage("down"))
    assert not result.success and result.retryable, result
    assert "the connection was refused" in str(result.error)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as back:  # the collector is back
        back.bind(("127.0.0.1", port))
        back.settimeout(5)
        assert channel.send(AlertMessage("up again")).success
        assert b"up again" in back.recv(4096)
        assert channel.send(AlertMessage("kept")).success  # on the same socket
        assert b"kept" in back.recv(4096)
    channel.close()


def test_no_local_daemon_is_a_clear_failure(tmp_path: Any) -> None:
    path = str(tmp_path / "nothing.sock")
    result = SyslogChannel(socket_path=path, max_retries=0).send(AlertMessage("x"))
    assert not result.success and result.retryable
    assert result.error == f"syslog: unix:{path}: no syslog daemon listens there (No such file or directory)"


def test_the_message_is_bounded_by_max_bytes_with_the_count_cut() -> None:
    channel = SyslogChannel(transport="udp", host="127.0.0.1", max_bytes=600, hostname="h")
    message = channel.render(
        Notification(AlertMessage("t", "é" * 5000, labels={f"k{n}": "v" * 300 for n in range(64)}))
    )
    assert len(message) <= 600
    text = message.decode("utf-8")  # never cut inside a character
    assert 'labels_cut="' in text and " characters cut …]" in text


def test_sd_escape_follows_rfc5424() -> None:
    assert sd_escape('a"b\\c]d\ne') == 'a\\"b\\\\c\\]d e'


def test_built_from_config_and_checked() -> None:
    cls = channel_class("syslog")
    channel = cls.from_config({"transport": "tcp", "host": "logs.example", "facility": "local0"})
    assert repr(channel) == "SyslogChannel(name='syslog', peer='tcp://logs.example:514')"
    with pytest.raises(AlertConfigurationError, match="transport udp needs a host"):
        cls.from_config({"transport": "udp"})
    with pytest.raises(AlertConfigurationError, match="did you mean 'local0'"):
        cls.from_config({"facility": "locl0"})
    with pytest.raises(AlertConfigurationError, match="max_bytes must be a whole number from 480 to 65507"):
        cls.from_config({"max_bytes": 100})
    with pytest.raises(AlertConfigurationError, match="port must be a whole number"):
        SyslogChannel(transport="udp", host="h", port=0)


def test_tls_verifies_the_collector_like_every_tls_here(rsyslog: Rsyslog) -> None:
    # rsyslog's certificate comes from a private CA the system does not trust
    channel = SyslogChannel(transport="tls", host="127.0.0.1", port=rsyslog.tls_port, max_retries=2)
    result = channel.send(AlertMessage("not trusted"))
    assert not result.success and not result.retryable and result.attempts == 1
    assert result.error is not None and "the peer's certificate or host name was refused" in result.error
    assert not rsyslog.received("not trusted", wait=0.5)
