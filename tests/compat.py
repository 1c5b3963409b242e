"""What the tests need from Python 3.7+, on 3.6 too.

- :func:`run`: ``asyncio.run`` (3.7+): run a coroutine on a fresh loop,
  closed afterwards.
- :func:`python36`: a Python 3.6 interpreter to run a child on (missing,
  the test skips, or fails under ``CI=true``).
- :class:`ThreadingHTTPServer`: ``http.server.ThreadingHTTPServer`` (3.7+),
  whose ``server_close()`` joins the non-daemon handler threads when
  ``block_on_close`` is true (3.7's ``ThreadingMixIn`` behaviour, done by
  hand on 3.6).
"""

import asyncio
import glob
import http.server
import os
import socketserver
import sys
import threading
from typing import Any, Awaitable, List, TypeVar

from tests.servers._require import unavailable

__all__ = ("ThreadingHTTPServer", "python36", "run")

_T = TypeVar("_T")


def run(main: Awaitable[_T]) -> _T:
    """``asyncio.run(main)`` on every Python."""
    if sys.version_info >= (3, 7):
        return asyncio.run(main)  # type: ignore[arg-type]  # novermin
    loop = asyncio.new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(main)
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def python36() -> str:
    """A Python 3.6: this one, ``$KSTALERTS_PYTHON36``, pyenv's newest 3.6.x or the system's."""
    if sys.version_info[:2] == (3, 6):
        return sys.executable
    pyenv = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found = sorted(
        glob.glob(os.path.join(pyenv, "versions", "3.6.*", "bin", "python")),
        key=lambda p: [int(n) for n in p.split(os.sep)[-3].split(".") if n.isdigit()],
    )
    for candidate in [os.environ.get("KSTALERTS_PYTHON36", ""), *reversed(found), "/usr/bin/python3.6"]:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    unavailable("no Python 3.6 found (pyenv versions/3.6.*, /usr/bin/python3.6 or $KSTALERTS_PYTHON36)")


class ThreadingHTTPServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """``http.server.ThreadingHTTPServer``, with 3.7's ``block_on_close`` on 3.6."""

    daemon_threads = True
    block_on_close = True

    if sys.version_info < (3, 7):

        def process_request(self, request: Any, client_address: Any) -> None:
            thread = threading.Thread(
                target=self.process_request_thread, args=(request, client_address), daemon=self.daemon_threads
            )
            if not self.daemon_threads and self.block_on_close:  # as 3.7 does
                threads: List[threading.Thread] = self.__dict__.setdefault("_threads", [])
                threads[:] = [t for t in threads if t.is_alive()]
                threads.append(thread)
            thread.start()

        def server_close(self) -> None:
            super().server_close()
            if self.block_on_close:
                for thread in self.__dict__.get("_threads", []):
                    thread.join()
