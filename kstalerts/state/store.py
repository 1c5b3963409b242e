"""The state store: opening, locking, reading, writing and bounding state files.

Everything kstalerts keeps between calls or between processes (throttle
buckets, dedup keys, digests, ``kstalerts run``'s job state and locks, the
spool's bookkeeping, and the alert lifecycle's records) is a file in a
folder opened and changed through here, under these rules:

- **Opening.** Regular files only: opened ``O_NOFOLLOW|O_NONBLOCK`` and
  checked with ``fstat`` (a link, a FIFO, a folder, a device is refused with
  :class:`UnsafeFileError`). New files are ``0600``; folders the store
  creates, parents included, are ``0700`` whatever the umask
  (:func:`private_folder`). A folder that group or others may write, or that
  another user (not root) owns, is refused; a sticky one only where the
  caller allows it. A file another user owns, or that group or others may
  write, is not trusted (:func:`trusted`): what it says could be forged.
- **Locking.** :func:`lock` takes an exclusive ``flock`` by polling: the
  wait is bounded (:class:`LockTimeoutError` after ``wait`` seconds) and a
  ``stop`` callable, checked between polls, ends it at once
  (:class:`LockInterruptedError`), so a signal handler that records the
  signal interrupts it. A lock not taken is never treated as taken: the
  caller gets an error and decides (fall back conservatively, or act
  without the state and say so).
- **Reading.** Numbers go through :func:`kstalerts.limits.finite_number`;
  :func:`stamp` refuses a time stamp in the future or older than the
  clock's reach (damage, not a fact). A document larger than its bound,
  not JSON, or of another version is damage: reported, never trusted.
- **Writing.** :func:`write_atomically`: a new temporary file in the same
  folder (``<name>.tmp-<pid>-<random>``), written, fsynced, renamed over the
  old one, then the folder fsynced; on any failure the temporary file is
  removed and the old document stands. :func:`clean_temporaries` removes
  the temporary files of writers that died (their pid is gone).
- **Bounds.** :func:`fit` drops the oldest records of an insertion-ordered
  mapping until it holds at most ``max_entries`` records and ``max_bytes``
  bytes, never all of them for one too many; callers keep records oldest
  first, so trimming costs what it removes (amortised O(1) per write).
- **Claims.** :func:`owner_token` names this process (pid and start time);
  :func:`owner_alive` says whether the process a token names still runs, so
  a claim left by a killed process is released at once rather than after a
  lease.

:class:`Document` puts these together: one JSON document, changed in
:meth:`Document.transaction` under its sidecar lock. POSIX only
(``fcntl``), on a local file system.
"""

import contextlib
import errno
import json
import os
import time

from .. import _lifecycle
from .._typing import Any, Callable, Dict, Iterator, Optional, TypeVar
from ..limits import finite_number
from . import files

__all__ = ()

UnsafeFileError = files.UnsafeFileError  # not a regular file, or others could change it
LockTimeoutError = files.LockTimeoutError  # the lock stayed taken for the whole wait
LockInterruptedError = files.LockInterruptedError  # the wait was ended by ``stop`` (a signal)

_K = TypeVar("_K")
_V = TypeVar("_V")
_TMP = ".tmp-"
_BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"
_boot_id: Optional[str] = None
_boot_id_read = False
_own: Dict[int, str] = {}  # pid -> owner token prefix (pid.start)


class DamageError(ValueError):
    """A state document that cannot be trusted as it is (the message says why)."""


# -- folders and files ------------------------------------------------------------


def private_folder(
    path: str, *, what: str, allow_sticky: bool = False, fix: bool = False, links: bool = True
) -> str:
    """The folder ``path`` (absolute), created ``0700`` with its parents; the one folder rule.

    Raises :class:`UnsafeFileError` when it is not a folder, when group or
    others may write it (unless ``allow_sticky`` and it is sticky, or
    ``fix`` and this user owns it: then it is set back to ``0700``), or when
    another user than this one or root owns it; ``links=False`` refuses a
    symbolic link to a folder as well.
    """
    path = os.path.abspath(os.path.expanduser(path))
    files.private_dir(path, what=what, allow_sticky=allow_sticky, fix=fix, links=links)
    return path


def open_file(path: str, flags: int = os.O_RDONLY) -> int:
    """``os.open`` a regular file: no link followed, no FIFO waited on, created ``0600``."""
    return files.open_regular(path, flags, 0o600)


