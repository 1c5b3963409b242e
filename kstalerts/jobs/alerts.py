"""What ``kstalerts run`` says about a run, and to whom, on the alert lifecycle.

:func:`decide` takes how a run ended and the job's state (see
:mod:`kstalerts.jobs.state`: failures counted, since when), updates the
state and sends what it calls for through the lifecycle engine
(:mod:`kstalerts.lifecycle`, docs/lifecycle.md), which holds the rules:

- a failure is a firing alert of the job's identity (its dedup key
  ``kstalerts-run:NAME@HOST``, ``alertname=JobFailed``), at the job's level;
  while the job keeps failing, the engine holds repeats for
  ``repeat_interval`` and then sends a reminder (a delivery that failed
  does not count as notified: the next failure is delivered);
- a success after failures resolves it: one resolved message to exactly the
  channels notified of the failure, whatever their ``min_level``;
- a success after success sends nothing.

The lifecycle is the config's (``alerts.lifecycle``) or, without one, one in
``lifecycle/`` of the job's state folder with ``realert`` as its repeat
interval. What is job-specific stays here: the body (command, host, output
tail, exit status), the notices, and the job state's transaction.

Rules: the manager is the caller's, or is built from the config after the
job ran and closed here (after its pending digests, where it has them);
nothing here raises for a config, delivery or state problem: it is said on
the ``notes`` stream and the job's status stands. A state held busy by
another run for the bounded wait, or a signal during that wait, makes the
run alert without its state, saying so.
"""

import os
import shlex
import time
import warnings
from contextlib import contextmanager

from .._lazy import TYPE_CHECKING
from .._secret import scrub_text
from .._tail import TailBuffer
from .._typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, TextIO, Tuple
from ..exceptions import AlertConfigurationError, NoChannelsWarning
from ..limits import MAX_BODY_CHARS, finite_number
from ..models import AlertLevel, AlertMessage, AlertResult
from ..state import store as _store
from .process import Outcome
from .state import JobState, JobStateBusyError, JobStateError, count

if TYPE_CHECKING:
    from ..manager import AlertManager

__all__ = ()

#: Identity label of a job's failure alerts (Alertmanager groups and resolves by labels).
ALERTNAME = "JobFailed"

#: One alert sent: its kind, the message, the results.
Sent = Tuple[str, AlertMessage, Tuple[AlertResult, ...]]


def _host() -> str:
    # os.uname() is what socket.gethostname() reads, without importing socket.
    return (os.uname().nodename if hasattr(os, "uname") else "") or "localhost"


def _user() -> str:
    try:
        import getpass

        return getpass.getuser()
    except Exception:  # no name for this uid (containers)
        return str(os.getuid()) if hasattr(os, "getuid") else "?"


def stamp(when: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(when))


