"""Deduplicator: do not deliver the same alert to a channel twice in a window.

An alert's dedup key is :attr:`AlertMessage.effective_dedup_key` (its
``dedup_key``, else level and title). Once an alert was delivered to a
channel, another with the same key sent to that channel within ``window``
seconds is suppressed. Keys are remembered per channel, so a duplicate is
still delivered to a channel that has not had it.

A delivery first *claims* its (channel, key): the claim is granted when no
delivery of that key is remembered within the window and none is in flight,
and then it counts as in flight until :meth:`Deduplicator.done` says whether
it was delivered (the key is remembered from then on) or not (the claim is
dropped, so a later send or a spool flush may try again). Two concurrent
sends of one key therefore deliver it once. A claim names its owner (pid and
start time, :func:`kstalerts.state.store.owner_token`): one whose process is
gone (killed mid-send or mid-flush) is released at once, so the alert is
delivered by the next send or flush rather than suppressed; where the owner
cannot be told, the claim lapses after ``MAX_SEND_BUDGET`` seconds. A claim
whose owner is alive answers :attr:`Claim.busy`: a flush keeps its entry.

Rules: what is remembered is bounded (``max_keys``, at most
``MAX_DEDUP_KEYS``), the oldest forgotten first, at a cost per call that does
not grow with the keys (records are kept oldest first; trimming removes from
the front). State is in memory by default; with ``state_file=PATH`` it is
shared by every process on the host through the state store (see
:mod:`kstalerts.state.shared`), on ``time.monotonic``, which is system-wide on
Linux. There keys are stored as 96-bit hashes and stamps to the millisecond,
and the records are bounded by bytes too (half of ``MAX_STATE_BYTES``), the
oldest trimmed, so 10,000 keys of any length fit and the file is never reset
for its size. A claim is saved without fsync (a power loss ends its owner
anyway); a delivery is fsynced. If that file cannot be locked the process
falls back to its own memory, with a warning.
"""

import collections
import os
import threading
import time

from . import _lifecycle
from ._lazy import TYPE_CHECKING
from ._log import logger
from ._settings import DEDUP_KEYS
from ._typing import Any, Callable, Dict, Mapping, NamedTuple, Optional, Tuple, TypeVar, Union
from .exceptions import AlertConfigurationError
from .limits import (
    MAX_DEDUP_KEYS,
    MAX_SEND_BUDGET,
    MAX_STATE_BYTES,
    STATE_LOCK_TRY,
    STATE_LOCK_WAIT,
    finite_number,
    validate,
)
from .state import store

if TYPE_CHECKING:
    from .state.shared import StateFile

__all__ = ()

_log = logger("kstalerts.dedup")
_T = TypeVar("_T")

# (channel, key) -> (stamp, claim token or None once delivered)
_Record = Tuple[float, Optional[str]]
_Name = Tuple[str, str]
_BUSY = "duplicate: the same alert is being delivered to this channel now"
#: The bytes the dedup records may take in a shared state file (the rest is
#: the throttle's and the digests', when they share it).
DEDUP_STATE_BYTES = MAX_STATE_BYTES // 2


class Claim(NamedTuple):
    """The answer to :meth:`Deduplicator.claim`.

    ``token`` is set when the caller may deliver (pass it to
    :meth:`Deduplicator.done`); otherwise ``reason`` says why not, in words
    fit for :attr:`AlertResult.error`.
    """

    token: Optional[str]
    reason: str = ""
    busy: bool = False  # refused because a live delivery of the same alert holds it now

    @property
    def granted(self) -> bool:
        """True when the caller may deliver."""
        return self.token is not None


