"""CommandChannel (``type: exec``): hand each alert to a command.

The command is an argv list, run without a shell, in a session of its own
(its own process group); it gets the alert as JSON on stdin
(:func:`kstalerts.channels.webhook.default_payload`, plus ``channel``,
``state`` and, with a digest, ``held_back``) and as ``KSTALERTS_*``
environment variables (``TITLE``, ``BODY``, ``LEVEL``, ``STATE``, ``CHANNEL``, ``DEDUP_KEY``, ``CREATED_AT``,
``LABELS`` as JSON, ``HELD_BACK``). For ``mail(1)``, ``logger(1)``,
``wall(1)`` and site scripts.

Its exit status is the outcome: 0 delivered, 75 (``EX_TEMPFAIL``) a
retryable failure, anything else a permanent one. At the attempt's timeout
the whole process group is killed (SIGKILL) and the attempt is a retryable
failure.

Rules: the argv never goes through a shell, and the alert only reaches the
command as data (stdin, environment), never as an argument; the command's
output is read in bounded memory and only its last lines are kept, for the
error; an environment value is cut to ``ENV_VALUE_CHARS`` (stdin has it whole).
"""

import json
import os
import selectors
import signal
import subprocess
import time

from .._tail import TailBuffer
from .._typing import Any, Dict, Optional, Sequence, Tuple
from ..exceptions import AlertConfigurationError, AlertDeliveryError
from ..models import AlertMessage
from ..pipeline.notification import Notification
from ._options import Option
from .base import AlertChannel

__all__ = ()

EX_TEMPFAIL = 75
#: Characters of one ``KSTALERTS_*`` value (Linux caps one at 128 KiB).
ENV_VALUE_CHARS = 32768
#: What is kept of the command's output for the error.
OUTPUT_LINES = 10
OUTPUT_BYTES = 2048
_CHUNK = 65536


