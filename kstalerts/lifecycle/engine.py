"""The alert lifecycle of one state folder: what to do with an alert, and what was done.

:class:`Lifecycle` is what the manager's lifecycle stages call. Before a
send fans out, :meth:`Lifecycle.decide` records the identity as firing and
gives one :class:`~kstalerts.lifecycle.nflog.Verdict` per channel, in this
order (Alertmanager's): inhibited, silenced, flapping, held by the repeat
interval or by a delivery under way, else deliver (taking a claim). After
each delivery :meth:`Lifecycle.delivered` or :meth:`Lifecycle.failed`
settles it. :meth:`Lifecycle.begin_resolve` names the channels a resolved
message is owed to. Silences and heartbeats live here too, and
:meth:`Lifecycle.due` is what a tick has to send.

Rules: all state is in three documents of the state folder (``nflog``,
``silences``, ``heartbeats``: :mod:`kstalerts.lifecycle._store`), on the
wall clock in UTC (``clock``, injectable). When a document cannot be used
(lock held past the wait, a file another user owns, a full disk), the send
goes ahead as if nothing had been notified, with one warning per problem:
a duplicate is better than a loss. Calls from the command line that change
state (silences, heartbeats) raise instead, so the user sees why.
"""

import logging
import time

from .._typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union
from ..exceptions import AlertConfigurationError
from ..limits import STATE_LOCK_WAIT, finite_number, validate
from ..models import AlertLevel, AlertMessage, stored_level
from . import flapping, heartbeats, nflog, silences
from ._store import Document, default_dir
from .durations import duration, human
from .identity import fields, fingerprint, fingerprint_of
from .inhibit import InhibitRule, inhibitor, parse_rules

__all__ = ()

_log = logging.getLogger("kstalerts.lifecycle")

Target = Union[AlertMessage, str]


class Resolution(NamedTuple):
    """What resolving an identity owes: ``state`` (``resolved``, ``flapping``,
    ``flapping_stopped``) to each of ``channels``, about ``alert``."""

    fingerprint: str
    alert: Optional[AlertMessage]
    channels: Tuple[str, ...]
    state: str
    changes: int = 0  # for a flapping notice: the changes among the kept states


class Due(NamedTuple):
    """What a tick has to do: alerts to send, heartbeats' alerts among them, and stale identities."""

    alerts: Tuple[AlertMessage, ...]
    stale: Tuple[str, ...]


