"""What ``kstalerts run`` says about a run, and to whom: failure, repeat, recovery, resolve.

:func:`decide` takes how a run ended and the job's state (see
:mod:`kstalerts._jobstate`), updates the state and sends what it calls for:

- a failure sends one alert at the job's level; while the job keeps
  failing, another at most once per ``realert`` seconds, counting the
  failures since the first (a failure whose alert nobody accepted is alerted
  again at the next one);
- a success after failures resolves the alerts that fired on the channels
  that have a ``resolve()`` (Alertmanager, PagerDuty: same labels, same
  dedup key) and sends one recovery message (level ``SUCCESS`` where the
  levels have it, else ``INFO``) through the manager to the others;
- a success after success sends nothing.

Rules: the manager is the caller's, or is built from the config after the
job ran and closed here (after its pending digests, where it has them);
nothing here raises for a config, delivery or state problem: it is said on
the ``notes`` stream and the job's status stands. Failure alerts carry
``alertname=JobFailed`` so their Alertmanager identity does not change with
the title.

Times: each event is recorded as wall clock, monotonic clock and boot
(:func:`kstalerts.state.store.moment`); elapsed times come from the
monotonic clock within a boot and the wall clock across one, and are
*unknown* when the stamp lies in the future (a clock set back, a forged
file): then a repeat alert is due and a recovery says "down for an unknown
time". A state held busy by another run for the bounded wait, or a signal
during that wait, makes the run alert without its state, saying so.
"""

import os
import shlex
import time
import warnings
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, TextIO, Tuple

from ._jobproc import Outcome
from ._jobstate import JobState, JobStateBusyError, JobStateError, count, items
from ._secret import scrub_text
from ._tail import TailBuffer
from .exceptions import AlertConfigurationError, NoChannelsWarning
from .limits import MAX_BODY_CHARS, finite_number
from .models import AlertLevel, AlertMessage, AlertResult
from .state import store as _store

if TYPE_CHECKING:
    from .manager import AlertManager

__all__ = ()

#: Identity label of a job's failure alerts (Alertmanager groups and resolves by labels).
ALERTNAME = "JobFailed"
#: Distinct failure alerts remembered for resolving (a job failing in many ways).
_MAX_FIRING = 16

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


def _resolve_and_recover(
    manager: "AlertManager",
    job: Job,
    state: Dict[str, Any],
    recovery: AlertMessage,
    channel: Optional[str],
    notices: TextIO,
    quiet: bool = False,
) -> List[Sent]:
    """Resolve what fired where the channel knows "resolved"; tell the others.

    ``quiet``: say nothing when no channel takes the recovery's level (the
    job succeeded; ``run --quiet`` prints nothing then).
    """
    sent: List[Sent] = []
    try:
        entries = manager._targets(channel)  # the same lookup the failure's send went through
    except AlertConfigurationError as exc:
        notice(notices, f"recovery not sent: {exc}")
        return []
    firing = [_firing_alert(item, recovery) for item in items(state.get("firing"))]
    plain: List[str] = []
    for entry in entries:
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
                notice(notices, f"resolve of {alert.title!r} not delivered to {entry.key}: {result.error}")
            sent.append(("resolve", alert, (result,)))
    results: List[AlertResult] = []
    if quiet:
        levels = {entry.key: entry.min_level for entry in entries}
        plain = [key for key in plain if recovery.level >= levels[key]]
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
    kept = [f for f in items(state.get("firing")) if isinstance(f, dict)]
    same = [f for f in kept if f.get("labels") == labels]
    started = same[0].get("created_at", alert.created_at) if same else alert.created_at
    firing = [f for f in kept if f.get("labels") != labels]
    firing.append(
        {"level": alert.level.name, "labels": labels, "dedup_key": alert.dedup_key, "created_at": started}
    )
    state["firing"] = firing[-_MAX_FIRING:]


def notice(stream: TextIO, message: str) -> None:
    try:
        stream.write(f"kstalerts run: {message}\n")
        stream.flush()
    except (OSError, ValueError):
        pass


