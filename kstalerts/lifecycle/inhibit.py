"""Inhibition: while a source alert fires, hold the target alerts it explains.

A rule is ``{source: [MATCHER...], target: [MATCHER...], equal: [LABEL...]}``
(Alertmanager's ``source_matchers``/``target_matchers``/``equal``). An alert
that matches ``target`` is inhibited while some *other* identity that matches
``source`` is firing in the notification log with the same values (an
absent label is the empty value) for every name in ``equal``.

Rules: an alert that matches both sides of a rule is never inhibited by an
alert that does too (itself included), as in Alertmanager, so a rule cannot
make a set of alerts mute each other. Rules are parsed once, from config,
with errors naming the rule's place; evaluation reads the firing entries of
the log the caller holds and does no I/O.
"""

from .._typing import Any, Dict, Mapping, NamedTuple, Optional, Sequence, Tuple
from ..exceptions import AlertConfigurationError
from .identity import fields_of
from .matchers import Matcher, matches_all, parse_matchers

__all__ = ()

_MAX_RULES = 100
_RULE_KEYS = frozenset({"source", "target", "equal"})


class InhibitRule(NamedTuple):
    """One parsed rule."""

    source: Tuple[Matcher, ...]
    target: Tuple[Matcher, ...]
    equal: Tuple[str, ...]


def parse_rules(rules: Any, *, where: str = "alerts.inhibit") -> Tuple[InhibitRule, ...]:
    """Rules from config (a list of mappings); errors name ``where[i].key``."""
    if rules is None:
        return ()
    if not isinstance(rules, (list, tuple)):
        raise AlertConfigurationError("must be a list of {source, target, equal} rules", key=where)
    if len(rules) > _MAX_RULES:
        raise AlertConfigurationError(f"{len(rules)} rules; at most {_MAX_RULES}", key=where)
    parsed = []
    for index, rule in enumerate(rules):
        at = f"{where}[{index}]"
        if isinstance(rule, InhibitRule):
            parsed.append(rule)
            continue
        if not isinstance(rule, Mapping):
            raise AlertConfigurationError("a rule is a mapping with source, target and equal", key=at)
        unknown = sorted(set(rule) - _RULE_KEYS)
        if unknown:
            raise AlertConfigurationError(
                f"unknown key {unknown[0]!r}; a rule has source, target, equal", key=at
            )
        sides = []
        for side in ("source", "target"):
            value = rule.get(side)
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, (list, tuple)) or not value:
                raise AlertConfigurationError('a list of matchers such as ["host=db1"]', key=f"{at}.{side}")
            try:
                sides.append(parse_matchers(value))
            except AlertConfigurationError as exc:
                raise AlertConfigurationError(exc.reason, key=f"{at}.{side}") from None
        equal = rule.get("equal") or []
        if isinstance(equal, str) or not all(isinstance(name, str) for name in equal):
            raise AlertConfigurationError("a list of label names", key=f"{at}.equal")
        parsed.append(InhibitRule(sides[0], sides[1], tuple(equal)))
    return tuple(parsed)


def inhibitor(
    rules: Sequence[InhibitRule],
    fp: str,
    seen: Mapping[str, str],
    firing: Mapping[str, Dict[str, Any]],
) -> Optional[str]:
    """The title of a firing alert that inhibits the alert ``fp`` (fields ``seen``), or ``None``."""
    for rule in rules:
        if not matches_all(rule.target, seen):
            continue
        both = matches_all(rule.source, seen)
        for other_fp, entry in firing.items():
            if other_fp == fp:
                continue
            other = _fields(entry)
            if not matches_all(rule.source, other):
                continue
            if both and matches_all(rule.target, other):
                continue
            if all(other.get(name, "") == seen.get(name, "") for name in rule.equal):
                return str(entry.get("title", other_fp))
    return None


def _fields(entry: Dict[str, Any]) -> Dict[str, str]:
    labels = entry.get("labels")
    clean = {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}
    key = entry.get("key")
    return fields_of(
        key if isinstance(key, str) else None, str(entry.get("title", "")), str(entry.get("level", "")), clean
    )
