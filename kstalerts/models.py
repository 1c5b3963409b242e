"""The values that flow through kstalerts: levels, messages and results.

Everything here is immutable. An :class:`AlertMessage` fixes its creation
time when it is built, so every channel that renders it shows the same
timestamp; a change is a new value made with its ``replace()`` method.
Nothing here formats for a particular service: that is each channel's job.
"""

import enum
import time
import types

from ._text import clean, compiled, cut
from ._typing import Any, Dict, Mapping, Optional, Tuple, Union, overload
from .exceptions import AlertConfigurationError
from .limits import MAX_BODY_CHARS, MAX_LABELS, MAX_TITLE_CHARS
from .outcome import Delivery, Outcome

__all__ = ()


class AlertLevel(enum.IntEnum):
    """How urgent an alert is: ``INFO < SUCCESS < WARNING < CRITICAL``.

    The values are kstlib's (10, 11, 20, 30), so code that stores or
    compares ``int(level)`` keeps working after a move from kstlib.
    ``SUCCESS`` is a positive confirmation (a job done, a service back):
    it passes an ``INFO`` floor but not a ``WARNING`` one.

    >>> AlertLevel.parse("Warning") is AlertLevel.WARNING
    True
    >>> [int(level) for level in AlertLevel]
    [10, 11, 20, 30]
    >>> AlertLevel.INFO < AlertLevel.SUCCESS < AlertLevel.WARNING
    True
    """

    INFO = 10
    SUCCESS = 11
    WARNING = 20
    CRITICAL = 30

    @classmethod
    def parse(cls, value: Union["AlertLevel", str]) -> "AlertLevel":
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


#: Level values kstalerts wrote before it took kstlib's numbering.
_LEGACY_VALUES = {1: AlertLevel.INFO, 2: AlertLevel.WARNING, 3: AlertLevel.CRITICAL}


def stored_level(value: Any) -> AlertLevel:
    """The level a stored record names: a name, a value, or an old value.

    Spool entries and state files name a level (``"WARNING"``); a number is
    read as a level's value (``20``), and the values 1, 2 and 3 written
    before kstalerts took kstlib's numbering as ``INFO``, ``WARNING`` and
    ``CRITICAL``. Anything else raises :class:`AlertConfigurationError`.

    >>> stored_level(2) is stored_level(20) is stored_level("warning") is AlertLevel.WARNING
    True
    """
    if isinstance(value, int) and not isinstance(value, (bool, AlertLevel)):
        level = _LEGACY_VALUES.get(value)
        if level is not None:
            return level
        try:
            return AlertLevel(value)
        except ValueError:
            pass
    return AlertLevel.parse(value)


def _frozen_labels(labels: Optional[Mapping[str, str]]) -> Mapping[str, str]:
    if not labels:
        return types.MappingProxyType({})
    if len(labels) > MAX_LABELS:
        raise AlertConfigurationError(f"too many labels: {len(labels)} (the limit is {MAX_LABELS})")
    checked: Dict[str, str] = {}
    for name, value in labels.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise AlertConfigurationError(f"label {name!r}: labels map strings to strings")
        checked[clean(_valid_text(name))] = clean(_valid_text(value))
    return types.MappingProxyType(checked)


_SURROGATE = "[\ud800-\udfff]"  # sources: compiled on first use
_ESCAPED_BYTES = "[\udc80-\udcff]+"


def _valid_text(text: str) -> str:
    """``text`` as valid Unicode: undecodable bytes become U+FFFD.

    Text from outside (stdin, argv, file names from :func:`os.fsdecode`)
    can carry lone surrogates, which no channel can encode. Bytes smuggled
    in by ``surrogateescape`` are decoded again as UTF-8, so a valid
    sequence split that way comes back whole; anything else is replaced.

    >>> _valid_text("caf\\udcc3\\udca9 \\udcff \\ud800") == "café \\ufffd \\ufffd"
    True
    """
    if text.isprintable() or not compiled(_SURROGATE).search(text):
        return text  # a surrogate is never printable: one line of text needs no pattern
    text = compiled(_ESCAPED_BYTES).sub(
        lambda m: m.group().encode("utf-8", "surrogateescape").decode("utf-8", "replace"), text
    )
    return compiled(_SURROGATE).sub("\ufffd", text)


