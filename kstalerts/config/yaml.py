"""A reader for the YAML subset kstalerts config files are written in.

The subset: block mappings and sequences, flow ``[...]`` and ``{...}``
(which may span lines), plain, single- and double-quoted scalars on one
line, literal ``|`` and folded ``>`` blocks with ``-``/``+`` chomping,
comments and one leading ``---``. Plain scalars are typed the way PyYAML's
``safe_load`` types them (YAML 1.1: ``yes``/``off`` are booleans, ``0x1F``,
``017``, ``1_000`` and ``1:30`` are integers, ``.inf`` is a float, ``~`` is
null).

Rules: on every document inside the subset the value equals ``safe_load``'s;
anything else (anchors, aliases, tags, merge keys, several documents,
duplicate keys, tabs outside quotes and comments, multi-line plain or quoted
scalars, dates, complex keys) raises :class:`AlertConfigurationError` with
the line and column, never a different value. Size and nesting are bounded
by :data:`~kstalerts.limits.MAX_CONFIG_BYTES` and
:data:`~kstalerts.limits.MAX_CONFIG_DEPTH`. Every scanning step moves
forward, so time grows linearly with the input.

>>> parse_yaml("alerts:\\n  throttle: {rate: 10, per: 60.0}\\n")[0]
{'alerts': {'throttle': {'rate': 10, 'per': 60.0}}}
"""

import bisect
import re

from .._text import compiled
from .._typing import Any, Dict, List, NoReturn, Optional, Tuple
from ..exceptions import AlertConfigurationError
from ..limits import MAX_CONFIG_BYTES, MAX_CONFIG_DEPTH
from .scalars import RefusedScalarError, resolve_plain

__all__ = ()

# What PyYAML's reader refuses, plus the characters it treats as line breaks
# besides "\n" (outside the subset: they would silently split a line).
# (Pattern sources, compiled on first use: _NON_PRINTABLE alone takes
# milliseconds, and a file of printable text never needs it.)
_NON_PRINTABLE = "[^\x09\x0a\x0d\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
_MARKER = r"(?m)^(?:---|\.\.\.)(?=[ \t\n]|\Z)"
_BREAKS = "\0\n"
_WS = "\0 \t\n"
_FLOW_IND = ",[]{}"
_START_REFUSED = "\0 \t\n-?:,[]{}#&*!|>'\"%@`"
_ESCAPES = {
    "0": "\x00", "a": "\x07", "b": "\x08", "t": "\t", "\t": "\t", "n": "\n", "v": "\x0b",
    "f": "\x0c", "r": "\r", "e": "\x1b", " ": " ", '"': '"', "\\": "\\", "/": "/",
    "N": "\x85", "_": "\xa0", "L": "\u2028", "P": "\u2029",
}  # fmt: skip
_ESCAPE_CODES = {"x": 2, "u": 4, "U": 8}
_HEX = "0123456789ABCDEFabcdef"
_DOUBLE_SPECIAL = r'["\\\n\0]'
_MAX_KEY_CHARS = 1000  # PyYAML forgets a simple key after 1024 characters


def parse_yaml(text: str, path: Optional[str] = None) -> Tuple[Any, Dict[str, int]]:
    """Parse ``text``; return its value and the line of every key.

    The line map's keys are dotted paths (``"alerts.channels.ops.type"``;
    sequence items by index). ``path`` names the file in error messages.
    """
    return _Parser(text, path).document()


