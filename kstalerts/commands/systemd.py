"""``kstalerts unit-failed UNIT``: the alert a systemd ``OnFailure=`` unit sends.

It names the failed unit, its result (``systemctl show -p Result,ExecMainStatus``)
and the last lines of its journal (``journalctl -u UNIT -n N``), and says so
when either tool is missing or fails, so the alert goes out anyway.

Rules: every read is bounded, in time (:data:`_TOOL_TIMEOUT`) and in bytes
(:data:`_MAX_READ`); the unit name is checked before it reaches a command
line; no shell. Exit codes as ``send``: 0 delivered, 1 not, 2 config error.
"""

import argparse
import os
import re
import shutil
import subprocess
import time

from .._typing import Any, Callable, Dict, List, Optional, TextIO, Tuple

__all__ = ()  # the command line registers setup(); nothing here is the public API

_TOOL_TIMEOUT = 10.0  # seconds systemctl or journalctl may take
_MAX_READ = 65536  # bytes read from either
_UNIT_NAME = re.compile(r"[A-Za-z0-9:_.\\@-]{1,255}")
_MAX_LINES = 1000


# The texts of its --help: the line in 'kstalerts --help', the description, the epilog.
_SUMMARY = "alert that a systemd unit failed (for OnFailure=), with its journal tail"
_DESCRIPTION = (
    "Send one alert naming a failed systemd unit, its result and exit status (systemctl show)"
    " and the last lines of its journal (journalctl), for kstalerts-onfailure@.service"
    " (OnFailure=kstalerts-onfailure@%%n.service). A missing systemctl or journalctl is said"
    " in the alert, which is sent anyway."
)
_EPILOG = (
    "example (examples/systemd/kstalerts-onfailure@.service):\n"
    "  ExecStart=/opt/alerts/bin/kstalerts unit-failed --lines 30 %i"
)


def setup(add: Callable[..., argparse.ArgumentParser]) -> None:
    parser = add("unit-failed", _run_unit_failed, _SUMMARY, _DESCRIPTION, _EPILOG)
    parser.add_argument("unit", metavar="UNIT", help="the failed unit (backup.service)")
    parser.add_argument("--lines", type=int, default=30, metavar="N", help="journal lines (default: 30)")
    parser.add_argument("--level", default="critical", help="the alert's level (default: critical)")
    parser.add_argument("--channel", metavar="KEY", help="alert this channel only (key, alias or name)")
    parser.add_argument("--config", metavar="PATH", help="config file (default: discovered)")
    parser.add_argument("--preset", metavar="NAME", help="config preset to apply")


def _bounded(argv: List[str]) -> Tuple[Optional[int], str]:
    """(exit code or None when it did not finish, at most _MAX_READ bytes of stdout as text)."""
    import selectors

    try:  # stderr too: "insufficient permissions" is worth reading in the alert
        proc = subprocess.Popen(  # noqa: S603  (a fixed tool, a checked unit name, no shell)
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
    except OSError as exc:
        return -1, f"could not start {argv[0]}: {exc.strerror}"
    assert proc.stdout is not None
    deadline = time.monotonic() + _TOOL_TIMEOUT
    data = b""
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while len(data) < _MAX_READ:
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                break
            chunk = os.read(proc.stdout.fileno(), _MAX_READ - len(data))
            if not chunk:
                break
            data += chunk
    proc.stdout.close()
    try:
        code: Optional[int] = proc.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        code = None
    return code, data.decode("utf-8", "replace")


def _result(unit: str) -> Tuple[str, Dict[str, str]]:
    """(how the unit ended, in words; the properties systemctl gave)."""
    systemctl = shutil.which("systemctl")
    if systemctl is None:
        return "unknown (systemctl not found)", {}
    code, text = _bounded([systemctl, "show", "-p", "Result", "-p", "ExecMainStatus", "--", unit])
    if code != 0:
        return f"unknown (systemctl show {'timed out' if code is None else f'exited {code}'})", {}
    props = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    result = props.get("Result") or "unknown"
    status = props.get("ExecMainStatus")
    return (f"{result}, exit status {status}" if status not in (None, "", "0") else result), props


def _journal(unit: str, lines: int) -> str:
    journalctl = shutil.which("journalctl")
    if journalctl is None:
        return "(journalctl not found: no journal lines)"
    code, text = _bounded([journalctl, "-u", unit, "-n", str(lines), "--no-pager"])
    if code is None:
        return f"(journalctl did not finish in {_TOOL_TIMEOUT:g} s)\n{text}".rstrip()
    if code != 0:
        return f"(journalctl exited {code})\n{text}".rstrip()
    return text.rstrip() or "(the journal has no lines for this unit)"


def unit_alert(unit: str, lines: int = 30, level: str = "critical") -> Any:
    """The :class:`~kstalerts.AlertMessage` for a failed ``unit`` (see the module docstring)."""
    from ..models import AlertLevel, AlertMessage

    if not _UNIT_NAME.fullmatch(unit) or unit.startswith("-"):
        from ..exceptions import AlertConfigurationError

        raise AlertConfigurationError(f"not a systemd unit name: {unit!r}")
    lines = max(1, min(lines, _MAX_LINES))
    result, _ = _result(unit)
    host = (os.uname().nodename if hasattr(os, "uname") else "") or "localhost"
    journal = _journal(unit, lines)
    body = f"unit: {unit}\nhost: {host}\nresult: {result}\n\nlast {lines} journal lines:\n{journal}"
    return AlertMessage(
        f"{unit} failed on {host} ({result})",
        body,
        AlertLevel.parse(level),
        labels={"unit": unit, "host": host, "result": result.split(",")[0]},
    )


def _run_unit_failed(args: argparse.Namespace, out: TextIO, stdin: TextIO) -> int:
    from ..manager import AlertManager

    alert = unit_alert(args.unit, args.lines, args.level)
    with AlertManager.from_config(args.config, preset=args.preset) as manager:
        results = manager.send(alert, channel=args.channel)
    for result in results:
        out.write(f"{result}\n")
    return 0 if results and all(r.outcome.meaning.ok for r in results) else 1
