"""A private rsyslog (the Debian package) on free 127.0.0.1 ports and a private unix socket.

``rsyslog`` (module scope) starts ``rsyslogd -n -f conf -i pidfile`` with a
config, work directory, socket and certificates (from ``trustme``) of its
own: imuxsock on ``log.sock``, imudp, imtcp, and imtcp with the gtls driver
(TLS, anonymous client). Every message it receives is written to a file as
one ``%jsonmesg%`` line (rsyslog's parsed view: severity, app-name,
structured-data, msg, rawmsg, inputname), which :meth:`Rsyslog.received`
reads back. Missing rsyslog (or its gtls module) skips, or fails under CI.
"""

import glob
import json
import os
import pathlib
import shutil
import socket
import subprocess
import time
from typing import Any, Dict, Iterator, List, NamedTuple

import pytest

from tests.servers._ports import free_port as _free_port
from tests.servers._ports import listening as _listening
from tests.servers._require import unavailable

_GTLS = "/usr/lib/*/rsyslog/lmnsd_gtls.so"  # rsyslog-gnutls, under the multiarch directory


class Rsyslog(NamedTuple):
    """A running rsyslogd and where it listens."""

    directory: pathlib.Path
    socket_path: str
    udp_port: int
    tcp_port: int
    tls_port: int
    ca_path: str
    process: "subprocess.Popen[bytes]"

    def received(self, marker: str, count: int = 1, wait: float = 10.0) -> List[Dict[str, Any]]:
        """The messages whose raw text holds ``marker``, once ``count`` of them arrived (or ``wait`` passed)."""
        out = self.directory / "out.log"
        deadline = time.monotonic() + wait
        while True:
            found = []
            if out.exists():
                text = out.read_text(encoding="utf-8", errors="replace")
                for line in text.split("\n")[:-1]:  # complete lines: rsyslog may be writing the last
                    if marker in line:
                        found.append(json.loads(line))
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def _udp_ready(server: Rsyslog) -> bool:
    """imudp binds after imtcp may: a probe datagram must come out in the log."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"<14>1 - - probe - - - udp-ready-probe", ("127.0.0.1", server.udp_port))
    return bool(server.received("udp-ready-probe", wait=0.5))


_CONF = """\
global(workDirectory="{d}" maxMessageSize="64k"
  DefaultNetstreamDriverCAFile="{d}/ca.pem" DefaultNetstreamDriverCertFile="{d}/cert.pem"
  DefaultNetstreamDriverKeyFile="{d}/key.pem")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{d}/log.sock" UseSpecialParser="off" ParseHostname="on")
module(load="imudp")
input(type="imudp" name="udp" address="127.0.0.1" port="{udp}")
module(load="imtcp")
input(type="imtcp" name="tcp" address="127.0.0.1" port="{tcp}")
input(type="imtcp" name="tls" address="127.0.0.1" port="{tls}"
  streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
template(name="j" type="string" string="%jsonmesg%\\n")
*.* action(type="omfile" file="{d}/out.log" template="j")
"""


def start_rsyslog(directory: pathlib.Path) -> Rsyslog:
    binary = shutil.which("rsyslogd") or (
        "/usr/sbin/rsyslogd" if os.path.exists("/usr/sbin/rsyslogd") else None
    )
    if binary is None:
        unavailable("rsyslog is not installed (apt-get install rsyslog rsyslog-gnutls)")
    if not glob.glob(_GTLS):
        unavailable("rsyslog-gnutls is not installed (apt-get install rsyslog-gnutls)")
    try:
        import trustme
    except ImportError:
        unavailable("trustme is not installed (pip install -e '.[test]')")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    cert.cert_chain_pems[0].write_to_path(str(directory / "cert.pem"))
    cert.private_key_pem.write_to_path(str(directory / "key.pem"))
    errors = []
    for attempt in range(3):
        udp, tcp, tls = _free_port(socket.SOCK_DGRAM), _free_port(), _free_port()
        (directory / "conf").write_text(_CONF.format(d=directory, udp=udp, tcp=tcp, tls=tls))
        log = open(directory / f"rsyslogd-{attempt}.err", "wb")
        process = subprocess.Popen(
            [binary, "-n", "-f", str(directory / "conf"), "-i", str(directory / "pid")],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        server = Rsyslog(
            directory, str(directory / "log.sock"), udp, tcp, tls, str(directory / "ca.pem"), process
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and process.poll() is None:
            if (
                _listening(tcp)
                and _listening(tls)
                and os.path.exists(server.socket_path)
                and _udp_ready(server)
            ):
                return server
            time.sleep(0.05)
        server.stop()
        errors.append((directory / f"rsyslogd-{attempt}.err").read_text(errors="replace")[-500:])
    unavailable(f"rsyslogd did not start: {errors[-1]}")


@pytest.fixture(scope="module")
def rsyslog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rsyslog]:
    # A short path: a unix socket's path is limited to 107 bytes.
    directory = pathlib.Path(tmp_path_factory.mktemp("rsl"))
    server = start_rsyslog(directory)
    yield server
    server.stop()
