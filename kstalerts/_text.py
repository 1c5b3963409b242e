"""One text rule: how alert text and a peer's reply are cleaned and cut.

Every channel shows text that came from outside (a title, a job's output, a
server's error message). This module is the one place that decides what of
it survives, so the rule is the same on every channel:

- :func:`clean` makes multi-line text inert for any terminal, log or
  service: ANSI escape sequences (``ESC [ 31 m``, OSC titles, two-byte
  ``ESC x``) are removed whole; ``CR LF``, a lone ``CR``, ``NEL``, ``LS`` and
  ``PS`` become ``\\n``; every other C0 or C1 control character and ``DEL``
  becomes U+FFFD, so the reader sees that something was there. Tab and
  newline are kept. :class:`~kstalerts.AlertMessage` applies it to its
  title, body and labels when it is built, so no channel sees a raw control.
- :func:`one_line` makes a peer's reply (or a header value) one safe line:
  bytes decoded leniently, secrets masked, every control a space, runs of
  spaces squeezed, the result cut.
- :func:`cut` and :func:`cut_bytes` bound text from the middle: the start
  and the end are kept, with ``[… N lines cut …]`` between when whole lines
  can go (the first and the last line kept), else ``[… N characters cut …]``.
  ``N`` is exact. The result never exceeds ``limit`` characters
  (:func:`cut`) or UTF-8 bytes (:func:`cut_bytes`), marker included.
  ``escape`` is applied to the kept text, never to the marker, and is
  counted in the limit, so an escaped result is never cut inside an escape;
  it must never make text shorter.

Nothing here knows a service: each channel passes its own limit and its own
``escape`` (Slack's ``&<>``, Discord's markdown).
"""

import re

from ._lazy import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: nothing of typing is evaluated at import
    from typing import Callable, Dict, Iterable, Optional, Pattern

__all__ = ()

# Pattern sources, compiled on first use (see compiled): ``import kstalerts`` stays cheap.
_ANSI = (
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: window titles, hyperlinks
    r"|\x1b[(-/]?[0-~]"  # two-byte escapes (charset, keypad, reset); ESC + space is text
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
)
_LINE_BREAK = "\r\n|[\r\x85\u2028\u2029]"
_CONTROL = r"[\x00-\x08\x0b-\x1f\x7f-\x9f]"
_ANY_CONTROL = r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]"  # tab and newline are text
_LINE_CONTROL = r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+"  # one_line: tab and newline too
_SPACES = r" {2,}"
_COMPILED: "Dict[str, Pattern[str]]" = {}


def compiled(source: str) -> "Pattern[str]":
    """``re.compile(source)``, compiled the first time it is asked for and kept.

    Modules keep a pattern's source at module level and call this where they
    use it, so importing them compiles nothing (a cold process pays only
    for the patterns its one alert needs).
    """
    pattern = _COMPILED.get(source)
    if pattern is None:
        pattern = _COMPILED[source] = re.compile(source)
    return pattern


#: A reply shown in an error message is cut to this many characters.
REPLY_CHARS = 300


def clean(text: str) -> str:
    """``text`` with ANSI sequences removed, line breaks as ``\\n`` and other controls as U+FFFD.

    >>> clean("\\x1b[31mred\\x1b[0m\\r\\nnext\\rline\\x00\\tend")
    'red\\nnext\\nline\\ufffd\\tend'
    """
    if text.isprintable() or not compiled(_ANY_CONTROL).search(text):
        return text  # the common case, and the cheap one (one line: not even a regex)
    text = compiled(_ANSI).sub("", text)
    text = compiled(_LINE_BREAK).sub("\n", text)
    return compiled(_CONTROL).sub("\ufffd", text)


def one_line(text: object, *, secrets: "Iterable[str]" = (), limit: int = REPLY_CHARS) -> str:
    """``text`` as one safe line: decoded, secrets masked, controls as spaces, cut to ``limit``.

    >>> one_line(b"bad\\r\\n\\tthing  TOKEN here", secrets=["TOKEN"])
    'bad thing *** here'
    """
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", "replace")
    result = compiled(_ANSI).sub("", str(text))
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        result = result.replace(secret, "***")
    result = compiled(_SPACES).sub(" ", compiled(_LINE_CONTROL).sub(" ", result)).strip()
    return cut(result, limit)


def cut(text: str, limit: int, *, escape: "Optional[Callable[[str], str]]" = None) -> str:
    """``text`` in at most ``limit`` characters, cut from the middle.

    >>> cut("\\n".join(str(n) for n in range(1, 201)), 60)
    '1\\n2\\n3\\n4\\n5\\n6\\n7\\n[… 187 lines cut …]\\n195\\n196\\n197\\n198\\n199\\n200'
    >>> cut("a" * 50, 40)
    'aaaaaaaa [… 35 characters cut …] aaaaaaa'
    """
    return _cut(text, limit, len, escape)


def cut_bytes(text: str, limit: int, *, escape: "Optional[Callable[[str], str]]" = None) -> str:
    """Like :func:`cut`, for a service that counts UTF-8 bytes: the result encodes to at most ``limit``."""
    return _cut(text, limit, _utf8_size, escape)


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _marker(count: int, unit: str) -> str:
    return f"[… {count} {unit}{'' if count == 1 else 's'} cut …]"


def _cut(
    text: str, limit: int, size: "Callable[[str], int]", escape: "Optional[Callable[[str], str]]"
) -> str:
    shown = escape or _same
    if size(text) <= limit:  # an escape never shortens text: over the limit raw, over it escaped
        whole = shown(text)
        if size(whole) <= limit:
            return whole
    lines = text.split("\n")
    n = len(lines)
    if n > 2:  # whole lines go when the first and the last can stay

        def by_lines(keep: int) -> str:
            head, tail = lines[: (keep + 1) // 2], lines[n - keep // 2 :]
            middle = _marker(n - keep, "line")
            return "\n".join((shown("\n".join(head)), middle, shown("\n".join(tail))))

        result = _longest(by_lines, 2, n - 1, size, limit)
        if result is not None:
            return result

    def by_chars(keep: int) -> str:
        head, tail = text[: (keep + 1) // 2], text[len(text) - keep // 2 :]
        return f"{shown(head)} {_marker(len(text) - keep, 'character')} {shown(tail)}"

    result = _longest(by_chars, 2, len(text) - 1, size, limit)  # a character each side at least
    if result is not None:
        return result
    # the limit is smaller than the marker: the start alone, as much as fits
    result = _longest(lambda keep: shown(text[:keep]), 0, len(text), size, limit)
    return result or ""


def _longest(
    build: "Callable[[int], str]", low: int, high: int, size: "Callable[[str], int]", limit: int
) -> "Optional[str]":
    """``build(k)`` for the largest ``k`` in ``low..high`` whose result fits ``limit`` (binary search)."""
    if high < low:
        return None
    best = build(low)
    if size(best) > limit:
        return None
    while low < high:
        middle = (low + high + 1) // 2
        candidate = build(middle)
        if size(candidate) <= limit:
            best, low = candidate, middle
        else:
            high = middle - 1
    return best


def _same(text: str) -> str:
    return text
