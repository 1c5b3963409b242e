"""kstalerts.net.wire: the TLS rule, the deadline, the dropped-connection check and the idle pool."""

import ctypes
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from email.message import EmailMessage
from typing import Any, List, Tuple

import pytest

from kstalerts import AlertConfigurationError, AlertDeliveryError
from kstalerts.net.fault import PERMANENT, Fault, classify
from kstalerts.net.wire import Deadline, IdlePool, Pooled, ascii_host, is_dropped, tls_context, wrap_tls
from kstalerts.transports import SMTPTransport


class Pipe(Pooled):
    """One end of a real socket pair, as a pooled connection."""

    def __init__(self) -> None:
        self.sock, self.peer = socket.socketpair()
        self.closed = False
        self.forgotten = False

    def dropped(self) -> bool:
        return is_dropped(self.sock)

    def close(self) -> None:
        self.closed = True
        self.sock.close()

    def forget(self) -> None:
        from kstalerts import _lifecycle

        self.forgotten = True
        _lifecycle.forget_socket(self.sock)

    def shut(self) -> None:
        self.sock.close()
        self.peer.close()


def message() -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = "[ALERT] [WARNING] disk"
    mail["From"] = "alerts@example.com"
    mail["To"] = "oncall@example.com"
    mail["Message-ID"] = "<net@example.com>"
    mail.set_content("the disk is full\n")
    return mail


def hashed_ca_directory(ca_file: str, directory: Any) -> str:
    """A directory holding the CA under OpenSSL's hashed name, as ``capath`` needs."""
    digest = subprocess.run(
        ["openssl", "x509", "-hash", "-noout", "-in", ca_file],
        stdout=subprocess.PIPE,
        universal_newlines=True,
        check=True,
    ).stdout.strip()
    shutil.copy(ca_file, os.path.join(str(directory), digest + ".0"))
    return str(directory)


# -- tls_context ----------------------------------------------------------------
@pytest.mark.parametrize("verify", [True, False])
def test_tls_context_requires_tls_1_2_whatever_the_verification(verify: bool) -> None:
    context = tls_context(verify, None)
    if hasattr(ssl, "TLSVersion"):
        tls_1_2 = ssl.TLSVersion.TLSv1_2  # novermin (3.7+, checked above)
        assert context.minimum_version >= tls_1_2
    else:  # Python 3.6
        assert context.options & ssl.OP_NO_TLSv1 and context.options & ssl.OP_NO_TLSv1_1
    assert context.check_hostname is verify
    assert context.verify_mode == (ssl.CERT_REQUIRED if verify else ssl.CERT_NONE)


def test_tls_context_loads_a_ca_file_and_a_ca_directory(smtp_ca: Any, tmp_path: Any) -> None:
    from_file = tls_context(True, smtp_ca[1])
    assert len(from_file.get_ca_certs()) == 1
    directory = hashed_ca_directory(smtp_ca[1], tmp_path)
    assert tls_context(True, directory).verify_mode == ssl.CERT_REQUIRED


def test_smtp_trusts_a_ca_directory(smtp_server: Any, smtp_ca: Any, tmp_path: Any) -> None:
    server = smtp_server(starttls=True)
    directory = hashed_ca_directory(smtp_ca[1], tmp_path)
    transport = SMTPTransport("127.0.0.1", server.port, ssl_ca_bundle=directory)
    assert transport.send(message(), timeout=5) == "<net@example.com>"
    assert len(server.handler.messages) == 1
    transport.close()


def test_smtp_with_a_ca_directory_that_lacks_the_ca_refuses_the_server(
    smtp_server: Any, tmp_path: Any
) -> None:
    server = smtp_server(starttls=True)
    transport = SMTPTransport("127.0.0.1", server.port, ssl_ca_bundle=str(tmp_path))
    with pytest.raises(AlertDeliveryError) as caught:
        transport.send(message(), timeout=5)
    assert "TLS certificate verification failed" in str(caught.value)
    assert caught.value.retryable is False
    assert server.handler.messages == []


