"""Spool: a durable outbox for alerts that could not be delivered.

When a channel's delivery finally fails with a retryable error (or the
channel's throttle refused it and the channel asked for spooling), the
manager writes the alert and the channel's key here; :meth:`Spool.flush`
(``manager.flush_spool()``, ``kstalerts flush``) tries them again later.

Layout of the spool folder::

    <ns:020d>-<level>-<hex16>.json   one entry: the alert, its channel key,
                                     attempts so far, first failure, last error
    .tmp-*                           an entry being written
    .lock                            flock taken by writers
    dead/<name>, dead/<name>.reason  the dead-letter folder

Rules:

- An entry is written to a temporary name in the same folder, fsynced,
  renamed into place, and the folder fsynced: a crash at any point leaves a
  whole entry or none. A temporary file a crash left behind is finished by
  the next flush if it is whole, else moved to ``dead/``.
- Names sort by time, so a flush goes oldest first. The level in a name is
  its value (10 to 30); a name written before kstalerts took kstlib's
  numbering carries 1, 2 or 3 and is read as INFO, WARNING or CRITICAL.
- A flush claims each entry with a non-blocking ``flock`` before sending it,
  and checks that the name still points at the file it locked, so two
  flushes (threads or processes) never deliver one entry twice. The kernel
  drops the claims of a process that dies.
- Unreadable, partial or foreign files, entries older than ``max_age`` and
  entries whose channel refused them for good go to ``dead/`` with a
  ``.reason`` file; nothing here raises for a bad file. An entry's fields
  are checked (types, bounded numbers) before use, so one malformed entry is
  dead-lettered and the rest still flush.
- Files are opened as :mod:`kstalerts.state.files` says: regular files only (a
  FIFO or a folder named like an entry or a temporary file never hangs or
  crashes a flush: it is dead-lettered), no symbolic link followed, new
  files created ``0600`` with ``O_EXCL``. The folder is created ``0700``; an
  existing one that group or others may write is refused (anyone could plant
  alerts there), with a message saying how to fix it; ``dead/``, which the
  spool owns, is set back to ``0700``.
- Hard limits: ``max_entries`` and ``max_bytes`` (at most
  ``MAX_SPOOL_ENTRIES``, ``MAX_SPOOL_BYTES``; one entry at most
  ``MAX_SPOOL_ENTRY_BYTES``). When full, the oldest entry of the lowest level
  is dead-lettered first (possibly the new one), with a warning. ``dead/``
  keeps at most ``max_entries`` entries; beyond that the oldest are deleted,
  with a warning.

POSIX only (``fcntl``), on a local file system.
"""

import contextlib
import json
import os
import re
import threading
import time
import uuid

from . import _lifecycle
from ._log import logger
from ._settings import SPOOL_KEYS
from ._typing import Any, Callable, Dict, Iterator, List, Mapping, NamedTuple, Optional, Tuple, Union
from .exceptions import AlertConfigurationError
from .limits import MAX_SPOOL_BYTES, MAX_SPOOL_ENTRIES, MAX_SPOOL_ENTRY_BYTES, validate
from .models import AlertMessage, AlertResult, stored_level
from .state import files, store

__all__ = ()

_log = logger("kstalerts.spool")

#: Seconds an entry is kept before it is dead-lettered, unless set.
DEFAULT_MAX_AGE = 7 * 86400.0

_FORMAT = 1
_NAME = re.compile(r"^(\d{20})-([1-9][0-9]?)-([0-9a-f]{16})\.json$")
_TMP_PREFIX = ".tmp-"
_LOCK_NAME = ".lock"
_DEAD = "dead"
_REASON = ".reason"
_MAX_ATTEMPTS = 10**9  # bounds of the numbers an entry may hold
_MAX_STAMP = 1e13  # seconds since 1970: the year 318857
_writing = threading.local()  # .paths: the spools whose writer lock this thread holds


class SpoolEntry(NamedTuple):
    """One spooled (alert, channel key), as read back from its file."""

    name: str
    channel: str
    alert: AlertMessage
    attempts: int
    first_failed: float
    last_error: Optional[str]


