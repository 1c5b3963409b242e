"""Opening files as a careful daemon does.

Every file kstalerts reads or writes on its own account (spool entries,
dead letters, state, lock and temporary files) goes through here, and the
config and credential files it is given are read through :func:`read_regular`.

Rules:

- Regular files only. A file is opened with ``O_NONBLOCK`` (so a FIFO planted
  under an expected name never hangs the open) and checked with ``fstat``
  before a byte is read; a FIFO, a device or a folder is refused with
  :class:`UnsafeFileError` (an ``OSError``).
- The library's own files are opened with ``O_NOFOLLOW`` where the OS has it
  (a planted symbolic link is refused, not followed) and new ones are
  created ``0600`` with ``O_EXCL`` (never an existing file reused by accident).
- Folders the library keeps files in are ``0700`` when it creates them; a
  folder that group or others may write is refused with a message saying
  what to do, unless the library made it (then it is fixed to ``0700``).

This module does no I/O at import; :mod:`fcntl` is imported on first lock.
"""

import errno
import os
import stat
import time

from .._typing import Callable, List, Optional

__all__ = ()

O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


class UnsafeFileError(OSError):
    """A path that is not a regular file, or that others could change."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(errno.EPERM, why, path)
        self.why = why

    def __str__(self) -> str:
        return f"{self.filename}: {self.why}"


class LockTimeoutError(OSError):
    """A lock stayed taken by another process for the whole wait."""


class LockInterruptedError(OSError):
    """A lock wait ended by its ``stop`` callable (a signal arrived)."""


def kind_of(mode: int) -> str:
    """What a non-regular file is, in words."""
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def open_regular(path: str, flags: int = os.O_RDONLY, mode: int = 0o600, *, follow: bool = False) -> int:
    """``os.open`` a regular file: never blocks on a FIFO, never follows a
    link (unless ``follow``); raises :class:`UnsafeFileError` for anything else.

    ``O_NONBLOCK`` is cleared again once the file is known to be regular.
    """
    extra = O_CLOEXEC | O_NONBLOCK | (0 if follow else O_NOFOLLOW)
    try:
        fd = os.open(path, flags | extra, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow:
            raise UnsafeFileError(path, "is a symbolic link (refused: it could point anywhere)") from None
        if exc.errno == errno.ENXIO:  # O_WRONLY on a FIFO nobody reads
            raise UnsafeFileError(path, "is a FIFO, not a regular file") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFileError(path, f"is {kind_of(st.st_mode)}, not a regular file")
        if O_NONBLOCK:
            os.set_blocking(fd, True)  # clears O_NONBLOCK (F_SETFL) without importing fcntl
    except BaseException:
        os.close(fd)
        raise
    return fd


def create_new(path: str) -> int:
    """Create ``path`` as a new ``0600`` file (``O_EXCL``, no link followed)."""
    return open_regular(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)


def read_fd(fd: int, limit: int) -> bytes:
    """At most ``limit`` bytes from ``fd``."""
    chunks: List[bytes] = []
    size = 0
    while size < limit:
        chunk = os.read(fd, min(65536, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def read_regular(path: str, limit: int, *, follow: bool = True) -> bytes:
    """At most ``limit`` bytes of the regular file ``path`` (a FIFO, a folder
    or a device raises :class:`UnsafeFileError` at once)."""
    fd = open_regular(path, os.O_RDONLY, follow=follow)
    try:
        return read_fd(fd, limit)
    finally:
        os.close(fd)


def write_all(fd: int, payload: bytes, *, fsync: bool = True) -> None:
    """Write every byte of ``payload`` to ``fd``, then fsync it."""
    view = memoryview(payload)
    while view:
        view = view[os.write(fd, view) :]
    if fsync:
        os.fsync(fd)


def writable_by_others(mode: int) -> bool:
    """True when group or others may write (the sticky bit aside)."""
    return bool(mode & (stat.S_IWGRP | stat.S_IWOTH))


def private_dir(
    path: str, *, what: str, allow_sticky: bool = False, fix: bool = False, links: bool = True
) -> None:
    """Make sure ``path`` is a folder others cannot write, creating it ``0700``.

    Folders it creates (parents included) get ``0700`` whatever the umask.
    An existing folder that group or others may write raises
    :class:`UnsafeFileError` naming ``what`` and the fix; ``allow_sticky`` accepts
    a sticky one (``/var/tmp``: others cannot replace files they do not own);
    ``fix`` sets one this user owns back to ``0700`` (a folder of the
    library's own layout). A folder another user than this one or root owns
    is refused (its owner could replace what it holds). ``links=False``
    refuses a symbolic link to a folder too.
    """
    path = os.path.abspath(path)
    created = _makedirs(path)
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        if not links:
            raise UnsafeFileError(path, f"{what} is not a directory (a symbolic link is refused)")
        st = os.stat(path)  # a link given by the owner is the owner's choice
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeFileError(path, f"{what} is {kind_of(st.st_mode)}, not a folder")
    euid = getattr(os, "geteuid", lambda: st.st_uid)()
    if st.st_uid not in (euid, 0):
        raise UnsafeFileError(
            path, f"{what} belongs to another user (uid {st.st_uid}), who could change what it holds; refused"
        )
    if not writable_by_others(st.st_mode):
        return
    if path in created or (fix and st.st_uid == euid):
        os.chmod(path, 0o700)
        return
    if allow_sticky and st.st_mode & stat.S_ISVTX:
        return
    raise UnsafeFileError(
        path,
        f"{what} can be written by group or others (mode {stat.S_IMODE(st.st_mode):04o}), so"
        f" anyone could plant or change files there; refused (chmod 700 {path})",
    )


def _makedirs(path: str) -> List[str]:
    """``os.makedirs(path, 0o700)``; returns the folders it created."""
    missing: List[str] = []
    current: Optional[str] = os.path.abspath(path)
    while current and not os.path.lexists(current):
        missing.append(current)
        parent = os.path.dirname(current)
        current = parent if parent != current else None
    created: List[str] = []
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            continue
        os.chmod(folder, 0o700)  # the umask can only have taken bits away; be exact
        created.append(folder)
    return created


def trusted_file(fd: int, path: str, *, what: str) -> None:
    """Refuse an open file that someone else owns or that group or others
    may write: what it says could be forged."""
    st = os.fstat(fd)
    if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
        raise UnsafeFileError(
            path, f"{what} belongs to another user (uid {st.st_uid}); not trusted (remove it or chown it)"
        )
    if writable_by_others(st.st_mode):
        raise UnsafeFileError(
            path,
            f"{what} can be written by group or others (mode {stat.S_IMODE(st.st_mode):04o});"
            f" not trusted (chmod 600 {path})",
        )


def lock_within(fd: int, wait: float, path: str, *, stop: Optional[Callable[[], bool]] = None) -> None:
    """``flock(LOCK_EX)`` by non-blocking attempts until ``wait`` seconds pass.

    ``stop()`` is asked between attempts; true ends the wait with
    :class:`LockInterruptedError` (a signal handler recorded a signal).
    """
    import fcntl

    deadline = time.monotonic() + max(0.0, wait)
    pause = 0.001
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        if stop is not None and stop():  # asked after a try: a free lock is always taken
            raise LockInterruptedError(errno.EINTR, "interrupted while waiting for the lock", path)
        left = deadline - time.monotonic()
        if left <= 0:
            raise LockTimeoutError(
                errno.EWOULDBLOCK, f"still locked by another process after {wait:g}s", path
            )
        time.sleep(min(pause, left))
        pause = min(pause * 2, 0.01 if stop is None else 0.05)


def default_state_dir() -> str:
    """``/var/lib/kstalerts`` for root, else ``$XDG_STATE_HOME/kstalerts`` or ``~/.local/state/kstalerts``."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return "/var/lib/kstalerts"
    xdg = os.environ.get("XDG_STATE_HOME", "")
    if os.path.isabs(xdg):  # the spec: a relative value is invalid and ignored
        return os.path.join(xdg, "kstalerts")
    return os.path.join(os.path.expanduser("~"), ".local", "state", "kstalerts")