class _Parser:
    def __init__(self, text: str, path: Optional[str]) -> None:
        self.path = path
        if len(text) > MAX_CONFIG_BYTES:
            raise AlertConfigurationError(
                f"the file is larger than {MAX_CONFIG_BYTES} bytes", path=path, line=1, column=1
            )
        text = text.replace("\r\n", "\n")
        if text.startswith("\ufeff"):
            text = text[1:]
        self.s = text + "\0"
        self.n = len(text)
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.lines: Dict[str, int] = {}
        bad = None
        # str.isprintable() refuses all the refused characters (and more, such
        # as U+00A0): text it accepts, once tabs and newlines are out, needs no search.
        if not text.replace("\t", "").replace("\n", "").isprintable():
            bad = compiled(_NON_PRINTABLE).search(text) or re.search("[\r\x85\u2028\u2029]", text)
        if bad is not None:
            self.fail(f"character {bad.group()!r} is not allowed", bad.start())

    # -- positions and errors ---------------------------------------------
    def where(self, pos: int) -> Tuple[int, int]:
        index = bisect.bisect_right(self.starts, pos) - 1
        return index + 1, pos - self.starts[index] + 1

    def fail(self, message: str, pos: int, key: str = "") -> NoReturn:
        line, column = self.where(min(pos, self.n))
        raise AlertConfigurationError(message, path=self.path, line=line, column=column, key=key or None)

    def line_end(self, pos: int) -> int:
        end = self.s.find("\n", pos)
        return self.n if end < 0 else end

    def next_line(self, pos: int) -> int:
        return min(self.line_end(pos) + 1, self.n)

    def skip_spaces(self, pos: int) -> int:
        s = self.s
        while s[pos] == " ":
            pos += 1
        return pos

    def finish_line(self, pos: int, key: str, what: str = "after the value") -> int:
        """Spaces and a comment may end the line; return the next line's start."""
        s = self.s
        start = pos
        pos = self.skip_spaces(pos)
        if s[pos] == "#" and pos > start:
            return self.next_line(pos)
        if s[pos] in _BREAKS:
            return self.next_line(pos)
        if s[pos] == "\t":
            self.fail("tab characters are only allowed inside quotes and comments", pos, key)
        if s[pos] == "#":
            self.fail("a comment must be separated from the value by a space", pos, key)
        hint = ""
        if what == "after the value" and s[start - 1] in "\"'":  # "Alerts" <a@x>: a quote closed early
            hint = "; to quote it, quote the whole value (key: '\"Alerts\" <alerts@example.com>')"
        self.fail(f"unexpected {s[pos]!r} {what}{hint}", pos, key)

    def skip_blank(self, pos: int) -> int:
        """From a line start, skip empty, space-only and comment lines."""
        s = self.s
        while pos < self.n:
            p = self.skip_spaces(pos)
            if s[p] == "#" or s[p] in _BREAKS:
                pos = self.next_line(p)
            elif s[p] == "\t":
                self.fail("tab characters are not allowed for indentation", p)
            else:
                return pos
        return self.n

    # -- the document -----------------------------------------------------
    def document(self) -> Tuple[Any, Dict[str, int]]:
        pos = self.skip_blank(0)
        if self.s[pos] == "%" and pos < self.n:
            self.fail("directives ('%') are not supported", pos)
        markers = list(compiled(_MARKER).finditer(self.s, 0, self.n))
        if markers and markers[0].start() == pos and markers[0].group() == "---":
            pos = self.finish_line(pos + 3, "", "after '---'")
            markers.pop(0)
        if markers:
            m = markers[0]
            if m.group() == "---":
                self.fail("only one document is supported (found a second '---')", m.start())
            self.fail("the document end marker '...' is not supported", m.start())
        value, pos = self.node(pos, -1, 0, "", block_ok=True, same_indent_seq=False)
        pos = self.skip_blank(pos)
        if pos < self.n:
            p = self.skip_spaces(pos)
            self.fail("unexpected text after the document's top-level value", p)
        return value, self.lines

    # -- block nodes ------------------------------------------------------
    def node(
        self, pos: int, parent: int, depth: int, key: str, *, block_ok: bool, same_indent_seq: bool
    ) -> Tuple[Any, int]:
        """A node on the lines from ``pos``, indented more than ``parent``."""
        pos = self.skip_blank(pos)
        if pos >= self.n:
            return None, self.n
        p = self.skip_spaces(pos)
        indent = p - pos
        if indent > parent or (same_indent_seq and indent == parent and self.is_entry(p)):
            return self.content(p, indent, parent, depth, key, block_ok=block_ok)
        return None, pos

    def is_entry(self, p: int) -> bool:
        return self.s[p] == "-" and self.s[p + 1] in _WS

    def content(
        self, p: int, column: int, parent: int, depth: int, key: str, *, block_ok: bool
    ) -> Tuple[Any, int]:
        """The node starting at ``p`` (column ``column``); returns the next line."""
        s = self.s
        ch = s[p]
        if self.is_entry(p):
            if not block_ok:
                self.fail("a block sequence cannot start on the line of its key", p, key)
            return self.sequence(p, column, parent, depth + 1, key)
        if ch == "?" and s[p + 1] in _WS:
            self.fail("complex keys ('?') are not supported", p, key)
        if ch in "|>":
            return self.block_scalar(p, parent, key)
        if ch in "[{":
            value, end = self.flow(p, depth + 1, key)
            after = self.skip_spaces(end)
            if s[after] == ":":
                self.fail("a collection cannot be a mapping key", p, key)
            return value, self.finish_line(end, key)
        value, end, plain = self.scalar(p, False, key)
        after = self.skip_spaces(end)
        if s[after] == ":" and s[after + 1] in _WS:
            if not block_ok:
                self.fail(
                    "a mapping cannot start on the line of its key; if ': ' is part of the text,"
                    " quote it (key: 'text: with a colon')",
                    p,
                    key,
                )
            return self.mapping(p, column, depth + 1, key)
        return self.typed(value, plain, p, key), self.finish_line(end, key)

    def typed(self, value: str, plain: bool, p: int, key: str) -> Any:
        if not plain:
            return value
        try:
            return resolve_plain(value)
        except RefusedScalarError as exc:
            self.fail(str(exc), p, key)

    def check_depth(self, depth: int, p: int, key: str) -> None:
        if depth > MAX_CONFIG_DEPTH:
            self.fail(f"nesting deeper than {MAX_CONFIG_DEPTH} levels", p, key)

    def add_key(self, result: Dict[Any, Any], k: Any, p: int, parent: str) -> str:
        path = f"{parent}.{k}" if parent else str(k)
        if k in result:
            self.fail(f"duplicate key {k!r}", p, path)
        self.lines.setdefault(path, self.where(p)[0])
        return path

    def key_at(self, p: int, flow: bool, parent: str) -> Tuple[Any, int]:
        s = self.s
        if s[p] in "[{":
            self.fail("a collection cannot be a mapping key", p, parent)
        if s[p] == "?" and (flow or s[p + 1] in _WS):
            self.fail("complex keys ('?') are not supported", p, parent)
        text, end, plain = self.scalar(p, flow, parent)
        colon = self.skip_spaces(end)
        if colon - p > _MAX_KEY_CHARS:
            self.fail(f"a key longer than {_MAX_KEY_CHARS} characters", p, parent)
        return self.typed(text, plain, p, parent), colon

    def mapping(self, p: int, column: int, depth: int, key: str) -> Tuple[Dict[Any, Any], int]:
        self.check_depth(depth, p, key)
        s = self.s
        result: Dict[Any, Any] = {}
        while True:
            if self.is_entry(p):
                self.fail("expected a mapping key, found a sequence entry", p, key)
            k, colon = self.key_at(p, False, key)
            if s[colon] != ":" or s[colon + 1] not in _WS:
                self.fail("expected ': ' after the key", colon, key)
            path = self.add_key(result, k, p, key)
            after = self.skip_spaces(colon + 1)
            value, pos = self.value_after(colon, after, column, depth, path, in_mapping=True)
            result[k] = value
            pos = self.skip_blank(pos)
            if pos >= self.n:
                return result, pos
            p = self.skip_spaces(pos)
            if p - pos < column:
                return result, pos
            if p - pos > column:
                self.fail("unexpected indentation", p, path)

    def value_after(
        self, mark: int, after: int, column: int, depth: int, path: str, *, in_mapping: bool
    ) -> Tuple[Any, int]:
        """The value after a key's ``:`` or a ``-`` at ``mark``; ``after`` is its first non-space."""
        s = self.s
        if s[after] in _BREAKS or (s[after] == "#" and after > mark + 1):
            return self.node(
                self.next_line(after), column, depth, path, block_ok=True, same_indent_seq=in_mapping
            )
        if s[after] == "\t":
            self.fail("tab characters are only allowed inside quotes and comments", after, path)
        if in_mapping:  # a value on the key's line is inline: no block mapping may start there
            at = after - self.starts[self.where(after)[0] - 1]
            return self.content(after, at, column, depth, path, block_ok=False)
        return self.content(after, column + after - mark, column, depth, path, block_ok=True)

    def sequence(self, p: int, column: int, parent: int, depth: int, key: str) -> Tuple[List[Any], int]:
        self.check_depth(depth, p, key)
        result: List[Any] = []
        while True:
            path = f"{key}.{len(result)}" if key else str(len(result))
            self.lines.setdefault(path, self.where(p)[0])
            after = self.skip_spaces(p + 1)
            value, pos = self.value_after(p, after, column, depth, path, in_mapping=False)
            result.append(value)
            pos = self.skip_blank(pos)
            if pos >= self.n:
                return result, pos
            p = self.skip_spaces(pos)
            if p - pos < column or (p - pos == column == parent and not self.is_entry(p)):
                return result, pos
            if p - pos > column:
                self.fail("unexpected indentation", p, path)
            if not self.is_entry(p):
                self.fail("expected a sequence entry ('- ')", p, key)

    # -- block scalars (a port of PyYAML's scan_block_scalar) ---------------
    def block_scalar(self, p: int, parent: int, key: str) -> Tuple[str, int]:
        s = self.s
        folded = s[p] == ">"
        p += 1
        chomping: Optional[bool] = None
        if s[p] in "+-":
            chomping = s[p] == "+"
            p += 1
        if s[p] in "0123456789":
            self.fail("block scalar indentation indicators are not supported", p, key)
        if s[p] not in _WS:
            self.fail(f"unexpected {s[p]!r} after the block scalar indicator", p, key)
        pos = self.finish_line(p, key, "after the block scalar indicator")
        min_indent = max(parent + 1, 1)
        # Leading blank lines: the deepest one sets the indentation too.
        breaks: List[str] = []
        max_indent = 0
        column = 0
        while s[pos] in " \n" and pos < self.n:
            if s[pos] == "\n":
                breaks.append("\n")
                column = 0
            else:
                column += 1
                max_indent = max(max_indent, column)
            pos += 1
        indent = max(min_indent, max_indent)
        chunks: List[str] = []
        line_break = ""
        while column == indent and pos < self.n:
            chunks.extend(breaks)
            leading_non_space = s[pos] not in " \t"
            end = self.line_end(pos)
            chunks.append(s[pos:end])
            pos = end
            line_break = "\n" if pos < self.n else ""
            pos = min(pos + 1, self.n)
            column = 0
            breaks = []
            while True:
                while column < indent and s[pos] == " ":
                    pos += 1
                    column += 1
                if s[pos] == "\n" and pos < self.n:
                    breaks.append("\n")
                    pos += 1
                    column = 0
                else:
                    break
            if column == indent and pos < self.n:
                if folded and line_break == "\n" and leading_non_space and s[pos] not in " \t":
                    if not breaks:
                        chunks.append(" ")
                else:
                    chunks.append(line_break)
            else:
                break
        if chomping is not False:
            chunks.append(line_break)
        if chomping is True:
            chunks.extend(breaks)
        return "".join(chunks), pos - column

    # -- scalars ----------------------------------------------------------
    def scalar(self, p: int, flow: bool, key: str) -> Tuple[str, int, bool]:
        """A scalar on one line: (text, end position, is_plain)."""
        ch = self.s[p]
        if ch == "'":
            return (*self.single(p, key), False)
        if ch == '"':
            return (*self.double(p, key), False)
        return (*self.plain(p, flow, key), True)

    def plain(self, p: int, flow: bool, key: str) -> Tuple[str, int]:
        s = self.s
        ch = s[p]
        if ch in _START_REFUSED and not (s[p + 1] not in _WS and (ch == "-" or (not flow and ch in "?:"))):
            if ch == "&":
                self.fail("anchors ('&') are not supported", p, key)
            if ch == "*":
                self.fail("aliases ('*') are not supported", p, key)
            if ch == "!":
                self.fail("tags ('!') are not supported", p, key)
            if ch == "\t":
                self.fail("tab characters are only allowed inside quotes and comments", p, key)
            if ch in _BREAKS:
                self.fail("expected a value", p, key)
            self.fail(f"a plain value cannot start with {ch!r}; quote it", p, key)
        stops = _WS + (_FLOW_IND + "?" if flow else "")
        colon_stops = _WS + (_FLOW_IND if flow else "")
        q = end = p
        while True:
            length = 0
            while True:
                c = s[q + length]
                if c in stops or (c == ":" and s[q + length + 1] in colon_stops):
                    break
                length += 1
            if length == 0:
                break
            end = q = q + length
            spaces = self.skip_spaces(q)
            if spaces == q or s[spaces] == "#" or s[spaces] in _BREAKS:
                break
            q = spaces
        if flow:
            self.check_continuation(end, key)
        return s[p:end], end

    def check_continuation(self, end: int, key: str) -> None:
        """In a flow collection, refuse a plain scalar that goes on past a line break."""
        s = self.s
        q = self.skip_spaces(end)
        if s[q] != "\n" or q >= self.n:
            return
        while s[q] in " \n" and q < self.n:
            q += 1
        if q < self.n and s[q] not in ",]}#":
            self.fail("multi-line plain scalars are not supported; quote the value", end, key)

    def single(self, p: int, key: str) -> Tuple[str, int]:
        s = self.s
        chunks: List[str] = []
        q = p + 1
        stop = self.line_end(q)
        while True:
            close = s.find("'", q, stop)
            if close < 0:
                self.fail("a quoted scalar must end on the line it starts", p, key)
            chunks.append(s[q:close])
            if s[close + 1] == "'":
                chunks.append("'")
                q = close + 2
                continue
            return "".join(chunks), close + 1

    def double(self, p: int, key: str) -> Tuple[str, int]:
        s = self.s
        chunks: List[str] = []
        q = p + 1
        while True:
            m = compiled(_DOUBLE_SPECIAL).search(s, q)
            assert m is not None  # the sentinel always matches
            chunks.append(s[q : m.start()])
            q = m.start()
            ch = s[q]
            if ch == '"':
                return "".join(chunks), q + 1
            if ch != "\\":
                self.fail("a quoted scalar must end on the line it starts", p, key)
            ch = s[q + 1]
            if ch in _ESCAPES:
                chunks.append(_ESCAPES[ch])
                q += 2
            elif ch in _ESCAPE_CODES:
                digits = s[q + 2 : q + 2 + _ESCAPE_CODES[ch]]
                if len(digits) != _ESCAPE_CODES[ch] or any(d not in _HEX for d in digits):
                    self.fail(f"escape \\{ch} needs {_ESCAPE_CODES[ch]} hexadecimal digits", q, key)
                code = int(digits, 16)
                if code > 0x10FFFF:
                    self.fail(f"escape \\{ch}{digits} is not a Unicode character", q, key)
                chunks.append(chr(code))
                q += 2 + len(digits)
            elif ch in _BREAKS:
                self.fail("a quoted scalar must end on the line it starts", p, key)
            else:
                self.fail(f"unknown escape \\{ch}", q, key)

    # -- flow collections ---------------------------------------------------
    def flow_skip(self, pos: int, key: str) -> int:
        """Skip spaces, line breaks and comments inside a flow collection."""
        s = self.s
        while True:
            ch = s[pos]
            if ch == " ":
                pos += 1
            elif ch == "\n" and pos < self.n:
                pos += 1
            elif ch == "#":
                if s[pos - 1] not in " \n":
                    self.fail("a comment must be separated from the value by a space", pos, key)
                pos = self.line_end(pos)
            elif ch == "\t":
                self.fail("tab characters are only allowed inside quotes and comments", pos, key)
            else:
                return pos

    def flow_item(self, p: int, depth: int, key: str) -> Tuple[Any, int]:
        s = self.s
        if s[p] in "[{":
            return self.flow(p, depth + 1, key)
        if s[p] in "?:" or (s[p] == "-" and s[p + 1] in _WS):
            self.fail(f"unexpected {s[p]!r} in a flow collection", p, key)
        value, end, plain = self.scalar(p, True, key)
        return self.typed(value, plain, p, key), end

    def flow(self, p: int, depth: int, key: str) -> Tuple[Any, int]:
        self.check_depth(depth, p, key)
        s = self.s
        is_seq = s[p] == "["
        close = "]" if is_seq else "}"
        start = p
        items: List[Any] = []
        mapping: Dict[Any, Any] = {}
        pos = self.flow_skip(p + 1, key)
        while s[pos] != close:
            if pos >= self.n:
                self.fail(f"unclosed {s[start]!r}", start, key)
            if s[pos] == ",":
                self.fail("expected a value before ','", pos, key)
            if is_seq:
                path = f"{key}.{len(items)}" if key else str(len(items))
                self.lines.setdefault(path, self.where(pos)[0])
                value, pos = self.flow_item(pos, depth, path)
                items.append(value)
            else:
                k, colon = self.key_at(pos, True, key)
                if s[colon] != ":":
                    self.fail("expected ':' after the key (on the same line)", colon, key)
                path = self.add_key(mapping, k, pos, key)
                pos = self.flow_skip(colon + 1, path)
                if s[pos] in ",}" or pos >= self.n:
                    self.fail("expected a value after ':'", pos, path)
                mapping[k], pos = self.flow_item(pos, depth, path)
            pos = self.flow_skip(pos, key)
            if s[pos] == ",":
                pos = self.flow_skip(pos + 1, key)
            elif s[pos] != close:
                if pos >= self.n:
                    self.fail(f"unclosed {s[start]!r}", start, key)
                self.fail(f"expected ',' or {close!r}, found {s[pos]!r}", pos, key)
        return (items if is_seq else mapping), pos + 1