class FlushReport(NamedTuple):
    """What one flush did, in counts; ``str()`` gives a one-line summary.

    - ``delivered``: sent and removed from the spool.
    - ``failed``: failed again with a retryable error; kept.
    - ``throttled``: the channel's throttle had no token, or the service
      asked to wait longer than the send's budget (rate limited); kept.
    - ``suppressed``: a duplicate of an alert delivered within the dedup
      window; removed.
    - ``dead``: moved to ``dead/`` (unreadable, too old, or refused for good).
    - ``skipped``: claimed by another flush running at the same time.
    - ``unknown_channel``: for a channel key this manager does not have; kept
      (until ``max_age``), so a channel removed by mistake loses nothing.
    - ``remaining``: entries left in the spool afterwards.
    """

    path: str
    delivered: int = 0
    failed: int = 0
    throttled: int = 0
    suppressed: int = 0
    dead: int = 0
    skipped: int = 0
    unknown_channel: int = 0
    remaining: int = 0
    results: Tuple[AlertResult, ...] = ()  # not in repr

    @property
    def ok(self) -> bool:
        """True when nothing failed, was dead-lettered or had no channel."""
        return not (self.failed or self.dead or self.unknown_channel)

    def __str__(self) -> str:
        parts = [f"{self.delivered} delivered"]
        for count, words in (
            (self.failed, "still failing"),
            (self.throttled, "throttled"),
            (self.suppressed, "suppressed as duplicates"),
            (self.dead, "dead-lettered"),
            (self.skipped, "held by another flush"),
            (self.unknown_channel, "for unknown channels"),
        ):
            if count:
                parts.append(f"{count} {words}")
        return f"spool {self.path}: {', '.join(parts)}; {self.remaining} left"

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in zip(self._fields[:-1], self))
        return f"FlushReport({shown})"


#: What a flush asks the manager for each entry: a result, or ``None`` when
#: the entry's channel key is unknown.
Deliver = Callable[[SpoolEntry], Optional[AlertResult]]


