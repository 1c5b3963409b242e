"""The notification log: per identity and per channel, what was last delivered and when.

Like Alertmanager's nflog, but also the record of every identity seen
firing (so a silenced alert that was never notified is known to the tick,
and ``kstalerts alerts`` can list it). Functions here change a plain
document (``{"alerts": {fingerprint: entry}}``) that the caller holds
inside one locked transaction (:mod:`kstalerts.lifecycle._store`); they do
no I/O.

Rules:

- A channel's record says ``firing`` or ``resolved`` only after a
  successful delivery (:func:`delivered`); before a delivery the sender
  takes a *claim* (its pid and the time) so that concurrent senders of the
  same identity hold instead of sending twice; a failed delivery drops the
  claim (:func:`release`), so the next send is delivered. A claim whose
  process is gone, or older than the longest send, is ignored.
- Stamps are wall-clock UTC seconds (``time.time()``); a stamp from the
  future (the clock stepped back) or that is not a finite number counts as
  "never notified": a duplicate is better than a silence.
- Bounded: at most ``MAX_NFLOG_ENTRIES`` identities. Resolved ones are
  evicted oldest first to make room; firing ones never: a new identity is
  then not recorded (:func:`observe` returns ``None``, with a warning) and
  is delivered as if never notified.
"""

import logging
import os

from .._typing import Any, Dict, List, NamedTuple, Optional
from ..limits import MAX_NFLOG_ENTRIES, MAX_SEND_BUDGET, finite_number
from .identity import fingerprint

__all__ = ()

_log = logging.getLogger("kstalerts.lifecycle")
_FUTURE_SLACK = 5.0  # seconds a stamp may lie ahead of the clock (two processes, one clock)
_CLAIM_LIFE = MAX_SEND_BUDGET + 60.0

DELIVER = "deliver"
HELD = "held"
SILENCED = "silenced"
INHIBITED = "inhibited"


class Verdict(NamedTuple):
    """What the lifecycle says about one alert for one channel.

    ``action`` is ``deliver``, ``held``, ``silenced`` or ``inhibited``;
    ``state`` is ``firing`` or ``reminder`` for a delivery; ``since`` is when
    the identity started firing; ``repeats`` how many sends were held since
    the channel was last notified; ``reason`` the silences or the alert that
    mute it, in words.
    """

    action: str
    fingerprint: str
    state: str = "firing"
    since: float = 0.0
    repeats: int = 0
    reason: str = ""


def observe(doc: Dict[str, Any], alert: Any, now: float) -> Optional[Dict[str, Any]]:
    """The entry of ``alert``'s identity, created or brought up to date as firing now."""
    alerts = doc.setdefault("alerts", {})
    if not isinstance(alerts, dict):
        alerts = doc["alerts"] = {}
    fp = fingerprint(alert)
    entry = alerts.get(fp)
    if not isinstance(entry, dict):
        if len(alerts) >= MAX_NFLOG_ENTRIES and not _evict_one(alerts):
            _log.warning(
                "the notification log holds %d firing alerts (its limit); %r is delivered but not"
                " recorded (resolve or let old alerts go stale)",
                len(alerts),
                alert.title[:80],
            )
            return None
        entry = alerts[fp] = {"since": now, "sends": 0, "ch": {}}
    if entry.get("state") != "firing":
        entry.update(state="firing", since=now, sends=0)
        entry.pop("ended", None)
    entry.update(
        key=alert.dedup_key,
        title=alert.title,
        labels=dict(alert.labels),
        level=alert.level.name,
        seen=now,
        sends=count(entry.get("sends")) + 1,
    )
    if not isinstance(entry.get("ch"), dict):
        entry["ch"] = {}
    return entry


