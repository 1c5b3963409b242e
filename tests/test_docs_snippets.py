"""Every documented line runs: each ``python`` and ``sh`` block of README.md
and docs/*.md, run as a user would paste it, in a sandbox of loopback servers.

The convention (docs/design.md, "Documentation that runs"):

- A block runs as written, in a fresh child process (``python -`` for
  ``python``, ``bash -e -o pipefail`` for ``sh``), in an empty folder
  holding the sandbox's ``kstlib.conf.yml``, with ``kstalerts``, ``python``
  and ``python3`` on ``PATH`` (this checkout).
- Real service URLs stay in the docs. The child's ``HTTPS_PROXY`` and
  ``HTTP_PROXY`` point at a loopback proxy that takes every request, for
  any host, to a loopback Slack-compatible sink (over TLS for ``https://``,
  with a test CA named by ``SSL_CERT_FILE``); nothing in kstalerts is
  replaced. SMTP hosts are not reachable: an email send fails as it would
  with no relay, and the snippet goes on (send never raises).
- The environment variables the docs read hold fake values
  (``SLACK_WEBHOOK_URL``, ``SMTP_PASSWORD``, ``RESEND_API_KEY``, ...).
- An HTML comment right before a block says what differs, visibly:
  ``<!-- docs:skip (why) -->`` for a block not meant to run (a signature,
  a unit file, a command that needs root); ``<!-- docs:may-fail (why) -->``
  for a command that exits non-zero by design (a job that does not exist
  here): it must still not crash (no traceback, no signal).
  ``<!-- command:... -->`` (tests/test_readme.py), ``<!-- route:... -->``
  (.ci/install_routes.py) and ``<!-- example: NAME FILE -->`` (a multi-file
  example, tests/test_own_channel.py) blocks are run by their own harness.
"""

import os
import pathlib
import re
import select
import socket
import ssl
import subprocess
import sys
import threading
from typing import Any, Dict, Iterator, List, NamedTuple

import pytest

from kstalerts.net.loopback import HTTPSink

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUN_ELSEWHERE = ("command:", "route:", "example:")
_BLOCK = re.compile(r"^```(python|sh)\n(.*?)^```", re.S | re.M)
_MARK = re.compile(r"<!--\s*((?:docs:[\w-]+|command:|route:|example:)[^>]*?)\s*-->\s*$")
HOSTS = [
    "hooks.slack.com", "*.slack.com", "api.resend.com", "events.pagerduty.com", "example.com",
    "*.example.com", "*.example", "discord.com", "*.webhook.office.com", "outlook.office.com",
]


class Block(NamedTuple):
    page: str
    line: int
    language: str
    code: str
    mark: str  # "" or the marker's text

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def blocks() -> List[Block]:
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in _BLOCK.finditer(text):
            before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
            mark = _MARK.search(before)
            line = text.count("\n", 0, match.start()) + 1
            found.append(
                Block(str(page.relative_to(ROOT)), line, match.group(1), match.group(2), mark.group(1) if mark else "")
            )
    return found


ALL = blocks()
TO_RUN = [b for b in ALL if not b.mark.startswith(("docs:skip", *RUN_ELSEWHERE))]


# -- the sandbox ------------------------------------------------------------


def _pump(a: socket.socket, b: socket.socket) -> None:
    try:
        while True:
            ready, _, _ = select.select([a, b], [], [], 30)
            if not ready:
                return
            for source in ready:
                data = source.recv(65536)
                if not data:
                    return
                (b if source is a else a).sendall(data)
    except OSError:
        pass
    finally:
        a.close()
        b.close()


class Proxy:
    """Every request, to any host: CONNECT to the TLS sink, plain HTTP to the plain sink."""

    def __init__(self, tls_port: int, plain_port: int) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(32)
        self.listener.settimeout(0.2)
        self.tls_port, self.plain_port = tls_port, plain_port
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(30)
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                conn.close()
                return
            head += chunk
        if head.startswith(b"CONNECT "):
            upstream = socket.create_connection(("127.0.0.1", self.tls_port))
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            rest = head.split(b"\r\n\r\n", 1)[1]
        else:  # absolute-form request: the sink reads the path after the host
            upstream = socket.create_connection(("127.0.0.1", self.plain_port))
            rest = re.sub(rb"^(\w+) https?://[^/\s]+", rb"\1 ", head, count=1)
        if rest:
            upstream.sendall(rest)
        _pump(conn, upstream)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.listener.close()