@pytest.mark.parametrize(
    ("bundle", "message"),
    [
        ("/no/such/ca.pem", "ssl_ca_bundle: cannot read the CA bundle: No such file or directory"),
        ("bogus", "ssl_ca_bundle: is not a PEM file of CA certificates"),
    ],
)
def test_one_rule_for_a_bad_bundle_in_smtp_and_http(tmp_path: Any, bundle: str, message: str) -> None:
    from kstalerts.net.http import HTTPClient

    if bundle == "bogus":
        bogus = tmp_path / "ca.pem"
        bogus.write_text("not a certificate")
        bundle = str(bogus)
    errors: List[str] = []
    for build in (
        lambda: tls_context(False, bundle),
        lambda: SMTPTransport("mail.example.com", ssl_ca_bundle=bundle),
        lambda: SMTPTransport("mail.example.com", security="none", ssl_ca_bundle=bundle),
        lambda: HTTPClient("https://example.com/hook", ssl_ca_bundle=bundle),
    ):
        with pytest.raises(AlertConfigurationError) as caught:
            build()
        errors.append(str(caught.value))
    assert errors == [message] * 4


# -- Deadline and is_dropped ------------------------------------------------------
def test_deadline_arms_the_socket_and_raises_once_passed() -> None:
    a, b = socket.socketpair()
    try:
        left = Deadline(time.monotonic() + 5).arm(a)
        assert 4 < left <= 5 and 4 < (a.gettimeout() or 0) <= 5
        with pytest.raises(socket.timeout):
            Deadline(time.monotonic() - 0.001).arm(a)
    finally:
        a.close()
        b.close()


def test_send_all_to_a_peer_that_never_reads_stops_at_the_deadline() -> None:
    a, b = socket.socketpair()
    try:
        started = time.monotonic()
        with pytest.raises(socket.timeout):
            Deadline(started + 0.5).send_all(a, b"x" * (64 << 20))
        assert time.monotonic() - started < 3
    finally:
        a.close()
        b.close()


def test_is_dropped_when_the_peer_closes_or_speaks() -> None:
    quiet, speaking, closing = Pipe(), Pipe(), Pipe()
    speaking.peer.sendall(b"421 bye\r\n")
    closing.peer.close()
    assert (is_dropped(quiet.sock), is_dropped(speaking.sock), is_dropped(closing.sock)) == (
        False,
        True,
        True,
    )
    for pipe in (quiet, speaking, closing):
        pipe.shut()


# -- classify ---------------------------------------------------------------------
def caught(action: Any) -> BaseException:
    try:
        action()
    except Exception as exc:  # the error is what is tested
        return exc
    raise AssertionError("no error")


def test_classify_sorts_real_failures_and_says_which_are_permanent() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nobody listens there now
    refused = caught(lambda: socket.create_connection(("127.0.0.1", port), timeout=5))
    unresolved = caught(lambda: socket.getaddrinfo("no-such-host.invalid", 25))
    a, b = socket.socketpair()
    expired = caught(lambda: Deadline(time.monotonic() - 1).arm(a))
    b.sendall(b"220 mail.example.com ESMTP plain text\r\n" * 4)  # a plain-text peer
    not_tls = caught(lambda: wrap_tls(tls_context(True, None), a, "mail.example.com"))
    a.close()
    b.close()
    faults = [classify(exc)[0] for exc in (refused, unresolved, expired, not_tls, ValueError("x"))]
    assert faults == [Fault.REFUSED, Fault.UNRESOLVED, Fault.TIMEOUT, Fault.NOT_TLS, Fault.NETWORK]
    assert classify(ValueError("x"))[1] == "ValueError"
    assert PERMANENT == {Fault.NOT_TLS, Fault.CERTIFICATE}


# -- IdlePool ---------------------------------------------------------------------
def test_pool_reuses_the_newest_and_keeps_at_most_its_size() -> None:
    pool: "IdlePool[Pipe]" = IdlePool(2)
    pipes = [Pipe() for _ in range(3)]
    assert [pool.put(p) for p in pipes] == [True, True, False]
    assert len(pool) == 2 and pool.idle == pipes[:2]
    assert pool.take() is pipes[1]
    assert pool.take() is pipes[0]
    assert pool.take() is None
    for pipe in pipes:
        pipe.shut()


def test_pool_retires_a_connection_idle_too_long_and_closes_a_dropped_one() -> None:
    pool: "IdlePool[Pipe]" = IdlePool(4)
    old, dropped, fresh = Pipe(), Pipe(), Pipe()
    pool.put(old)
    time.sleep(0.2)
    pool.put(fresh)
    pool.put(dropped)
    dropped.peer.close()
    retired: List[Pipe] = []
    assert pool.take(max_idle=0.1, retire=retired.append) is fresh
    assert dropped.closed and not fresh.closed
    assert pool.take(max_idle=0.1, retire=retired.append) is None
    assert retired == [old] and not old.closed  # retiring is the caller's (an SMTP QUIT)
    assert pool.put(old) and pool.take(max_idle=0.0) is None and old.closed  # default: close
    for pipe in (old, dropped, fresh):
        pipe.shut()