def trusted(fd: int, path: str, *, what: str) -> None:
    """Raise :class:`UnsafeFileError` when another user owns the open file or others may write it."""
    files.trusted_file(fd, path, what=what)


def lock(path: str, wait: float, *, stop: Optional[Callable[[], bool]] = None) -> int:
    """Open ``path`` (created ``0600``) and take its exclusive ``flock``; returns the descriptor.

    Waits at most ``wait`` seconds (:class:`LockTimeoutError`); ``stop()``
    true between two polls ends the wait (:class:`LockInterruptedError`).
    Closing the descriptor releases the lock (the kernel does it for a
    process that dies).
    """
    fd = open_file(path, os.O_RDWR | os.O_CREAT)
    try:
        files.lock_within(fd, wait, path, stop=stop)
    except BaseException:
        os.close(fd)
        raise
    return fd


# -- reading ------------------------------------------------------------------------


def stamp(value: Any, now: float, *, reach: float, slack: float = 1.0) -> Optional[float]:
    """``value`` as a time stamp on the clock that reads ``now``; ``None`` when it is damage.

    DamageError: not a finite number, later than ``now`` (by more than ``slack``
    seconds, for clocks read a little apart), or older than ``reach``
    seconds (beyond what the clock can have measured).

    >>> stamp(95, 100.0, reach=60), stamp(130, 100.0, reach=60), stamp(10, 100.0, reach=60)
    (95.0, None, None)
    """
    number = finite_number(value)
    if number is None or number > now + slack or now - number > reach:
        return None
    return min(number, now)


def boot_id() -> Optional[str]:
    """This boot's identifier on Linux, else ``None`` (read once)."""
    global _boot_id, _boot_id_read
    if not _boot_id_read:
        try:
            with open(_BOOT_ID_PATH, encoding="ascii") as handle:
                _boot_id = handle.read(64).strip() or None
        except OSError:
            _boot_id = None
        _boot_id_read = True
    return _boot_id


# -- writing ------------------------------------------------------------------------


def write_atomically(path: str, payload: bytes, *, fsync: bool = True, tmp: Optional[str] = None) -> None:
    """Replace ``path`` with ``payload``: temp file, fsync, rename, fsync of the folder.

    Raises ``OSError`` (disk full, file too large, no permission); the
    temporary file is then removed and ``path`` is as it was. ``tmp`` names
    the temporary file (default ``<path>.tmp-<pid>-<random>``, which
    :func:`clean_temporaries` knows); it is created new (``O_EXCL``).
    """
    if tmp is None:
        tmp = f"{path}{_TMP}{os.getpid()}-{os.urandom(6).hex()}"
    try:
        fd = files.create_new(tmp)
        try:
            files.write_all(fd, payload, fsync=fsync)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if fsync:
        fsync_folder(os.path.dirname(path))


def fsync_folder(path: str) -> None:
    """Make a rename or unlink in ``path`` durable; file systems that refuse are let be."""
    try:
        fd = os.open(path, os.O_RDONLY | files.O_CLOEXEC | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def clean_temporaries(path: str, *, all_dead: bool = False) -> int:
    """Remove the temporary files of ``path`` whose writer died; returns how many.

    ``all_dead``: the caller holds the document's lock, under which no
    writer is at work, so every temporary file is a dead writer's.
    """
    folder, base = os.path.split(path)
    prefix = base + _TMP
    removed = 0
    try:
        names = [n for n in os.listdir(folder) if n.startswith(prefix)]
    except OSError:
        return 0
    for name in names:
        pid = _leading_int(name[len(prefix) :])
        if not all_dead and pid is not None and _pid_exists(pid):
            continue
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(folder, name))
            removed += 1
    return removed


# -- bounds ---------------------------------------------------------------------------


def fit(
    records: Dict[_K, _V],
    *,
    max_entries: int,
    max_bytes: Optional[int] = None,
    size: Optional[Callable[[_K, _V], int]] = None,
    total: int = 0,
) -> int:
    """Drop the oldest (first) records until at most ``max_entries`` and ``max_bytes`` remain.

    ``size(key, value)`` is a record's bytes and ``total`` their sum now;
    returns the sum afterwards. The newest record is always kept.
    """
    while len(records) > 1 and (
        len(records) > max_entries or (max_bytes is not None and size is not None and total > max_bytes)
    ):
        key = next(iter(records))
        value = records.pop(key)
        if size is not None:
            total -= size(key, value)
    return total