class Sandbox(NamedTuple):
    env: Dict[str, str]
    config: str
    tls: HTTPSink
    plain: HTTPSink


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    trustme = pytest.importorskip("trustme")
    home = tmp_path_factory.mktemp("docs-sandbox")
    ca = trustme.CA()
    cert = ca.issue_cert(*HOSTS)
    ca_file = home / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(server_context)
    bindir = home / "bin"
    bindir.mkdir()
    for name in ("python", "python3"):
        (bindir / name).symlink_to(sys.executable)
    script = bindir / "kstalerts"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m kstalerts "$@"\n')
    script.chmod(0o755)
    config = (
        "alerts:\n"
        "  channels:\n"
        "    timeout: 5\n"
        "    max_retries: 0\n"
        "    ops:\n"
        "      type: slack\n"
        "      webhook_url: https://hooks.slack.com/services/T000/B000/XXXX\n"
        "  presets:\n"
        "    dev:  {throttle: {rate: 100, per: 60.0, burst: 20}}\n"
        "    prod: {throttle: {rate: 10, per: 60.0, burst: 3}}\n"
    )
    with HTTPSink() as plain, HTTPSink() as tls:
        tls._server.socket = server_context.wrap_socket(tls._server.socket, server_side=True)
        proxy = Proxy(tls.port, plain.port)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KSTALERTS_", "PYTHON"))}
        env.update(
            HOME=str(home),
            PATH=f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            PYTHONPATH=str(ROOT),
            HTTPS_PROXY=proxy.url,
            HTTP_PROXY=proxy.url,
            NO_PROXY="",
            SSL_CERT_FILE=str(ca_file),
            CURL_CA_BUNDLE=str(ca_file),  # curl (in a wrapped job) trusts the sandbox too
            SLACK_WEBHOOK_URL="https://hooks.slack.com/services/T000/B000/XXXX",
            SMTP_PASSWORD="app-password",
            RESEND_API_KEY="re_123456789",
            PAGERDUTY_ROUTING_KEY="R0123456789ABCDEF0123456789ABCDE",
        )
        try:
            yield Sandbox(env, config, tls, plain)
        finally:
            proxy.close()


def run_block(block: Block, sandbox: Sandbox, where: pathlib.Path) -> "subprocess.CompletedProcess[str]":
    (where / "kstlib.conf.yml").write_text(sandbox.config)
    (where / "kstlib.conf.yml").chmod(0o600)
    if block.language == "python":
        argv = [sys.executable, "-"]
    elif block.mark.startswith("docs:may-fail"):
        argv = ["bash", "-s"]  # every line runs, whatever the one before returned
    else:
        argv = ["bash", "-e", "-o", "pipefail", "-s"]
    return subprocess.run(
        argv, input=block.code, cwd=str(where), env=sandbox.env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, universal_newlines=True, timeout=120,
    )


def _param(block: Block) -> Any:
    """A block that waits out retry delays (docs/run.md: two of 5 s) is marked slow: it starts first."""
    waits = "--retry-delay" in block.code
    return pytest.param(block, id=block.id, marks=[pytest.mark.slow(seconds=11)] if waits else [])


@pytest.mark.parametrize("block", [_param(b) for b in TO_RUN])
def test_documented_block_runs(block: Block, sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    done = run_block(block, sandbox, tmp_path)
    said = f"{block.id} ({block.language}) exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    assert "Traceback (most recent call last)" not in done.stderr, said
    if block.mark.startswith("docs:may-fail"):
        assert 0 <= done.returncode < 128, said
    else:
        assert done.returncode == 0, said


def test_every_marker_is_known_and_says_why() -> None:
    for block in ALL:
        if block.mark.startswith(("docs:skip", "docs:may-fail")):
            assert re.search(r"\(.+\)", block.mark), f"{block.id}: say why in parentheses: {block.mark}"
        elif block.mark:
            assert block.mark.startswith(RUN_ELSEWHERE), f"{block.id}: unknown marker {block.mark}"


def test_most_blocks_run_here() -> None:
    """The count the issue asks for; skips stay the exception."""
    skipped = [b for b in ALL if b.mark.startswith("docs:skip")]
    print(f"\ndocs blocks: {len(ALL)}, run here: {len(TO_RUN)}, run by their own harness:"
          f" {len(ALL) - len(TO_RUN) - len(skipped)}, skipped: {len(skipped)}")
    assert len(TO_RUN) >= 20
    assert len(skipped) <= len(TO_RUN) // 2


def test_the_sandbox_reaches_the_sink_through_the_real_https_path(sandbox: Sandbox, tmp_path: pathlib.Path) -> None:
    """Control: a Slack send to the real webhook host lands in the loopback TLS sink."""
    before = len(sandbox.tls.posts)
    block = Block("control", 0, "sh", 'kstalerts send --title "control" --body "from the sandbox"\n', "")
    done = run_block(block, sandbox, tmp_path)
    assert done.returncode == 0, done.stderr
    assert len(sandbox.tls.posts) == before + 1
    assert sandbox.tls.posts[-1].path == "/services/T000/B000/XXXX"