class Alerting:
    """Where alerts go and how often: the manager (or the config to build one from)."""

    __slots__ = ("channel", "config", "manager", "notes", "preset", "quiet", "realert")

    def __init__(
        self,
        manager: Optional["AlertManager"],
        config: Optional[str],
        preset: Optional[str],
        channel: Optional[str],
        realert: float,
        notes: TextIO,
        quiet: bool = False,
    ) -> None:
        self.manager = manager
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
    """Update ``state`` for this run and send what it calls for."""
    if _lifecycle_on(alerting):
        return _on_lifecycle(job, outcome, facts, tail, state, alerting)
    notes = alerting.notes
    now = time.time()
    failures = count(state.get("failures"))
    if outcome.status == "ok":
        if failures == 0:
            _manager_notes(alerting)  # a broken config is said on every run
            return []
        since = _wall(state.get("failing_since"), now)
        down = _elapsed(state.get("failing_since_at", state.get("failing_since")), now)
        title = (
            f"{job.name} recovered after {failures} failure{'s' if failures != 1 else ''},"
            f" down {'for an unknown time (the clock changed)' if down is None else span(down)}"
        )
        body = job.body(
            [
                ("failing since", stamp(since)),
                ("last failure", str(state.get("last_status") or "?")),
                *facts,
            ],
            None,
        )
        success = getattr(AlertLevel, "SUCCESS", AlertLevel.INFO)
        recovery = AlertMessage(
            title, body, success, labels={"job": job.name, "host": job.host, "exit_code": "0"}
        )
        sent: List[Sent] = []
        owned, active = _manager(alerting, f"{job.name} recovered")
        if active is not None:
            try:
                sent = _resolve_and_recover(
                    active, job, state, recovery, alerting.channel, notes, alerting.quiet
                )
            finally:
                if owned:
                    _close(active, notes)
        for key in _FAILURE_KEYS:
            state.pop(key, None)
        return sent
    # a failure
    first = failures == 0
    failures += 1
    state["failures"] = failures
    if first:
        state["failing_since"] = now
        state["failing_since_at"] = _store.moment(now)
    state["last_status"] = outcome.what
    last_alert = state.get("last_alert_at", state.get("last_alert"))
    elapsed = None if last_alert is None else _elapsed(last_alert, now)
    # Unknown (a stamp in the future: the clock was set back, or the file forged) is due.
    due = first or elapsed is None or elapsed >= alerting.realert
    if not due:
        _manager_notes(alerting)
        return []
    since = _wall(state.get("failing_since"), now)
    if first:
        title = f"{job.name} {outcome.what}"
    else:
        kind = "repeat"
        title = f"{job.name} still failing: {failures} failures since {stamp(since)} (last: {outcome.what})"
        down = _elapsed(state.get("failing_since_at", state.get("failing_since")), now)
        facts = [*facts, ("failures", f"{failures} since {stamp(since)} ({_span_or_unknown(down)})")]
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
    if any(r.success or r.spooled for r in results):  # not delivered: alerted again next time
        state["last_alert"] = now
        state["last_alert_at"] = _store.moment(now)
    if results:
        _remember(state, alert)
    return [(kind, alert, results)]


_FAILURE_KEYS = (
    "failures",
    "failing_since",
    "failing_since_at",
    "last_alert",
    "last_alert_at",
    "last_status",
    "firing",
)


def _elapsed(recorded: Any, now: float) -> Optional[float]:
    """Seconds since ``recorded`` (see :func:`kstalerts.state.store.elapsed_since`); None: unknown."""
    return _store.elapsed_since(recorded, now_wall=now, now_mono=time.monotonic(), boot=_store.boot_id())


def _wall(value: Any, now: float) -> float:
    """A wall-clock stamp from the state for display; ``now`` when it is not a number."""
    number = finite_number(value)
    return now if number is None else number


def _span_or_unknown(seconds: Optional[float]) -> str:
    return "for an unknown time" if seconds is None else span(seconds)


def _lifecycle_on(alerting: Alerting) -> bool:
    """Whether the manager (or the config) turns the alert lifecycle on."""
    if alerting.manager is not None:
        return getattr(alerting.manager, "lifecycle", None) is not None
    from .config import load_config

    try:
        return load_config(alerting.config, preset=alerting.preset).alerts.get("lifecycle") is not None
    except (AlertConfigurationError, OSError):
        return False  # said by the path without it, which reports a broken config


