"""Run a job, alert when it fails, resolve when it recovers: ``kstalerts run``.

:func:`run_job` runs a command directly (no shell), in its own process
group, passing its stdout and stderr through live (or, ``quiet``, keeping
them for a failure) while a :class:`~kstalerts._tail.TailBuffer` keeps the
last lines in bounded memory. It enforces a timeout (SIGTERM to the group,
SIGKILL after ``kill_after``), forwards SIGTERM, SIGINT and SIGHUP sent to
the wrapper to the job's group, retries a failed run, and serialises
overlapping runs with a lock.

What it decides, per run, from the job's state (:mod:`kstalerts._jobstate`):

- a failure (non-zero exit, killed, timed out, interrupted, could not start,
  or ``alert_after_skips`` runs skipped in a row) sends one alert at
  ``level``; while the job keeps failing, another at most once per
  ``realert`` seconds, counting the failures since the first;
- a success after failures sends one recovery alert (level ``SUCCESS`` where
  the levels have it) to the channels without a notion of "resolved", and a
  resolve of the alerts that fired to those that have one (Alertmanager's
  ``endsAt``, PagerDuty's ``resolve`` event, through the channel's own
  ``resolve()``);
- a success after success sends nothing.

Exit status, as coreutils ``timeout``: the job's own; ``128+N`` when it was
killed by signal N; 124 when it timed out; 126 when it is not executable;
127 when it is not found (125, a usage error of ``run`` itself, is the
command line's). Nothing about alerting changes it: a config that cannot be
read, a channel that fails, a state folder that cannot be written are said
on the ``notices`` stream (stderr) and the job's status is returned.
"""

import os
import selectors
import shlex
import signal
import subprocess
import threading
import time
from typing import IO, TYPE_CHECKING, Any, Dict, List, NamedTuple, Optional, Sequence, TextIO, Tuple, Union

from ._jobstate import JobLock, JobState, JobStateError, default_state_dir
from ._tail import TailBuffer
from .exceptions import AlertConfigurationError
from .limits import MAX_BODY_CHARS
from .models import AlertLevel, AlertMessage, AlertResult

if TYPE_CHECKING:
    from .manager import AlertManager

__all__ = ("run_job", "JobResult", "EXIT_TIMEOUT", "EXIT_RUN_ERROR", "EXIT_CANNOT_RUN", "EXIT_NOT_FOUND")

EXIT_TIMEOUT = 124
EXIT_RUN_ERROR = 125
EXIT_CANNOT_RUN = 126
EXIT_NOT_FOUND = 127

#: The signals the wrapper passes on to the job's process group.
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
#: Identity label of a job's failure alerts (Alertmanager groups and resolves by labels).
ALERTNAME = "JobFailed"
#: Distinct failure alerts remembered for resolving (a job failing in many ways).
_MAX_FIRING = 16
_READ_CHUNK = 65536
_POLL = 0.1  # seconds between checks of the clock and of signals
_DRAIN_AFTER_EXIT = 2.0  # seconds output is still read once the job's process has exited
_MAX_RETRIES = 100
_MAX_TAIL_LINES = 10000


class JobResult(NamedTuple):
    """What one :func:`run_job` did.

    ``status`` is one of ``ok``, ``failed``, ``killed``, ``timeout``,
    ``interrupted``, ``not_found``, ``not_executable``, ``could_not_start``,
    ``skipped``. ``exit_code`` is what the wrapper exits with;
    ``returncode`` the job's own (negative: killed by that signal), ``None``
    when it did not run. ``alerts`` holds one ``(kind, AlertMessage,
    results)`` per alert sent (kind: ``failure``, ``repeat``, ``recovery``,
    ``resolve``, ``stuck``).
    """

    name: str
    command: Tuple[str, ...]
    status: str
    exit_code: int
    returncode: Optional[int]
    started_at: float
    duration: float
    attempts: int
    tail: str
    alerts: Tuple[Tuple[str, AlertMessage, Tuple[AlertResult, ...]], ...]

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "skipped")

    @property
    def alerts_sent(self) -> int:
        """Alerts at least one channel accepted (or kept in the spool)."""
        return sum(1 for _, _, results in self.alerts if any(r.success or r.spooled for r in results))

    def to_dict(self) -> Dict[str, Any]:
        """The ``--json`` summary."""
        return {
            "job": self.name,
            "command": list(self.command),
            "status": self.status,
            "exit_code": self.exit_code,
            "returncode": self.returncode,
            "started_at": self.started_at,
            "duration": round(self.duration, 3),
            "attempts": self.attempts,
            "alerts_sent": self.alerts_sent,
            "alerts": [
                {
                    "kind": kind,
                    "title": alert.title,
                    "level": alert.level.name,
                    "results": [
                        {
                            "channel": r.channel,
                            "success": r.success,
                            "spooled": r.spooled,
                            "throttled": r.throttled,
                            "suppressed": r.suppressed,
                            "error": r.error,
                        }
                        for r in results
                    ],
                }
                for kind, alert, results in self.alerts
            ],
        }