class Frozen:
    """The base of an immutable value with ``__slots__`` (an ``AlertMessage``, a ``RetryPolicy``...).

    A subclass lists its fields in ``__slots__``, sets them with
    ``object.__setattr__`` in ``__init__``, and returns them in constructor
    order from ``_values()``; the first ``_COMPARED`` of them make equality,
    hash and repr (the others, such as a random source or the alert a
    result carries, are left out). :meth:`replace` builds a checked copy
    through the constructor; a value pickles whole.
    """

    __slots__ = ()
    _COMPARED = 0  # fields in equality, hash and repr; 0: all of them

    def _values(self) -> Tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields())

    def _compared(self) -> Tuple[Any, ...]:
        values = self._values()
        return values[: self._COMPARED] if self._COMPARED else values

    def replace(self, **changes: Any) -> Any:
        """A copy with ``changes`` applied (and checked)."""
        fields = dict(zip(self._fields(), self._values()))
        fields.update(changes)
        return type(self)(**fields)

    @classmethod
    def _fields(cls) -> Tuple[str, ...]:
        for klass in cls.__mro__:  # the slots of the class that declared them (a user subclass has none)
            slots = klass.__dict__.get("__slots__")
            if slots:
                return tuple(slots)
        return ()

    def __setattr__(self, name: str, value: Any) -> None:
        kind = _declaring(self)
        raise AttributeError(f"cannot assign to field {name!r}: {kind} is immutable (use replace())")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}: {_declaring(self)} is immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Frozen) or other.__class__ is not self.__class__:
            return NotImplemented
        return self._compared() == other._compared()

    def __hash__(self) -> int:
        return hash(self._compared())

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in zip(self._fields(), self._compared()))
        return f"{type(self).__qualname__}({shown})"

    def __reduce__(self) -> Tuple[Any, Tuple[Any, ...]]:
        return (type(self), self._values())


def _declaring(value: Frozen) -> str:
    """The name of the library class a value is (``AlertMessage`` for a user's subclass too)."""
    for klass in type(value).__mro__:
        if klass.__dict__.get("__slots__"):
            return klass.__name__
    return type(value).__name__


class AlertMessage(Frozen):
    """One alert: a title, a body and a level, plus optional metadata.

    ``timestamp=True`` asks channels to prefix the title with the creation
    time (see :attr:`formatted_title`). ``labels`` and ``dedup_key`` are used
    by channels whose service has such a notion, and by duplicate
    suppression. A title longer than ``MAX_TITLE_CHARS`` or a body longer
    than ``MAX_BODY_CHARS`` is cut from the middle, with a marker saying
    how much; control characters in the title, body and labels are made
    inert (:func:`kstalerts._text.clean`), so no channel sees one.

    The value is immutable: :meth:`replace` makes a changed copy. Two
    messages are equal when every field but ``created_at`` is; the hash
    leaves ``labels`` out too. A message pickles and copies whole.

    >>> AlertMessage("Disk full", "/var is at 97%", AlertLevel.WARNING).level.name
    'WARNING'
    >>> AlertMessage("Disk full").replace(level=AlertLevel.CRITICAL).level.name
    'CRITICAL'
    """

    __slots__ = ("title", "body", "level", "timestamp", "labels", "dedup_key", "created_at")

    title: str
    body: str  # default ""
    level: AlertLevel  # default AlertLevel.INFO
    timestamp: bool  # default False
    labels: Mapping[str, str]  # read-only; default empty
    dedup_key: Optional[str]  # default None
    created_at: float  # time.time() when built, unless given

    def __init__(
        self,
        title: str,
        body: str = "",
        level: AlertLevel = AlertLevel.INFO,
        timestamp: bool = False,
        labels: Optional[Mapping[str, str]] = None,
        dedup_key: Optional[str] = None,
        created_at: Optional[float] = None,
    ) -> None:
        if isinstance(title, str):
            title = clean(_valid_text(title))
        if not isinstance(title, str) or not title.strip():
            raise AlertConfigurationError("alert title must be a non-empty string")
        if not isinstance(body, str):
            raise AlertConfigurationError("alert body must be a string")
        if isinstance(level, str):  # a name, as add_channel(min_level=...) and the config take
            level = AlertLevel.parse(level)
        if not isinstance(level, AlertLevel):
            raise AlertConfigurationError(
                f"alert level must be an AlertLevel, not {type(level).__name__}"
                " (use AlertLevel.parse() for names)"
            )
        if dedup_key is not None and not isinstance(dedup_key, str):
            raise AlertConfigurationError("dedup_key must be a string")
        _set = object.__setattr__
        _set(self, "title", cut(title, MAX_TITLE_CHARS))
        _set(self, "body", cut(clean(_valid_text(body)), MAX_BODY_CHARS))
        _set(self, "level", level)
        _set(self, "timestamp", timestamp)
        _set(self, "labels", _frozen_labels(labels))
        _set(self, "dedup_key", dedup_key)
        _set(self, "created_at", time.time() if created_at is None else created_at)

    _COMPARED = 6  # every field but created_at

    def replace(self, **changes: Any) -> "AlertMessage":
        """A copy with ``changes`` applied (and checked); ``created_at`` is kept unless changed."""
        copy: AlertMessage = super().replace(**changes)
        return copy

    def _values(self) -> Tuple[Any, ...]:
        return (
            self.title,
            self.body,
            self.level,
            self.timestamp,
            dict(self.labels),
            self.dedup_key,
            self.created_at,
        )

    def __hash__(self) -> int:  # labels left out: a mapping does not hash
        return hash((self.title, self.body, self.level, self.timestamp, self.dedup_key))

    def __repr__(self) -> str:
        return (
            f"{type(self).__qualname__}(title={self.title!r}, body={self.body!r}, level={self.level!r},"
            f" timestamp={self.timestamp!r}, labels={self.labels!r}, dedup_key={self.dedup_key!r},"
            f" created_at={self.created_at!r})"
        )

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
    def from_dict(cls, data: Mapping[str, Any]) -> "AlertMessage":
        """Rebuild a message written by :meth:`to_dict`."""
        return cls(
            title=data["title"],
            body=data.get("body", ""),
            level=stored_level(data.get("level", "info")),
            timestamp=bool(data.get("timestamp", False)),
            labels=data.get("labels") or {},
            dedup_key=data.get("dedup_key"),
            created_at=float(data.get("created_at", time.time())),
        )