class CommandChannel(AlertChannel):
    """Run ``command`` (an argv list) for each alert.

    - ``command``: the program and its arguments, e.g. ``["logger", "-t", "alerts"]``.
    - ``env``: extra environment variables (the process's own are kept).
    - ``cwd``: the working directory (default: the current one).
    """

    kind = "exec"
    options = (
        Option("command", "any", "the argv list to run (never through a shell)", required=True),
        Option("env", "mapping", "extra environment variables", what="a mapping of names to strings"),
        Option("cwd", "text", "the working directory"),
    )

    def __init__(
        self,
        command: Sequence[str],
        *,
        env: Optional[Dict[str, str]] = None,
        cwd: Optional[str] = None,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        if isinstance(command, (str, bytes)) or not isinstance(command, Sequence) or not command:
            raise AlertConfigurationError(
                "exec: command must be a non-empty list of strings (the argv; no shell)", key="command"
            )
        if not all(isinstance(part, str) and "\0" not in part for part in command):
            raise AlertConfigurationError(
                "exec: command must be a list of strings without NUL", key="command"
            )
        if env is not None and not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
            raise AlertConfigurationError("exec: env must map names to strings", key="env")
        self.command = tuple(command)
        self.env = dict(env or {})
        self.cwd = cwd

    # -- formatting -------------------------------------------------------
    def render(self, notification: Notification) -> Dict[str, Any]:
        """The JSON the command reads on stdin; override to change it."""
        from .webhook import default_payload  # the one JSON form of an alert

        alert, held_back = notification.alert, notification.held_back
        payload = default_payload(alert)
        payload["channel"] = self.name
        payload["state"] = notification.state
        if held_back is not None:
            payload["held_back"] = {"total": held_back.total, "text": held_back.text(8000)}
        return payload

    def build_env(self, payload: Dict[str, Any]) -> Dict[str, str]:
        """The ``KSTALERTS_*`` variables for a payload made by :meth:`render`."""
        held = payload.get("held_back")
        values = {
            "TITLE": payload["title"],
            "BODY": payload["body"],
            "LEVEL": payload["level"],
            "CHANNEL": payload["channel"],
            "STATE": payload.get("state", "firing"),
            "DEDUP_KEY": payload["dedup_key"] or "",
            "CREATED_AT": f"{payload['created_at']:.3f}",
            "LABELS": json.dumps(payload["labels"], ensure_ascii=False),
            "HELD_BACK": held["text"] if held else "",
        }
        return {f"KSTALERTS_{k}": _env_value(v) for k, v in values.items()}

    def preview(self, alert: AlertMessage) -> str:
        stdin = json.dumps(self.render(Notification(alert)), indent=2, ensure_ascii=False)
        return f"exec {list(self.command)!r}\n{stdin}"

    # -- delivery ---------------------------------------------------------
    def _transmit(self, notification: Notification, *, timeout: float) -> None:
        payload = self.render(notification)
        env = dict(os.environ)
        env.update(self.env)
        env.update(self.build_env(payload))
        stdin = json.dumps(payload, ensure_ascii=False).encode("utf-8") + b"\n"
        returncode, timed_out, tail = _run(self.command, stdin, env, self.cwd, timeout)
        said = " | ".join(line.strip() for line in tail.text().splitlines() if line.strip())
        said = f": {said}" if said else ""  # the last lines of its output, on one line
        if timed_out:
            raise AlertDeliveryError(
                f"exec: {self.command[0]} did not finish in {timeout:g}s and was killed{said}", retryable=True
            )
        if returncode == 0:
            return None
        if returncode < 0:
            raise AlertDeliveryError(f"exec: {self.command[0]} was killed by signal {-returncode}{said}")
        raise AlertDeliveryError(
            f"exec: {self.command[0]} exited with {returncode}{said}", retryable=returncode == EX_TEMPFAIL
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, command={self.command[0]!r})"


def _env_value(value: str) -> str:
    value = value.replace("\0", "\ufffd")
    return value if len(value) <= ENV_VALUE_CHARS else value[: ENV_VALUE_CHARS - 1] + "\u2026"


def _run(
    argv: Sequence[str], stdin: bytes, env: Dict[str, str], cwd: Optional[str], timeout: float
) -> Tuple[int, bool, TailBuffer]:
    """Run ``argv`` with ``stdin``; ``(returncode, timed_out, tail)`` within ``timeout`` seconds."""
    tail = TailBuffer(max_lines=OUTPUT_LINES, line_bytes=OUTPUT_BYTES, total_bytes=OUTPUT_BYTES)
    try:
        proc = subprocess.Popen(  # noqa: S603 (an argv list, never a shell)
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )
    except OSError as exc:
        why = os.strerror(exc.errno) if exc.errno else type(exc).__name__
        raise AlertDeliveryError(f"exec: cannot run {argv[0]}: {why}") from None
    assert proc.stdin is not None and proc.stdout is not None
    deadline = time.monotonic() + timeout
    pending = memoryview(stdin)
    selector = selectors.DefaultSelector()
    os.set_blocking(proc.stdin.fileno(), False)
    os.set_blocking(proc.stdout.fileno(), False)
    selector.register(proc.stdout.fileno(), selectors.EVENT_READ, "out")
    selector.register(proc.stdin.fileno(), selectors.EVENT_WRITE, "in")
    timed_out = False
    try:
        open_out = True
        while open_out:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            for key, _ in selector.select(left):
                if key.data == "in":
                    try:
                        pending = pending[os.write(key.fd, pending[:_CHUNK]) :]
                    except BlockingIOError:
                        continue
                    except BrokenPipeError:  # it does not read its stdin: no matter
                        pending = pending[:0]
                    if not pending:
                        selector.unregister(key.fd)
                        proc.stdin.close()
                    continue
                data = os.read(key.fd, _CHUNK)
                if not data:
                    selector.unregister(key.fd)
                    open_out = False
                else:
                    tail.feed(data, "out")
        if not timed_out:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                timed_out = True
    finally:
        selector.close()
        if timed_out:
            _kill_group(proc.pid)
        for pipe in (proc.stdin, proc.stdout):
            try:
                pipe.close()
            except OSError:
                pass
        returncode = proc.wait()  # after SIGKILL: at once
    return returncode, timed_out, tail


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:  # gone already
        pass