def test_pool_drain_hands_over_every_idle_connection() -> None:
    pool: "IdlePool[Pipe]" = IdlePool(4)
    pipes = [Pipe(), Pipe()]
    for pipe in pipes:
        pool.put(pipe)
    assert pool.drain() == pipes and len(pool) == 0
    for pipe in pipes:
        pipe.shut()


def _in_child(pool: "IdlePool[Pipe]", fork: Any) -> Tuple[bool, bool]:
    """Fork with ``fork``; the child takes from the pool and reports
    (whether it got a connection, whether it put one back)."""
    reader, writer = os.pipe()
    pid = fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            got = pool.take() is not None
            kept = pool.put(Pipe())
            os.write(writer, bytes([got, kept]))
        finally:
            os._exit(0)
    os.close(writer)
    report = os.read(reader, 2)
    os.close(reader)
    os.waitpid(pid, 0)
    return bool(report[0]), bool(report[1])


@pytest.mark.parametrize(
    "fork",
    [
        pytest.param(os.fork, id="os.fork (the at-fork hook, 3.7+)"),
        # libc's fork() runs no Python at-fork hook: the pid check must catch it
        pytest.param(lambda: ctypes.CDLL(None).fork(), id="libc fork (the pid check)"),
    ],
)
def test_a_forked_child_never_uses_an_inherited_connection(fork: Any) -> None:
    if sys.platform != "linux":  # pragma: no cover
        pytest.fail("this test forks with Linux's libc")
    pool: "IdlePool[Pipe]" = IdlePool(4)
    pipe = Pipe()
    pool.put(pipe)
    got, kept = _in_child(pool, fork)
    assert (got, kept) == (False, True)  # nothing inherited; its own connections are kept
    # the parent's connection is untouched by the child: still open, still quiet, still working
    assert not pipe.dropped() and pool.take() is pipe
    pipe.peer.sendall(b"ping")
    assert pipe.sock.recv(4) == b"ping"
    pipe.shut()


# -- host names reach the resolver without the idna codec ------------------------------


def test_ascii_host_gives_an_ascii_name_as_its_bytes_and_encodes_an_idn() -> None:
    assert ascii_host("hooks.slack.com") == b"hooks.slack.com"
    assert ascii_host("127.0.0.1") == b"127.0.0.1" and ascii_host("::1") == b"::1"
    assert ascii_host("a" * 64 + ".example") == b"a" * 64 + b".example"  # the resolver says no
    assert ascii_host("bücher.example") == "bücher.example".encode("idna") == b"xn--bcher-kva.example"


def test_an_idn_the_codec_refuses_is_a_resolver_error() -> None:
    with pytest.raises(socket.gaierror, match="not a valid host name"):
        ascii_host("bücher" + "ü" * 70 + ".example")


@pytest.mark.parametrize("tls", [False, True])
def test_a_send_over_http_and_over_tls_loads_no_idna_codec(request: Any, tls: bool) -> None:
    # A fresh interpreter: the codec (with stringprep and unicodedata) was 5.8 M instructions
    # of a cold alert, loaded by getaddrinfo and by ssl for a str host name. (3.6 hands ssl
    # the str: its hostname check would read a bytes name as a packed address.)
    import kstalerts

    server = request.getfixturevalue("slack_tls_server" if tls else "slack_server")
    bundle = request.getfixturevalue("tls_files").ca_path if tls else None
    root = os.path.dirname(os.path.dirname(os.path.abspath(kstalerts.__file__)))
    probe = (
        "import sys\n"
        f"sys.path.insert(0, {root!r})\n"
        "from kstalerts.net.http import HTTPClient\n"
        f"client = HTTPClient(sys.argv[1], proxy='', ssl_ca_bundle={bundle!r})\n"
        "print(client.post(b'{}', headers={'Content-Type': 'application/json'}, timeout=10).status)\n"
        "print(sorted(m for m in sys.modules if m in ('encodings.idna', 'stringprep')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", probe, server.url()],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    loaded = "['encodings.idna', 'stringprep']" if tls and sys.version_info < (3, 7) else "[]"
    assert out.stdout.split("\n")[:2] == ["200", loaded]