class _Outcome(NamedTuple):
    status: str  # see JobResult.status
    returncode: Optional[int]
    exit_code: int
    what: str  # "exit 3", "timed out after 600 s", "killed by SIGKILL", ...


def _signame(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


# -- signals -------------------------------------------------------------------


class _Signals:
    """SIGTERM/SIGINT/SIGHUP handlers that pass the signal to the job's group.

    Installed only in the main thread (Python allows nothing else); a signal
    that comes before the job started is passed on as soon as it has.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.received: Optional[int] = None
        self.at = 0.0
        self.pgid: Optional[int] = None
        self._old: Dict[int, Any] = {}

    def __enter__(self) -> "_Signals":
        if self.enabled:
            for number in FORWARDED:
                self._old[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for number, old in self._old.items():
            signal.signal(number, old)
        self._old.clear()

    def _handle(self, number: int, frame: Any) -> None:
        if self.received is None:
            self.at = time.monotonic()
        self.received = number
        self.forward(number)

    def forward(self, number: int) -> None:
        if self.pgid is not None:
            try:
                os.killpg(self.pgid, number)
            except OSError:  # the group is gone already
                pass


# -- running the process -------------------------------------------------------


def _spawn(
    argv: Sequence[str], signals: _Signals
) -> Tuple[Optional["subprocess.Popen[bytes]"], Optional[_Outcome]]:
    try:
        proc = subprocess.Popen(  # noqa: S603  (the user's own command, no shell)
            list(argv),
            stdin=None,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            close_fds=True,
        )
    except FileNotFoundError as exc:
        return None, _Outcome("not_found", None, EXIT_NOT_FOUND, f"could not start: {exc.strerror}")
    except PermissionError as exc:
        return None, _Outcome("not_executable", None, EXIT_CANNOT_RUN, f"could not start: {exc.strerror}")
    except OSError as exc:
        return None, _Outcome(
            "could_not_start", None, EXIT_CANNOT_RUN, f"could not start: {exc.strerror or exc}"
        )
    signals.pgid = proc.pid
    if signals.received is not None:
        signals.forward(signals.received)
    return proc, None


def _run_once(
    argv: Sequence[str],
    tail: TailBuffer,
    *,
    timeout: Optional[float],
    kill_after: float,
    passthrough: Dict[str, Optional[IO[bytes]]],
    signals: _Signals,
) -> _Outcome:
    """Run ``argv`` once, pumping its output; how it ended."""
    proc, failed = _spawn(argv, signals)
    if failed is not None:
        return failed
    assert proc is not None and proc.stdout is not None and proc.stderr is not None
    started = time.monotonic()
    selector = selectors.DefaultSelector()
    for stream, pipe in (("stdout", proc.stdout), ("stderr", proc.stderr)):
        os.set_blocking(pipe.fileno(), False)
        selector.register(pipe.fileno(), selectors.EVENT_READ, stream)
    open_fds = 2
    timed_out_at: Optional[float] = None
    killed = False
    exited_at: Optional[float] = None
    try:
        while True:
            now = time.monotonic()
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            if exited_at is not None and (open_fds == 0 or now - exited_at > _DRAIN_AFTER_EXIT):
                break
            if exited_at is None:
                if timeout is not None and timed_out_at is None and now - started >= timeout:
                    timed_out_at = now
                    _killpg(proc.pid, signal.SIGTERM)
                ended_at = timed_out_at or (signals.at if signals.received is not None else None)
                if ended_at is not None and not killed and now - ended_at >= kill_after:
                    killed = True
                    _killpg(proc.pid, signal.SIGKILL)
            if open_fds == 0:
                try:
                    proc.wait(_POLL)
                except subprocess.TimeoutExpired:
                    pass
                continue
            for key, _ in selector.select(_POLL):
                fd = int(key.fd)
                try:
                    data = os.read(fd, _READ_CHUNK)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    selector.unregister(fd)
                    open_fds -= 1
                    continue
                stream = str(key.data)
                tail.feed(data, stream)
                sink = passthrough.get(stream)
                if sink is not None:
                    try:
                        sink.write(data)
                        sink.flush()
                    except (OSError, ValueError):  # our own output went away: keep capturing
                        passthrough[stream] = None
        returncode = proc.wait()
    finally:
        selector.close()
        proc.stdout.close()
        proc.stderr.close()
        signals.pgid = None
    if timed_out_at is not None or signals.received is not None:
        _killpg(proc.pid, signal.SIGKILL)  # what is left of the group goes with it
    return _classify(returncode, timeout, timed_out_at is not None, signals.received)


def _killpg(pgid: int, number: int) -> None:
    try:
        os.killpg(pgid, number)
    except OSError:
        pass


def _classify(
    returncode: int, timeout: Optional[float], timed_out: bool, received: Optional[int]
) -> _Outcome:
    if timed_out:
        return _Outcome("timeout", returncode, EXIT_TIMEOUT, f"timed out after {timeout:g} s")
    own = 128 - returncode if returncode < 0 else returncode
    if received is not None:
        code = own if own != 0 else 128 + received
        return _Outcome("interrupted", returncode, code, f"interrupted by {_signame(received)} (exit {code})")
    if returncode < 0:
        return _Outcome("killed", returncode, own, f"killed by {_signame(-returncode)}")
    if returncode != 0:
        return _Outcome("failed", returncode, returncode, f"failed: exit {returncode}")
    return _Outcome("ok", 0, 0, "succeeded")


# -- the alerts ------------------------------------------------------------------


def _host() -> str:
    # os.uname() is what socket.gethostname() reads, without importing socket.
    return (os.uname().nodename if hasattr(os, "uname") else "") or "localhost"


def _user() -> str:
    try:
        import getpass

        return getpass.getuser()
    except Exception:  # no name for this uid (containers)
        return str(os.getuid()) if hasattr(os, "getuid") else "?"


def _stamp(when: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(when))


def _span(seconds: float) -> str:
    """A duration for people: ``0.42 s``, ``12 s``, ``3 min 5 s``, ``2 h 10 min``, ``3 d 4 h``.

    >>> [_span(s) for s in (0.42, 12, 185, 7800, 273600)]
    ['0.42 s', '12 s', '3 min 5 s', '2 h 10 min', '3 d 4 h']
    """
    if seconds < 10:
        return f"{seconds:.2f} s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    if whole < 86400:
        return f"{whole // 3600} h {whole % 3600 // 60} min"
    return f"{whole // 86400} d {whole % 86400 // 3600} h"


class _Job:
    """Everything an alert about one run says, gathered once."""

    def __init__(self, name: str, argv: Sequence[str], level: AlertLevel) -> None:
        self.name = name
        self.argv = tuple(argv)
        self.level = level
        self.host = _host()
        self.user = _user()
        self.dedup_key = f"kstalerts-run:{name}@{self.host}"

    def labels(self, exit_code: str) -> Dict[str, str]:
        return {"alertname": ALERTNAME, "job": self.name, "host": self.host, "exit_code": exit_code}

    def body(self, facts: Sequence[Tuple[str, str]], tail: Optional[TailBuffer]) -> str:
        lines = [f"command: {' '.join(shlex.quote(a) for a in self.argv)}"]
        lines += [f"{key}: {value}" for key, value in [("host", self.host), ("user", self.user), *facts]]
        head = "\n".join(lines)
        if tail is None:
            return head
        kept = tail.lines()
        if not kept:
            return head + "\n\n(no output)"
        text = b"\n".join(kept).decode("utf-8", "replace")
        seen = f"{tail.lines_seen} lines, {tail.bytes_seen} bytes in all"
        intro = f"\n\nlast {len(kept)} lines of output ({seen}):\n"
        room = MAX_BODY_CHARS - len(head) - len(intro) - 16
        if len(text) > room:  # keep the newest lines: the end says what went wrong
            text = "[...]" + text[len(text) - room :]
        return head + intro + text


def _send(
    manager: "AlertManager", alert: AlertMessage, channel: Optional[str], notices: TextIO
) -> Tuple[AlertResult, ...]:
    try:
        results = tuple(manager.send(alert, channel=channel))
    except AlertConfigurationError as exc:
        _notice(notices, f"alert {alert.title!r} not sent: {exc}")
        return ()
    if not results:
        _notice(notices, f"alert {alert.title!r} not sent: no channel takes level {alert.level.name}")
    for result in results:
        if not (result.success or result.suppressed):
            kept = " (kept in the spool)" if result.spooled else ""
            _notice(notices, f"alert {alert.title!r} not delivered to {result.channel}: {result.error}{kept}")
    return results


def _resolve_and_recover(
    manager: "AlertManager",
    job: _Job,
    state: Dict[str, Any],
    recovery: AlertMessage,
    channel: Optional[str],
    notices: TextIO,
) -> List[Tuple[str, AlertMessage, Tuple[AlertResult, ...]]]:
    """Resolve what fired where the channel knows "resolved"; tell the others."""
    sent: List[Tuple[str, AlertMessage, Tuple[AlertResult, ...]]] = []
    entries = [e for e in manager.channels if channel is None or channel in (e.key, e.alias, e.channel.name)]
    firing = [_firing_alert(item, recovery) for item in state.get("firing") or []]
    plain: List[str] = []
    for entry in entries[:1] if channel is not None else entries:
        resolve = getattr(entry.channel, "resolve", None)
        if not callable(resolve):
            plain.append(entry.key)
            continue
        for alert in firing:
            if alert is None or alert.level < entry.min_level:
                continue
            try:
                result = resolve(alert)
            except Exception as exc:  # a channel bug must not stop the others
                result = AlertResult(
                    entry.key, False, error=f"internal error in channel: {type(exc).__name__}"
                )
            if not isinstance(result, AlertResult):
                continue
            if not result.success:
                _notice(notices, f"resolve of {alert.title!r} not delivered to {entry.key}: {result.error}")
            sent.append(("resolve", alert, (result,)))
    results: List[AlertResult] = []
    for key in plain:
        results.extend(_send(manager, recovery, key, notices))
    if plain:
        sent.append(("recovery", recovery, tuple(results)))
    return sent


def _firing_alert(item: Any, recovery: AlertMessage) -> Optional[AlertMessage]:
    """The stored identity of a fired alert, as a resolve (same labels, level, start)."""
    try:
        return AlertMessage(
            recovery.title,
            recovery.body,
            AlertLevel.parse(item["level"]),
            labels=dict(item["labels"]),
            dedup_key=item.get("dedup_key"),
            created_at=float(item["created_at"]),
        )
    except (KeyError, TypeError, ValueError, AlertConfigurationError):
        return None


def _remember(state: Dict[str, Any], alert: AlertMessage) -> None:
    """Keep the identity of ``alert`` for the resolve; a repeat keeps its first start time."""
    labels = dict(alert.labels)
    kept = [f for f in state.get("firing") or [] if isinstance(f, dict)]
    same = [f for f in kept if f.get("labels") == labels]
    started = same[0].get("created_at", alert.created_at) if same else alert.created_at
    firing = [f for f in kept if f.get("labels") != labels]
    firing.append(
        {"level": alert.level.name, "labels": labels, "dedup_key": alert.dedup_key, "created_at": started}
    )
    state["firing"] = firing[-_MAX_FIRING:]


def _notice(stream: TextIO, message: str) -> None:
    try:
        stream.write(f"kstalerts run: {message}\n")
        stream.flush()
    except (OSError, ValueError):
        pass


class _Alerting:
    """Where alerts go and how often: the manager (or the config to build one from)."""

    __slots__ = ("channel", "config", "manager", "notes", "preset", "realert")

    def __init__(
        self,
        manager: Optional["AlertManager"],
        config: Optional[str],
        preset: Optional[str],
        channel: Optional[str],
        realert: float,
        notes: TextIO,
    ) -> None:
        self.manager = manager
        self.config = config
        self.preset = preset
        self.channel = channel
        self.realert = realert
        self.notes = notes


# -- the public call -----------------------------------------------------------


def run_job(
    command: Sequence[str],
    *,
    name: Optional[str] = None,
    manager: Optional["AlertManager"] = None,
    config: Optional[str] = None,
    preset: Optional[str] = None,
    channel: Optional[str] = None,
    level: Union[AlertLevel, str] = AlertLevel.CRITICAL,
    timeout: Optional[float] = None,
    kill_after: float = 10.0,
    retries: int = 0,
    retry_delay: float = 0.0,
    tail_lines: int = 50,
    quiet: bool = False,
    state_dir: Union[str, bool, None] = None,
    realert: float = 3600.0,
    lock: bool = False,
    on_overlap: str = "skip",
    alert_after_skips: Optional[int] = None,
    stdout: Optional[IO[bytes]] = None,
    stderr: Optional[IO[bytes]] = None,
    notices: Optional[TextIO] = None,
    forward_signals: bool = True,
) -> JobResult:
    """Run ``command`` (a list: program and arguments), alert on failure, resolve on recovery.

    - ``name``: the job's name in alerts and state (default: the program's basename).
    - ``manager``: the :class:`AlertManager` to alert through (not closed
      here); else one is built from ``config`` (a path; ``None`` discovers
      it) and ``preset``, and closed at the end. ``channel`` sends to that
      channel only; ``level`` is the failure alerts' level.
    - ``timeout``: seconds before SIGTERM goes to the job's process group;
      SIGKILL follows ``kill_after`` seconds later.
    - ``retries``, ``retry_delay``: run again that many times, that long
      apart, before a failure counts.
    - ``tail_lines``: lines of output kept for the alert (at most 64 KiB in
      all); ``quiet``: pass no output through, write the kept tail to
      ``notices`` when the job fails.
    - ``state_dir``: where state (for recovery and repeat alerts) and locks
      live; ``None`` is the default folder, ``False`` keeps no state.
      ``realert``: seconds between two alerts while the job keeps failing.
    - ``lock``: one run of this job at a time; ``on_overlap`` ``"skip"``
      (exit 0 at once) or ``"wait"``; ``alert_after_skips``: after that many
      skips in a row, alert (the running one is stuck).
    - ``stdout``, ``stderr``: binary streams the job's output is passed to
      (default: this process's); ``notices``: text stream for what
      ``run`` itself says (default: ``sys.stderr``).
    - ``forward_signals``: pass SIGTERM, SIGINT and SIGHUP received by this
      process to the job (main thread only).

    Never raises for a failure of the job or of alerting;
    :class:`AlertConfigurationError` for invalid arguments, before anything runs.
    """
    import sys

    argv = [os.fspath(a) if not isinstance(a, str) else a for a in command]
    level = AlertLevel.parse(level)
    _check_arguments(
        argv, timeout, kill_after, retries, retry_delay, tail_lines, realert, on_overlap, alert_after_skips
    )
    job_name = name or os.path.basename(argv[0]) or argv[0]
    notes: TextIO = notices if notices is not None else sys.stderr
    out = stdout if stdout is not None else getattr(sys.stdout, "buffer", None)
    err = stderr if stderr is not None else getattr(sys.stderr, "buffer", None)
    job = _Job(job_name, argv, level)
    alerting = _Alerting(manager, config, preset, channel, realert, notes)
    tail = TailBuffer(tail_lines)
    started_at = time.time()
    started = time.monotonic()

    store: Optional[JobState] = None
    folder = default_state_dir() if state_dir is None or state_dir is True else state_dir
    if folder is not False:
        try:
            store = JobState(str(folder), job_name)
        except (JobStateError, OSError) as exc:
            _notice(notes, f"no state kept for {job_name} (no recovery or repeat alerts): {exc}")

    with _Signals(forward_signals) as signals:
        job_lock: Optional[JobLock] = None
        if lock:
            job_lock, skipped = _take_lock(store, folder, job_name, on_overlap, signals, notes)
            if signals.received is not None and job_lock is None:  # stopped while waiting: run nothing
                number = signals.received
                _notice(notes, f"{job_name} not run: {_signame(number)} while waiting for the lock")
                return JobResult(
                    job_name,
                    tuple(argv),
                    "interrupted",
                    128 + number,
                    None,
                    started_at,
                    time.monotonic() - started,
                    0,
                    "",
                    (),
                )
            if skipped is not None:
                return _skipped(job, skipped, store, alerting, alert_after_skips, started_at, started)
        try:
            if job_lock is not None:
                job_lock.note_holder(os.getpid(), started_at)
                _reset_skips(store, notes)
            outcome, attempts = _attempts(
                argv, tail, timeout, kill_after, retries, retry_delay, quiet, out, err, signals
            )
        finally:
            if job_lock is not None:
                job_lock.release()
        duration = time.monotonic() - started
        if quiet and outcome.status != "ok":
            text = tail.text()
            if text:
                _notice(notes, f"{job_name} {outcome.what}; its last output:")
                try:
                    notes.write(text + "\n")
                    notes.flush()
                except (OSError, ValueError):
                    pass
        facts = [
            ("started", _stamp(started_at)),
            ("duration", _span(duration)),
            ("status", outcome.what),
        ]
        if attempts > 1:
            facts.append(("attempts", str(attempts)))
        sent = _alert(job, outcome, facts, tail, store, alerting)
    return JobResult(
        job_name,
        tuple(argv),
        outcome.status,
        outcome.exit_code,
        outcome.returncode,
        started_at,
        duration,
        attempts,
        tail.text(),
        tuple(sent),
    )


def _check_arguments(
    argv: Sequence[str],
    timeout: Optional[float],
    kill_after: float,
    retries: int,
    retry_delay: float,
    tail_lines: int,
    realert: float,
    on_overlap: str,
    alert_after_skips: Optional[int],
) -> None:
    def bad(message: str) -> AlertConfigurationError:
        return AlertConfigurationError(message)

    if not argv or not argv[0]:
        raise bad("no command to run (give it after --)")
    if timeout is not None and not timeout > 0:
        raise bad(f"timeout must be more than 0 seconds, got {timeout!r}")
    if not kill_after >= 0:
        raise bad(f"kill-after must be 0 seconds or more, got {kill_after!r}")
    if not 0 <= retries <= _MAX_RETRIES:
        raise bad(f"retries must be between 0 and {_MAX_RETRIES}, got {retries!r}")
    if not 0 <= retry_delay <= 86400:
        raise bad(f"retry-delay must be between 0 and 86400 seconds, got {retry_delay!r}")
    if not 1 <= tail_lines <= _MAX_TAIL_LINES:
        raise bad(f"tail-lines must be between 1 and {_MAX_TAIL_LINES}, got {tail_lines!r}")
    if not realert >= 0:
        raise bad(f"realert must be 0 seconds or more, got {realert!r}")
    if on_overlap not in ("skip", "wait"):
        raise bad(f"on-overlap must be 'skip' or 'wait', got {on_overlap!r}")
    if alert_after_skips is not None and alert_after_skips < 1:
        raise bad(f"alert-after-skips must be 1 or more, got {alert_after_skips!r}")


def _attempts(
    argv: Sequence[str],
    tail: TailBuffer,
    timeout: Optional[float],
    kill_after: float,
    retries: int,
    retry_delay: float,
    quiet: bool,
    out: Optional[IO[bytes]],
    err: Optional[IO[bytes]],
    signals: _Signals,
) -> Tuple[_Outcome, int]:
    attempt = 0
    while True:
        attempt += 1
        passthrough: Dict[str, Optional[IO[bytes]]] = {} if quiet else {"stdout": out, "stderr": err}
        outcome = _run_once(
            argv, tail, timeout=timeout, kill_after=kill_after, passthrough=passthrough, signals=signals
        )
        final = outcome.status in ("ok", "interrupted", "not_found", "not_executable", "could_not_start")
        if final or attempt > retries:
            return outcome, attempt
        tail.mark(f"--- attempt {attempt} of {retries + 1} {outcome.what}; next in {retry_delay:g} s ---")
        deadline = time.monotonic() + retry_delay
        while signals.received is None and time.monotonic() < deadline:
            time.sleep(min(_POLL, max(0.0, deadline - time.monotonic())))
        if signals.received is not None:
            number = signals.received
            return _Outcome(
                "interrupted",
                outcome.returncode,
                128 + number,
                f"interrupted by {_signame(number)} between attempts",
            ), attempt


def _take_lock(
    store: Optional[JobState],
    folder: Union[str, bool],
    name: str,
    on_overlap: str,
    signals: _Signals,
    notes: TextIO,
) -> Tuple[Optional[JobLock], Optional[JobLock]]:
    """(the lock held, None), or (None, the lock another run holds) when skipping."""
    if folder is False or store is None:
        _notice(notes, f"--lock needs a usable state folder; {name} runs without a lock")
        return None, None
    try:
        job_lock = JobLock(store.folder, name)
        if job_lock.acquire(wait=False):
            return job_lock, None
        if on_overlap == "skip":
            return None, job_lock
        while signals.received is None:
            time.sleep(0.2)
            if job_lock.acquire(wait=False):
                return job_lock, None
        return None, job_lock
    except (JobStateError, OSError) as exc:
        _notice(notes, f"{name} runs without a lock: {exc}")
        return None, None


def _reset_skips(store: Optional[JobState], notes: TextIO) -> None:
    if store is None:
        return
    try:
        with store.transaction() as state:
            if state.get("skips"):
                state["skips"] = 0
    except (JobStateError, OSError) as exc:
        _notice(notes, f"state not saved: {exc}")


def _skipped(
    job: _Job,
    holder: JobLock,
    store: Optional[JobState],
    alerting: _Alerting,
    alert_after_skips: Optional[int],
    started_at: float,
    started: float,
) -> JobResult:
    notes = alerting.notes
    pid, since = holder.holder()
    who = (
        f"pid {pid}, running since {_stamp(since)}"
        if pid is not None and since is not None
        else "another run"
    )
    _notice(notes, f"{job.name} skipped: the previous run ({who}) still holds {holder.path}")
    sent: List[Tuple[str, AlertMessage, Tuple[AlertResult, ...]]] = []
    skips = 0
    if store is not None:
        try:
            with store.transaction() as state:
                skips = int(state.get("skips") or 0) + 1
                state["skips"] = skips
                if alert_after_skips is not None and skips >= alert_after_skips:
                    outcome = _Outcome(
                        "skipped", None, 0, f"skipped {skips} times in a row: still running ({who})"
                    )
                    facts = [("started", _stamp(started_at)), ("status", outcome.what)]
                    sent = _decide(job, outcome, facts, None, state, alerting, kind="stuck")
        except (JobStateError, OSError) as exc:
            _notice(notes, f"state not saved: {exc}")
    return JobResult(
        job.name, job.argv, "skipped", 0, None, started_at, time.monotonic() - started, 0, "", tuple(sent)
    )


def _alert(
    job: _Job,
    outcome: _Outcome,
    facts: List[Tuple[str, str]],
    tail: TailBuffer,
    store: Optional[JobState],
    alerting: _Alerting,
) -> List[Tuple[str, AlertMessage, Tuple[AlertResult, ...]]]:
    if store is None:
        return _decide(job, outcome, facts, tail, {}, alerting)
    sent: List[Tuple[str, AlertMessage, Tuple[AlertResult, ...]]] = []
    try:
        with store.transaction() as state:
            sent = _decide(job, outcome, facts, tail, state, alerting)
    except (JobStateError, OSError) as exc:
        _notice(alerting.notes, f"state not saved: {exc}")
    return sent


def _decide(
    job: _Job,
    outcome: _Outcome,
    facts: List[Tuple[str, str]],
    tail: Optional[TailBuffer],
    state: Dict[str, Any],
    alerting: _Alerting,
    *,
    kind: str = "failure",
) -> List[Tuple[str, AlertMessage, Tuple[AlertResult, ...]]]:
    """Update ``state`` for this run and send what it calls for."""
    notes = alerting.notes
    now = time.time()
    failures = int(state.get("failures") or 0)
    if outcome.status == "ok":
        if failures == 0:
            _manager_notes(alerting)  # a broken config is said on every run
            return []
        since = float(state.get("failing_since") or now)
        title = (
            f"{job.name} recovered after {failures} failure{'s' if failures != 1 else ''},"
            f" down {_span(now - since)}"
        )
        body = job.body(
            [
                ("failing since", _stamp(since)),
                ("last failure", str(state.get("last_status") or "?")),
                *facts,
            ],
            None,
        )
        success = getattr(AlertLevel, "SUCCESS", AlertLevel.INFO)
        recovery = AlertMessage(
            title, body, success, labels={"job": job.name, "host": job.host, "exit_code": "0"}
        )
        sent: List[Tuple[str, AlertMessage, Tuple[AlertResult, ...]]] = []
        owned, active = _manager(alerting, f"{job.name} recovered")
        if active is not None:
            try:
                sent = _resolve_and_recover(active, job, state, recovery, alerting.channel, notes)
            finally:
                if owned:
                    _close(active, notes)
        for key in ("failures", "failing_since", "last_alert", "last_status", "firing"):
            state.pop(key, None)
        return sent
    # a failure
    first = failures == 0
    failures += 1
    state["failures"] = failures
    if first:
        state["failing_since"] = now
    state["last_status"] = outcome.what
    last_alert = state.get("last_alert")
    due = first or last_alert is None or now - float(last_alert) >= alerting.realert
    if not due:
        _manager_notes(alerting)
        return []
    since = float(state.get("failing_since") or now)
    if first:
        title = f"{job.name} {outcome.what}"
    else:
        kind = "repeat"
        title = f"{job.name} still failing: {failures} failures since {_stamp(since)} (last: {outcome.what})"
        facts = [*facts, ("failures", f"{failures} since {_stamp(since)} ({_span(now - since)})")]
    exit_label = str(outcome.exit_code) if outcome.status != "skipped" else "skipped"
    alert = AlertMessage(
        title, job.body(facts, tail), job.level, labels=job.labels(exit_label), dedup_key=job.dedup_key
    )
    owned, active = _manager(alerting, title)
    if active is None:
        return []
    try:
        results = _send(active, alert, alerting.channel, notes)
    finally:
        if owned:
            _close(active, notes)
    if any(r.success or r.spooled for r in results):
        state["last_alert"] = now
    if results:
        _remember(state, alert)
    return [(kind, alert, results)]


def _manager(alerting: _Alerting, about: str) -> Tuple[bool, Optional["AlertManager"]]:
    """(owned, manager): the caller's, or one built from the config; None when it cannot be."""
    if alerting.manager is not None:
        return False, alerting.manager
    from .manager import AlertManager

    config, preset, notes = alerting.config, alerting.preset, alerting.notes

    try:
        built = AlertManager.from_config(config, preset=preset)
    except (AlertConfigurationError, OSError) as exc:
        where = f" ({config})" if config and config not in str(exc) else ""
        _notice(notes, f"no alert sent ({about}): the config cannot be used{where}: {exc}")
        return False, None
    if not built.channels:
        built.close()
        where = f"in {config}" if config else "(no config file found)"
        _notice(notes, f"no alert sent ({about}): no channels configured {where}")
        return False, None
    return True, built


def _manager_notes(alerting: _Alerting) -> None:
    """With nothing to send, still say when the config is broken, so it is fixed before it matters."""
    if alerting.manager is not None:
        return
    from .config import load_config

    config, preset, notes = alerting.config, alerting.preset, alerting.notes

    try:
        load_config(config, preset=preset)
    except (AlertConfigurationError, OSError) as exc:
        where = f" ({config})" if config and config not in str(exc) else ""
        _notice(notes, f"the config cannot be used{where}, so no alert could be sent: {exc}")


def _close(manager: "AlertManager", notes: TextIO) -> None:
    """Send the throttle's pending digests (where the manager has them), then close."""
    flush = getattr(manager, "flush_digests", None)
    if callable(flush):
        try:
            flush()
        except Exception as exc:  # a pending digest must not change the job's status
            _notice(notes, f"pending digests not sent: {type(exc).__name__}: {exc}")
    manager.close()