def decide(
    entry: Dict[str, Any], fp: str, channel: str, level: int, now: float, repeat_interval: float
) -> Verdict:
    """Deliver (taking a claim) or hold ``entry``'s alert for ``channel``.

    Held when another delivery of it to this channel is under way, or when
    the channel was notified of it firing less than ``repeat_interval`` ago
    at the same level or higher; a rise in level is delivered at once.
    """
    record = _record(entry, channel)
    since = finite_number(entry.get("since")) or now
    if live_claim(record.get("claim"), now):
        record["held"] = count(record.get("held")) + 1
        return Verdict(
            HELD, fp, since=since, repeats=record["held"], reason="being delivered by another send"
        )
    notified = record.get("n")
    at = _stamp(record.get("at"), now)
    if (
        notified == "firing"
        and at is not None
        and now - at < repeat_interval
        and level <= count(record.get("lvl"))
    ):
        record["held"] = count(record.get("held")) + 1
        return Verdict(HELD, fp, since=since, repeats=record["held"], reason="repeat interval")
    record["claim"] = [os.getpid(), now]
    state = "reminder" if notified == "firing" else "firing"
    return Verdict(DELIVER, fp, state=state, since=since, repeats=count(record.get("held")))


def delivered(entry: Dict[str, Any], channel: str, state: str, level: int, now: float) -> None:
    """Record a successful delivery of ``state`` (``firing``, ``reminder`` or ``resolved``)."""
    record = _record(entry, channel)
    record.pop("claim", None)
    record.update(n="resolved" if state == "resolved" else "firing", at=now, lvl=level, held=0)


def release(entry: Dict[str, Any], channel: str) -> None:
    """Drop the claim of a delivery that failed: the next send tries again."""
    _record(entry, channel).pop("claim", None)


def begin_resolve(entry: Dict[str, Any], now: float) -> List[str]:
    """Mark ``entry`` resolved; the channels still notified of it firing (each claimed)."""
    if entry.get("state") == "firing":
        entry.update(state="resolved", ended=now)
    targets = []
    for channel, record in sorted(records(entry).items()):
        if record.get("n") == "firing" and not live_claim(record.get("claim"), now):
            record["claim"] = [os.getpid(), now]
            targets.append(channel)
    return targets


def resolved(entry: Dict[str, Any], channel: str, now: float) -> None:
    """Record that ``channel`` was told (or, with ``send_resolved: false``, needs no telling)."""
    delivered(entry, channel, "resolved", 0, now)


def firing(doc: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """The entries still firing, by fingerprint."""
    alerts = doc.get("alerts")
    if not isinstance(alerts, dict):
        return {}
    return {fp: e for fp, e in alerts.items() if isinstance(e, dict) and e.get("state") == "firing"}


def _evict_one(alerts: Dict[str, Any]) -> bool:
    done = [
        (finite_number(e.get("seen")) or 0.0, fp)
        for fp, e in alerts.items()
        if not isinstance(e, dict) or e.get("state") != "firing"
    ]
    if not done:
        return False
    del alerts[min(done)[1]]
    return True


def records(entry: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    records = entry.get("ch")
    if not isinstance(records, dict):
        records = entry["ch"] = {}
    return {k: v for k, v in records.items() if isinstance(v, dict)}


def _record(entry: Dict[str, Any], channel: str) -> Dict[str, Any]:
    records = entry.setdefault("ch", {})
    record = records.get(channel)
    if not isinstance(record, dict):
        record = records[channel] = {}
    found: Dict[str, Any] = record
    return found


def _stamp(value: Any, now: float) -> Optional[float]:
    stamp = finite_number(value)
    if stamp is None or stamp > now + _FUTURE_SLACK:
        return None
    return stamp


def count(value: Any) -> int:
    number = finite_number(value)
    return int(number) if number is not None and 0 <= number < 2**53 else 0


def live_claim(claim: Any, now: float) -> bool:
    if not isinstance(claim, list) or len(claim) != 2:
        return False
    pid, at = finite_number(claim[0]), _stamp(claim[1], now)
    if pid is None or at is None or now - at > _CLAIM_LIFE or pid != int(pid) or pid <= 0:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return pid < 2**31
    return True
