"""The last lines of a job's output, in bounded memory.

:class:`TailBuffer` is fed the raw chunks read from a job's stdout and
stderr, in the order they arrived, and keeps only the last ``max_lines``
complete lines (and the unfinished last line of each stream). Each line is
cut to ``line_bytes`` and the whole to ``total_bytes``; older lines go first.
A chunk is never split into more lines than the buffer can keep, so a job
that prints 60 MB of short lines costs a few ``rfind`` calls per chunk, not
a million small objects.

Rules: bytes in, text out (undecodable bytes become U+FFFD when rendered);
nothing here grows with the amount of output; the two streams keep separate
unfinished lines, so a line of stdout is never glued to one of stderr.
"""

import collections

from ._typing import Deque, Dict, List, Tuple

__all__ = ()

#: The most bytes of output a tail ever holds.
MAX_TAIL_BYTES = 65536
#: The most bytes of one line a tail keeps; the rest of the line is cut.
MAX_LINE_BYTES = 4096

_NL = b"\n"


class TailBuffer:
    """Keep the last ``max_lines`` lines of one or more byte streams.

    >>> tail = TailBuffer(max_lines=2)
    >>> tail.feed(b"one\\ntwo\\nthr", "stdout")
    >>> tail.feed(b"ee\\n", "stdout")
    >>> tail.text()
    'two\\nthree'
    >>> tail.lines_seen, tail.bytes_seen
    (3, 14)
    """

    def __init__(
        self,
        max_lines: int = 50,
        *,
        line_bytes: int = MAX_LINE_BYTES,
        total_bytes: int = MAX_TAIL_BYTES,
    ) -> None:
        if max_lines < 1:
            raise ValueError("max_lines must be at least 1")
        self.max_lines = int(max_lines)
        self.line_bytes = max(16, int(line_bytes))
        self.total_bytes = max(self.line_bytes, int(total_bytes))
        self._lines: Deque[bytes] = collections.deque()
        self._size = 0
        self._partial: Dict[str, bytearray] = {}
        self._partial_cut: Dict[str, int] = {}
        #: complete lines seen (kept or not) and bytes seen, for the summary
        self.lines_seen = 0
        self.bytes_seen = 0

    def feed(self, data: bytes, stream: str = "stdout") -> None:
        """Take one chunk of ``stream``'s output."""
        if not data:
            return
        self.bytes_seen += len(data)
        last = data.rfind(_NL)
        if last < 0:
            self._extend_partial(stream, data)
            return
        complete = data.count(_NL)
        self.lines_seen += complete
        # Where the lines worth keeping start: after the newline that ends
        # the (max_lines + 1)-th line from the end, if the chunk has that many.
        start = 0
        if complete > self.max_lines:
            pos = last
            for _ in range(self.max_lines):
                pos = data.rfind(_NL, 0, pos)
            start = pos + 1
            self._drop_partial(stream)  # its line ended before the window
        pieces = data[start:last].split(_NL)
        if start == 0:
            head, cut = self._take_partial(stream)
            self._push(head + pieces[0], cut)
            pieces = pieces[1:]
        for line in pieces:
            self._push(line)
        if last + 1 < len(data):
            self._extend_partial(stream, data[last + 1 :])

    def _extend_partial(self, stream: str, data: bytes) -> None:
        partial = self._partial.setdefault(stream, bytearray())
        room = self.line_bytes - len(partial)
        if room > 0:
            partial += data[:room]
        if len(data) > room:
            self._partial_cut[stream] = self._partial_cut.get(stream, 0) + len(data) - max(room, 0)

    def _take_partial(self, stream: str) -> Tuple[bytes, int]:
        partial = self._partial.pop(stream, None)
        return bytes(partial or b""), self._partial_cut.pop(stream, 0)

    def _drop_partial(self, stream: str) -> None:
        self._partial.pop(stream, None)
        self._partial_cut.pop(stream, None)

    def _push(self, line: bytes, cut: int = 0) -> None:
        if len(line) > self.line_bytes:
            cut += len(line) - self.line_bytes
            line = line[: self.line_bytes]
        if cut:
            line += _cut_marker(cut)
        self._lines.append(line)
        self._size += len(line) + 1
        while len(self._lines) > self.max_lines or (self._size > self.total_bytes and len(self._lines) > 1):
            self._size -= len(self._lines.popleft()) + 1

    def lines(self) -> List[bytes]:
        """The kept lines, oldest first, unfinished last lines included."""
        kept = list(self._lines)
        for stream in sorted(self._partial):
            partial = bytes(self._partial[stream])
            cut = self._partial_cut.get(stream, 0)
            kept.append(partial + _cut_marker(cut) if cut else partial)
        kept = kept[-self.max_lines :]
        size = 0
        for index in range(len(kept) - 1, -1, -1):
            size += len(kept[index]) + 1
            if size > self.total_bytes and index < len(kept) - 1:
                return kept[index + 1 :]
        return kept

    def text(self) -> str:
        """The kept lines as text (bad bytes become U+FFFD)."""
        return _NL.join(self.lines()).decode("utf-8", "replace")

    def mark(self, note: str) -> None:
        """Add a line of our own (e.g. ``--- attempt 2 of 3 ---``), ending open lines first."""
        for stream in sorted(self._partial):
            self._push(*self._take_partial(stream))
        self._push(note.encode("utf-8", "replace"))


def _cut_marker(count: int) -> bytes:
    return f" [... {count} bytes cut]".encode("ascii")