def _on_lifecycle(
    job: Job,
    outcome: Outcome,
    facts: List[Tuple[str, str]],
    tail: Optional[TailBuffer],
    state: Dict[str, Any],
    alerting: Alerting,
) -> List[Sent]:
    """The run on the alert lifecycle: a failure is a firing alert of the job's identity (its
    repeats held for ``repeat_interval``, flapping counted), a success resolves it on exactly
    the channels that heard it fire, whatever their ``min_level``. ``--realert`` is not used."""
    notes = alerting.notes
    now = time.time()
    failures = int(state.get("failures") or 0)
    if outcome.status == "ok":
        for key in _FAILURE_KEYS:
            state.pop(key, None)
        owned, active = _manager(alerting, f"{job.name} recovered")
        if active is None:
            return []
        try:
            results = tuple(active.resolve(job.dedup_key))
        finally:
            if owned:
                _close(active, notes)
        for result in results:
            if not result.outcome.meaning.ok:
                notice(notes, f"recovery of {job.name!r} not delivered to {result.channel}: {result.error}")
        if not results:
            return []
        recovery = results[0].alert or AlertMessage(f"{job.name} recovered", level=AlertLevel.SUCCESS)
        return [("recovery", recovery, results)]
    failures += 1
    state["failures"] = failures
    since = float(state.setdefault("failing_since", now))
    state["last_status"] = outcome.what
    title = f"{job.name} {outcome.what}"
    if failures > 1:
        title = f"{job.name} still failing: {failures} failures since {stamp(since)} (last: {outcome.what})"
        facts = [*facts, ("failures", f"{failures} since {stamp(since)} ({span(now - since)})")]
    exit_label = str(outcome.exit_code) if outcome.status != "skipped" else "skipped"
    labels = {k: v for k, v in job.labels(exit_label).items() if k != "exit_code"}  # one identity
    alert = AlertMessage(title, job.body(facts, tail), job.level, labels=labels, dedup_key=job.dedup_key)
    owned, active = _manager(alerting, title)
    if active is None:
        return []
    try:
        results = _send(active, alert, alerting.channel, notes)
    finally:
        if owned:
            _close(active, notes)
    return [("failure" if failures == 1 else "repeat", alert, results)]


def _manager(alerting: Alerting, about: str) -> Tuple[bool, Optional["AlertManager"]]:
    """(owned, manager): the caller's, or one built from the config; None when it cannot be."""
    if alerting.manager is not None:
        return False, alerting.manager
    from .manager import AlertManager

    config, preset, notes = alerting.config, alerting.preset, alerting.notes

    try:
        with warnings.catch_warnings():  # "no channels" is said once, below, as a notice
            warnings.simplefilter("ignore", NoChannelsWarning)
            built = AlertManager.from_config(config, preset=preset)
    except Exception as exc:  # a config error, or a bug: never the job's status
        where = f" ({config})" if config and config not in str(exc) else ""
        notice(notes, f"no alert sent ({about}): the config cannot be used{where}: {exc}")
        return False, None
    if not built.channels:
        built.close()
        where = f"in {config}" if config else "(no config file found)"
        notice(notes, f"no alert sent ({about}): no channels configured {where}")
        return False, None
    return True, built


def _manager_notes(alerting: Alerting) -> None:
    """With nothing to send, still say when the config is broken, so it is fixed before it matters."""
    if alerting.manager is not None:
        return
    from .config import load_config

    config, preset, notes = alerting.config, alerting.preset, alerting.notes

    try:
        load_config(config, preset=preset)
    except Exception as exc:  # a config error, or a bug: never the job's status
        where = f" ({config})" if config and config not in str(exc) else ""
        notice(notes, f"the config cannot be used{where}, so no alert could be sent: {exc}")


def _close(manager: "AlertManager", notes: TextIO) -> None:
    """Send the throttle's pending digests (where the manager has them), then close."""
    flush = getattr(manager, "flush_digests", None)
    if callable(flush):
        try:
            flush()
        except Exception as exc:  # a pending digest must not change the job's status
            notice(notes, f"pending digests not sent: {type(exc).__name__}: {exc}")
    manager.close()
