"""Digests: what a channel held back, summarised in the next message it sends.

When a channel's throttle refuses an alert, or duplicate suppression drops
one, the manager records it here, in the channel's pending :class:`Digest`:
a count per level, the first and last time, and the distinct titles with
their counts. The next alert the channel delivers carries the digest as
its notification's ``held_back`` (each channel renders it in its own way: a
last Slack attachment, an email section, a Discord field...), and :meth:`DigestBook.flush` -- called
by ``AlertManager.flush_digests()`` and ``close()`` -- sends what is still
pending as one alert of its own, at most once per channel per throttle
period, without taking a throttle token. A digest of duplicates only is
not flushed on its own (each was delivered once already); it waits for the
next delivery.

Rules: a digest is bounded. The first ``MAX_DIGEST_TITLES`` distinct titles
are counted one by one (each cut to ``DIGEST_TITLE_CHARS``); later new
titles are counted together, and the rendered text names the
``DIGEST_SHOWN_TITLES`` most frequent and says how many more alerts there
were. Rendering never exceeds the character budget a channel gives it. A
digest is consumed only when the message carrying it is delivered; if that
fails, it goes back to pending (or, for a flushed digest, to the spool when
there is one). With a throttle ``state_file``, pending digests live in that
file (under ``"digest"``, by the throttle's ``state_key``), so the next
process that delivers on the channel carries what this one held back.
"""

import threading
import time

from ._lazy import TYPE_CHECKING
from ._log import logger
from ._text import cut
from ._typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple
from .limits import finite_number
from .models import AlertLevel, AlertMessage, AlertResult
from .outcome import Outcome

if TYPE_CHECKING:
    from .spool import Spool
    from .state.shared import StateFile

# A manager's ChannelEntry (key, channel, throttle, digest flag). Named here,
# not imported: the manager stands above this module and imports it.
_Entry = Any

__all__ = ()

_log = logger("kstalerts.digest")

#: Distinct titles a digest counts one by one; later new titles are counted together.
MAX_DIGEST_TITLES = 100
#: Characters of a title kept in a digest.
DIGEST_TITLE_CHARS = 80
#: Titles a rendered digest names, most frequent first.
DIGEST_SHOWN_TITLES = 20


def _cut(text: str, limit: int) -> str:
    return cut(" ".join(text.split()), limit)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


class DigestSummary(NamedTuple):
    """A digest, ready to render: a headline and the title lines."""

    total: int
    level: AlertLevel
    headline: str
    lines: Tuple[str, ...]
    more: int

    def text(self, limit: int = 3000) -> str:
        """The headline and the title lines, in at most ``limit`` characters.

        Lines that do not fit are dropped from the end and counted in the
        closing ``and N more``, which is always kept.
        """
        lines = list(self.lines)
        more = self.more
        counts = [_line_count(line) for line in lines]
        while True:
            tail = [f"and {more:,} more"] if more else []
            text = "\n".join([self.headline, *lines, *tail])
            if len(text) <= limit or not lines:
                return cut(text, limit)
            lines.pop()
            more += counts.pop()


def _line_count(line: str) -> int:
    head = line.split(" \u00d7 ", 1)[0].replace(",", "")
    return int(head) if head.isdigit() else 0