class Lifecycle:
    """Identity, notification log, repeat, resolve, silences, inhibition, heartbeats, flapping."""

    def __init__(
        self,
        state_dir: Optional[str] = None,
        *,
        repeat_interval: Union[float, str] = "4h",
        inhibit: Any = None,
        flapping_high: Union[float, str] = 20.0,
        flapping_low: Union[float, str] = 5.0,
        clock: Callable[[], float] = time.time,
        lock_wait: float = STATE_LOCK_WAIT,
    ) -> None:
        self.state_dir = state_dir or default_dir()
        self.repeat_interval = duration("lifecycle.repeat_interval", repeat_interval)
        self.rules: Tuple[InhibitRule, ...] = parse_rules(inhibit)
        self.flapping_high = float(validate("flapping.high", flapping_high))
        self.flapping_low = float(validate("flapping.low", flapping_low, upper=self.flapping_high))
        self._clock = clock
        self._wait = lock_wait
        self._nflog = Document(self.state_dir, "nflog")
        self._silences = Document(self.state_dir, "silences")
        self._beats = Document(self.state_dir, "heartbeats")
        self._warned: Dict[str, bool] = {}

    def __repr__(self) -> str:
        return f"Lifecycle(state_dir={self.state_dir!r}, repeat_interval={self.repeat_interval!r})"

    # -- sending ---------------------------------------------------------
    def decide(self, alert: AlertMessage, channels: Sequence[str]) -> Dict[str, nflog.Verdict]:
        """One verdict per channel for ``alert``, recorded as firing now."""
        now = self._clock()
        fp = fingerprint(alert)
        deliver = {ch: nflog.Verdict(nflog.DELIVER, fp, since=now) for ch in channels}
        try:
            active = silences.active(self._silences.snapshot(), now)
        except OSError as exc:
            self._warn("silences", f"silences cannot be read ({exc}); none applied")
            active = []
        seen = fields(alert)
        muted = silences.silencing(active, seen)
        try:
            # Not fsynced: claims and held counts mean nothing after a power loss, and a
            # delivery is recorded (fsynced) by delivered() once it succeeded.
            with self._nflog.transaction(self._wait, durable=False) as doc:
                entry = nflog.observe(doc, alert, now)
                if entry is None:
                    return deliver
                entry["body"] = alert.body[:2000]
                event = self._observe_once(entry, alert)
                by = inhibitor(self.rules, fp, seen, nflog.firing(doc)) if self.rules else None
                entry["silenced"] = muted
                entry["inhibited"] = by
                return {
                    ch: self._verdict(entry, fp, ch, alert.level, now, muted, by, event) for ch in channels
                }
        except OSError as exc:
            self._warn("nflog", f"the notification log cannot be used ({exc}); alerts are sent as if new")
            return deliver

    def _observe_once(self, entry: Dict[str, Any], alert: AlertMessage) -> Optional[str]:
        """The flapping event of this send: one observation per alert value, however many
        channels (each channel's stage decides on its own; the value's creation time tells
        the same send from a new one)."""
        stamp = alert.created_at
        last = entry.get("fev")
        if isinstance(last, list) and len(last) == 2 and last[0] == stamp:
            return last[1] if isinstance(last[1], str) else None
        event = flapping.observe(_flap(entry), True, self.flapping_high, self.flapping_low)
        entry["fev"] = [stamp, event]
        return event

    def _verdict(
        self,
        entry: Dict[str, Any],
        fp: str,
        channel: str,
        level: AlertLevel,
        now: float,
        muted: List[str],
        by: Optional[str],
        event: Optional[str],
    ) -> nflog.Verdict:
        since = finite_number(entry.get("since")) or now
        if by is not None:
            return nflog.Verdict(nflog.INHIBITED, fp, since=since, reason=f"inhibited by {by!r}")
        if muted:
            return nflog.Verdict(nflog.SILENCED, fp, since=since, reason="silenced by " + ", ".join(muted))
        record = entry["ch"].setdefault(channel, {})
        if (event == "start" and not record.get("fl")) or (event == "stop" and record.get("fl")):
            record["claim"] = [_pid(), now]
            state = "flapping" if event == "start" else "flapping_stopped"
            return nflog.Verdict(nflog.DELIVER, fp, state=state, since=since, repeats=_changes(entry))
        if _flap(entry).get("on") is True:
            record["held"] = nflog.count(record.get("held")) + 1
            return nflog.Verdict(nflog.HELD, fp, since=since, repeats=record["held"], reason="flapping")
        return nflog.decide(entry, fp, channel, int(level), now, self.repeat_interval)

    def delivered(self, fp: str, channel: str, state: str, level: AlertLevel) -> None:
        """Record that ``channel`` was told ``state`` about identity ``fp`` (after a success only)."""
        self._settle(fp, channel, state, level, ok=True)

    def failed(self, fp: str, channel: str) -> None:
        """Drop the claim of a delivery that did not succeed: the next send is delivered."""
        self._settle(fp, channel, "", AlertLevel.INFO, ok=False)

    def _settle(self, fp: str, channel: str, state: str, level: AlertLevel, *, ok: bool) -> None:
        now = self._clock()
        try:
            with self._nflog.transaction(self._wait) as doc:
                entry = doc.get("alerts", {}).get(fp)
                if not isinstance(entry, dict):
                    return
                if not ok:
                    nflog.release(entry, channel)
                    return
                current = "resolved" if state == "resolved" or entry.get("state") != "firing" else "firing"
                nflog.delivered(entry, channel, current, int(level), now)
                record = entry["ch"][channel]
                if state == "flapping":
                    record["fl"] = 1
                elif state == "flapping_stopped":
                    record.pop("fl", None)
        except OSError as exc:
            self._warn(
                "nflog-write", f"the notification log cannot be written ({exc}); the next send repeats"
            )

    # -- resolving -------------------------------------------------------
    def begin_resolve(self, target: Target, labels: Optional[Dict[str, str]] = None) -> Resolution:
        """The channels owed a resolved message for ``target`` (an alert, a key, or a title with ``labels``).

        Resolving what is not firing owes nothing. Channels are claimed; settle
        each with :meth:`delivered` (state ``resolved``) or :meth:`failed`.
        """
        fp = _target_fp(target, labels)
        now = self._clock()
        try:
            with self._nflog.transaction(self._wait) as doc:
                entry = doc.get("alerts", {}).get(fp)
                if not isinstance(entry, dict):
                    return Resolution(fp, None, (), "resolved")
                was_firing = entry.get("state") == "firing"
                event = flapping.observe(_flap(entry), False, self.flapping_high, self.flapping_low)
                alert = _alert_of(entry, resolved_at=now)
                if event == "start":
                    entry.update(state="resolved", ended=now)
                    owed = _claim(entry, now, lambda r: r.get("n") == "firing")
                    return Resolution(fp, alert, owed, "flapping", _changes(entry))
                if event == "stop":
                    entry.update(state="resolved", ended=now)
                    owed = _claim(entry, now, lambda r: bool(r.get("fl")))
                    return Resolution(fp, alert, owed, "flapping_stopped")
                if _flap(entry).get("on") is True:
                    entry.update(state="resolved", ended=now)
                    return Resolution(fp, alert, (), "flapping")
                if not was_firing and not any(r.get("n") == "firing" for r in nflog.records(entry).values()):
                    return Resolution(fp, alert, (), "resolved")
                return Resolution(fp, alert, tuple(nflog.begin_resolve(entry, now)), "resolved")
        except OSError as exc:
            self._warn("nflog", f"the notification log cannot be used ({exc}); nothing resolved")
            return Resolution(fp, None, (), "resolved")

    def flapping(self, target: Target) -> bool:
        """Whether ``target``'s identity is flapping (so a success still counts toward settling)."""
        try:
            entry = self._nflog.snapshot().get("alerts", {}).get(_target_fp(target, None))
        except OSError:
            return False
        return isinstance(entry, dict) and _flap(dict(entry)).get("on") is True

    # -- silences ----------------------------------------------------------
    def silence(
        self,
        matchers: Sequence[str],
        duration_: Union[float, str] = 3600,
        comment: str = "",
        author: str = "",
    ) -> silences.Silence:
        """Add a silence from now; raises a clear error for bad input (see :mod:`.silences`)."""
        from .durations import strict_duration

        seconds = strict_duration("silence.duration", duration_, what="silence duration")
        with self._silences.transaction(self._wait) as doc:
            return silences.add(doc, list(matchers), seconds, comment, author, self._clock())

    def silences(self, *, include_expired: bool = False) -> List[silences.Silence]:
        """The silences in force or to come (and the expired ones kept, with ``include_expired``)."""
        now = self._clock()
        found = silences.listing(self._silences.snapshot())
        return [s for s in found if include_expired or s.state(now) != "expired"]

    def expire_silence(self, silence_id: str) -> bool:
        """End a silence now (False when it had ended); an unknown id raises."""
        with self._silences.transaction(self._wait) as doc:
            return silences.expire(doc, silence_id, self._clock())

    # -- listing -------------------------------------------------------------
    def alerts(self) -> List[Dict[str, Any]]:
        """The firing identities, for ``kstalerts alerts``."""
        now = self._clock()
        doc = self._nflog.snapshot()
        active = silences.active(self._silences.snapshot(), now)
        out = []
        for fp, entry in sorted(
            nflog.firing(doc).items(),
            key=lambda item: (finite_number(item[1].get("since")) or 0, str(item[1].get("title"))),
        ):
            alert = _alert_of(entry)
            if alert is None:
                continue
            channels = {
                ch: {
                    "state": r.get("n"),
                    "at": finite_number(r.get("at")),
                    "held": nflog.count(r.get("held")),
                }
                for ch, r in sorted(nflog.records(entry).items())
            }
            by = inhibitor(self.rules, fp, fields(alert), nflog.firing(doc)) if self.rules else None
            out.append(
                {
                    "fingerprint": fp,
                    "key": alert.dedup_key,
                    "title": alert.title,
                    "labels": dict(alert.labels),
                    "level": alert.level.name,
                    "since": finite_number(entry.get("since")),
                    "last_sent": finite_number(entry.get("seen")),
                    "channels": channels,
                    "repeats_held": sum(nflog.count(r.get("held")) for r in nflog.records(entry).values()),
                    "silenced_by": silences.silencing(active, fields(alert)),
                    "inhibited_by": by,
                    "flapping": _flap(entry).get("on") is True,
                    "stale": entry.get("stale") is True,
                }
            )
        return out

    # -- heartbeats and the tick ---------------------------------------------
    def heartbeat(self, name: str, cadence: heartbeats.Cadence, *, ping: bool = True) -> bool:
        """Record heartbeat ``name`` alive now (or, ``ping=False``, only declare it); True when it
        had been missed (the caller resolves its alert)."""
        every, grace, level = cadence
        with self._beats.transaction(self._wait) as doc:
            if ping:
                return heartbeats.ping(doc, name, every, grace, level, self._clock())
            heartbeats.create(doc, name, every, grace, level, self._clock())
            return False

    def heartbeats(self) -> List[heartbeats.Heartbeat]:
        """Every heartbeat, by name."""
        return heartbeats.records(self._beats.snapshot())

    def delete_heartbeat(self, name: str) -> None:
        """Forget a heartbeat (and nothing else: a firing missed alert still resolves by key)."""
        with self._beats.transaction(self._wait) as doc:
            heartbeats.delete(doc, name)

    def last_tick(self) -> Optional[float]:
        """When a tick last ran here, if ever."""
        tick = self._beats.snapshot().get("tick")
        return finite_number(tick.get("last")) if isinstance(tick, dict) else None

    def due(self) -> Due:
        """What a tick must send now: missed heartbeats (every tick: the repeat interval holds
        repeats), alerts still firing whose silence ended while they were never notified, and
        stale identities (reported once, dropped at the next tick). Records the tick's run."""
        now = self._clock()
        out: List[AlertMessage] = []
        with self._beats.transaction(self._wait) as doc:
            doc["tick"] = {"last": now}
            for beat in heartbeats.records(doc):
                if beat.missed or now > beat.due:
                    heartbeats.mark_missed(doc, beat.name)
                    out.append(heartbeats.alert_of(beat, now))
        stale: List[str] = []
        active = silences.active(self._silences.snapshot(), now)
        stale_after = max(2 * self.repeat_interval, 86400.0)
        beat_keys = {a.dedup_key for a in out}
        with self._nflog.transaction(self._wait) as doc:
            alerts = doc.get("alerts", {})
            for fp, entry in list(nflog.firing(doc).items()):
                alert = _alert_of(entry)
                if alert is None or alert.dedup_key in beat_keys:
                    continue
                seen = finite_number(entry.get("seen")) or 0.0
                if entry.get("stale") is True:
                    del alerts[fp]
                    continue
                if now - seen > stale_after:
                    entry["stale"] = True
                    stale.append(alert.title)
                    continue
                if entry.get("silenced") and not silences.silencing(active, fields(alert)):
                    out.append(alert)
        return Due(tuple(out), tuple(stale))

    def _warn(self, what: str, message: str) -> None:
        if not self._warned.get(what):
            self._warned[what] = True
            _log.warning("%s", message)