class _Column:
    """A read-only flag of :class:`AlertResult`: its outcome's ``name`` column in the outcome
    table (one rule for the four flags users read)."""

    def __init__(self, name: str, doc: str) -> None:
        self.name = name
        self.__doc__ = doc

    @overload
    def __get__(self, result: None, owner: type) -> "_Column": ...
    @overload
    def __get__(self, result: "AlertResult", owner: type) -> bool: ...
    def __get__(self, result: "Optional[AlertResult]", owner: type) -> "Union[_Column, bool]":
        if result is None:  # read on the class (help(), the docs): the descriptor itself
            return self
        flag: bool = getattr(result.outcome.meaning, self.name)
        return flag


class AlertResult(Frozen):
    """What happened when one alert went to one channel.

    ``outcome`` is what the delivery came to; ``success``, ``throttled``,
    ``suppressed`` and ``retryable`` are read from its row of the outcome
    table. ``success`` is true only when the service accepted the alert.
    ``error`` says, in words a person can act on, what went wrong; it never
    contains a secret. ``attempts`` counts delivery attempts (0 when none
    was made, as for a throttled or suppressed alert); ``status`` is the
    HTTP status or SMTP code, if any. ``alert`` is the message delivered; it
    is left out of equality, hash and repr. The value is immutable
    (:meth:`replace` makes a changed copy) and pickles whole, ``alert``
    included.

    Built by hand with the flags (``AlertResult("ops", False,
    throttled=True)``), the result stores the outcome they name;
    ``outcome=`` gives it directly.
    """

    __slots__ = ("channel", "outcome", "message_id", "error", "attempts", "spooled", "status", "alert")

    channel: str
    outcome: Outcome
    message_id: Optional[str]  # default None
    error: Optional[str]  # default None
    attempts: int  # default 0
    spooled: bool  # default False
    status: Optional[int]  # default None
    alert: Optional[AlertMessage]  # default None

    def __init__(
        self,
        channel: str,
        success: bool = False,
        message_id: Optional[str] = None,
        error: Optional[str] = None,
        attempts: int = 0,
        throttled: bool = False,
        suppressed: bool = False,
        retryable: bool = False,
        spooled: bool = False,
        status: Optional[int] = None,
        alert: Optional[AlertMessage] = None,
        *,
        outcome: Optional[Outcome] = None,
    ) -> None:
        if outcome is None:
            outcome = _named_by(success, error, suppressed, throttled, attempts, retryable)
        _set = object.__setattr__
        _set(self, "channel", channel)
        _set(self, "outcome", outcome)
        _set(self, "message_id", message_id)
        _set(self, "error", error)
        _set(self, "attempts", attempts)
        _set(self, "spooled", spooled)
        _set(self, "status", status)
        _set(self, "alert", alert)

    @classmethod
    def from_delivery(
        cls,
        channel: str,
        delivery: Delivery,
        *,
        attempts: int = 1,
        alert: Optional[AlertMessage] = None,
    ) -> "AlertResult":
        """The result of ``delivery``, keeping its outcome.

        A delivered alert has no ``error``; any other keeps the delivery's
        note (or the outcome's name) as ``error``; our own throttle made no
        attempt.
        """
        outcome = delivery.outcome
        note = delivery.note
        if outcome is Outcome.DELIVERED:
            note = None
        elif note is None:
            note = outcome.value.replace("_", " ")
        attempts = 0 if outcome is Outcome.THROTTLED else attempts
        # positional: the hot path of every delivery
        return cls(channel, False, delivery.message_id, note, attempts, False, False, False, False,
                   delivery.status, alert, outcome=outcome)  # fmt: skip

    success = _Column("success", "Whether the service accepted the alert (all or some of its members).")
    throttled = _Column("throttled", "Whether a throttle (ours, or the service's rate limit) held the alert.")
    suppressed = _Column("suppressed", "Whether the alert was a duplicate in the dedup window: not sent.")
    retryable = _Column("retryable", "Whether a later try may succeed.")

    def replace(self, **changes: Any) -> "AlertResult":
        """A copy with ``changes`` applied; changing a flag names the outcome again from the flags."""
        fields: Dict[str, Any] = dict(zip(self._fields(), self._values()))
        if any(flag in changes for flag in _FLAGS):
            fields.update((flag, getattr(self, flag)) for flag in _FLAGS)
            fields["outcome"] = None
        fields.update(changes)
        return type(self)(**fields)

    _COMPARED = 7  # every field but the alert

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in _REPR_FIELDS)
        return f"{type(self).__qualname__}({shown})"

    def __reduce__(self) -> Tuple[Any, Tuple[Any, ...]]:
        return (_result, self._values())

    def __str__(self) -> str:
        outcome = self.outcome
        if outcome is Outcome.SUPPRESSED:
            return f"{self.channel}: suppressed (duplicate within the window)"
        if outcome is Outcome.HELD or outcome is Outcome.SILENCED or outcome is Outcome.INHIBITED:
            return f"{self.channel}: {outcome.meaning.stat} ({self.error})"  # the alert lifecycle's
        if outcome.meaning.ok:
            return f"{self.channel}: delivered ({self.attempts} attempt(s))"
        return f"{self.channel}: {outcome.meaning.stat}: {self.error}"


