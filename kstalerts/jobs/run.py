"""Run a job, alert when it fails, resolve when it recovers: ``kstalerts run``.

:func:`run_job` runs a command directly (no shell), in its own process
group, passing its stdout and stderr through live (or, ``quiet``, keeping
them for a failure) while a :class:`~kstalerts._tail.TailBuffer` keeps the
last lines in bounded memory. It enforces a timeout (SIGTERM to the group,
SIGKILL after ``kill_after``), forwards SIGTERM, SIGINT and SIGHUP sent to
the wrapper to the job's group, retries a failed run, and serialises
overlapping runs with a lock. The process side lives in
:mod:`kstalerts.jobs.process`, the alerts in :mod:`kstalerts.jobs.alerts`, the
state files and locks in :mod:`kstalerts.jobs.state`; this module ties them
together and is the public face.

What it decides, per run, from the job's state (through the alert
lifecycle, :mod:`kstalerts.jobs.alerts`):

- a failure (non-zero exit, killed, timed out, interrupted, could not start,
  or ``alert_after_skips`` runs skipped in a row) sends one alert at
  ``level``; while the job keeps failing, another at most once per
  ``realert`` seconds (the lifecycle's ``repeat_interval``, or the config's
  ``alerts.lifecycle.repeat_interval``), counting the failures since the first;
- a success after failures sends one resolved message to exactly the
  channels notified of the failure, whatever their ``min_level``, each
  rendering it its own way (Slack green, email ``[RESOLVED]``,
  Alertmanager's ``endsAt``, PagerDuty's ``resolve`` event, ...);
- a success after success sends nothing.

Exit status, as coreutils ``timeout``: the job's own; ``128+N`` when it was
killed by signal N; 124 when it timed out; 126 when it is not executable;
127 when it is not found (125, a usage error of ``run`` itself, is the
command line's). Nothing about alerting changes it: a config that cannot be
read, a channel that fails, a state folder that cannot be written are said
on the ``notices`` stream (stderr) and the job's status is returned.
"""

import os
import shlex
import time

from .._lazy import TYPE_CHECKING
from .._tail import TailBuffer
from .._typing import IO, Any, Dict, List, NamedTuple, Optional, Sequence, TextIO, Tuple, Union
from ..exceptions import AlertConfigurationError
from ..models import AlertLevel, AlertMessage, AlertResult
from .alerts import Alerting, Job, Sent, after_run, decide, notice, span, stamp
from .process import EXIT_CANNOT_RUN as EXIT_CANNOT_RUN  # kstalerts.jobs.run' names, as before
from .process import EXIT_NOT_FOUND as EXIT_NOT_FOUND
from .process import EXIT_TIMEOUT as EXIT_TIMEOUT
from .process import POLL, Outcome, Signals, run_once, signame
from .state import JobLock, JobState, JobStateError, count, default_state_dir

if TYPE_CHECKING:
    from ..manager import AlertManager

__all__ = ()

EXIT_RUN_ERROR = 125
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
    job = Job(job_name, argv, level)
    alerting = Alerting(manager, config, preset, channel, realert, notes, quiet)
    tail = TailBuffer(tail_lines)
    started_at = time.time()
    started = time.monotonic()

    store: Optional[JobState] = None
    folder = default_state_dir() if state_dir is None or state_dir is True else state_dir
    if folder is not False:
        try:
            store = JobState(str(folder), job_name)
            alerting.folder = store.folder  # the lifecycle's folder when the config has none
        except (JobStateError, OSError) as exc:
            notice(notes, f"no state kept for {job_name} (no recovery or repeat alerts): {exc}")

    with Signals(forward_signals) as signals:
        job_lock: Optional[JobLock] = None
        if lock:
            job_lock, skipped = _take_lock(store, job_name, on_overlap, signals, notes)
            if signals.received is not None and job_lock is None:  # stopped while waiting: run nothing
                number = signals.received
                notice(notes, f"{job_name} not run: {signame(number)} while waiting for the lock")
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
                return _skipped(
                    job, skipped, store, alerting, alert_after_skips, started_at, started, signals
                )
        try:
            if job_lock is not None:
                job_lock.note_holder(os.getpid(), started_at)
                _reset_skips(store, notes, signals)
            # The job inherits the locked descriptor (as with flock(1)): the lock
            # is held as long as the job runs, even if this wrapper dies.
            keep = () if job_lock is None or job_lock.fd is None else (job_lock.fd,)
            outcome, attempts = _attempts(
                argv, tail, timeout, kill_after, retries, retry_delay, quiet, out, err, signals, keep
            )
        finally:
            if job_lock is not None:
                job_lock.release()
        duration = time.monotonic() - started
        if quiet and outcome.status != "ok":
            text = tail.text()
            if text:
                notice(notes, f"{job_name} {outcome.what}; its last output:")
                try:
                    notes.write(text + "\n")
                    notes.flush()
                except (OSError, ValueError):
                    pass
        facts = [
            ("started", stamp(started_at)),
            ("duration", span(duration)),
            ("status", outcome.what),
        ]
        if outcome.status in _NOT_STARTED:
            facts.extend(_not_started(argv, outcome, notes))
        if attempts > 1:
            facts.append(("attempts", str(attempts)))
        sent = after_run(job, outcome, facts, tail, store, alerting, stop=signals.stopped)
        exit_code = outcome.exit_code
        if signals.received is not None and outcome.status != "interrupted":
            exit_code = 128 + signals.received  # stopped after the job ended (waiting for its state)
    return JobResult(
        job_name,
        tuple(argv),
        outcome.status,
        exit_code,
        outcome.returncode,
        started_at,
        duration,
        attempts,
        tail.text(),
        tuple(sent),
    )