class Digest:
    """What one channel held back since its last delivery (mutable, not shared)."""

    __slots__ = ("first", "last", "levels", "muted", "others", "suppressed", "throttled", "titles")

    def __init__(self) -> None:
        self.levels: Dict[str, int] = {}
        self.titles: Dict[str, int] = {}
        self.others = 0  # alerts whose title came after MAX_DIGEST_TITLES distinct ones
        self.throttled = 0
        self.suppressed = 0
        self.muted = 0  # held, silenced or inhibited by the alert lifecycle
        self.first: Optional[float] = None
        self.last: Optional[float] = None

    @property
    def total(self) -> int:
        """How many alerts were held back."""
        return self.throttled + self.suppressed + self.muted

    def add(
        self, alert: AlertMessage, *, suppressed: bool, when: Optional[float] = None, muted: bool = False
    ) -> None:
        """Count ``alert`` as held back (``suppressed``: by dedup; ``muted``: by the alert
        lifecycle; else by the throttle)."""
        now = time.time() if when is None else when
        if muted:
            self.muted += 1
        elif suppressed:
            self.suppressed += 1
        else:
            self.throttled += 1
        name = alert.level.name
        self.levels[name] = self.levels.get(name, 0) + 1
        self._title(_cut(alert.title, DIGEST_TITLE_CHARS), 1)
        self.first = now if self.first is None else min(self.first, now)
        self.last = now if self.last is None else max(self.last, now)

    def _title(self, title: str, count: int) -> None:
        if title in self.titles:
            self.titles[title] += count
        elif len(self.titles) < MAX_DIGEST_TITLES:
            self.titles[title] = count
        else:
            self.others += count

    def merge(self, other: "Digest") -> None:
        """Add everything ``other`` counted to this digest."""
        self.throttled += other.throttled
        self.suppressed += other.suppressed
        self.muted += other.muted
        self.others += other.others
        for name, count in other.levels.items():
            self.levels[name] = self.levels.get(name, 0) + count
        for title, count in other.titles.items():
            self._title(title, count)
        for stamp in (other.first, other.last):
            if stamp is not None:
                self.first = stamp if self.first is None else min(self.first, stamp)
                self.last = stamp if self.last is None else max(self.last, stamp)

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-ready mapping; :meth:`from_dict` reverses it."""
        return {
            "levels": dict(self.levels),
            "titles": dict(self.titles),
            "others": self.others,
            "throttled": self.throttled,
            "suppressed": self.suppressed,
            "muted": self.muted,
            "first": self.first,
            "last": self.last,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Optional["Digest"]:
        """Rebuild a digest from :meth:`to_dict`; ``None`` for damaged or empty data."""
        if not isinstance(data, dict):
            return None
        digest = cls()
        digest.throttled = _int(data.get("throttled"))
        digest.suppressed = _int(data.get("suppressed"))
        digest.muted = _int(data.get("muted"))
        digest.others = _int(data.get("others"))
        levels = data.get("levels")
        for name, count in levels.items() if isinstance(levels, dict) else ():
            if name in AlertLevel.__members__ and _int(count):
                digest.levels[name] = _int(count)
        titles = data.get("titles")
        for title, count in titles.items() if isinstance(titles, dict) else ():
            if isinstance(title, str) and _int(count):
                digest._title(_cut(title, DIGEST_TITLE_CHARS), _int(count))
        digest.first = finite_number(data.get("first"))
        digest.last = finite_number(data.get("last"))
        return digest if digest.total else None

    def summary(self) -> DigestSummary:
        """The digest in words: ``+17 held back by the throttle since 10:02:05 UTC: ...``."""
        total = self.total
        parts = [
            f"{count:,} {words}"
            for count, words in (
                (self.throttled, "by the throttle"),
                (self.suppressed, "duplicates"),
                (self.muted, "repeats, silenced or inhibited"),
            )
            if count
        ]
        if len(parts) > 1:
            why = f" ({', '.join(parts)})"
        elif self.suppressed:
            why = " as duplicates"
        elif self.muted:
            why = " as repeats, silenced or inhibited"
        else:
            why = " by the throttle"
        since = ""
        if self.first is not None:
            try:  # a stamp read from a state file may be finite yet beyond any date
                since = " since " + time.strftime("%H:%M:%S UTC", time.gmtime(self.first))
            except (OverflowError, OSError, ValueError):
                since = ""
        ordered = [level for level in AlertLevel if level.name in self.levels]
        ordered.reverse()  # the most urgent first
        per_level = ", ".join(f"{self.levels[level.name]:,} \u00d7 {level.name}" for level in ordered)
        headline = f"+{total:,} held back{why}{since}: {per_level}"
        ranked = sorted(self.titles.items(), key=lambda item: (-item[1], item[0]))
        shown = ranked[:DIGEST_SHOWN_TITLES]
        lines = tuple(f"{count:,} \u00d7 {title}" for title, count in shown)
        more = total - sum(count for _, count in shown)
        level = ordered[0] if ordered else AlertLevel.INFO
        return DigestSummary(total, level, headline, lines, more)

    def __repr__(self) -> str:
        return f"Digest(total={self.total}, titles={len(self.titles)}, others={self.others})"


def digest_alert(key: str, summary: DigestSummary) -> AlertMessage:
    """The alert a flushed digest is sent as: it stands for every alert it counts."""
    plural = "" if summary.total == 1 else "s"
    return AlertMessage(
        f"{summary.total:,} alert{plural} held back on {key}",
        summary.text(2800),
        summary.level,
        dedup_key=f"kstalerts-digest:{key}:{time.time():.6f}",
    )


# -- one manager's digests -----------------------------------------------------


class DigestBook:
    """The pending digests of one manager's channels, in memory or in state files.

    The pipeline's digest stages (:mod:`kstalerts.pipeline.digest`) call
    :meth:`note` with every result and :meth:`take` / :meth:`restore` around
    each delivery; the manager calls :meth:`flush` at the end.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._pending: Dict[str, Digest] = {}
        self._flushed_at: Dict[str, float] = {}
        self._sent: Dict[str, int] = {}
        self._files: Dict[str, StateFile] = {}
        self._clock = clock

    # -- where a channel's digest lives ---------------------------------------
    def _state(self, entry: _Entry) -> Optional[Tuple["StateFile", str]]:
        throttle = entry.throttle
        path = None if throttle is None else throttle.state_file
        if path is None or throttle is None:
            return None
        with self._lock:
            state = self._files.get(path)
            if state is None:
                from .state.shared import StateFile

                state = self._files[path] = StateFile(path)
        return state, throttle.state_key

    def _update(
        self, entry: _Entry, change: Callable[[Optional[Digest], Dict[str, Any]], Any]
    ) -> Any:
        """Run ``change(pending, record)`` on the channel's pending digest and store what it leaves.

        ``record`` holds ``flushed_at``; ``change`` returns its answer and
        may replace the pending digest through ``record["digest"]``. Never
        raises: a failure is logged and answers ``None``.
        """
        try:
            return self._change(entry, change)
        except Exception:  # a digest must never cost the alert itself
            _log.error("digest of channel %r could not be updated", entry.key, exc_info=True)
            return None

    def _change(
        self, entry: _Entry, change: Callable[[Optional[Digest], Dict[str, Any]], Any]
    ) -> Any:
        shared = self._state(entry)
        if shared is not None:
            state, key = shared
            try:
                with state.transaction() as data:
                    book = data.get("digest")
                    if not isinstance(book, dict):  # absent, or damaged: start again
                        book = data["digest"] = {}
                    stored = book.get(key)
                    record: Dict[str, Any] = dict(stored) if isinstance(stored, dict) else {}
                    pending = Digest.from_dict(record.get("digest"))
                    record["digest"] = pending
                    answer = change(pending, record)
                    kept = record.get("digest")
                    record["digest"] = kept.to_dict() if kept is not None and kept.total else None
                    if record["digest"] is None and record.get("flushed_at") is None:
                        book.pop(key, None)
                    else:
                        book[key] = record
                    return answer
            except OSError:
                _log.warning("digest of channel %r kept in this process: state file unusable", entry.key)
        with self._lock:
            record = {"digest": self._pending.get(entry.key), "flushed_at": self._flushed_at.get(entry.key)}
            answer = change(record["digest"], record)
            kept = record.get("digest")
            if kept is not None and kept.total:
                self._pending[entry.key] = kept
            else:
                self._pending.pop(entry.key, None)
            if record.get("flushed_at") is not None:
                self._flushed_at[entry.key] = record["flushed_at"]
            return answer

    # -- the manager's hooks --------------------------------------------------
    def note(self, entry: _Entry, result: AlertResult) -> None:
        """Count ``result``'s alert when our throttle or dedup held it back (and it was not spooled)."""
        alert = result.alert
        if alert is None or result.spooled or not getattr(entry, "digest", True):
            return
        outcome = result.outcome
        muted = outcome in (Outcome.HELD, Outcome.SILENCED, Outcome.INHIBITED)
        if outcome is not Outcome.SUPPRESSED and outcome is not Outcome.THROTTLED and not muted:
            return
        suppressed = outcome is Outcome.SUPPRESSED
        now = time.time()

        def add(pending: Optional[Digest], record: Dict[str, Any]) -> None:
            digest = pending if pending is not None else Digest()
            digest.add(alert, suppressed=suppressed, when=now, muted=muted)
            record["digest"] = digest

        self._update(entry, add)

    def take(self, entry: _Entry) -> Optional[Digest]:
        """Remove and return the channel's pending digest (``None`` if there is none)."""
        if not getattr(entry, "digest", True):
            return None

        def pop(pending: Optional[Digest], record: Dict[str, Any]) -> Optional[Digest]:
            record["digest"] = None
            return pending

        taken: Optional[Digest] = self._update(entry, pop)
        return taken

    def restore(self, entry: _Entry, digest: Digest) -> None:
        """Put back a digest whose delivery failed, merged with what came since."""

        def put_back(pending: Optional[Digest], record: Dict[str, Any]) -> None:
            if pending is not None:
                digest.merge(pending)
            record["digest"] = digest

        self._update(entry, put_back)

    def count_sent(self, key: str) -> None:
        """Count one digest delivered on channel ``key``."""
        with self._lock:
            self._sent[key] = self._sent.get(key, 0) + 1

    def reset_sent(self) -> None:
        """Set the delivered-digest counters back to zero."""
        with self._lock:
            self._sent.clear()

    def sent(self) -> Dict[str, int]:
        """Digests delivered so far, by channel key."""
        with self._lock:
            return dict(self._sent)

    def flush(self, entries: List[_Entry], spool: Optional["Spool"]) -> List[AlertResult]:
        """Send each channel's pending digest as one alert; returns their results.

        A channel whose digest went out less than one throttle period ago
        keeps its digest pending. A digest that cannot be delivered is
        spooled when there is a spool, else kept pending. Never raises.
        """
        results: List[AlertResult] = []
        for entry in entries:
            try:
                result = self._flush_one(entry, spool)
            except Exception:  # the end of a run must not fail for a digest
                _log.error("digest of channel %r could not be flushed", entry.key, exc_info=True)
                continue
            if result is not None:
                results.append(result)
        return results

    def _flush_one(self, entry: _Entry, spool: Optional["Spool"]) -> Optional[AlertResult]:
        if not getattr(entry, "digest", True):
            return None
        period = None if entry.throttle is None else entry.throttle.per
        now = self._clock()

        def claim(pending: Optional[Digest], record: Dict[str, Any]) -> Optional[Digest]:
            last = finite_number(record.get("flushed_at"))
            if pending is None or not pending.throttled:
                return None  # nothing, or only duplicates: those were delivered once already
            if period is not None and last is not None and 0 <= now - last < period:
                return None
            record["digest"] = None
            record["flushed_at"] = now
            return pending

        digest: Optional[Digest] = self._update(entry, claim)
        if digest is None:
            return None
        alert = digest_alert(entry.key, digest.summary())
        kept = False  # the claimed digest goes back unless it was delivered or spooled
        try:
            try:
                result = entry.channel.send(alert)
                if not isinstance(result, AlertResult):
                    raise TypeError(f"send() returned {type(result).__name__}, not an AlertResult")
            except Exception as exc:  # a bug in a channel
                _log.error("channel %r raised while sending a digest", entry.key, exc_info=True)
                error = f"internal error in channel: {type(exc).__name__}"
                result = AlertResult(entry.key, False, error=error)
            result = _with(result, channel=entry.key, alert=alert)
            if result.success:
                kept = True
                self.count_sent(entry.key)
                return result
            if spool is not None:
                name = spool.put(alert, entry.key, attempts=result.attempts, error=result.error)
                if name is not None:
                    kept = True
                    return _with(result, spooled=True)
            return result
        finally:
            if not kept:
                self.restore(entry, digest)


def _with(result: AlertResult, **changes: Any) -> AlertResult:
    return result.replace(**changes)