def _flap(entry: Dict[str, Any]) -> Dict[str, Any]:
    record = entry.get("flap")
    if not isinstance(record, dict):
        record = entry["flap"] = {}
    return record


def _changes(entry: Dict[str, Any]) -> int:
    return flapping.changes(_flap(entry))


def _claim(entry: Dict[str, Any], now: float, want: Callable[[Dict[str, Any]], bool]) -> Tuple[str, ...]:
    owed = []
    for channel, record in sorted(nflog.records(entry).items()):
        if want(record) and not nflog.live_claim(record.get("claim"), now):
            entry["ch"][channel]["claim"] = [_pid(), now]
            owed.append(channel)
    return tuple(owed)


def _pid() -> int:
    import os

    return os.getpid()


def _target_fp(target: Target, labels: Optional[Dict[str, str]]) -> str:
    if isinstance(target, AlertMessage):
        return fingerprint(target)
    if not isinstance(target, str) or not target:
        raise AlertConfigurationError("resolve() takes an AlertMessage, a dedup key, or a title with labels=")
    if labels is not None:
        return fingerprint_of(None, target, labels)
    return fingerprint_of(target, "", {})


def _alert_of(entry: Dict[str, Any], resolved_at: Optional[float] = None) -> Optional[AlertMessage]:
    """The alert an entry remembers (its last body; for a resolved one, a body saying so)."""
    try:
        level = stored_level(entry.get("level", "WARNING"))
        labels = entry.get("labels") if isinstance(entry.get("labels"), dict) else {}
        key = entry.get("key") if isinstance(entry.get("key"), str) else None
        body = str(entry.get("body", ""))
        if resolved_at is not None:
            since = finite_number(entry.get("since"))
            lasted = f" after {human(resolved_at - since)}" if since is not None else ""
            body = f"resolved{lasted}"
        return AlertMessage(str(entry.get("title", "")), body, level, labels=labels, dedup_key=key)
    except (AlertConfigurationError, TypeError, ValueError):
        return None
