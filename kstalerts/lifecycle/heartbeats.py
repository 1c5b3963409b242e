"""Heartbeats: "NAME is alive", expected every so often; a missed one fires an alert.

A heartbeat is ``{every, grace, level, created, last, missed}`` under its
name in a plain document the caller holds in a transaction
(``{"beats": {...}}``); stamps are wall-clock UTC seconds.

Rules: due at ``(last ping, else creation) + every + grace``; grace
defaults to 10 % of ``every``, at least one minute (both within their hard
limits, checked by the caller through :mod:`kstalerts.lifecycle.durations`);
at most ``MAX_HEARTBEATS`` names; a ping of a missed heartbeat says so
(:func:`ping` returns ``True``) so the caller resolves its alert. A record
that is damaged is dropped with a warning by :func:`records`, never an
error for the others. The alert of heartbeat NAME has the dedup key
``heartbeat:NAME`` and the label ``heartbeat=NAME``.
"""

import logging

from .._typing import Any, Dict, List, NamedTuple, Optional, Union
from ..exceptions import AlertConfigurationError
from ..limits import MAX_HEARTBEATS, finite_number
from ..models import AlertLevel, AlertMessage, stored_level
from .durations import human

__all__ = ()

_log = logging.getLogger("kstalerts.lifecycle")
_MAX_NAME = 128


class Cadence(NamedTuple):
    """How often a heartbeat is expected (seconds) and the level its missed alert fires at."""

    every: float
    grace: float
    level: AlertLevel

    @classmethod
    def parse(
        cls,
        every: Union[float, str],
        grace: Union[float, str, None] = None,
        level: Union[AlertLevel, str] = AlertLevel.CRITICAL,
    ) -> "Cadence":
        """From a user's words (``"1h"``, ``"5m"``, ``"warning"``); a duration outside its hard
        limits is an error, not clamped; ``grace`` defaults to :func:`default_grace`."""
        from .durations import strict_duration

        seconds = strict_duration("heartbeat.every", every, what="--every")
        wanted = default_grace(seconds) if grace is None else grace
        slack = strict_duration("heartbeat.grace", wanted, what="--grace")
        return cls(seconds, slack, AlertLevel.parse(level))


class Heartbeat(NamedTuple):
    """One heartbeat as stored."""

    name: str
    every: float
    grace: float
    level: AlertLevel
    created: float
    last: Optional[float]
    missed: bool

    @property
    def due(self) -> float:
        """When it is missed if no ping comes."""
        return (self.last if self.last is not None else self.created) + self.every + self.grace

    def state(self, now: float) -> str:
        """``ok``, ``late`` (past ``every``, within grace) or ``missed``."""
        if self.missed or now > self.due:
            return "missed"
        start = self.last if self.last is not None else self.created
        return "late" if now > start + self.every else "ok"

    def to_dict(self, now: float) -> Dict[str, Any]:
        """A JSON-ready view (``kstalerts heartbeat --list --json``)."""
        return {
            "name": self.name,
            "every": self.every,
            "grace": self.grace,
            "level": self.level.name,
            "last_seen": self.last,
            "next_due": self.due,
            "state": self.state(now),
        }


def key_of(name: str) -> str:
    """The dedup key of heartbeat ``name``'s alert."""
    return f"heartbeat:{name}"


def default_grace(every: float) -> float:
    """10 % of ``every``, at least one minute."""
    return max(60.0, every * 0.1)


def check_name(name: str) -> str:
    """``name`` if it can name a heartbeat; else a clear error."""
    if not isinstance(name, str) or not name.strip() or len(name) > _MAX_NAME or any(c < " " for c in name):
        raise AlertConfigurationError(
            f"heartbeat name {name!r}: use 1 to {_MAX_NAME} printable characters (for example backup-db1)"
        )
    return name.strip()


def ping(doc: Dict[str, Any], name: str, every: float, grace: float, level: AlertLevel, now: float) -> bool:
    """Record ``name`` alive now (creating it); True when it had been missed."""
    beats = _beats(doc)
    name = check_name(name)
    record = beats.get(name)
    if not isinstance(record, dict):
        if len(beats) >= MAX_HEARTBEATS:
            raise AlertConfigurationError(
                f"{len(beats)} heartbeats exist, the most kept;"
                " delete one (kstalerts heartbeat --delete NAME)"
            )
        record = beats[name] = {"created": now}
    was_missed = record.get("missed") is True
    record.update(every=every, grace=grace, level=level.name, last=now, missed=False)
    return was_missed


def create(doc: Dict[str, Any], name: str, every: float, grace: float, level: AlertLevel, now: float) -> None:
    """Register ``name`` without a ping (it fires ``every + grace`` from now unless pinged)."""
    beats = _beats(doc)
    name = check_name(name)
    if name in beats:
        beats[name].update(every=every, grace=grace, level=level.name)
        return
    if len(beats) >= MAX_HEARTBEATS:
        raise AlertConfigurationError(f"{len(beats)} heartbeats exist, the most kept; delete one first")
    beats[name] = {
        "created": now,
        "every": every,
        "grace": grace,
        "level": level.name,
        "last": None,
        "missed": False,
    }


def delete(doc: Dict[str, Any], name: str) -> None:
    """Forget ``name``; an unknown name is an error listing how to see them."""
    beats = _beats(doc)
    if name not in beats:
        raise AlertConfigurationError(f"no heartbeat named {name!r} (list them: kstalerts heartbeat --list)")
    del beats[name]


def records(doc: Dict[str, Any]) -> List[Heartbeat]:
    """Every heartbeat that reads back whole, by name; a damaged one is dropped with a warning."""
    beats = _beats(doc)
    out = []
    for name in sorted(beats):
        record = beats[name]
        beat = _parsed(name, record)
        if beat is None:
            _log.warning("heartbeat %r is damaged and was dropped: %.200r", name, record)
            del beats[name]
            continue
        out.append(beat)
    return out


def mark_missed(doc: Dict[str, Any], name: str) -> None:
    """Note that ``name``'s missed alert was raised."""
    record = _beats(doc).get(name)
    if isinstance(record, dict):
        record["missed"] = True


def alert_of(beat: Heartbeat, now: float) -> AlertMessage:
    """The alert a missed heartbeat fires."""
    if beat.last is None:
        seen = f"never seen (created {human(now - beat.created)} ago)"
    else:
        seen = f"last seen {human(now - beat.last)} ago"
    return AlertMessage(
        f"{beat.name} missed: {seen}, expected every {human(beat.every)}",
        f"heartbeat {beat.name!r} is overdue by {human(now - beat.due)} (grace {human(beat.grace)})."
        f" It resolves at its next ping: kstalerts heartbeat {beat.name} --every {human(beat.every)}",
        beat.level,
        labels={"heartbeat": beat.name},
        dedup_key=key_of(beat.name),
    )


def _beats(doc: Dict[str, Any]) -> Dict[str, Any]:
    beats = doc.get("beats")
    if not isinstance(beats, dict):
        beats = doc["beats"] = {}
    return beats


def _parsed(name: str, record: Any) -> Optional[Heartbeat]:
    if not isinstance(record, dict):
        return None
    every, grace, created = (finite_number(record.get(k)) for k in ("every", "grace", "created"))
    last = record.get("last")
    last_value = None if last is None else finite_number(last)
    if every is None or grace is None or created is None or (last is not None and last_value is None):
        return None
    try:
        level = stored_level(record.get("level", "CRITICAL"))
    except AlertConfigurationError:
        return None
    return Heartbeat(name, every, grace, level, created, last_value, record.get("missed") is True)
