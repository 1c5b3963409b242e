"""The values that flow through kstalerts: levels, messages and results.

Everything here is immutable. An :class:`AlertMessage` fixes its creation
time when it is built, so every channel that renders it shows the same
timestamp; a change is a new value made with :func:`dataclasses.replace`.
Nothing here formats for a particular service: that is each channel's job.
"""

from __future__ import annotations

import enum
import re
import time
import types
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple, Union

from .exceptions import AlertConfigurationError
from .limits import MAX_BODY_CHARS, MAX_LABELS, MAX_TITLE_CHARS

__all__ = ("AlertLevel", "AlertMessage", "AlertResult")


class AlertLevel(enum.IntEnum):
    """How urgent an alert is; ordered ``INFO < WARNING < CRITICAL``.

    >>> AlertLevel.parse("Warning") is AlertLevel.WARNING
    True
    >>> AlertLevel.INFO < AlertLevel.CRITICAL
    True
    """

    INFO = 1
    WARNING = 2
    CRITICAL = 3

    @classmethod
    def parse(cls, value: Union[AlertLevel, str]) -> AlertLevel:
        """Return the level named by ``value`` (case-insensitive).

        An unknown name raises :class:`AlertConfigurationError` listing the
        valid ones.
        """
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            member = cls.__members__.get(value.strip().upper())
            if member is not None:
                return member
        valid = ", ".join(name.lower() for name in cls.__members__)
        raise AlertConfigurationError(f"unknown alert level {value!r}; expected one of: {valid}")

    def __str__(self) -> str:
        return self.name


def _frozen_labels(labels: Optional[Mapping[str, str]]) -> Mapping[str, str]:
    if not labels:
        return types.MappingProxyType({})
    if len(labels) > MAX_LABELS:
        raise AlertConfigurationError(f"too many labels: {len(labels)} (the limit is {MAX_LABELS})")
    checked: Dict[str, str] = {}
    for name, value in labels.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise AlertConfigurationError(f"label {name!r}: labels map strings to strings")
        checked[_valid_text(name)] = _valid_text(value)
    return types.MappingProxyType(checked)


_SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPED_BYTES = re.compile("[\udc80-\udcff]+")


def _valid_text(text: str) -> str:
    """``text`` as valid Unicode: undecodable bytes become U+FFFD.

    Text from outside (stdin, argv, file names from :func:`os.fsdecode`)
    can carry lone surrogates, which no channel can encode. Bytes smuggled
    in by ``surrogateescape`` are decoded again as UTF-8, so a valid
    sequence split that way comes back whole; anything else is replaced.

    >>> _valid_text("caf\\udcc3\\udca9 \\udcff \\ud800") == "café \\ufffd \\ufffd"
    True
    """
    if not _SURROGATE.search(text):
        return text
    text = _ESCAPED_BYTES.sub(
        lambda m: m.group().encode("utf-8", "surrogateescape").decode("utf-8", "replace"), text
    )
    return _SURROGATE.sub("\ufffd", text)


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    marker = f"... [{len(text) - limit} characters cut]"
    return text[: max(0, limit - len(marker))] + marker


@dataclass(frozen=True)
class AlertMessage:
    """One alert: a title, a body and a level, plus optional metadata.

    ``timestamp=True`` asks channels to prefix the title with the creation
    time (see :attr:`formatted_title`). ``labels`` and ``dedup_key`` are used
    by channels whose service has such a notion, and by duplicate
    suppression. A title longer than ``MAX_TITLE_CHARS`` or a body longer
    than ``MAX_BODY_CHARS`` is cut, with a marker saying how much.

    >>> AlertMessage("Disk full", "/var is at 97%", AlertLevel.WARNING).level.name
    'WARNING'
    """

    title: str
    body: str = ""
    level: AlertLevel = AlertLevel.INFO
    timestamp: bool = False
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    dedup_key: Optional[str] = None
    created_at: float = field(default_factory=time.time, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.title, str) or not self.title.strip():
            raise AlertConfigurationError("alert title must be a non-empty string")
        if not isinstance(self.body, str):
            raise AlertConfigurationError("alert body must be a string")
        if not isinstance(self.level, AlertLevel):
            raise AlertConfigurationError(
                f"alert level must be an AlertLevel, not {type(self.level).__name__}"
                " (use AlertLevel.parse() for names)"
            )
        if self.dedup_key is not None and not isinstance(self.dedup_key, str):
            raise AlertConfigurationError("dedup_key must be a string")
        object.__setattr__(self, "title", _truncate(_valid_text(self.title), MAX_TITLE_CHARS))
        object.__setattr__(self, "body", _truncate(_valid_text(self.body), MAX_BODY_CHARS))
        object.__setattr__(self, "labels", _frozen_labels(self.labels))

    def __reduce__(self) -> Tuple[Any, ...]:
        # The labels are a read-only mappingproxy, which pickle refuses: the
        # message pickles as the call that rebuilds it (for process pools).
        fields = (self.title, self.body, self.level, self.timestamp, dict(self.labels))
        return (type(self), (*fields, self.dedup_key, self.created_at))

    @property
    def formatted_title(self) -> str:
        """The title, prefixed with ``[YYYY-MM-DD HH:MM:SS]`` when asked."""
        if not self.timestamp:
            return self.title
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.created_at))
        return f"[{stamp}] {self.title}"

    @property
    def effective_dedup_key(self) -> str:
        """``dedup_key`` if set, else the level and title."""
        if self.dedup_key is not None:
            return self.dedup_key
        return f"{self.level.name}:{self.title}"

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-ready mapping; :meth:`from_dict` reverses it exactly."""
        return {
            "title": self.title,
            "body": self.body,
            "level": self.level.name,
            "timestamp": self.timestamp,
            "labels": dict(self.labels),
            "dedup_key": self.dedup_key,
            "created_at": self.created_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlertMessage:
        """Rebuild a message written by :meth:`to_dict`."""
        return cls(
            title=data["title"],
            body=data.get("body", ""),
            level=AlertLevel.parse(data.get("level", "info")),
            timestamp=bool(data.get("timestamp", False)),
            labels=data.get("labels") or {},
            dedup_key=data.get("dedup_key"),
            created_at=float(data.get("created_at", time.time())),
        )


@dataclass(frozen=True)
class AlertResult:
    """What happened when one alert went to one channel.

    ``success`` is true only when the service accepted the alert. ``error``
    says, in words a person can act on, what went wrong; it never contains a
    secret. ``attempts`` counts delivery attempts (0 when none was made, as
    for a throttled or suppressed alert). ``retryable`` tells whether a later
    try may succeed; ``status`` is the HTTP status or SMTP code, if any.
    """

    channel: str
    success: bool
    message_id: Optional[str] = None
    error: Optional[str] = None
    attempts: int = 0
    throttled: bool = False
    suppressed: bool = False
    retryable: bool = False
    spooled: bool = False
    status: Optional[int] = None
    alert: Optional[AlertMessage] = field(default=None, repr=False, compare=False)

    def __str__(self) -> str:
        if self.success:
            return f"{self.channel}: delivered ({self.attempts} attempt(s))"
        if self.suppressed:
            return f"{self.channel}: suppressed (duplicate within the window)"
        state = "throttled" if self.throttled else "failed"
        return f"{self.channel}: {state}: {self.error}"