def span(seconds: float) -> str:
    """A duration for people: ``0.42 s``, ``12 s``, ``3 min 5 s``, ``2 h 10 min``, ``3 d 4 h``.

    >>> [span(s) for s in (0.42, 12, 185, 7800, 273600)]
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


class Job:
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
        # A URL in the command line (curl https://user:pw@...?token=) is shown masked.
        lines = [f"command: {scrub_text(' '.join(shlex.quote(a) for a in self.argv))}"]
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
        notice(notices, f"alert {alert.title!r} not sent: {exc}")
        return ()
    if not results:
        notice(notices, f"alert {alert.title!r} not sent: no channel takes level {alert.level.name}")
    for result in results:
        if not result.outcome.meaning.ok:  # delivered, partly or earlier (a duplicate)
            kept = " (kept in the spool)" if result.spooled else ""
            notice(notices, f"alert {alert.title!r} not delivered to {result.channel}: {result.error}{kept}")
    return results


def notice(stream: TextIO, message: str) -> None:
    try:
        stream.write(f"kstalerts run: {message}\n")
        stream.flush()
    except (OSError, ValueError):
        pass


class Alerting:
    """Where alerts go and how often: the manager (or the config to build one from)."""

    __slots__ = ("channel", "config", "folder", "manager", "notes", "preset", "quiet", "realert")

    def __init__(
        self,
        manager: Optional["AlertManager"],
        config: Optional[str],
        preset: Optional[str],
        channel: Optional[str],
        realert: float,
        notes: TextIO,
        quiet: bool = False,
        folder: Optional[str] = None,
    ) -> None:
        self.manager = manager
        self.folder = folder  # the job's state folder: the lifecycle's when the config has none
        self.quiet = quiet  # a recovery no channel takes is not worth a line
        self.config = config
        self.preset = preset
        self.channel = channel
        self.realert = realert
        self.notes = notes


def after_run(
    job: Job,
    outcome: Outcome,
    facts: List[Tuple[str, str]],
    tail: TailBuffer,
    store: Optional[JobState],
    alerting: Alerting,
    *,
    stop: Optional[Callable[[], bool]] = None,
) -> List[Sent]:
    """:func:`decide` inside the job's state transaction (or on an empty state without one).

    Never raises: whatever goes wrong is said on the notes stream.
    """
    try:
        if store is None:
            return decide(job, outcome, facts, tail, {}, alerting)
        sent: List[Sent] = []
        entered = False
        try:
            with store.transaction(stop=stop) as state:
                entered = True
                sent = decide(job, outcome, facts, tail, state, alerting)
        except JobStateBusyError as exc:
            notice(alerting.notes, f"{exc}; alerting without it (this run is not remembered)")
            sent = decide(job, outcome, facts, tail, {}, alerting)
        except (JobStateError, OSError) as exc:
            notice(alerting.notes, f"state not saved: {exc}")
            if not entered:  # the state could not even be opened: the job still alerts
                sent = decide(job, outcome, facts, tail, {}, alerting)
        return sent
    except Exception as exc:  # nothing about alerting changes the job's status
        notice(alerting.notes, f"alerting failed: {type(exc).__name__}: {exc}")
        return []


def decide(
    job: Job,
    outcome: Outcome,
    facts: List[Tuple[str, str]],
    tail: Optional[TailBuffer],
    state: Dict[str, Any],
    alerting: Alerting,
    *,
    kind: str = "failure",
) -> List[Sent]:
    """Update ``state`` for this run and send what it calls for, on the alert lifecycle.

    A failure is a firing alert of the job's identity (its repeats held for
    ``repeat_interval``, flapping counted); a success after failures resolves
    it on exactly the channels that heard it fire, whatever their
    ``min_level``. The lifecycle is the config's (``alerts.lifecycle``) or,
    without one, one in the job's state folder with ``realert`` as its
    ``repeat_interval``.
    """
    notes = alerting.notes
    now = time.time()
    failures = count(state.get("failures"))
    if outcome.status == "ok":
        if failures == 0:
            # Nothing to recover; a flapping job's success still counts toward settling.
            # No channel is built unless it flaps: a success after success stays cheap.
            if _flapping(alerting, job):
                with _engine(alerting, f"{job.name} succeeded", say=False) as active:
                    if active is not None and active.lifecycle is not None:
                        return _recovered(job, active.resolve(job.dedup_key), notes)
            return []
        since = _wall(state.get("failing_since"), now)
        title = (
            f"{job.name} recovered after {failures} failure{'s' if failures != 1 else ''},"
            f" down {_down(state, now, 'for an unknown time (the clock changed)')}"
        )
        facts = [
            ("failing since", stamp(since)),
            ("last failure", str(state.get("last_status") or "?")),
            *facts,
        ]
        for key in _FAILURE_KEYS:
            state.pop(key, None)
        with _engine(alerting, f"{job.name} recovered") as active:
            if active is None or active.lifecycle is None:
                return []
            resolved = active.resolve(job.dedup_key, title=title, body=job.body(facts, None))
            return _recovered(job, resolved, notes)
    failures += 1
    state["failures"] = failures
    if failures == 1:
        state["failing_since"] = now
        state["failing_since_at"] = _store.moment(now)
    since = _wall(state.get("failing_since"), now)
    state["last_status"] = outcome.what
    title = f"{job.name} {outcome.what}"
    if failures > 1:
        title = f"{job.name} still failing: {failures} failures since {stamp(since)} (last: {outcome.what})"
        down = _down(state, now, "for an unknown time")
        facts = [*facts, ("failures", f"{failures} since {stamp(since)} ({down})")]
    exit_label = str(outcome.exit_code) if outcome.status != "skipped" else "skipped"
    # The identity is the dedup key: a changing exit code (a label) is the same problem.
    labels = job.labels(exit_label)
    alert = AlertMessage(title, job.body(facts, tail), job.level, labels=labels, dedup_key=job.dedup_key)
    with _engine(alerting, title) as active:
        if active is None:
            return []
        results = _send(active, alert, alerting.channel, notes)
    return [(kind if failures == 1 else "repeat", alert, results)]


def _recovered(job: Job, results: Sequence[AlertResult], notes: TextIO) -> List[Sent]:
    """The run's record of a resolve; a resolved message not delivered is said."""
    for result in results:
        if not result.outcome.meaning.ok:
            notice(notes, f"recovery of {job.name!r} not delivered to {result.channel}: {result.error}")
    if not results:
        return []
    recovery = results[0].alert or AlertMessage(f"{job.name} recovered", level=job.level)
    return [("recovery", recovery, tuple(results))]


