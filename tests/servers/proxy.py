"""A private tinyproxy on a free 127.0.0.1 port, configured in tmp_path.

``start_tinyproxy(*connect_ports)`` starts one that allows ``CONNECT`` only
to those ports (tinyproxy's ``ConnectPort``) and returns a :class:`TinyProxy`
whose log tells which requests went through it. A test that needs it is
skipped, with the reason printed, only when tinyproxy is not installed or
cannot be started at all.
"""

import pathlib
import shutil
import subprocess
import time
from typing import Callable, Iterator, List, NamedTuple, Tuple

import pytest

from tests.servers._ports import free_port as _free_port
from tests.servers._ports import listening as _listening
from tests.servers._require import unavailable


class TinyProxy(NamedTuple):
    """A running tinyproxy: its URL and its log."""

    url: str
    port: int
    log_path: pathlib.Path
    process: "subprocess.Popen[bytes]"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def requests(self) -> List[str]:
        """The request lines tinyproxy logged (``CONNECT host:port HTTP/1.1``, ...)."""
        lines = []
        for line in self.log().splitlines():
            _, sep, rest = line.partition("Request (file descriptor ")
            if sep:
                lines.append(rest.split("): ", 1)[1])
        return lines

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def _start(directory: pathlib.Path, connect_ports: Tuple[int, ...]) -> TinyProxy:
    binary = shutil.which("tinyproxy") or next(
        (p for p in ("/usr/bin/tinyproxy", "/usr/sbin/tinyproxy") if pathlib.Path(p).exists()), None
    )
    if binary is None:
        unavailable("tinyproxy is not installed (apt-get install tinyproxy)")
    errors = []
    for attempt in range(3):
        port = _free_port()
        log_path = directory / f"tinyproxy-{attempt}.log"
        config = directory / f"tinyproxy-{attempt}.conf"
        lines = [
            f"Port {port}",
            "Listen 127.0.0.1",
            "Timeout 30",
            f'LogFile "{log_path}"',
            "LogLevel Info",
            f'PidFile "{directory}/tinyproxy-{attempt}.pid"',
            "MaxClients 20",
            "Allow 127.0.0.1",
        ]
        lines += [f"ConnectPort {p}" for p in connect_ports]
        config.write_text("\n".join(lines) + "\n")
        process = subprocess.Popen(
            [binary, "-d", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        proxy = TinyProxy(f"http://127.0.0.1:{port}", port, log_path, process)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and process.poll() is None:
            if _listening(port):
                return proxy
            time.sleep(0.05)
        proxy.stop()
        stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
        errors.append(f"exit {process.returncode}: {stderr.strip()[-300:]} {proxy.log()[-300:]}")
    reason = "tinyproxy could not be started: " + " | ".join(errors)
    unavailable(reason)


@pytest.fixture
def start_tinyproxy(tmp_path: pathlib.Path) -> Iterator[Callable[..., TinyProxy]]:
    """A factory: ``start_tinyproxy(port, ...)`` allows CONNECT to those ports."""
    started: List[TinyProxy] = []

    def start(*connect_ports: int) -> TinyProxy:
        proxy = _start(tmp_path, connect_ports)
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()
        if proxy.process.stderr is not None:
            proxy.process.stderr.close()