# -- claims -------------------------------------------------------------------------


def owner_token() -> str:
    """``<pid>.<start>``: this process, named so that :func:`owner_alive` can tell
    it from a later process with the same pid (``<start>`` is empty off Linux)."""
    pid = os.getpid()
    token = _own.get(pid)
    if token is None:
        _own.clear()  # a forked child is another owner
        token = _own[pid] = f"{pid}.{_start_time(pid) or ''}"
    return token


def owner_alive(token: str) -> Optional[bool]:
    """Whether the process ``token`` names still runs: ``None`` when it cannot be told."""
    pid_text, _, rest = token.partition(".")
    start = rest.partition(".")[0]
    pid = _leading_int(pid_text)
    if pid is None or pid <= 0:
        return None
    if not _pid_exists(pid):
        return False
    if not start:
        return None
    now = _start_time(pid)
    if now is None:
        return None
    return now == start


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: another user's process, alive
        return True
    return True


def _start_time(pid: int) -> Optional[str]:
    # Field 22 of /proc/<pid>/stat (clock ticks since boot), after the
    # command name, which may hold spaces and parentheses.
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read(4096)
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 2 :].split()
    return fields[19].decode("ascii") if len(fields) > 19 else None


def _leading_int(text: str) -> Optional[int]:
    digits = text.split("-", 1)[0].split(".", 1)[0]
    return int(digits) if digits.isdigit() and len(digits) < 12 else None


# -- the document -------------------------------------------------------------------


