"""Flapping, by Nagios's algorithm: a state that changes too often stops paging on each change.

An identity keeps its last 21 states (``1`` firing, ``0`` resolved). The
20 transitions between them are weighted from 0.75 (oldest) to 1.25
(newest); the weighted share of transitions that are changes, in percent,
at or above ``high`` (default 20) starts flapping, at or below ``low``
(default 5) stops it. Until 21 states are known the share is taken over
the transitions seen so far (each keeping the weight of its place counted
from the newest); flapping never starts before three changes have been
seen: so "fails, recovers, fails, recovers" is flapping at once, as a
person would say, while one recovery after a long outage is not.

Rules: :func:`observe` changes the plain record it is given (``{"h": [...],
"on": bool}``) and returns what to say: ``None`` (nothing special),
``"start"`` or ``"stop"``; while flapping, the caller sends nothing per
change. Pure: no I/O, no clock.
"""

from .._typing import Any, Dict, List, Optional

__all__ = ()

STATES = 21
_MIN_CHANGES = 3
_LOW_WEIGHT, _HIGH_WEIGHT = 0.75, 1.25


def share(history: List[int]) -> float:
    """The weighted percentage of changes among the transitions of ``history`` (oldest first)."""
    states = history[-STATES:]
    transitions = len(states) - 1
    if transitions < 1:
        return 0.0
    changes = total = 0.0
    for index in range(1, len(states)):
        place = STATES - 1 - (len(states) - 1 - index)  # 1 (oldest slot) .. 20 (newest)
        weight = _LOW_WEIGHT + (place - 1) * (_HIGH_WEIGHT - _LOW_WEIGHT) / (STATES - 2)
        total += weight
        if states[index] != states[index - 1]:
            changes += weight
    if transitions == STATES - 1:
        return changes * 100.0 / (STATES - 1)  # Nagios: the plain mean over 20 slots
    return changes * 100.0 / total


def observe(record: Dict[str, Any], firing: bool, high: float, low: float) -> Optional[str]:
    """Add a state to ``record``; ``"start"``/``"stop"`` when flapping begins or ends."""
    raw = record.get("h")
    history = [1 if x else 0 for x in raw if x in (0, 1)] if isinstance(raw, list) else []
    history = [*history, 1 if firing else 0][-STATES:]
    record["h"] = history
    on = record.get("on") is True
    if not on and changes(record) < _MIN_CHANGES:
        return None
    percent = share(history)
    record["pct"] = round(percent, 1)
    if not on and percent >= high:
        record["on"] = True
        return "start"
    if on and percent <= low:
        record["on"] = False
        return "stop"
    return None


def changes(record: Dict[str, Any]) -> int:
    """How many changes the kept states hold."""
    raw = record.get("h")
    history: List[Any] = raw if isinstance(raw, list) else []
    return sum(1 for a, b in zip(history, history[1:]) if a != b)