_NOT_STARTED = ("not_found", "not_executable", "could_not_start")
# What makes one argument look like a shell command line, not a program's path.
_SHELL_SYNTAX = ("&&", "||", "|", ";", ">", "<", "$", "`", "*", "~")


def _not_started(argv: Sequence[str], outcome: Outcome, notes: TextIO) -> List[Tuple[str, str]]:
    """Say on ``notes`` that the command could not start (and how to fix a
    whole command line given as one argument); the facts for the alert."""
    why = outcome.what.split(": ", 1)[-1]
    said = f"could not start {argv[0]}: {why}"
    facts = [("error", said)]
    if len(argv) == 1 and " " in argv[0].strip() and any(s in argv[0] for s in _SHELL_SYNTAX):
        hint = f"the whole command is one argument; to run it through a shell: sh -c {shlex.quote(argv[0])}"
        facts.append(("hint", hint))
        said += f"\nkstalerts run: hint: {hint}"
    notice(notes, said)
    return facts


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
    signals: Signals,
    keep_fds: Sequence[int] = (),
) -> Tuple[Outcome, int]:
    attempt = 0
    while True:
        attempt += 1
        passthrough: Dict[str, Optional[IO[bytes]]] = {} if quiet else {"stdout": out, "stderr": err}
        outcome = run_once(
            argv,
            tail,
            timeout=timeout,
            kill_after=kill_after,
            passthrough=passthrough,
            signals=signals,
            keep_fds=keep_fds,
        )
        final = outcome.status in ("ok", "interrupted", "not_found", "not_executable", "could_not_start")
        if final or attempt > retries:
            return outcome, attempt
        tail.mark(f"--- attempt {attempt} of {retries + 1} {outcome.what}; next in {retry_delay:g} s ---")
        deadline = time.monotonic() + retry_delay
        while signals.received is None and time.monotonic() < deadline:
            time.sleep(min(POLL, max(0.0, deadline - time.monotonic())))
        if signals.received is not None:
            number = signals.received
            return Outcome(
                "interrupted",
                outcome.returncode,
                128 + number,
                f"interrupted by {signame(number)} between attempts",
            ), attempt


def _take_lock(
    store: Optional[JobState],
    name: str,
    on_overlap: str,
    signals: Signals,
    notes: TextIO,
) -> Tuple[Optional[JobLock], Optional[JobLock]]:
    """(the lock held, None), or (None, the lock another run holds) when skipping."""
    if store is None:
        notice(notes, f"--lock needs a usable state folder; {name} runs without a lock")
        return None, None
    try:
        job_lock = JobLock(store.folder, name)
        if job_lock.acquire():
            return job_lock, None
        if on_overlap == "skip":
            return None, job_lock
        while signals.received is None:
            time.sleep(0.2)
            if job_lock.acquire():
                return job_lock, None
        return None, job_lock
    except (JobStateError, OSError) as exc:
        notice(notes, f"{name} runs without a lock: {exc}")
        return None, None


def _reset_skips(store: Optional[JobState], notes: TextIO, signals: Signals) -> None:
    if store is None:
        return
    try:
        with store.transaction(stop=signals.stopped) as state:
            if state.get("skips"):
                state["skips"] = 0
    except (JobStateError, OSError) as exc:
        notice(notes, f"state not saved: {exc}")


def _skipped(
    job: Job,
    holder: JobLock,
    store: Optional[JobState],
    alerting: Alerting,
    alert_after_skips: Optional[int],
    started_at: float,
    started: float,
    signals: Signals,
) -> JobResult:
    notes = alerting.notes
    pid, since = holder.holder()
    who = (
        f"pid {pid}, running since {stamp(since)}" if pid is not None and since is not None else "another run"
    )
    notice(notes, f"{job.name} skipped: the previous run ({who}) still holds {holder.path}")
    sent: List[Sent] = []
    skips = 0
    if store is not None:
        try:
            with store.transaction(stop=signals.stopped) as state:
                skips = count(state.get("skips")) + 1
                state["skips"] = skips
                if alert_after_skips is not None and skips >= alert_after_skips:
                    outcome = Outcome(
                        "skipped", None, 0, f"skipped {skips} times in a row: still running ({who})"
                    )
                    facts = [("started", stamp(started_at)), ("status", outcome.what)]
                    sent = decide(job, outcome, facts, None, state, alerting, kind="stuck")
        except (JobStateError, OSError) as exc:
            notice(notes, f"state not saved: {exc}")
    return JobResult(
        job.name, job.argv, "skipped", 0, None, started_at, time.monotonic() - started, 0, "", tuple(sent)
    )