class Deduplicator:
    """Suppress an alert already delivered to a channel within ``window`` seconds.

    >>> d = Deduplicator(60.0)
    >>> first = d.claim("ops", "CRITICAL:disk full")
    >>> d.done("ops", "CRITICAL:disk full", first, delivered=True)
    >>> d.claim("ops", "CRITICAL:disk full").reason
    'duplicate: delivered to this channel 0s ago (dedup window 60s)'
    >>> d.claim("mail", "CRITICAL:disk full").granted
    True
    """

    def __init__(
        self,
        window: float,
        *,
        state_file: Union[str, "os.PathLike[str]", None] = None,
        max_keys: int = MAX_DEDUP_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._window = float(validate("dedup.window", window))
        self._max_keys = min(max(1, int(max_keys)), MAX_DEDUP_KEYS)
        self._clock = clock
        self._lock = threading.RLock()  # RLock: a signal handler may re-enter (see manager)
        _lifecycle.on_fork(self, _lifecycle.renew_lock)
        # An OrderedDict: finding the oldest record stays O(1) however many were
        # dropped from the front (a dict would scan its deleted slots).
        self._memory: Dict[Tuple[str, str], _Record] = collections.OrderedDict()
        self._state: Optional[StateFile] = None  # noqa: F823 (an annotation; never evaluated)
        self._state_broken = False
        if state_file is not None:
            from .state.shared import StateFile

            self._state = StateFile(state_file)

    @classmethod
    def from_config(cls, config: Union[float, Mapping[str, Any]]) -> "Deduplicator":
        """Build from a window in seconds or an ``alerts.dedup`` mapping
        (``window``, ``state_file``)."""
        if isinstance(config, Mapping):
            unknown = sorted(set(config) - DEDUP_KEYS)
            if unknown:
                raise AlertConfigurationError(f"unknown key {unknown[0]!r}", key="dedup")
            if config.get("window") is None:
                raise AlertConfigurationError("duplicate suppression needs a window", key="dedup.window")
            return cls(config["window"], state_file=config.get("state_file"))
        return cls(config)

    @property
    def window(self) -> float:
        """Seconds a delivered alert suppresses its duplicates."""
        return self._window

    @property
    def state_file(self) -> Optional[str]:
        """The shared state file's path, or ``None`` when in memory."""
        return None if self._state is None else self._state.path

    # -- the two calls a delivery makes ---------------------------------------
    def claim(self, channel: str, key: str) -> Claim:
        """Reserve (``channel``, ``key``) for one delivery, unless it is a duplicate."""
        token = f"{store.owner_token()}.{os.urandom(6).hex()}"

        def operation(records: Dict[_Name, _Record], name: _Name, now: float) -> Claim:
            found = records.get(name)
            if found is not None and self._alive(found, now):
                stamp, owner = found
                if owner is not None:
                    if store.owner_alive(owner) is not False:
                        return Claim(None, _BUSY, busy=True)
                else:
                    return Claim(
                        None,
                        f"duplicate: delivered to this channel {max(0.0, now - stamp):.0f}s ago"
                        f" (dedup window {self._window:g}s)",
                    )
            _put(records, name, (now, token))  # a claim whose owner died is released here
            return Claim(token)

        return self._run(operation, channel, key, durable=False)

    def done(self, channel: str, key: str, claim: Claim, *, delivered: bool) -> None:
        """End a granted claim: remember the key if ``delivered``, else drop the claim."""
        if claim.token is None:
            return

        def operation(records: Dict[_Name, _Record], name: _Name, now: float) -> None:
            found = records.get(name)
            if delivered:
                _put(records, name, (now, None))
            elif found is not None and found[1] == claim.token:
                del records[name]

        self._run(operation, channel, key)

    def clear(self) -> None:
        """Forget every key (in the shared file too)."""
        self._run(lambda records, name, now: records.clear())

    def __len__(self) -> int:
        """Keys remembered or claimed now, expired ones not counted."""
        return self._run(lambda records, name, now: sum(1 for r in records.values() if self._alive(r, now)))

    # -- state ---------------------------------------------------------------
    def _alive(self, record: _Record, now: float) -> bool:
        stamp, owner = record
        if stamp > now:  # a stamp from another clock means nothing here
            return False
        lifetime = self._window if owner is None else MAX_SEND_BUDGET
        return now - stamp < lifetime

    def _trim(self, records: Dict[_Name, _Record], now: float) -> None:
        # Records are kept in the order they were last written (see _put),
        # so the first is the oldest: drop from the front while it is
        # expired or there are too many. Amortised O(1): each record is
        # dropped once, and a call that drops nothing looks at one record.
        while records:
            name = next(iter(records))
            if len(records) <= self._max_keys and self._alive(records[name], now):
                return
            del records[name]

    def _run(
        self,
        operation: Callable[[Dict[_Name, _Record], _Name, float], _T],
        channel: str = "",
        key: str = "",
        *,
        durable: bool = True,
    ) -> _T:
        # ``_lock`` is never held while waiting for the file's lock, and that
        # wait is bounded (shorter once it has failed, until it works again).
        if self._state is not None:
            wait = STATE_LOCK_TRY if self._state_broken else STATE_LOCK_WAIT
            try:
                with self._state.transaction(wait, fsync=durable) as data, self._lock:
                    now = self._clock()
                    records = _decode(data.get("dedup"), now, self._alive)
                    result = operation(records, (channel, _digest(key)), now)
                    self._trim(records, now)
                    data["dedup"] = _encode(records)
                    self._state_broken = False
                    return result
            except OSError as exc:
                with self._lock:
                    if not self._state_broken:
                        self._state_broken = True
                        _log.warning(
                            "dedup state file %s cannot be used (%s); this process deduplicates on its own",
                            self._state.path,
                            exc,
                        )
        with self._lock:
            now = self._clock()
            result = operation(self._memory, (channel, key), now)
            self._trim(self._memory, now)
            return result

    def __repr__(self) -> str:
        shared = "" if self._state is None else f", state_file={self._state.path!r}"
        return f"Deduplicator(window={self._window:g}{shared})"


def _put(records: Dict[_Name, _Record], name: _Name, record: _Record) -> None:
    records.pop(name, None)  # re-inserted last: dicts keep insertion order
    records[name] = record


def _digest(key: str) -> str:
    """A key as stored in a shared file: 96 bits of BLAKE2b, so every key takes 24 bytes."""
    import hashlib

    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()


def _decode(
    stored: Any, now: float, alive: Callable[[_Record, float], bool]
) -> Dict[_Name, _Record]:
    # {"channel": {"key": [stamp, token-or-null]}}. Malformed and expired
    # records are dropped; the rest are ordered oldest first.
    found = []
    if isinstance(stored, dict):
        for channel, keys in stored.items():
            if not isinstance(keys, dict):
                continue
            for key, value in keys.items():
                stamp = finite_number(value[0]) if isinstance(value, list) and len(value) == 2 else None
                if stamp is not None and (value[1] is None or isinstance(value[1], str)):
                    record: _Record = (stamp, value[1])
                    if alive(record, now):
                        found.append(((channel, key), record))
    found.sort(key=lambda item: item[1][0])
    return collections.OrderedDict(found)


def _size(name: _Name, record: _Record) -> int:
    # Bytes a record takes in the file, "key":[stamp,token], with the channel
    # counted per record: an upper bound.
    return len(name[0]) + len(name[1]) + len(record[1] or "null") + 32


def _encode(records: Dict[_Name, _Record]) -> Dict[str, Dict[str, Any]]:
    total = 0
    for name, record in records.items():
        total += _size(name, record)
    store.fit(records, max_entries=MAX_DEDUP_KEYS, max_bytes=DEDUP_STATE_BYTES, size=_size, total=total)
    stored: Dict[str, Dict[str, Any]] = {}
    for (channel, key), (stamp, token) in records.items():
        keys = stored.get(channel)
        if keys is None:
            keys = stored[channel] = {}
        keys[key] = [round(stamp, 3), token]
    return stored