# The last three are what runs before the lifecycle kept (removed on recovery).
_FAILURE_KEYS = (
    "failures",
    "failing_since",
    "failing_since_at",
    "last_status",
    "last_alert",
    "last_alert_at",
    "firing",
)


def _down(state: Dict[str, Any], now: float, unknown: str) -> str:
    """How long the job has failed: on the monotonic clock within a boot, the wall clock across
    one (:func:`kstalerts.state.store.elapsed_since`); ``unknown`` when the stamp lies in the
    future (a clock set back, a forged file)."""
    recorded = state.get("failing_since_at", state.get("failing_since"))
    elapsed = _store.elapsed_since(recorded, now_wall=now, now_mono=time.monotonic(), boot=_store.boot_id())
    return unknown if elapsed is None else span(elapsed)


def _wall(value: Any, now: float) -> float:
    """A wall-clock stamp from the state for display; ``now`` when it is not a number."""
    number = finite_number(value)
    return now if number is None else number


@contextmanager
def _engine(alerting: Alerting, about: str, *, say: bool = True) -> Iterator[Optional["AlertManager"]]:
    """The manager to alert through, with a lifecycle; closed after (when built here).

    Without ``alerts.lifecycle``, the lifecycle lives in ``lifecycle/`` of the
    job's state folder, ``realert`` its repeat interval (at least 1 s, the
    lifecycle's limit); a caller's manager gets it for this run only. With no
    state folder (``state_dir=False``) there is no lifecycle: a failure is
    sent as it is, and nothing remembers it for a recovery.
    """
    owned, active = _manager(alerting, about, say=say)
    if active is None:
        yield None
        return
    added = False
    try:
        if active.lifecycle is None and alerting.folder is not None:
            from ..lifecycle import Lifecycle

            life = Lifecycle(
                os.path.join(alerting.folder, "lifecycle"), repeat_interval=max(alerting.realert, 1.0)
            )
            active.use_lifecycle(life)
            added = True
        yield active
    finally:
        if owned:
            _close(active, alerting.notes)
        elif added:
            active.use_lifecycle(None)


def _manager(alerting: Alerting, about: str, *, say: bool = True) -> Tuple[bool, Optional["AlertManager"]]:
    """(owned, manager): the caller's, or one built from the config; None when it cannot be
    (said on the notes stream, unless ``say`` is false)."""
    if alerting.manager is not None:
        return False, alerting.manager
    from ..manager import AlertManager

    config, preset, notes = alerting.config, alerting.preset, alerting.notes

    try:
        with warnings.catch_warnings():  # "no channels" is said once, below, as a notice
            warnings.simplefilter("ignore", NoChannelsWarning)
            built = AlertManager.from_config(config, preset=preset)
    except Exception as exc:  # a config error, or a bug: never the job's status
        where = f" ({config})" if config and config not in str(exc) else ""
        if say:
            notice(notes, f"no alert sent ({about}): the config cannot be used{where}: {exc}")
        return False, None
    if not built.channels:
        built.close()
        where = f"in {config}" if config else "(no config file found)"
        if say:
            notice(notes, f"no alert sent ({about}): no channels configured {where}")
        return False, None
    return True, built


def _flapping(alerting: Alerting, job: Job) -> bool:
    """Whether the job's identity flaps on the lifecycle a run would use (the caller's, the
    config's, or the job folder's), read without building a channel. A broken config is
    said here, so it is fixed before it matters."""
    from ..lifecycle import Lifecycle

    life: Optional[Lifecycle] = None
    if alerting.manager is not None:
        life = alerting.manager.lifecycle
    else:
        from ..config import load_config
        from ..lifecycle.settings import from_loaded

        config, preset = alerting.config, alerting.preset
        try:
            life = from_loaded(load_config(config, preset=preset))
        except Exception as exc:  # a config error, or a bug: never the job's status
            where = f" ({config})" if config and config not in str(exc) else ""
            notice(alerting.notes, f"the config cannot be used{where}, so no alert could be sent: {exc}")
            return False
    if life is None and alerting.folder is not None:
        life = Lifecycle(os.path.join(alerting.folder, "lifecycle"))
    return life is not None and life.flapping(job.dedup_key)


def _close(manager: "AlertManager", notes: TextIO) -> None:
    """Send the throttle's pending digests (where the manager has them), then close."""
    flush = getattr(manager, "flush_digests", None)
    if callable(flush):
        try:
            flush()
        except Exception as exc:  # a pending digest must not change the job's status
            notice(notes, f"pending digests not sent: {type(exc).__name__}: {exc}")
    manager.close()
