"""Real Prometheus Alertmanager processes on loopback, for the Alertmanager channel tests.

Starts the Debian ``prometheus-alertmanager`` binary with a config written to
a temporary directory, free ports for the web and cluster listeners, and its
storage in the same directory; waits for ``/-/ready``; stops it cleanly.
Alerts are read back through Alertmanager's own API (``GET /api/v2/alerts``)
with ``urllib``, never through the code under test.

When the binary is missing the fixtures skip, saying why (``.ci/run``
installs it). ``KSTALERTS_ALERTMANAGER`` may point at another binary.
"""

import base64
import json
import os
import pathlib
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from typing import Any, Dict, Iterator, List, Optional, Sequence

import pytest

from tests.servers._require import unavailable

__all__ = ("AlertmanagerProcess", "AM_USER", "AM_PASSWORD")

AM_USER = "kstalerts"
AM_PASSWORD = "am-test-password"
# bcrypt (cost 4, fast) of AM_PASSWORD, for --web.config.file basic auth.
_AM_PASSWORD_BCRYPT = "$2b$04$EQTuwaUd9Oyhp5Kxa6UgquHxIcZKCx5Mqp/DOio18SJ1BqjwIVe1m"

_CONFIG = """\
route:
  receiver: blackhole
  group_wait: 1h
receivers:
  - name: blackhole
"""


def _binary() -> Optional[str]:
    explicit = os.environ.get("KSTALERTS_ALERTMANAGER")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for candidate in ("prometheus-alertmanager", "alertmanager"):
        found = shutil.which(candidate)
        if found:
            return found
    fallback = "/usr/bin/prometheus-alertmanager"
    return fallback if os.access(fallback, os.X_OK) else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class AlertmanagerProcess:
    """One Alertmanager on 127.0.0.1; ``url`` is its base URL once started."""

    def __init__(
        self,
        binary: str,
        workdir: pathlib.Path,
        *,
        cluster: bool = False,
        peers: Sequence[str] = (),
        basic_auth: bool = False,
    ) -> None:
        self.binary = binary
        self.workdir = workdir
        self.cluster = cluster
        self.peers = list(peers)
        self.basic_auth = basic_auth
        self.port = 0
        self.cluster_port = 0
        self._proc: Optional[subprocess.Popen[bytes]] = None
        self._log = workdir / "alertmanager.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def cluster_address(self) -> str:
        return f"127.0.0.1:{self.cluster_port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, *, timeout: float = 20.0) -> None:
        """Start on free ports and wait until ``/-/ready`` answers 200."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "alertmanager.yml"
        config.write_text(_CONFIG)
        last_error = ""
        for _ in range(3):  # a free port can be taken between probe and bind
            self.port = _free_port()
            args = [
                self.binary,
                f"--config.file={config}",
                f"--storage.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ]
            if self.cluster:
                self.cluster_port = _free_port()
                args += [
                    f"--cluster.listen-address=127.0.0.1:{self.cluster_port}",
                    f"--cluster.advertise-address=127.0.0.1:{self.cluster_port}",
                    "--cluster.settle-timeout=1s",
                ]
                args += [f"--cluster.peer={peer}" for peer in self.peers]
            else:
                args.append("--cluster.listen-address=")
            if self.basic_auth:
                web = self.workdir / "web.yml"
                web.write_text(f"basic_auth_users:\n  {AM_USER}: '{_AM_PASSWORD_BCRYPT}'\n")
                args.append(f"--web.config.file={web}")
            with open(self._log, "ab") as log:
                self._proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
            try:
                self._wait_ready(timeout)
                return
            except RuntimeError as exc:
                last_error = str(exc)
                self.stop()
        raise RuntimeError(f"Alertmanager did not start: {last_error}")

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise RuntimeError(f"exited with {self._proc.returncode}: {self.log_tail()}")
            try:
                with urllib.request.urlopen(self._request("/-/ready"), timeout=1.0) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"not ready after {timeout}s: {self.log_tail()}")

    def stop(self) -> None:
        """Stop with SIGTERM (SIGKILL after 10 s) and reap the process."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self._log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # -- reading back, through Alertmanager's own API ------------------------
    def _request(self, path: str) -> urllib.request.Request:
        request = urllib.request.Request(self.url + path)
        if self.basic_auth:
            token = base64.b64encode(f"{AM_USER}:{AM_PASSWORD}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        return request

    def _get(self, path: str) -> Any:
        with urllib.request.urlopen(self._request(path), timeout=5.0) as resp:
            return json.loads(resp.read())

    def alerts(self, **labels: str) -> List[Dict[str, Any]]:
        """``GET /api/v2/alerts`` filtered by label equality matchers."""
        query = urllib.parse.urlencode([("filter", f'{k}="{v}"') for k, v in labels.items()])
        return list(self._get("/api/v2/alerts" + (f"?{query}" if query else "")))

    def status(self) -> Dict[str, Any]:
        return dict(self._get("/api/v2/status"))


@pytest.fixture(scope="session")
def alertmanager_binary() -> str:
    """Path of the Alertmanager binary; skips (saying why) when there is none."""
    binary = _binary()
    if binary is None:
        reason = (
            "prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager;"
            " .ci/run installs it); Alertmanager server tests skipped"
        )
        unavailable(reason)
    return binary


@pytest.fixture(scope="session")
def alertmanager(
    alertmanager_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AlertmanagerProcess]:
    """One standalone Alertmanager for the whole session."""
    proc = AlertmanagerProcess(alertmanager_binary, tmp_path_factory.mktemp("am-single"))
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def alertmanager_basic_auth(
    alertmanager_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AlertmanagerProcess]:
    """An Alertmanager whose API requires basic auth (``AM_USER``/``AM_PASSWORD``)."""
    proc = AlertmanagerProcess(alertmanager_binary, tmp_path_factory.mktemp("am-auth"), basic_auth=True)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def alertmanager_cluster(
    alertmanager_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[List[AlertmanagerProcess]]:
    """Two Alertmanagers gossiping as one HA cluster (the second joins the first).

    Fresh for each test (tests stop members); starting one takes ~50 ms.
    """
    first = AlertmanagerProcess(alertmanager_binary, tmp_path_factory.mktemp("am-peer0"), cluster=True)
    first.start()
    second = AlertmanagerProcess(
        alertmanager_binary, tmp_path_factory.mktemp("am-peer1"), cluster=True, peers=[first.cluster_address]
    )
    try:
        second.start()
        yield [first, second]
    finally:
        second.stop()
        first.stop()