_FLAGS = ("success", "throttled", "suppressed", "retryable")
_REPR_FIELDS = (
    "channel",
    "success",
    "message_id",
    "error",
    "attempts",
    "throttled",
    "suppressed",
    "retryable",
    "spooled",
    "status",
)


def _result(
    channel: str,
    outcome: Outcome,
    message_id: Optional[str],
    error: Optional[str],
    attempts: int,
    spooled: bool,
    status: Optional[int],
    alert: Optional[AlertMessage],
) -> AlertResult:
    """An :class:`AlertResult` from its stored fields (how one unpickles)."""
    return AlertResult(
        channel, message_id=message_id, error=error, attempts=attempts, spooled=spooled,
        status=status, alert=alert, outcome=outcome,
    )  # fmt: skip


def _named_by(
    success: bool, error: Optional[str], suppressed: bool, throttled: bool, attempts: int, retryable: bool
) -> Outcome:
    """The outcome a result built by hand names with its flags.

    A success that still carries an error reached only some of the
    service's members; a throttled result with an attempt is the service's
    rate limit, without one our own throttle.
    """
    if success:
        return Outcome.DELIVERED if error is None else Outcome.PARTLY_DELIVERED
    if suppressed:
        return Outcome.SUPPRESSED
    if throttled:
        return Outcome.RATE_LIMITED if attempts else Outcome.THROTTLED
    return Outcome.FAILED if retryable else Outcome.REFUSED
