"""Running a job's process for ``kstalerts run``: spawn, pump, time out, forward signals.

:func:`run_once` starts the command without a shell in a new session (its
own process group), reads its two pipes with :mod:`selectors` in bounded
``os.read`` chunks into a :class:`~kstalerts._tail.TailBuffer` (passing them
through when asked), sends SIGTERM to the group at the timeout and SIGKILL
``kill_after`` seconds later, and says how the job ended as an
:class:`Outcome` whose exit code follows coreutils ``timeout``.
:class:`Signals` forwards SIGTERM, SIGINT and SIGHUP received by the
wrapper to the job's group.

Rules: memory does not grow with the output; once the job's process has
exited, its output is read for at most ``DRAIN_AFTER_EXIT`` seconds more
(a process it left behind may hold the pipes open forever); after a timeout
or an interruption, what is left of the group is killed.
"""

import os
import selectors
import signal
import subprocess
import threading
import time

from .._tail import TailBuffer
from .._typing import IO, Any, Dict, NamedTuple, Optional, Sequence, Tuple

__all__ = ()

EXIT_TIMEOUT = 124
EXIT_CANNOT_RUN = 126
EXIT_NOT_FOUND = 127

#: The signals the wrapper passes on to the job's process group.
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_READ_CHUNK = 65536
POLL = 0.1  # seconds between checks of the clock and of signals
DRAIN_AFTER_EXIT = 2.0  # seconds output is still read once the job's process has exited


class Outcome(NamedTuple):
    status: str  # see JobResult.status
    returncode: Optional[int]
    exit_code: int
    what: str  # "exit 3", "timed out after 600 s", "killed by SIGKILL", ...


def signame(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


# -- signals -------------------------------------------------------------------


class Signals:
    """SIGTERM/SIGINT/SIGHUP handlers that pass the signal to the job's group.

    Installed only in the main thread (Python allows nothing else); a signal
    that comes before the job started is passed on as soon as it has.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.received: Optional[int] = None
        self.at = 0.0
        self.pgid: Optional[int] = None
        self._old: Dict[int, Any] = {}

    def __enter__(self) -> "Signals":
        if self.enabled:
            for number in FORWARDED:
                self._old[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for number, old in self._old.items():
            signal.signal(number, old)
        self._old.clear()

    def _handle(self, number: int, frame: Any) -> None:
        if self.received is None:
            self.at = time.monotonic()
        self.received = number
        self.forward(number)

    def stopped(self) -> bool:
        """True once a signal came: a wait (for a lock) should end now."""
        return self.received is not None

    def forward(self, number: int) -> None:
        if self.pgid is not None:
            _killpg(self.pgid, number)


# -- running the process -------------------------------------------------------


def _spawn(
    argv: Sequence[str], signals: Signals, keep_fds: Sequence[int] = ()
) -> Tuple[Optional["subprocess.Popen[bytes]"], Optional[Outcome]]:
    try:
        proc = subprocess.Popen(  # noqa: S603  (the user's own command, no shell)
            list(argv),
            stdin=None,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            close_fds=True,
            pass_fds=tuple(keep_fds),
        )
    except FileNotFoundError as exc:
        return None, Outcome("not_found", None, EXIT_NOT_FOUND, f"could not start: {_why(exc)}")
    except PermissionError as exc:
        return None, Outcome("not_executable", None, EXIT_CANNOT_RUN, f"could not start: {_why(exc)}")
    except OSError as exc:
        return None, Outcome(
            "could_not_start", None, EXIT_CANNOT_RUN, f"could not start: {_why(exc)}"
        )
    signals.pgid = proc.pid
    if signals.received is not None:
        signals.forward(signals.received)
    return proc, None


def run_once(
    argv: Sequence[str],
    tail: TailBuffer,
    *,
    timeout: Optional[float],
    kill_after: float,
    passthrough: Dict[str, Optional[IO[bytes]]],
    signals: Signals,
    keep_fds: Sequence[int] = (),
) -> Outcome:
    """Run ``argv`` once, pumping its output; how it ended.

    ``keep_fds``: descriptors the job inherits (the ``--lock``'s, so that
    the job itself holds the lock, as with ``flock(1)``).
    """
    proc, failed = _spawn(argv, signals, keep_fds)
    if failed is not None:
        return failed
    assert proc is not None and proc.stdout is not None and proc.stderr is not None
    started = time.monotonic()
    selector = selectors.DefaultSelector()
    for stream, pipe in (("stdout", proc.stdout), ("stderr", proc.stderr)):
        os.set_blocking(pipe.fileno(), False)
        selector.register(pipe.fileno(), selectors.EVENT_READ, stream)
    open_fds = 2
    timed_out_at: Optional[float] = None
    killed = False
    exited_at: Optional[float] = None
    try:
        while True:
            now = time.monotonic()
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            if exited_at is not None and (open_fds == 0 or now - exited_at > DRAIN_AFTER_EXIT):
                break
            if exited_at is None:
                if timeout is not None and timed_out_at is None and now - started >= timeout:
                    timed_out_at = now
                    _killpg(proc.pid, signal.SIGTERM)
                ended_at = timed_out_at or (signals.at if signals.received is not None else None)
                if ended_at is not None and not killed and now - ended_at >= kill_after:
                    killed = True
                    _killpg(proc.pid, signal.SIGKILL)
            if open_fds == 0:
                try:
                    proc.wait(POLL)
                except subprocess.TimeoutExpired:
                    pass
                continue
            for key, _ in selector.select(POLL):
                fd = int(key.fd)
                try:
                    data = os.read(fd, _READ_CHUNK)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    selector.unregister(fd)
                    open_fds -= 1
                    continue
                stream = str(key.data)
                tail.feed(data, stream)
                sink = passthrough.get(stream)
                if sink is not None:
                    try:
                        sink.write(data)
                        sink.flush()
                    except (OSError, ValueError):  # our own output went away: keep capturing
                        passthrough[stream] = None
        returncode = proc.wait()
    finally:
        selector.close()
        proc.stdout.close()
        proc.stderr.close()
        signals.pgid = None
    if timed_out_at is not None or signals.received is not None:
        _killpg(proc.pid, signal.SIGKILL)  # what is left of the group goes with it
    return _classify(returncode, timeout, timed_out_at is not None, signals.received)


def _killpg(pgid: int, number: int) -> None:
    try:
        os.killpg(pgid, number)
    except OSError:  # the group is gone already
        pass


def _classify(returncode: int, timeout: Optional[float], timed_out: bool, received: Optional[int]) -> Outcome:
    if timed_out:
        return Outcome("timeout", returncode, EXIT_TIMEOUT, f"timed out after {timeout:g} s")
    own = 128 - returncode if returncode < 0 else returncode
    if received is not None:
        code = own if own != 0 else 128 + received
        return Outcome("interrupted", returncode, code, f"interrupted by {signame(received)} (exit {code})")
    if returncode < 0:
        return Outcome("killed", returncode, own, f"killed by {signame(-returncode)}")
    if returncode != 0:
        return Outcome("failed", returncode, returncode, f"failed: exit {returncode}")
    return Outcome("ok", 0, 0, "succeeded")


def _why(exc: OSError) -> str:
    """The reason alone: Python 3.6 appends the file name to ``strerror`` of ENOENT."""
    return os.strerror(exc.errno) if exc.errno else str(exc)
