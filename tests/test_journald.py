"""JournaldChannel: the native protocol, read back from a datagram socket the test binds."""

import array
import os
import pathlib
import socket
import struct
import sys
from typing import Dict, Iterator, List, Tuple

import pytest

from kstalerts import AlertLevel, AlertMessage, Notification
from kstalerts.channels import channel_class
from kstalerts.channels.journald import JournaldChannel, field_name
from kstalerts.digest import DigestSummary


def parse_entry(data: bytes) -> List[Tuple[str, bytes]]:
    """The fields of one native-protocol entry, as journald reads them."""
    fields = []
    while data:
        line, sep, rest = data.partition(b"\n")
        assert sep, "an entry ends with a newline"
        if b"=" in line:
            name, _, value = line.partition(b"=")
            fields.append((name.decode("ascii"), value))
            data = rest
        else:
            (size,) = struct.unpack("<Q", rest[:8])
            value, end = rest[8 : 8 + size], rest[8 + size : 9 + size]
            assert end == b"\n"
            fields.append((line.decode("ascii"), value))
            data = rest[9 + size :]
    return fields


class Journal:
    """A datagram socket standing in for /run/systemd/journal/socket."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(5)
        self.passed_fd = False

    def entry(self) -> Dict[str, str]:
        """The next entry (a memfd's content when one was passed), as a dict."""
        data, ancillary, _, _ = self.sock.recvmsg(1 << 20, socket.CMSG_SPACE(4 * 4))
        self.passed_fd = False
        for level, kind, payload in ancillary:
            if (level, kind) == (socket.SOL_SOCKET, socket.SCM_RIGHTS):
                fds = array.array("i")
                fds.frombytes(payload[: len(payload) - len(payload) % 4])
                with os.fdopen(fds[0], "rb") as memfd:
                    memfd.seek(0)
                    data = memfd.read()
                self.passed_fd = True
        fields = parse_entry(data)
        names = [name for name, _ in fields]
        assert len(names) == len(set(names)), names
        return {name: value.decode("utf-8") for name, value in fields}


@pytest.fixture
def journal(tmp_path: pathlib.Path) -> Iterator[Journal]:
    sink = Journal(str(tmp_path / "journal.sock"))
    yield sink
    sink.sock.close()


def test_the_fields_arrive_exactly(journal: Journal) -> None:
    channel = JournaldChannel(socket_path=journal.path, identifier="dbwatch", facility="daemon")
    alert = AlertMessage(
        "Disk full",
        "/var at 97%",
        AlertLevel.CRITICAL,
        labels={"host": "db1", "9-lives": "x"},
        dedup_key="k1",
    )
    assert channel.send(alert).success
    assert journal.entry() == {
        "MESSAGE": "Disk full\n/var at 97%",
        "PRIORITY": "2",
        "SYSLOG_IDENTIFIER": "dbwatch",
        "SYSLOG_FACILITY": "3",
        "KSTALERTS_LEVEL": "CRITICAL",
        "KSTALERTS_STATE": "firing",
        "KSTALERTS_TITLE": "Disk full",
        "KSTALERTS_DEDUP_KEY": "k1",
        "HOST": "db1",
        "L9_LIVES": "x",
    }


def test_a_multi_line_body_and_hostile_labels_stay_whole(journal: Journal) -> None:
    body = "line 1\nPRIORITY=0\nMESSAGE=forged\r\n\ttabbed é"
    labels = {"message": "a\nPRIORITY=0", "_SYSTEMD_UNIT": "fake.service", "kstalerts_level": "x"}
    channel = JournaldChannel(socket_path=journal.path)
    assert channel.send(AlertMessage("T\nFORGED=1", body, AlertLevel.WARNING, labels=labels)).success
    entry = journal.entry()
    assert entry["MESSAGE"] == "T FORGED=1\nline 1\nPRIORITY=0\nMESSAGE=forged\n\ttabbed é"
    assert entry["PRIORITY"] == "4"
    assert entry["LABEL_MESSAGE"] == "a\nPRIORITY=0"  # binary-safe form: no field forged
    assert entry["SYSTEMD_UNIT"] == "fake.service"  # a trusted field cannot be set by a label
    assert entry["LABEL_KSTALERTS_LEVEL"] == "x" and entry["KSTALERTS_LEVEL"] == "WARNING"
    assert "FORGED" not in entry


def test_the_digest_is_in_the_message(journal: Journal) -> None:
    held = DigestSummary(4, AlertLevel.INFO, "4 alerts held back", ("4x disk",), 0)
    assert (
        JournaldChannel(socket_path=journal.path)
        .notify(Notification(AlertMessage("t"), held_back=held))
        .success
    )
    entry = journal.entry()
    assert entry["KSTALERTS_HELD_BACK"] == "4" and "4 alerts held back\n4x disk" in entry["MESSAGE"]


@pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="os.memfd_create is 3.8+")
def test_an_entry_too_large_for_a_datagram_goes_through_a_memfd(journal: Journal) -> None:
    sndbuf = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    limit = sndbuf.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
    sndbuf.close()
    body = "\u00e9" * 65000  # 130 KB
    labels = {f"k{n}": "v" * 4000 for n in range(64)}  # 256 KB more
    assert len(body.encode()) + 64 * 4000 > limit  # more than one datagram can hold
    assert JournaldChannel(socket_path=journal.path).send(AlertMessage("big", body, labels=labels)).success
    entry = journal.entry()
    assert journal.passed_fd
    assert entry["MESSAGE"] == "big\n" + body and entry["K63"] == "v" * 4000


def test_without_memfd_a_large_entry_is_refused_clearly(
    journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(os, "memfd_create", raising=False)  # Python 3.6/3.7 have none
    labels = {f"k{n}": "v" * 4000 for n in range(64)}
    result = JournaldChannel(socket_path=journal.path).send(
        AlertMessage("big", "\u00e9" * 65000, labels=labels)
    )
    assert not result.success and not result.retryable
    assert "too large for one datagram, and this Python has no os.memfd_create" in str(result.error)


def test_no_socket_says_journald_is_not_running(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "none.sock")
    result = JournaldChannel(socket_path=path, max_retries=0).send(AlertMessage("x"))
    assert not result.success and result.retryable
    assert result.error == f"journald: journald is not running (no journal socket at {path})"


def test_field_names_follow_journald_rules() -> None:
    for label in ("host", "a-b.c", "__x", "1", "é", "x" * 100, "MESSAGE", "priority"):
        name = field_name(label)
        assert name[0].isalpha() and len(name) <= 64 and name.replace("_", "").isalnum()
        assert name.isupper() and name not in ("MESSAGE", "PRIORITY")


def test_built_from_config() -> None:
    channel = channel_class("journald").from_config({"identifier": "x", "socket_path": "/tmp/j.sock"})
    assert repr(channel) == "JournaldChannel(name='journald', socket_path='/tmp/j.sock')"


@pytest.mark.skipif(
    not os.path.exists("/run/systemd/journal/socket") or sys.platform != "linux", reason="no journald here"
)
def test_a_real_journald_takes_the_entry() -> None:
    assert JournaldChannel(identifier="kstalerts-test").send(AlertMessage("kstalerts test entry")).success