class Spool:
    """A durable outbox in the folder ``path`` (created on first use, mode 0700).

    ``max_age`` (seconds), ``max_entries`` and ``max_bytes`` pass through
    :func:`kstalerts.limits.validate`. ``clock`` gives wall-clock seconds
    (entries outlive the process and reboots); tests inject a fake one.
    """

    #: seconds a writer waits for the spool's lock before giving up
    lock_wait: float = 10.0

    def __init__(
        self,
        path: Union[str, "os.PathLike[str]"],
        *,
        max_age: Optional[float] = None,
        max_entries: Optional[int] = None,
        max_bytes: Optional[int] = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
            raise AlertConfigurationError("the spool path must be a non-empty path", key="spool.path")
        self.path = os.path.abspath(os.fspath(path))
        self.max_age = float(validate("spool.max_age", DEFAULT_MAX_AGE if max_age is None else max_age))
        self.max_entries = int(
            validate("spool.max_entries", MAX_SPOOL_ENTRIES if max_entries is None else max_entries)
        )
        self.max_bytes = int(validate("spool.max_bytes", MAX_SPOOL_BYTES if max_bytes is None else max_bytes))
        self._clock = clock
        self._dead_path = os.path.join(self.path, _DEAD)
        try:
            import fcntl  # noqa: F401
        except ImportError:
            raise AlertConfigurationError(
                "the spool needs fcntl (a POSIX system)", key="spool.path"
            ) from None
        if os.path.lexists(self.path):  # refused now, not at the first failure
            self._check_folder()

    def _check_folder(self) -> None:
        """The spool folder, created ``0700``; refused when others may write it."""
        try:
            files.private_dir(self.path, what="the spool folder")
        except files.UnsafeFileError as exc:
            raise AlertConfigurationError(str(exc), key="spool.path") from None

    @classmethod
    def from_config(cls, config: Union[str, "os.PathLike[str]", Mapping[str, Any]]) -> "Spool":
        """Build from a path or an ``alerts.spool`` mapping (``path``, ``max_age``,
        ``max_entries``, ``max_bytes``)."""
        if isinstance(config, Mapping):
            unknown = sorted(set(config) - SPOOL_KEYS)
            if unknown:
                raise AlertConfigurationError(f"unknown key {unknown[0]!r}", key="spool")
            if not config.get("path"):
                raise AlertConfigurationError("a spool needs a path", key="spool.path")
            return cls(
                config["path"],
                max_age=config.get("max_age"),
                max_entries=config.get("max_entries"),
                max_bytes=config.get("max_bytes"),
            )
        return cls(config)

    # -- writing --------------------------------------------------------------
    def put(
        self, alert: AlertMessage, channel: str, *, attempts: int = 0, error: Optional[str] = None
    ) -> Optional[str]:
        """Keep (``alert``, ``channel``) for a later flush; returns the entry's name.

        Returns ``None`` when it was not spooled: the entry is larger than
        ``MAX_SPOOL_ENTRY_BYTES``, the spool was full and this was the alert
        to give up (it is then in ``dead/``), or the disk refused; each case
        is logged. Never raises for a disk problem.
        """
        now = self._clock()
        record = {
            "kstalerts_spool": _FORMAT,
            "channel": channel,
            "alert": alert.to_dict(),
            "attempts": int(attempts),
            "first_failed": now,
            "last_error": error,
        }
        payload = _encode(record)
        if len(payload) > MAX_SPOOL_ENTRY_BYTES:
            _log.error(
                "alert %r for channel %r not spooled: %d bytes, more than the %d an entry may take",
                alert.title,
                channel,
                len(payload),
                MAX_SPOOL_ENTRY_BYTES,
            )
            return None
        name = f"{int(now * 1e9):020d}-{int(alert.level)}-{uuid.uuid4().hex[:16]}.json"
        try:
            with self._writer_lock():
                if not self._make_room(name, len(payload)):
                    self._write_dead(name, payload, self._full_reason())
                    return None
                self._write(name, payload)
        except OSError as exc:
            _log.error("alert %r for channel %r not spooled: %s", alert.title, channel, exc)
            return None
        return name

    def _full_reason(self) -> str:
        return (
            f"spool full (limits: {self.max_entries} entries, {self.max_bytes} bytes);"
            " the oldest alert of the lowest level is dead-lettered first"
        )

    @contextlib.contextmanager
    def _writer_lock(self) -> Iterator[None]:
        # Held while a temporary file exists and while room is made, so that
        # a temporary file seen by someone holding this lock is a crash's.
        # Writers hold it for milliseconds: a peer stuck holding it costs at
        # most ``lock_wait`` seconds, then this write fails (and is logged).
        # A thread that already holds it (a signal handler's send interrupted
        # a put) writes under that hold: a second flock would wait for itself.
        held = _writing.__dict__.setdefault("paths", set())
        if self.path in held:
            yield
            return
        store.private_folder(self.path, what="the spool folder")
        fd = store.lock(os.path.join(self.path, _LOCK_NAME), self.lock_wait)
        _lifecycle.hold(fd)  # a forked child closes its copy (see _lifecycle)
        try:
            held.add(self.path)
            try:
                yield
            finally:
                held.discard(self.path)
        finally:
            _lifecycle.let_go(fd)
            os.close(fd)

    def _write(self, name: str, payload: bytes) -> None:
        tmp = os.path.join(self.path, f"{_TMP_PREFIX}{name}")
        if os.path.lexists(tmp):  # a crash's leftover (the writer lock is held): start anew
            os.unlink(tmp)
        # A failed write (disk full) removes its temporary file: nothing is left behind.
        store.write_atomically(os.path.join(self.path, name), payload, tmp=tmp)

    def _make_room(self, name: str, size: int) -> bool:
        """Dead-letter until the new entry fits; False if the new one is the victim."""
        sizes: Dict[str, int] = {}
        for entry in self._names():
            try:
                sizes[entry] = os.stat(os.path.join(self.path, entry)).st_size
            except FileNotFoundError:
                continue
        busy: List[str] = []
        while len(sizes) + 1 > self.max_entries or sum(sizes.values()) + size > self.max_bytes:
            candidates = [n for n in sizes if n not in busy] + [name]
            victim = min(candidates, key=_eviction_order)
            count, total = len(sizes), sum(sizes.values())
            if victim == name:
                _log.warning(
                    "spool %s is full (%d entries, %d bytes): the new alert goes to dead/",
                    self.path,
                    count,
                    total,
                )
                return False
            if self._dead_letter_if_free(victim, self._full_reason()):
                _log.warning(
                    "spool %s is full (%d entries, %d bytes): dead-lettered its oldest alert of the"
                    " lowest level, %s",
                    self.path,
                    count,
                    total,
                    victim,
                )
                del sizes[victim]
            else:
                busy.append(victim)  # being flushed right now; leave it alone
        return True

    def _dead_letter_if_free(self, name: str, reason: str) -> bool:
        """Dead-letter ``name`` unless a flush holds it; True when it is gone."""
        import fcntl

        path = os.path.join(self.path, name)
        try:
            fd = files.open_regular(path)
        except FileNotFoundError:
            return True  # flushed meanwhile: room made all the same
        except OSError as exc:  # a FIFO, a folder, a link: nobody flushes it
            self._dead_letter(name, f"{reason}; besides, it {_why(exc)}")
            return True
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            if not _same_file(fd, path):  # a flush delivered or rewrote it meanwhile
                return not os.path.lexists(path)
            self._dead_letter(name, reason)
            return True
        finally:
            os.close(fd)

    # -- the dead-letter folder ---------------------------------------------
    def _dead_letter(self, name: str, reason: str) -> None:
        """Move ``name`` into ``dead/`` with a ``.reason`` file; never raises."""
        try:
            self._dead_folder()
            target = self._dead_name(name.lstrip("."))
            os.rename(os.path.join(self.path, name), os.path.join(self._dead_path, target))
            self._finish_dead(target, reason)
        except OSError as exc:
            _log.error("could not move spool file %s to dead/: %s", name, exc)

    def _dead_folder(self) -> None:
        """``dead/``, created (or set back to) ``0700``; a link there is refused."""
        import stat

        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISLNK(os.lstat(self._dead_path).st_mode):
                raise files.UnsafeFileError(self._dead_path, "is a symbolic link, not a folder")
        files.private_dir(self._dead_path, what="the spool's dead/ folder", fix=True)

    def _write_dead(self, name: str, payload: bytes, reason: str) -> None:
        self._dead_folder()
        target = self._dead_name(name)
        _write_file(os.path.join(self._dead_path, target), payload)
        self._finish_dead(target, reason)

    def _dead_name(self, name: str) -> str:
        def free(candidate: str) -> bool:
            base = os.path.join(self._dead_path, candidate)
            return not os.path.lexists(base) and not os.path.lexists(base + _REASON)

        return name if free(name) else f"{name}.{uuid.uuid4().hex[:8]}"

    def _finish_dead(self, target: str, reason: str) -> None:
        _write_file(os.path.join(self._dead_path, target + _REASON), (reason + "\n").encode("utf-8"))
        _fsync_dir(self._dead_path)
        _fsync_dir(self.path)
        _log.warning("spool %s: moved %s to dead/: %s", self.path, target, reason)
        self._trim_dead()

    def _trim_dead(self) -> None:
        try:
            names = sorted(n for n in os.listdir(self._dead_path) if not n.endswith(_REASON))
        except OSError:
            return
        excess = names[: max(0, len(names) - self.max_entries)]
        for name in excess:
            for path in (name, name + _REASON):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(self._dead_path, path))
        if excess:
            _log.warning(
                "spool %s: dead/ holds more than %d entries; deleted the %d oldest",
                self.path,
                self.max_entries,
                len(excess),
            )

    # -- reading ------------------------------------------------------------------
    def _names(self) -> List[str]:
        try:
            return sorted(n for n in os.listdir(self.path) if _NAME.match(n))
        except FileNotFoundError:
            return []

    def __len__(self) -> int:
        """Entries waiting in the spool (``dead/`` not counted)."""
        return len(self._names())

    def dead_count(self) -> int:
        """Entries in ``dead/``."""
        try:
            return sum(1 for n in os.listdir(self._dead_path) if not n.endswith(_REASON))
        except FileNotFoundError:
            return 0

    def _parse(self, name: str, raw: bytes) -> SpoolEntry:
        """The entry in ``raw``; ``ValueError`` with a reason when it is not one."""
        if len(raw) > MAX_SPOOL_ENTRY_BYTES:
            raise ValueError(f"larger than {MAX_SPOOL_ENTRY_BYTES} bytes")
        try:
            return self._parse_fields(name, raw)
        except ValueError:
            raise
        except Exception as exc:  # whatever a hand-made file holds, this entry only goes to dead/
            raise ValueError(f"unreadable: {type(exc).__name__}") from None

    def _parse_fields(self, name: str, raw: bytes) -> SpoolEntry:
        try:
            data = json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
            raise ValueError("unreadable: not a whole JSON document (partial or corrupt file)") from None
        if not isinstance(data, dict) or data.get("kstalerts_spool") != _FORMAT:
            raise ValueError(f"not a kstalerts spool entry (format {_FORMAT} expected)")
        channel, alert_data = data.get("channel"), data.get("alert")
        attempts, first_failed = data.get("attempts"), data.get("first_failed")
        last_error = data.get("last_error")
        if (
            not isinstance(channel, str)
            or not isinstance(alert_data, dict)
            or not isinstance(attempts, int)
            or isinstance(attempts, bool)
            or not 0 <= attempts <= _MAX_ATTEMPTS
            or not (last_error is None or isinstance(last_error, str))
        ):
            raise ValueError("unreadable: a field is missing or of the wrong type")
        if not _bounded_stamp(first_failed) or not _bounded_stamp(alert_data.get("created_at", 0.0)):
            raise ValueError("unreadable: a time stamp is not a number of seconds in range")
        labels = alert_data.get("labels")
        if labels is not None and not isinstance(labels, dict):
            raise ValueError(f"unreadable alert: labels must be a mapping, not a {type(labels).__name__}")
        try:
            alert = AlertMessage.from_dict(alert_data)
        except KeyError as exc:
            raise ValueError(f"unreadable alert: the field {exc.args[0]!r} is missing") from None
        except (TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise ValueError(f"unreadable alert: {exc}") from None
        assert isinstance(first_failed, (int, float))  # checked by _bounded_stamp
        return SpoolEntry(name, channel, alert, attempts, float(first_failed), last_error)

    # -- flushing ----------------------------------------------------------------
    def flush(self, deliver: Deliver) -> FlushReport:
        """Offer every entry, oldest first, to ``deliver``; act on each result.

        What each result's :class:`~kstalerts.outcome.Outcome` means is the
        outcome table's: a success removes the entry, a suppressed duplicate
        too; a throttled or rate-limited one and a retryable failure stay,
        with attempts and last error updated when an attempt was made; a
        refusal for good moves the entry to ``dead/``: sending it again
        cannot help. ``None`` (unknown channel) leaves the entry as it is.
        """
        counts = dict.fromkeys(
            ("delivered", "failed", "throttled", "suppressed", "dead", "skipped", "unknown_channel"), 0
        )
        results: List[AlertResult] = []
        if os.path.lexists(self.path):
            self._check_folder()
        try:
            counts["dead"] += self._recover_temporaries()
            listing = sorted(os.listdir(self.path))
        except FileNotFoundError:
            listing = []
        except OSError as exc:
            raise AlertConfigurationError(f"cannot read the spool folder: {exc}", key="spool.path") from None
        for name in listing:
            if name.startswith(".") or name == _DEAD:
                continue
            if not _NAME.match(name):
                counts["dead"] += self._dead_letter_foreign(name)
                continue
            outcome, result = self._flush_one(name, deliver)
            counts[outcome] += 1
            if result is not None:
                results.append(result)
        return FlushReport(self.path, remaining=len(self), results=tuple(results), **counts)

    def _flush_one(self, name: str, deliver: Deliver) -> Tuple[str, Optional[AlertResult]]:
        import fcntl

        path = os.path.join(self.path, name)
        try:
            fd = files.open_regular(path)
        except FileNotFoundError:
            return "skipped", None  # another flush took it meanwhile
        except OSError as exc:  # a FIFO, a folder, a symbolic link, or no permission
            self._dead_letter(name, f"cannot be flushed: it {_why(exc)}")
            return "dead", None
        _lifecycle.hold(fd)  # a forked child closes its copy of the claim
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return "skipped", None
            if not _same_file(fd, path):
                return "skipped", None  # delivered or rewritten by another flush
            try:
                entry = self._parse(name, files.read_fd(fd, MAX_SPOOL_ENTRY_BYTES + 1))
            except (ValueError, OSError) as exc:
                self._dead_letter(name, str(exc))
                return "dead", None
            age = self._clock() - entry.first_failed
            if age > self.max_age:
                self._dead_letter(
                    name,
                    f"older than max_age ({age:.0f}s > {self.max_age:g}s) after {entry.attempts}"
                    f" attempt(s); last error: {entry.last_error}",
                )
                return "dead", None
            result = deliver(entry)
            if result is None:
                return "unknown_channel", None
            outcome = result.outcome.meaning
            if outcome.spool_entry == "drop":
                try:
                    os.unlink(path)
                    _fsync_dir(self.path)
                except OSError as exc:  # it will be sent again: at least once
                    _log.error("spool %s: could not remove the delivered %s: %s", self.path, name, exc)
            elif outcome.spool_entry == "dead":
                self._dead_letter(name, f"refused for good by channel {entry.channel!r}: {result.error}")
            elif result.attempts:  # a result with no attempt (not tried) teaches nothing new
                self._rewrite(name, entry, result)
            return outcome.flush, result
        finally:
            _lifecycle.let_go(fd)
            os.close(fd)

    def _rewrite(self, name: str, entry: SpoolEntry, result: AlertResult) -> None:
        record = {
            "kstalerts_spool": _FORMAT,
            "channel": entry.channel,
            "alert": entry.alert.to_dict(),
            "attempts": entry.attempts + result.attempts,
            "first_failed": entry.first_failed,
            "last_error": result.error,
        }
        try:
            with self._writer_lock():
                self._write(name, _encode(record))
        except OSError as exc:  # the old entry is still whole; only the count is stale
            _log.warning("spool %s: could not update %s: %s", self.path, name, exc)

    def _recover_temporaries(self) -> int:
        """Finish or dead-letter the temporary files a crashed writer left."""
        dead = 0
        if not os.path.isdir(self.path):
            return 0
        with self._writer_lock():
            for tmp in sorted(os.listdir(self.path)):
                if not tmp.startswith(_TMP_PREFIX):
                    continue
                name = tmp[len(_TMP_PREFIX) :]
                try:
                    raw = files.read_regular(
                        os.path.join(self.path, tmp), MAX_SPOOL_ENTRY_BYTES + 1, follow=False
                    )
                    self._parse(name, raw)
                    if not _NAME.match(name):
                        raise ValueError("not a spool entry name")
                except files.UnsafeFileError as exc:
                    self._dead_letter(tmp, f"not a file a writer left: it {_why(exc)}")
                    dead += 1
                    continue
                except ValueError as exc:
                    self._dead_letter(tmp, f"incomplete write (the writer stopped before finishing): {exc}")
                    dead += 1
                    continue
                except OSError as exc:
                    _log.warning("spool %s: cannot read %s: %s", self.path, tmp, exc)
                    continue
                os.replace(os.path.join(self.path, tmp), os.path.join(self.path, name))
                _fsync_dir(self.path)
                _log.info("spool %s: finished the whole entry %s a crashed writer left", self.path, name)
        return dead

    def _dead_letter_foreign(self, name: str) -> int:
        path = os.path.join(self.path, name)
        try:
            if not os.path.isfile(path) or os.path.islink(path):
                return 0  # folders and links are not ours to move
        except OSError:
            return 0
        self._dead_letter(name, "not a spool entry (a foreign file in the spool folder)")
        return 1

    def __repr__(self) -> str:
        return f"Spool({self.path!r}, max_age={self.max_age:g}, max_entries={self.max_entries})"


def _eviction_order(name: str) -> Tuple[int, str]:
    match = _NAME.match(name)
    try:  # names written before kstlib's numbering carry 1, 2 or 3
        level = int(stored_level(int(match.group(2)))) if match else 0
    except AlertConfigurationError:
        level = 0
    return level, name


def _encode(record: Mapping[str, Any]) -> bytes:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _write_file(path: str, payload: bytes) -> None:
    fd = files.create_new(path)  # 0600, O_EXCL, no link followed
    try:
        files.write_all(fd, payload)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(path)  # a disk that filled up leaves no partial file
        raise
    finally:
        os.close(fd)


def _why(exc: OSError) -> str:
    """An open failure in words: "is a FIFO, not a regular file"."""
    if isinstance(exc, files.UnsafeFileError):
        return exc.why
    return f"cannot be opened ({exc.strerror or type(exc).__name__})"


def _bounded_stamp(value: Any) -> bool:
    """A time stamp an entry may hold: a number of seconds, finite, in range."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return -_MAX_STAMP <= value <= _MAX_STAMP  # compares 400-digit integers without float()


def _same_file(fd: int, path: str) -> bool:
    try:
        now = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)


_fsync_dir = store.fsync_folder  # makes a rename or unlink durable