class Document:
    """One JSON document at ``path``, shared by the processes of one host.

    - ``what`` names it in messages (``"the dedup state file"``).
    - ``max_bytes``: the largest document read or written; callers bound
      what they keep (see :func:`fit`) so that a write never exceeds it.
    - ``version``: the document's ``version`` field; another is damage.
    - ``per_boot``: the document records this boot's id, and one written
      before a reboot reads as empty (stamps on ``time.monotonic`` mean
      nothing after a reboot).
    - ``allow_sticky``: the folder may be a sticky one (``/var/tmp``).
    - ``lock_path``: the sidecar lock file (default ``<path>.lock``).

    >>> import tempfile, os
    >>> doc = Document(os.path.join(tempfile.mkdtemp(), "s.json"), what="a state file")
    >>> with doc.transaction(1.0) as data:
    ...     data["hits"] = data.get("hits", 0) + 1
    >>> doc.read()["hits"]
    1
    """

    #: A process cleans dead writers' temporary files at its first
    #: transaction and then once per this many.
    CLEAN_EVERY = 256

    def __init__(
        self,
        path: str,
        *,
        what: str,
        max_bytes: int = 1048576,
        version: int = 1,
        per_boot: bool = False,
        allow_sticky: bool = True,
        lock_path: Optional[str] = None,
    ) -> None:
        self.path = os.path.abspath(path)
        self.what = what
        self.lock_path = self.path + ".lock" if lock_path is None else lock_path
        self.max_bytes = max_bytes
        self.version = version
        self.per_boot = per_boot
        self.allow_sticky = allow_sticky
        #: Why the last read started from an empty document (``None``: it did not).
        self.damage: Optional[str] = None
        #: Why the last save failed (``None``: it did not).
        self.save_error: Optional[OSError] = None
        self._transactions = 0

    def fresh(self) -> Dict[str, Any]:
        """An empty document."""
        data: Dict[str, Any] = {"version": self.version}
        if self.per_boot:
            data["boot_id"] = boot_id()
        return data

    def read(self) -> Dict[str, Any]:
        """The document as it is now, without the lock; damage reads as empty.

        Raises ``OSError`` when it cannot be used (an unsafe folder or file,
        a file another user owns); :attr:`damage` says why it read as empty.
        """
        private_folder(
            os.path.dirname(self.path), what=f"{self.what}'s folder", allow_sticky=self.allow_sticky
        )
        self.damage = None
        try:
            raw = self._raw()
        except FileNotFoundError:
            return self.fresh()
        try:
            return self._parse(raw)
        except DamageError as exc:
            self.damage = str(exc)
            return self.fresh()

    @contextlib.contextmanager
    def transaction(
        self, wait: float, *, stop: Optional[Callable[[], bool]] = None, fsync: bool = True
    ) -> Iterator[Dict[str, Any]]:
        """Hold the lock; yield the document; save it if the block changed it.

        Everything that can make the document unusable raises before the
        block runs: an unsafe folder or file (:class:`UnsafeFileError`), a
        lock still taken after ``wait`` seconds (:class:`LockTimeoutError`)
        or a wait ended by ``stop`` (:class:`LockInterruptedError`). A
        damaged document is yielded empty (:attr:`damage` says why). A save
        that fails (disk full) leaves the old document whole and is recorded
        in :attr:`save_error`, not raised. If the block raises, nothing is
        written. ``fsync=False`` skips the fsyncs (a change worth nothing
        after a power loss); the rename still makes it whole or absent.
        """
        private_folder(
            os.path.dirname(self.path), what=f"{self.what}'s folder", allow_sticky=self.allow_sticky
        )
        fd = lock(self.lock_path, wait, stop=stop)
        _lifecycle.hold(fd)  # a forked child closes its copy (see _lifecycle)
        try:
            if self._transactions % self.CLEAN_EVERY == 0:
                clean_temporaries(self.path, all_dead=True)
            self._transactions += 1
            self.damage = None
            self.save_error = None
            before: Optional[bytes] = None  # the document as saved, when it is in our own form
            try:
                raw = self._raw()
                data = self._parse(raw)
                if raw:
                    before = raw
            except FileNotFoundError:
                data = self.fresh()
            except DamageError as exc:
                self.damage = str(exc)
                data = self.fresh()
            if before is None:
                before = _canonical(data).encode("utf-8")
            yield data
            payload = _canonical(data).encode("utf-8")
            if payload != before:  # one dump per transaction: the file is compared as it was read
                try:
                    if len(payload) > self.max_bytes:
                        raise OSError(errno.EFBIG, f"larger than {self.max_bytes} bytes; not saved")
                    write_atomically(self.path, payload, fsync=fsync)
                except OSError as exc:
                    self.save_error = exc
        finally:
            _lifecycle.let_go(fd)
            os.close(fd)  # releases the flock

    def _raw(self) -> bytes:
        fd = open_file(self.path)
        try:
            trusted(fd, self.path, what=self.what)
            return files.read_fd(fd, self.max_bytes + 1)
        finally:
            os.close(fd)

    def _parse(self, raw: bytes) -> Dict[str, Any]:
        if not raw:  # cut to nothing by a crash of the machine: the one damage worth no warning
            return self.fresh()
        if len(raw) > self.max_bytes:
            raise DamageError(f"{self.what} {self.path} is larger than {self.max_bytes} bytes")
        try:
            data = json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
            raise DamageError(f"{self.what} {self.path} is corrupt (not JSON)") from None
        if not isinstance(data, dict) or data.get("version") != self.version:
            raise DamageError(
                f"{self.what} {self.path} is not a kstalerts state (version {self.version!r} expected)"
            )
        if self.per_boot and data.get("boot_id") != boot_id():
            return self.fresh()  # written before a reboot: its monotonic stamps mean nothing now
        return data


def _canonical(data: Dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def elapsed_since(recorded: Any, *, now_wall: float, now_mono: float, boot: Optional[str]) -> Optional[float]:
    """Seconds since an event recorded as ``{"wall", "mono", "boot"}`` (or a bare
    wall-clock number); ``None`` when unknown.

    In the same boot the monotonic clock answers (a wall-clock step changes
    nothing); across a reboot the wall clock does, unless the stamp is in
    the future (the clock was set back, or the file is forged): unknown.
    """
    if not isinstance(recorded, dict):
        recorded = {"wall": recorded}  # a bare wall-clock stamp (older files)
    mono = finite_number(recorded.get("mono"))
    if boot is not None and recorded.get("boot") == boot and mono is not None:
        return now_mono - mono if mono <= now_mono else None
    wall = finite_number(recorded.get("wall"))
    if wall is None or wall > now_wall:
        return None
    return now_wall - wall


def moment(now_wall: Optional[float] = None) -> Dict[str, Any]:
    """Now, recorded for :func:`elapsed_since`: wall clock, monotonic clock and boot."""
    return {
        "wall": time.time() if now_wall is None else now_wall,
        "mono": time.monotonic(),
        "boot": boot_id(),
    }
